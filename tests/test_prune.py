"""prune_low_magnitude_learned / strip_pruning / prune_scope on every kind of model."""

import re
import warnings

import numpy as np
import pytest

import layer_cases
import ltp_tf
from ltp_tf._keras import keras

L = keras.layers


def _mlp(dropout=0.1):
  return keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu"),
                           L.BatchNormalization(), L.Dropout(dropout), L.Dense(4)])


def _data(n=64, d=8, classes=4, seed=0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, classes, n)


def _compile(model, optimizer=None):
  model.compile(optimizer or keras.optimizers.SGD(0.05, momentum=0.9),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  return model


def test_sequential_wraps_prunable_layers_and_keeps_weights():
  dense = _mlp()
  x, _ = _data()
  expected = dense(x, training=False).numpy()
  pruned = ltp_tf.prune_low_magnitude_learned(dense, l0_lambda=2e-6)
  kinds = [type(l).__name__ for l in pruned.layers]
  assert kinds == ["PruneLearnedThreshold", "BatchNormalization", "Dropout",
                   "PruneLearnedThreshold"]
  assert all(w.get_config()["l0_lambda"] == 2e-6 for w in ltp_tf.collect_wrappers(pruned))
  for w in ltp_tf.collect_wrappers(pruned):  # A very negative threshold is the identity.
    for theta in w._theta:
      theta.assign(-1e3 / w.threshold_scale)
  np.testing.assert_array_equal(pruned(x, training=False), expected)


def test_single_layer_and_list_of_layers():
  assert isinstance(ltp_tf.prune_low_magnitude_learned(L.Dense(3)),
                    ltp_tf.PruneLearnedThreshold)
  wrapped = ltp_tf.prune_low_magnitude_learned([L.Dense(3), L.Conv2D(2, 3), L.Dropout(0.5)])
  assert [type(l).__name__ for l in wrapped] == ["PruneLearnedThreshold",
                                                 "PruneLearnedThreshold", "Dropout"]


def _with_unknown_kernels(names=("odd_one",)):
  inputs = keras.Input((4,))
  x = L.Dense(4)(inputs)
  for name in names:
    x = layer_cases.UnknownKernel(4, name=name)(x)
  return keras.Model(inputs, L.Dense(2)(x))


def test_unsupported_layer_in_model_names_the_layer_and_the_way_on():
  with pytest.raises(ValueError, match=r"'odd_one' of class UnknownKernel.*"
                                       r"unsupported=\"skip\""):
    ltp_tf.prune_low_magnitude_learned(_with_unknown_kernels())


def test_unsupported_must_be_raise_or_skip():
  with pytest.raises(ValueError, match=r"unsupported must be one of \('raise', 'skip'\), "
                                       r"got 'keep'"):
    ltp_tf.prune_low_magnitude_learned(_mlp(), unsupported="keep")


def test_skip_leaves_unsupported_layers_dense_with_one_warning():
  model = _with_unknown_kernels(("odd_one", "odd_two"))
  with pytest.warns(UserWarning) as record:
    pruned = ltp_tf.prune_low_magnitude_learned(model, unsupported="skip")
  ours = [r for r in record if "unsupported" in str(r.message)]
  assert len(ours) == 1
  assert re.search(r"left 2 layer\(s\) dense.*'odd_one' \(UnknownKernel\), "
                   r"'odd_two' \(UnknownKernel\).*not_pruned", str(ours[0].message))
  assert [type(l).__name__ for l in pruned.layers[1:]] == [
      "PruneLearnedThreshold", "UnknownKernel", "UnknownKernel", "PruneLearnedThreshold"]
  assert pruned.get_layer("odd_one") is model.get_layer("odd_one")  # Shared, as BN is.
  for w in ltp_tf.collect_wrappers(pruned):
    layer_cases.set_thresholds_to_median(w)
  x, y = _data(d=4, classes=2)
  _compile(pruned).train_on_batch(x, y)
  ltp_tf.hard_prune(pruned)
  stripped = ltp_tf.strip_pruning(pruned)
  odd = stripped.get_layer("odd_one")
  assert type(odd).__name__ == "UnknownKernel"
  np.testing.assert_array_equal(odd.kernel.numpy(), pruned.get_layer("odd_one").kernel.numpy())
  assert np.all(odd.kernel.numpy() != 0)  # Left dense.
  np.testing.assert_allclose(stripped(x, training=False), pruned(x, training=False),
                             rtol=1e-6, atol=1e-6)


def test_layer_scale_of_convnext_is_left_as_normalization_is():
  convnext = keras.applications.ConvNeXtTiny(weights=None, input_shape=(32, 32, 3),
                                             include_top=False)
  scale = next(l for l in convnext.layers if type(l).__name__ == "LayerScale")
  layer_scale = type(scale).from_config(scale.get_config())  # No private import.
  inputs = keras.Input((8, 8, 3))
  x = L.Conv2D(scale.projection_dim, 3)(inputs)
  model = keras.Model(inputs, L.Dense(2)(layer_scale(L.BatchNormalization()(x))))
  with warnings.catch_warnings():
    warnings.simplefilter("error", UserWarning)  # Nothing skipped: LayerScale is not unsupported.
    pruned = ltp_tf.prune_low_magnitude_learned(model)
  assert [type(l).__name__ for l in pruned.layers[1:]] == [
      "PruneLearnedThreshold", "BatchNormalization", "LayerScale", "PruneLearnedThreshold"]
  assert pruned.layers[3] is layer_scale
  assert not ltp_tf.sparsity_report(pruned).not_pruned


@pytest.mark.slow
def test_nested_mobilenetv2_thresholds_learned_and_callback_finds_every_wrapper():
  base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None,
                                        include_top=False)
  model = keras.Sequential([keras.Input((32, 32, 3)), base, L.GlobalAveragePooling2D(),
                            L.Dense(10)])
  expected = sum(isinstance(l, (L.Conv2D, L.DepthwiseConv2D, L.Dense))
                 for l in base.layers) + 1
  # A strong L0 push, so that every threshold moves up (thresholds are kept >= 0).
  pruned = ltp_tf.prune_low_magnitude_learned(model, threshold_lr_ratio=1e-2, l0_lambda=1.0)
  wrappers = ltp_tf.collect_wrappers(pruned)
  assert len(wrappers) == expected
  assert any(isinstance(w.layer, L.DepthwiseConv2D) for w in wrappers)
  schedule = ltp_tf.LTPPruningSchedule()
  _compile(pruned)
  x = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype(np.float32)
  pruned.fit(x, np.arange(8) % 10, epochs=1, batch_size=8, verbose=0, callbacks=[schedule])
  assert len(schedule._wrappers) == expected
  moved = sum(float(t) != 0.0 for w in wrappers for t in w.thresholds)
  assert moved == expected
  stripped = ltp_tf.strip_pruning(pruned)
  assert not ltp_tf.collect_wrappers(stripped)
  assert isinstance(stripped.layers[0], keras.Model)
  np.testing.assert_allclose(stripped(x), ltp_tf.strip_pruning(pruned)(x), rtol=1e-5,
                             atol=1e-5)


