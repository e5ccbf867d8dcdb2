"""Sparse TFLite export, checked by running it with LiteRT."""

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot

import layer_cases
import ltp_tf
from ltp_tf._keras import keras

L = keras.layers


def _pruned(model, data_shape):
  model = ltp_tf.prune_low_magnitude_learned(model)
  for w in ltp_tf.collect_wrappers(model):
    layer_cases.set_thresholds_to_median(w)
  ltp_tf.hard_prune(model)
  x = np.random.default_rng(0).normal(size=(16, *data_shape)).astype(np.float32)
  return model, x


def _mlp():
  return keras.Sequential([keras.Input((64,)), L.Dense(256, activation="relu"), L.Dense(10)])


def _cnn():
  return keras.Sequential([keras.Input((12, 12, 3)), L.Conv2D(8, 3, activation="relu"),
                           L.DepthwiseConv2D(3), L.SeparableConv2D(8, 3), L.Flatten(),
                           L.Dense(10)])


@pytest.mark.parametrize("make, shape", [(_mlp, (64,)), (_cnn, (12, 12, 3))])
def test_litert_logits_equal_keras_logits(make, shape, tmp_path):
  model, x = _pruned(make(), shape)
  path = tmp_path / "model.tflite"
  tflite = ltp_tf.export_tflite(model, str(path))
  assert path.read_bytes() == tflite
  expected = ltp_tf.strip_pruning(model)(x).numpy()
  labels = expected.argmax(-1)
  # Integer labels, (N, 1) integer labels (as keras.datasets gives), one-hot labels.
  for source, y in ((tflite, labels), (str(path), labels[:, None]), (tflite, np.eye(10)[labels])):
    result = ltp_tf.evaluate_tflite(source, (x, y))
    np.testing.assert_allclose(result["logits"], expected, rtol=1e-5, atol=1e-5)
    assert result["accuracy"] == 1.0


def test_sparse_file_is_smaller_than_dense():
  dense = _mlp()
  dense_bytes = len(ltp_tf.export_tflite(dense))
  model = ltp_tf.prune_low_magnitude_learned(dense)
  for w in ltp_tf.collect_wrappers(model):  # Keep ~10 % of the weights.
    w2 = np.sort(w.pruned_variables[0].numpy().ravel() ** 2)
    w._theta[0].assign(float(w2[int(0.9 * len(w2))]) / w.threshold_scale)
  ltp_tf.hard_prune(model)
  assert len(ltp_tf.export_tflite(model)) < 0.5 * dense_bytes


def test_quantized_exports_run_and_agree():
  model, x = _pruned(_mlp(), (64,))
  expected = ltp_tf.strip_pruning(model)(x).numpy()
  fp16 = ltp_tf.evaluate_tflite(ltp_tf.export_tflite(model, quantize="float16"), (x, None))
  np.testing.assert_allclose(fp16["logits"], expected, atol=5e-2)
  int8 = ltp_tf.export_tflite(model, quantize="int8",
                              representative_dataset=lambda: ([row[None]] for row in x))
  logits = ltp_tf.evaluate_tflite(int8, (x, None))["logits"]
  assert np.mean(logits.argmax(-1) == expected.argmax(-1)) >= 0.8


def test_bad_export_arguments_are_named():
  model, _ = _pruned(_mlp(), (64,))
  with pytest.raises(ValueError, match="quantize"):
    ltp_tf.export_tflite(model, quantize="int4")
  with pytest.raises(ValueError, match="representative_dataset"):
    ltp_tf.export_tflite(model, quantize="int8")
  with pytest.raises(ValueError, match="dataset"):
    ltp_tf.evaluate_tflite(ltp_tf.export_tflite(model), [1, 2, 3])


def test_quantization_aware_model_exports_int8_without_calibration_data():
  model, x = _pruned(_mlp(), (64,))
  qat = tfmot.quantization.keras.quantize_model(ltp_tf.strip_pruning(model))
  expected = qat(x).numpy()
  logits = ltp_tf.evaluate_tflite(ltp_tf.export_tflite(qat, quantize="int8"), (x, None))["logits"]
  assert np.mean(logits.argmax(-1) == expected.argmax(-1)) >= 0.8
  with pytest.raises(ValueError, match="quantization-aware.*quantize='int8'"):
    ltp_tf.export_tflite(qat)
  with pytest.raises(TypeError, match="sparse"):
    ltp_tf.export_tflite(model, sparse="no")


def test_float16_export_never_yields_block_sparse_filters_litert_cannot_read():
  """TF 2.20 stores a float16 filter with 1x4-block zeros sparse and without DENSIFY; LiteRT's
  DEQUANTIZE then reads the compressed buffer as dense (NaN). export_tflite stores it dense."""
  model = keras.Sequential([keras.Input((800,)), L.Dense(500, activation="relu"), L.Dense(10)])
  rng = np.random.default_rng(0)
  kernel = model.layers[0].kernel
  keep = np.zeros(kernel.shape.num_elements(), bool)
  keep[rng.choice(keep.size, 24, replace=False)] = True
  kernel.assign((kernel.numpy().ravel() * keep).reshape(kernel.shape))
  x = rng.normal(size=(8, 800)).astype(np.float32)
  with pytest.warns(UserWarning, match="block-sparse without DENSIFY"):
    tflite = ltp_tf.export_tflite(model, quantize="float16")
  assert not any(w.sparse for w in ltp_tf.tflite_weights(tflite) if w.dtype == "float16")
  logits = ltp_tf.evaluate_tflite(tflite, (x, None))["logits"]
  np.testing.assert_allclose(logits, model(x).numpy(), atol=1e-2)
  float32 = ltp_tf.tflite_weights(ltp_tf.export_tflite(model))  # Block-sparse, readable.
  assert [w.block for w in float32 if w.shape == (500, 800)] == ["1x4"]
