"""Checkpoint/resume scenarios for tests/test_resume.py, run in a subprocess of their own.

``tf.config.experimental.enable_op_determinism()`` is process-wide and cannot be undone, so
these runs must not share a process with the other tests. Usage:

  python tests/resume_cases.py WORKDIR     # prints one JSON line

Every run trains the same MLP on the same batches (no shuffling, no dropout) for EPOCHS
epochs, hard-pruning after SOFT; an interrupted run stops after STOP (mid-soft-phase) and a
fresh model, initialised from another seed, resumes from what the mechanism saved.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import ltp_tf  # noqa: E402
from ltp_tf._keras import keras  # noqa: E402

L = keras.layers
EPOCHS, SOFT, STOP = 5, 3, 2
_RNG = np.random.default_rng(0)
X = _RNG.normal(size=(256, 8)).astype(np.float32)
Y = _RNG.integers(0, 4, 256)


def make(seed):
  keras.backend.clear_session()
  keras.utils.set_random_seed(seed)
  model = ltp_tf.prune_low_magnitude_learned(
      keras.Sequential([keras.Input((8,)), L.Dense(32, activation="relu"), L.Dense(4)]),
      l0_lambda=1e-3, threshold_lr_ratio=1e-3)
  model.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  return model


def fit(model, epochs, initial_epoch=0, callbacks=(), schedule_first=True, soft_steps=None):
  schedule = [ltp_tf.LTPPruningSchedule(soft_epochs=None if soft_steps else SOFT,
                                        soft_steps=soft_steps)]
  callbacks = schedule + list(callbacks) if schedule_first else list(callbacks) + schedule
  model.fit(X, Y, batch_size=32, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,
            verbose=0, callbacks=callbacks)


def state(model):
  wrappers = ltp_tf.collect_wrappers(model)
  return {"thresholds": [np.float32(t).tobytes().hex() for w in wrappers
                         for t in w.thresholds],
          "masks": [m.numpy() for w in wrappers for m in w.masks],
          "weights": model.get_weights(),
          "phase": [int(w.phase.numpy()) for w in wrappers],
          "step": int(model.optimizer.iterations.numpy())}


def differences(a, b):
  """Bit-level differences between two states: counts of unequal values per kind."""
  return {
      "thresholds": sum(x != y for x, y in zip(a["thresholds"], b["thresholds"])),
      "masks": int(sum(np.sum(x != y) for x, y in zip(a["masks"], b["masks"]))),
      "weights": int(sum(np.sum(x.view(np.uint32) != y.view(np.uint32))
                         for x, y in zip(a["weights"], b["weights"]))),
      "phase": int(a["phase"] != b["phase"]), "step": abs(a["step"] - b["step"])}


class StopAt(keras.callbacks.Callback):
  """Kills the run at the start of epoch ``epoch`` (after the previous epoch's saves)."""

  def __init__(self, epoch):
    super().__init__()
    self.epoch = epoch

  def on_epoch_begin(self, epoch, logs=None):
    if epoch == self.epoch:
      raise KeyboardInterrupt(f"simulated kill before epoch {epoch}")


class CheckpointEachEpoch(keras.callbacks.Callback):
  """Writes tf.train.Checkpoint(model, optimizer) at each epoch end, as a training loop does."""

  def __init__(self, prefix):
    super().__init__()
    self.prefix = prefix

  def on_epoch_end(self, epoch, logs=None):
    tf.train.Checkpoint(model=self.model, optimizer=self.model.optimizer).write(
        f"{self.prefix}_{epoch + 1}")


def interrupted(model, callbacks, **kwargs):
  try:
    fit(model, EPOCHS, callbacks=list(callbacks) + [StopAt(STOP)], **kwargs)
  except KeyboardInterrupt:
    return
  raise AssertionError("the run was not interrupted")


def resume_runs(workdir, reference):
  out = {}
  # tf.train.Checkpoint, written mid-soft-phase, read into a fresh model.
  model = make(0)
  fit(model, STOP, callbacks=[CheckpointEachEpoch(os.path.join(workdir, "tfckpt"))])
  resumed = make(1)
  resumed.optimizer.build(resumed.trainable_variables)
  tf.train.Checkpoint(model=resumed, optimizer=resumed.optimizer).read(
      os.path.join(workdir, f"tfckpt_{STOP}")).assert_existing_objects_matched()
  fit(resumed, EPOCHS, initial_epoch=STOP)
  out["tf.train.Checkpoint"] = differences(state(resumed), reference)

  # BackupAndRestore: killed before epoch STOP, the same fit call again resumes by itself.
  backup = os.path.join(workdir, "backup")
  interrupted(make(0), [keras.callbacks.BackupAndRestore(backup)])
  resumed = make(1)
  fit(resumed, EPOCHS, callbacks=[keras.callbacks.BackupAndRestore(backup)])
  out["BackupAndRestore"] = differences(state(resumed), reference)

  # The same with the hard prune in mid-epoch (soft_steps), after the resume: the schedule
  # must count steps from the restored optimizer, restored after its on_train_begin ran.
  soft_steps = SOFT * len(X) // 32 - 3
  model = make(0)
  fit(model, EPOCHS, soft_steps=soft_steps)
  backup = os.path.join(workdir, "backup_steps")
  interrupted(make(0), [keras.callbacks.BackupAndRestore(backup)], soft_steps=soft_steps)
  resumed = make(1)
  fit(resumed, EPOCHS, callbacks=[keras.callbacks.BackupAndRestore(backup)],
      soft_steps=soft_steps)
  out["BackupAndRestore, soft_steps"] = differences(state(resumed), state(model))

  # ModelCheckpoint (TF-format weights: model and optimizer), loaded with load_weights.
  path = os.path.join(workdir, "mc_{epoch}")
  interrupted(make(0), [keras.callbacks.ModelCheckpoint(path, save_weights_only=True)])
  resumed = make(1)
  resumed.optimizer.build(resumed.trainable_variables)
  resumed.load_weights(path.format(epoch=STOP)).assert_existing_objects_matched()
  fit(resumed, EPOCHS, initial_epoch=STOP)
  out["ModelCheckpoint"] = differences(state(resumed), reference)
  return out


class CountDrift(keras.callbacks.Callback):
  """Counts non-zero stored weights under a zero mask after every batch of the hard phase."""

  def __init__(self):
    super().__init__()
    self.max_drift = 0

  def on_train_batch_end(self, batch, logs=None):
    self.max_drift = max(self.max_drift, stored_nonzero_pruned(self.model))


def stored_nonzero_pruned(model):
  """Pruned weights (mask 0) whose stored variable is not exactly 0."""
  return int(sum(np.count_nonzero(v.numpy()[m.numpy() == 0])
                 for w in ltp_tf.collect_wrappers(model)
                 for v, m in zip(w.pruned_variables, w.masks)))


def hard_phase_checkpoints(workdir):
  """Every saver put BEFORE LTPPruningSchedule in the list; the checkpoints written at the
  end of epoch SOFT + 1 (a fine-tuning epoch) are restored and their stored weights read."""
  hard_epoch = SOFT + 1
  backup = os.path.join(workdir, "backup_hard")
  mc = os.path.join(workdir, "hard_mc_{epoch}")
  tfckpt = os.path.join(workdir, "hard_tfckpt")
  drift = CountDrift()
  model = make(0)
  try:
    fit(model, EPOCHS, schedule_first=False, callbacks=[
        keras.callbacks.BackupAndRestore(backup),
        keras.callbacks.ModelCheckpoint(mc, save_weights_only=True),
        CheckpointEachEpoch(tfckpt), StopAt(hard_epoch), drift])
  except KeyboardInterrupt:
    pass
  out = {"drift_within_epochs": drift.max_drift}
  restored = make(1)
  restored.load_weights(mc.format(epoch=hard_epoch)).expect_partial()
  out["ModelCheckpoint"] = stored_nonzero_pruned(restored)
  restored = make(1)
  tf.train.Checkpoint(model=restored).read(f"{tfckpt}_{hard_epoch}").expect_partial()
  out["tf.train.Checkpoint"] = stored_nonzero_pruned(restored)
  restored = make(1)  # Restores the backup (epoch hard_epoch) and trains no further epoch.
  restored.fit(X, Y, batch_size=32, epochs=hard_epoch, verbose=0,
               callbacks=[keras.callbacks.BackupAndRestore(backup)])
  out["BackupAndRestore"] = stored_nonzero_pruned(restored)
  out["pruned"] = int(sum(np.sum(m.numpy() == 0) for w in ltp_tf.collect_wrappers(restored)
                          for m in w.masks))
  out["phase"] = [int(w.phase.numpy()) for w in ltp_tf.collect_wrappers(restored)]
  return out


def main(workdir):
  tf.config.experimental.enable_op_determinism()
  model = make(0)
  fit(model, EPOCHS)
  reference = state(model)
  rerun = make(0)
  fit(rerun, EPOCHS)
  result = {"rerun": differences(state(rerun), reference),
            "reference_sparsity": ltp_tf.sparsity_report(model).sparsity,
            "reference_phase": reference["phase"], "reference_step": reference["step"]}
  result.update(resume_runs(workdir, reference))
  result["hard"] = hard_phase_checkpoints(workdir)
  print(json.dumps(result))


if __name__ == "__main__":
  main(sys.argv[1])
