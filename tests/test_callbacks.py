"""LTPPruningSchedule phases and logs; LTPSummaries event files."""

import csv
import glob

import numpy as np
import pytest
import tensorflow as tf

import ltp_tf
from ltp_tf._keras import keras

L = keras.layers


def _model(lam=1e-3, ratio=1e-3):
  model = ltp_tf.prune_low_magnitude_learned(
      keras.Sequential([keras.Input((8,)), L.Dense(32, activation="relu"), L.Dense(4)]),
      l0_lambda=lam, threshold_lr_ratio=ratio)
  model.compile(keras.optimizers.Adam(0.01),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  return model


def _data(n=128):
  rng = np.random.default_rng(0)
  return rng.normal(size=(n, 8)).astype(np.float32), rng.integers(0, 4, n)


class _PhaseRecorder(keras.callbacks.Callback):

  def __init__(self):
    super().__init__()
    self.steps, self.epochs = [], []

  def on_train_batch_end(self, batch, logs=None):
    w = ltp_tf.collect_wrappers(self.model)[0]
    self.steps.append((int(self.model.optimizer.iterations.numpy()), w.is_hard))

  def on_epoch_end(self, epoch, logs=None):
    self.epochs.append(ltp_tf.collect_wrappers(self.model)[0].is_hard)


def test_sparsity_and_soft_l0_reach_history_and_csv_logger(tmp_path):
  model, (x, y) = _model(), _data()
  csv_path = str(tmp_path / "log.csv")
  history = model.fit(x, y, epochs=3, batch_size=32, verbose=0,
                      callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=2),
                                 keras.callbacks.CSVLogger(csv_path)])
  assert len(history.history["sparsity"]) == 3
  assert history.history["sparsity"][-1] == pytest.approx(ltp_tf.sparsity_report(model).sparsity)
  assert history.history["sparsity"][-1] > 0
  with open(csv_path) as f:
    rows = list(csv.DictReader(f))
  assert float(rows[-1]["sparsity"]) == pytest.approx(history.history["sparsity"][-1])
  assert "soft_l0" in rows[0]


def test_soft_epochs_switch_after_the_last_soft_epoch():
  model, (x, y) = _model(), _data()
  recorder = _PhaseRecorder()
  model.fit(x, y, epochs=4, batch_size=32, verbose=0,
            callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=2), recorder])
  assert recorder.epochs == [False, True, True, True]  # Hard from the end of epoch 2.
  assert [h for _, h in recorder.steps] == [False] * 8 + [True] * 8


def test_soft_steps_switch_at_that_optimizer_step():
  model, (x, y) = _model(), _data()
  recorder = _PhaseRecorder()
  model.fit(x, y, epochs=2, batch_size=32, verbose=0,
            callbacks=[ltp_tf.LTPPruningSchedule(soft_steps=3), recorder])
  assert [h for _, h in recorder.steps] == [False, False, True] + [True] * 5


def test_soft_steps_count_every_step_with_steps_per_execution():
  model, (x, y) = _model(), _data()
  model.compile(keras.optimizers.Adam(0.01), "mse", steps_per_execution=3)
  recorder = _PhaseRecorder()
  model.fit(x, np.zeros((len(x), 4)), epochs=2, batch_size=16, verbose=0,
            callbacks=[ltp_tf.LTPPruningSchedule(soft_steps=4), recorder])
  # One callback per 3 steps (8 per epoch: 3, 6, 8): hard from the first call after step 4.
  assert recorder.steps == [(3, False), (6, True), (8, True), (11, True), (14, True),
                            (16, True)]


def test_resume_past_the_soft_phase_hard_prunes_at_once():
  model, (x, y) = _model(), _data()
  recorder = _PhaseRecorder()
  model.fit(x, y, epochs=4, initial_epoch=3, batch_size=32, verbose=0,
            callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=2), recorder])
  assert all(h for _, h in recorder.steps)


