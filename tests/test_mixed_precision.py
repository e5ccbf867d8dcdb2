"""Mixed precision: the soft mask from the float32 master weights; LeNet-5 under each policy."""

import numpy as np
import pytest
import tensorflow as tf

import ltp_tf
from ltp_tf import data
from ltp_tf import models
from ltp_tf import report
from ltp_tf._keras import keras
from ltp_tf._keras import master_value

L = keras.layers


@pytest.fixture
def set_policy():
  yield keras.mixed_precision.set_global_policy
  keras.mixed_precision.set_global_policy("float32")


class _Probe(L.Layer):
  """Records, inside its call, how its weight reads and what master_value returns."""

  def build(self, input_shape):
    self.w = self.add_weight("w", shape=(3,), initializer=keras.initializers.Constant(
        [0.1, 1 / 3, 1e-4]))

  def call(self, x):
    self.seen = (tf.convert_to_tensor(self.w).dtype, master_value(self.w))
    return x


def test_master_value_reads_float32_inside_the_cast_scope(set_policy):
  """Pins the one tf_keras internal that ltp_tf uses (AutoCastVariable._variable)."""
  set_policy("mixed_float16")
  probe = _Probe()
  probe(tf.zeros((1, 3)))
  assert type(probe.w).__name__ == "AutoCastVariable"
  cast_dtype, master = probe.seen
  assert cast_dtype == tf.float16  # What the layer computes with...
  assert master.dtype == tf.float32  # ...and the exact float32 value it is stored as.
  np.testing.assert_array_equal(master, np.float32([0.1, 1 / 3, 1e-4]))
  assert master_value(tf.Variable([2.0], dtype=tf.float64)).dtype == tf.float64


def _np_sigmoid(x):
  with np.errstate(over="ignore"):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_soft_mask_is_computed_from_the_float32_weights(set_policy, policy):
  """Weights 1e-6 apart, which float16/bfloat16 cannot tell apart, with T = 1e-9: eq. (2) on
  the float32 weights keeps exactly those above the threshold. (On the cast weights, all
  would be kept or all pruned.)"""
  set_policy(policy)
  w = (0.1 + 1e-6 * np.arange(32)).astype(np.float32).reshape(32, 1)
  dense = L.Dense(1, use_bias=False)
  dense.build((None, 32))
  dense.kernel.assign(w)
  wrapper = ltp_tf.PruneLearnedThreshold(dense, threshold_lr_ratio=1.0)
  model = keras.Sequential([keras.Input((32,)), wrapper])
  tau = float((np.float64(w[15, 0])**2 + np.float64(w[16, 0])**2) / 2)
  wrapper._theta[0].assign(tau)
  wrapper._temperature[0].assign(1e-9)
  assert wrapper.compute_dtype == policy.split("_")[1]  # The inner layer's policy.
  # Input row i picks weight i: the output is the soft-pruned weight v_i, in the cast dtype.
  v = model(np.eye(32, dtype=np.float32)).numpy().astype(np.float64).ravel()
  expected = w.ravel() * _np_sigmoid((w.ravel().astype(np.float64)**2 - tau) / 1e-9)
  np.testing.assert_array_equal(v > 0.05, np.arange(32) >= 16)
  np.testing.assert_allclose(v, expected, rtol=1e-2, atol=1e-30)  # bfloat16 keeps 8 bits.


def test_wrapper_keeps_the_layer_dtype_policy(set_policy):
  set_policy("mixed_float16")
  wrapper = ltp_tf.PruneLearnedThreshold(L.Dense(4, dtype="float32"))
  out = keras.Sequential([keras.Input((3,)), L.Dense(3), wrapper])(np.ones((2, 3)))
  assert wrapper.compute_dtype == "float32" and out.dtype == tf.float32
  config = wrapper.get_config()
  assert ltp_tf.PruneLearnedThreshold.from_config(config).compute_dtype == "float32"


# LeNet-5 (431k weights) on MNIST. TF's CPU float16 Conv2D gradient kernels are ~700x slower
# than float32 ones (4 s per call here), so the soft-pruning runs see 256 images (8 steps of
# 32 per epoch, 3 epochs) after 1 float32 dense epoch on 2048: measured 33.06 % float32,
# 33.10 % float16, 33.22 % bfloat16 sparsity. Adam moves the thresholds at a steady r * eta,
# with lambda large enough that the L0 term sets the direction: the run's sparsity is then a
# smooth function of the weights (perturbing them by 0.2 % moves it by 0.3 pt), so 1 pt
# measures precision, not chaos. SGD with momentum at r = 1e-5 swings by 20 pt epoch to epoch
# at this budget, in float32 alone.
_L0_LAMBDA, _RATIO, _LR = 1e-5, 5e-2, 1e-3


def _lenet5():
  # The logits go through a float32 identity, as the Keras mixed-precision guide advises.
  return keras.Sequential([models.get_model("lenet5", (28, 28, 1), 10),
                           L.Activation("linear", dtype="float32")])


def _soft_prune(dense_weights, x, y):
  keras.utils.set_random_seed(0)
  model = _lenet5()
  model.set_weights(dense_weights)
  pruned = ltp_tf.prune_low_magnitude_learned(model, l0_lambda=_L0_LAMBDA,
                                              threshold_lr_ratio=_RATIO)
  pruned.compile(keras.optimizers.Adam(_LR),
                 keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  history = pruned.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0,
                       callbacks=[ltp_tf.LTPPruningSchedule(log_every_n_steps=1)])
  return pruned, history.history


@pytest.mark.slow
def test_lenet5_mixed_precision_stays_finite_and_matches_float32(set_policy, shared_data_dir):
  (x, y), _ = data.idx_dataset("mnist", shared_data_dir)
  dense = _lenet5()
  dense.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  dense.fit(x[:2048], y[:2048], batch_size=64, epochs=1, verbose=0)
  weights = dense.get_weights()
  x, y = x[:256], y[:256]
  reference, _ = _soft_prune(weights, x, y)
  expected = ltp_tf.sparsity_report(reference).sparsity
  assert expected > 0.2  # The thresholds did move.
  for policy in ("mixed_float16", "mixed_bfloat16"):
    set_policy(policy)
    keras.backend.clear_session()
    pruned, history = _soft_prune(weights, x, y)
    set_policy("float32")
    assert np.all(np.isfinite(history["loss"])), (policy, history["loss"])
    assert np.all(np.isfinite(history["soft_l0"])), (policy, history["soft_l0"])
    assert report.non_finite(pruned) == [], policy
    for w in ltp_tf.collect_wrappers(pruned):
      assert w.layer.compute_dtype == policy.split("_")[1]  # Computed in 16 bits.
      for v in w._theta + w.temperatures:
        assert v.dtype == tf.float32, (policy, v.name)
    sparsity = ltp_tf.sparsity_report(pruned).sparsity
    assert sparsity == pytest.approx(expected, abs=0.01), policy
