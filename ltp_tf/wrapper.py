"""The Keras wrapper that prunes a layer's weights with learned thresholds.

State per prunable weight ``w`` (all Keras weights of the wrapper, saved with the model):
  * ``<w>_threshold_param`` (trainable): theta, with threshold ``tau = threshold_scale *
    theta`` (eq. 11, see ``soft_prune.threshold_from_param``). Initialised to 0 (tau = 0).
  * ``<w>_temperature``: T of eq. (15), computed once from the weights when the wrapper is
    built, i.e. from the pretrained weights when an already built layer is wrapped. It is not
    recomputed during training (the paper keeps it fixed); ``calibrate_temperatures()``
    recomputes it, e.g. after loading other weights into the inner layer.
  * ``<w>_mask``: the hard mask of eq. (1), frozen by ``hard_prune()``.
  * ``<w>_frozen_threshold``: tau at the moment of ``hard_prune()``.
And per wrapper: ``phase`` (0 soft, 1 hard) and ``l0_lambda`` (the weight of the soft L0).

Soft phase: the layer runs with ``v = soft_prune(w, tau, T)`` (eq. 2) in place of ``w`` and
the wrapper adds ``l0_lambda * soft_l0`` (eqs. 6, 9) to the model's losses. Hard phase: the
layer runs with ``w * mask``; thresholds are frozen and the L0 term is 0.
"""

import contextlib
import copy
import inspect
import math
import threading

import tensorflow as tf

from ltp_tf import registry
from ltp_tf import soft_prune
from ltp_tf import sparsity_target
from ltp_tf import threshold_update
from ltp_tf._keras import keras
from ltp_tf._keras import master_value

# A default that visibly prunes small MLP/CNNs trained with SGD within a few epochs
# (README: "Choosing l0_lambda"). It multiplies a raw count of kept weights, eq. (9).
DEFAULT_L0_LAMBDA = 1e-6
# The thresholds' own learning rate eta_tau (eq. 11), whatever optimizer trains the weights.
# Measured on LeNet-300-100 from an Adam-trained start, 4 soft epochs, no LTP argument
# (BENCHMARKS.md, "Optimizers"): 7e-6 takes SGD, Adam, AdamW, RMSprop and Adam with
# global_clipnorm to 81-88 % within +0.16..+0.44 pt of dense; 5e-6 (what the thresholds had
# under SGD(0.05, momentum 0.9) at the paper's r = 1e-5, r * eta / (1 - momentum)) left Adam at
# 79 %; 1e-5 took an SGD-trained start (the mnist_lenet300 config) to 97 % at 0.9465. The
# configs keep 5e-6, the pace their l0_lambda values were calibrated with. The paper's form,
# eta_tau = r * eta, is threshold_lr_ratio=r.
DEFAULT_THRESHOLD_LR = 7e-6
# tau = scale * theta; with threshold_lr_ratio, scale = r (an optimizer handed theta directly,
# without threshold_update, then moves tau at r times its rate, as before).
DEFAULT_THRESHOLD_SCALE = 1e-5
SOFT, HARD = 0, 1
# Suffix of every threshold variable's name (used to exclude them from weight decay).
THRESHOLD_PARAM_NAME = "threshold_param"
# "l0": the soft L0 of eq. (6), LTP's regularizer: lambda multiplies a raw count of kept
# weights, so the biggest layers are pushed hardest. "l0_fraction": each tensor's soft L0
# divided by its size, so lambda multiplies the sum of keep ratios and weighs every tensor
# alike. "l2": sum of squared soft-pruned weights, the paper's ablation (L2 loses its effect
# when batch norm follows the layer).
REGULARIZERS = ("l0", "l0_fraction", "l2")
# Target-sparsity mode's default: there lambda is only the controller's starting value, so the
# regularizer need not keep the paper's raw count, and "l0_fraction" was level with or ahead of
# eq. (6) on the LeNets, ResNet-20 (+2.4 pt) and mobilenetv2_compact (+0.46 pt at 3x, 3 seeds),
# 0.16 pt behind on efficientnet_compact at 3x (BENCHMARKS.md, findings 2 and 6). Its lambda
# weighs a sum of keep ratios; 0.1 is where the benchmarks started it on every network.
DEFAULT_FRACTION_LAMBDA = 0.1


