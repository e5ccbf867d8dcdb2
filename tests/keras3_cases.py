"""Keras 3 tests, run once per backend in a subprocess by tests/test_keras3.py.

``KERAS_BACKEND`` is this process's backend; every test here is backend-independent code.
"""

import keras
import numpy as np
import pytest

import keras3_subprocess
import ltp_tf
from ltp_tf.keras3 import soft_prune as k3_math
from ltp_tf.keras3.wrapper import PruneLearnedThreshold

L = keras.layers
BACKEND = keras.backend.backend()
STEPS_PER_EPOCH = 4  # 64 examples, batch 16.


@pytest.fixture(autouse=True)
def _seed():
  keras.utils.set_random_seed(0)


def _model():
  inp = keras.Input((8, 8, 3), name="image")
  x = L.Conv2D(4, 3, name="conv")(inp)
  x = L.BatchNormalization(name="bn")(x)
  x = L.DepthwiseConv2D(3, name="dw")(x)
  x = L.Flatten(name="flat")(x)
  out = L.Dense(5, name="fc")(x)
  return keras.Model(inp, out, name="net")


def _data():
  rng = np.random.default_rng(0)
  return (rng.normal(size=(64, 8, 8, 3)).astype("float32"),
          rng.integers(0, 5, 64).astype("int32"))


