"""User verbs: wrap a model for LTP, find its wrappers, strip them, load saved models."""

import sys
import warnings

import numpy as np

from ltp_tf import _flavour
from ltp_tf import registry
from ltp_tf import soft_prune
from ltp_tf import sparsity_target
from ltp_tf import wrapper as wrapper_lib
from ltp_tf._keras import keras

PruneLearnedThreshold = wrapper_lib.PruneLearnedThreshold
keras.saving.register_keras_serializable(package="ltp_tf")(PruneLearnedThreshold)


def wrapper_types():
  """The LTP wrapper classes that exist in this process (the Keras 3 one once imported)."""
  k3 = sys.modules.get("ltp_tf.keras3.wrapper")
  return (PruneLearnedThreshold,) + ((k3.PruneLearnedThreshold,) if k3 else ())


def _keras3_verbs(obj):
  """``ltp_tf.keras3.prune`` if ``obj`` is Keras 3 (raises for a mix of both Kerases)."""
  if _flavour.keras_of(obj) != _flavour.KERAS3:
    return None
  from ltp_tf.keras3 import prune as keras3_prune  # pylint: disable=g-import-not-at-top
  return keras3_prune


def is_subclassed(model):
  """True for a subclassed model (neither Sequential nor functional), which cannot be cloned."""
  # pylint: disable-next=protected-access
  return not (isinstance(model, keras.Sequential) or model._is_graph_network)


def prune_low_magnitude_learned(to_prune, *, l0_lambda=None,
                                temperature=soft_prune.DEFAULT_TEMPERATURE,
                                threshold_lr=None, threshold_lr_ratio=None,
                                stabilized_gradient=True, regularizer=None,
                                target_sparsity=None, unsupported="raise"):
  """Wraps every prunable layer of ``to_prune`` for Learned Threshold Pruning.

  Like TFMOT's ``prune_low_magnitude``, the result shares its layers (and so its pretrained
  weights) with ``to_prune``; clone the model first if you need the original untouched.

  Example::

    model = ltp_tf.prune_low_magnitude_learned(model, l0_lambda=1e-6)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), loss=..., metrics=[...])
    model.fit(x, y, epochs=8, callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=6)])
    sparse = ltp_tf.strip_pruning(model)

    # Or land on a global sparsity: lambda is steered, the per-layer split still learned.
    model = ltp_tf.prune_low_magnitude_learned(model, target_sparsity=0.95)

  Args:
    to_prune: a layer, a list of layers, a Sequential or functional model, or a model nesting
      other models. Subclassed models: wrap their layers with ``PruneLearnedThreshold`` in
      ``__init__``.
    l0_lambda: weight of the soft L0 term (eq. 9), per kept weight (with ``"l0_fraction"``:
      per unit of a tensor's keep ratio). Default (None): 1e-6 for eq. (6), which suits small
      models trained with SGD (see the README on how to choose it); 0.1 for ``"l0_fraction"``.
      In target-sparsity mode it is only the controller's starting value.
    temperature: T0 of eq. (15).
    threshold_lr: the thresholds' learning rate (eq. 11), fixed and the same whatever the
      optimizer (default ``DEFAULT_THRESHOLD_LR`` = 7e-6); the optimizer never updates
      the thresholds (no Adam normalization, momentum, clipping, decay or loss scaling).
    threshold_lr_ratio: instead of ``threshold_lr``, r of eq. (11) as the paper wrote it:
      the thresholds learn at r times the optimizer's current learning rate.
    stabilized_gradient: eq. (14) (True) or the full gradient (False) for the weights.
    regularizer: ``"l0"`` (LTP's soft L0, eq. 6: a raw count of kept weights),
      ``"l0_fraction"`` (per tensor, the soft L0 over the tensor's size: every layer's keep
      ratio weighs the same) or ``"l2"`` (ablation: squared soft-pruned weights). Default
      (None): ``"l0_fraction"`` with ``target_sparsity`` and no ``l0_lambda`` (level with or
      ahead of eq. 6 on all but one benchmark network, BENCHMARKS.md), else ``"l0"``, the
      paper's; ``regularizer="l0"`` with ``target_sparsity`` is the paper's exact algorithm.
    target_sparsity: a global sparsity in [0, 1) to land on: ``LTPPruningSchedule`` then
      steers ``l0_lambda`` (starting from the value given here) during soft pruning so that
      the global sparsity follows a ramp to this target; the per-layer split is still learned.
      None: ``l0_lambda`` stays fixed.
    unsupported: what to do with a layer of a class LTP does not know how to prune that holds
      a matrix or kernel (a trainable weight of rank >= 2): ``"raise"`` (a ValueError naming
      it) or ``"skip"`` (leave it dense; one ``UserWarning`` lists every such layer, and
      ``sparsity_report`` lists them under ``not_pruned``).

  Returns:
    The same kind of object with every prunable layer wrapped in ``PruneLearnedThreshold``;
    layers without prunable weights (normalization, pooling, layers whose weights are all
    per-channel vectors such as ConvNeXt's LayerScale, ...) are left as they are.

  Raises:
    ValueError: for a bad argument, a subclassed model, a layer with weights that LTP does
      not know how to prune (unless ``unsupported="skip"``), a frozen layer or one with
      non-float prunable weights, or a layer wrapped by TFMOT (the message names the layer
      and what to do). ``to_prune`` is never modified, also when this raises.
  """
  params = dict(l0_lambda=l0_lambda, temperature=temperature,
                threshold_lr_ratio=threshold_lr_ratio, stabilized_gradient=stabilized_gradient,
                regularizer=regularizer, target_sparsity=target_sparsity,
                threshold_lr=threshold_lr)
  wrapper_lib.validate_arguments(**params)
  if unsupported not in _UNSUPPORTED:
    raise ValueError(f"unsupported must be one of {_UNSUPPORTED}, got {unsupported!r}.")
  keras3_verbs = _keras3_verbs(to_prune) if not isinstance(to_prune, keras.layers.Layer) else None
  if keras3_verbs is not None:
    wrapper_cls, clone_model = keras3_verbs.PruneLearnedThreshold, keras3_verbs.clone_for_wrapping
    composite_cls = keras3_verbs.PruneComposite
  elif isinstance(to_prune, (list, tuple, keras.layers.Layer)):
    wrapper_cls, clone_model = PruneLearnedThreshold, _clone_for_wrapping
    composite_cls = None  # tf_keras: a block of prunable layers is an unsupported layer.
  else:
    raise ValueError("to_prune must be a Keras layer, a list of layers or a Keras model, got "
                     f"{type(to_prune).__name__}.")
  return wrap_layers(to_prune, wrapper_cls, clone_model, params, unsupported,
                     composite_cls)