def resolve_regularizer(l0_lambda, regularizer, target_sparsity):
  """``(l0_lambda, regularizer)`` with the defaults applied, for both wrappers.

  ``regularizer=None``: ``"l0_fraction"`` in target-sparsity mode when ``l0_lambda`` is left
  to its default too, else ``"l0"`` (eq. 6): a lambda the user wrote keeps the raw-count scale
  it was written on. ``l0_lambda=None``: ``DEFAULT_FRACTION_LAMBDA`` for ``"l0_fraction"``,
  ``DEFAULT_L0_LAMBDA`` otherwise.
  """
  if regularizer is None:
    regularizer = ("l0_fraction" if target_sparsity is not None and l0_lambda is None
                   else "l0")
  if l0_lambda is None:
    l0_lambda = DEFAULT_FRACTION_LAMBDA if regularizer == "l0_fraction" else DEFAULT_L0_LAMBDA
  return float(l0_lambda), regularizer


def validate_arguments(l0_lambda, temperature, threshold_lr_ratio, stabilized_gradient,
                       regularizer=None, target_sparsity=None, threshold_lr=None):
  """Raises for a bad LTP argument; ``None`` for ``l0_lambda``, ``regularizer``,
  ``threshold_lr`` or ``threshold_lr_ratio`` means the default (``resolve_regularizer``,
  ``threshold_rate``)."""
  if threshold_lr is not None and threshold_lr_ratio is not None:
    raise ValueError(f"Give threshold_lr (a fixed learning rate for the thresholds, got "
                     f"{threshold_lr}) or threshold_lr_ratio (r of eq. 11: r times the "
                     f"optimizer's learning rate, got {threshold_lr_ratio}), not both.")
  for name, value in (("l0_lambda", l0_lambda), ("temperature", temperature),
                      ("threshold_lr_ratio", threshold_lr_ratio),
                      ("threshold_lr", threshold_lr)):
    if value is None and name != "temperature":
      continue
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
      raise ValueError(f"{name} must be finite, got {value}")
  if l0_lambda is not None and l0_lambda < 0:
    raise ValueError(f"l0_lambda must be >= 0, got {l0_lambda}")
  if temperature <= 0:
    raise ValueError(f"temperature (T0 of eq. 15) must be > 0, got {temperature}")
  if threshold_lr_ratio is not None and threshold_lr_ratio <= 0:
    raise ValueError(f"threshold_lr_ratio (r of eq. 11) must be > 0, got {threshold_lr_ratio}")
  if threshold_lr is not None and threshold_lr <= 0:
    raise ValueError(f"threshold_lr must be > 0, got {threshold_lr}")
  if not isinstance(stabilized_gradient, bool):
    raise TypeError(f"stabilized_gradient must be a bool, got {stabilized_gradient!r}")
  if regularizer is not None and regularizer not in REGULARIZERS:
    raise ValueError(f"regularizer must be one of {REGULARIZERS} (or None: the default), got "
                     f"{regularizer!r}")
  sparsity_target.check_target_sparsity(target_sparsity)


def threshold_rate(threshold_lr, threshold_lr_ratio):
  """``(threshold_lr, threshold_lr_ratio, threshold_scale)`` with the defaults applied: the
  fixed ``DEFAULT_THRESHOLD_LR`` when neither is given; ``tau = threshold_scale * theta`` with
  scale r under ``threshold_lr_ratio``, else ``DEFAULT_THRESHOLD_SCALE``. Both wrappers (tf_keras
  and Keras 3) take their rates from here, validated first by ``validate_arguments``."""
  if threshold_lr_ratio is None and threshold_lr is None:
    threshold_lr = DEFAULT_THRESHOLD_LR
  lr = None if threshold_lr is None else float(threshold_lr)
  ratio = None if threshold_lr_ratio is None else float(threshold_lr_ratio)
  return lr, ratio, ratio or DEFAULT_THRESHOLD_SCALE


@contextlib.contextmanager
def _substituted(layer, paths, tensors):
  """Temporarily puts ``tensors`` at the attribute ``paths`` of ``layer``.

  ``object.__setattr__`` bypasses Keras attribute tracking, so the layer's list of weights and
  its checkpoint dependencies are untouched. Under ``MirroredStrategy`` each replica traces
  in a thread of its own, but the threads take turns (one runs until it ends or reaches a
  ``merge_call``), and the layers LTP wraps make no ``merge_call`` in their call: each
  replica's substitution is undone before the next replica runs.
  """
  saved = []
  try:
    for path, tensor in zip(paths, tensors):
      parent_path, _, attr = path.rpartition(".")
      parent = registry.resolve(layer, parent_path) if parent_path else layer
      saved.append((parent, attr, getattr(parent, attr)))
      object.__setattr__(parent, attr, tensor)
    yield
  finally:
    for parent, attr, original in reversed(saved):
      object.__setattr__(parent, attr, original)


