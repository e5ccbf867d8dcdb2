"""How a TFLite flatbuffer stores its weights: sparse or dense, bytes, and why.

Reads the flatbuffer with LiteRT's generated schema (``ai_edge_litert.schema_py_generated``).
The explanations for dense tensors follow the converter's ``DenseToSparse`` pass
(tensorflow/compiler/mlir/lite/transforms/dense_to_sparse_pass.cc, TF 2.20): it only looks at
the filter operand of CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and FULLY_CONNECTED, only at
rank-2 and rank-4 tensors, and keeps a tensor dense below 30 % zeros (``kMinSparsityLevel``).
A sparse tensor whose zeros do not form the op's supported blocks is stored with
unstructured ("random") sparsity and a DENSIFY op in front of its consumer, which rebuilds
the dense filter when the interpreter is prepared: such a file is smaller, the kernel is not.
"""

import dataclasses
import os

import numpy as np

_FILTER_OPERAND = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1,
                   "TRANSPOSE_CONV": 1}
_PASS_THROUGH = ("DENSIFY", "DEQUANTIZE")
_MIN_SPARSITY = 0.3  # kMinSparsityLevel of the converter's DenseToSparse pass.
# TensorType -> numpy dtype, for the types weights come in.
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
# SparseIndexVector union: 1 Int32Vector, 2 Uint16Vector, 3 Uint8Vector.
_INDEX_BYTES = {1: 4, 2: 2, 3: 1}


@dataclasses.dataclass
class TfliteWeight:
  """One constant tensor of a TFLite model, as the converter stored it."""
  name: str
  op: str            # The op that uses it (through DENSIFY for a densified sparse tensor).
  shape: tuple
  dtype: str
  size: int          # Elements of the dense tensor.
  nonzero: int       # Non-zero elements.
  sparse: bool       # Stored in TFLite's sparse format.
  densify: bool      # A DENSIFY op rebuilds it dense at run time.
  block: str         # "random", a block shape such as "1x4" (rows x columns), "" if dense.
  value_bytes: int   # Bytes of the stored values.
  index_bytes: int   # Bytes of the sparse format's segment and index arrays.
  quantization_bytes: int  # Bytes of its quantization scales (float32) and zero points (int64).
  reason: str        # Why it was kept dense ("" when sparse).

  @property
  def sparsity(self):
    return 1.0 - self.nonzero / self.size if self.size else 0.0


def _read(tflite_bytes_or_path):
  if isinstance(tflite_bytes_or_path, (bytes, bytearray)):
    return bytes(tflite_bytes_or_path)
  with open(os.fspath(tflite_bytes_or_path), "rb") as f:
    return f.read()


def _buffer_bytes(model, raw, tensor):
  buffer = model.buffers[tensor.buffer]
  if buffer.data is not None and len(buffer.data):
    return np.asarray(buffer.data, np.uint8).tobytes()
  if buffer.offset > 1:  # Large models keep buffers after the flatbuffer.
    return raw[buffer.offset:buffer.offset + buffer.size]
  return b""


def _op_names(model, schema):
  names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
  return [names.get(max(c.builtinCode, c.deprecatedBuiltinCode), "CUSTOM")
          for c in model.operatorCodes]


def _quantization_bytes(quantization):
  if quantization is None:
    return 0
  scales = 0 if quantization.scale is None else len(quantization.scale)
  zero_points = 0 if quantization.zeroPoint is None else len(quantization.zeroPoint)
  return 4 * scales + 8 * zero_points


def _dense_reason(op, operand, shape, sparsity):
  if _FILTER_OPERAND.get(op) != operand:
    return f"operand {operand} of {op}: the converter only encodes filters of conv/FC ops"
  if len(shape) not in (2, 4):
    return f"rank {len(shape)}: the converter only encodes rank-2 and rank-4 filters"
  if sparsity < _MIN_SPARSITY:
    return f"{sparsity:.1%} zeros, below the converter's {_MIN_SPARSITY:.0%} minimum"
  return "dense although eligible (converted without EXPERIMENTAL_SPARSITY?)"


def tflite_weights(tflite_bytes_or_path):
  """Every constant operand of a single-subgraph TFLite model: how it is stored, and why.

  Example::

    for w in ltp_tf.tflite_weights(tflite):
      print(w.name, w.op, w.sparse, w.value_bytes + w.index_bytes, w.reason)

  Args:
    tflite_bytes_or_path: flatbuffer bytes or a file path.

  Returns:
    A list of ``TfliteWeight`` in tensor order. ``nonzero`` counts the non-zero stored
    values (of the quantized integers for int8 tensors).

  Raises:
    ValueError: for a model with more than one subgraph.
  """
  from ai_edge_litert import schema_py_generated as schema  # pylint: disable=g-import-not-at-top
  raw = _read(tflite_bytes_or_path)
  model = schema.ModelT.InitFromPackedBuf(raw, 0)
  if len(model.subgraphs) != 1:
    raise ValueError(f"tflite_weights reads single-subgraph models; this one has "
                     f"{len(model.subgraphs)}.")
  graph, op_names = model.subgraphs[0], _op_names(model, schema)
  uses, through = {}, {}  # tensor -> (op, operand); DENSIFY/DEQUANTIZE input -> (op, output)
  for op in graph.operators:
    name = op_names[op.opcodeIndex]
    if name in _PASS_THROUGH:
      through[int(op.inputs[0])] = (name, int(op.outputs[0]))
    for operand, t in enumerate(op.inputs):
      uses.setdefault(int(t), (name, operand))
  rows = []
  for index, tensor in enumerate(graph.tensors):
    data = _buffer_bytes(model, raw, tensor)
    if not data or index not in uses:
      continue
    densify, t = False, index
    while t in through:  # Look through DENSIFY and DEQUANTIZE (float16 weights) to the op.
      densify |= through[t][0] == "DENSIFY"
      t = through[t][1]
    op, operand = uses.get(t, uses[index])
    shape = tuple(int(d) for d in tensor.shape)
    dtype = _DTYPES.get(tensor.type)
    values = np.frombuffer(data, dtype) if dtype is not None else None
    size = int(np.prod(shape)) if shape else 1
    nonzero = int(np.count_nonzero(values)) if values is not None else size
    sparsity = tensor.sparsity
    block, index_bytes, reason = "", 0, ""
    if sparsity is not None:
      for dim in sparsity.dimMetadata:
        for vector, kind in ((dim.arraySegments, dim.arraySegmentsType),
                             (dim.arrayIndices, dim.arrayIndicesType)):
          if vector is not None:
            index_bytes += len(vector.values) * _INDEX_BYTES[kind]
      block_map = [int(d) for d in sparsity.blockMap] if sparsity.blockMap is not None else []
      block_shape = [1] * len(shape)
      for dim, meta in zip(block_map, sparsity.dimMetadata[len(shape):]):
        block_shape[dim] = int(meta.denseSize)
      block = "x".join(str(d) for d in block_shape) if block_map else "random"
    else:
      reason = _dense_reason(op, operand, shape, 1.0 - nonzero / size if size else 0.0)
    rows.append(TfliteWeight(
        name=tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name),
        op=op, shape=shape, dtype=np.dtype(dtype).name if dtype is not None else str(tensor.type),
        size=size, nonzero=nonzero, sparse=sparsity is not None, densify=densify,
        block=block, value_bytes=len(data), index_bytes=index_bytes,
        quantization_bytes=_quantization_bytes(tensor.quantization), reason=reason))
  return rows
