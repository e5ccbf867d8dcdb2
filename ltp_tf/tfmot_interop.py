"""Continue an LTP-pruned model with TFMOT: its pruning wrappers, and sparsity-preserving QAT.

``to_tfmot`` turns LTP wrappers into ``tfmot.sparsity.keras.prune_low_magnitude`` wrappers that
hold LTP's frozen masks; ``quantize_preserving_sparsity`` applies TFMOT's pruning-preserving
quantization-aware training (PQAT) to an LTP model. Both refuse, by name, the layers whose
zeros TFMOT would not keep, unless told to keep those layers as plain layers.

Only TFMOT's public API is used, plus one attribute of the wrappers that
``prune_low_magnitude`` returns: ``pruning_vars``, read in ``_tfmot_weights_and_masks`` and
pinned by ``tests/test_tfmot_interop.py``.

TFMOT is imported on first use, not with ltp_tf: its import sets ``TF_USE_LEGACY_KERAS=1``,
which would silently turn a Keras 3 user's later ``tf.keras`` into tf_keras. Both verbs are
tf_keras-only (TFMOT does not support Keras 3) and say so when handed a Keras 3 model.
"""

import warnings

import numpy as np

from ltp_tf import _flavour
from ltp_tf import prune
from ltp_tf import registry
from ltp_tf._keras import keras

_UNSUPPORTED = ("raise", "keep")
# In TFMOT 0.8's prune registry, but its wrapper fails on them with tf_keras 2.20 (pinned by
# tests/test_tfmot_interop.py): it looks up MultiHeadAttention's sublayers before they exist.
_TFMOT_CANNOT_RUN = (keras.layers.MultiHeadAttention,)

# The layer classes whose zeros TFMOT 0.8's Default8BitPrunePreserveQuantizeScheme keeps
# (exact classes, as TFMOT matches them): prune_preserve_quantize_registry.py maps Conv2D and
# Dense to a sparsity-preserving weight quantizer; it lists DepthwiseConv2D with preservation
# disabled, and every other prunable layer is not in its map.
_PQAT_PRESERVES = {keras.layers.Conv2D: ("kernel",), keras.layers.Dense: ("kernel",)}


def _tfmot():
  """TFMOT, imported on first use (see the module docstring)."""
  import tensorflow_model_optimization as tfmot  # pylint: disable=g-import-not-at-top
  return tfmot


def _check_tf_keras_model(model, verb):
  if _flavour.is_keras3(model):
    raise ValueError(
        f"{verb} works on tf_keras (Keras 2) models only: TFMOT does not support Keras 3 "
        f"(tensorflow/model-optimization#1119), and '{model.name}' is a Keras 3 model. For a "
        "Keras 3 model use ltp_tf.strip_pruning(model) and ltp_tf.export_tflite(model); to "
        "continue with TFMOT, build the model with tf_keras.")
  if not isinstance(model, keras.Model):
    raise ValueError(f"model must be a tf_keras Model, got {type(model).__name__}")


def _check_unsupported(unsupported):
  if unsupported not in _UNSUPPORTED:
    raise ValueError(f"unsupported must be one of {_UNSUPPORTED}, got {unsupported!r}")


def _report(problems, unsupported, what, keep_effect):
  """Raises for ``problems`` [(layer name, reason)], or warns that they were kept."""
  if not problems:
    return
  listing = "; ".join(f"'{name}': {reason}" for name, reason in problems)
  if unsupported == "raise":
    raise ValueError(
        f"{what} cannot keep the zeros of {len(problems)} layer(s): {listing}. Pass "
        f"unsupported='keep' to keep them as plain layers with their LTP zeros ({keep_effect}), "
        "or leave these layers out of LTP pruning (pass only the other layers to "
        "prune_low_magnitude_learned).")
  warnings.warn(f"{what}: kept as plain layers with their LTP zeros ({keep_effect}): {listing}",
                stacklevel=3)


def _schedule(sparsity, frequency):
  """TFMOT's ConstantSparsity at ``sparsity``; with ``frequency=None`` it never fires.

  ``UpdatePruningStep`` numbers the first training batch 1, so a schedule that prunes only at
  step 0 (``begin_step=end_step=0``) never recomputes the mask: LTP's mask stays as it is.
  """
  tfmot = _tfmot()
  if frequency is None:
    return tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, end_step=0)
  return tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, frequency=frequency)


def _tfmot_weights_and_masks(tfmot_wrapper):
  """[(weight variable, mask variable)] of a built ``prune_low_magnitude`` wrapper."""
  return [(weight, mask) for weight, mask, _ in tfmot_wrapper.pruning_vars]


def _learned_sparsity(ltp_wrapper):
  """Fraction of zeros over all of the wrapper's masks, below 1 as ConstantSparsity requires."""
  size = sum(int(np.prod(m.shape)) for m in ltp_wrapper.masks)
  kept = sum(int(np.count_nonzero(m.numpy())) for m in ltp_wrapper.masks)
  # A fully pruned layer: (size - 1) / size, which makes TFMOT keep one weight if it ever
  # recomputes the mask (its top-k keeps at least one).
  return min(1.0 - kept / size, (size - 1) / size) if size else 0.0


