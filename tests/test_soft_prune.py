"""LTP's math against NumPy oracles, autodiff of the plain formulas, and limits.

Every test runs on both implementations (``math_impls``): ``ltp_tf.soft_prune`` (tf_keras) and
``ltp_tf.keras3.soft_prune`` (``keras.ops``) on this process's Keras 3 backend. The other
backends run this file in a subprocess each (tests/test_keras3.py).
"""

import numpy as np
import pytest

import math_impls


def _np_sigmoid(x):
  with np.errstate(over="ignore"):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.fixture(params=math_impls.NAMES)
def impl(request):
  return math_impls.make(request.param)


@pytest.fixture
def case():
  rng = np.random.default_rng(0)
  w = rng.normal(0, 0.1, size=(7, 5)).astype(np.float32)
  tau = np.float32(np.median(w**2))
  temp = np.float32(1e-3 * np.var(np.abs(w)))
  dv = rng.normal(size=w.shape).astype(np.float32)
  return w, tau, temp, dv


def test_temperature_is_t0_times_variance_of_abs_w(impl, case):
  w, _, _, _ = case
  np.testing.assert_allclose(impl.math.temperature(w, 1e-3), 1e-3 * np.var(np.abs(w)),
                             rtol=1e-5)


def test_temperature_of_constant_tensor_is_positive(impl):
  assert float(impl.math.temperature(np.ones((3, 3), np.float32), 1e-3)) > 0


def test_temperature_rejects_non_positive_t0(impl):
  with pytest.raises(ValueError, match="temperature"):
    impl.math.temperature(np.ones(3, np.float32), 0.0)


def test_forward_matches_numpy(impl, case):
  w, tau, temp, _ = case
  expected = w * _np_sigmoid((w**2 - tau) / temp)
  np.testing.assert_allclose(impl.math.soft_prune(w, tau, temp), expected, rtol=1e-5,
                             atol=1e-7)


def _grads(impl, w, tau, temp, dv, stabilized):
  def loss(w_t, tau_t):
    v = impl.math.soft_prune(w_t, tau_t, temp, stabilized_gradient=stabilized)
    return impl.ops.sum(v * impl.tensor(dv))
  return impl.grad(loss, w, tau)