def _clone_for_wrapping(model, clone_function):
  """tf_keras: ``model`` cloned with ``clone_function`` applied to each layer."""
  if is_subclassed(model):
    raise ValueError(
        f"Model '{model.name}' is a subclassed model, which cannot be cloned. Wrap its "
        "layers with ltp_tf.PruneLearnedThreshold(...) in its __init__ instead.")
  return keras.models.clone_model(model, clone_function=clone_function)


def wrap_layers(to_prune, wrapper_cls, clone_model, params, unsupported, composite_cls=None):
  """The registry's rules, for either Keras: every layer of ``to_prune`` that LTP prunes is
  wrapped in ``wrapper_cls(layer, **params)``, models through ``clone_model(model,
  clone_function)``; layers with nothing to prune stay; a block holding prunable layers and no
  kernel of its own becomes ``composite_cls`` (Keras 3: its layers wrapped inside it);
  unsupported ones raise, or with ``unsupported="skip"`` stay dense with one warning."""
  skipped = []  # Unsupported layers left dense with unsupported="skip".

  def wrap(layer):
    if _flavour.is_model(layer):
      return clone_model(layer, wrap)
    if isinstance(layer, wrapper_types()) or (composite_cls is not None and
                                              isinstance(layer, composite_cls)):
      return layer
    if composite_cls is not None and _flavour.is_layer(layer) and registry.is_container(layer):
      composite = composite_cls.wrapping(layer, params, unsupported)
      skipped.extend(composite.skipped)
      return composite
    return wrap_layer(layer, wrapper_cls, params, unsupported, skipped)

  if isinstance(to_prune, (list, tuple)):
    result = [wrap(layer) for layer in to_prune]
  else:
    result = wrap(to_prune)
  if skipped:
    _warn_skipped(skipped)
  return result


