"""The mathematics of Learned Threshold Pruning, on bare tensors.

Azarian, Bhalgat, Lee, Blankevoort, "Learned Threshold Pruning", arXiv:2003.00075.
Equation numbers below are the paper's. Nothing here creates a variable: the Keras
wrapper owns the state and calls these functions.

Notation: ``w`` a weight tensor, ``tau`` its threshold on the w**2 scale (a scalar),
``T`` its temperature (a positive scalar).
"""

import tensorflow as tf

# Default temperature coefficient T0 of eq. (15); Table 1 uses 1e-3 for every network.
DEFAULT_TEMPERATURE = 1e-3
# Floor on Var(|w|) in eq. (15), so that a constant tensor gets a tiny positive T instead of 0.
_MIN_VARIANCE = 1e-12


def _f32(x):
  return tf.cast(x, tf.float32)


def temperature(w, t0=DEFAULT_TEMPERATURE):
  """Per-tensor temperature, eq. (15): ``T = t0 * Var(|w|)`` (floored at ``t0 * 1e-12``)."""
  if t0 <= 0:
    raise ValueError(f"temperature (T0 of eq. 15) must be > 0, got {t0}")
  variance = tf.math.reduce_variance(tf.abs(_f32(w)))
  return t0 * tf.maximum(variance, _MIN_VARIANCE)


def soft_mask(w, tau, temp):
  """Soft mask ``sigmoid((w**2 - tau) / T)`` of eq. (2), in float32."""
  w = _f32(w)
  return tf.sigmoid((tf.square(w) - _f32(tau)) / _f32(temp))


def hard_mask(w, tau):
  """Hard mask ``step(w**2 - tau)`` of eq. (1): 1 where w**2 > tau, else 0 (dtype of ``w``)."""
  return tf.cast(tf.square(_f32(w)) > _f32(tau), w.dtype)


def hard_prune(w, tau):
  """Hard pruning, eq. (1): ``w * step(w**2 - tau)``."""
  return w * hard_mask(w, tau)


def soft_prune(w, tau, temp, stabilized_gradient=True):
  """Soft pruning, eq. (2): ``v = w * sigmoid((w**2 - tau) / T)``, with LTP's gradients.

  The ``v`` of ``soft_prune_and_l0``; see there for the gradients.
  """
  return soft_prune_and_l0(w, tau, temp, stabilized_gradient)[0]


def soft_prune_and_l0(w, tau, temp, stabilized_gradient=True, dtype=None):
  """Soft pruning, eq. (2), and the soft L0 of eq. (6), in one pass over ``w``.

  Returns ``(v, l0)`` with ``v = w * s`` and ``l0 = sum(s)``, ``s = sigmoid((w**2 - tau) / T)``
  computed once, in float32 (``mask_and_l0`` then ``apply_mask``). Gradients, for upstream
  gradients ``dv`` and ``dl0`` (``dl0`` is ``lambda`` when the loss holds ``lambda * l0``,
  eq. 9):
    * w.r.t. ``w``: ``s * dv`` when ``stabilized_gradient`` (eq. 13/14: the sigmoid is a
      constant for w, and the L0 term sends w no gradient). Otherwise the full derivative:
      ``(s + 2 w**2 s (1 - s) / T) * dv + 2 w s (1 - s) / T * dl0``, i.e. eq. (3) plus the
      L0 term's own weight gradient, which the stabilized rule drops.
    * w.r.t. ``tau``: eq. (10) plus eq. (7), ``-sum(s (1 - s) (w dv + dl0)) / T``.
    * ``T`` is a constant (no gradient).

  Args:
    w: weight tensor (any float dtype; the mask is computed in float32).
    tau: scalar threshold on the w**2 scale.
    temp: scalar temperature T > 0.
    stabilized_gradient: eq. (14) for the weight gradient (True) or the full one (False).
    dtype: dtype of ``v`` (default: that of ``w``), e.g. float16 when ``w`` is the float32
      master copy of a mixed-precision layer's weight.

  Returns:
    ``(v, l0)``: ``v`` of ``w``'s shape, ``l0`` a float32 scalar.
  """
  s, l0 = mask_and_l0(w, tau, temp)
  return apply_mask(w, s, tau, temp, l0, True, stabilized_gradient, dtype)


