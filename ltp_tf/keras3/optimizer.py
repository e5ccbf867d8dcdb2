"""Eq. (11) for the thresholds, whatever optimizer the user compiled with (Keras 3, any backend).

The same rule as ``ltp_tf.threshold_update`` (read it first): the optimizer never steps the
thresholds; each threshold parameter theta (``tau = scale * theta``) moves by
``theta <- max(theta - (eta_tau / scale) * g, 0)``, i.e. ``d tau = -eta_tau * dL/dtau``, with
``eta_tau`` decided by ``threshold_update.theta_rate`` from the variable's mark (the fixed
``threshold_lr``, or ``threshold_lr_ratio`` times the optimizer's learning rate). Only the
plumbing differs from tf_keras:

Mechanism: the optimizer's ``apply(grads, variables)`` is wrapped, on the optimizer instance.
Every Keras 3 trainer goes through it (TensorFlow and PyTorch call it; JAX's
``stateless_apply`` calls it inside a ``StatelessScope``), so one hook serves every backend,
in the compiled train step, with no host round trip. For the threshold variables it
  * unscales the gradient by the optimizer's ``loss_scale_factor`` (and a
    ``LossScaleOptimizer``'s scale, by hooking its inner optimizer, which gets unscaled
    gradients, and which it skips on non-finite steps);
  * reads the optimizer's learning rate at this step (schedules included) before the step
    count moves;
and hands every other variable to the original ``apply``: no momentum or Adam state, no
clipping (nor a share of the global norm), no weight decay, no EMA for the thresholds.
"""

from keras import ops

from ltp_tf import threshold_update

_INSTALLED = "_ltp_threshold_update_installed"


def _innermost(optimizer):
  while hasattr(optimizer, "inner_optimizer"):  # LossScaleOptimizer.
    optimizer = optimizer.inner_optimizer
  return optimizer


def _f32(x):
  return ops.cast(x, "float32")


def install(optimizer):
  """Makes a Keras 3 ``optimizer`` leave LTP's thresholds to eq. (11); returns ``optimizer``.

  Idempotent; ``LTPPruningSchedule`` calls it at the start of ``fit``, and
  ``ltp_tf.install_threshold_update(optimizer)`` dispatches here for a Keras 3 optimizer (a
  custom loop using ``optimizer.apply`` / ``apply_gradients`` / ``stateless_apply``).

  Raises:
    ValueError: for an optimizer with gradient accumulation (not supported with LTP yet).
  """
  inner = _innermost(optimizer)
  if getattr(inner, _INSTALLED, False):
    return optimizer
  if getattr(inner, "gradient_accumulation_steps", None):
    raise ValueError(
        "ltp_tf: optimizers with gradient_accumulation_steps are not supported on Keras 3 yet "
        "(the thresholds would step every batch while the weights step every "
        f"{inner.gradient_accumulation_steps}). Compile without gradient accumulation.")
  original = inner.apply

  def apply(grads, trainable_variables=None):
    variables = list(inner._trainable_variables if trainable_variables is None  # pylint: disable=protected-access
                     else trainable_variables)
    rest_grads, rest_vars, thresholds = [], [], []
    for g, v in zip(list(grads), variables):
      if threshold_update.is_threshold(v):
        thresholds.append((g, v))
      else:
        rest_grads.append(g)
        rest_vars.append(v)
    scale = inner.loss_scale_factor
    for g, v in thresholds:
      if g is None:
        continue
      g = _f32(g)
      if scale is not None:
        g = g / scale
      # This step's learning rate: read before the optimizer's iterations += 1.
      rate = threshold_update.theta_rate(v, lambda: _f32(inner.learning_rate), _f32)
      v.assign(ops.maximum(v.value - rate * g, 0.0))  # Eq. (11); theta >= 0 (tau >= 0).
    if not rest_vars:
      inner.iterations.assign_add(1)
      return None
    return original(rest_grads, rest_vars)

  inner.apply = apply
  setattr(inner, _INSTALLED, True)
  return optimizer


def is_installed(optimizer):
  return bool(getattr(_innermost(optimizer), _INSTALLED, False))
