"""Which weights of a layer LTP prunes.

A layer's prunable weights are named by *attribute paths* relative to the layer
(``"kernel"``, ``"cell.recurrent_kernel"``, ``"_query_dense.kernel"``): the wrapper
substitutes the pruned tensor for the variable at that attribute while the layer runs.
Classes are matched with ``isinstance``, so subclasses of supported layers are supported.
Layers implementing ``tfmot.sparsity.keras.PrunableLayer`` decide for themselves. Biases,
normalization layers and other layers whose weights are all per-channel vectors (rank <= 1,
like ConvNeXt's LayerScale) are never pruned. A layer of any other class that holds a matrix
or kernel (a trainable weight of rank >= 2) is *unsupported*: ``prune_low_magnitude_learned``
refuses it, or with ``unsupported="skip"`` leaves it dense and says so. Nothing here mutates
a layer.
"""

from ltp_tf import _flavour
from ltp_tf._keras import keras

# One registry for both Kerases: classes by name, looked up in the layer's own Keras (tf_keras
# or Keras 3; a name missing from one, e.g. LocallyConnected2D in Keras 3, is skipped there).
# Order matters only for readability: the classes below do not inherit from each other.
_WEIGHTS_BY_NAME = (
    (("SeparableConv1D", "SeparableConv2D"), ("depthwise_kernel", "pointwise_kernel")),
    (("DepthwiseConv1D", "DepthwiseConv2D"), ("depthwise_kernel",)),
    # The transposes subclass Conv1D/2D/3D in tf_keras, not in Keras 3: named here for both.
    (("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"),
     ("kernel",)),
    (("Dense", "EinsumDense"), ("kernel",)),
    (("Embedding",), ("embeddings",)),
    (("LocallyConnected1D", "LocallyConnected2D"), ("kernel",)),
    (("MultiHeadAttention",), ("_query_dense.kernel", "_key_dense.kernel",
                               "_value_dense.kernel", "_output_dense.kernel")),
)
# Where Keras 3 stores a weight under another attribute than tf_keras (its DepthwiseConv*
# keeps the depthwise kernel in ``kernel``).
_KERAS3_WEIGHTS = {("DepthwiseConv1D", "DepthwiseConv2D"): ("kernel",)}
_RNN_CELL_NAMES = ("SimpleRNNCell", "GRUCell", "LSTMCell")
_RNN_CELL_WEIGHTS = ("kernel", "recurrent_kernel")

# Layers with trainable weights that are never pruned, whatever their rank (PReLU's slopes
# have the rank of its input).
_NEVER_PRUNED_NAMES = ("BatchNormalization", "LayerNormalization", "GroupNormalization",
                       "UnitNormalization", "PReLU")
# Layers known to hold no weights, recognised even before they are built.
_WEIGHTLESS_NAMES = (
    "InputLayer", "Activation", "Dropout", "Flatten", "Reshape", "Permute", "RepeatVector",
    "Lambda", "ReLU", "Softmax", "LeakyReLU", "ELU", "ThresholdedReLU", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Masking", "MaxPooling1D",
    "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAveragePooling3D", "ZeroPadding1D", "ZeroPadding2D",
    "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D",
    "UpSampling3D", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
    "Concatenate", "Dot", "Rescaling", "Resizing", "CenterCrop")


class _Classes:
  """The registry's classes in one Keras's ``layers`` module."""

  def __init__(self, layers, is_keras3):
    def classes(names):
      return tuple(c for c in (getattr(layers, n, None) for n in names) if c is not None)
    self.layers = layers
    overrides = _KERAS3_WEIGHTS if is_keras3 else {}
    self.weights_by_class = tuple((classes(names), overrides.get(names, weights))
                                  for names, weights in _WEIGHTS_BY_NAME if classes(names))
    self.rnn_cells = classes(_RNN_CELL_NAMES)
    self.never_pruned = classes(_NEVER_PRUNED_NAMES)
    self.weightless = classes(_WEIGHTLESS_NAMES)


_BY_KERAS = {}


def _classes(layer=None, layers=None):
  """The registry in ``layer``'s Keras (or in the ``layers`` module given): Keras 3 for a
  Keras 3 layer, else tf_keras."""
  if layers is None:
    layers = _flavour.keras3().layers if _flavour.is_keras3(layer) else keras.layers
  if id(layers) not in _BY_KERAS:
    _BY_KERAS[id(layers)] = _Classes(layers, is_keras3=layers is not keras.layers)
  return _BY_KERAS[id(layers)]


