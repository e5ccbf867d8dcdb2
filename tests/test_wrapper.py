"""PruneLearnedThreshold: every supported layer, eq. (11) under SGD and Adam, phases, errors."""

import json

import numpy as np
import pytest
import tensorflow as tf

import layer_cases
import ltp_tf
from ltp_tf import registry
from ltp_tf._keras import keras

L = keras.layers


def test_every_registry_class_has_a_test_case():
  covered = layer_cases.covered_classes()
  missing = [c.__name__ for c in registry.supported_classes()
             if not any(issubclass(k, c) for k in covered)]
  assert not missing, f"add a case to tests/layer_cases.py for {missing}"


@pytest.mark.parametrize("name", layer_cases.ALL)
def test_wrap_fit_strip_equals_hard_mode(name, tmp_path):
  # r = 1e-2 keeps theta = tau / r small enough that one small step shows in float32.
  model, inputs = layer_cases.make_model(
      name, lambda l: ltp_tf.PruneLearnedThreshold(l, threshold_lr_ratio=1e-2))
  (wrapper,) = ltp_tf.collect_wrappers(model)
  layer_cases.set_thresholds_to_median(wrapper)
  theta_before = [t.numpy() for t in wrapper._theta]
  model.compile(keras.optimizers.SGD(0.01), "mse")
  target = np.zeros_like(model.predict(inputs, verbose=0))
  model.train_on_batch(inputs, target)
  # The step moved every threshold (eq. 10 + eq. 7 reach theta).
  assert all(t.numpy() != b for t, b in zip(wrapper._theta, theta_before))

  layer_cases.set_thresholds_to_median(wrapper)  # A mask with both kept and pruned weights.
  ltp_tf.hard_prune(model)
  report = ltp_tf.sparsity_report(model)
  assert len(report.tensors) == len(wrapper.weight_paths)
  assert all(0 < t.kept < t.size for t in report.tensors), str(report)

  stripped = ltp_tf.strip_pruning(model)
  assert not ltp_tf.collect_wrappers(stripped)
  assert "PruneLearnedThreshold" not in stripped.to_json()
  assert [l.name for l in stripped.layers] == [
      l.layer.name if isinstance(l, ltp_tf.PruneLearnedThreshold) else l.name
      for l in model.layers]
  expected = model(inputs, training=False).numpy()
  np.testing.assert_allclose(stripped(inputs, training=False), expected, rtol=1e-5, atol=1e-6)
  # Same kept counts in the stripped model.
  assert [t.kept for t in ltp_tf.sparsity_report(stripped).tensors] == [t.kept for t in
                                                                       report.tensors]
  path = str(tmp_path / "stripped.keras")
  stripped.save(path)
  reloaded = keras.models.load_model(path, compile=False)
  np.testing.assert_allclose(reloaded(inputs, training=False), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", layer_cases.ALL)
def test_config_round_trips_exactly(name):
  model, _ = layer_cases.make_model(
      name, lambda l: ltp_tf.PruneLearnedThreshold(l, l0_lambda=3e-7, temperature=2e-3,
                                                   threshold_lr_ratio=1e-6,
                                                   stabilized_gradient=False))
  (wrapper,) = ltp_tf.collect_wrappers(model)
  config = wrapper.get_config()
  clone = ltp_tf.PruneLearnedThreshold.from_config(json.loads(json.dumps(config)))
  assert clone.get_config() == config
  assert (config["l0_lambda"], config["temperature"], config["threshold_lr_ratio"],
          config["stabilized_gradient"]) == (3e-7, 2e-3, 1e-6, False)


def test_one_threshold_per_tensor():
  model, _ = layer_cases.make_model("lstm", ltp_tf.PruneLearnedThreshold)
  (wrapper,) = ltp_tf.collect_wrappers(model)
  assert wrapper.weight_paths == ["cell.kernel", "cell.recurrent_kernel"]
  assert len(wrapper.thresholds) == 2 and len(wrapper.temperatures) == 2
  model, _ = layer_cases.make_model("separable_conv2d", ltp_tf.PruneLearnedThreshold)
  assert ltp_tf.collect_wrappers(model)[0].weight_paths == ["depthwise_kernel",
                                                            "pointwise_kernel"]


def test_temperature_is_eq15_of_the_pretrained_weights():
  dense = L.Dense(5)
  dense.build((None, 4))
  dense.kernel.assign(np.arange(20, dtype=np.float32).reshape(4, 5) / 10)
  wrapper = ltp_tf.PruneLearnedThreshold(dense, temperature=1e-3)
  wrapper.build((None, 4))
  expected = 1e-3 * np.var(np.abs(dense.kernel.numpy()))
  np.testing.assert_allclose(wrapper.temperatures[0].numpy(), expected, rtol=1e-5)


def _reference_threshold_grad(wrapper, x, y, lam):
  """dL_T/dtau from a plain re-implementation of eqs. (2), (6), (9) with tau a variable."""
  dense = wrapper.layer
  tau = tf.Variable(float(wrapper.thresholds[0]))
  temp = float(wrapper.temperatures[0])
  with tf.GradientTape() as tape:
    s = tf.sigmoid((tf.square(dense.kernel) - tau) / temp)
    pred = tf.matmul(x, dense.kernel * s) + dense.bias
    loss = keras.losses.MeanSquaredError()(y, pred) + lam * tf.reduce_sum(s)
  return tape.gradient(loss, tau).numpy()


@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
def test_threshold_step_is_eq11_for_any_optimizer(optimizer):
  """One step moves tau by what the optimizer with rate r * eta would do (eq. 11)."""
  eta, ratio, lam = 0.05, 1e-3, 1e-3
  make = {"sgd_momentum": lambda lr: keras.optimizers.SGD(lr, momentum=0.9),
          "adam": lambda lr: keras.optimizers.Adam(lr)}[optimizer]
  rng = np.random.default_rng(0)
  x = rng.normal(size=(32, 16)).astype(np.float32)
  y = rng.normal(size=(32, 8)).astype(np.float32)
  wrapper = ltp_tf.PruneLearnedThreshold(L.Dense(8), l0_lambda=lam, threshold_lr_ratio=ratio)
  model = keras.Sequential([keras.Input((16,)), wrapper])
  layer_cases.set_thresholds_to_median(wrapper)
  model.compile(make(eta), "mse")
  reference_opt = make(ratio * eta)  # Eq. (11): eta_tau = r * eta.
  tau_ref = tf.Variable(float(wrapper.thresholds[0]))
  for step in range(3):
    tau_before = float(wrapper.thresholds[0])
    grad = _reference_threshold_grad(wrapper, x, y, lam)
    reference_opt.apply_gradients([(tf.constant(grad), tau_ref)])
    model.train_on_batch(x, y)
    tau_after = float(wrapper.thresholds[0])
    assert tau_after - tau_before == pytest.approx(tau_ref.numpy() - tau_before, rel=1e-3)
    tau_ref.assign(tau_after)
    if step == 0:  # First step by hand: SGD -r*eta*g; Adam -r*eta*g/(|g|+eps).
      expected = -ratio * eta * grad
      if optimizer == "adam":
        expected = -ratio * eta * grad / (abs(grad) + 1e-7)
      assert tau_after - tau_before == pytest.approx(expected, rel=1e-3)


def test_hard_phase_freezes_thresholds_and_masks_under_adam():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(64, 16)).astype(np.float32), rng.normal(size=(64, 8)).astype(
      np.float32)
  wrapper = ltp_tf.PruneLearnedThreshold(L.Dense(8), l0_lambda=1e-3, threshold_lr_ratio=1e-3)
  model = keras.Sequential([keras.Input((16,)), wrapper])
  layer_cases.set_thresholds_to_median(wrapper)
  model.compile(keras.optimizers.Adam(0.01), "mse")
  model.fit(x, y, epochs=2, verbose=0)
  wrapper.hard_prune()
  tau, mask = float(wrapper.thresholds[0]), wrapper.masks[0].numpy().copy()
  assert 0 < mask.sum() < mask.size
  np.testing.assert_array_equal(mask, (wrapper.layer.kernel.numpy()**2 > tau) | (mask == 1))
  model.fit(x, y, epochs=3, verbose=0)
  wrapper.apply_masks()
  assert float(wrapper.thresholds[0]) == tau
  np.testing.assert_array_equal(wrapper.masks[0].numpy(), mask)
  assert np.all(wrapper.layer.kernel.numpy()[mask == 0] == 0)
  assert float(wrapper._l0_penalty()) == 0.0


