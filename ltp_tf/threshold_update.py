"""The thresholds' own update, eq. (11), whatever optimizer trains the weights.

Eq. (11) moves each threshold by ``d tau = -r * eta * (dL/dtau + lambda * dL0/dtau)``: plain
gradient descent at ``r`` times the weights' learning rate ``eta``. Handing the threshold
variables to the user's optimizer does that only for plain SGD. Adam normalizes the gradient
(``tau`` then moves by about ``r * eta`` per step whatever the gradient, so a threshold on a
w**2 scale of 1e-3 barely moves), momentum multiplies the step, clipping by ``clipnorm`` cuts
it, ``global_clipnorm`` lets the thresholds' large gradients shrink every weight's step, and
decoupled weight decay pulls the thresholds to 0.

So the optimizer never sees the thresholds, and their rate is the wrapper's: a fixed
``threshold_lr`` by default (eta_tau the same for SGD(0.05) and Adam(1e-3), whose learning
rates differ by 50x for the same training speed), or ``threshold_lr_ratio`` r, eq. (11) as the
paper wrote it, eta_tau = r * eta with eta the optimizer's current learning rate.

``install(optimizer)`` wraps the optimizer's
``apply_gradients`` (the one path ``fit``'s ``minimize``, a custom ``train_step`` and a
``GradientTape`` loop all take): the gradients of threshold variables are taken out and
applied here by eq. (11); everything else goes to the optimizer unchanged. The trainable
variable is ``theta`` with ``tau = scale * theta`` (``soft_prune.threshold_from_param``,
whose gradient reaches ``theta`` as ``dL/dtau``), so the step is
``theta -= (eta_tau / scale) * g``. What reaches this function is already what eq. (11) needs:
loss scaling is undone by ``LossScaleOptimizer.compute_gradients`` before ``apply_gradients``
(a step that the loss-scale optimizer skips for non-finite gradients is skipped here too),
and under a distribution strategy the replicas' gradients are summed here, as the optimizer
does for the weights.
"""

import tensorflow as tf

from ltp_tf import _flavour
from ltp_tf._keras import keras

# Attribute set on every threshold variable by the wrapper: (scale, lr, ratio).
MARK = "_ltp_threshold"
_INSTALLED = "_ltp_threshold_update_installed"
_ANY_INSTALLED = False


def mark(variable, scale, *, lr=None, ratio=None):
  """Marks ``variable`` as an LTP threshold parameter: ``tau = scale * variable``, learning at
  the fixed rate ``lr`` or at ``ratio`` times the optimizer's (exactly one of them)."""
  if (lr is None) == (ratio is None):
    raise ValueError(f"mark() needs lr or ratio, not both or neither (got {lr}, {ratio}).")
  setattr(variable, MARK, (float(scale), lr, ratio))
  return variable


def is_threshold(variable):
  return getattr(variable, MARK, None) is not None


def is_installed(optimizer):
  return bool(getattr(optimizer, _INSTALLED, False))


def install(optimizer):
  """Makes ``optimizer`` leave LTP's thresholds to eq. (11); returns ``optimizer``.

  ``LTPPruningSchedule`` calls it on ``model.optimizer`` when training starts; call it yourself
  in a custom training loop whose model is not compiled::

    optimizer = ltp_tf.install_threshold_update(keras.optimizers.Adam(1e-3))

  Idempotent. Thresholds are recognised by a mark on the variable, so wrappers that are
  built later (subclassed models) are covered too. A ``tf.function`` traced before this call
  keeps the old behaviour: retrace it (``LTPPruningSchedule`` does that for ``fit``).

  A Keras 3 optimizer gets the same rule through ``ltp_tf.keras3.optimizer.install`` (its
  own backend plumbing, the same ``theta_rate``).

  Raises:
    TypeError: if ``optimizer`` has no ``apply_gradients``.
  """
  if _flavour.is_keras3(optimizer):
    from ltp_tf.keras3 import optimizer as keras3_optimizer  # pylint: disable=g-import-not-at-top
    return keras3_optimizer.install(optimizer)
  if is_installed(optimizer):
    return optimizer
  original = getattr(optimizer, "apply_gradients", None)
  if original is None:
    raise TypeError(f"{optimizer!r} has no apply_gradients; LTP needs a tf_keras optimizer "
                    "(keras.optimizers.*) to train the weights beside its thresholds.")

  def apply_gradients(grads_and_vars, *args, **kwargs):
    grads_and_vars = list(grads_and_vars)
    thresholds = [(g, v) for g, v in grads_and_vars if g is not None and is_threshold(v)]
    others = [(g, v) for g, v in grads_and_vars if not is_threshold(v)]
    _build(optimizer, [v for _, v in grads_and_vars])
    if not thresholds:
      return original(others, *args, **kwargs)
    aggregate = not (kwargs.get("skip_gradients_aggregation", False) or
                     not kwargs.get("experimental_aggregate_gradients", True))
    result = original(others, *args, **kwargs)
    # After the optimizer's own step: a learning-rate schedule's value for this step is known.
    _step(optimizer, thresholds, others, aggregate)
    return result

  object.__setattr__(optimizer, "apply_gradients", apply_gradients)
  object.__setattr__(optimizer, _INSTALLED, True)
  global _ANY_INSTALLED
  _ANY_INSTALLED = True
  return optimizer


