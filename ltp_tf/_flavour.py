"""Which Keras an object belongs to: tf_keras (Keras 2) or Keras 3, without importing either.

ltp_tf must not change what ``keras`` and ``tf.keras`` mean in the user's process, so it never
imports Keras 3 (whose import fixes ``KERAS_BACKEND``) nor TFMOT (whose import sets
``TF_USE_LEGACY_KERAS=1``) on its own: an object can only be a Keras 3 (or TFMOT) object if
its package is already in ``sys.modules``. The public verbs call ``keras_of`` and dispatch.
"""

import sys

TF_KERAS, KERAS3 = "tf_keras", "keras3"


def keras3():
  """The Keras 3 package if the process imported it, else None (never imports it)."""
  module = sys.modules.get("keras")
  return module if module is not None and hasattr(module, "ops") else None


def tfmot_sparsity():
  """``tensorflow_model_optimization.sparsity.keras`` if TFMOT was imported, else None."""
  if "tensorflow_model_optimization" not in sys.modules:
    return None
  from tensorflow_model_optimization.sparsity import keras as tfmot_sparsity  # pylint: disable=g-import-not-at-top
  return tfmot_sparsity


def is_keras3(obj):
  """True for a Keras 3 layer, model, variable or optimizer."""
  k3 = keras3()
  if k3 is None:
    return False
  return isinstance(obj, (k3.layers.Layer, k3.Variable, k3.optimizers.Optimizer))


def is_tf_keras(obj):
  from ltp_tf._keras import keras  # pylint: disable=g-import-not-at-top
  return isinstance(obj, keras.layers.Layer)


def _items(obj):
  return list(obj) if isinstance(obj, (list, tuple)) else [obj]


def _sublayers(obj):
  """Direct sublayers of either Keras (Keras 3 tracks them in ``_layers``)."""
  if is_keras3(obj):
    found = list(getattr(obj, "_layers", []))
  else:
    found = list(getattr(obj, "layers", [])) if hasattr(obj, "layers") else []
  inner = getattr(obj, "layer", None)  # A wrapper's inner layer.
  if inner is not None:
    found.append(inner)
  # A layer of the other Keras stored as an attribute is not tracked by this one.
  found += [v for v in vars(obj).values() if is_keras3(v) or is_tf_keras(v)]
  return found


def keras_of(obj):
  """``TF_KERAS`` or ``KERAS3`` for a layer, model or list of them.

  Raises:
    ValueError: for an object of neither Keras, or one that mixes them (naming the layer of
      the other Keras and what to do).
  """
  flavours, holders, seen, stack = {}, {}, set(), [(item, None) for item in _items(obj)]
  while stack:
    item, holder = stack.pop()
    if id(item) in seen:
      continue
    seen.add(id(item))
    if is_keras3(item):
      flavour = KERAS3
    elif is_tf_keras(item):
      flavour = TF_KERAS
    else:
      continue
    flavours.setdefault(flavour, item)
    if holder is not None and holder[1] != flavour:  # Name the layer that holds the other.
      holders.setdefault(flavour, item)
      holders.setdefault(holder[1], holder[0])
    stack += [(s, (item, flavour)) for s in _sublayers(item) if id(s) not in seen]
  if len(flavours) == 2:
    flavours.update(holders)
    k2, k3 = flavours[TF_KERAS], flavours[KERAS3]
    raise ValueError(
        f"The model mixes tf_keras (Keras 2) layer '{k2.name}' ({type(k2).__name__}) and "
        f"Keras 3 layer '{k3.name}' ({type(k3).__name__}); ltp_tf prunes a model built with "
        "one Keras. Build every layer with `import keras` (Keras 3) or every layer with "
        "`import tf_keras` (Keras 2, for TFMOT interop).")
  if not flavours:
    raise ValueError(
        "Expected a Keras layer, a list of layers or a Keras model (tf_keras or Keras 3), got "
        f"{type(obj).__name__}.")
  return next(iter(flavours))


def is_layer(obj):
  """True for a layer (or model) of either Keras; False for a Keras 3 op in a functional graph."""
  k3 = keras3()
  return is_tf_keras(obj) or (k3 is not None and isinstance(obj, k3.layers.Layer))


def is_model(obj):
  """True for a model of either Keras."""
  from ltp_tf._keras import keras  # pylint: disable=g-import-not-at-top
  k3 = keras3()
  return isinstance(obj, keras.Model) or (k3 is not None and isinstance(obj, k3.Model))


def children(layer):
  """Sublayers of ``layer`` to walk, in model order: a model's ``layers``; a tf_keras layer's
  ``submodules``; a Keras 3 layer's directly tracked sublayers (Keras 3 has no public
  ``submodules``: its own ``_flatten_layers`` is used, here only)."""
  if is_model(layer):
    return list(layer.layers)
  if is_keras3(layer):
    return list(layer._flatten_layers(include_self=False, recursive=False))  # pylint: disable=protected-access
  return list(layer.submodules)


def all_sublayers(layer):
  """Every sublayer of ``layer``, at any depth (``children`` recursively), each once."""
  found, seen, stack = [], set(), children(layer)
  while stack:
    s = stack.pop()
    if id(s) in seen:
      continue
    seen.add(id(s))
    found.append(s)
    if is_keras3(s):  # tf_keras's submodules are recursive already.
      stack += children(s)
  return found


def to_numpy(x):
  """A NumPy copy of a tensor or variable of any backend (TF, JAX, torch, tf_keras)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  if hasattr(x, "detach"):  # torch (before .numpy(), which refuses a tensor that needs grad)
    x = x.detach().cpu().numpy()
  elif hasattr(x, "numpy"):
    x = x.numpy()
  return np.asarray(x)


def sync_state(model):
  """Writes the state that JAX's ``fit`` holds outside the variables during an epoch back to a
  Keras 3 ``model``'s variables (``fit`` re-reads them before its next step); a no-op for any
  other model. Call it before reading variables from a callback mid-epoch."""
  sync = getattr(model, "jax_state_sync", None)
  if sync is not None:
    sync()