HOW_TO_MAKE_PRUNABLE = (
    "To prune it, implement tfmot.sparsity.keras.PrunableLayer (get_prunable_weights() "
    "returning the weight variables, each stored as an attribute of the layer) or subclass a "
    "supported layer; to keep it dense, wrap only the other layers (pass a list of layers, or "
    "use keras.models.clone_model with a clone_function).")


def _is_user_prunable(layer):
  # TFMOT is not imported for this (its import sets TF_USE_LEGACY_KERAS): a layer can only
  # implement its PrunableLayer if the process imported TFMOT already.
  tfmot_sparsity = _flavour.tfmot_sparsity()
  return hasattr(layer, "get_prunable_weights") or (
      tfmot_sparsity is not None and isinstance(layer, tfmot_sparsity.PrunableLayer))


def _rnn_cells(layer):
  cell = layer.cell
  if isinstance(cell, _classes(layer).layers.StackedRNNCells):
    return [(f"cell.cells.{i}", c) for i, c in enumerate(cell.cells)]
  return [("cell", cell)]


def supports(layer):
  """True if LTP knows which weights of ``layer`` to prune."""
  if _is_user_prunable(layer):
    return True
  reg = _classes(layer)
  if isinstance(layer, reg.layers.RNN):
    return all(isinstance(c, reg.rnn_cells) or _is_user_prunable(c) for _, c in _rnn_cells(layer))
  return any(isinstance(layer, classes) for classes, _ in reg.weights_by_class)


def kernel_weights(layer):
  """The trainable weights of rank >= 2 (matrices, kernels) of ``layer``, sublayers' included."""
  return [w for w in layer.trainable_weights if len(w.shape) >= 2]


def own_kernel_weights(layer):
  """``kernel_weights`` of ``layer`` that none of its sublayers holds (a block of Dense layers
  holds none of its own)."""
  inner = {id(w) for sub in _flavour.all_sublayers(layer) for w in sub.weights}
  return [w for w in kernel_weights(layer) if id(w) not in inner]


def is_left_dense(layer):
  """True for layers that have nothing to prune: normalization layers, weightless layers, and
  built layers whose trainable weights are all per-channel vectors or scalars (rank <= 1, no
  matrix or kernel: e.g. ConvNeXt's LayerScale)."""
  reg = _classes(layer)
  if isinstance(layer, reg.never_pruned + reg.weightless):
    return True
  return layer.built and not kernel_weights(layer)


def is_container(layer):
  """True for a built layer of a class LTP does not prune whose matrices and kernels all
  belong to its sublayers (a block holding Dense / Conv / attention layers and no kernel of its
  own, such as keras-hub's transformer and MBConv blocks): on Keras 3, LTP prunes inside it
  (``ltp_tf.keras3.wrapper.PruneComposite``)."""
  if _flavour.is_model(layer) or not layer.built or supports(layer) or is_left_dense(layer):
    return False
  return bool(_flavour.children(layer)) and not own_kernel_weights(layer)


def is_unsupported(layer):
  """True for a layer that may hold a matrix or kernel LTP does not know how to prune: neither
  ``supports`` nor ``is_left_dense`` (an unbuilt layer of an unknown class counts, as its
  weights are unknown). Models are containers, never unsupported themselves."""
  if _flavour.is_model(layer):
    return False
  return not supports(layer) and not is_left_dense(layer)


def unsupported_error(layer):
  return ValueError(
      f"Layer '{layer.name}' of class {type(layer).__name__} has weights that ltp_tf does not "
      f"know how to prune. {HOW_TO_MAKE_PRUNABLE} Or, to go on with every such layer left "
      "dense, pass unsupported=\"skip\" to prune_low_magnitude_learned (it warns, and "
      "sparsity_report lists them as not pruned).")


# TFMOT's wrappers, by class name (their classes are not TFMOT public API) -> what to do.
_PRUNE_WITH_LTP_FIRST = ("prune with LTP before quantization-aware training: wrap the float "
                         "model, train, ltp_tf.strip_pruning(...), then quantize_model(...)")
_TFMOT_WRAPPERS = {
    "PruneLowMagnitude": "remove TFMOT's pruning first: model = "
                         "tfmot.sparsity.keras.strip_pruning(model), then wrap it with LTP",
    "QuantizeWrapper": _PRUNE_WITH_LTP_FIRST,
    "QuantizeWrapperV2": _PRUNE_WITH_LTP_FIRST,
}