class _Subclassed(keras.Model):

  def __init__(self):
    super().__init__()
    self.fc1 = ltp_tf.PruneLearnedThreshold(L.Dense(16, activation="relu"),
                                            threshold_lr_ratio=1e-3, l0_lambda=1e-2)
    self.block = keras.Sequential([ltp_tf.PruneLearnedThreshold(
        L.Dense(8), threshold_lr_ratio=1e-3, l0_lambda=1e-2)])
    self.out = L.Dense(4)

  def call(self, x):
    return self.out(self.block(self.fc1(x)))


def test_subclassed_model_thresholds_learned_and_callback_finds_every_wrapper():
  model = _compile(_Subclassed())
  x, y = _data()
  schedule = ltp_tf.LTPPruningSchedule(soft_epochs=1)
  history = model.fit(x, y, epochs=2, verbose=0, callbacks=[schedule])
  assert len(schedule._wrappers) == 2
  assert all(w.is_hard for w in schedule._wrappers)
  assert all(float(t) != 0.0 for w in schedule._wrappers for t in w.thresholds)
  assert "sparsity" in history.history
  with pytest.raises(ValueError, match="subclassed"):
    ltp_tf.strip_pruning(model)
  with pytest.raises(ValueError, match="subclassed"):
    ltp_tf.prune_low_magnitude_learned(_Subclassed())


@pytest.mark.parametrize("fmt", ["keras", "h5", "tf"])
def test_save_load_round_trip_continues_training_identically(fmt, tmp_path):
  x, y = _data()
  # No dropout: its random state is not saved, and the thresholds (live: tau >= 0) would see it.
  model = _compile(ltp_tf.prune_low_magnitude_learned(_mlp(dropout=0.0),
                                                      threshold_lr_ratio=1e-3))
  model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
  path = str(tmp_path / ("model." + fmt if fmt != "tf" else "saved_model"))
  model.save(path, save_format=fmt)
  with ltp_tf.prune_scope():
    loaded = keras.models.load_model(path)
  def thresholds(m):
    return [float(t) for w in ltp_tf.collect_wrappers(m) for t in w.thresholds]
  assert thresholds(loaded) == thresholds(model)
  assert thresholds(model) != [0.0] * len(thresholds(model))
  if fmt == "tf":
    # tf_keras does not restore optimizer state from a SavedModel (not even for plain models:
    # iterations restart at 0), so continue the original with a fresh optimizer too.
    _compile(model)
  for m in (model, loaded):
    m.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0,
          callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=1)])
  np.testing.assert_allclose(thresholds(loaded), thresholds(model), rtol=1e-6)
  for a, b in zip(ltp_tf.collect_wrappers(model), ltp_tf.collect_wrappers(loaded)):
    assert b.is_hard
    np.testing.assert_array_equal(a.masks[0].numpy(), b.masks[0].numpy())


def test_strip_leaves_the_wrapped_model_alone_and_unpruned_models_unchanged():
  model = ltp_tf.prune_low_magnitude_learned(_mlp())
  for w in ltp_tf.collect_wrappers(model):
    layer_cases.set_thresholds_to_median(w)
  before = [v.numpy().copy() for v in model.weights]
  stripped = ltp_tf.strip_pruning(model)
  for a, b in zip(before, model.weights):
    np.testing.assert_array_equal(a, b.numpy())
  assert 0.3 < ltp_tf.sparsity_report(stripped).sparsity < 0.7
  plain = _mlp()
  assert ltp_tf.strip_pruning(plain) is plain


def test_single_wrapper_strips_to_its_layer():
  wrapper = layer_cases.set_thresholds_to_median(
      _built(ltp_tf.PruneLearnedThreshold(L.Dense(6)), (None, 5)))
  layer = ltp_tf.strip_pruning(wrapper)
  assert type(layer) is L.Dense
  np.testing.assert_array_equal(layer.kernel.numpy(), wrapper.pruned_weights()[0].numpy())


def _built(layer, shape):
  layer.build(shape)
  return layer
