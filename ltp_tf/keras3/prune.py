"""The user verbs on Keras 3 models: wrap for LTP, and strip. ``ltp_tf.prune_low_magnitude_learned``
and ``ltp_tf.strip_pruning`` dispatch here for a Keras 3 model; the verbs that only read or
drive wrappers (``collect_wrappers``, ``hard_prune``, ``sparsity_report``) are shared."""

import keras

from ltp_tf import _flavour
from ltp_tf import prune as shared
from ltp_tf import registry
from ltp_tf.keras3.wrapper import PruneComposite
from ltp_tf.keras3.wrapper import PruneLearnedThreshold


def _is_subclassed(model):
  return not isinstance(model, keras.Sequential) and not hasattr(model, "_run_through_graph")


def _check_built(model):
  """Raises, naming the first layer without weights and the fix, for an unbuilt model."""
  if model.built and getattr(model, "inputs", None) is not None:
    return
  unbuilt = [layer for layer in model.layers
             if registry.supports(layer) and not layer.built]
  name = f" (layer '{unbuilt[0].name}' has no weights yet)" if unbuilt else ""
  raise ValueError(
      f"Keras 3 model '{model.name}' is not built{name}: ltp_tf needs its weights and input "
      "shape. Start the model with keras.Input(shape=...) (Sequential: "
      "keras.Sequential([keras.Input(shape=...), ...])), or call model.build(input_shape) / "
      "the model on a batch, before pruning.")


def clone_for_wrapping(model, clone_function):
  """Keras 3 side of ``ltp_tf.prune_low_magnitude_learned``: ``model`` cloned with
  ``clone_function`` applied to each layer (``ltp_tf.prune.wrap_layers`` decides what to wrap).

  Raises:
    ValueError: for a subclassed or unbuilt model (naming it and the fix).
  """
  if _is_subclassed(model):
    raise ValueError(
        f"Model '{model.name}' is a subclassed model, which cannot be cloned. Wrap its "
        "layers with ltp_tf.keras3.wrapper.PruneLearnedThreshold(...) in its __init__.")
  _check_built(model)
  return keras.models.clone_model(model, clone_function=clone_function)


def strip(model):
  """Keras 3 side of ``ltp_tf.strip_pruning``: a plain copy with hard-pruned weights."""
  if isinstance(model, PruneLearnedThreshold):
    return shared.stripped_layer(model)
  if _is_subclassed(model):
    raise shared.subclassed_strip_error(model)
  copies = []  # (new layer, weights to load)

  def clone(layer):
    if not _flavour.is_layer(layer):  # A stateless op in the graph (x + 3.0): kept as is.
      return layer
    if isinstance(layer, keras.Model) and shared.collect_wrappers(layer):
      return strip(layer)
    if isinstance(layer, PruneLearnedThreshold):
      new = shared.unwrapped_copy(layer)
      copies.append((new, shared.pruned_layer_weights(layer)))
      return new
    if isinstance(layer, PruneComposite):
      new = shared.unwrapped_copy(layer)
      copies.append((new, _plain_weights(layer.layer)))
      return new
    return shared.fresh_copy(layer, copies, keras)

  cloned = keras.models.clone_model(model, clone_function=clone)
  for new, weights in copies:
    new.set_weights(weights)
  return cloned


def _plain_weights(block):
  """The weights of ``block`` with its wrappers inside taken out, wrapped ones hard-pruned
  (eq. 1), as NumPy, in the order of the same block's ``weights`` without them: Keras's order,
  each layer's own variables, then each tracked sublayer's, depth first, each variable once."""
  out, seen = [], set()

  def add(v, value=None):
    if id(v) not in seen:
      seen.add(id(v))
      out.append(_flavour.to_numpy(v) if value is None else value)

  def walk(layer):
    if isinstance(layer, PruneLearnedThreshold):
      for v, value in zip(layer.layer.weights, shared.pruned_layer_weights(layer)):
        add(v, value)
      return
    # pylint: disable-next=protected-access
    for v in layer._trainable_variables + layer._non_trainable_variables:
      add(v)
    for sub in layer._layers:  # pylint: disable=protected-access
      walk(sub)

  walk(block)
  return out
