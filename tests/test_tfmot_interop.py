"""LTP models continuing through TFMOT: to_tfmot, PQAT, sparsity-preserving clustering."""

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot

import layer_cases
import ltp_tf
from ltp_tf import data
from ltp_tf import prune
from ltp_tf import tfmot_interop
from ltp_tf._keras import keras

L = keras.layers
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _prune_to(model, quantile):
  """LTP-wraps ``model`` and puts each threshold at the ``quantile`` of its w**2 (hard)."""
  model = ltp_tf.prune_low_magnitude_learned(model)
  for w in ltp_tf.collect_wrappers(model):
    for v, theta in zip(w.pruned_variables, w._theta):  # pylint: disable=protected-access
      theta.assign(float(np.quantile(np.square(v.numpy()), quantile)) / w.threshold_scale)
  return model


def _functional_with_nested():
  """Conv2D and Dense around a nested Sequential, as a functional model."""
  inputs = keras.Input((8, 8, 3))
  x = L.Conv2D(8, 3, activation="relu", name="conv")(inputs)
  x = L.Flatten()(x)
  x = keras.Sequential([keras.Input((288,)), L.Dense(32, activation="relu", name="fc")],
                       name="block")(x)
  return keras.Model(inputs, L.Dense(4, name="logits")(x))


def _data(shape, n=32, classes=4, seed=0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(n, *shape)).astype(np.float32), rng.integers(0, classes, n)


def _tfmot_wrappers(model):
  found = []
  for layer in model.layers:
    if isinstance(layer, keras.Model):
      found += _tfmot_wrappers(layer)
    elif hasattr(layer, "pruning_schedule"):
      found.append(layer)
  return found


def _kernels(model):
  """{layer name: (depthwise) kernel array} of a plain model, nested models included."""
  kernels = {}
  for layer in prune.iter_layers(model):
    for attr in ("kernel", "depthwise_kernel"):
      if hasattr(layer, attr) and not isinstance(layer, keras.Model):
        kernels[layer.name] = getattr(layer, attr).numpy()
  return kernels


# --- to_tfmot ------------------------------------------------------------------------------


@pytest.mark.parametrize("hard", [True, False])
def test_to_tfmot_runs_like_the_hard_pruned_ltp_model(hard):
  ltp = _prune_to(_functional_with_nested(), 0.7)
  if hard:
    ltp_tf.hard_prune(ltp)
  reference = ltp_tf.strip_pruning(ltp)  # Eq. (1); equals the hard-pruned model.
  x, _ = _data((8, 8, 3))
  converted = ltp_tf.to_tfmot(ltp)
  assert all(w.is_hard for w in ltp_tf.collect_wrappers(ltp))  # A soft model is hard-pruned.
  np.testing.assert_array_equal(converted(x).numpy(), reference(x).numpy())
  stripped = tfmot.sparsity.keras.strip_pruning(converted)
  np.testing.assert_array_equal(stripped(x).numpy(), reference(x).numpy())
  assert [l.name for l in stripped.layers] == [l.name for l in reference.layers]

  wrappers = _tfmot_wrappers(converted)
  assert sorted(w.layer.name for w in wrappers) == ["conv", "fc", "logits"]
  expected = _kernels(reference)
  for w in wrappers:
    (_, mask), = tfmot_interop._tfmot_weights_and_masks(w)  # pylint: disable=protected-access
    np.testing.assert_array_equal(mask.numpy(), expected[w.layer.name] != 0)
    config = w.pruning_schedule.get_config()["config"]
    assert config["target_sparsity"] == pytest.approx(np.mean(expected[w.layer.name] == 0))
    assert (config["begin_step"], config["end_step"]) == (0, 0)


