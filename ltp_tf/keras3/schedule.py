"""``LTPPruningSchedule`` on a Keras 3 model: what the callback does at the host.

The per-step work happens inside the train step (``ltp_tf.keras3.wrapper``: the switch;
``ltp_tf.keras3.optimizer``: eq. 11), so in plain mode this only sets it up and reports:
  * at ``on_train_begin``: hooks the optimizer (thresholds learn by eq. 11), aligns every
    wrapper's ``step`` with ``optimizer.iterations`` and sets ``hard_at_step`` (``soft_steps``,
    or ``soft_epochs`` x steps per epoch);
  * at each epoch end (where JAX's ``fit`` has written its state back to the variables):
    hard-prunes if ``soft_epochs`` is reached and the epoch length was unknown, re-zeroes
    the pruned weights (momentum moves them during an epoch; the forward pass masks them
    regardless) and adds ``sparsity`` and ``soft_l0`` to the logs.
In plain mode nothing is written between the steps of an epoch, and the only read is the
batch logs' every ``log_every_n_steps`` steps: no host sync per step.

Every host visit between steps happens in ``on_train_batch_begin`` (synchronous in every
Keras 3 trainer, and given no logs to convert), after the previous step (the stats for the
batch logs are read there and cached; ``on_train_batch_end`` only
adds the cached floats to the logs, so the callback declares itself ``async_safe``: on JAX
Keras 3 keeps dispatching steps asynchronously, as without this callback).

Target-sparsity mode reuses the tf_keras half's controller and landing at the host: every
``control_every_n_steps`` steps the global sparsity is read and every ``l0_lambda`` multiplied
by ``sparsity_target.LambdaController``'s factor, and the hard prune that ends the soft phase
(at ``soft_steps``, mid-epoch too, or at the end of epoch ``soft_epochs``) lands on the target
(``ltp_tf.hard_prune(model, target)``; no in-step switch). Under JAX, ``fit`` keeps the state
outside the variables during an epoch, so each of those host visits first calls
``model.jax_state_sync()``, after which ``fit`` re-reads the variables before the next step:
one host round trip per ``control_every_n_steps`` steps (20 by default), as on tf_keras, none
per step.
"""

import inspect

import keras
import numpy as np

from ltp_tf import _flavour
from ltp_tf import report
from ltp_tf.keras3 import optimizer as optimizer_lib