def to_tfmot(model, *, frequency=None, unsupported="raise"):
  """Converts LTP wrappers into TFMOT ``prune_low_magnitude`` wrappers holding LTP's masks.

  Each ``PruneLearnedThreshold`` becomes ``tfmot.sparsity.keras.prune_low_magnitude(layer,
  ConstantSparsity(s))`` around a copy of its layer, where ``s`` is the layer's learned
  sparsity; the copy holds the hard-pruned weights and TFMOT's mask variables hold LTP's
  frozen masks. The result runs like the hard-pruned LTP model, and trains with TFMOT's
  ``UpdatePruningStep`` (required by TFMOT), ``PruningSummaries`` and ``strip_pruning``.
  Layers LTP did not wrap are copied unchanged. ``model`` is hard-pruned first if it is still
  in the soft phase (``ltp_tf.hard_prune(model)``, which changes ``model``); otherwise it is
  not changed.

  Example::

    tfmot_model = ltp_tf.to_tfmot(ltp_model)
    tfmot_model.compile(optimizer, loss, metrics=["accuracy"])
    tfmot_model.fit(x, y, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    final = tfmot.sparsity.keras.strip_pruning(tfmot_model)

  Args:
    model: a Sequential or functional model (nested models included) with LTP wrappers,
      built.
    frequency: None (default) keeps LTP's masks fixed: the schedule is
      ``ConstantSparsity(s, begin_step=0, end_step=0)``, which never fires in training (the
      first training step is 1). An int ``N`` lets TFMOT re-select each layer's weights by
      magnitude every ``N`` steps at the layer's learned sparsity
      (``ConstantSparsity(s, begin_step=0, frequency=N)``): it keeps LTP's number of weights,
      not necessarily the same ones, since pruned weights receive gradients between mask
      updates. For a layer with several pruned tensors (RNN kernel and recurrent kernel)
      TFMOT applies the layer's overall sparsity to each, where LTP learned one per tensor.
    unsupported: what to do with wrapped layers whose LTP zeros TFMOT's wrapper would not
      keep: a class outside TFMOT's prune registry (which matches exact classes: e.g.
      EinsumDense, Conv1DTranspose, DepthwiseConv1D, subclasses of Dense), DepthwiseConv2D
      (never pruned by TFMOT), the depthwise kernel of SeparableConv1D/2D, and
      MultiHeadAttention (TFMOT's wrapper fails on it in tf_keras). ``"raise"``
      (default) raises naming them all; ``"keep"`` keeps them as plain layers holding their
      hard-pruned weights and warns: their zeros then regrow if they are trained (set
      ``layer.trainable = False`` to keep them).

  Returns:
    A new model of the same structure with TFMOT pruning wrappers; its layers and weights
    are copies.

  Raises:
    ValueError: for a bad argument, a model without LTP wrappers, an unbuilt wrapper, a
      subclassed model, or (with ``unsupported="raise"``) layers TFMOT cannot keep pruned.
  """
  if frequency is not None and (isinstance(frequency, bool) or not isinstance(frequency, int)
                                or frequency < 1):
    raise ValueError(f"frequency must be None or a positive int, got {frequency!r}")
  _check_unsupported(unsupported)
  _check_tf_keras_model(model, "to_tfmot")
  wrappers = prune.collect_wrappers(model)
  if not wrappers:
    raise ValueError(f"Model '{model.name}' has no LTP wrappers; to prune it with TFMOT alone, "
                     "use tfmot.sparsity.keras.prune_low_magnitude.")
  if prune.is_subclassed(model):
    raise ValueError(f"to_tfmot cannot rebuild subclassed model '{model.name}'. Build it as a "
                     "Sequential or functional model.")
  prune.hard_prune(model)  # Raises for an unbuilt wrapper; does nothing to hard wrappers.
  reasons = {}  # id(LTP wrapper) -> why TFMOT cannot keep its zeros
  for _ in range(2):  # A second pass only to rebuild the refused layers as plain layers.
    converted = []
    result = prune.clone_replacing_wrappers(
        model, lambda w: _convert(w, frequency, reasons, converted))
    mismatched = _mismatches(converted)
    reasons.update(mismatched)
    if not mismatched or unsupported == "raise":
      break
  _report([(w.layer.name, reasons[id(w)]) for w in wrappers if id(w) in reasons], unsupported,
          "TFMOT's prune_low_magnitude", "TFMOT will not keep those zeros while training")
  for tfmot_wrapper, ltp_wrapper in converted:
    masks = dict(zip(ltp_wrapper.weight_paths, ltp_wrapper.masks))
    by_variable = {id(registry.resolve(tfmot_wrapper.layer, path)): mask
                   for path, mask in masks.items()}
    for weight, mask in _tfmot_weights_and_masks(tfmot_wrapper):
      mask.assign(by_variable[id(weight)])
  return result


