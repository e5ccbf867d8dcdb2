"""LTP's trail of progressively sparser networks, and the per-layer keep-ratio log.

During soft pruning, ``TrailCheckpoints`` saves the wrapped model's weights (thresholds included)
after every epoch to ``trail/epoch_NNN.weights.h5`` and records ``(epoch, sparsity,
val_accuracy)`` in ``trail/trail.json``. ``select`` picks the sparsest checkpoint within an
accuracy budget; ``ltp-pick`` turns it into a stripped, exported model.
"""

import json
import os

from ltp_tf import _flavour
from ltp_tf import prune
from ltp_tf import report
from ltp_tf._keras import keras

TRAIL_DIR = "trail"
TRAIL_FILE = "trail.json"
KEEP_RATIO_FILE = "keep_ratio.json"


def write_json(path, value):
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(value, f, indent=1)
  os.replace(tmp, path)  # Atomic: a kill never leaves half a file.


def read_json(path, default):
  if not os.path.exists(path):
    return default
  with open(path) as f:
    return json.load(f)


def read_trail(workdir):
  """The trail entries of ``workdir``, in epoch order."""
  return read_json(os.path.join(workdir, TRAIL_DIR, TRAIL_FILE), [])


class TrailCheckpoints(keras.callbacks.Callback):
  """Saves a checkpoint and a trail entry at the end of every epoch (place it after
  ``LTPPruningSchedule`` so the logs carry ``sparsity``)."""

  def __init__(self, workdir, epoch_offset=0):
    super().__init__()
    self.directory = os.path.join(workdir, TRAIL_DIR)
    self.epoch_offset = epoch_offset
    os.makedirs(self.directory, exist_ok=True)

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    number = epoch + 1 + self.epoch_offset
    weights = f"epoch_{number:03d}.weights.h5"
    self.model.save_weights(os.path.join(self.directory, weights))
    entry = {"epoch": number, "step": int(self.model.optimizer.iterations.numpy()),
             "sparsity": float(logs.get("sparsity", report.sparsity_report(self.model).sparsity)),
             "val_accuracy": _maybe_float(logs.get("val_accuracy")),
             "accuracy": _maybe_float(logs.get("accuracy")), "weights": weights}
    path = os.path.join(self.directory, TRAIL_FILE)
    trail = [e for e in read_json(path, []) if e["epoch"] < number]  # Resumed: drop redone.
    write_json(path, trail + [entry])


def _maybe_float(value):
  return None if value is None else float(value)


def select(trail, reference_accuracy, max_accuracy_drop):
  """The sparsest entry whose val_accuracy is within ``max_accuracy_drop`` of the reference.

  Raises:
    ValueError: if the trail is empty, lacks validation accuracy, or no entry is in budget.
  """
  if max_accuracy_drop < 0:
    raise ValueError(f"max_accuracy_drop must be >= 0, got {max_accuracy_drop}")
  if not trail:
    raise ValueError("The trail is empty: run the soft-pruning stage first.")
  if any(e["val_accuracy"] is None for e in trail):
    raise ValueError("Trail entries have no val_accuracy: train with validation data.")
  floor = reference_accuracy - max_accuracy_drop
  within = [e for e in trail if e["val_accuracy"] >= floor]
  if not within:
    best = max(e["val_accuracy"] for e in trail)
    raise ValueError(f"No trail checkpoint reaches accuracy {floor:.4f} (reference "
                     f"{reference_accuracy:.4f} - max_accuracy_drop {max_accuracy_drop}); the "
                     f"best is {best:.4f}. Allow a larger max_accuracy_drop.")
  return max(within, key=lambda e: (e["sparsity"], e["val_accuracy"]))


class KeepRatioLog(keras.callbacks.Callback):
  """Logs per-tensor and global keep ratios every ``every_n_steps`` steps (paper Fig. 2)."""

  def __init__(self, path, every_n_steps=50):
    super().__init__()
    self.path = path
    self.every_n_steps = every_n_steps
    self._log = None
    self._step = 0

  def on_train_begin(self, logs=None):
    self._log = read_json(self.path, {"step": [], "global": [], "tensors": {}})
    resume_step = int(self.model.optimizer.iterations.numpy())
    self._step = resume_step  # Counted in Python: no device read per batch.
    keep = [i for i, s in enumerate(self._log["step"]) if s <= resume_step]
    self._log["step"] = [self._log["step"][i] for i in keep]
    self._log["global"] = [self._log["global"][i] for i in keep]
    self._log["tensors"] = {k: [v[i] for i in keep] for k, v in self._log["tensors"].items()}

  def _record(self):
    step = self._step
    if self._log["step"] and self._log["step"][-1] == step:
      return
    _flavour.sync_state(self.model)  # Keras 3 on JAX: the variables, mid-epoch.
    rep = report.sparsity_report(prune.collect_wrappers(self.model))
    self._log["step"].append(step)
    self._log["global"].append(1.0 - rep.sparsity)
    for t in rep.tensors:
      self._log["tensors"].setdefault(f"{t.layer}/{t.weight}", []).append(t.kept / t.size)

  def on_train_batch_end(self, batch, logs=None):
    self._step += 1
    if self.every_n_steps and self._step % self.every_n_steps == 0:
      self._record()

  def on_epoch_end(self, epoch, logs=None):
    self._record()
    write_json(self.path, self._log)