def test_l0_penalty_is_lambda_times_soft_l0_and_is_in_model_losses():
  wrapper = ltp_tf.PruneLearnedThreshold(L.Dense(3), l0_lambda=0.5)
  inputs = keras.Input((4,))
  model = keras.Model(inputs, wrapper(inputs))  # Functional: the out-of-scope trap.
  layer_cases.set_thresholds_to_median(wrapper)
  w = wrapper.layer.kernel.numpy()
  s = 1 / (1 + np.exp(-(w**2 - float(wrapper.thresholds[0])) / float(wrapper.temperatures[0])))
  (loss,) = model.losses
  assert float(loss) == pytest.approx(0.5 * s.sum(), rel=1e-5)
  model.compile(keras.optimizers.SGD(0.1), "mse")
  model.fit(np.ones((8, 4)), np.ones((8, 3)), verbose=0)  # Runs in the train graph.


@pytest.mark.parametrize("stabilized", [True, False])
def test_graph_step_reuses_the_forward_l0_with_the_eager_gradients(stabilized):
  """In a graph the L0 loss is the forward pass's output; eagerly it is recomputed."""
  wrapper = ltp_tf.PruneLearnedThreshold(L.Dense(5), l0_lambda=0.05,
                                         stabilized_gradient=stabilized)
  inputs = keras.Input((6,))
  model = keras.Model(inputs, wrapper(inputs))
  layer_cases.set_thresholds_to_median(wrapper)
  x = np.random.default_rng(1).normal(size=(8, 6)).astype(np.float32)

  def step():
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(model(x, training=True) ** 2) + tf.add_n(model.losses)
    return [loss] + tape.gradient(loss, model.trainable_variables)

  eager, graph = step(), tf.function(step)()
  graph_def = tf.function(step).get_concrete_function().graph.as_graph_def()
  forward = [f for f in graph_def.library.function  # cond branches, not their gradient copies
             if "_grad_" not in f.signature.name and "_rewritten" not in f.signature.name]
  sigmoids = sum(n.op == "Sigmoid" for f in forward for n in f.node_def)
  assert sigmoids == 1  # Forward pass and L0 term share one sigmoid (recomputing gives 2).
  assert graph[2] is not None and float(tf.abs(graph[2])) > 0  # dL/dtheta, L0 included.
  for e, g in zip(eager, graph):
    np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kwargs, match", [
    ({"l0_lambda": -1.0}, "l0_lambda"),
    ({"temperature": 0.0}, "temperature"),
    ({"threshold_lr_ratio": 0.0}, "threshold_lr_ratio"),
    ({"l0_lambda": "big"}, "l0_lambda"),
    ({"temperature": float("nan")}, "temperature"),
    ({"threshold_lr_ratio": float("inf")}, "threshold_lr_ratio"),
    ({"stabilized_gradient": "yes"}, "stabilized_gradient"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
  with pytest.raises((ValueError, TypeError), match=match):
    ltp_tf.PruneLearnedThreshold(L.Dense(3), **kwargs)
  with pytest.raises((ValueError, TypeError), match=match):
    ltp_tf.prune_low_magnitude_learned(L.Dense(3), **kwargs)


def test_unsupported_layer_error_names_layer_class_and_remedy():
  with pytest.raises(ValueError, match=r"'my_prelu'.*PReLU.*PrunableLayer"):
    ltp_tf.PruneLearnedThreshold(L.PReLU(name="my_prelu"))


def test_double_wrapping_and_keras3_layers_are_rejected():
  wrapper = ltp_tf.PruneLearnedThreshold(L.Dense(3))
  with pytest.raises(ValueError, match="already wrapped"):
    ltp_tf.PruneLearnedThreshold(wrapper)
  import keras as keras3  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="tf_keras"):
    ltp_tf.PruneLearnedThreshold(keras3.layers.Dense(3))


def test_threshold_state_stays_float32_under_mixed_precision():
  keras.mixed_precision.set_global_policy("mixed_float16")
  try:
    model = ltp_tf.prune_low_magnitude_learned(
        keras.Sequential([keras.Input((16,)), L.Dense(32, activation="relu"),
                          L.Dense(4, dtype="float32")]), threshold_lr_ratio=1e-7)
    model.compile(keras.optimizers.SGD(0.1), "mse")
    rng = np.random.default_rng(0)
    history = model.fit(rng.random((64, 16)), rng.random((64, 4)), epochs=2, verbose=0,
                        callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=1)])
    wrapper = ltp_tf.collect_wrappers(model)[0]
    for v in wrapper._theta + wrapper.temperatures + wrapper.masks:
      assert type(v).__name__ != "AutoCastVariable" and v.dtype == tf.float32, v.name
    assert np.all(np.isfinite(history.history["loss"]))
  finally:
    keras.mixed_precision.set_global_policy("float32")
