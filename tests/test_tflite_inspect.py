"""tflite_weights against the Keras weights the flatbuffer was converted from."""

import numpy as np
import pytest

import ltp_tf
from ltp_tf._keras import keras

L = keras.layers


def _mlp_with_zeros(fractions):
  """Dense 64-256-10 whose kernels have exactly ``fractions`` of zeros (smallest |w|)."""
  model = keras.Sequential([keras.Input((64,)), L.Dense(256, activation="relu", name="fc1"),
                            L.Dense(10, name="fc2")])
  rng = np.random.default_rng(0)
  for layer, fraction in zip(model.layers, fractions):
    kernel = rng.normal(size=layer.kernel.shape).astype(np.float32)
    kernel.ravel()[np.argsort(np.abs(kernel).ravel())[:int(fraction * kernel.size)]] = 0
    layer.kernel.assign(kernel)
    layer.bias.assign(rng.normal(size=layer.bias.shape).astype(np.float32))
  return model


def _by_op_operand(rows):
  return {(w.op, w.shape): w for w in rows}


def test_sparse_and_dense_tensors_match_the_keras_weights():
  model = _mlp_with_zeros([0.9, 0.1])
  rows = _by_op_operand(ltp_tf.tflite_weights(ltp_tf.export_tflite(model)))
  nnz1 = int(np.count_nonzero(model.layers[0].kernel.numpy()))
  fc1 = rows[("FULLY_CONNECTED", (256, 64))]  # TFLite stores FC filters as [out, in].
  assert (fc1.sparse, fc1.densify, fc1.block, fc1.nonzero) == (True, True, "random", nnz1)
  assert fc1.value_bytes == 4 * nnz1 and fc1.index_bytes > 0 and fc1.reason == ""
  assert fc1.sparsity == pytest.approx(0.9, abs=1e-3)
  fc2 = rows[("FULLY_CONNECTED", (10, 256))]
  assert not fc2.sparse and fc2.value_bytes == 4 * 2560 and "below" in fc2.reason
  bias = rows[("FULLY_CONNECTED", (256,))]
  assert not bias.sparse and "operand 2" in bias.reason and bias.nonzero == 256


def test_dense_export_and_int8_values():
  model = _mlp_with_zeros([0.9, 0.9])
  dense = ltp_tf.tflite_weights(ltp_tf.export_tflite(model, sparse=False))
  filters = [w for w in dense if len(w.shape) == 2]
  assert len(filters) == 2 and not any(w.sparse for w in filters)
  assert all("without EXPERIMENTAL_SPARSITY" in w.reason for w in filters)
  x = np.random.default_rng(1).normal(size=(32, 64)).astype(np.float32)
  int8 = ltp_tf.export_tflite(model, quantize="int8",
                              representative_dataset=lambda: ([r[None]] for r in x))
  nnz = {l.kernel.shape[::-1]: int(np.count_nonzero(l.kernel.numpy())) for l in model.layers}
  for w in (w for w in ltp_tf.tflite_weights(int8) if len(w.shape) == 2):
    assert w.dtype == "int8" and w.sparse and w.value_bytes == w.nonzero
    # Rounding to int8 can zero a small weight, never make a zero non-zero.
    assert 0.95 * nnz[w.shape] <= w.nonzero <= nnz[w.shape]


def test_reads_a_file_and_rejects_nothing_silently(tmp_path):
  path = tmp_path / "m.tflite"
  ltp_tf.export_tflite(_mlp_with_zeros([0.9, 0.1]), str(path))
  assert [w.name for w in ltp_tf.tflite_weights(str(path))] == \
         [w.name for w in ltp_tf.tflite_weights(path.read_bytes())]
