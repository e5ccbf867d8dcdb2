"""Eq. (11) for the thresholds, whatever optimizer the user compiled with (Keras 3, any backend).

LTP moves each threshold by ``d tau = -r * eta * (dL/dtau + lambda * dL0/dtau)`` (eq. 11):
plain SGD at ``r`` times the weights' learning rate ``eta``. The wrapper stores
``theta = tau / r`` and passes ``dL/dtau`` to ``theta`` unscaled
(``soft_prune.threshold_from_param``), so eq. (11) is a plain SGD step of size ``eta`` on
``theta``. ``use_plain_sgd_for_thresholds`` makes the optimizer take exactly that step for the
threshold variables, and its own (Adam, momentum, clipping, weight decay, ...) for the rest.

Mechanism: the optimizer's ``apply(grads, variables)`` is wrapped, on the optimizer instance.
Every Keras 3 trainer goes through it (TensorFlow and PyTorch call it; JAX's
``stateless_apply`` calls it inside a ``StatelessScope``), so one hook serves every backend,
in the compiled train step, with no host round trip. For the threshold variables it
  * unscales the gradient by the optimizer's ``loss_scale_factor`` (and a
    ``LossScaleOptimizer``'s scale, by hooking its inner optimizer, which gets unscaled
    gradients, and which it skips on non-finite steps);
  * applies ``theta <- max(theta - eta * g, 0)``, ``eta`` being the optimizer's learning rate
    at this step (schedules included), read before the step count moves;
and hands every other variable to the original ``apply``: no momentum or Adam state, no
clipping (nor a share of the global norm), no weight decay, no EMA for the thresholds.
"""

from keras import ops

from ltp_tf.keras3 import wrapper as wrapper_lib


def _innermost(optimizer):
  while hasattr(optimizer, "inner_optimizer"):  # LossScaleOptimizer.
    optimizer = optimizer.inner_optimizer
  return optimizer


def is_threshold(variable):
  return bool(getattr(variable, wrapper_lib.THRESHOLD_MARK, False))


def use_plain_sgd_for_thresholds(optimizer):
  """Makes ``optimizer`` move LTP's thresholds by eq. (11) (see the module docstring).

  Idempotent; ``LTPPruningSchedule`` calls it at the start of ``fit``. Call it yourself for a
  custom training loop that uses ``optimizer.apply`` / ``apply_gradients`` /
  ``stateless_apply``.

  Raises:
    ValueError: for an optimizer with gradient accumulation (not supported with LTP yet).
  """
  inner = _innermost(optimizer)
  if getattr(inner, "_ltp_plain_sgd_thresholds", False):
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
    grads = list(grads)
    rest_grads, rest_vars, thresholds = [], [], []
    for g, v in zip(grads, variables):
      if is_threshold(v):
        thresholds.append((g, v))
      else:
        rest_grads.append(g)
        rest_vars.append(v)
    if thresholds:
      eta = ops.cast(inner.learning_rate, "float32")  # This step's rate (before iterations += 1).
      scale = inner.loss_scale_factor
      for g, v in thresholds:
        if g is None:
          continue
        g = ops.cast(g, "float32")
        if scale is not None:
          g = g / scale
        v.assign(ops.maximum(v.value - eta * g, 0.0))  # Eq. (11); theta >= 0 (tau >= 0).
    if not rest_vars:
      inner.iterations.assign_add(1)
      return None
    return original(rest_grads, rest_vars)

  inner.apply = apply
  inner._ltp_plain_sgd_thresholds = True  # pylint: disable=protected-access
  return optimizer