def test_fine_tuning_keeps_pruned_weights_exactly_zero():
  model, (x, y) = _model(lam=3e-3), _data()
  masks = []

  class Snapshot(keras.callbacks.Callback):

    def on_epoch_end(self, epoch, logs=None):
      masks.append([m.numpy().copy() for w in ltp_tf.collect_wrappers(self.model)
                    for m in w.masks])

  model.fit(x, y, epochs=5, batch_size=32, verbose=0,
            callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=2), Snapshot()])
  frozen = masks[1]
  assert 0 < sum(int((m == 0).sum()) for m in frozen)
  for w, mask in zip(ltp_tf.collect_wrappers(model), frozen):
    np.testing.assert_array_equal(w.masks[0].numpy(), mask)
    kernel = w.pruned_variables[0].numpy()
    assert np.all(kernel[mask == 0] == 0.0)
    assert np.all(kernel[mask == 1] != 0.0)
  stripped = ltp_tf.strip_pruning(model)
  for layer, mask in zip(stripped.layers, frozen):
    assert np.all(layer.kernel.numpy()[mask == 0] == 0.0)


def test_thresholds_are_excluded_from_weight_decay():
  model = ltp_tf.prune_low_magnitude_learned(
      keras.Sequential([keras.Input((8,)), L.Dense(4)]), l0_lambda=0.0)
  (wrapper,) = ltp_tf.collect_wrappers(model)
  wrapper._theta[0].assign(1e6)  # tau = 10, far above every w**2: s = 0, no gradient.
  model.compile(keras.optimizers.AdamW(0.1, weight_decay=0.5), "mse")
  x, _ = _data(32)
  model.fit(x, np.zeros((32, 4)), epochs=2, verbose=0,
            callbacks=[ltp_tf.LTPPruningSchedule()])
  assert float(wrapper._theta[0]) == 1e6  # Decay would have moved it by 5 % a step.


def test_weight_decay_exclusion_survives_save_and_load(tmp_path):
  """A loaded model's optimizer is already built and its exclusions were not saved."""
  model = ltp_tf.prune_low_magnitude_learned(
      keras.Sequential([keras.Input((8,)), L.Dense(4)]), l0_lambda=0.0)
  model.compile(keras.optimizers.SGD(0.1, weight_decay=0.5), "mse")
  x, _ = _data(32)
  model.fit(x, np.zeros((32, 4)), verbose=0, callbacks=[ltp_tf.LTPPruningSchedule()])
  path = str(tmp_path / "m.keras")
  model.save(path)
  with ltp_tf.prune_scope():
    loaded = keras.models.load_model(path)
  (wrapper,) = ltp_tf.collect_wrappers(loaded)
  wrapper._theta[0].assign(1e6)
  loaded.fit(x, np.zeros((32, 4)), epochs=2, initial_epoch=1, verbose=0,
             callbacks=[ltp_tf.LTPPruningSchedule()])
  assert float(wrapper._theta[0]) == 1e6


def test_bad_schedule_arguments_and_models_without_wrappers():
  with pytest.raises(ValueError, match="soft_epochs or soft_steps"):
    ltp_tf.LTPPruningSchedule(soft_epochs=1, soft_steps=10)
  with pytest.raises(ValueError, match="soft_epochs"):
    ltp_tf.LTPPruningSchedule(soft_epochs=-1)
  with pytest.raises(ValueError, match="soft_epochs"):
    ltp_tf.LTPPruningSchedule(soft_epochs=True)
  plain = keras.Sequential([keras.Input((8,)), L.Dense(4)])
  plain.compile("sgd", "mse")
  with pytest.raises(ValueError, match="no PruneLearnedThreshold"):
    plain.fit(np.ones((4, 8)), np.ones((4, 4)), verbose=0,
              callbacks=[ltp_tf.LTPPruningSchedule()])


def test_summaries_write_per_tensor_and_global_scalars(tmp_path):
  model, (x, y) = _model(), _data()
  model.fit(x, y, epochs=2, batch_size=32, verbose=0,
            callbacks=[ltp_tf.LTPSummaries(str(tmp_path))])
  tags = {}
  for path in glob.glob(str(tmp_path / "events.out.tfevents.*")):
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        tags.setdefault(value.tag, []).append(event.step)
  assert tags["ltp/global_sparsity"] == [0, 1]
  for layer in ("dense", "dense_1"):
    assert f"ltp/{layer}/kernel/threshold" in tags
    assert f"ltp/{layer}/kernel/keep_ratio" in tags
