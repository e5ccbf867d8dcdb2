"""The training binary's library: every stage of an LTP run, resumable, with its report.

``train_and_evaluate(config, workdir)`` runs: dense training (or ``config.init_checkpoint``)
-> LTP soft pruning (a trail checkpoint per epoch) -> hard prune -> fine-tuning (mask frozen,
no L0) -> strip -> sparse TFLite export (float and int8) -> LiteRT evaluation -> report and
plots. Each stage is skipped when its epoch count is 0. Every epoch ends with a checkpoint
(weights, thresholds, masks, phase, optimizer state, epoch); running again with the same
``workdir`` resumes after the last completed epoch. The training data order is seeded by
``(config.seed, epoch)``, so a resumed run follows the uninterrupted one exactly (random
augmentation and dropout draws aside). With ``config.verbose`` it prints the stages and one
line per epoch, numbered over its stage (``Epoch k/N``, ``console.EpochProgress``).

``config`` is an ``ml_collections.ConfigDict`` (see ``configs/``); this module only reads it.

``config.keras = 3`` trains a Keras 3 model on ``config.backend`` (the process's
``KERAS_BACKEND``: ``ltp-train`` sets it), with the same stages, callbacks and report; its
checkpoints are ``.weights.h5`` files plus the optimizer's variables. LiteRT export needs
TensorFlow: on another backend the ``.keras`` files are exported (and evaluated) by a
process of this module on ``KERAS_BACKEND=tensorflow`` (``export_saved``).
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from ltp_tf import _flavour
from ltp_tf import callbacks as ltp_callbacks
from ltp_tf import console
from ltp_tf import data
from ltp_tf import export
from ltp_tf import models
from ltp_tf import plots
from ltp_tf import prune
from ltp_tf import report as report_lib
from ltp_tf import threshold_update
from ltp_tf import trail
from ltp_tf._keras import keras

_TFDS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "imagenet2012")
_TITLES = {"dense": "Dense training", "soft": "LTP soft pruning",
           "finetune": "Fine-tuning (masks frozen, no L0)"}


class Data:
  """Training data per epoch (seeded by epoch), evaluation data and dataset facts."""

  def __init__(self, config):
    self.config = config
    if config.dataset == "digits":
      for field in ("train_examples", "eval_examples", "augment", "randaugment", "image_size"):
        if getattr(config, field, None):
          raise ValueError(f"config.{field} applies to tfds datasets only, not to "
                           f"dataset='digits' (got {getattr(config, field)!r}).")
      (x_tr, y_tr), (x_te, y_te) = data.digits(seed=config.seed)
      self._arrays = (x_tr, y_tr)
      self.eval = tf.data.Dataset.from_tensor_slices((x_te, y_te)).batch(config.batch_size)
      self.input_shape, self.num_classes = x_tr.shape[1:], int(y_tr.max()) + 1
      self.train_examples = len(x_tr)
    elif config.dataset in _TFDS:
      _, self.eval, info = self._tfds(config.seed)
      self.input_shape, self.num_classes = tuple(info.input_shape), info.num_classes
      self.train_examples = info.train_examples
    else:
      raise ValueError(f"config.dataset must be 'digits' or one of {_TFDS}, "
                       f"got {config.dataset!r}")
    self.steps_per_epoch = self.train_examples // config.batch_size

  def _tfds(self, seed):
    from ltp_tf import input_pipeline  # pylint: disable=g-import-not-at-top
    c = self.config
    return input_pipeline.get_datasets(
        dataset=c.dataset, data_dir=c.tfds_data_dir, manual_dir=c.tfds_manual_dir or None,
        batch_size=c.batch_size, train_examples=c.train_examples or None,
        eval_examples=c.eval_examples or None, augment=c.augment or None,
        randaugment=c.randaugment, image_size=c.image_size or None, seed=seed)

  def train(self, epoch):
    seed = self.config.seed * 100_003 + epoch
    if self.config.dataset == "digits":
      x, y = self._arrays
      return (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
              .batch(self.config.batch_size, drop_remainder=True))
    return self._tfds(seed)[0]

  def representative(self, batches=8):
    """Sample inputs for int8 calibration."""
    def gen():
      for x, _ in self.train(0).take(batches):
        for row in x.numpy():
          yield [row[None]]
    return gen


def keras_of(config):
  """The Keras that ``config`` trains with: tf_keras (``config.keras == 2``) or Keras 3 on
  ``config.backend``, which must be this process's backend.

  Raises:
    ValueError: for another ``config.keras``, or a Keras 3 backend other than the process's.
  """
  version = getattr(config, "keras", 2)
  if version == 2:
    return keras
  if version != 3:
    raise ValueError(f"config.keras must be 2 (tf_keras) or 3 (Keras 3), got {version!r}")
  import keras as keras3  # pylint: disable=g-import-not-at-top
  if keras3.backend.backend() != config.backend:
    raise ValueError(
        f"config.backend is {config.backend!r} but this process's Keras 3 runs on "
        f"{keras3.backend.backend()!r}: set KERAS_BACKEND={config.backend} (and leave "
        "TF_USE_LEGACY_KERAS unset) before anything imports keras or TensorFlow; ltp-train "
        "does it.")
  return keras3


def _exports_here(model):
  """LiteRT export runs in this process: tf_keras, or Keras 3 on TensorFlow."""
  return not _flavour.is_keras3(model) or _flavour.keras3().backend.backend() == "tensorflow"


def _optimizer(config, steps):
  keras = keras_of(config)  # pylint: disable=redefined-outer-name
  lr = config.learning_rate
  if config.lr_schedule == "cosine":
    lr = keras.optimizers.schedules.CosineDecay(lr, max(steps, 1))
  elif config.lr_schedule != "constant":
    raise ValueError(f"config.lr_schedule must be 'constant' or 'cosine', got "
                     f"{config.lr_schedule!r}")
  wd = config.weight_decay or None
  if config.optimizer == "sgd":
    optimizer = keras.optimizers.SGD(lr, momentum=config.momentum, weight_decay=wd)
  elif config.optimizer == "adam":
    optimizer = keras.optimizers.Adam(lr, weight_decay=wd)
  else:
    raise ValueError(f"config.optimizer must be 'sgd' or 'adam', got {config.optimizer!r}")
  threshold_update.install(optimizer)  # Thresholds learn by eq. (11), not by the optimizer.
  return optimizer


def _compile(model, config, epochs, data_):
  keras = keras_of(config)  # pylint: disable=redefined-outer-name
  model.compile(_optimizer(config, epochs * data_.steps_per_epoch),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                run_eagerly=config.run_eagerly)
  return model


class _EpochCheckpoint(keras.callbacks.Callback):
  """Records the epoch's logs and time in the run state, then checkpoints (in that order, so
  a kill between the two only makes the resumed run redo, and re-record, that epoch)."""

  def __init__(self, run, stage, checkpoint):
    super().__init__()
    self.run, self.stage, self.checkpoint = run, stage, checkpoint
    self._start = time.time()

  def on_epoch_begin(self, epoch, logs=None):
    self._start = time.time()

  def on_epoch_end(self, epoch, logs=None):
    state = self.run.state
    history = state["history"].setdefault(self.stage, {})
    for k, v in (logs or {}).items():
      history.setdefault(k, [])[epoch:] = [float(v)]
    state["seconds"][self.stage] = state["seconds"].get(self.stage, 0.0) + (
        time.time() - self._start)
    self.run.save_state()
    self.checkpoint.save(epoch + 1)


class _TFCheckpoint:
  """Model, optimizer and epoch in a ``tf.train.CheckpointManager`` (tf_keras)."""

  def __init__(self, model, directory):
    self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=self._epoch)
    self._manager = tf.train.CheckpointManager(ckpt, directory, max_to_keep=1)
    if self._manager.latest_checkpoint:
      ckpt.restore(self._manager.latest_checkpoint).assert_existing_objects_matched()
    self.epoch = int(self._epoch.numpy())

  def save(self, epoch):
    self._epoch.assign(epoch)
    self._manager.save(checkpoint_number=epoch)


class _Keras3Checkpoint:
  """Model weights (``.weights.h5``), the optimizer's variables (``.npz``) and the epoch
  (``.json``, written last) of a Keras 3 model, on any backend."""

  def __init__(self, model, directory):
    self.model, self.directory = model, directory
    self._files = [os.path.join(directory, f) for f in ("model.weights.h5", "optimizer.npz",
                                                         "checkpoint.json")]
    self.epoch = trail.read_json(self._files[2], {"epoch": 0})["epoch"]
    if self.epoch:
      model.load_weights(self._files[0])
      slots = self._slots()
      with np.load(self._files[1]) as saved:
        if set(saved.files) != set(slots):
          raise ValueError(f"Checkpoint {self._files[1]} holds optimizer variables "
                           f"{sorted(saved.files)}, this optimizer {sorted(slots)}.")
        for name, v in slots.items():
          v.assign(saved[name])

  def _slots(self):
    """The optimizer's variables by path without the optimizer's own (numbered) name."""
    return {v.path.split("/", 1)[-1]: v for v in self.model.optimizer.variables}

  def save(self, epoch):
    os.makedirs(self.directory, exist_ok=True)
    self.model.save_weights(self._files[0])
    np.savez(self._files[1], **{k: _flavour.to_numpy(v) for k, v in self._slots().items()})
    trail.write_json(self._files[2], {"epoch": epoch})


class Run:
  """One run's workdir: resumable stages, persistent state, the report's pieces."""

  def __init__(self, config, workdir, extra_callbacks=()):
    self.config, self.workdir = config, workdir
    self.extra_callbacks = list(extra_callbacks)
    os.makedirs(workdir, exist_ok=True)
    self.state_path = os.path.join(workdir, "state.json")
    self.state = trail.read_json(self.state_path, {"stages": {}, "seconds": {}, "history": {}})

  def save_state(self):
    trail.write_json(self.state_path, self.state)

  def fit(self, model, stage, epochs, data_, callbacks=()):
    """Fits ``epochs`` epochs of ``stage``, resuming from its last checkpoint."""
    model.optimizer.build(model.trainable_variables)
    checkpoint = (_Keras3Checkpoint if _flavour.is_keras3(model) else _TFCheckpoint)(
        model, os.path.join(self.workdir, "checkpoints", stage))
    verbose = self.config.verbose
    cbs = list(callbacks) + [console.EpochProgress(epochs, verbose=verbose),
                             _EpochCheckpoint(self, stage, checkpoint)]
    cbs += self.extra_callbacks
    # Keras 3 adds its own progress bar unless verbose=0: EpochProgress prints instead.
    fit_verbose = 0 if _flavour.is_keras3(model) else verbose
    start = checkpoint.epoch
    note = f"{epochs} epoch" + ("s" if epochs != 1 else "")
    if not epochs:
      note = "skipped (0 epochs)"
    elif start == epochs:
      note += ", done in an earlier run"
    elif start:
      note += f", resuming after epoch {start}"
    self.say(f"== {_TITLES.get(stage, stage)}: {note}")
    for e in range(start, epochs):
      # One fit per epoch: the data order is seeded by the epoch, so resuming is exact.
      model.fit(data_.train(e), epochs=e + 1, initial_epoch=e, validation_data=data_.eval,
                verbose=fit_verbose, callbacks=cbs, shuffle=False)  # Shuffled by seed.

  def say(self, line):
    """Prints a progress line (stage names, the hard prune) unless ``config.verbose`` is 0."""
    if self.config.verbose:
      print(line, flush=True)

  def record(self, stage, model, eval_ds):
    acc = float(model.evaluate(eval_ds, verbose=0)[1])
    wrapped = prune.collect_wrappers(model)
    sparsity = report_lib.sparsity_report(model).sparsity if wrapped else 0.0
    self.state["stages"][stage] = {"accuracy": acc, "sparsity": sparsity}
    self.save_state()


def _config_dict(config):
  return config.to_dict() if hasattr(config, "to_dict") else dict(vars(config))


def build_pruned_model(config, data_):
  """The dense model of ``config``, and its LTP-wrapped twin (sharing its layers)."""
  k = keras_of(config)
  model = models.get_model(config.model, data_.input_shape, data_.num_classes,
                           keras_module=None if k is keras else k, **dict(config.model_kwargs))
  pruned = prune.prune_low_magnitude_learned(
      model, l0_lambda=config.l0_lambda, temperature=config.temperature,
      threshold_lr=config.threshold_lr, threshold_lr_ratio=config.threshold_lr_ratio,
      stabilized_gradient=config.stabilized_gradient, regularizer=config.regularizer,
      target_sparsity=config.target_sparsity)
  return model, pruned


def train_and_evaluate(config, workdir, callbacks=()):
  """Runs (or resumes) every stage of ``config`` in ``workdir``; returns the report dict.

  Args:
    config: the experiment ConfigDict (``configs/*.py``).
    workdir: output folder; reusing it resumes the run.
    callbacks: extra Keras callbacks for every ``fit`` (run after the epoch checkpoint).
  """
  for field in ("dense_epochs", "soft_epochs", "finetune_epochs", "keep_ratio_every_n_steps",
                "target_epochs"):
    value = getattr(config, field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
      raise ValueError(f"config.{field} must be a non-negative int, got {value!r}")
  if not (config.dense_epochs or config.init_checkpoint or
          dict(config.model_kwargs).get("weights")):
    raise ValueError("config.dense_epochs is 0 and there is no config.init_checkpoint (nor "
                     "model_kwargs.weights): LTP would prune a randomly initialised network. "
                     "Give dense weights or train the dense network first.")
  keras_of(config)  # Checks config.keras and config.backend first.
  run = Run(config, workdir, callbacks)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump(_config_dict(config), f, indent=1)
  keras.utils.set_random_seed(config.seed)
  data_ = Data(config)
  model, pruned = build_pruned_model(config, data_)

  # Dense training. The wrapped model shares these layers, but its wrappers' temperatures
  # (eq. 15) were computed at wrap time, so they are recalibrated after loading weights.
  _compile(model, config, config.dense_epochs, data_)
  if config.init_checkpoint:
    model.load_weights(config.init_checkpoint)
  run.fit(model, "dense", config.dense_epochs, data_)
  run.record("dense", model, data_.eval)
  sizes, elsewhere = {}, []  # Exports for a TensorFlow-backend process (Keras 3 on JAX).
  if config.export_tflite:
    if _exports_here(model):
      sizes["dense"] = _export(workdir, data_, "dense", model)[0]
    else:
      model.save(os.path.join(workdir, "model_dense.keras"))
      elsewhere.append("dense")
  for w in prune.collect_wrappers(pruned):
    w.calibrate_temperatures()
  fig1 = _fig1_wrapper(pruned, config)
  fig1_before = _flavour.to_numpy(fig1.pruned_variables[0]).copy()

  # Soft pruning, with the trail.
  _compile(pruned, config, config.soft_epochs, data_)
  target_epochs = None
  if config.target_sparsity is not None:
    target_epochs = config.target_epochs or max(1, (2 * config.soft_epochs) // 3)
  run.fit(pruned, "soft", config.soft_epochs, data_, callbacks=[
      ltp_callbacks.LTPPruningSchedule(target_epochs=target_epochs),
      trail.TrailCheckpoints(workdir),
      trail.KeepRatioLog(os.path.join(workdir, trail.KEEP_RATIO_FILE),
                         config.keep_ratio_every_n_steps),
      ltp_callbacks.LTPSummaries(os.path.join(workdir, "tensorboard"))])
  run.record("soft", pruned, data_.eval)
  landing = prune.hard_prune(pruned, config.target_sparsity)
  if landing:
    run.state["landing"] = landing
  run.record("hard", pruned, data_.eval)
  hard = run.state["stages"]["hard"]
  run.say(f"== Hard prune: {hard['sparsity']:.2%} sparse, test accuracy {hard['accuracy']:.4f}")

  # Fine-tuning: mask frozen, L0 off.
  _compile(pruned, config, config.finetune_epochs, data_)
  run.fit(pruned, "finetune", config.finetune_epochs, data_,
          callbacks=[ltp_callbacks.LTPPruningSchedule()])
  run.record("finetuned", pruned, data_.eval)

  # Strip and export.
  kinds = ("float, int8" if config.export_int8 else "float") if config.export_tflite else ""
  run.say("== Export: strip" + (f", sparse TFLite ({kinds}), LiteRT evaluation" if kinds else ""))
  start = time.time()
  stripped = prune.strip_pruning(pruned)
  stripped.save(os.path.join(workdir, "model_sparse.keras"))
  kinds = [k for k, on in (("sparse", True), ("sparse_int8", config.export_int8))
           if on and config.export_tflite]
  results = {}
  if _exports_here(stripped):
    results = {kind: _export(workdir, data_, kind, stripped) for kind in kinds}
  else:
    elsewhere += kinds
  if elsewhere:
    results.update(_export_in_tensorflow_process(workdir, elsewhere))
  for kind, (size, accuracy) in results.items():
    sizes[kind] = size
    if accuracy is not None:
      run.state["stages"][f"tflite_{kind}"] = {
          "accuracy": accuracy, "sparsity": run.state["stages"]["finetuned"]["sparsity"]}
  sizes = {k: sizes[k] for k in ("dense", "sparse", "sparse_int8") if k in sizes}
  run.state["seconds"]["export"] = time.time() - start
  run.save_state()

  per_layer = report_lib.sparsity_report(pruned)
  result = {
      "config": _config_dict(config),
      "stages": run.state["stages"],
      "layers": per_layer.as_dict()["tensors"],
      "global": per_layer.as_dict()["global"],
      "compression_ratio": per_layer.size / max(per_layer.kept, 1),
      "tflite_bytes": sizes,
      "seconds": run.state["seconds"],
      "history": run.state["history"],
      "landing": run.state.get("landing"),
  }
  result["plots"] = _plots(workdir, result, fig1, fig1_before)
  with open(os.path.join(workdir, "report.json"), "w") as f:
    json.dump(result, f, indent=1)
  markdown = format_report(result, per_layer)
  with open(os.path.join(workdir, "report.md"), "w") as f:
    f.write(markdown)
  print(markdown)
  return result


def _export(workdir, data_, kind, model):
  """Writes ``model_<kind>.tflite`` (``sparse_int8``: int8); returns (bytes, LiteRT test
  accuracy, None for ``dense``)."""
  quantize = "int8" if kind.endswith("int8") else None
  tflite = export.export_tflite(
      model, os.path.join(workdir, f"model_{kind}.tflite"), quantize=quantize,
      representative_dataset=data_.representative() if quantize else None)
  accuracy = None if kind == "dense" else export.evaluate_tflite(tflite, data_.eval)["accuracy"]
  return len(tflite), accuracy


def export_saved(workdir, kinds):
  """``_export`` of ``model_dense.keras`` (kind ``dense``) / ``model_sparse.keras`` (the
  others) in ``workdir``, with its ``config.json``'s data; writes ``export.json``."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  import keras as keras3  # pylint: disable=g-import-not-at-top
  with open(os.path.join(workdir, "config.json")) as f:
    data_ = Data(ml_collections.ConfigDict(json.load(f)))
  results = {}
  for kind in kinds:
    source = "dense" if kind == "dense" else "sparse"
    model = keras3.saving.load_model(os.path.join(workdir, f"model_{source}.keras"))
    results[kind] = _export(workdir, data_, kind, model)
  trail.write_json(os.path.join(workdir, "export.json"), results)


def _export_in_tensorflow_process(workdir, kinds):
  """``export_saved`` in a process on ``KERAS_BACKEND=tensorflow``; its results."""
  env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
  env["KERAS_BACKEND"] = "tensorflow"
  code = f"from ltp_tf import train_lib; train_lib.export_saved({workdir!r}, {list(kinds)!r})"
  subprocess.run([sys.executable, "-c", code], check=True, env=env)
  return {k: tuple(v) for k, v in trail.read_json(os.path.join(workdir, "export.json"),
                                                  {}).items()}


def _fig1_wrapper(pruned, config):
  wrappers = prune.collect_wrappers(pruned)
  if config.fig1_layer:
    chosen = [w for w in wrappers if w.layer.name == config.fig1_layer]
    if not chosen:
      raise ValueError(f"config.fig1_layer {config.fig1_layer!r} is not a pruned layer; "
                       f"choose one of {[w.layer.name for w in wrappers]}")
    return chosen[0]
  return max(wrappers, key=lambda w: int(np.prod(w.pruned_variables[0].shape)))


def _plots(workdir, result, fig1, fig1_before):
  out = {}
  keep_log = trail.read_json(os.path.join(workdir, trail.KEEP_RATIO_FILE), None)
  if keep_log and keep_log["step"]:
    out["keep_ratio"] = plots.keep_ratio_curves(keep_log, os.path.join(workdir,
                                                                       "keep_ratio.png"))
  entries = trail.read_trail(workdir)
  if entries and entries[0]["val_accuracy"] is not None:
    out["trail"] = plots.trail_accuracy(entries, result["stages"]["dense"]["accuracy"],
                                        os.path.join(workdir, "trail_accuracy.png"))
  out["layers"] = plots.layer_sparsity(result["layers"], os.path.join(workdir,
                                                                      "layer_sparsity.png"))
  out["fig1"] = plots.weight_scatter(
      fig1_before, _flavour.to_numpy(fig1.pruned_weights()[0]), float(fig1.thresholds[0]),
      f"{fig1.layer.name}/{fig1.weight_paths[0]}", os.path.join(workdir, "fig1_scatter.png"))
  return {k: os.path.basename(v) for k, v in out.items()}


def format_report(result, per_layer):
  c = result["config"]
  lines = [f"# LTP report: {c['dataset']} / {c['model']}", "",
           "| stage | test accuracy | sparsity |", "|---|---:|---:|"]
  for stage, values in result["stages"].items():
    lines.append(f"| {stage} | {values['accuracy']:.4f} | {values['sparsity']:.2%} |")
  sizes = result["tflite_bytes"]
  lines += ["", f"Compression (prunable weights / kept): {result['compression_ratio']:.2f}x",
            "", "TFLite bytes: " + (", ".join(f"{k} {v:,}" for k, v in sizes.items()) or
                                    "not exported"), "",
            "## Per layer", "", str(per_layer), "",
            "Seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result["seconds"].items()),
            "", "Plots: " + ", ".join(result["plots"].values())]
  return "\n".join(lines) + "\n"
