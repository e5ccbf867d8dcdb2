"""Sparse TFLite export and evaluation with LiteRT."""

import os
import sys
import tempfile
import warnings

import numpy as np
import tensorflow as tf

from ltp_tf import _flavour
from ltp_tf import prune
from ltp_tf import tflite_inspect

_QUANTIZE = (None, "int8", "float16")


def export_tflite(model, path=None, *, quantize=None, representative_dataset=None, sparse=True):
  """Converts ``model`` to a sparse TFLite flatbuffer.

  Wrapped models are stripped first (``ltp_tf.strip_pruning``). The converter runs with
  ``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``, which stores sufficiently sparse weights in a
  sparse format (see ``ltp_tf.tflite_weights`` for which). Inputs and outputs stay float32 in
  every mode. A quantization-aware model (``ltp_tf.quantize_preserving_sparsity``, or
  ``tfmot.quantization.keras.quantize_model``) exports with ``quantize="int8"`` and needs no
  ``representative_dataset``: its ranges were learned.

  Example::

    tflite = ltp_tf.export_tflite(model, "model.tflite")
    ltp_tf.evaluate_tflite(tflite, (x_test, y_test))["accuracy"]

  Args:
    model: a tf_keras model, wrapped or stripped.
    path: where to write the file (optional).
    quantize: None (float32), ``"int8"`` (full-integer weights and activations; needs
      ``representative_dataset``) or ``"float16"`` (float16 weights).
    representative_dataset: callable yielding lists of input arrays, as for
      ``TFLiteConverter.representative_dataset``; required for ``"int8"`` unless the model is
      quantization-aware.
    sparse: False stores every weight dense (no ``EXPERIMENTAL_SPARSITY``), e.g. to measure
      what the sparse encoding saves. With ``"float16"``, a file whose float16 filters the
      converter stored block-sparse (which LiteRT cannot read) is stored dense, with a warning.

  Returns:
    The flatbuffer as ``bytes`` (also written to ``path`` when given).

  Raises:
    ValueError: for a bad argument, naming it.
  """
  if quantize not in _QUANTIZE:
    raise ValueError(f"quantize must be one of {_QUANTIZE}, got {quantize!r}")
  if not isinstance(sparse, bool):
    raise TypeError(f"sparse must be a bool, got {sparse!r}")
  if quantize != "int8" and representative_dataset is not None:
    raise ValueError("representative_dataset is only used with quantize='int8', got "
                     f"quantize={quantize!r}.")
  _check_tf_backend(model)
  model = prune.strip_pruning(model)
  quantization_aware = _is_quantization_aware(model)
  if quantization_aware and quantize != "int8":
    raise ValueError(f"Model '{model.name}' is quantization-aware (it has TFMOT QuantizeWrapper "
                     f"layers): export it with quantize='int8', got quantize={quantize!r}.")
  if quantize == "int8" and representative_dataset is None and not quantization_aware:
    raise ValueError('quantize="int8" needs representative_dataset= (a callable yielding '
                     "lists of sample input arrays) to calibrate activation ranges.")
  tflite = _convert(model, quantize, representative_dataset, sparse, quantization_aware)
  if quantize == "float16" and sparse and _unreadable_float16(tflite):
    tflite = _convert(model, quantize, representative_dataset, False, quantization_aware)
  if path is not None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
      f.write(tflite)
  return tflite


def _check_tf_backend(model):
  """A Keras 3 model converts only on the TensorFlow backend (the converter traces TF)."""
  k3 = _flavour.keras3()
  if _flavour.is_keras3(model) and k3.backend.backend() != "tensorflow":
    raise ValueError(
        f"export_tflite converts Keras 3 models on the TensorFlow backend; this process runs "
        f"'{k3.backend.backend()}'. Save the model (model.save('pruned.keras')), then load it "
        "and export it in a process started with KERAS_BACKEND=tensorflow.")


def _convert(model, quantize, representative_dataset, sparse, quantization_aware):
  if _flavour.is_keras3(model):
    # Keras 3 variables are not frozen from a concrete function: go through a SavedModel
    # (Keras 3's own export, serving endpoint = the model's call in inference mode).
    with tempfile.TemporaryDirectory() as saved:
      model.export(saved, format="tf_saved_model", verbose=False)
      converter = tf.lite.TFLiteConverter.from_saved_model(saved)
      return _configure_and_convert(converter, quantize, representative_dataset, sparse,
                                    quantization_aware)
  specs = [tf.TensorSpec(t.shape, t.dtype) for t in model.inputs]
  if len(specs) == 1:
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs[0])
  else:
    fn = tf.function(lambda *x: model(list(x), training=False)).get_concrete_function(*specs)
  converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
  return _configure_and_convert(converter, quantize, representative_dataset, sparse,
                                quantization_aware)