def wrap_layer(layer, wrapper_cls, params, unsupported, skipped):
  """What LTP makes of one layer that is not a model: ``wrapper_cls(layer, **params)`` if the
  registry knows its weights; itself if it is a wrapper already, not a layer (a Keras 3 op in a
  functional graph, x + 3.0) or has nothing to prune; else a ValueError naming it, or with
  ``unsupported="skip"`` itself, appended to ``skipped``."""
  if isinstance(layer, wrapper_types()) or not _flavour.is_layer(layer):
    return layer
  registry.check_not_tfmot_wrapped(layer)
  if registry.supports(layer):
    return wrapper_cls(layer, **params)
  if registry.is_left_dense(layer):
    return layer
  if unsupported == "raise":
    raise registry.unsupported_error(layer)
  skipped.append(layer)
  return layer


_UNSUPPORTED = ("raise", "skip")


def _warn_skipped(layers):
  listed = ", ".join(f"'{l.name}' ({type(l).__name__})" for l in layers)
  warnings.warn(
      f"prune_low_magnitude_learned(unsupported=\"skip\"): left {len(layers)} layer(s) "
      f"dense, as ltp_tf does not know how to prune their weights: {listed}. "
      f"sparsity_report(model).not_pruned lists them. {registry.HOW_TO_MAKE_PRUNABLE}",
      UserWarning, stacklevel=3)


def iter_layers(obj):
  """Every layer in ``obj`` (a layer, model or list), depth first, in model order.

  Models are walked through ``.layers`` (which keeps their order, also for subclassed
  models); other layers through ``submodules``. A wrapper's inner layer is not yielded.
  """
  seen = set()

  def walk(layer):
    if id(layer) in seen:
      return
    seen.add(id(layer))
    yield layer
    if isinstance(layer, wrapper_types()):
      return
    for child in _flavour.children(layer):
      if _flavour.is_tf_keras(child) or _flavour.is_keras3(child):
        yield from walk(child)

  for item in (obj if isinstance(obj, (list, tuple)) else [obj]):
    yield from walk(item)


def collect_wrappers(model):
  """Every ``PruneLearnedThreshold`` in ``model``, nested and subclassed models included."""
  return [m for m in iter_layers(model) if isinstance(m, wrapper_types())]


def hard_prune(model, target_sparsity=None):
  """Freezes the masks of every wrapper in ``model`` (eq. 1) and enters the hard phase.

  With ``target_sparsity`` (target-sparsity mode), the soft-phase thresholds are first moved
  so that the global sparsity equals the target: every threshold is multiplied by one factor
  (``sparsity_target.landing_scale``: a global magnitude prune in units of each tensor's
  learned threshold), which keeps the ratios between thresholds as LTP learned them and moves
  each by only as much as training missed the target by. If some threshold is still 0 and
  scaling cannot land, every tensor's kept count is multiplied by one factor instead
  (``sparsity_target.landing_counts``).

  Example::

    ltp_tf.hard_prune(model)                          # masks from the learned thresholds
    ltp_tf.hard_prune(model, target_sparsity=0.95)    # ... landed on 95 % exactly

  Returns:
    None, or with ``target_sparsity`` a dict: ``sparsity_before`` (from the learned
    thresholds), ``thresholds_before`` and ``thresholds`` (every tau before and after the
    landing) and ``sparsity`` (after landing).

  A tensor whose weights are all pruned is reported with a ``RuntimeWarning`` (a layer with
  100 % sparsity passes no signal); ``sparsity_report(model).fully_pruned`` lists them.

  Raises:
    ValueError: for a target outside [0, 1), a model with wrappers already hard-pruned
      (their masks are frozen and cannot land), or wrappers not built yet.
    FloatingPointError: if a threshold or pruned weight is NaN or Inf (it names them).
    Nothing is pruned when it raises.
  """
  wrappers = collect_wrappers(model)
  unbuilt = [w.name for w in wrappers if not w._ltp_built]  # pylint: disable=protected-access
  if unbuilt:
    raise ValueError(f"hard_prune: wrappers {unbuilt} are not built yet (a subclassed model "
                     "builds its layers in its first call); call the model on a batch first. "
                     "Nothing was pruned.")
  from ltp_tf import report  # pylint: disable=g-import-not-at-top  (report imports this module)
  bad = report.non_finite(wrappers)
  if bad:  # NaN thresholds or weights would freeze all-zero masks without a word.
    raise FloatingPointError(f"hard_prune: non-finite values in {'; '.join(bad)}; training "
                             "diverged. Nothing was pruned.")
  landing = None
  if target_sparsity is not None:
    sparsity_target.check_target_sparsity(target_sparsity)
    landing = _land(wrappers, target_sparsity)
  for w in wrappers:
    w.hard_prune()
  warn_if_fully_pruned(wrappers, "hard_prune")
  return landing


