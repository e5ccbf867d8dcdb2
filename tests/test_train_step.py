"""The same LTP run through fit, fit with XLA, and a GradientTape loop (README recipe)."""

import numpy as np
import pytest
import tensorflow as tf

import ltp_tf
from ltp_tf._keras import keras

L = keras.layers
EPOCHS, SOFT, BATCH = 3, 2, 32


def _data():
  rng = np.random.default_rng(0)
  return rng.normal(size=(256, 16)).astype(np.float32), rng.integers(0, 4, 256)


def _model():
  keras.utils.set_random_seed(0)
  return ltp_tf.prune_low_magnitude_learned(
      keras.Sequential([keras.Input((16,)), L.Dense(64, activation="relu"), L.Dense(4)]),
      l0_lambda=1e-3, threshold_lr=1e-6)


def _optimizer():
  # Adam: thresholds move by ~r * eta a step. With SGD and momentum at this r the thresholds
  # swing, and runs that differ by float rounding only (XLA or not) end ~10 pt apart.
  return keras.optimizers.Adam(1e-2)


_LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _result(model, losses):
  wrappers = ltp_tf.collect_wrappers(model)
  return {"loss": np.asarray(losses), "sparsity": ltp_tf.sparsity_report(model).sparsity,
          "thresholds": np.array([float(t) for w in wrappers for t in w.thresholds]),
          "masks": [m.numpy() for w in wrappers for m in w.masks],
          "weights": model.get_weights(), "hard": [w.is_hard for w in wrappers]}


def _fit(jit_compile=False):
  x, y = _data()
  model = _model()
  model.compile(_optimizer(), _LOSS, jit_compile=jit_compile)
  history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                      callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=SOFT)])
  return _result(model, history.history["loss"]), model


def _custom_loop():
  """The README's "Custom training loops" recipe, verbatim but for the names."""
  x, y = _data()
  model = _model()
  optimizer = ltp_tf.install_threshold_update(_optimizer())  # Thresholds learn by eq. (11).
  dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
  steps = len(dataset)
  callbacks = keras.callbacks.CallbackList(
      [ltp_tf.LTPPruningSchedule(soft_epochs=SOFT)], model=model, epochs=EPOCHS, steps=steps)

  @tf.function
  def train_step(x, y):
    with tf.GradientTape() as tape:
      loss = _LOSS(y, model(x, training=True)) + tf.add_n(model.losses)  # + the L0 terms
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss

  callbacks.on_train_begin()
  epoch_losses = []
  for epoch in range(EPOCHS):
    callbacks.on_epoch_begin(epoch)
    total = 0.0
    for step, (xb, yb) in enumerate(dataset):
      callbacks.on_train_batch_begin(step)
      loss = train_step(xb, yb)
      callbacks.on_train_batch_end(step, {"loss": loss})
      total += float(loss)  # For the comparison only; a real loop need not sync here.
    epoch_losses.append(total / steps)
    callbacks.on_epoch_end(epoch, {"loss": epoch_losses[-1]})
  callbacks.on_train_end()
  return _result(model, epoch_losses)


def _assert_same(got, expected, rtol):
  assert got["hard"] == expected["hard"] == [True, True]
  np.testing.assert_allclose(got["loss"], expected["loss"], rtol=rtol)
  np.testing.assert_allclose(got["thresholds"], expected["thresholds"], rtol=10 * rtol)
  for a, b in zip(got["masks"], expected["masks"]):
    np.testing.assert_array_equal(a, b)
  assert got["sparsity"] == expected["sparsity"]
  for a, b in zip(got["weights"], expected["weights"]):
    np.testing.assert_allclose(a, b, rtol=10 * rtol, atol=1e-6)


def test_gradient_tape_loop_equals_fit():
  expected, _ = _fit()
  assert 0.15 < expected["sparsity"] < 0.9  # Something was learned and pruned.
  _assert_same(_custom_loop(), expected, rtol=1e-6)


def test_jit_compile_matches_the_graph_step():
  expected, _ = _fit()
  got, model = _fit(jit_compile=True)
  assert model.jit_compile and model.train_function is not None
  # XLA fuses and reorders float32 sums (1e-7), and LTP's threshold dynamics amplify that:
  # the first epoch to float tolerance, the end of the run statistically.
  np.testing.assert_allclose(got["loss"][0], expected["loss"][0], rtol=1e-5)
  assert got["hard"] == expected["hard"] == [True, True]
  np.testing.assert_allclose(got["thresholds"], expected["thresholds"], rtol=0.2)
  assert got["sparsity"] == pytest.approx(expected["sparsity"], abs=0.05)