def _configure_and_convert(converter, quantize, representative_dataset, sparse,
                           quantization_aware):
  converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else []
  if quantize is not None:
    converter.optimizations.append(tf.lite.Optimize.DEFAULT)
  if quantize == "float16":
    converter.target_spec.supported_types = [tf.float16]
  elif quantize == "int8" and not quantization_aware:
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  return converter.convert()


def _unreadable_float16(tflite):
  """True, with a warning, if TF 2.20's converter stored float16 filters block-sparse.

  It does so without a DENSIFY op: the DEQUANTIZE in front of such a filter reads the
  compressed buffer as if it were dense, and every LiteRT kernel set computes NaN or garbage.
  """
  broken = [w.name for w in tflite_inspect.tflite_weights(tflite)
            if w.dtype == "float16" and w.sparse and not w.densify]
  if broken:
    warnings.warn(
        f"quantize='float16': the converter stored {len(broken)} float16 filter(s) block-sparse "
        f"without DENSIFY ({', '.join(broken)}), which LiteRT cannot read (NaN outputs). The "
        "file is stored dense instead; export float32 or int8 for a sparse file.", stacklevel=3)
  return bool(broken)


def _is_quantization_aware(model):
  if "tensorflow_model_optimization" not in sys.modules:  # Not imported: nothing of it here.
    return False
  import tensorflow_model_optimization as tfmot  # pylint: disable=g-import-not-at-top
  return any(isinstance(layer, tfmot.quantization.keras.QuantizeWrapper)
             for layer in prune.iter_layers(model))


def _batches(dataset):
  if isinstance(dataset, tf.data.Dataset):
    for batch in dataset.as_numpy_iterator():
      yield batch if isinstance(batch, tuple) else (batch, None)
  elif isinstance(dataset, tuple) and len(dataset) == 2:
    x, y = dataset
    for i in range(0, len(x), 256):
      yield x[i:i + 256], (None if y is None else y[i:i + 256])
  else:
    raise ValueError("dataset must be a tf.data.Dataset of (x, y) batches or an (x, y) tuple "
                     f"of arrays, got {type(dataset).__name__}")


def evaluate_tflite(tflite_bytes_or_path, dataset):
  """Runs a single-input TFLite model with LiteRT over ``dataset``.

  Args:
    tflite_bytes_or_path: flatbuffer bytes or a file path.
    dataset: a ``tf.data.Dataset`` of ``(x, y)`` (or ``x``) batches, or an ``(x, y)`` tuple of
      arrays; ``y`` holds integer labels or one-hot rows, or is None.

  Returns:
    ``{"logits": array [N, ...], "accuracy": float or None, "kernels": "xnnpack" or
    "builtin"}``: LiteRT's default XNNPack delegate is used where it can prepare every node;
    otherwise (e.g. sparse int8 fully-connected layers) the builtin kernels run the model.
  """
  logits, labels, current, interpreter, kernels = [], [], None, None, "xnnpack"
  for x, y in _batches(dataset):
    if interpreter is None:
      interpreter, kernels = _interpreter(tflite_bytes_or_path, np.shape(x))
      if len(interpreter.get_input_details()) != 1 or len(interpreter.get_output_details()) != 1:
        raise ValueError("evaluate_tflite runs single-input, single-output models; use "
                         "ai_edge_litert.interpreter.Interpreter directly for others.")
      (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
      current = None
    x = np.asarray(x, dtype=inp["dtype"])
    if current != x.shape:
      interpreter.resize_tensor_input(inp["index"], x.shape)
      interpreter.allocate_tensors()
      current = x.shape
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    logits.append(interpreter.get_tensor(out["index"]).copy())
    if y is not None:
      y = np.asarray(y)
      one_hot = y.ndim == 2 and y.shape[-1] > 1
      labels.append(y.argmax(-1) if one_hot else y.reshape(-1))
  logits = np.concatenate(logits)
  accuracy = None
  if labels:
    accuracy = float(np.mean(logits.argmax(-1) == np.concatenate(labels)))
  return {"logits": logits, "accuracy": accuracy, "kernels": kernels}


def _interpreter(tflite_bytes_or_path, input_shape):
  """A LiteRT interpreter with XNNPack if it prepares the model, else builtin kernels."""
  from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
  if isinstance(tflite_bytes_or_path, (bytes, bytearray)):
    source = {"model_content": bytes(tflite_bytes_or_path)}
  else:
    source = {"model_path": os.fspath(tflite_bytes_or_path)}
  try:
    interpreter = litert.Interpreter(**source)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], input_shape)
    interpreter.allocate_tensors()
    return interpreter, "xnnpack"
  except RuntimeError:
    resolver = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return litert.Interpreter(**source, experimental_op_resolver_type=resolver), "builtin"
