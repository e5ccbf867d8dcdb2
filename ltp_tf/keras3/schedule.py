"""``LTPPruningSchedule`` on a Keras 3 model: what the callback does at the host, per fit/epoch.

The per-step work happens inside the train step (``ltp_tf.keras3.wrapper``: the switch;
``ltp_tf.keras3.optimizer``: eq. 11), so this only sets it up and reports:
  * at ``on_train_begin``: hooks the optimizer (thresholds learn by eq. 11 with plain SGD),
    aligns every wrapper's ``step`` with ``optimizer.iterations`` and sets ``hard_at_step``
    (``soft_steps``, or ``soft_epochs`` x steps per epoch);
  * at each epoch end (where JAX's ``fit`` has written its state back to the variables):
    hard-prunes if ``soft_epochs`` is reached and the epoch length was unknown, re-zeroes
    the pruned weights (momentum moves them during an epoch; the forward pass masks them
    regardless) and adds ``sparsity`` and ``soft_l0`` to the logs.
Nothing is read or written between the steps of an epoch: no host sync per step.
"""

import numpy as np

from ltp_tf import _flavour
from ltp_tf import report
from ltp_tf.keras3 import optimizer as optimizer_lib


class Keras3Schedule:
  """The Keras 3 half of ``ltp_tf.LTPPruningSchedule`` (which holds the arguments)."""

  def __init__(self, callback):
    self.callback = callback

  @property
  def model(self):
    return self.callback.model

  @property
  def wrappers(self):
    return self.callback._wrappers  # pylint: disable=protected-access

  def check_arguments(self):
    cb = self.callback
    if cb.target_sparsity is not None or any(w.target_sparsity is not None
                                             for w in self.wrappers):
      raise NotImplementedError(
          "Target-sparsity mode (target_sparsity=...) is not available for Keras 3 models yet "
          "(its lambda controller adjusts l0_lambda between steps). Give l0_lambda, or call "
          "ltp_tf.hard_prune(model, target_sparsity=...) after soft pruning to land on a "
          "target.")

  def _hard_at_step(self, iterations):
    cb = self.callback
    if cb.soft_steps is not None:
      return cb.soft_steps
    steps = (cb.params or {}).get("steps")
    if cb.soft_epochs is not None and steps:
      return cb.soft_epochs * steps
    return -1  # Never in the step (soft_epochs with an unknown epoch length: at epoch end).

  def on_train_begin(self):
    self.check_arguments()
    optimizer = getattr(self.model, "optimizer", None)
    if optimizer is None:
      raise ValueError("LTPPruningSchedule needs a compiled Keras 3 model (model.compile(...)): "
                       "its optimizer learns the thresholds.")
    optimizer_lib.install(optimizer)
    iterations = int(_flavour.to_numpy(optimizer.iterations))
    hard_at = self._hard_at_step(iterations)
    for w in self.wrappers:
      if not w._ltp_built:  # pylint: disable=protected-access
        raise ValueError(f"Wrapper '{w.name}' is not built; build the model before fit.")
      w.step.assign(iterations)
      w.hard_at_step.assign(hard_at)
    if hard_at >= 0 and iterations >= hard_at:
      self._hard_prune()

  def on_epoch_end(self, epoch, logs):
    cb = self.callback
    if cb.soft_epochs is not None and epoch + 1 >= cb.soft_epochs:
      self._hard_prune()  # Does nothing where the step already switched.
    for w in self.wrappers:
      w.apply_masks()
    if logs is not None:
      logs.update(self.current_logs())

  def _hard_prune(self):
    from ltp_tf import prune  # pylint: disable=g-import-not-at-top
    if not all(w.is_hard for w in self.wrappers):
      prune.hard_prune(self.wrappers)

  def current_logs(self):
    """``{"sparsity": global sparsity, "soft_l0": summed soft L0}``, read at the host."""
    stats = report.sparsity_report(self.wrappers)
    soft_l0 = sum(float(_flavour.to_numpy(w.soft_l0())) for w in self.wrappers)
    return {"sparsity": float(stats.sparsity), "soft_l0": float(np.float32(soft_l0))}
