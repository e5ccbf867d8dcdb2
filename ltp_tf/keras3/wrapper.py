"""The Keras 3 wrapper that prunes a layer's weights with learned thresholds, on any backend.

The Keras 3 twin of ``ltp_tf.wrapper.PruneLearnedThreshold``, with the same state per pruned
weight ``w`` (``<w>_threshold_param`` theta with ``tau = threshold_scale * theta``,
``<w>_temperature``, ``<w>_mask``, ``<w>_frozen_threshold``) and per wrapper (``phase``,
``l0_lambda``), plus two counters that let the soft -> hard switch happen inside the train
step, with no callback assigning variables mid-epoch (which JAX's ``fit``, holding the state
outside the variables during an epoch, overwrites unless the callback syncs it first):

  * ``step``: training calls seen (one per train step), set to the optimizer's iteration
    count by ``LTPPruningSchedule`` at the start of ``fit``;
  * ``hard_at_step``: the step at which to switch (``-1``: never), set by the schedule.

In the training call where ``step == hard_at_step`` the masks are frozen from the current
thresholds (eq. 1), the thresholds are frozen, ``phase`` becomes hard, and that step already
runs hard-pruned: the same as a host-side ``hard_prune()`` between the two steps.

The inner layer runs on the substituted weights through ``keras.StatelessScope``: no attribute
of the layer is touched, so any layer whose prunable weights are variables works the same way
on every backend.
"""

import copy
import inspect

import keras
import numpy as np
from keras import ops

from ltp_tf import _flavour
from ltp_tf import registry
from ltp_tf import threshold_update
from ltp_tf import wrapper as tf_keras_wrapper
from ltp_tf.keras3 import soft_prune

SOFT, HARD = tf_keras_wrapper.SOFT, tf_keras_wrapper.HARD
THRESHOLD_PARAM_NAME = tf_keras_wrapper.THRESHOLD_PARAM_NAME


