"""The mathematics of Learned Threshold Pruning in ``keras.ops``: one code for every backend.

The Keras 3 twin of ``ltp_tf.soft_prune`` (same functions, same equations of Azarian et al.,
arXiv:2003.00075, same NumPy oracles in tests/test_soft_prune.py). Nothing here creates a
variable.

``keras.ops.custom_gradient`` calls the gradient function as ``grad(upstream)`` on TensorFlow
and JAX and as ``grad(*inputs, upstream=upstream)`` on PyTorch, and PyTorch's version supports
a single output only: every custom gradient here has one output, and ``_upstream`` reads it
in either convention.
"""

from keras import ops

from ltp_tf.soft_prune import DEFAULT_TEMPERATURE  # noqa: F401  (one default for both Kerases)

# Floor on Var(|w|) in eq. (15), as in ltp_tf.soft_prune.
_MIN_VARIANCE = 1e-12


def _f32(x):
  return ops.cast(x, "float32")


def _upstream(args, upstream):
  """The upstream gradient: ``grad(dy)`` (TF, JAX) or ``grad(*inputs, upstream=dy)`` (torch)."""
  return args[0] if upstream is None else upstream


def temperature(w, t0=DEFAULT_TEMPERATURE):
  """Per-tensor temperature, eq. (15): ``T = t0 * Var(|w|)`` (floored at ``t0 * 1e-12``)."""
  if t0 <= 0:
    raise ValueError(f"temperature (T0 of eq. 15) must be > 0, got {t0}")
  return t0 * ops.maximum(ops.var(ops.abs(_f32(w))), _MIN_VARIANCE)


def soft_mask(w, tau, temp):
  """Soft mask ``sigmoid((w**2 - tau) / T)`` of eq. (2), in float32."""
  return ops.sigmoid((ops.square(_f32(w)) - _f32(tau)) / _f32(temp))


def hard_mask(w, tau):
  """Hard mask ``step(w**2 - tau)`` of eq. (1): 1 where w**2 > tau, else 0 (dtype of ``w``)."""
  w = ops.convert_to_tensor(w)
  return ops.cast(ops.greater(ops.square(_f32(w)), _f32(tau)), w.dtype)


def hard_prune(w, tau):
  """Hard pruning, eq. (1): ``w * step(w**2 - tau)``."""
  w = ops.convert_to_tensor(w)
  return w * hard_mask(w, tau)


def soft_prune(w, tau, temp, stabilized_gradient=True, dtype=None):
  """Soft pruning, eq. (2): ``v = w * sigmoid((w**2 - tau) / T)``, with LTP's gradients.

  Gradients, for an upstream gradient ``dv`` (``s`` the soft mask):
    * w.r.t. ``w``: ``s * dv`` when ``stabilized_gradient`` (eq. 13/14), else the full
      derivative ``(s + 2 w**2 s (1 - s) / T) * dv`` (eq. 3);
    * w.r.t. ``tau``: eq. (10), ``-sum(s (1 - s) w dv) / T``;
    * ``T`` is a constant (zero gradient).

  Args:
    w: weight tensor (any float dtype; the mask is computed in float32).
    tau: scalar threshold on the w**2 scale.
    temp: scalar temperature T > 0.
    stabilized_gradient: eq. (14) for the weight gradient (True) or eq. (3) (False).
    dtype: dtype of ``v`` (default: that of ``w``).
  """
  w = ops.convert_to_tensor(w)
  out_dtype = dtype or w.dtype
  tau = ops.convert_to_tensor(tau, "float32")
  temp = ops.convert_to_tensor(temp, "float32")
  w_dtype, tau_dtype = w.dtype, tau.dtype

  @ops.custom_gradient
  def _soft_prune(w, tau, t):
    w32 = _f32(w)
    inv_t = 1.0 / _f32(t)
    s = ops.sigmoid((ops.square(w32) - _f32(tau)) * inv_t)

    def grad(*args, upstream=None):
      dv = _f32(_upstream(args, upstream))
      ds = s * (1.0 - s) * (w32 * dv)  # Shared by eqs. (3) and (10).
      if stabilized_gradient:
        dw = s * dv  # Stabilized weight gradient, eq. (14).
      else:
        dw = s * dv + 2.0 * inv_t * w32 * ds  # Full weight gradient, eq. (3).
      dtau = -inv_t * ops.sum(ds)  # Threshold gradient, eq. (10).
      return ops.cast(dw, w_dtype), ops.cast(dtau, tau_dtype), ops.zeros_like(t)

    return ops.cast(w32 * s, out_dtype), grad

  return _soft_prune(w, tau, temp)


def soft_l0(w, tau, temp, stabilized_gradient=True):
  """Soft L0 norm, eq. (6): ``sum(sigmoid((w**2 - tau) / T))``, a float32 scalar.

  Its gradient w.r.t. ``tau`` is eq. (7), ``-sum(s (1 - s)) / T``. With
  ``stabilized_gradient`` the weights are held constant (eq. 13/14: the L0 term sends ``w`` no
  gradient); otherwise ``w`` gets the L0 term's own gradient ``2 w s (1 - s) / T``.
  """
  w = ops.convert_to_tensor(w)
  if stabilized_gradient:
    w = ops.stop_gradient(w)
  return ops.sum(soft_mask(w, tau, temp))


def soft_prune_and_l0(w, tau, temp, stabilized_gradient=True, dtype=None):
  """``(soft_prune(w, ...), soft_l0(w, ...))``: eq. (2) and eq. (6) with the gradients of
  ``ltp_tf.soft_prune.soft_prune_and_l0``.

  Two single-output ops rather than one two-output op (PyTorch's custom gradient takes one
  output); the sigmoid they share is one subexpression for XLA (JAX, TF's jit_compile) and
  for TF graph optimization.
  """
  return (soft_prune(w, tau, temp, stabilized_gradient, dtype),
          soft_l0(w, tau, temp, stabilized_gradient))


def threshold_from_param(param, ratio):
  """Threshold ``tau = ratio * param`` whose gradient reaches ``param`` unscaled (eq. 11).

  As ``ltp_tf.soft_prune.threshold_from_param``: a plain SGD step of size ``eta`` on ``param``
  with the gradient ``dL/dtau`` moves ``tau`` by ``-ratio * eta * dL/dtau``, eq. (11).
  """
  ratio = float(ratio)

  @ops.custom_gradient
  def _tau(p):
    def grad(*args, upstream=None):
      return _upstream(args, upstream)

    return p * ratio, grad

  return _tau(ops.convert_to_tensor(param, "float32"))
