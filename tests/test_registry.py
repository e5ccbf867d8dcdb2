"""The registry: which layers are pruned, which are left dense, which are refused."""

import pytest

import layer_cases
from ltp_tf import registry
from ltp_tf._keras import keras

L = keras.layers


@pytest.mark.parametrize("layer", [L.BatchNormalization(), L.LayerNormalization(),
                                   L.Dropout(0.5), L.MaxPooling2D(), L.Flatten(), L.Add(),
                                   L.PReLU()])
def test_normalization_and_weightless_layers_are_left_dense(layer):
  assert not registry.supports(layer)
  assert registry.is_left_dense(layer)
  assert not registry.is_unsupported(layer)


def test_layers_with_only_per_channel_vectors_are_left_dense():
  layer = layer_cases.ChannelScale()  # Like ConvNeXt's LayerScale.
  assert registry.is_unsupported(layer)  # Unbuilt: its weights are unknown.
  layer.build((None, 4, 4, 3))
  assert layer.trainable_weights and not registry.kernel_weights(layer)
  assert registry.is_left_dense(layer) and not registry.is_unsupported(layer)
  prelu = L.PReLU()  # Slopes of the input's rank, never pruned either.
  prelu.build((None, 4, 4, 3))
  assert registry.kernel_weights(prelu) and registry.is_left_dense(prelu)


def test_unknown_layer_with_a_kernel_is_refused_with_a_remedy():
  layer = layer_cases.UnknownKernel(name="odd")
  layer.build((None, 4))
  assert not registry.supports(layer) and not registry.is_left_dense(layer)
  assert registry.is_unsupported(layer)
  assert [tuple(w.shape) for w in registry.kernel_weights(layer)] == [(4, 3)]
  with pytest.raises(ValueError, match=r"'odd' of class UnknownKernel.*PrunableLayer.*"
                                       r"clone_model.*unsupported=\"skip\""):
    registry.weight_paths(layer)


def test_models_are_containers_never_unsupported():
  model = keras.Sequential([keras.Input((4,)), layer_cases.UnknownKernel()])
  assert not registry.is_unsupported(model)


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