def any_installed():
  """Whether this process installed the update on any optimizer (custom loops' check)."""
  return _ANY_INSTALLED


def _build(optimizer, variables):
  """Builds ``optimizer`` on every variable it is handed, the thresholds included.

  A tf_keras optimizer indexes its slot variables by position in the list it was built on,
  and the usual recipe to restore a checkpoint into it is ``optimizer.build(
  model.trainable_variables)``: so it must be built on the thresholds too (their slots stay
  unused), or a checkpoint's slots would not line up with the restored optimizer's.
  """
  inner = getattr(optimizer, "inner_optimizer", optimizer)
  if isinstance(inner, keras.optimizers.Optimizer) and not getattr(inner, "_built", False):
    with tf.init_scope():
      inner.build(variables)


def eta_tau(variable, learning_rate_fn):
  """eta_tau of eq. (11) for a marked threshold variable, on any backend: its fixed rate
  (a Python float), or r times ``learning_rate_fn()`` (the optimizer's learning rate for the
  step just taken, a float32 tensor of the caller's backend). The one rule both Kerases use."""
  _, lr, ratio = getattr(variable, MARK)
  return lr if lr is not None else ratio * learning_rate_fn()


def theta_rate(variable, learning_rate_fn, cast):
  """The step size on theta: ``eta_tau / scale`` (``tau = scale * theta``), as a float32
  tensor made by ``cast(x)`` (``tf.cast`` or ``keras.ops.cast`` to float32)."""
  return cast(eta_tau(variable, learning_rate_fn)) / getattr(variable, MARK)[0]


def learning_rate(optimizer):
  """The optimizer's learning rate for the step it just took (float32 tensor)."""
  lr = optimizer.learning_rate
  if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
    # Legacy optimizers return the schedule; its value for the step just taken.
    lr = lr(tf.maximum(tf.cast(optimizer.iterations, tf.int64) - 1, 0))
  return tf.cast(lr, tf.float32)


def _step(optimizer, thresholds, others, aggregate):
  grads = [tf.cast(tf.convert_to_tensor(g), tf.float32) for g, _ in thresholds]
  context = tf.distribute.get_replica_context()
  if (aggregate and context is not None and
      tf.distribute.get_strategy().num_replicas_in_sync > 1):
    grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
  skip = None
  if isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer):
    # The loss-scale optimizer skips the step when any gradient is non-finite: so do we.
    finite = [tf.reduce_all(tf.math.is_finite(g)) for g in grads]
    finite += [tf.reduce_all(tf.math.is_finite(g)) for g, _ in others if g is not None
               and not isinstance(g, tf.IndexedSlices)]
    skip = tf.logical_not(tf.reduce_all(tf.stack(finite)))

  def new_value(theta, grad, rate):
    value = theta - rate * grad  # theta = tau / scale: tau moves by -eta_tau * grad, eq. (11).
    value = tf.maximum(value, 0.0)  # tau >= 0 (a negative threshold prunes nothing more).
    return value if skip is None else tf.where(skip, theta, value)

  def update(strategy, triples):
    for grad, theta, rate in triples:
      strategy.extended.update(theta, lambda v, g, r: v.assign(new_value(v, g, r)),
                               args=(grad, rate), group=False)

  triples = [(grad, theta, theta_rate(theta, lambda: learning_rate(optimizer),
                                      lambda x: tf.cast(x, tf.float32)))
             for grad, (_, theta) in zip(grads, thresholds)]
  if context is None or tf.distribute.get_strategy().num_replicas_in_sync == 1:
    for grad, theta, rate in triples:
      theta.assign(new_value(theta, grad, rate))
  else:
    tf.__internal__.distribute.interim.maybe_merge_call(update, tf.distribute.get_strategy(),
                                                        triples)