@keras.saving.register_keras_serializable(package="ltp_tf")
class PruneLearnedThreshold(tf_keras_wrapper.WrapperCommon, keras.layers.Wrapper):
  """Prunes the weights of a Keras 3 ``layer`` with learned per-tensor thresholds (LTP).

  Same arguments, defaults and behaviour as ``ltp_tf.PruneLearnedThreshold`` (see there):
  ``tau = threshold_scale * theta``, and theta learns by eq. (11) at ``threshold_lr`` (fixed,
  default ``DEFAULT_THRESHOLD_LR``) or ``threshold_lr_ratio`` times the optimizer's rate,
  never by the optimizer.
  Add ``ltp_tf.LTPPruningSchedule`` to ``fit``'s callbacks: it switches soft -> hard inside the
  train step and installs the thresholds' step on the optimizer (``ltp_tf.keras3.optimizer``).

  Raises:
    ValueError: for a bad argument, a layer whose prunable weights are unknown, or a LoRA
      or quantized layer.
  """

  def __init__(self, layer, l0_lambda=None,
               temperature=soft_prune.DEFAULT_TEMPERATURE,
               threshold_lr_ratio=None, stabilized_gradient=True, regularizer=None,
               target_sparsity=None, threshold_lr=None, **kwargs):
    if not isinstance(layer, keras.layers.Layer):
      raise ValueError(f"PruneLearnedThreshold needs a Keras layer, got {layer!r}.")
    if isinstance(layer, PruneLearnedThreshold):
      raise ValueError(f"Layer '{layer.name}' is already wrapped by PruneLearnedThreshold; "
                       "wrap each layer once.")
    if not registry.supports(layer):
      raise registry.unsupported_error(layer)
    _check_plain_float(layer)
    tf_keras_wrapper.validate_arguments(l0_lambda, temperature, threshold_lr_ratio,
                                        stabilized_gradient, regularizer, target_sparsity,
                                        threshold_lr)
    if layer.built:
      registry.check_prunable_weights(layer)
    kwargs.setdefault("name", f"ltp_{layer.name}")
    # Mixed precision: the wrapper computes in the variables' dtype (float32), so the pruned
    # weights, thresholds and eq. (2)'s sigmoid are float32 (as on tf_keras, which reads the
    # master weights); the inner layer casts the pruned weights to its compute dtype itself.
    kwargs.setdefault("dtype", layer.dtype_policy.variable_dtype)
    super().__init__(layer, **kwargs)
    self._l0_lambda_init, self.regularizer = tf_keras_wrapper.resolve_regularizer(
        l0_lambda, regularizer, target_sparsity)
    self.temperature = float(temperature)
    self.threshold_lr, self.threshold_lr_ratio, self.threshold_scale = (
        tf_keras_wrapper.threshold_rate(threshold_lr, threshold_lr_ratio))
    self.stabilized_gradient = stabilized_gradient
    self.target_sparsity = None if target_sparsity is None else float(target_sparsity)
    self._ltp_built = False
    params = inspect.signature(layer.call).parameters
    self._layer_takes_training = "training" in params
    self._first_param = next(iter(params), None)
    self.supports_masking = layer.supports_masking

  # --- Building -------------------------------------------------------------------------

  def build(self, input_shape=None):
    if not self.layer.built:
      self.layer.build(input_shape)
    if not self._ltp_built:
      self._build_ltp()
    self.built = True

  def _build_ltp(self):
    try:
      paths = registry.weight_paths(self.layer)
      variables = [registry.resolve(self.layer, p) for p in paths]
    except (AttributeError, IndexError) as e:
      raise ValueError(
          f"Layer '{self.layer.name}' ({type(self.layer).__name__}) has not created its "
          "weights after build(); on Keras 3, ltp_tf wraps layers whose weights exist once "
          "built from an input shape.") from e
    registry.check_prunable_weights(self.layer)
    self.weight_paths, self.pruned_variables = paths, variables
    self._theta, self._temperature, self._mask, self._frozen = [], [], [], []
    for path, w in zip(paths, variables):
      prefix = path.replace(".", "_").lstrip("_")
      theta = self.add_weight(shape=(), name=f"{prefix}_{THRESHOLD_PARAM_NAME}",
                              initializer="zeros", dtype="float32", trainable=True,
                              constraint=keras.constraints.NonNeg(), autocast=False)
      # Trainable, for its gradient; stepped by eq. (11), never by the optimizer.
      self._theta.append(threshold_update.mark(theta, self.threshold_scale,
                                               lr=self.threshold_lr,
                                               ratio=self.threshold_lr_ratio))
      # Eq. (15) from the weights, as an initializer: a model built inside a stateless scope
      # (JAX's symbolic build of a subclassed model) initializes it after the weights.
      self._temperature.append(self.add_weight(
          shape=(), name=f"{prefix}_temperature", dtype="float32", trainable=False,
          autocast=False,
          initializer=lambda shape, dtype=None, w=w: soft_prune.temperature(w.value,
                                                                            self.temperature)))
      self._mask.append(self.add_weight(shape=w.shape, name=f"{prefix}_mask",
                                        initializer="ones", dtype=w.dtype, trainable=False,
                                        autocast=False))
      self._frozen.append(self.add_weight(shape=(), name=f"{prefix}_frozen_threshold",
                                          initializer="zeros", dtype="float32",
                                          trainable=False, autocast=False))
    self.phase = self.add_weight(shape=(), name="phase", initializer="zeros", dtype="int32",
                                 trainable=False)
    self.l0_lambda = self.add_weight(
        shape=(), name="l0_lambda", dtype="float32", trainable=False, autocast=False,
        initializer=keras.initializers.Constant(self._l0_lambda_init))
    self.step = self.add_weight(shape=(), name="step", initializer="zeros", dtype="int32",
                                trainable=False)
    self.hard_at_step = self.add_weight(shape=(), name="hard_at_step", dtype="int32",
                                        initializer=keras.initializers.Constant(-1),
                                        trainable=False)
    # Keras 3 keeps a list attribute in its own TrackedList, which TensorFlow's object graph
    # does not see: without an attribute each, tf.train.Checkpoint would save none of these.
    for var in self._theta + self._temperature + self._mask + self._frozen:
      setattr(self, f"_ltp_{var.name}", var)
    self._ltp_built = True

  # --- The pruned forward pass ----------------------------------------------------------

  def _soft_thresholds(self):
    """tau = threshold_scale * theta per weight (eq. 11 reparameterization)."""
    return [soft_prune.threshold_from_param(t.value, self.threshold_scale)
            for t in self._theta]

  def _soft(self, ws, taus):
    outs = [soft_prune.soft_prune_and_l0(w, tau, t.value, self.stabilized_gradient)
            for w, tau, t in zip(ws, taus, self._temperature)]
    vs = [v for v, _ in outs]
    if self.regularizer == "l2":
      penalty = sum(ops.sum(ops.square(ops.cast(v, "float32"))) for v in vs)
    elif self.regularizer == "l0_fraction":  # Keep ratios: every tensor weighs the same.
      penalty = sum(l0 / float(np.prod(w.shape)) for (_, l0), w in zip(outs, ws))
    else:
      penalty = sum(l0 for _, l0 in outs)
    return vs, ops.cast(penalty, "float32")

  def _hard(self, ws, masks):
    return [w * ops.cast(m, w.dtype) for w, m in zip(ws, masks)], ops.zeros((), "float32")

  def __call__(self, *args, **kwargs):
    # The inner layer's first input given by its own name (a block calling
    # ``mha(query=x, value=x)``) is this wrapper's ``inputs``.
    if not args and self._first_param in kwargs:
      args = (kwargs.pop(self._first_param),)
    return super().__call__(*args, **kwargs)

  def call(self, inputs, *args, training=None, **kwargs):
    # *args: the inner layer's other positional inputs (MultiHeadAttention's value, key).
    ws = [w.value for w in self.pruned_variables]
    taus = self._soft_thresholds()
    masks = [m.value for m in self._mask]
    phase = self.phase.value
    if training:
      # The soft -> hard switch, decided in the step (see the module docstring).
      step, hard_at = self.step.value, self.hard_at_step.value
      switch = ops.logical_and(ops.logical_and(ops.greater_equal(hard_at, 0),
                                               ops.greater_equal(step, hard_at)),
                               ops.equal(phase, SOFT))
      masks = [ops.cond(switch, lambda w=w, tau=tau: soft_prune.hard_mask(w, tau),
                        lambda m=m: m) for w, tau, m in zip(ws, taus, masks)]
      frozen = [ops.where(switch, ops.stop_gradient(tau), f.value)
                for tau, f in zip(taus, self._frozen)]
      phase = ops.where(switch, HARD, phase)
      for var, value in zip(self._mask + self._frozen, masks + frozen):
        var.assign(value)
      self.phase.assign(phase)
      self.step.assign(step + 1)
    tensors, penalty = ops.cond(ops.equal(phase, HARD), lambda: self._hard(ws, masks),
                                lambda: self._soft(ws, taus))
    self.add_loss(self.l0_lambda.value * penalty)
    if self._layer_takes_training:
      kwargs["training"] = training
    return self._call_with(tensors, inputs, *args, **kwargs)

  def _call_with(self, tensors, inputs, *args, **kwargs):
    """Calls the inner layer with ``tensors`` in place of its pruned variables."""
    pruned = {id(v) for v in self.pruned_variables}
    others = [v for v in self.layer.variables if id(v) not in pruned]
    before = {id(v): v.value for v in others}
    mapping = list(zip(self.pruned_variables, tensors)) + [(v, before[id(v)]) for v in others]
    with keras.StatelessScope(state_mapping=mapping, collect_losses=True,
                              initialize_variables=False) as scope:
      outputs = self.layer(inputs, *args, **kwargs)
    for v in others:  # The inner layer's own state updates, if any, go to the real scope.
      value = scope.get_current_value(v)
      if value is not before[id(v)]:
        v.assign(value)
    for loss in scope.losses:  # Its own losses (e.g. an activity regularizer).
      self.layer.add_loss(loss)
    return outputs

  def compute_output_shape(self, input_shape):
    return self.layer.compute_output_shape(input_shape)

  def compute_output_spec(self, *args, **kwargs):
    kwargs.pop("training", None)
    return self.layer.compute_output_spec(*args, **kwargs)

  # --- What users and callbacks read and drive (outside the train step) ---------------------

  @property
  def thresholds(self):
    """The current thresholds tau (float32 scalars), one per pruned weight."""
    hard = self.is_hard
    return _detached([f.value if hard else tau
                      for tau, f in zip(self._soft_thresholds(), self._frozen)])

  @property
  def is_hard(self):
    return self._ltp_built and int(ops.convert_to_numpy(self.phase.value)) == HARD

  def soft_l0(self):
    """Sum over this wrapper's weights of the soft L0 of eq. (6)."""
    return _detached([sum(soft_prune.soft_l0(w.value, tau, t.value) for w, tau, t in zip(
        self.pruned_variables, self._soft_thresholds(), self._temperature))])[0]

  def pruned_weights(self):
    """The hard-pruned weights: eq. (1) in the soft phase, ``w * mask`` in the hard phase."""
    if self.is_hard:
      return _detached(self._hard([w.value for w in self.pruned_variables],
                                  [m.value for m in self._mask])[0])
    return _detached([soft_prune.hard_prune(w.value, tau)
                      for w, tau in zip(self.pruned_variables, self._soft_thresholds())])

  def hard_prune(self):
    """Freezes the masks from the learned thresholds (eq. 1) and enters the hard phase."""
    if not self._ltp_built:
      raise ValueError(f"Wrapper '{self.name}' is not built yet; call the model once first.")
    if self.is_hard:
      return
    for w, m, frozen, tau in zip(self.pruned_variables, self._mask, self._frozen,
                                 self._soft_thresholds()):
      m.assign(soft_prune.hard_mask(w.value, tau))
      frozen.assign(tau)
    self.phase.assign(HARD)
    self.apply_masks()

  def apply_masks(self):
    """Re-zeroes pruned weights in the variables (the forward pass masks them regardless)."""
    if self.is_hard:
      for w, m in zip(self.pruned_variables, self._mask):
        w.assign(w.value * ops.cast(m.value, w.dtype))

  def calibrate_temperatures(self):
    """Recomputes each temperature from the current weights, eq. (15)."""
    for w, t in zip(self.pruned_variables, self._temperature):
      t.assign(soft_prune.temperature(w.value, self.temperature))

  @classmethod
  def from_config(cls, config, custom_objects=None):
    # Keras' Wrapper.from_config pops "layer" from the dict it is given: leave the caller's.
    return super().from_config(copy.deepcopy(config), custom_objects)


