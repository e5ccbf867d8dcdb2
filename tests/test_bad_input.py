"""Bad input: each raises (or warns) naming the thing and the fix, and nothing is half-applied.

Bad hyperparameters (temperature, l0_lambda, threshold_lr_ratio) and double wrapping are in
test_wrapper.py::test_bad_arguments_name_the_argument and ::test_double_wrapping_....
"""

import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot

import layer_cases
import ltp_tf
from ltp_tf._keras import keras

L = keras.layers


def _mlp(**dense_kwargs):
  return keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu", **dense_kwargs),
                           L.Dense(4)])


def _data(n=128, seed=0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(n, 8)).astype(np.float32), rng.integers(0, 4, n)


def _pruned(lam=1e-3, ratio=1e-3):
  model = ltp_tf.prune_low_magnitude_learned(_mlp(), l0_lambda=lam, threshold_lr_ratio=ratio)
  model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  return model


def _phases(model):
  return [w.is_hard for w in ltp_tf.collect_wrappers(model)]


@pytest.mark.parametrize("target", [1.0, -0.1, 1.5])
def test_target_sparsity_outside_0_1_is_rejected_everywhere(target):
  match = r"target_sparsity must be in \[0, 1\)"
  with pytest.raises(ValueError, match=match):
    ltp_tf.PruneLearnedThreshold(L.Dense(3), target_sparsity=target)
  with pytest.raises(ValueError, match=match):
    ltp_tf.prune_low_magnitude_learned(_mlp(), target_sparsity=target)
  with pytest.raises(ValueError, match=match):
    ltp_tf.LTPPruningSchedule(soft_epochs=1, target_sparsity=target)
  model = _pruned()
  with pytest.raises(ValueError, match=match):
    ltp_tf.hard_prune(model, target_sparsity=target)
  assert _phases(model) == [False, False]  # Nothing pruned.


def test_tfmot_pruned_model_is_rejected_with_the_fix():
  model = tfmot.sparsity.keras.prune_low_magnitude(_mlp())
  layer = model.layers[0]
  for wrap in (ltp_tf.prune_low_magnitude_learned, ltp_tf.PruneLearnedThreshold):
    with pytest.raises(ValueError, match=rf"'{layer.name}'.*PruneLowMagnitude.*"
                                         r"tfmot\.sparsity\.keras\.strip_pruning"):
      wrap(model if wrap is ltp_tf.prune_low_magnitude_learned else layer)
  # The fix the message gives works.
  stripped = tfmot.sparsity.keras.strip_pruning(model)
  assert len(ltp_tf.collect_wrappers(ltp_tf.prune_low_magnitude_learned(stripped))) == 2
  quantized = tfmot.quantization.keras.quantize_model(_mlp())
  with pytest.raises(ValueError, match=r"QuantizeWrapperV2.*prune with LTP before "
                                       r"quantization-aware training"):
    ltp_tf.prune_low_magnitude_learned(quantized)


def test_frozen_layer_is_rejected_and_the_model_left_as_it_was():
  model = _mlp(name="frozen_dense")
  model.layers[0].trainable = False
  x, _ = _data(4)
  before = model(x).numpy()
  with pytest.raises(ValueError, match=r"'frozen_dense': weight 'kernel' is not trainable.*"
                                       r"layer\.trainable = True"):
    ltp_tf.prune_low_magnitude_learned(model)
  assert [type(l).__name__ for l in model.layers] == ["Dense", "Dense"]
  np.testing.assert_array_equal(model(x), before)
  with pytest.raises(ValueError, match="not trainable"):
    ltp_tf.PruneLearnedThreshold(model.layers[0])
  # Why it is an error: a wrapper tracks the layer's kernel, which would train again.
  frozen = L.Dense(3)
  frozen.build((None, 4))
  frozen.trainable = False
  assert not frozen.trainable_weights
  wrapper = keras.layers.Wrapper(frozen)
  wrapper.kernel_list = [frozen.kernel]
  assert wrapper.trainable_weights  # What PruneLearnedThreshold's variable list would do.


@keras.saving.register_keras_serializable(package="ltp_tf_tests")
class _CountingLayer(L.Layer, tfmot.sparsity.keras.PrunableLayer):
  """Prunable weights that LTP cannot prune: an int32 table, or a non-trainable float."""

  def __init__(self, int_weight=True, **kwargs):
    super().__init__(**kwargs)
    self.int_weight = int_weight

  def build(self, input_shape):
    self.scale = self.add_weight("scale", shape=input_shape[-1:], initializer="ones")
    if self.int_weight:
      self.counts = self.add_weight("counts", shape=input_shape[-1:], dtype=tf.int32,
                                    initializer="zeros", trainable=False)
    else:
      self.counts = self.add_weight("counts", shape=input_shape[-1:], initializer="ones",
                                    trainable=False)

  def call(self, inputs):
    return inputs * self.scale + tf.cast(self.counts, inputs.dtype)

  def get_prunable_weights(self):
    return [self.scale, self.counts]

  def get_config(self):
    return dict(super().get_config(), int_weight=self.int_weight)


