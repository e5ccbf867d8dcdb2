"""Keras callbacks: the LTP phase schedule and TensorBoard summaries."""

import functools
import math
import warnings

import tensorflow as tf

from ltp_tf import _flavour
from ltp_tf import prune
from ltp_tf import report
from ltp_tf import sparsity_target
from ltp_tf import threshold_update
from ltp_tf._keras import keras


def _wrappers_or_raise(model, who):
  wrappers = prune.collect_wrappers(model)
  if not wrappers:
    raise ValueError(f"{who}: the model has no PruneLearnedThreshold layers. Wrap it with "
                     "ltp_tf.prune_low_magnitude_learned(model) before training.")
  return wrappers


def _set_wrappers(callback, model, who):
  """Finds ``model``'s wrappers; keeps the traced stats function if they are the same ones
  (``fit`` calls ``set_model`` each time: one fit per epoch must not retrace every epoch)."""
  wrappers = _wrappers_or_raise(model, who)
  if _flavour.is_keras3(model):  # Read at the host (the variables may not be TF's).
    from ltp_tf.keras3 import schedule  # pylint: disable=g-import-not-at-top
    callback._stats = functools.partial(schedule.host_stats, wrappers)
  elif callback._stats is None or [id(w) for w in wrappers] != [id(w) for w in callback._wrappers]:
    callback._stats = _Stats(wrappers)
  callback._wrappers = wrappers


class _Stats:
  """(global sparsity, soft L0 summed over wrappers) as floats, from a compiled function.

  Subclassed models build their layers in the first train step, so the function is made on
  the first call after every wrapper is built; before that, ``__call__`` returns None.
  """

  def __init__(self, wrappers):
    self._wrappers = wrappers
    self._fn = None

  def __call__(self):
    if self._fn is None:
      if not all(w._ltp_built for w in self._wrappers):  # pylint: disable=protected-access
        return None

      @tf.function
      @tf.autograph.experimental.do_not_convert  # No Python control flow to convert.
      def stats():
        kept, size, l0 = report.global_stats(self._wrappers)
        return 1.0 - tf.cast(kept, tf.float32) / float(size), l0

      self._fn = stats
    sparsity, l0 = self._fn()
    return {"sparsity": float(sparsity), "soft_l0": float(l0)}