@keras.saving.register_keras_serializable(package="ltp_tf")
class PruneComposite(keras.layers.Wrapper):
  """A block of prunable layers (a layer holding Dense / Conv / attention sublayers and no
  kernel of its own, e.g. keras-hub's transformer and MBConv blocks) with every layer inside it
  that LTP prunes wrapped in ``PruneLearnedThreshold``, at any depth.

  ``prune_low_magnitude_learned`` makes one from a copy of the block (``wrapping``): the
  user's model is not changed. The block's own code runs as written; each attribute (or list,
  tuple or dict item) of it that held a prunable layer holds that layer's wrapper instead, and
  blocks nested in it are treated the same way in place. A prunable layer the block holds
  where it cannot be replaced (anywhere but an attribute or such a container) raises, as an
  unsupported layer does, or with ``unsupported="skip"`` stays dense, listed in ``skipped``.
  Saved as the block's own config plus the LTP arguments; loading builds the block and wraps
  inside it again, so ``.keras`` files round-trip. ``strip_pruning`` gives back the block's
  own class, hard-pruned.

  Args:
    layer: the block (built, or unbuilt when loading).
    ltp_params: the keyword arguments of every ``PruneLearnedThreshold`` made inside it.
    unsupported: ``"raise"`` or ``"skip"``, as for ``prune_low_magnitude_learned``.
  """

  def __init__(self, layer, ltp_params=None, unsupported="raise", **kwargs):
    kwargs.setdefault("name", "ltp_" + layer.name)
    super().__init__(layer, **kwargs)
    self.ltp_params = dict(ltp_params or {})
    self.unsupported = unsupported
    self.skipped = []
    self._inside = False
    if layer.built:  # Loading: Keras built the block from its build config, maybe not all of it.
      _build_fully(layer, layer.get_build_config())
      self._wrap_inside()
      self.built = True

  @classmethod
  def wrapping(cls, layer, ltp_params, unsupported):
    """A ``PruneComposite`` of a built copy of ``layer`` holding ``layer``'s weights."""
    try:
      block = layer.__class__.from_config(layer.get_config())
      _build_fully(block, layer.get_build_config())
      block.set_weights(layer.get_weights())
    except Exception as e:  # pylint: disable=broad-except
      raise ValueError(
          f"Layer '{layer.name}' of class {type(layer).__name__} holds prunable layers, which "
          "ltp_tf prunes inside a copy of it, but it cannot be copied (from_config, "
          f"build_from_config, set_weights): {type(e).__name__}: {e}. Give it a get_config() "
          "and a build() that creates its sublayers' weights, or pass unsupported=\"skip\" "
          "to leave it dense.") from e
    return cls(block, ltp_params, unsupported)

  def _wrap_inside(self):
    from ltp_tf import prune  # pylint: disable=g-import-not-at-top  (prune imports this module)
    self.skipped = []

    def replacer(scope):
      def replace(sub):
        if not sub.built or isinstance(sub, PruneLearnedThreshold):
          return sub  # Unbuilt: never called by the block (an optional branch), no weights.
        if registry.is_container(sub):
          _replace_sublayers(sub, replacer(f"{scope}/{sub.name}"))
          return sub
        new = prune.wrap_layer(sub, PruneLearnedThreshold, self.ltp_params, self.unsupported,
                               self.skipped)
        if isinstance(new, PruneLearnedThreshold):
          new._ltp_label = f"{scope}/{sub.name}"  # pylint: disable=protected-access
        return new
      return replace

    _replace_sublayers(self.layer, replacer(self.layer.name))
    below = _flavour.all_sublayers(self.layer)
    wrapped = [l for l in below if isinstance(l, PruneLearnedThreshold)]
    inside = {id(x) for w in wrapped for x in [w.layer] + _flavour.all_sublayers(w.layer)}
    skipped = {id(x) for l in self.skipped for x in [l] + _flavour.all_sublayers(l)}
    missed = [l for l in below if id(l) not in inside | skipped
              and not isinstance(l, PruneLearnedThreshold) and l.built and registry.supports(l)]
    # A wrapper the block's call does not go through (it reaches the layer some other way):
    # its layer would run unpruned while LTP learned nothing for it.
    bypassed = [w for w in wrapped if w not in _called_wrappers(self.layer, wrapped)]
    if bypassed:
      _restore(self.layer, bypassed)
      missed += [w.layer for w in bypassed]
    if missed:
      if self.unsupported == "raise":
        raise ValueError(
            f"Layer '{self.layer.name}' of class {type(self.layer).__name__} holds prunable "
            f"layer(s) {[l.name for l in missed]} where ltp_tf cannot put a wrapper that its "
            "call goes through (not an attribute, nor a list, tuple or dict item of one). Pass "
            "unsupported=\"skip\" to leave them dense, or wrap them with ltp_tf's "
            "PruneLearnedThreshold in the layer's own code.")
      self.skipped.extend(missed)
    self._inside = True

  def build(self, input_shape=None):
    if not self.layer.built:
      self.layer.build(input_shape)
    if not self._inside:
      self._wrap_inside()
    self.built = True

  def get_build_config(self):
    return {"layer": self.layer.get_build_config()}

  def build_from_config(self, config):
    _build_fully(self.layer, config["layer"])
    if not self._inside:
      self._wrap_inside()
    self.built = True

  def call(self, *args, **kwargs):
    return self.layer(*args, **kwargs)

  def compute_output_shape(self, *args, **kwargs):
    return self.layer.compute_output_shape(*args, **kwargs)

  def compute_output_spec(self, *args, **kwargs):
    return self.layer.compute_output_spec(*args, **kwargs)

  def compute_mask(self, *args, **kwargs):
    return self.layer.compute_mask(*args, **kwargs)

  @classmethod
  def from_config(cls, config, custom_objects=None):
    return super().from_config(copy.deepcopy(config), custom_objects)

  def get_config(self):
    config = super().get_config()
    config.update(ltp_params=dict(self.ltp_params), unsupported=self.unsupported)
    return config