class WrapperCommon:
  """What the tf_keras and the Keras 3 ``PruneLearnedThreshold`` share, written once: the
  views of their state that need no tensor math, the mask passthrough and the config.

  Listed first among a wrapper's bases, so ``get_config`` extends Keras's ``Wrapper``.
  """

  @property
  def label(self):
    """The wrapped layer's name as reports show it: prefixed by the blocks holding it inside
    a ``PruneComposite`` (``"encoder/block_1/mha"``), where the name alone repeats."""
    return getattr(self, "_ltp_label", None) or self.layer.name

  @property
  def temperatures(self):
    """The temperatures T of eq. (15) (float32 scalar variables), one per pruned weight."""
    return list(self._temperature)

  @property
  def masks(self):
    """The frozen 0/1 masks of eq. (1) (variables of each weight's shape; all ones until the
    hard prune)."""
    return list(self._mask)

  def compute_mask(self, inputs, mask=None):
    return self.layer.compute_mask(inputs, mask)

  def get_config(self):
    config = super().get_config()
    config.update(ltp_config(self))
    return config


class PruneLearnedThreshold(WrapperCommon, keras.layers.Wrapper):
  """Prunes the weights of ``layer`` with learned per-tensor thresholds (LTP).

  Usable directly on a layer, including in a subclassed model's ``__init__``::

    self.fc = ltp_tf.PruneLearnedThreshold(keras.layers.Dense(10), l0_lambda=1e-6)

  Add ``ltp_tf.LTPPruningSchedule`` to ``fit``'s callbacks to switch from soft to hard pruning.

  Args:
    layer: a supported Keras layer (see README) or one implementing
      ``tfmot.sparsity.keras.PrunableLayer``.
    l0_lambda: weight of the soft L0 term, eq. (9); multiplies a raw count of kept weights
      (with ``"l0_fraction"``, a sum of keep ratios). Default: ``resolve_regularizer``.
    temperature: T0 of eq. (15); each tensor's temperature is ``T0 * Var(|w|)``.
    threshold_lr: the thresholds' learning rate eta_tau of eq. (11), fixed: every step moves
      tau by ``-threshold_lr * (dL/dtau + lambda * dL0/dtau)`` whatever the optimizer (Adam,
      momentum, clipping, weight decay and loss scaling never touch the thresholds; see
      ``threshold_update``). Default ``DEFAULT_THRESHOLD_LR`` unless ``threshold_lr_ratio``.
    threshold_lr_ratio: r of eq. (11), the paper's form: eta_tau = r times the optimizer's
      current learning rate (following its schedule). Give this or ``threshold_lr``.
    stabilized_gradient: weight gradient of eq. (14) (True) or the full one (False): eq. (3)
      plus the L0 term's gradient w.r.t. w. For ablations.
    regularizer: ``"l0"`` (eq. 6: a raw count of kept weights, as in the paper),
      ``"l0_fraction"`` (each tensor's soft L0 over its size: lambda weighs every tensor's keep
      ratio alike instead of pushing the biggest layers hardest) or ``"l2"``
      (``l0_lambda * sum(v**2)`` over the soft-pruned weights, for the paper's ablation).
      Default (None): ``"l0_fraction"`` with ``target_sparsity`` and no ``l0_lambda``, else
      ``"l0"`` (``resolve_regularizer``).
    target_sparsity: global sparsity for ``LTPPruningSchedule`` to steer ``l0_lambda`` to
      (target-sparsity mode), or None. Every wrapper of a model holds the same value.
    **kwargs: Keras layer arguments (``name`` defaults to ``"ltp_" + layer.name``).

  Raises:
    ValueError: for a bad argument, or a layer whose prunable weights are unknown.
  """

  def __init__(self, layer, l0_lambda=None,
               temperature=soft_prune.DEFAULT_TEMPERATURE,
               threshold_lr_ratio=None, stabilized_gradient=True,
               regularizer=None, target_sparsity=None, threshold_lr=None, **kwargs):
    if not isinstance(layer, keras.layers.Layer):
      raise ValueError(f"PruneLearnedThreshold needs a tf_keras layer, got {layer!r}. "
                       "Build your model with tf_keras (Keras 2), not keras 3.")
    if isinstance(layer, PruneLearnedThreshold):
      raise ValueError(f"Layer '{layer.name}' is already wrapped by PruneLearnedThreshold; "
                       "wrap each layer once (prune_low_magnitude_learned leaves existing "
                       "wrappers as they are).")
    registry.check_not_tfmot_wrapped(layer)
    if not registry.supports(layer):
      raise registry.unsupported_error(layer)
    validate_arguments(l0_lambda, temperature, threshold_lr_ratio, stabilized_gradient,
                       regularizer, target_sparsity, threshold_lr)
    if layer.built:
      registry.check_prunable_weights(layer)
    kwargs.setdefault("name", f"ltp_{layer.name}")
    # The wrapper runs the layer's call inside its own autocast scope, so it takes the layer's
    # dtype policy (e.g. a float32 output layer in a mixed_float16 model stays float32).
    kwargs.setdefault("dtype", layer.dtype_policy)
    super().__init__(layer, **kwargs)
    self._l0_lambda_init, self.regularizer = resolve_regularizer(l0_lambda, regularizer,
                                                                 target_sparsity)
    self.temperature = float(temperature)
    self.threshold_lr, self.threshold_lr_ratio, self.threshold_scale = threshold_rate(
        threshold_lr, threshold_lr_ratio)
    self.stabilized_gradient = stabilized_gradient
    self.target_sparsity = None if target_sparsity is None else float(target_sparsity)
    self._ltp_built = False
    # Thread id -> (graph, L0 tensor) of the last forward pass; not tracked by Keras.
    object.__setattr__(self, "_l0_of_call", {})
    if not hasattr(self, "_batch_input_shape") and hasattr(layer, "_batch_input_shape"):
      self._batch_input_shape = layer._batch_input_shape  # pylint: disable=protected-access
    self._call_params = list(inspect.signature(layer.call).parameters)
    self.supports_masking = layer.supports_masking

  # --- Building -------------------------------------------------------------------------

  def build(self, input_shape=None):
    super().build(input_shape)
    if not self._ltp_built and self._weights_exist():
      self._build_ltp()

  def _weights_exist(self):
    try:
      return all(isinstance(registry.resolve(self.layer, p), tf.Variable)
                 for p in registry.weight_paths(self.layer))
    except (AttributeError, IndexError):
      return False

  def _build_ltp(self):
    registry.check_prunable_weights(self.layer)  # Before any state is created.
    self.weight_paths = registry.weight_paths(self.layer)
    self.pruned_variables = [registry.resolve(self.layer, p) for p in self.weight_paths]
    self._theta, self._temperature, self._mask, self._frozen = [], [], [], []
    for path, w in zip(self.weight_paths, self.pruned_variables):
      prefix = path.replace(".", "_").lstrip("_")
      dtype = getattr(w, "true_dtype", w.dtype)
      # Threshold state stays float32 under mixed precision (autocast=False): theta = tau / r
      # reaches 1e6 and T reaches 1e-7, beyond float16.
      # Trainable, so that fit and GradientTape loops compute its gradient; its update is
      # eq. (11)'s own, never the optimizer's (threshold_update).
      self._theta.append(threshold_update.mark(self.add_weight(
          f"{prefix}_{THRESHOLD_PARAM_NAME}", shape=(), dtype=tf.float32, initializer="zeros",
          trainable=True, autocast=False, constraint=keras.constraints.NonNeg()),
          self.threshold_scale, lr=self.threshold_lr, ratio=self.threshold_lr_ratio))
      t0 = self.temperature
      self._temperature.append(self.add_weight(
          f"{prefix}_temperature", shape=(), dtype=tf.float32, trainable=False, autocast=False,
          initializer=lambda shape, dtype, w=w: soft_prune.temperature(master_value(w), t0)))
      self._mask.append(self.add_weight(
          f"{prefix}_mask", shape=w.shape, dtype=dtype, initializer="ones", trainable=False,
          aggregation=tf.VariableAggregation.MEAN, autocast=False))
      self._frozen.append(self.add_weight(
          f"{prefix}_frozen_threshold", shape=(), dtype=tf.float32, initializer="zeros",
          trainable=False, autocast=False))
    self.phase = self.add_weight("phase", shape=(), dtype=tf.int32, initializer="zeros",
                                 trainable=False)
    self.l0_lambda = self.add_weight(
        "l0_lambda", shape=(), dtype=tf.float32, trainable=False, autocast=False,
        initializer=keras.initializers.Constant(self._l0_lambda_init))
    # A callable, so the loss is valid in every graph (a tensor made inside call() of a
    # layer in a functional model is out of scope in the train step).
    self.add_loss(self._l0_penalty)
    self._ltp_built = True

  # --- The pruned forward pass ----------------------------------------------------------

  def _soft_thresholds(self):
    """tau = r * theta per weight (eq. 11 reparameterization), as used in the soft phase."""
    return [soft_prune.threshold_from_param(theta, self.threshold_scale)
            for theta in self._theta]

  def _thresholds(self):
    hard = tf.equal(self.phase, HARD)
    return [tf.where(hard, frozen, tau)
            for tau, frozen in zip(self._soft_thresholds(), self._frozen)]

  def _masters(self):
    """Each pruned weight's value in its stored dtype (float32 under mixed precision)."""
    return [master_value(w) for w in self.pruned_variables]

  def _soft_pruned(self):
    """Soft phase: ``v`` per weight (eq. 2), for the L2 ablation's penalty.

    The sigmoid's argument is computed from the float32 master weight, and ``v`` is given in
    the dtype the inner layer reads the weight in (``w.dtype``: float16/bfloat16 inside the
    call of a mixed-precision layer).
    """
    return [soft_prune.soft_prune_and_l0(w32, tau, t, self.stabilized_gradient, dtype=w.dtype)[0]
            for w32, w, tau, t in zip(self._masters(), self.pruned_variables,
                                      self._soft_thresholds(), self._temperature)]

  def _pruned_tensors(self):
    """The tensors the inner layer runs with, and the summed soft L0 (0 in the hard phase).

    One ``tf.cond`` per weight picks the mask, soft (eq. 2) or frozen (eq. 1), and it has no
    gradient of its own (``soft_prune.apply_mask``), so neither phase pays for the other's
    intermediates; only the soft phase computes the sigmoid and the thresholds' gradient.
    """
    hard = tf.equal(self.phase, HARD)
    vs, l0s = [], []
    for w32, w, tau, t, m in zip(self._masters(), self.pruned_variables,
                                 self._soft_thresholds(), self._temperature, self._mask):
      mask, l0 = tf.cond(hard, lambda m=m: (tf.cast(m, tf.float32), tf.constant(0.0)),
                         lambda w32=w32, tau=tau, t=t: soft_prune.mask_and_l0(w32, tau, t))
      v, l0 = soft_prune.apply_mask(w32, mask, tau, t, l0, tf.logical_not(hard),
                                    self.stabilized_gradient, dtype=w.dtype)
      vs.append(v)
      # l0_fraction: keep ratios, every tensor weighs the same.
      l0s.append(l0 / float(w.shape.num_elements()) if self.regularizer == "l0_fraction"
                 else l0)
    return vs, tf.add_n(l0s)

  def __call__(self, inputs, *args, **kwargs):
    # Name extra positional inputs (MultiHeadAttention's value, key) after the inner layer's
    # parameters, so that functional models record them and can be cloned and reloaded.
    kwargs.update(zip(self._call_params[1:], args))
    return super().__call__(inputs, **kwargs)

  def call(self, inputs, **kwargs):
    kwargs = {k: v for k, v in kwargs.items() if k in self._call_params}
    if not self._ltp_built:
      # Layers such as MultiHeadAttention create their weights in their first call.
      self.layer(inputs, **kwargs)
      self._build_ltp()
    tensors, l0 = self._pruned_tensors()
    if not tf.executing_eagerly():
      # The loss callable reuses this L0 (same graph, same thread), so that the sigmoid of
      # eq. (2) is computed once per step for the forward pass and the L0 term together.
      # Under MirroredStrategy each replica thread gets its own forward pass's L0.
      self._l0_of_call[threading.get_ident()] = (tf.compat.v1.get_default_graph(), l0)
    with _substituted(self.layer, self.weight_paths, tensors):
      return self.layer.call(inputs, **kwargs)

  def _l0_penalty(self):
    """``l0_lambda * sum_w soft_l0(w)`` in the soft phase (eqs. 6, 9), 0 in the hard phase.

    In a graph (``fit``, ``tf.function``) where this wrapper ran its forward pass, that pass's
    L0 output is used: its gradient (eqs. 7, and the weights' under the full gradient) comes
    from the same op. Elsewhere (eager, or no forward pass in this graph) it is recomputed.
    With ``regularizer="l2"``: ``l0_lambda * sum(v**2)`` over the soft-pruned weights.
    """
    if self.regularizer == "l2":
      def l2():
        return tf.add_n([tf.reduce_sum(tf.square(tf.cast(v, tf.float32)))
                         for v in self._soft_pruned()])
      return self.l0_lambda * tf.cond(tf.equal(self.phase, HARD), lambda: 0.0, l2)
    graph, l0 = self._l0_of_call.get(threading.get_ident(), (None, None))
    if tf.executing_eagerly() or graph is not tf.compat.v1.get_default_graph():
      l0 = self._pruned_tensors()[1]
    return self.l0_lambda * l0

  def compute_output_shape(self, input_shape):
    return self.layer.compute_output_shape(input_shape)

  # --- What users and callbacks read and drive --------------------------------------------

  @property
  def thresholds(self):
    """The current thresholds tau (float32 scalars), one per pruned weight."""
    return self._thresholds()

  @property
  def is_hard(self):
    return self._ltp_built and bool(self.phase.numpy() == HARD)

  def soft_l0(self):
    """Sum over this wrapper's weights of the soft L0 of eq. (6)."""
    return tf.add_n([soft_prune.soft_l0(w, tau, t) for w, tau, t
                     in zip(self._masters(), self._soft_thresholds(), self._temperature)])

  def pruned_weights(self):
    """The hard-pruned weights: eq. (1) in the soft phase, ``w * mask`` in the hard phase."""
    hard = tf.equal(self.phase, HARD)
    return [tf.where(hard, w * tf.cast(m, w.dtype), soft_prune.hard_prune(w, tau))
            for w, m, tau in zip(self._masters(), self._mask, self._thresholds())]

  def hard_prune(self):
    """Freezes the masks from the learned thresholds (eq. 1) and enters the hard phase.

    Pruned weights are set to exactly 0, thresholds are frozen and the L0 term turns off.
    Calling it again in the hard phase changes nothing.
    """
    if not self._ltp_built:
      raise ValueError(f"Wrapper '{self.name}' is not built yet; call the model once first.")
    if self.is_hard:
      return
    for w, m, frozen, tau in zip(self._masters(), self._mask, self._frozen,
                                 self._thresholds()):
      m.assign(soft_prune.hard_mask(w, tau))
      frozen.assign(tau)
    self.phase.assign(HARD)
    self.apply_masks()

  def apply_masks(self):
    """Re-zeroes pruned weights in the variables (the forward pass masks them regardless)."""
    if self.is_hard:
      for w, w32, m in zip(self.pruned_variables, self._masters(), self._mask):
        w.assign(w32 * tf.cast(m, w32.dtype))

  def calibrate_temperatures(self):
    """Recomputes each temperature from the current weights, eq. (15)."""
    for w32, t in zip(self._masters(), self._temperature):
      t.assign(soft_prune.temperature(w32, self.temperature))

  @classmethod
  def from_config(cls, config, custom_objects=None):
    config = copy.deepcopy(config)
    layer_config = config.pop("layer")
    layer = keras.layers.deserialize(layer_config, custom_objects=custom_objects,
                                     use_legacy_format="module" not in layer_config)
    build_config = layer_config.get("build_config")
    if build_config and not layer.built:
      layer.build_from_config(build_config)
    return cls(layer, **config)


def ltp_config(wrapper):
  """The LTP arguments of a wrapper (either Keras's), for its ``get_config``."""
  return {
      "l0_lambda": wrapper._l0_lambda_init,  # pylint: disable=protected-access
      "temperature": wrapper.temperature,
      "threshold_lr_ratio": wrapper.threshold_lr_ratio,
      "threshold_lr": wrapper.threshold_lr,
      "stabilized_gradient": wrapper.stabilized_gradient,
      "regularizer": wrapper.regularizer,
      "target_sparsity": wrapper.target_sparsity,
  }