def check_not_tfmot_wrapped(layer):
  """Raises a ValueError, saying what to do, for a layer wrapped by TFMOT's pruning or QAT."""
  for cls in type(layer).__mro__:
    fix = _TFMOT_WRAPPERS.get(cls.__name__)
    if fix and cls.__module__.startswith("tensorflow_model_optimization"):
      raise ValueError(f"Layer '{layer.name}' is wrapped by TFMOT's {cls.__name__}; LTP "
                       f"wraps plain float layers only. To use LTP, {fix}.")


def _owners(layer, path):
  """The layers on ``path`` from ``layer`` to the weight (``layer`` itself included)."""
  owners, obj, base = [layer], layer, _classes(layer).layers.Layer
  for part in path.split(".")[:-1]:
    obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    if isinstance(obj, base):
      owners.append(obj)
  return owners


def check_prunable_weights(layer):
  """Raises a ValueError, naming the layer and weight, unless every prunable weight of the
  built ``layer`` is a trainable floating-point variable (unbuilt weights are not checked)."""
  for path in weight_paths(layer):
    try:
      w = resolve(layer, path)
    except (AttributeError, IndexError):
      continue
    if not hasattr(w, "dtype") or not hasattr(w, "trainable"):
      continue
    dtype = getattr(w, "true_dtype", w.dtype)
    dtype_name = getattr(dtype, "name", str(dtype))  # tf.DType (tf_keras) or str (Keras 3).
    if "float" not in dtype_name:
      raise ValueError(
          f"Layer '{layer.name}': weight '{path}' has dtype {dtype_name}; only floating-point "
          "weights can be pruned. Leave this layer out of pruning (wrap only the other "
          "layers: pass a list of layers, or use keras.models.clone_model with a "
          "clone_function), or make get_prunable_weights() return float weights only.")
    frozen = [o.name for o in _owners(layer, path) if not o.trainable]
    if frozen or not w.trainable:
      why = f"layer '{frozen[0]}' is frozen (trainable=False)" if frozen else (
          "the variable was made with trainable=False")
      raise ValueError(
          f"Layer '{layer.name}': weight '{path}' is not trainable ({why}). LTP learns each "
          "threshold together with its weights, and wrapping would silently unfreeze them. "
          "Unfreeze it (layer.trainable = True) before wrapping, or leave it out of pruning "
          "(wrap only the other layers: pass a list of layers, or use "
          "keras.models.clone_model with a clone_function).")


def resolve(root, path):
  """The object at attribute ``path`` ("a.b.0.c") of ``root``."""
  obj = root
  for part in path.split("."):
    obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
  return obj


def _find_path(root, variable, prefix="", depth=3):
  """Attribute path from ``root`` to ``variable``, searching direct attributes then sublayers."""
  sublayers, base = [], _classes(root).layers.Layer
  for name, value in vars(root).items():
    if value is variable:
      return prefix + name
    if isinstance(value, base) and depth > 0:
      sublayers.append((name, value))
  for name, sub in sublayers:
    found = _find_path(sub, variable, f"{prefix}{name}.", depth - 1)
    if found:
      return found
  return None


def _user_paths(layer, owner, prefix):
  paths = []
  for variable in owner.get_prunable_weights():
    path = _find_path(owner, variable)
    if path is None:
      raise ValueError(
          f"Layer '{layer.name}': get_prunable_weights() returned '{variable.name}', which is "
          "not stored as an attribute of the layer (or of one of its sublayers). Store each "
          "prunable weight as an attribute, e.g. self.kernel = self.add_weight(...).")
    paths.append(prefix + path)
  return paths


def weight_paths(layer):
  """Attribute paths of the prunable weights of a built ``layer``.

  Raises:
    ValueError: if the layer is not supported (names the layer and what to do).
  """
  if _is_user_prunable(layer):
    return _user_paths(layer, layer, "")
  reg = _classes(layer)
  if isinstance(layer, reg.layers.RNN) and supports(layer):
    paths = []
    for prefix, cell in _rnn_cells(layer):
      if _is_user_prunable(cell):
        paths += _user_paths(layer, cell, prefix + ".")
      else:
        paths += [f"{prefix}.{name}" for name in _RNN_CELL_WEIGHTS]
    return paths
  for classes, names in reg.weights_by_class:
    if isinstance(layer, classes):
      return list(names)
  raise unsupported_error(layer)


def supported_classes(keras_module=None):
  """Every built-in layer class the registry prunes (RNN layers: through these cells), in
  ``keras_module`` (tf_keras by default; pass Keras 3's ``keras`` for its classes)."""
  reg = _classes(layers=None if keras_module is None else keras_module.layers)
  classes = [c for group, _ in reg.weights_by_class for c in group]
  return classes + list(reg.rnn_cells)