def _build_fully(block, build_config):
  """Builds ``block`` from its build config, then, if some of its sublayers are still unbuilt
  (a block whose ``build`` leaves them to its first call, as keras-hub's FusedMBConvBlock
  does), calls it once on a symbolic input of that shape."""
  if not block.built:
    block.build_from_config(build_config)
  shape = (build_config or {}).get("input_shape")
  unbuilt = any(not l.built for l in _flavour.all_sublayers(block))
  if unbuilt and isinstance(shape, (list, tuple)):
    block(keras.KerasTensor(tuple(shape)))


def _called_wrappers(block, wrappers):
  """The ``wrappers`` that one call of ``block`` on zeros of its built input shape (batch 1,
  other unknown sizes 4) goes through: a real call, as a block may give its output shape
  without running its layers. All of them if that shape is unknown (Keras records none for a
  block built with several inputs)."""
  shape = (block.get_build_config() or {}).get("input_shape")
  if not isinstance(shape, (list, tuple)) or not shape or not all(
      d is None or isinstance(d, int) for d in shape):
    return list(wrappers)
  shape = (1,) + tuple(4 if d is None else d for d in shape[1:])
  called = []

  def recording(w, method):
    def record(*args, **kwargs):
      called.append(w)
      return method(*args, **kwargs)
    return record

  for w in wrappers:  # An instance attribute, removed below: Keras looks it up per call.
    object.__setattr__(w, "call", recording(w, w.call))
  try:
    block(ops.zeros(shape, dtype=block.compute_dtype))
  finally:
    for w in wrappers:
      object.__delattr__(w, "call")
  return [w for w in wrappers if any(w is c for c in called)]