def _convert(ltp_wrapper, frequency, reasons, converted):
  """A TFMOT-wrapped copy of the wrapper's layer, or a plain copy if TFMOT cannot keep it."""
  layer = prune.unwrapped_copy(ltp_wrapper)
  if id(ltp_wrapper) in reasons:
    return layer
  if isinstance(layer, _TFMOT_CANNOT_RUN):
    reasons[id(ltp_wrapper)] = (f"TFMOT's wrapper cannot build or call {type(layer).__name__} "
                                "in tf_keras (its weights are created on the first call)")
    return layer
  schedule = _schedule(_learned_sparsity(ltp_wrapper), frequency)
  try:
    wrapped = _tfmot().sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
  except ValueError:
    reasons[id(ltp_wrapper)] = (f"{type(layer).__name__} is not in TFMOT's prune registry (it "
                                "matches exact built-in classes)")
    return layer
  converted.append((wrapped, ltp_wrapper))
  return wrapped


def _mismatches(converted):
  """{id(LTP wrapper): reason} where the built TFMOT wrapper masks other weights than LTP."""
  found = {}
  for tfmot_wrapper, ltp_wrapper in converted:
    masked = {id(weight) for weight, _ in _tfmot_weights_and_masks(tfmot_wrapper)}
    ltp = {path: id(registry.resolve(tfmot_wrapper.layer, path))
           for path in ltp_wrapper.weight_paths}
    missing = [path for path, v in ltp.items() if v not in masked]
    name = type(tfmot_wrapper.layer).__name__
    if missing:
      found[id(ltp_wrapper)] = (f"TFMOT does not mask {', '.join(missing)} of {name}, which "
                                "LTP pruned")
    elif masked - set(ltp.values()):
      found[id(ltp_wrapper)] = f"TFMOT would also prune weights of {name} that LTP left dense"
  return found


def quantize_preserving_sparsity(model, *, unsupported="raise"):
  """A quantization-aware copy of ``model`` that keeps its zeros: TFMOT's PQAT.

  Strips LTP wrappers (``ltp_tf.strip_pruning``, eq. 1) and TFMOT pruning wrappers, then
  applies ``tfmot.quantization.keras.quantize_apply(quantize_annotate_model(m),
  tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())``. The scheme records
  each Dense and Conv2D kernel's zeros when it builds the model and multiplies them back in
  every forward pass, so their gradients are 0 and the kernels' zeros survive fine-tuning
  exactly. Compile and fit the result as usual, then export it with
  ``ltp_tf.export_tflite(qat_model, quantize="int8")`` (no representative dataset needed: the
  ranges were learned).

  Example::

    qat = ltp_tf.quantize_preserving_sparsity(ltp_model)
    qat.compile(keras.optimizers.Adam(1e-4), loss, metrics=["accuracy"])
    qat.fit(x, y, epochs=1)
    tflite = ltp_tf.export_tflite(qat, "model_int8.tflite", quantize="int8")

  Args:
    model: a Sequential or functional model (not nested: TFMOT's quantization does not take
      nested models), LTP-wrapped or stripped.
    unsupported: what to do with layers holding pruned (zero) weights whose zeros the scheme
      does not keep: every prunable class but Dense and Conv2D (exact classes), e.g.
      DepthwiseConv2D. ``"raise"`` (default) raises naming them; ``"keep"`` quantizes them
      anyway and warns: their zeros regrow during fine-tuning.

  Returns:
    The quantization-aware ``keras.Model`` (not compiled).

  Raises:
    ValueError: for a bad argument, or (with ``unsupported="raise"``) layers whose zeros would
      not be kept. TFMOT raises its own error for layers it cannot quantize.
  """
  _check_unsupported(unsupported)
  _check_tf_keras_model(model, "quantize_preserving_sparsity")
  tfmot = _tfmot()
  stripped = tfmot.sparsity.keras.strip_pruning(prune.strip_pruning(model))
  problems = []
  for layer in prune.iter_layers(stripped):
    if isinstance(layer, keras.Model) or not (registry.supports(layer) and layer.built):
      continue
    preserved = _PQAT_PRESERVES.get(type(layer), ())
    zeros = [p for p in registry.weight_paths(layer)
             if p not in preserved and not np.all(registry.resolve(layer, p).numpy())]
    if zeros:
      problems.append((layer.name, f"{type(layer).__name__} weights {', '.join(zeros)} hold "
                                   "zeros that the scheme does not preserve"))
  _report(problems, unsupported, "TFMOT's Default8BitPrunePreserveQuantizeScheme",
          "their zeros regrow during quantization-aware training")
  annotated = tfmot.quantization.keras.quantize_annotate_model(stripped)
  return tfmot.quantization.keras.quantize_apply(
      annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