def warn_if_fully_pruned(model, who):
  """Warns (``RuntimeWarning``) naming every wrapped tensor of ``model`` whose weights are
  all pruned; returns their ``"layer/weight"`` names."""
  from ltp_tf import report  # pylint: disable=g-import-not-at-top  (report imports this module)
  names = report.sparsity_report(collect_wrappers(model)).fully_pruned
  if names:
    listed = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    warnings.warn(
        f"{who}: LTP pruned EVERY weight of {listed}. A layer with 100 % sparsity "
        "passes no signal (its output is its bias alone), which usually ruins the network. "
        "Lower l0_lambda (or use target_sparsity=...) and prune again from the dense "
        "weights; sparsity_report(model).fully_pruned lists these tensors.",
        RuntimeWarning, stacklevel=3)
  return names


def _land(wrappers, target):
  """Sets every threshold so that the global sparsity is ``target``; returns what it did."""
  if any(w.is_hard for w in wrappers):
    raise ValueError("hard_prune(target_sparsity=...): some wrappers are already hard-pruned "
                     f"({[w.name for w in wrappers if w.is_hard]}); their masks are frozen.")
  squares, kept = [], []
  before = [float(tau) for w in wrappers for tau in w.thresholds]
  for w in wrappers:
    for v, tau in zip(w.pruned_variables, w.thresholds):
      squares.append(np.square(_flavour.to_numpy(v).astype(np.float32)).ravel())
      kept.append(int(np.count_nonzero(squares[-1] > float(tau))))
  sizes = [s.size for s in squares]
  scale = sparsity_target.landing_scale(squares, before, target)
  if scale is not None:  # Every threshold times one factor: the learned split is kept.
    new = [scale * tau if tau > 0 else 0.0 for tau in before]
  else:  # Some thresholds never left 0: every tensor's kept count times one factor instead.
    new = [sparsity_target.threshold_for_count(s, c) for s, c in
           zip(squares, sparsity_target.landing_counts(kept, sizes, target))]
  taus = iter(new)
  for w in wrappers:
    for theta in w._theta:  # pylint: disable=protected-access
      theta.assign(next(taus) / w.threshold_scale)
  total = max(sum(sizes), 1)
  return {"sparsity_before": 1.0 - sum(kept) / total,
          "thresholds_before": before,
          "thresholds": [float(tau) for w in wrappers for tau in w.thresholds],
          "sparsity": 1.0 - sum(int(np.count_nonzero(s > float(t))) for s, t in zip(
              squares, [t for w in wrappers for t in w.thresholds])) / total}


def strip_pruning(model):
  """A copy of ``model`` without wrappers, weights hard-pruned by eq. (1).

  The copy has the original architecture and layer names and loads with no custom objects.
  Its weights are copies: stripping does not change ``model``. A model without wrappers is
  returned unchanged (the same object).

  Warns (``RuntimeWarning``) when a tensor's weights are all pruned: a layer with 100 %
  sparsity passes no signal. ``sparsity_report(model).fully_pruned`` lists them.

  Raises:
    ValueError: for a subclassed model with wrappers (rebuild it as a functional model).
  """
  if not collect_wrappers(model):
    return model
  warn_if_fully_pruned(model, "strip_pruning")
  keras3_verbs = _keras3_verbs(model)
  if keras3_verbs is not None:
    return keras3_verbs.strip(model)
  return _strip(model)


