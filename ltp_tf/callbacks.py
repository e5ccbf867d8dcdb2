"""Keras callbacks: the LTP phase schedule and TensorBoard summaries."""

import tensorflow as tf

from ltp_tf import prune
from ltp_tf import report
from ltp_tf import wrapper as wrapper_lib
from ltp_tf._keras import keras


def exclude_thresholds_from_weight_decay(optimizer, wrappers=()):
  """Keeps an optimizer's decoupled weight decay off the thresholds.

  By name, so it also covers threshold variables a subclassed model has not made yet. tf_keras
  only accepts exclusions before the optimizer is built; an optimizer that is already built
  (e.g. restored with a saved model, which does not save exclusions) gets the name added to
  the list its train step reads when traced. That list is private tf_keras state, pinned by
  tests/test_callbacks.py; if it is missing, this raises instead of letting thresholds decay.
  """
  name = wrapper_lib.THRESHOLD_PARAM_NAME
  if not getattr(optimizer, "weight_decay", None) or not hasattr(
      optimizer, "exclude_from_weight_decay"):
    return
  if not getattr(optimizer, "_built", False):
    optimizer.exclude_from_weight_decay(var_names=[name])
    return
  # pylint: disable=protected-access
  if hasattr(optimizer, "_use_weight_decay"):  # Reads _exclude_from_weight_decay_names.
    names = list(getattr(optimizer, "_exclude_from_weight_decay_names", None) or [])
    if name not in names:
      optimizer._exclude_from_weight_decay_names = [*names, name]
    return
  decayed = [t.name for w in wrappers if w._ltp_built for t in w._theta
             if optimizer._use_weight_decay(t)]
  # pylint: enable=protected-access
  if decayed:
    raise ValueError(
        f"The optimizer was built before LTP could exclude the thresholds {decayed} from its "
        f"weight decay. Call optimizer.exclude_from_weight_decay(var_names=['{name}']) before "
        "building it.")


def _wrappers_or_raise(model, who):
  wrappers = prune.collect_wrappers(model)
  if not wrappers:
    raise ValueError(f"{who}: the model has no PruneLearnedThreshold layers. Wrap it with "
                     "ltp_tf.prune_low_magnitude_learned(model) before training.")
  return wrappers


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

  Adds ``sparsity`` (global, over all wrapped tensors, eq. 1) and ``soft_l0`` to the epoch
  logs, so the progress bar, ``History`` and ``CSVLogger`` show them (put this callback
  before ``CSVLogger`` in the list); batch logs get them every ``log_every_n_steps`` steps.
  Works with nested and subclassed models. With an optimizer that decays weights
  (``weight_decay=``), the thresholds are excluded from the decay.

  Example::

    model.fit(x, y, epochs=10, callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=7)])

  Args:
    soft_epochs: number of epochs of soft pruning before the hard prune.
    soft_steps: number of optimizer steps of soft pruning (instead of ``soft_epochs``).
    log_every_n_steps: how often batch logs get ``sparsity``/``soft_l0`` (0: never).
  """

  def __init__(self, soft_epochs=None, soft_steps=None, log_every_n_steps=50):
    super().__init__()
    if soft_epochs is not None and soft_steps is not None:
      raise ValueError("Give soft_epochs or soft_steps, not both "
                       f"(got soft_epochs={soft_epochs}, soft_steps={soft_steps}).")
    for name, value in (("soft_epochs", soft_epochs), ("soft_steps", soft_steps),
                        ("log_every_n_steps", log_every_n_steps)):
      if value is not None and (isinstance(value, bool) or not isinstance(value, int) or
                                value < 0):
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    self.soft_epochs = soft_epochs
    self.soft_steps = soft_steps
    self.log_every_n_steps = log_every_n_steps
    self._wrappers = []
    self._stats = None
    self._batch_logs = {}
    self._step_count = 0

  def set_model(self, model):
    super().set_model(model)
    self._wrappers = _wrappers_or_raise(model, "LTPPruningSchedule")
    self._stats = _Stats(self._wrappers)

  def _hard_prune(self):
    for w in self._wrappers:
      if w._ltp_built:  # pylint: disable=protected-access
        w.hard_prune()

  def _step(self):
    return int(self.model.optimizer.iterations.numpy())

  def on_train_begin(self, logs=None):
    self._batch_logs = self.current_logs()  # Also traces the stats function once.
    self._step_count = self._step()  # Then counted per batch: no device read per step.
    exclude_thresholds_from_weight_decay(getattr(self.model, "optimizer", None),
                                         self._wrappers)
    if self.soft_steps is not None and self._step_count >= self.soft_steps:
      self._hard_prune()

  def on_epoch_begin(self, epoch, logs=None):
    # Resuming with initial_epoch past the soft phase.
    if self.soft_epochs is not None and epoch >= self.soft_epochs:
      self._hard_prune()

  def on_train_batch_end(self, batch, logs=None):
    self._step_count += 1
    if self.soft_steps is not None and self._step_count == self.soft_steps:
      self._hard_prune()
    if logs is not None and self.log_every_n_steps:
      if batch % self.log_every_n_steps == 0:
        self._batch_logs = self.current_logs()
      logs.update(self._batch_logs)

  def on_epoch_end(self, epoch, logs=None):
    if self.soft_epochs is not None and epoch + 1 >= self.soft_epochs:
      self._hard_prune()
    for w in self._wrappers:
      w.apply_masks()
    if logs is not None:
      logs.update(self.current_logs())

  def current_logs(self):
    """``{"sparsity": global sparsity, "soft_l0": summed soft L0}`` (empty before build)."""
    return self._stats() or {}


class LTPSummaries(keras.callbacks.Callback):
  """TensorBoard scalars: per pruned tensor threshold and keep ratio; global sparsity, L0.

  Written at each epoch end (step = epoch) under ``log_dir``; view with
  ``tensorboard --logdir LOG_DIR``.
  """

  def __init__(self, log_dir):
    super().__init__()
    self.log_dir = log_dir
    self._writer = None
    self._stats = None

  def set_model(self, model):
    super().set_model(model)
    self._wrappers = _wrappers_or_raise(model, "LTPSummaries")
    self._stats = _Stats(self._wrappers)

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