class Keras3Schedule:
  """The Keras 3 half of ``ltp_tf.LTPPruningSchedule`` (which holds the arguments)."""

  def __init__(self, callback):
    self.callback = callback
    self._step_count = 0
    self._epoch_start = 0
    self._soft = True  # Host-side flag: JAX's fit purges the variables between syncs.
    self._visited = 0  # Step count of the last host visit (none at a fit's first step).
    self._unbuilt = False  # Wrappers that the first train step builds (subclassed models).
    self._batch_logs = {}

  @property
  def model(self):
    return self.callback.model

  @property
  def wrappers(self):
    return self.callback._wrappers  # pylint: disable=protected-access

  @property
  def controller(self):
    return self.callback._controller  # pylint: disable=protected-access

  def _sync(self):
    _flavour.sync_state(self.model)

  def _iterations(self):
    return int(_flavour.to_numpy(self.model.optimizer.iterations))

  def _hard_at_step(self):
    cb = self.callback
    if self.controller is not None:
      return -1  # Target mode: the landing is global, at the host (see the module docstring).
    if cb.soft_steps is not None:
      return cb.soft_steps
    steps = (cb.params or {}).get("steps")
    if cb.soft_epochs is not None and steps:
      return cb.soft_epochs * steps
    return -1  # Never in the step (soft_epochs with an unknown epoch length: at epoch end).

  def on_train_begin(self):
    cb = self.callback
    optimizer = getattr(self.model, "optimizer", None)
    if optimizer is None:
      raise ValueError("LTPPruningSchedule needs a compiled Keras 3 model (model.compile(...)): "
                       "its optimizer's step is where the thresholds learn.")
    optimizer_lib.install(optimizer)
    _check_training_argument(self.model)
    self._step_count = self._epoch_start = self._visited = self._iterations()
    self._batch_logs = self.current_logs()
    # A subclassed model on TensorFlow builds its layers in the first train step: those
    # wrappers count as soft and get their counters at the first batch after it.
    built = [w for w in self.wrappers if w._ltp_built]  # pylint: disable=protected-access
    self._unbuilt = len(built) < len(self.wrappers)
    soft = self._soft = not all(w.is_hard for w in self.wrappers)
    target = cb._target()  # pylint: disable=protected-access
    cb._controller = None if target is None or not soft else cb._make_controller(target)  # pylint: disable=protected-access
    if self.controller is not None:
      for w in built:
        if float(_flavour.to_numpy(w.l0_lambda.value)) == 0.0:
          raise ValueError(f"Wrapper '{w.name}' has l0_lambda = 0, which target-sparsity "
                           "mode cannot scale; start from a positive l0_lambda.")
    self._set_counters(built)
    if cb.soft_steps is not None and self._step_count >= cb.soft_steps:
      cb._hard_prune()  # pylint: disable=protected-access

  def _set_counters(self, wrappers):
    """Aligns ``wrappers``' step with the optimizer's and sets their switch step."""
    hard_at = self._hard_at_step()
    for w in wrappers:
      w.step.assign(self._step_count)
      w.hard_at_step.assign(hard_at)

  def on_epoch_begin(self, epoch):
    self._step_count = self._epoch_start = self._iterations()  # Synced at epoch boundaries.
    cb = self.callback
    if (cb.soft_epochs is not None and epoch >= cb.soft_epochs) or (
        cb.soft_steps is not None and self._step_count >= cb.soft_steps):
      cb._hard_prune()  # pylint: disable=protected-access  (resuming past the soft phase)
    self._soft = not all(w.is_hard for w in self.wrappers)

  def on_train_batch_begin(self, batch):
    """The host visits, every ``control_every_n_steps`` / ``log_every_n_steps`` steps done."""
    cb = self.callback
    before, self._step_count = self._step_count, self._epoch_start + batch
    if self._unbuilt and all(w._ltp_built for w in self.wrappers):  # pylint: disable=protected-access
      self._sync()  # Built by the first step (subclassed model): counters as at train begin.
      self._set_counters(self.wrappers)
      self._unbuilt = False
    if self._step_count == self._visited:
      return
    control = (self.controller is not None and self._soft and
               self._step_count % cb.control_every_n_steps == 0)
    land = (self.controller is not None and self._soft and cb.soft_steps is not None and
            before < cb.soft_steps <= self._step_count)
    log = cb.log_every_n_steps and batch and batch % cb.log_every_n_steps == 0
    if not (control or land or log):
      return
    self._visited = self._step_count
    self._sync()
    if control:
      factor = self.controller.factor(self._step_count,
                                      report.sparsity_report(self.wrappers).sparsity)
      for w in self.wrappers:
        w.l0_lambda.assign(w.l0_lambda.value * factor)
    if land:
      cb._hard_prune()  # pylint: disable=protected-access  (lands on the target)
      self._soft = False
    if log:
      self._batch_logs = self.current_logs()
      cb._check_finite(self._batch_logs, None)  # pylint: disable=protected-access

  def on_train_batch_end(self, logs):
    """Adds the stats read at the last visit; nothing else (may run in Keras' thread)."""
    if logs is not None and self.callback.log_every_n_steps:
      logs.update(self._batch_logs)

  def on_epoch_end(self, epoch, logs):
    cb = self.callback
    # Before the hard prune: NaN thresholds would otherwise freeze an all-zero mask.
    cb._check_finite(self.current_logs(), (logs or {}).get("loss"))  # pylint: disable=protected-access
    if (cb.soft_epochs is not None and epoch + 1 >= cb.soft_epochs) or (
        cb.soft_steps is not None and self._iterations() >= cb.soft_steps):
      # Nothing where the step switched; a fit that ends at soft_steps exactly gets its hard
      # prune here, from the same thresholds as the next step's switch would use.
      cb._hard_prune()  # pylint: disable=protected-access
      self._soft = False
    for w in self.wrappers:
      w.apply_masks()
    if logs is not None:
      logs.update(self.current_logs())

  def current_logs(self):
    """``{"sparsity", "soft_l0"}`` read at the host, and ``l0_lambda`` in target mode."""
    logs = self.callback._stats() or {}  # pylint: disable=protected-access
    if logs and self.controller is not None:
      logs["l0_lambda"] = float(_flavour.to_numpy(self.wrappers[0].l0_lambda.value))
    return logs


def host_stats(wrappers):
  """``{"sparsity": global sparsity, "soft_l0": summed soft L0}`` as floats, read at the host
  (None before every wrapper is built). The Keras 3 ``_Stats`` of ``ltp_tf.callbacks``."""
  if not all(w._ltp_built for w in wrappers):  # pylint: disable=protected-access
    return None
  stats = report.sparsity_report(wrappers)
  soft_l0 = sum(float(_flavour.to_numpy(w.soft_l0())) for w in wrappers)
  return {"sparsity": float(stats.sparsity), "soft_l0": float(np.float32(soft_l0))}


def _check_training_argument(model):
  """Raises for a subclassed model whose ``call`` takes no ``training`` on JAX, whose trainer
  then runs every layer in inference mode: the wrappers would never count steps nor switch."""
  if keras.backend.backend() != "jax" or isinstance(model, keras.Sequential):
    return
  if hasattr(model, "_run_through_graph"):  # Functional.
    return
  if "training" not in inspect.signature(model.call).parameters:
    raise ValueError(
        f"Model '{model.name}' is a subclassed model whose call() takes no `training` "
        "argument: on JAX, fit then runs its layers in inference mode, so LTP's wrappers "
        "would not count steps nor switch to hard pruning (nor would Dropout or "
        "BatchNormalization train). Define `def call(self, x, training=None)` and pass "
        "`training=training` to the layers it calls.")
