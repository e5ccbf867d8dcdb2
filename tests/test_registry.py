"""The registry: which layers are pruned, which are left dense, which are refused."""

import pytest

import layer_cases
from ltp_tf import registry
from ltp_tf._keras import keras

L = keras.layers


@pytest.mark.parametrize("layer", [L.BatchNormalization(), L.LayerNormalization(),
                                   L.Dropout(0.5), L.MaxPooling2D(), L.Flatten(), L.Add()])
def test_normalization_and_weightless_layers_are_left_dense(layer):
  assert not registry.supports(layer)
  assert registry.is_left_dense(layer)


def test_unknown_layer_with_weights_is_refused_with_a_remedy():
  layer = L.PReLU(name="p")
  layer.build((None, 3))
  assert not registry.supports(layer) and not registry.is_left_dense(layer)
  with pytest.raises(ValueError, match=r"'p' of class PReLU.*PrunableLayer.*clone_model"):
    registry.weight_paths(layer)


def test_paths_never_include_biases():
  layer = L.SeparableConv2D(3, 2)
  layer.build((None, 5, 5, 2))
  assert registry.weight_paths(layer) == ["depthwise_kernel", "pointwise_kernel"]
  layer = layer_cases.ScaleLayer()
  layer.build((None, 3))
  assert registry.weight_paths(layer) == ["scale"]


def test_prunable_layer_with_unreachable_weight_is_refused():

  class Hidden(L.Layer):

    def build(self, input_shape):
      self._store = [self.add_weight("w", shape=(3,))]

    def get_prunable_weights(self):
      return list(self._store)

  layer = Hidden(name="hidden")
  layer.build((None, 3))
  with pytest.raises(ValueError, match="'hidden'.*attribute"):
    registry.weight_paths(layer)