@pytest.mark.parametrize("int_weight, match", [
    (True, r"'counting': weight 'counts' has dtype int32; only floating-point"),
    (False, r"'counting': weight 'counts' is not trainable \(the variable was made with"),
])
def test_integer_or_non_trainable_weight_fails_at_build_before_any_state(int_weight, match):
  wrapper = ltp_tf.PruneLearnedThreshold(_CountingLayer(int_weight, name="counting"))
  with pytest.raises(ValueError, match=match):
    keras.Sequential([keras.Input((3,)), wrapper])  # Builds the (unbuilt) layer...
  assert not wrapper._ltp_built  # ...and no LTP variable was made for 'scale' either.
  assert not any("threshold" in v.name for v in wrapper.weights)


class _Subclassed(keras.Model):

  def __init__(self):
    super().__init__()
    self.fc1 = ltp_tf.PruneLearnedThreshold(L.Dense(16, activation="relu"))
    self.fc2 = ltp_tf.PruneLearnedThreshold(L.Dense(4))

  def call(self, x):
    return self.fc2(self.fc1(x))


def test_unbuilt_subclassed_model():
  with pytest.raises(ValueError, match=r"subclassed model.*PruneLearnedThreshold.*__init__"):
    ltp_tf.prune_low_magnitude_learned(_Subclassed())
  model = _Subclassed()
  model.fc1.build((None, 8))  # One wrapper built, the other not.
  with pytest.raises(ValueError, match=r"\['ltp_dense_\d+'\] are not built yet.*call the "
                                       r"model on a batch first\. Nothing was pruned"):
    ltp_tf.hard_prune(model)
  assert not model.fc1.is_hard
  with pytest.raises(ValueError, match="not built yet; call the model once"):
    ltp_tf.sparsity_report(model)
  model(np.ones((2, 8), np.float32))
  ltp_tf.hard_prune(model)
  assert model.fc1.is_hard and model.fc2.is_hard


def test_shared_layer_has_one_threshold_and_one_l0_term():
  """A layer called twice is wrapped once: one threshold per tensor, its L0 counted once,
  and dL/dtheta equals a plain re-implementation (s once, v used twice, lambda * sum(s))."""
  shared = L.Dense(6, use_bias=False, name="shared")
  inputs = keras.Input((6,))
  model = keras.Model(inputs, shared(L.ReLU()(shared(inputs))))
  lam = 0.01
  pruned = ltp_tf.prune_low_magnitude_learned(model, l0_lambda=lam, threshold_lr_ratio=1.0)
  (wrapper,) = ltp_tf.collect_wrappers(pruned)
  layer_cases.set_thresholds_to_median(wrapper)
  assert len(wrapper.thresholds) == 1 and len(pruned.losses) == 1
  x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)

  def step():
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(pruned(x, training=True) ** 2) + tf.add_n(pruned.losses)
    return loss, tape.gradient(loss, wrapper._theta[0])

  kernel, temp = wrapper.layer.kernel, float(wrapper.temperatures[0])
  tau = tf.Variable(float(wrapper.thresholds[0]))
  with tf.GradientTape() as tape:
    s = tf.sigmoid((tf.square(kernel) - tau) / temp)
    v = kernel * s
    h = tf.nn.relu(tf.matmul(x, v))
    expected = tf.reduce_sum(tf.matmul(h, v) ** 2) + lam * tf.reduce_sum(s)
  expected_grad = tape.gradient(expected, tau)
  for loss, grad in (step(), tf.function(step)()):
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-4)
  ltp_tf.hard_prune(pruned)
  report = ltp_tf.sparsity_report(pruned)
  assert [(t.layer, t.weight) for t in report.tensors] == [("shared", "kernel")]
  stripped = ltp_tf.strip_pruning(pruned)
  assert len([l for l in stripped.layers if isinstance(l, L.Dense)]) == 1
  np.testing.assert_allclose(stripped(x), pruned(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fmt", ["keras", "h5", "tf"])
def test_saved_models_load_without_prune_scope(fmt, tmp_path):
  """Importing ltp_tf registers the wrapper (as 'ltp_tf>PruneLearnedThreshold'), so no scope
  is needed in any format; README "Scaling up" says what happens in a process without it."""
  model = _pruned()
  x, y = _data(32)
  model.fit(x, y, verbose=0)
  path = str(tmp_path / ("m." + fmt if fmt != "tf" else "saved_model"))
  model.save(path, save_format=fmt)
  loaded = keras.models.load_model(path)
  assert [float(t) for w in ltp_tf.collect_wrappers(loaded) for t in w.thresholds] == [
      float(t) for w in ltp_tf.collect_wrappers(model) for t in w.thresholds]


class _Inject(keras.callbacks.Callback):
  """At the end of batch ``batch`` of the first epoch, puts NaN into ``variable``."""

  def __init__(self, batch, variable):
    super().__init__()
    self.batch, self.variable = batch, variable

  def on_train_batch_end(self, batch, logs=None):
    if batch == self.batch and self.variable is not None:
      self.variable.assign(tf.fill(self.variable.shape, np.nan))
      self.variable = None


def test_nan_in_the_data_stops_training_naming_every_non_finite_tensor():
  model = _pruned()
  x, y = _data()
  x[40] = np.nan  # Batch 1 of 32.
  seen = []
  recorder = keras.callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(b))
  with pytest.raises(FloatingPointError) as error:
    model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0, callbacks=[
        ltp_tf.LTPPruningSchedule(soft_epochs=1, log_every_n_steps=1), recorder])
  message = str(error.value)
  assert message.startswith("LTPPruningSchedule stopped training at optimizer step 2: the "
                            "loss is ")
  # How far the NaN spreads depends on the CPU (whether max(NaN, 0) is NaN or 0 in the ReLU):
  # the first kernel's gradient (x^T dz) is NaN everywhere, the rest may or may not be. So the
  # message must name exactly the tensors that are non-finite in the model now, and at least
  # the first kernel and its threshold.
  named = re.findall(r"(threshold of|weights) '([^']+)'", message)
  assert ("threshold of", "dense/kernel") in named and ("weights", "dense/kernel") in named
  for wrapper in ltp_tf.collect_wrappers(model):
    name = wrapper.layer.name + "/kernel"
    for kind, value in (("threshold of", wrapper.thresholds[0]),
                        ("weights", wrapper.layer.kernel)):
      assert ((kind, name) in named) == (not np.all(np.isfinite(value.numpy()))), (kind, name)
  assert seen == [0]  # Stopped in batch 1, before the next callback ran.
  assert model.stop_training
  assert _phases(model) == [False, False]  # No hard prune from NaN thresholds.


