"""soft_prune against NumPy oracles, autodiff of the plain formulas, and limits."""

import numpy as np
import pytest
import tensorflow as tf

from ltp_tf import soft_prune


def _np_sigmoid(x):
  with np.errstate(over="ignore"):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.fixture
def case():
  rng = np.random.default_rng(0)
  w = rng.normal(0, 0.1, size=(7, 5)).astype(np.float32)
  tau = np.float32(np.median(w**2))
  temp = np.float32(1e-3 * np.var(np.abs(w)))
  dv = rng.normal(size=w.shape).astype(np.float32)
  return w, tau, temp, dv


def test_temperature_is_t0_times_variance_of_abs_w(case):
  w, _, _, _ = case
  np.testing.assert_allclose(soft_prune.temperature(w, 1e-3), 1e-3 * np.var(np.abs(w)),
                             rtol=1e-5)


def test_temperature_of_constant_tensor_is_positive():
  assert float(soft_prune.temperature(np.ones((3, 3), np.float32), 1e-3)) > 0


def test_temperature_rejects_non_positive_t0():
  with pytest.raises(ValueError, match="temperature"):
    soft_prune.temperature(np.ones(3, np.float32), 0.0)


def test_forward_matches_numpy(case):
  w, tau, temp, _ = case
  expected = w * _np_sigmoid((w**2 - tau) / temp)
  np.testing.assert_allclose(soft_prune.soft_prune(w, tau, temp), expected, rtol=1e-5,
                             atol=1e-7)


def _grads(w, tau, temp, dv, stabilized):
  w_t, tau_t = tf.constant(w), tf.constant(tau)
  with tf.GradientTape() as tape:
    tape.watch([w_t, tau_t])
    v = soft_prune.soft_prune(w_t, tau_t, temp, stabilized_gradient=stabilized)
    loss = tf.reduce_sum(v * dv)
  return [g.numpy() for g in tape.gradient(loss, [w_t, tau_t])]