def test_fit_with_update_pruning_step_keeps_ltp_zeros():
  ltp = _prune_to(_functional_with_nested(), 0.7)
  converted = ltp_tf.to_tfmot(ltp)
  before = _kernels(ltp_tf.strip_pruning(ltp))
  converted.compile(keras.optimizers.SGD(0.1, momentum=0.9), LOSS)
  x, y = _data((8, 8, 3), n=64)
  converted.fit(x, y, epochs=2, batch_size=8, verbose=0,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  after = _kernels(tfmot.sparsity.keras.strip_pruning(converted))
  for name, kernel in before.items():
    np.testing.assert_array_equal(after[name] == 0, kernel == 0, err_msg=name)
    assert not np.allclose(after[name], kernel), f"{name} did not train"


def test_frequency_lets_tfmot_reselect_at_the_learned_sparsity():
  """TFMOT's top-k at the learned sparsity keeps exactly LTP's count of weights."""
  ltp = _prune_to(_functional_with_nested(), 0.7)
  counts = {n: int(np.count_nonzero(k)) for n, k in _kernels(ltp_tf.strip_pruning(ltp)).items()}
  converted = ltp_tf.to_tfmot(ltp, frequency=1)
  converted.compile(keras.optimizers.SGD(0.1, momentum=0.9), LOSS)
  x, y = _data((8, 8, 3), n=64)
  converted.fit(x, y, epochs=1, batch_size=8, verbose=0,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
  for w in _tfmot_wrappers(converted):
    assert w.pruning_schedule.get_config()["config"]["end_step"] == -1
    (_, mask), = tfmot_interop._tfmot_weights_and_masks(w)  # pylint: disable=protected-access
    assert int(mask.numpy().sum()) == counts[w.layer.name]


# Layers whose LTP zeros TFMOT's prune_low_magnitude cannot hold (TFMOT 0.8, tf_keras 2.20).
_TFMOT_REFUSES = {"conv1d_transpose", "dense_subclass", "depthwise_conv1d", "depthwise_conv2d",
                  "einsum_dense", "separable_conv1d", "separable_conv2d", layer_cases.MHA}


@pytest.mark.parametrize("name", layer_cases.ALL)
def test_every_supported_layer_converts_or_is_refused_by_name(name):
  ltp, inputs = layer_cases.make_model(name, ltp_tf.PruneLearnedThreshold)
  ltp(inputs)
  for w in ltp_tf.collect_wrappers(ltp):
    layer_cases.set_thresholds_to_median(w)
  expected = ltp_tf.strip_pruning(ltp)(inputs).numpy()
  if name in _TFMOT_REFUSES:
    layer = ltp_tf.collect_wrappers(ltp)[0].layer.name
    with pytest.raises(ValueError, match=f"'{layer}'"):
      ltp_tf.to_tfmot(ltp)
    with pytest.warns(UserWarning, match=f"'{layer}'"):
      converted = ltp_tf.to_tfmot(ltp, unsupported="keep")
    assert not _tfmot_wrappers(converted)
  else:
    converted = ltp_tf.to_tfmot(ltp)
    assert len(_tfmot_wrappers(converted)) == 1
  np.testing.assert_array_equal(converted(inputs).numpy(), expected)


def test_tfmot_still_cannot_wrap_multi_head_attention():
  """Pins tfmot_interop._TFMOT_CANNOT_RUN: when this fails, TFMOT learned MHA; drop it."""
  query, value = keras.Input((3, 4)), keras.Input((5, 4))
  with pytest.raises(AttributeError, match="_query_dense"):
    tfmot.sparsity.keras.prune_low_magnitude(
        L.MultiHeadAttention(num_heads=2, key_dim=3))(query, value)


def _mixed_model():
  return keras.Sequential([
      keras.Input((8, 8, 2)), L.DepthwiseConv2D(3, name="dw"), L.SeparableConv2D(4, 3, name="sep"),
      L.Conv2D(4, 1, name="pw"), L.Flatten(),
      L.EinsumDense("ab,bc->ac", output_shape=3, name="einsum")])


def test_layers_tfmot_cannot_keep_pruned_are_named_or_kept_on_request():
  ltp = _prune_to(_mixed_model(), 0.6)
  with pytest.raises(ValueError, match="'dw'.*'sep'.*depthwise_kernel.*'einsum'") as error:
    ltp_tf.to_tfmot(ltp)
  assert "'pw'" not in str(error.value) and "unsupported='keep'" in str(error.value)
  with pytest.warns(UserWarning, match="'dw'"):
    converted = ltp_tf.to_tfmot(ltp, unsupported="keep")
  assert [w.layer.name for w in _tfmot_wrappers(converted)] == ["pw"]
  x, _ = _data((8, 8, 2), n=4)
  np.testing.assert_array_equal(converted(x).numpy(), ltp_tf.strip_pruning(ltp)(x).numpy())


def test_to_tfmot_bad_arguments_are_named():
  ltp = _prune_to(_functional_with_nested(), 0.5)
  for bad in (0, 1.5, True):
    with pytest.raises(ValueError, match="frequency"):
      ltp_tf.to_tfmot(ltp, frequency=bad)
  with pytest.raises(ValueError, match="unsupported"):
    ltp_tf.to_tfmot(ltp, unsupported="drop")
  with pytest.raises(ValueError, match="no LTP wrappers"):
    ltp_tf.to_tfmot(_functional_with_nested())
  with pytest.raises(ValueError, match="model must be"):
    ltp_tf.to_tfmot(L.Dense(3))


# --- Pruning-preserving QAT and clustering --------------------------------------------------


def _cnn():
  return keras.Sequential([keras.Input((10, 10, 1)), L.Conv2D(8, 3, activation="relu"),
                           L.Flatten(), L.Dense(16, activation="relu"), L.Dense(4)])


def _qat_kernels(qat):
  """{inner layer name: kernel variable} of a quantization-aware model."""
  return {layer.layer.name: v for layer in qat.layers if hasattr(layer, "layer")
          for v in layer.trainable_weights if v.name.endswith("kernel:0")}


@pytest.mark.slow
def test_pqat_keeps_every_zero_through_training_and_int8_export():
  ltp = _prune_to(_cnn(), 0.8)
  ltp_tf.hard_prune(ltp)
  before = _kernels(ltp_tf.strip_pruning(ltp))
  qat = ltp_tf.quantize_preserving_sparsity(ltp)
  qat.compile(keras.optimizers.Adam(1e-2), LOSS)
  x, y = _data((10, 10, 1), n=64)
  qat.fit(x, y, epochs=2, batch_size=8, verbose=0)
  kernels = _qat_kernels(qat)
  assert sorted(kernels) == sorted(before)
  for name, kernel in before.items():
    after = kernels[name].numpy()
    np.testing.assert_array_equal(after[kernel == 0], 0, err_msg=name)
    assert not np.allclose(after, kernel), f"{name} did not train"

  tflite = ltp_tf.export_tflite(qat, quantize="int8")  # Learned ranges: no calibration data.
  filters = [w for w in ltp_tf.tflite_weights(tflite) if w.op in ("CONV_2D", "FULLY_CONNECTED")
             and len(w.shape) > 1]
  assert len(filters) == 3 and all(w.dtype == "int8" and w.sparse for w in filters)
  kept = sorted(int(np.count_nonzero(k)) for k in before.values())
  # Quantization can round a kept weight to 0, never a zero to non-zero.
  for w, n in zip(sorted(filters, key=lambda w: w.nonzero), kept):
    assert 0.9 * n <= w.nonzero <= n, w


def test_pqat_refuses_layers_whose_zeros_it_would_not_keep():
  """Pins _PQAT_PRESERVES: TFMOT preserves Dense zeros but lets DepthwiseConv2D zeros regrow."""
  model = keras.Sequential([keras.Input((6, 6, 2)), L.DepthwiseConv2D(3, name="dw"),
                            L.Flatten(), L.Dense(3, name="fc")])
  ltp = _prune_to(model, 0.6)
  before = _kernels(ltp_tf.strip_pruning(ltp))
  with pytest.raises(ValueError, match="'dw'.*depthwise_kernel.*unsupported='keep'"):
    ltp_tf.quantize_preserving_sparsity(ltp)
  with pytest.raises(ValueError, match="unsupported"):
    ltp_tf.quantize_preserving_sparsity(ltp, unsupported="ignore")
  with pytest.warns(UserWarning, match="'dw'"):
    qat = ltp_tf.quantize_preserving_sparsity(ltp, unsupported="keep")
  qat.compile(keras.optimizers.Adam(1e-2), LOSS)
  x, y = _data((6, 6, 2), n=32, classes=3)
  qat.fit(x, y, epochs=1, batch_size=8, verbose=0)
  dw = next(l for l in qat.layers if getattr(l, "layer", None) is not None
            and l.layer.name == "dw")
  regrown = [v.numpy() for v in dw.trainable_weights if "depthwise_kernel" in v.name][0]
  assert np.count_nonzero(regrown[before["dw"] == 0]) > 0
  fc = _qat_kernels(qat)["fc"].numpy()
  np.testing.assert_array_equal(fc[before["fc"] == 0], 0)


def test_sparsity_preserving_clustering_keeps_ltp_zeros():
  ltp = _prune_to(_cnn(), 0.8)
  stripped = ltp_tf.strip_pruning(ltp)
  before = _kernels(stripped)
  clustered = tfmot.clustering.keras.cluster_weights(
      stripped, number_of_clusters=8, preserve_sparsity=True,
      cluster_centroids_init=tfmot.clustering.keras.CentroidInitialization.KMEANS_PLUS_PLUS)
  clustered.compile(keras.optimizers.Adam(1e-3), LOSS)
  x, y = _data((10, 10, 1), n=64)
  clustered.fit(x, y, epochs=1, batch_size=8, verbose=0)
  after = _kernels(tfmot.clustering.keras.strip_clustering(clustered))
  for name, kernel in before.items():
    np.testing.assert_array_equal(after[name] == 0, kernel == 0, err_msg=name)
    assert len(np.unique(after[name][after[name] != 0])) <= 8, name


# --- Real data: LTP -> PQAT -> int8 sparse TFLite --------------------------------------------


@pytest.mark.slow
def test_mnist_ltp_pqat_int8_tflite_agrees_with_keras(shared_data_dir):
  """MNIST, 12k training images: LTP, PQAT, int8 sparse TFLite on the 10k test images.

  PQAT fine-tunes for one more epoch, so its int8 file is compared with a control: the float
  LTP model fine-tuned for that same epoch. Measured here (26 s on 2 busy CPU cores): 95.36 %
  sparse; float sparse TFLite 0.9621, post-training int8 0.9615 (argmax agreement with Keras
  0.9983); PQAT int8 0.9634 (agreement 0.9999) vs control 0.9644.
  """
  (x_tr, y_tr), (x_te, y_te) = data.idx_dataset("mnist", shared_data_dir)
  x_tr, y_tr = x_tr[:12000], y_tr[:12000]
  model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(8, 5, strides=2, activation="relu"),
                            L.Flatten(), L.Dense(64, activation="relu"), L.Dense(10)])
  model.compile(keras.optimizers.SGD(0.05, momentum=0.9), LOSS, metrics=["accuracy"])
  model.fit(x_tr, y_tr, epochs=2, batch_size=64, verbose=0)
  ltp = ltp_tf.prune_low_magnitude_learned(model, l0_lambda=3e-6)
  ltp.compile(keras.optimizers.SGD(0.05, momentum=0.9), LOSS, metrics=["accuracy"])
  ltp.fit(x_tr, y_tr, epochs=3, batch_size=64, verbose=0,
          callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=2)])
  sparsity = ltp_tf.sparsity_report(ltp).sparsity
  float_acc = ltp_tf.evaluate_tflite(ltp_tf.export_tflite(ltp), (x_te, y_te))["accuracy"]

  # Post-training int8 of the LTP model: argmax agreement with Keras.
  int8 = ltp_tf.export_tflite(ltp, quantize="int8",
                              representative_dataset=lambda: ([r[None]] for r in x_tr[:200]))
  keras_float = ltp.predict(x_te, batch_size=512, verbose=0).argmax(-1)
  ptq = ltp_tf.evaluate_tflite(int8, (x_te, y_te))
  ptq_agree = np.mean(ptq["logits"].argmax(-1) == keras_float)

  # PQAT, one epoch, then int8 with the learned ranges; every LTP zero stays zero.
  qat = ltp_tf.quantize_preserving_sparsity(ltp)
  qat.compile(keras.optimizers.SGD(0.01, momentum=0.9), LOSS, metrics=["accuracy"])
  qat.fit(x_tr, y_tr, epochs=1, batch_size=64, verbose=0)
  qat_kernels = _qat_kernels(qat)
  for name, kernel in _kernels(ltp_tf.strip_pruning(ltp)).items():
    np.testing.assert_array_equal(qat_kernels[name].numpy()[kernel == 0], 0, err_msg=name)
  pqat = ltp_tf.evaluate_tflite(ltp_tf.export_tflite(qat, quantize="int8"), (x_te, y_te))
  pqat_agree = np.mean(pqat["logits"].argmax(-1) ==
                       qat.predict(x_te, batch_size=512, verbose=0).argmax(-1))

  # Control: the float LTP model (mask frozen) trained for the same epoch.
  ltp.compile(keras.optimizers.SGD(0.01, momentum=0.9), LOSS, metrics=["accuracy"])
  ltp.fit(x_tr, y_tr, epochs=1, batch_size=64, verbose=0)
  control = ltp_tf.evaluate_tflite(ltp_tf.export_tflite(ltp), (x_te, y_te))["accuracy"]
  summary = (f"sparsity {sparsity:.4f}, float sparse TFLite {float_acc:.4f}, PTQ int8 "
             f"{ptq['accuracy']:.4f} (agree {ptq_agree:.4f}), PQAT int8 {pqat['accuracy']:.4f} "
             f"(agree {pqat_agree:.4f}), control {control:.4f}")
  assert sparsity >= 0.5, summary
  assert ptq_agree >= 0.99 and pqat_agree >= 0.99, summary
  assert abs(ptq["accuracy"] - float_acc) <= 0.005, summary
  assert abs(pqat["accuracy"] - control) <= 0.005, summary