def mask_and_l0(w, tau, temp):
  """``(s, sum(s))`` of eqs. (2) and (6) in float32, as constants (no gradient flows here:
  ``apply_mask`` gives ``w`` and ``tau`` theirs)."""
  s = soft_mask(tf.stop_gradient(w), tf.stop_gradient(tau), temp)
  return s, tf.reduce_sum(s)


def apply_mask(w, mask, tau, temp, l0, soft, stabilized_gradient=True, dtype=None):
  """``(w * mask, l0)`` with LTP's gradients for ``mask = s`` of eq. (2) (see
  ``soft_prune_and_l0``).

  ``soft`` (a Python or tensor bool) says whether ``mask`` is the soft mask ``s``. When it is
  not (a frozen 0/1 hard mask), ``s (1 - s)`` would be 0: ``tau`` gets 0 and ``w`` gets
  ``mask * dv``, and the work for ``tau``'s gradient is skipped. ``mask`` and ``l0`` are
  taken as computed, without differentiating what made them, so a ``tf.cond`` choosing
  between the soft and the hard mask has no gradient of its own: its branches then keep no
  weight-sized intermediates for a backward pass.
  """
  w = tf.convert_to_tensor(w)
  out_dtype = tf.as_dtype(dtype or w.dtype)
  tau = tf.convert_to_tensor(tau)

  @tf.custom_gradient
  def _apply_mask(w, tau):
    w32 = _f32(w)
    inv_t = 1.0 / _f32(temp)
    v = tf.cast(w32 * mask, out_dtype)

    def grad(dv, dl0):
      dv = _f32(dv) if dv is not None else tf.zeros_like(w32)
      dl0 = _f32(dl0) if dl0 is not None else tf.constant(0.0)
      dw = mask * dv  # Stabilized weight gradient, eq. (14).

      def soft_grads():
        # s (1 - s) (w dv + dl0): the factor shared by eqs. (7), (10) and the full w gradient.
        ds = tf.raw_ops.SigmoidGrad(y=mask, dy=w32 * dv + dl0)
        dtau = -inv_t * tf.reduce_sum(ds)  # Threshold gradient, eqs. (10) + (7).
        if stabilized_gradient:
          return dw, dtau
        return dw + 2.0 * inv_t * w32 * ds, dtau  # Full weight gradient: eq. (3) + L0 term.

      if soft is True:
        dw, dtau = soft_grads()
      elif stabilized_gradient:
        dtau = tf.cond(soft, lambda: soft_grads()[1], lambda: tf.constant(0.0))
      else:
        dw, dtau = tf.cond(soft, soft_grads, lambda: (dw, tf.constant(0.0)))
      return tf.cast(dw, w.dtype), tf.cast(dtau, tau.dtype)

    return (v, tf.identity(l0)), grad

  return _apply_mask(w, tau)


def soft_l0(w, tau, temp):
  """Soft L0 norm, eq. (6): ``sum(sigmoid((w**2 - tau) / T))``.

  The weights are held constant (``stop_gradient``): the L0 term sends no gradient to ``w``
  (eq. 13/14) and its gradient w.r.t. ``tau`` is eq. (7), ``-sum(s (1 - s)) / T``.
  """
  return tf.reduce_sum(soft_mask(tf.stop_gradient(w), tau, temp))


def threshold_from_param(param, ratio):
  """Threshold ``tau = ratio * param`` whose gradient reaches ``param`` unscaled (eq. 11).

  ``dL/dparam := dL/dtau``, so a plain gradient step ``param -= (eta_tau / ratio) * g`` moves
  ``tau`` by ``-eta_tau * dL/dtau``: eq. (11). ``threshold_update`` takes that step; an
  optimizer handed ``param`` directly instead (no ``install_threshold_update``) moves ``tau``
  at ``ratio`` times its own rate, as SGD would by eq. (11) with ``r = ratio``.
  """
  ratio = float(ratio)

  @tf.custom_gradient
  def _tau(p):
    def grad(dtau):
      return dtau

    return p * ratio, grad

  return _tau(tf.convert_to_tensor(param))