def test_nan_threshold_alone_is_named_and_blocks_the_hard_prune():
  model = _pruned()
  x, y = _data()
  wrapper = ltp_tf.collect_wrappers(model)[1]
  inject = _Inject(3, wrapper._theta[0])  # After the epoch's last step: nothing else is hit.
  with pytest.raises(FloatingPointError, match=r"soft L0 is nan\. Non-finite values \(NaN or "
                                               r"Inf\) in: threshold of 'dense_1/kernel' "
                                               r"\(tau = nan\)\. Usual causes"):
    model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0,
              callbacks=[inject, ltp_tf.LTPPruningSchedule(soft_epochs=1)])
  assert _phases(model) == [False, False]
  assert all(np.all(m.numpy() == 1) for w in ltp_tf.collect_wrappers(model) for m in w.masks)
  with pytest.raises(FloatingPointError, match=r"hard_prune: non-finite values in threshold "
                                               r"of 'dense_1/kernel'.*Nothing was pruned"):
    ltp_tf.hard_prune(model)
  assert _phases(model) == [False, False]


def test_fully_pruned_layer_warns_on_hard_prune_and_strip_and_is_reported():
  model = _pruned()
  first, second = ltp_tf.collect_wrappers(model)
  first._theta[0].assign(2 * float(np.max(first.layer.kernel.numpy() ** 2)) /
                         first.threshold_scale)  # tau above every w**2.
  layer_cases.set_thresholds_to_median(second)
  with pytest.warns(RuntimeWarning, match=r"hard_prune: LTP pruned EVERY weight of "
                                          r"dense/kernel\. A layer with 100 % sparsity"):
    ltp_tf.hard_prune(model)
  report = ltp_tf.sparsity_report(model)
  assert report.fully_pruned == ["dense/kernel"]
  as_dict = report.as_dict()
  assert as_dict["fully_pruned"] == ["dense/kernel"]
  assert set(as_dict) == {"tensors", "global", "fully_pruned", "not_pruned"}  # Keys only added.
  assert set(as_dict["global"]) == {"size", "kept", "sparsity"}
  assert "**Fully pruned (100 % sparse, no signal passes):** dense/kernel" in str(report)
  with pytest.warns(RuntimeWarning, match=r"strip_pruning: LTP pruned EVERY weight of "
                                          r"dense/kernel\."):
    stripped = ltp_tf.strip_pruning(model)
  assert ltp_tf.sparsity_report(stripped).fully_pruned == ["dense/kernel"]