def _strip(model):
  if isinstance(model, PruneLearnedThreshold):
    return stripped_layer(model)
  if is_subclassed(model):
    raise subclassed_strip_error(model)
  return clone_replacing_wrappers(model, unwrapped_copy)


def subclassed_strip_error(model):
  return ValueError(
      f"strip_pruning cannot rebuild subclassed model '{model.name}'. Build the model as a "
      "Sequential or functional model, or read each wrapper's pruned_weights().")


def unwrapped_copy(wrapper):
  """A new, unbuilt layer with the configuration of the layer inside ``wrapper``."""
  return wrapper.layer.__class__.from_config(wrapper.layer.get_config())


def clone_replacing_wrappers(model, replace):
  """A copy of Sequential or functional ``model`` with each wrapper replaced by ``replace``.

  ``replace(wrapper)`` returns a new layer whose ``set_weights`` takes the wrapped layer's
  weights; they are loaded hard-pruned (eq. 1) after cloning. Other layers are copied with
  their weights, nested models recursively. ``model`` is not changed.
  """
  copies = []  # (new layer, weights to load)

  def clone(layer):
    if isinstance(layer, keras.Model):
      if collect_wrappers(layer):
        return clone_replacing_wrappers(layer, replace)
      return fresh_copy(layer, copies)
    if isinstance(layer, PruneLearnedThreshold):
      new = replace(layer)
      copies.append((new, pruned_layer_weights(layer)))
      return new
    return fresh_copy(layer, copies)

  cloned = keras.models.clone_model(model, clone_function=clone)
  for new, weights in copies:
    new.set_weights(weights)
  return cloned


def fresh_copy(layer, copies, k=keras):
  """A new ``layer`` (a model: cloned) of Keras module ``k``, its weights queued in ``copies``
  for ``set_weights`` once the clone is built (both Kerases' ``strip_pruning``).

  A layer with nothing pruned that cannot be rebuilt from its own config (a bug of its class,
  e.g. keras-hub 0.32's ``ViTPatchingAndEmbedding``, whose config has keys its constructor
  refuses) is not copied: the stripped model shares it, with a ``UserWarning`` naming it.
  """
  try:
    if isinstance(layer, k.Model):
      new = k.models.clone_model(layer)
    else:
      new = layer.__class__.from_config(layer.get_config())
  except (TypeError, ValueError, NotImplementedError) as e:
    warnings.warn(
        f"strip_pruning: layer '{layer.name}' ({type(layer).__name__}) cannot be rebuilt from "
        f"its config ({type(e).__name__}: {str(e).splitlines()[-1][:200]}), so the stripped "
        "model shares it (and its weights) with the pruned one. LTP pruned nothing in it.",
        UserWarning, stacklevel=4)
    return layer
  copies.append((new, layer.get_weights()))
  return new


def pruned_layer_weights(wrapper):
  """The weights of the wrapper's layer (either Keras), pruned ones hard-pruned, as NumPy."""
  pruned = {id(v): _flavour.to_numpy(p)
            for v, p in zip(wrapper.pruned_variables, wrapper.pruned_weights())}
  return [pruned.get(id(v), _flavour.to_numpy(v)) for v in wrapper.layer.weights]


def stripped_layer(wrapper):
  """A built copy of the wrapper's layer holding its hard-pruned weights (eq. 1)."""
  new = unwrapped_copy(wrapper)
  new.build_from_config(wrapper.layer.get_build_config())
  new.set_weights(pruned_layer_weights(wrapper))
  return new


def prune_scope():
  """Custom-object scope for loading saved models that contain LTP wrappers.

  Example::

    with ltp_tf.prune_scope():
      model = keras.models.load_model("pruned.h5")
  """
  return keras.utils.custom_object_scope({"PruneLearnedThreshold": PruneLearnedThreshold})
