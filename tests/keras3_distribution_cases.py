"""Keras 3 on JAX under ``keras.distribution.DataParallel`` over 2 host devices.

Run by tests/test_keras3.py in a process of its own with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (read once, at JAX's import).
"""

import jax
import keras
import numpy as np
import pytest

import ltp_tf

L = keras.layers
LTP = dict(l0_lambda=1e-3, threshold_lr=3e-4, temperature=0.1)  # T0 0.1: every tau moves.


@pytest.fixture(autouse=True)
def _no_distribution_left():
  yield
  keras.distribution.set_distribution(None)


def _data():
  rng = np.random.default_rng(0)
  return (rng.normal(size=(64, 8, 8, 3)).astype("float32"),
          rng.integers(0, 5, 64).astype("int32"))


def _pruned(distribution, **kwargs):
  """The same pruned conv net, its variables created under ``distribution`` (None: one device)."""
  keras.distribution.set_distribution(distribution)
  keras.utils.set_random_seed(0)
  inp = keras.Input((8, 8, 3))
  x = L.Conv2D(8, 3, activation="relu", name="conv")(inp)
  x = L.Flatten()(x)
  model = keras.Model(inp, L.Dense(5, name="fc")(x))
  pruned = ltp_tf.prune_low_magnitude_learned(model, **LTP, **kwargs)
  for w in ltp_tf.collect_wrappers(pruned):  # Thresholds at the median w**2: some pruning.
    for theta, v in zip(w._theta, w.pruned_variables):  # pylint: disable=protected-access
      theta.assign(float(np.median(np.square(np.asarray(v.numpy())))) / w.threshold_scale)
  pruned.compile(keras.optimizers.SGD(0.01),
                 keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  ltp_tf.install_threshold_update(pruned.optimizer)
  return pruned


def _taus(model):
  return np.array([float(t) for w in ltp_tf.collect_wrappers(model) for t in w.thresholds])


def _run(distribution, schedule, steps=3, **kwargs):
  """Thresholds after each of ``steps`` train_on_batch steps, then the model after a short
  fit (4 steps per epoch) with ``schedule``."""
  model = _pruned(distribution, **kwargs)
  x, y = _data()
  taus = []
  for i in range(steps):
    model.train_on_batch(x[16 * i:16 * (i + 1)], y[16 * i:16 * (i + 1)])
    taus.append(_taus(model))
  model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0, callbacks=[schedule])
  return np.array(taus), model


def _data_parallel():
  devices = jax.devices()
  assert len(devices) == 2, f"expected 2 host devices (XLA_FLAGS), got {devices}"
  return keras.distribution.DataParallel(devices=devices)


def _is_replicated(model):
  kernel = ltp_tf.collect_wrappers(model)[0].pruned_variables[0].value
  return len(kernel.sharding.device_set) == 2


@pytest.mark.parametrize("mode", ["soft_steps_mid_epoch", "target_sparsity"])
def test_data_parallel_gives_the_single_device_thresholds_switch_and_sparsity(mode):
  # soft_steps=10: the switch inside the step of mid-epoch 3 (steps counted from the 3
  # train_on_batch steps); target mode: host visits every 2 steps and the landing.
  kwargs = dict(target_sparsity=0.6) if mode == "target_sparsity" else {}
  schedule = lambda: ltp_tf.LTPPruningSchedule(soft_steps=10, control_every_n_steps=2)  # noqa: E731
  one_taus, one = _run(None, schedule(), **kwargs)
  assert not _is_replicated(one)
  dp_taus, dp = _run(_data_parallel(), schedule(), **kwargs)
  assert _is_replicated(dp)  # The distribution was in force: variables on both devices.
  assert np.all(np.abs(one_taus[-1] / one_taus[0] - 1) > 1e-3)  # The thresholds moved.
  np.testing.assert_allclose(dp_taus, one_taus, rtol=1e-5)
  for model in (one, dp):
    assert all(w.is_hard for w in ltp_tf.collect_wrappers(model))
  s_one, s_dp = (ltp_tf.sparsity_report(m).sparsity for m in (one, dp))
  assert abs(s_one - s_dp) <= 0.01 and s_one > 0.3
  if kwargs:
    assert s_dp == pytest.approx(0.6, abs=1e-3)
  x, _ = _data()
  stripped = ltp_tf.strip_pruning(dp)
  np.testing.assert_allclose(stripped.predict(x, verbose=0), dp.predict(x, verbose=0),
                             atol=1e-5)