@pytest.mark.parametrize("stabilized", [True, False])
def test_gradients_match_hand_formulas(impl, case, stabilized):
  w, tau, temp, dv = case
  s = _np_sigmoid((w**2 - tau) / temp)
  ds = s * (1 - s)
  dw_expected = s * dv if stabilized else (s + 2 * w**2 * ds / temp) * dv  # eq. 14 / eq. 3
  dtau_expected = np.sum(-w * ds / temp * dv)  # eq. 10
  dw, dtau = _grads(impl, w, tau, temp, dv, stabilized)
  np.testing.assert_allclose(dw, dw_expected, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(dtau, dtau_expected, rtol=1e-4)


def test_full_gradient_equals_autodiff_of_eq2(impl, case):
  w, tau, temp, dv = case
  ops = impl.ops
  dw_auto, dtau_auto = impl.grad(
      lambda w_t, tau_t: ops.sum(w_t * ops.sigmoid((ops.square(w_t) - tau_t) / temp)
                                 * impl.tensor(dv)),
      w, tau)
  dw, dtau = _grads(impl, w, tau, temp, dv, stabilized=False)
  np.testing.assert_allclose(dw, dw_auto, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(dtau, dtau_auto, rtol=1e-4)


def test_stabilized_gradient_differs_from_full(impl, case):
  w, tau, temp, dv = case
  assert not np.allclose(_grads(impl, w, tau, temp, dv, True)[0],
                         _grads(impl, w, tau, temp, dv, False)[0])


def test_zero_temperature_limit_is_hard_pruning(impl, case):
  w, tau, _, _ = case
  w = w[np.abs(w**2 - tau) > 1e-6]  # Away from the threshold itself.
  np.testing.assert_array_equal(impl.math.soft_prune(w, tau, 1e-12),
                                impl.math.hard_prune(w, tau))
  expected = np.where(w**2 > tau, w, 0.0)
  np.testing.assert_array_equal(impl.math.hard_prune(w, tau), expected)


def test_very_negative_threshold_is_identity(impl, case):
  w, _, temp, _ = case
  np.testing.assert_array_equal(impl.math.soft_prune(w, -1e3, temp), w)
  np.testing.assert_array_equal(impl.math.hard_prune(w, -1e3), w)


def _joint_grads(impl, w, tau, temp, dv, lam, stabilized):
  v, l0 = impl.math.soft_prune_and_l0(w, tau, temp, stabilized_gradient=stabilized)

  def loss(w_t, tau_t):
    v, l0 = impl.math.soft_prune_and_l0(w_t, tau_t, temp, stabilized_gradient=stabilized)
    return impl.ops.sum(v * impl.tensor(dv)) + lam * l0
  return np.asarray(v), float(l0), impl.grad(loss, w, tau)


@pytest.mark.parametrize("stabilized", [True, False])
def test_joint_soft_prune_and_l0_match_hand_formulas(impl, case, stabilized):
  w, tau, temp, dv = case
  lam = np.float32(0.3)
  s = _np_sigmoid((w**2 - tau) / temp)
  ds = s * (1 - s)
  v, l0, (dw, dtau) = _joint_grads(impl, w, tau, temp, dv, lam, stabilized)
  np.testing.assert_allclose(v, w * s, rtol=1e-5, atol=1e-7)  # eq. 2
  np.testing.assert_allclose(l0, s.sum(), rtol=1e-5)  # eq. 6
  if stabilized:  # eq. 14: the L0 term sends the weights nothing.
    dw_expected = s * dv
  else:  # eq. 3 plus the L0 term's weight gradient.
    dw_expected = (s + 2 * w**2 * ds / temp) * dv + lam * 2 * w * ds / temp
  np.testing.assert_allclose(dw, dw_expected, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(dtau, np.sum(-w * ds / temp * dv) - lam * ds.sum() / temp,
                             rtol=1e-4)  # eqs. 10 + 7


def test_full_joint_gradient_equals_autodiff_of_eq9(impl, case):
  w, tau, temp, dv = case
  ops = impl.ops

  def plain(w_t, tau_t):
    s = ops.sigmoid((ops.square(w_t) - tau_t) / temp)
    return ops.sum(w_t * s * impl.tensor(dv)) + 0.3 * ops.sum(s)
  expected = impl.grad(plain, w, tau)
  _, _, got = _joint_grads(impl, w, tau, temp, dv, 0.3, stabilized=False)
  for g, e in zip(got, expected):
    np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)


def test_soft_prune_and_l0_casts_v_to_the_requested_dtype(impl, case):
  w, tau, temp, _ = case
  v, l0 = impl.math.soft_prune_and_l0(w, tau, temp, dtype="float16")
  assert np.asarray(v).dtype == np.float16 and np.asarray(l0).dtype == np.float32
  np.testing.assert_allclose(np.asarray(v, np.float32), impl.math.soft_prune(w, tau, temp),
                             rtol=1e-3, atol=1e-4)


def test_soft_l0_matches_numpy_and_eq7(impl, case):
  w, tau, temp, _ = case
  s = _np_sigmoid((w**2 - tau) / temp)
  l0 = impl.math.soft_l0(w, tau, temp)
  dw, dtau = impl.grad(lambda w_t, tau_t: impl.math.soft_l0(w_t, tau_t, temp), w, tau)
  np.testing.assert_allclose(l0, s.sum(), rtol=1e-5)
  np.testing.assert_allclose(dtau, -np.sum(s * (1 - s)) / temp, rtol=1e-4)  # eq. 7
  np.testing.assert_array_equal(dw, np.zeros_like(w))  # No L0 gradient to the weights.


def test_threshold_from_param_scales_value_not_gradient(impl):
  tau = impl.math.threshold_from_param(np.float32(3.0), 1e-5)
  (grad,) = impl.grad(lambda p: 7.0 * impl.math.threshold_from_param(p, 1e-5), 3.0)
  assert float(tau) == pytest.approx(3e-5)
  assert float(grad) == pytest.approx(7.0)
