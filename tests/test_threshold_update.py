"""The thresholds' step is eq. (11), whatever the optimizer does to gradients.

Oracle: ``d tau = -eta_tau * dL_T/dtau`` with the gradient taken by a GradientTape on the
same model state and batch, and ``eta_tau`` = ``threshold_lr``, or ``r * eta`` with
``threshold_lr_ratio``. Compared at the first steps only (the weights, and with them the
thresholds' later gradients, differ between optimizers).
"""

import numpy as np
import pytest
import tensorflow as tf

import ltp_tf
from ltp_tf import threshold_update
from ltp_tf._keras import keras

L = keras.layers
_LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _data(n=64, seed=0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(n, 8)).astype(np.float32), rng.integers(0, 4, n)


def _model(**kwargs):
  keras.utils.set_random_seed(0)
  kwargs.setdefault("l0_lambda", 1e-4)  # Thresholds stay inside the weights for a few steps,
  kwargs.setdefault("temperature", 0.5)  # where a wide sigmoid gives every step a gradient.
  return ltp_tf.prune_low_magnitude_learned(
      keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu"), L.Dense(4)]),
      **kwargs)


def _taus(model):
  return np.array([float(t) for w in ltp_tf.collect_wrappers(model) for t in w.thresholds])


def _threshold_grads(model, x, y):
  """dL_T/dtau of every threshold (the gradient the wrappers' theta receive)."""
  thetas = [t for w in ltp_tf.collect_wrappers(model) for t in w._theta]  # pylint: disable=protected-access
  with tf.GradientTape() as tape:
    loss = _LOSS(y, model(x, training=True)) + tf.add_n(model.losses)
  return np.array([float(g) for g in tape.gradient(loss, thetas)])


OPTIMIZERS = {
    "sgd": lambda lr: keras.optimizers.SGD(lr),
    "sgd_momentum_global_clip": lambda lr: keras.optimizers.SGD(lr, momentum=0.9,
                                                                 global_clipnorm=1e-3),
    "adam_clipnorm": lambda lr: keras.optimizers.Adam(lr, clipnorm=1e-4),
    "adamw": lambda lr: keras.optimizers.AdamW(lr, weight_decay=0.5),
    "rmsprop_clipvalue": lambda lr: keras.optimizers.RMSprop(lr, clipvalue=1e-5),
    "loss_scale_adam": lambda lr: keras.mixed_precision.LossScaleOptimizer(
        keras.optimizers.Adam(lr), initial_scale=2.0 ** 10),
    "legacy_adam": lambda lr: keras.optimizers.legacy.Adam(lr),
}


def _one_step(optimizer, x, y, **kwargs):
  model = _model(**kwargs)
  model.compile(optimizer, _LOSS)
  before, grads = _taus(model), _threshold_grads(model, x, y)
  model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False,
            callbacks=[ltp_tf.LTPPruningSchedule()])
  return before, grads, _taus(model)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_default_step_is_eq11_at_threshold_lr_for_every_optimizer(name):
  x, y = _data()
  before, grads, after = _one_step(OPTIMIZERS[name](0.1), x, y, threshold_lr=1e-3)
  assert np.all(grads < 0)  # The L0 term dominates: the thresholds rise.
  np.testing.assert_allclose(after - before, -1e-3 * grads, rtol=1e-5)


@pytest.mark.parametrize("name", ["sgd", "adam_clipnorm", "loss_scale_adam", "legacy_adam"])
def test_ratio_step_is_r_times_the_optimizers_learning_rate(name):
  x, y = _data()
  lr, ratio = 0.05, 1e-2
  before, grads, after = _one_step(OPTIMIZERS[name](lr), x, y, threshold_lr_ratio=ratio)
  np.testing.assert_allclose(after - before, -ratio * lr * grads, rtol=1e-5)


def test_ratio_step_follows_a_learning_rate_schedule():
  x, y = _data()
  schedule = keras.optimizers.schedules.PiecewiseConstantDecay([0], [0.01, 0.001])
  model = _model(threshold_lr_ratio=1e-1)
  model.compile(keras.optimizers.Adam(schedule), _LOSS)
  steps = []
  for _ in range(2):
    before, grads = _taus(model), _threshold_grads(model, x, y)
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False,
              callbacks=[ltp_tf.LTPPruningSchedule()])
    steps.append((_taus(model) - before) / grads)
  np.testing.assert_allclose(steps, [[-1e-3] * 2, [-1e-4] * 2], rtol=1e-4)


def test_plain_sgd_thresholds_move_exactly_as_eq11_says():
  """With plain SGD, eq. (11) as the paper wrote it: the same step as handing theta to SGD."""
  x, y = _data()
  lr, ratio = 0.05, 1e-2
  ours = _one_step(keras.optimizers.SGD(lr), x, y, threshold_lr_ratio=ratio)
  model = _model(threshold_lr_ratio=ratio)  # No hook: SGD itself steps tau = r * theta.
  model.compile(keras.optimizers.SGD(lr), _LOSS)
  model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
  np.testing.assert_allclose(_taus(model), ours[2], rtol=1e-6)


def test_a_step_the_loss_scale_optimizer_skips_leaves_the_thresholds():
  x, y = _data()
  model = _model(threshold_lr=1e-2)
  optimizer = ltp_tf.install_threshold_update(keras.mixed_precision.LossScaleOptimizer(
      keras.optimizers.SGD(0.1), initial_scale=2.0 ** 10))
  model(x)
  variables = model.trainable_variables
  grads = [tf.fill(v.shape, np.inf) if not threshold_update.is_threshold(v) else
           tf.ones_like(v) for v in variables]
  before = _taus(model)
  optimizer.apply_gradients(zip(grads, variables))
  np.testing.assert_array_equal(_taus(model), before)
  assert float(optimizer.loss_scale) == 2.0 ** 9  # It did skip, and lowered the scale.


def test_optimizer_never_sees_the_thresholds():
  x, y = _data()
  model = _model()
  optimizer = keras.optimizers.Adam(0.1)
  model.compile(optimizer, _LOSS)
  model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[ltp_tf.LTPPruningSchedule()])
  slots = [v for v in optimizer.variables if "threshold_param" in v.name]
  assert len(slots) == 4  # Built on every trainable variable (checkpoints line up) ...
  assert all(float(v) == 0.0 for v in slots)  # ... but Adam never stepped the thresholds.


def test_install_is_idempotent_and_returns_the_optimizer():
  optimizer = keras.optimizers.SGD(0.1)
  assert ltp_tf.install_threshold_update(optimizer) is optimizer
  hooked = optimizer.apply_gradients
  assert ltp_tf.install_threshold_update(optimizer) is optimizer
  assert optimizer.apply_gradients is hooked


def test_threshold_lr_and_ratio_together_are_rejected():
  with pytest.raises(ValueError, match=r"Give threshold_lr .* or threshold_lr_ratio"):
    _model(threshold_lr=1e-5, threshold_lr_ratio=1e-5)
  for bad in (0.0, -1.0):
    with pytest.raises(ValueError, match="threshold_lr must be > 0"):
      _model(threshold_lr=bad)


def test_config_round_trip_keeps_the_rate():
  wrapper = ltp_tf.PruneLearnedThreshold(L.Dense(3), threshold_lr=3e-6)
  config = wrapper.get_config()
  assert (config["threshold_lr"], config["threshold_lr_ratio"]) == (3e-6, None)
  again = ltp_tf.PruneLearnedThreshold.from_config(config)
  assert again.get_config() == config
  assert ltp_tf.PruneLearnedThreshold(L.Dense(3)).threshold_lr == 7e-6  # The default.