def _restore(block, wrappers):
  """Puts each of ``wrappers`` back to the layer it wraps, wherever ``block`` or the blocks
  inside it hold it."""
  ids = {id(w) for w in wrappers}
  holders = [block] + [l for l in _flavour.all_sublayers(block)
                       if not isinstance(l, PruneLearnedThreshold) and _flavour.children(l)]
  for holder in holders:
    _replace_sublayers(holder, lambda l: l.layer if id(l) in ids else l)


def _replace_sublayers(block, replace):
  """Puts ``replace(sub)`` in place of each layer ``sub`` that ``block`` holds directly: its
  attributes, and the items of its list, tuple and dict attributes, Keras's own list of
  tracked sublayers (which sets their order in ``weights``) included, in the same places.

  The block is built, so Keras has locked its state; the attributes are set past Keras's
  tracking, which the new list of tracked sublayers stands in for.
  """
  new = {}

  def swap(x):
    if not isinstance(x, keras.layers.Layer) or isinstance(x, keras.Model):
      return x
    if id(x) not in new:
      new[id(x)] = replace(x)
    return new[id(x)]

  for name, value in list(vars(block).items()):
    if name == "_tracker":
      continue
    if isinstance(value, keras.layers.Layer):
      if swap(value) is not value:
        object.__setattr__(block, name, swap(value))
    elif isinstance(value, list):
      for i, item in enumerate(value):
        if swap(item) is not item:
          list.__setitem__(value, i, swap(item))
    elif isinstance(value, tuple):
      items = tuple(swap(item) for item in value)
      if any(a is not b for a, b in zip(items, value)):
        object.__setattr__(block, name, type(value)(items) if type(value) is tuple else items)
    elif isinstance(value, dict):
      for key, item in list(value.items()):
        if swap(item) is not item:
          dict.__setitem__(value, key, swap(item))


def _detached(tensors):
  """``tensors`` without gradient history, for the readers above (outside any train step).

  On PyTorch an op on a trainable variable records an autograd graph even outside a train
  step, and ``float()`` / NumPy then warn or refuse; on TensorFlow and JAX this is a no-op.
  """
  return [ops.stop_gradient(t) for t in tensors]


def _check_plain_float(layer):
  """Refuses, by name, what this phase of the Keras 3 wrapper does not handle yet."""
  if getattr(layer, "lora_enabled", False):
    raise ValueError(f"Layer '{layer.name}' has LoRA enabled; LTP prunes the stored kernel. "
                     "Merge or disable LoRA before wrapping.")
  if getattr(layer, "quantization_mode", None):
    raise ValueError(f"Layer '{layer.name}' is quantized ({layer.quantization_mode}); prune "
                     "the float layer first, then quantize the stripped model.")