def _pruned(optimizer=None, l0_lambda=1e-4, **kwargs):
  keras.utils.set_random_seed(0)
  pruned = ltp_tf.prune_low_magnitude_learned(_model(), l0_lambda=l0_lambda, **kwargs)
  for w in ltp_tf.collect_wrappers(pruned):  # Thresholds at the median w**2: some pruning.
    for theta, v in zip(w._theta, w.pruned_variables):  # pylint: disable=protected-access
      theta.assign(float(np.median(v.numpy() ** 2)) / w.threshold_lr_ratio)
  pruned.compile(optimizer or keras.optimizers.SGD(0.05),
                 keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  return pruned


def _fit(model, schedule, epochs=1):
  x, y = _data()
  model.fit(x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0, callbacks=[schedule])


def _thetas(model):
  return [float(t.numpy()) for w in ltp_tf.collect_wrappers(model) for t in w._theta]  # pylint: disable=protected-access


def test_wraps_prunable_layers_and_keeps_the_rest():
  pruned = ltp_tf.prune_low_magnitude_learned(_model())
  names = [layer.name for layer in pruned.layers]
  assert names == ["image", "ltp_conv", "bn", "ltp_dw", "flat", "ltp_fc"]
  assert all(isinstance(w, PruneLearnedThreshold) for w in ltp_tf.collect_wrappers(pruned))


def test_soft_forward_is_eq2_and_hard_forward_is_eq1():
  pruned = _pruned()
  fc = pruned.get_layer("ltp_fc")
  tau = fc.thresholds[0]
  w = fc.pruned_variables[0]
  v = k3_math.soft_prune(w.value, tau, fc.temperatures[0].value)
  feats = np.random.default_rng(1).normal(size=(4, 64)).astype("float32")
  expected = keras.ops.matmul(feats, v) + fc.layer.bias.value
  np.testing.assert_allclose(fc(feats), expected, rtol=1e-5, atol=1e-5)
  ltp_tf.hard_prune(pruned)
  expected = keras.ops.matmul(feats, k3_math.hard_prune(w.value, tau)) + fc.layer.bias.value
  np.testing.assert_allclose(fc(feats), expected, rtol=1e-5, atol=1e-5)


def test_thresholds_learn_by_plain_sgd_eq11_whatever_the_optimizer():
  # Eq. (11): theta moves by -eta * dL/dtau, as plain SGD at rate eta would move it, also when
  # the model was compiled with AdamW + clipping + weight decay (which move the weights
  # their own way). T0 = 1: a smooth sigmoid, so that every threshold gets a gradient; r = 1:
  # theta = tau is small, so float32 resolves the step.
  ltp, eta = dict(temperature=1.0, threshold_lr_ratio=1.0), 1e-3
  x, y = _data()
  moved = {}
  for name, opt in (("sgd", keras.optimizers.SGD(eta)),
                    ("adamw", keras.optimizers.AdamW(eta, weight_decay=0.1, clipnorm=1e-3))):
    model = _pruned(opt, **ltp)
    before = _thetas(model)
    model.fit(x[:16], y[:16], batch_size=16, verbose=0, callbacks=[ltp_tf.LTPPruningSchedule()])
    moved[name] = [a - b for a, b in zip(_thetas(model), before)]
    kernel = model.get_layer("ltp_fc").pruned_variables[0]
    moved[name + "_kernel"] = kernel.numpy()
  assert all(abs(m) > 1e-6 for m in moved["sgd"])
  np.testing.assert_allclose(moved["adamw"], moved["sgd"], rtol=1e-4, atol=1e-9)
  assert not np.allclose(moved["adamw_kernel"], moved["sgd_kernel"])  # Weights: AdamW's way.


def test_soft_steps_mid_epoch_switch_inside_the_step():
  k = 6  # Mid-epoch 2 (4 steps per epoch): no callback runs between those steps.
  model = _pruned()
  _fit(model, ltp_tf.LTPPruningSchedule(soft_steps=k), epochs=2)
  reference = _pruned()  # Same start, k soft steps only, on the same batches.
  x, y = _data()
  xs, ys = np.concatenate([x, x])[:16 * k], np.concatenate([y, y])[:16 * k]
  reference.fit(xs, ys, batch_size=16, shuffle=False, verbose=0,
                callbacks=[ltp_tf.LTPPruningSchedule()])
  for w, r in zip(ltp_tf.collect_wrappers(model), ltp_tf.collect_wrappers(reference)):
    assert w.is_hard and int(w.step.numpy()) == 2 * STEPS_PER_EPOCH
    assert not r.is_hard
    for frozen, mask, tau, v in zip(w._frozen, w.masks, r.thresholds, r.pruned_variables):  # pylint: disable=protected-access
      np.testing.assert_allclose(frozen.numpy(), np.asarray(tau), rtol=1e-5)
      np.testing.assert_array_equal(mask.numpy(),
                                    np.asarray(k3_math.hard_mask(v.value, tau)))
  # Stripped: a plain model with the original names, equal to the hard-mode model.
  stripped = ltp_tf.strip_pruning(model)
  assert [layer.name for layer in stripped.layers] == ["image", "conv", "bn", "dw", "flat", "fc"]
  assert not ltp_tf.collect_wrappers(stripped)
  np.testing.assert_allclose(stripped.predict(x, verbose=0), model.predict(x, verbose=0),
                             atol=1e-5)
  report = ltp_tf.sparsity_report(model)
  assert ltp_tf.sparsity_report(stripped).kept == report.kept and report.sparsity > 0.2


def test_soft_epochs_switch_at_the_epoch_boundary():
  model = _pruned()
  _fit(model, ltp_tf.LTPPruningSchedule(soft_epochs=1), epochs=2)
  for w in ltp_tf.collect_wrappers(model):
    assert w.is_hard
    for v, m in zip(w.pruned_variables, w.masks):  # Re-zeroed at the epoch end.
      assert np.all(v.numpy()[m.numpy() == 0] == 0)


def test_keras_file_round_trip(tmp_path):
  model = _pruned()
  _fit(model, ltp_tf.LTPPruningSchedule(soft_steps=2))
  path = str(tmp_path / "pruned.keras")
  model.save(path)
  loaded = keras.saving.load_model(path)
  x, _ = _data()
  np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                             atol=1e-6)
  for a, b in zip(ltp_tf.collect_wrappers(loaded), ltp_tf.collect_wrappers(model)):
    assert a.layer.get_config() == b.layer.get_config()
    assert ({k: v for k, v in a.get_config().items() if k != "layer"} ==
            {k: v for k, v in b.get_config().items() if k != "layer"})
    for va, vb in zip(a.weights, b.weights):
      np.testing.assert_array_equal(va.numpy(), vb.numpy())