class LTPPruningSchedule(keras.callbacks.Callback):
  """Drives LTP's phases: soft pruning, then hard pruning, then fine-tuning.

  For the first ``soft_epochs`` epochs (or ``soft_steps`` optimizer steps) the thresholds are
  learned with the soft L0 on. Then every wrapper is hard-pruned: masks are frozen from the
  learned thresholds (eq. 1), thresholds are frozen and the L0 term turns off; the rest of
  training fine-tunes with pruned weights held at exactly zero. With neither argument, the
  whole ``fit`` is soft pruning (call ``ltp_tf.hard_prune(model)`` yourself later).

  **Target-sparsity mode.** With ``target_sparsity`` (here, or given to
  ``prune_low_magnitude_learned``), ``l0_lambda`` is steered during soft pruning: every
  ``control_every_n_steps`` steps the global sparsity is measured and every wrapper's lambda
  is multiplied by the factor of a ``sparsity_target.LambdaController`` (where the sparsity
  falls behind the ramp in the first 5 control steps, first 4x per control step until it
  catches up: a search for where the network balances, which can lie decades from the
  start), so that the sparsity
  follows a cubic ramp from 0 to the target, reached at ``target_steps`` (or
  ``target_epochs``; default: two thirds of the soft phase, and with no soft phase named, two
  thirds of the ``fit``: its ``epochs`` times its steps per epoch, counted from the step of
  its epoch 0, so a fit resumed with ``initial_epoch`` keeps its ramp), and stays there until
  the hard prune, which lands exactly on the target by multiplying every threshold by one factor
  (``ltp_tf.hard_prune(model, target_sparsity)``; ``self.landing`` records it). The per-layer
  split is learned by LTP. The logs then carry ``l0_lambda``.

  Adds ``sparsity`` (global, over all wrapped tensors, eq. 1) and ``soft_l0`` to the epoch
  logs, so the progress bar, ``History`` and ``CSVLogger`` show them (put this callback
  before ``CSVLogger`` in the list); batch logs get them every ``log_every_n_steps`` steps.
  Works with nested and subclassed models. At the start of training it makes
  ``model.optimizer`` leave the thresholds to their own eq. (11) step
  (``ltp_tf.install_threshold_update``): no momentum, Adam scaling, clipping or weight decay
  reaches them.

  **Custom training loops.** Drive it with ``keras.callbacks.CallbackList([schedule],
  model=model, epochs=E, steps=S)``: ``on_train_begin()``; per epoch ``on_epoch_begin(e)``;
  per step ``on_train_batch_begin(i)`` and ``on_train_batch_end(i, {"loss": loss})``;
  ``on_epoch_end(e, {"loss": ...})``. An uncompiled model has no ``model.optimizer``: the
  schedule then counts the steps itself. The README's "Scaling up" has the whole loop.

  **Checkpoints and resume.** In the hard phase the pruned weights get a zero gradient, but
  momentum from the soft phase still moves their stored values within an epoch (the forward
  pass and every export mask them regardless). At the epoch's last step, before any
  callback's ``on_epoch_end``, they are re-zeroed, so an epoch-end checkpoint
  (``ModelCheckpoint``, ``BackupAndRestore``, ``tf.train.Checkpoint``) stores exact zeros
  wherever its saver is in the list; one written mid-epoch (``save_freq=N``) may not. The
  step count is re-read from ``model.optimizer.iterations`` at each epoch start, after
  ``BackupAndRestore`` has restored it, so ``soft_steps`` resumes exactly too.

  **Non-finite values.** Where it reads these stats anyway (every ``log_every_n_steps``
  steps and at each epoch end, never inside the train step), it checks the soft L0, which is
  NaN as soon as any pruned weight or threshold is, and the loss. If either is NaN or Inf it
  sets ``model.stop_training`` and raises a ``FloatingPointError`` that names every
  threshold, weight and variable that went non-finite, before a hard prune could freeze
  all-zero masks from NaN thresholds.

  Example::

    model.fit(x, y, epochs=10, callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=7)])
    # Land on 95 % sparsity by epoch 5, hard-prune after epoch 7, fine-tune 3 epochs:
    model.fit(x, y, epochs=10, callbacks=[ltp_tf.LTPPruningSchedule(
        soft_epochs=7, target_sparsity=0.95, target_epochs=5)])

  Args:
    soft_epochs: number of epochs of soft pruning before the hard prune.
    soft_steps: number of optimizer steps of soft pruning (instead of ``soft_epochs``).
    log_every_n_steps: how often batch logs get ``sparsity``/``soft_l0`` (0: never).
    target_sparsity: global sparsity in [0, 1) to steer lambda to; None: the wrappers'
      ``target_sparsity`` (from ``prune_low_magnitude_learned``), if any. Given here only,
      the wrappers keep the regularizer they were made with (``"l0"`` by default); given to
      ``prune_low_magnitude_learned``, the default is target mode's ``"l0_fraction"``.
    target_epochs: epochs (from optimizer step 0) by which the ramp reaches the target.
    target_steps: optimizer steps by which it reaches it (instead of ``target_epochs``).
    control_every_n_steps: how often lambda is adjusted in target-sparsity mode.
  """

  def __init__(self, soft_epochs=None, soft_steps=None, log_every_n_steps=50,
               target_sparsity=None, target_epochs=None, target_steps=None,
               control_every_n_steps=20):
    super().__init__()
    # Batch logs stay tensors: no device sync per step just because this callback has batch
    # hooks (it only adds Python floats to them).
    self._supports_tf_logs = True
    # Keras 3: on_train_batch_end only adds cached floats to the logs (the host visits are in
    # on_train_batch_begin), so JAX's fit may keep dispatching steps asynchronously.
    self.async_safe = True
    for (a, va), (b, vb) in ((("soft_epochs", soft_epochs), ("soft_steps", soft_steps)),
                             (("target_epochs", target_epochs), ("target_steps", target_steps))):
      if va is not None and vb is not None:
        raise ValueError(f"Give {a} or {b}, not both (got {a}={va}, {b}={vb}).")
    for name, value in (("soft_epochs", soft_epochs), ("soft_steps", soft_steps),
                        ("log_every_n_steps", log_every_n_steps),
                        ("target_epochs", target_epochs), ("target_steps", target_steps),
                        ("control_every_n_steps", control_every_n_steps)):
      if value is not None and (isinstance(value, bool) or not isinstance(value, int) or
                                value < 0):
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    for name, value in (("target_epochs", target_epochs), ("target_steps", target_steps),
                        ("control_every_n_steps", control_every_n_steps)):
      if value == 0:
        raise ValueError(f"{name} must be >= 1, got 0")
    sparsity_target.check_target_sparsity(target_sparsity)
    self.soft_epochs = soft_epochs
    self.soft_steps = soft_steps
    self.log_every_n_steps = log_every_n_steps
    self.target_sparsity = target_sparsity
    self.target_epochs = target_epochs
    self.target_steps = target_steps
    self.control_every_n_steps = control_every_n_steps
    self._wrappers = []
    self._stats = None
    self._batch_logs = {}
    self._step_count = 0
    self._epoch_start = 0  # Optimizer step at the start of the epoch.
    self._masked_at = None  # Step of the last re-zeroing of pruned weights.
    self._controller = None
    self._fit_length = None  # (epochs, steps) of a fit whose ramp is placed at its 1st epoch.
    self.landing = None  # Target-sparsity mode: what the hard prune's landing did.
    self._keras3 = None  # The Keras 3 half, for a Keras 3 model (ltp_tf.keras3.schedule).

  def set_model(self, model):
    super().set_model(model)
    if _flavour.is_keras3(model):
      from ltp_tf.keras3 import schedule  # pylint: disable=g-import-not-at-top
      _set_wrappers(self, model, "LTPPruningSchedule")
      self._keras3 = schedule.Keras3Schedule(self)
      return
    self._keras3 = None
    _set_wrappers(self, model, "LTPPruningSchedule")

  def _hard_prune(self):
    built = [w for w in self._wrappers if w._ltp_built]  # pylint: disable=protected-access
    if not built or all(w.is_hard for w in built):
      return
    if self._controller is not None and not any(w.is_hard for w in built):
      # Target-sparsity mode: land on the target (one factor on every threshold).
      lag = self._controller.lag_message(float(_flavour.to_numpy(built[0].l0_lambda)))
      if lag:
        warnings.warn(f"LTPPruningSchedule: {lag}", UserWarning)
      self.landing = prune.hard_prune(built, self._controller.target)
    else:  # Checks for non-finite thresholds/weights first, warns on fully pruned tensors.
      prune.hard_prune(built)

  def _step(self):
    """The optimizer's step count; in a custom loop with no ``model.optimizer``, our own."""
    iterations = getattr(getattr(self.model, "optimizer", None), "iterations", None)
    return self._step_count if iterations is None else int(iterations.numpy())

  def _apply_masks(self):
    """Hard phase: re-zero the pruned weights in the variables (see ``on_train_batch_end``)."""
    for w in self._wrappers:
      w.apply_masks()
    self._masked_at = self._step_count

  def _check_finite(self, stats, loss):
    """Stops training with a FloatingPointError that names what went non-finite.

    ``stats["soft_l0"]`` sums a sigmoid over every pruned weight and its threshold, so it is
    NaN as soon as any of them is; ``loss`` catches the rest (data, other layers). Both are
    read where this callback syncs anyway, never in the train step.
    """
    values = [stats.get("soft_l0"), None if loss is None else float(loss)]
    if all(v is None or math.isfinite(v) for v in values):
      return
    self.model.stop_training = True
    raise FloatingPointError(
        f"LTPPruningSchedule stopped training at optimizer step {self._step_count}: the loss "
        f"is {values[1]} and the soft L0 is {values[0]}. {report.non_finite_message(self.model)}")

  def _target(self):
    """The target sparsity in force: this callback's, else the wrappers' (all the same)."""
    if self.target_sparsity is not None:
      return self.target_sparsity
    targets = {w.target_sparsity for w in self._wrappers}
    if len(targets) > 1:
      listed = sorted(targets, key=str)
      raise ValueError(f"The model's wrappers disagree on target_sparsity ({listed}); give "
                       "LTPPruningSchedule(target_sparsity=...) explicitly.")
    return targets.pop()

  def _fit_params(self):
    """``fit``'s params ("epochs", "steps", ...); empty from a CallbackList given none."""
    return getattr(self, "params", None) or {}

  def _make_controller(self, target):
    """The lambda controller, or None where it waits for the fit's first epoch (below)."""
    steps = self._fit_params().get("steps")
    if self.target_steps is not None:
      reach = self.target_steps
    elif self.target_epochs is not None or self.soft_epochs is not None:
      if not steps:
        raise ValueError("Target-sparsity mode needs the number of steps per epoch to place "
                         "target_epochs/soft_epochs; this fit does not know it (a dataset of "
                         "unknown length). Pass steps_per_epoch= to fit, or give "
                         "LTPPruningSchedule target_steps= instead.")
      reach = (self.target_epochs or max(1, (2 * self.soft_epochs) // 3)) * steps
    elif self.soft_steps is not None:
      reach = max(1, (2 * self.soft_steps) // 3)
    else:
      # The whole fit is soft: reach the target at two thirds of it, placed when its first
      # epoch begins (which epoch that is, and the restored step, are known only then).
      epochs = self._fit_params().get("epochs")
      if not steps or not epochs:
        raise ValueError(
            "Target-sparsity mode needs to know when to reach the target. With no soft phase "
            "named, the target is reached at two thirds of the fit, but this fit's length is "
            f"unknown (epochs={epochs}, steps per epoch={steps}: a dataset of unknown length, "
            "or a custom loop's CallbackList without epochs=/steps=). Pass steps_per_epoch= "
            "to fit (epochs=/steps= to CallbackList), or give LTPPruningSchedule "
            "target_steps= or target_epochs= (or soft_steps= / soft_epochs=: the target is "
            "then reached at two thirds of them).")
      self._fit_length = (epochs, steps)
      return None
    return sparsity_target.LambdaController(target, reach)

  def _controller_for_fit(self, target, epoch):
    """Target at two thirds of the fit's ``epochs * steps`` steps, counted from the step of
    the fit's epoch 0: the current step less ``epoch`` epochs. A fit resumed with
    ``initial_epoch`` (or by ``BackupAndRestore``) keeps the uninterrupted run's ramp; a
    second ``fit`` of the same model ramps again from where it starts."""
    epochs, steps = self._fit_length
    start = self._step_count - epoch * steps
    reach = start + max(1, (2 * epochs * steps) // 3)
    # Resumed past two thirds on a younger optimizer (start < 0): the target is due at once.
    return sparsity_target.LambdaController(target, max(1, reach), start_step=start)

  def on_train_begin(self, logs=None):
    if self._keras3 is not None:
      return self._keras3.on_train_begin()
    self._batch_logs = self.current_logs()  # Also traces the stats function once.
    self._step_count = self._epoch_start = self._step()  # Then counted: no read per step.
    optimizer = getattr(self.model, "optimizer", None)
    if optimizer is None and not threshold_update.any_installed():
      warnings.warn("LTPPruningSchedule: the model has no optimizer (it is not compiled), so "
                    "the thresholds would be updated by whatever optimizer you apply to them, "
                    "not by eq. (11). Call ltp_tf.install_threshold_update(optimizer) before "
                    "the first step (README: Custom training loops).", RuntimeWarning)
    if optimizer is not None and not threshold_update.is_installed(optimizer):
      threshold_update.install(optimizer)
      # Thresholds learn by eq. (11), not by the optimizer: retrace a train step traced
      # before (a fit without this callback).
      if getattr(self.model, "train_function", None) is not None:
        self.model.make_train_function(force=True)
    if self.soft_steps is not None and self._step_count >= self.soft_steps:
      self._hard_prune()
    target = self._target()
    soft = not all(w.is_hard for w in self._wrappers)  # Unbuilt wrappers count as soft.
    self._fit_length = None
    self._controller = None if target is None or not soft else self._make_controller(target)
    if self._controller is not None or self._fit_length is not None:
      for w in self._wrappers:
        if w._ltp_built and float(w.l0_lambda.numpy()) == 0.0:  # pylint: disable=protected-access
          raise ValueError(f"Wrapper '{w.name}' has l0_lambda = 0, which target-sparsity "
                           "mode cannot scale; start from a positive l0_lambda.")

  def on_epoch_begin(self, epoch, logs=None):
    if self._keras3 is not None:
      return self._keras3.on_epoch_begin(epoch)
    # Read once per epoch, after every callback's on_train_begin (BackupAndRestore restores
    # the optimizer there, maybe after ours ran).
    self._step_count = self._epoch_start = self._step()
    if self._fit_length is not None:  # The fit's first epoch: place the ramp on the fit.
      self._controller = self._controller_for_fit(self._target(), epoch)
      self._fit_length = None
    # Resuming with initial_epoch (or a restored step) past the soft phase.
    if (self.soft_epochs is not None and epoch >= self.soft_epochs) or (
        self.soft_steps is not None and self._step_count >= self.soft_steps):
      self._hard_prune()

  def _control(self):
    """Target-sparsity mode: one controller step on every wrapper's lambda."""
    if any(w.is_hard for w in self._wrappers):
      return
    stats = self._stats()
    if stats is None:
      return
    factor = self._controller.factor(self._step_count, stats["sparsity"])
    for w in self._wrappers:
      w.l0_lambda.assign(w.l0_lambda * factor)

  def on_train_batch_begin(self, batch, logs=None):
    if self._keras3 is not None:  # The host visits between steps (keras3/schedule.py).
      self._keras3.on_train_batch_begin(batch)

  def on_train_batch_end(self, batch, logs=None):
    if self._keras3 is not None:
      return self._keras3.on_train_batch_end(logs)
    # ``batch`` is the epoch's last step done (several with steps_per_execution).
    before, self._step_count = self._step_count, self._epoch_start + batch + 1
    if self._controller is not None and self._step_count % self.control_every_n_steps == 0:
      self._control()
    if self.soft_steps is not None and before < self.soft_steps <= self._step_count:
      self._hard_prune()
    steps = self._fit_params().get("steps")
    if steps and batch + 1 >= steps:
      # The epoch's last step: re-zero the pruned weights before any callback's on_epoch_end,
      # so that an epoch-end checkpoint (ModelCheckpoint, BackupAndRestore), wherever it is
      # in the list, stores exact zeros (TFMOT's issue #206). Momentum from the soft phase
      # moves them off zero during the epoch; the forward pass masks them regardless.
      self._apply_masks()
    # (batch + 1): not at batch 0, where a host sync makes Keras warn that this hook is slow.
    if self.log_every_n_steps and (batch + 1) % self.log_every_n_steps == 0:
      self._batch_logs = self.current_logs()
      self._check_finite(self._batch_logs, (logs or {}).get("loss"))
    if logs is not None and self.log_every_n_steps:
      logs.update(self._batch_logs)

  def on_epoch_end(self, epoch, logs=None):
    if self._keras3 is not None:
      return self._keras3.on_epoch_end(epoch, logs)
    # Before the hard prune: NaN thresholds would otherwise freeze an all-zero mask.
    self._check_finite(self.current_logs(), (logs or {}).get("loss"))
    if self.soft_epochs is not None and epoch + 1 >= self.soft_epochs:
      self._hard_prune()
    if self._masked_at != self._step_count:
      self._apply_masks()
    if logs is not None:
      logs.update(self.current_logs())

  def current_logs(self):
    """``{"sparsity": global sparsity, "soft_l0": summed soft L0}`` (empty before build),
    and ``l0_lambda`` (the first wrapper's) in target-sparsity mode."""
    logs = self._stats() or {}
    if logs and self._controller is not None:
      logs["l0_lambda"] = float(self._wrappers[0].l0_lambda.numpy())
    return logs


class LTPSummaries(keras.callbacks.Callback):
  """TensorBoard scalars: per pruned tensor threshold and keep ratio; global sparsity, L0.

  Written at each epoch end (step = epoch) under ``log_dir``; view with
  ``tensorboard --logdir LOG_DIR``.
  """

  def __init__(self, log_dir):
    super().__init__()
    self.log_dir = log_dir
    self._writer = None
    self._wrappers = []
    self._stats = None

  def set_model(self, model):
    super().set_model(model)
    _set_wrappers(self, model, "LTPSummaries")

  def on_epoch_end(self, epoch, logs=None):
    if self._writer is None:
      self._writer = tf.summary.create_file_writer(self.log_dir)
    stats = self._stats()
    if stats is None:  # Wrappers of a subclassed model not built yet.
      return
    with self._writer.as_default(step=epoch):
      tf.summary.scalar("ltp/global_sparsity", stats["sparsity"])
      tf.summary.scalar("ltp/soft_l0", stats["soft_l0"])
      for row in report.sparsity_report(self._wrappers).tensors:
        tag = f"ltp/{row.layer}/{row.weight}"
        tf.summary.scalar(f"{tag}/threshold", row.threshold)
        tf.summary.scalar(f"{tag}/keep_ratio", row.kept / row.size)
    self._writer.flush()

  def on_train_end(self, logs=None):
    if self._writer is not None:
      self._writer.close()
      self._writer = None