@pytest.mark.parametrize("stabilized", [True, False])
def test_gradients_match_hand_formulas(case, stabilized):
  w, tau, temp, dv = case
  s = _np_sigmoid((w**2 - tau) / temp)
  ds = s * (1 - s)
  dw_expected = s * dv if stabilized else (s + 2 * w**2 * ds / temp) * dv  # eq. 14 / eq. 3
  dtau_expected = np.sum(-w * ds / temp * dv)  # eq. 10
  dw, dtau = _grads(w, tau, temp, dv, stabilized)
  np.testing.assert_allclose(dw, dw_expected, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(dtau, dtau_expected, rtol=1e-4)


def test_full_gradient_equals_autodiff_of_eq2(case):
  w, tau, temp, dv = case
  w_t, tau_t = tf.constant(w), tf.constant(tau)
  with tf.GradientTape() as tape:
    tape.watch([w_t, tau_t])
    plain = w_t * tf.sigmoid((tf.square(w_t) - tau_t) / temp)
    loss = tf.reduce_sum(plain * dv)
  dw_auto, dtau_auto = tape.gradient(loss, [w_t, tau_t])
  dw, dtau = _grads(w, tau, temp, dv, stabilized=False)
  np.testing.assert_allclose(dw, dw_auto, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(dtau, dtau_auto, rtol=1e-4)


def test_stabilized_gradient_differs_from_full(case):
  w, tau, temp, dv = case
  assert not np.allclose(_grads(w, tau, temp, dv, True)[0], _grads(w, tau, temp, dv, False)[0])


def test_zero_temperature_limit_is_hard_pruning(case):
  w, tau, _, _ = case
  w = w[np.abs(w**2 - tau) > 1e-6]  # Away from the threshold itself.
  np.testing.assert_array_equal(soft_prune.soft_prune(w, tau, 1e-12),
                                soft_prune.hard_prune(w, tau))
  expected = np.where(w**2 > tau, w, 0.0)
  np.testing.assert_array_equal(soft_prune.hard_prune(w, tau), expected)


def test_very_negative_threshold_is_identity(case):
  w, _, temp, _ = case
  np.testing.assert_array_equal(soft_prune.soft_prune(w, -1e3, temp), w)
  np.testing.assert_array_equal(soft_prune.hard_prune(w, -1e3), w)


def _joint_grads(w, tau, temp, dv, lam, stabilized):
  w_t, tau_t = tf.constant(w), tf.constant(tau)
  with tf.GradientTape() as tape:
    tape.watch([w_t, tau_t])
    v, l0 = soft_prune.soft_prune_and_l0(w_t, tau_t, temp, stabilized_gradient=stabilized)
    loss = tf.reduce_sum(v * dv) + lam * l0
  return v.numpy(), float(l0), [g.numpy() for g in tape.gradient(loss, [w_t, tau_t])]


@pytest.mark.parametrize("stabilized", [True, False])
def test_joint_soft_prune_and_l0_match_hand_formulas(case, stabilized):
  w, tau, temp, dv = case
  lam = np.float32(0.3)
  s = _np_sigmoid((w**2 - tau) / temp)
  ds = s * (1 - s)
  v, l0, (dw, dtau) = _joint_grads(w, tau, temp, dv, lam, stabilized)
  np.testing.assert_allclose(v, w * s, rtol=1e-5, atol=1e-7)  # eq. 2
  np.testing.assert_allclose(l0, s.sum(), rtol=1e-5)  # eq. 6
  if stabilized:  # eq. 14: the L0 term sends the weights nothing.
    dw_expected = s * dv
  else:  # eq. 3 plus the L0 term's weight gradient.
    dw_expected = (s + 2 * w**2 * ds / temp) * dv + lam * 2 * w * ds / temp
  np.testing.assert_allclose(dw, dw_expected, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(dtau, np.sum(-w * ds / temp * dv) - lam * ds.sum() / temp,
                             rtol=1e-4)  # eqs. 10 + 7


def test_full_joint_gradient_equals_autodiff_of_eq9(case):
  w, tau, temp, dv = case
  w_t, tau_t = tf.constant(w), tf.constant(tau)
  with tf.GradientTape() as tape:
    tape.watch([w_t, tau_t])
    s = tf.sigmoid((tf.square(w_t) - tau_t) / temp)
    loss = tf.reduce_sum(w_t * s * dv) + 0.3 * tf.reduce_sum(s)
  expected = tape.gradient(loss, [w_t, tau_t])
  _, _, got = _joint_grads(w, tau, temp, dv, 0.3, stabilized=False)
  for g, e in zip(got, expected):
    np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)


def test_soft_prune_and_l0_casts_v_to_the_requested_dtype(case):
  w, tau, temp, _ = case
  v, l0 = soft_prune.soft_prune_and_l0(w, tau, temp, dtype=tf.float16)
  assert v.dtype == tf.float16 and l0.dtype == tf.float32
  np.testing.assert_allclose(v, soft_prune.soft_prune(w, tau, temp), rtol=1e-3, atol=1e-4)


def test_soft_l0_matches_numpy_and_eq7(case):
  w, tau, temp, _ = case
  s = _np_sigmoid((w**2 - tau) / temp)
  w_t, tau_t = tf.constant(w), tf.constant(tau)
  with tf.GradientTape() as tape:
    tape.watch([w_t, tau_t])
    l0 = soft_prune.soft_l0(w_t, tau_t, temp)
  dw, dtau = tape.gradient(l0, [w_t, tau_t], unconnected_gradients="zero")
  np.testing.assert_allclose(l0, s.sum(), rtol=1e-5)
  np.testing.assert_allclose(dtau, -np.sum(s * (1 - s)) / temp, rtol=1e-4)  # eq. 7
  np.testing.assert_array_equal(dw, np.zeros_like(w))  # No L0 gradient to the weights.


def test_threshold_from_param_scales_value_not_gradient():
  param = tf.Variable(3.0)
  with tf.GradientTape() as tape:
    tau = soft_prune.threshold_from_param(param, 1e-5)
    loss = 7.0 * tau
  assert float(tau) == pytest.approx(3e-5)
  assert float(tape.gradient(loss, param)) == pytest.approx(7.0)