_EXPORT_ON_TF = """
import sys, numpy as np, keras, ltp_tf
assert keras.backend.backend() == "tensorflow"
model = keras.saving.load_model(sys.argv[1])
x = np.load(sys.argv[2])
stripped = ltp_tf.strip_pruning(model)
assert not ltp_tf.collect_wrappers(stripped)
logits = ltp_tf.evaluate_tflite(ltp_tf.export_tflite(stripped), (x, None))["logits"]
np.testing.assert_allclose(logits, stripped.predict(x, verbose=0), atol=1e-5)
np.testing.assert_allclose(logits, model.predict(x, verbose=0), atol=1e-5)
print("exported")
"""


def test_pruned_here_saved_loads_on_tf_and_exports_litert_equal_within_1e5(tmp_path):
  model = _pruned()
  _fit(model, ltp_tf.LTPPruningSchedule(soft_steps=2), epochs=1)
  path, x_path = str(tmp_path / "pruned.keras"), str(tmp_path / "x.npy")
  model.save(path)
  np.save(x_path, _data()[0][:8])
  # A process of its own on the TF backend (also when this one is TF: a fresh load).
  code = f"import sys\nsys.argv = ['', {path!r}, {x_path!r}]\n" + _EXPORT_ON_TF
  assert "exported" in keras3_subprocess.run_python(code, backend="tensorflow")


def test_export_needs_the_tensorflow_backend():
  if BACKEND == "tensorflow":
    pytest.skip("runs on the other backends")
  with pytest.raises(ValueError, match="KERAS_BACKEND=tensorflow"):
    ltp_tf.export_tflite(_pruned())


def test_clear_errors():
  unbuilt = keras.Sequential([L.Dense(3, name="d")])
  with pytest.raises(ValueError, match=r"not built \(layer 'd'.*keras.Input"):
    ltp_tf.prune_low_magnitude_learned(unbuilt)
  import tf_keras  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match=r"mixes tf_keras.*'old'.*Keras 3 layer 'new'"):
    ltp_tf.prune_low_magnitude_learned([tf_keras.layers.Dense(2, name="old"),
                                        L.Dense(2, name="new")])
  with pytest.raises(ValueError, match="tf_keras.*only.*Keras 3"):
    ltp_tf.to_tfmot(_pruned())
  with pytest.raises(NotImplementedError, match="Target-sparsity"):
    _fit(_pruned(), ltp_tf.LTPPruningSchedule(soft_steps=2, target_sparsity=0.5))


def test_more_registry_layers_train_switch_and_strip_to_the_hard_model():
  # One model, one compile: SeparableConv2D (both kernels), Conv2DTranspose, EinsumDense.
  inp = keras.Input((6, 6, 3))
  x = L.SeparableConv2D(4, 3, name="sep")(inp)
  x = L.Conv2DTranspose(2, 3, name="deconv")(x)
  x = L.Flatten()(x)
  out = L.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="c", name="einsum")(x)
  model = ltp_tf.prune_low_magnitude_learned(keras.Model(inp, out))
  for w in ltp_tf.collect_wrappers(model):
    for theta, v in zip(w._theta, w.pruned_variables):  # pylint: disable=protected-access
      theta.assign(float(np.median(v.numpy() ** 2)) / w.threshold_lr_ratio)
  model.compile(keras.optimizers.SGD(0.01), "mse")
  x = np.random.default_rng(0).normal(size=(8, 6, 6, 3)).astype("float32")
  model.fit(x, np.zeros((8, 3)), batch_size=4, verbose=0,
            callbacks=[ltp_tf.LTPPruningSchedule(soft_steps=1)])
  assert all(w.is_hard for w in ltp_tf.collect_wrappers(model))
  rows = ltp_tf.sparsity_report(model).tensors
  assert [(r.layer, r.weight) for r in rows] == [
      ("sep", "depthwise_kernel"), ("sep", "pointwise_kernel"), ("deconv", "kernel"),
      ("einsum", "kernel")]
  stripped = ltp_tf.strip_pruning(model)
  np.testing.assert_allclose(stripped.predict(x, verbose=0), model.predict(x, verbose=0),
                             atol=1e-5)
  assert 0.3 < ltp_tf.sparsity_report(stripped).sparsity < 0.7
