"""LTP against TFMOT and global magnitude pruning, and the paper's ablations, in one harness.

Every method starts from the same dense checkpoint (per network and seed) and gets the same
budget and optimizer: ``prune_epochs`` epochs of pruning at a constant learning rate, then
``finetune_epochs`` with the mask frozen and a cosine decay, SGD with momentum 0.9
throughout. Methods (``METHODS``):

* ``ltp``: the paper's LTP (eq. 6, the network's raw-count ``l0_lambda``) in target-sparsity
  mode (lambda steered to a ramp that reaches the target at two thirds of the pruning epochs;
  the hard prune lands on it), or at its natural endpoint (``target=None``: the network's
  fixed lambda). With a target, eq. (6) is no longer the library's default.
* ``tfmot``: TFMOT ``prune_low_magnitude`` with ``PolynomialDecay`` from 0 to the target over
  the same two thirds (uniform sparsity per layer, as TFMOT users do), masks every 100 steps
  (``mask_frequency``).
* ``gmp``: global magnitude pruning: one magnitude threshold over all prunable tensors, on the
  same cubic ramp (Zhu & Gupta 2017) and mask steps, then fine-tuning.
* ``uniform``: uniform magnitude pruning: every prunable tensor (depthwise kernels included,
  which TFMOT cannot prune) at the ramp's sparsity, by its own magnitude threshold.
* ``ltp_frac``: LTP with ``regularizer="l0_fraction"`` (each tensor's soft L0 over its size,
  so lambda does not push the biggest layer hardest), in target-sparsity mode, lambda from
  0.1: what ``prune_low_magnitude_learned(model, target_sparsity=t)`` does with no other
  argument (the library's target-mode default).
* Ablations of LTP: ``ltp_noreg`` (lambda = 0: natural endpoint only), ``ltp_l2`` (L2 of the
  soft-pruned weights instead of the soft L0) and ``ltp_unstab`` (the full weight gradient
  instead of eq. 14).

A network with ``keras3_backend`` set ("tensorflow", "jax" or "torch") runs on Keras 3 instead
of tf_keras, the same models (``models.get_model(..., keras_module=keras)``) and recipe, LTP's
methods only (``KERAS3_METHODS``); Keras 3 reads ``KERAS_BACKEND`` once per process, so the
process must have been started with it (``benchmarks/keras3.py`` starts one per backend).

``run_one`` runs one (network, method, target, seed) and returns a JSON-able dict;
``run_grid`` runs many, resumably (one JSON per run under ``workdir/runs``), and
``aggregate`` / ``markdown`` / ``plots`` turn them into tables and figures.
"""

import dataclasses
import json
import os
import time

import numpy as np
import tensorflow as tf

import ltp_tf
from ltp_tf import _flavour
from ltp_tf import data as data_lib
from ltp_tf import models
from ltp_tf import sparsity_target
from ltp_tf import trail
from ltp_tf import wrapper as wrapper_lib
from ltp_tf._keras import keras

METHODS = ("ltp", "ltp_frac", "tfmot", "gmp", "uniform", "ltp_noreg", "ltp_l2", "ltp_unstab")
# Methods whose sparsity is set by their lambda, not by a target, and which also run there.
NATURAL = ("ltp", "ltp_noreg", "ltp_unstab")
# Ablations of LTP (not competitors): ``grid_specs`` may run them on fewer seeds.
ABLATIONS = ("ltp_noreg", "ltp_l2", "ltp_unstab")
MASK_EVERY_N_STEPS = 100  # TFMOT's default pruning frequency; GMP uses the same.
# What runs on Keras 3: LTP and its ablations (TFMOT is tf_keras-only; GMP's callback too).
KERAS3_METHODS = tuple(m for m in METHODS if m.startswith("ltp"))


@dataclasses.dataclass
class Network:
  """One benchmark network: model, data and budget."""
  name: str
  model: str
  dataset: str                    # mnist | fashion_mnist (IDX originals) | digits
  dense_epochs: int
  prune_epochs: int
  finetune_epochs: int
  l0_lambda: float                # LTP's natural lambda (and the controller's start).
  l2_lambda: float = 1e-4         # Start of the L2 ablation's steered lambda.
  # Start of ltp_frac's steered lambda (per keep ratio): the library's target-mode default.
  fraction_lambda: float = wrapper_lib.DEFAULT_FRACTION_LAMBDA
  # LTP's threshold step (eq. 11): a fixed rate (0: the library's default ``threshold_lr``), or,
  # when > 0, ``threshold_lr_ratio`` r times the optimizer's learning rate.
  threshold_lr: float = 0.0
  threshold_lr_ratio: float = 0.0
  learning_rate: float = 0.05     # The dense start's and, with SGD, the pruning stage's.
  optimizer: str = "sgd"          # Pruning + fine-tuning: "sgd" (momentum 0.9) or "adam".
  adam_learning_rate: float = 1e-3
  batch_size: int = 128
  train_examples: int = 0         # 0: the whole training split.
  model_kwargs: dict = dataclasses.field(default_factory=dict)
  dense_name: str = ""            # Key of the dense checkpoint (default: ``name``).
  keras3_backend: str = ""        # "": tf_keras; else Keras 3 on this backend (see above).


NETWORKS = {
    "lenet300": Network("lenet300", "lenet300", "mnist", dense_epochs=20, prune_epochs=20,
                        finetune_epochs=10, l0_lambda=1e-6),
    "lenet5": Network("lenet5", "lenet5", "mnist", dense_epochs=10, prune_epochs=10,
                      finetune_epochs=5, l0_lambda=1e-6),
    # Longer budgets, for the compression bars (50x LeNet-300-100, 100x LeNet-5).
    "lenet300_long": Network("lenet300_long", "lenet300", "mnist", dense_epochs=60,
                             prune_epochs=40, finetune_epochs=20, l0_lambda=1e-6),
    "lenet5_long": Network("lenet5_long", "lenet5", "mnist", dense_epochs=20, prune_epochs=20,
                           finetune_epochs=10, l0_lambda=1e-6),
    # The reduced grid of ResNet-20 (BN) on Fashion-MNIST: a 20k-image training subset.
    "resnet20": Network("resnet20", "resnet20", "fashion_mnist", dense_epochs=8,
                        prune_epochs=5, finetune_epochs=2, l0_lambda=2e-6,
                        train_examples=20000),
    # Compact BN + depthwise networks (the paper's Table 5 regime) on Fashion-MNIST, 30k images:
    # 42,208 and 55,008 prunable kernel weights. Dense starts: see BENCHMARKS.md. Four
    # fine-tuning epochs: with two, the last ran at half the rate and the test accuracy of one
    # run moved by +-1.3 pt between seeds, more than the methods differ.
    "mnv2c": Network("mnv2c", "mobilenetv2_compact", "fashion_mnist", dense_epochs=12,
                     prune_epochs=4, finetune_epochs=4, l0_lambda=2e-6, train_examples=30000),
    "effc": Network("effc", "efficientnet_compact", "fashion_mnist", dense_epochs=12,
                    prune_epochs=4, finetune_epochs=4, l0_lambda=2e-6, train_examples=30000),
    # The same at half width (every channel count x 0.5: 12,240 and 16,784 prunable kernel
    # weights): at capacity, where 3x already costs GMP about a point (BENCHMARKS.md, finding 8).
    "mnv2c_half": Network("mnv2c_half", "mobilenetv2_compact", "fashion_mnist",
                          dense_epochs=12, prune_epochs=4, finetune_epochs=4, l0_lambda=2e-6,
                          train_examples=30000, model_kwargs={"width": 0.5}),
    "effc_half": Network("effc_half", "efficientnet_compact", "fashion_mnist", dense_epochs=12,
                         prune_epochs=4, finetune_epochs=4, l0_lambda=2e-6,
                         train_examples=30000, model_kwargs={"width": 0.5}),
}


def load_data(network, data_dir=None):
  """((x, y) train, (x, y) test) as float32 / int32 arrays."""
  if network.dataset == "digits":
    (x, y), test = data_lib.digits()
  else:
    (x, y), test = data_lib.idx_dataset(network.dataset, data_dir)
  if network.train_examples:
    idx = np.random.default_rng(1234).permutation(len(x))[:network.train_examples]
    x, y = x[idx], y[idx]
  return (x, y), test


OPTIMIZERS = {"sgd": lambda k, lr: k.optimizers.SGD(lr, momentum=0.9),
              "adam": lambda k, lr: k.optimizers.Adam(lr)}


def keras_of(network):
  """The Keras module ``network`` runs on: tf_keras, or Keras 3 if ``keras3_backend`` is set
  and is this process's backend."""
  if not network.keras3_backend:
    return keras
  import keras as keras3  # pylint: disable=g-import-not-at-top
  if keras3.backend.backend() != network.keras3_backend:
    raise ValueError(f"Network '{network.name}' runs on Keras 3's {network.keras3_backend!r} "
                     f"backend, but this process's is {keras3.backend.backend()!r}: start it "
                     f"with KERAS_BACKEND={network.keras3_backend} (benchmarks/keras3.py does).")
  return keras3


def compile_sgd(model, lr, optimizer="sgd"):
  """The benchmarks' one recipe: SGD with momentum 0.9 (or Adam), logits cross-entropy,
  accuracy; in the model's Keras (tf_keras or Keras 3)."""
  if optimizer not in OPTIMIZERS:
    raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
  k = _flavour.keras3() if _flavour.is_keras3(model) else keras
  model.compile(OPTIMIZERS[optimizer](k, lr),
                k.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[k.metrics.SparseCategoricalAccuracy(name="accuracy")])
  return model


def _cosine(lr, epochs):
  return lambda epoch: lr * 0.5 * (1 + np.cos(np.pi * epoch / max(epochs, 1)))


def build(network, input_shape, num_classes, keras_module=None):
  """``network``'s model, in ``keras_module`` (default: the Keras the network runs on)."""
  return models.get_model(network.model, input_shape, num_classes,
                          keras_module or keras_of(network),
                          **network.model_kwargs)


def dense_checkpoint(network, seed, data, workdir, verbose=0):
  """Trains (or reuses) the dense model of ``network`` and ``seed``; returns its path and
  test accuracy. Cosine decay over ``dense_epochs``."""
  path = os.path.join(workdir, "dense",
                      f"{network.dense_name or network.name}_seed{seed}.weights.h5")
  meta = path + ".json"
  if os.path.exists(meta):
    return path, trail.read_json(meta, {})["accuracy"]
  (x, y), (x_te, y_te) = data
  k = keras_of(network)
  k.backend.clear_session()
  k.utils.set_random_seed(seed)
  model = compile_sgd(build(network, x.shape[1:], int(y.max()) + 1), network.learning_rate)
  start = time.time()
  model.fit(x, y, batch_size=network.batch_size, epochs=network.dense_epochs, verbose=verbose,
            callbacks=[k.callbacks.LearningRateScheduler(
                _cosine(network.learning_rate, network.dense_epochs))])
  os.makedirs(os.path.dirname(path), exist_ok=True)
  model.save_weights(path)
  accuracy = float(model.evaluate(x_te, y_te, verbose=0)[1])
  trail.write_json(meta, {"accuracy": accuracy, "seconds": time.time() - start})
  return path, accuracy


class GlobalMagnitudePruning(keras.callbacks.Callback):
  """Gradual global (or uniform) magnitude pruning on LTP wrappers held in their hard phase.

  Every ``every_n_steps`` steps until ``reach_step``, the masks become ``|w| > t`` with one
  threshold ``t`` over all wrapped tensors, chosen so that the global sparsity is the cubic
  ramp's (``sparsity_target.ramp``); pruned weights are set to zero and stay pruned. With
  ``uniform=True`` each tensor gets its own ``t``, at the ramp's sparsity within it.
  """

  def __init__(self, target, reach_step, every_n_steps=MASK_EVERY_N_STEPS, uniform=False):
    super().__init__()
    self.target, self.reach_step, self.every_n_steps = target, reach_step, every_n_steps
    self.uniform = uniform
    self._step = 0

  def on_train_begin(self, logs=None):
    self._wrappers = ltp_tf.collect_wrappers(self.model)
    for w in self._wrappers:
      if not w.is_hard:
        w._theta[0].assign(0.0)  # pylint: disable=protected-access
        w.hard_prune()  # tau = 0: every non-zero weight kept; masks are ours from now on.

  def on_train_batch_end(self, batch, logs=None):
    self._step += 1
    if self._step <= self.reach_step and (self._step % self.every_n_steps == 0 or
                                          self._step == self.reach_step):
      self._update(sparsity_target.ramp(self._step, self.reach_step, self.target))

  def _update(self, sparsity):
    weights = [v.numpy() * m.numpy() for w in self._wrappers
               for v, m in zip(w.pruned_variables, w.masks)]
    groups = [[v] for v in weights] if self.uniform else [weights]
    thresholds = []
    for group in groups:
      magnitudes = np.concatenate([np.abs(v).ravel() for v in group])
      prune = int(round(sparsity * magnitudes.size))
      # Below 0 nothing is pruned (masks are |w| > t); ties at t are pruned together.
      t = np.partition(magnitudes, prune - 1)[prune - 1] if prune > 0 else -1.0
      thresholds += [t] * len(group)
    pairs = iter(zip(weights, thresholds))
    for w in self._wrappers:
      for v, m in zip(w.pruned_variables, w.masks):
        value, threshold = next(pairs)
        mask = (np.abs(value) > threshold).astype(m.dtype.as_numpy_dtype)
        m.assign(mask)
        v.assign(v.numpy() * mask)


def _wrap_ltp(dense, network, method, target):
  # A given l0_lambda keeps eq. (6) in target mode too (ltp_tf.wrapper.resolve_regularizer).
  kwargs = dict(l0_lambda=network.l0_lambda, target_sparsity=target)
  if network.threshold_lr_ratio > 0:
    kwargs["threshold_lr_ratio"] = network.threshold_lr_ratio
  elif network.threshold_lr > 0:
    kwargs["threshold_lr"] = network.threshold_lr
  if method == "ltp_noreg":
    kwargs["l0_lambda"] = 0.0
  elif method == "ltp_l2":
    kwargs.update(regularizer="l2", l0_lambda=network.l2_lambda)
  elif method == "ltp_frac":
    kwargs.update(regularizer="l0_fraction", l0_lambda=network.fraction_lambda)
  elif method == "ltp_unstab":
    kwargs["stabilized_gradient"] = False
  return ltp_tf.prune_low_magnitude_learned(dense, **kwargs)


def mask_frequency(reach_step):
  """Steps between mask updates (TFMOT's 100, fewer for tiny runs), and the last update step:
  a multiple of it, so that TFMOT's PolynomialDecay really reaches its final sparsity."""
  frequency = min(MASK_EVERY_N_STEPS, max(1, reach_step // 10))
  return frequency, max(frequency, (reach_step // frequency) * frequency)


def _wrap_tfmot(dense, target, reach_step):
  import tensorflow_model_optimization as tfmot  # pylint: disable=g-import-not-at-top
  frequency, end_step = mask_frequency(reach_step)
  schedule = tfmot.sparsity.keras.PolynomialDecay(
      initial_sparsity=0.0, final_sparsity=target, begin_step=0, end_step=end_step,
      frequency=frequency)
  return tfmot.sparsity.keras.prune_low_magnitude(dense, pruning_schedule=schedule)


def _strip(model, method):
  if method == "tfmot":
    import tensorflow_model_optimization as tfmot  # pylint: disable=g-import-not-at-top
    return tfmot.sparsity.keras.strip_pruning(model)
  return ltp_tf.strip_pruning(model)


def run_name(network, method, target, seed):
  """The name of one run's files under ``workdir/runs``."""
  return f"{network.name}_{method}_{'natural' if target is None else target}_seed{seed}"


def _run_path(network, method, target, seed, workdir):
  return os.path.join(workdir, "runs", run_name(network, method, target, seed) + ".json")


def run_one(network, method, target, seed, data, workdir, export=False, keep_log=False,
            verbose=0):
  """One benchmark run; returns its result dict (also written to ``workdir/runs``)."""
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")
  if target is None and method not in NATURAL:
    raise ValueError(f"method {method!r} needs a target sparsity (natural endpoints: "
                     f"{NATURAL})")
  if target is not None and method == "ltp_noreg":
    raise ValueError("ltp_noreg (lambda = 0) cannot be steered to a target.")
  if network.keras3_backend and method not in KERAS3_METHODS:
    raise ValueError(f"method {method!r} is tf_keras-only; on Keras 3 ({network.name}) run "
                     f"one of {KERAS3_METHODS}.")
  if network.keras3_backend and (export or keep_log):
    raise ValueError("export and keep_log are tf_keras-only (TFLite export of a Keras 3 "
                     "model: ltp_tf.export_tflite on the TF backend).")
  name = run_name(network, method, target, seed)
  out = _run_path(network, method, target, seed, workdir)
  if os.path.exists(out):
    return trail.read_json(out, None)
  os.makedirs(os.path.dirname(out), exist_ok=True)
  (x, y), (x_te, y_te) = data
  dense_path, dense_accuracy = dense_checkpoint(network, seed, data, workdir, verbose)
  k = keras_of(network)
  k.backend.clear_session()
  k.utils.set_random_seed(seed + 1000)
  dense = build(network, x.shape[1:], int(y.max()) + 1)
  dense.load_weights(dense_path)
  steps_per_epoch = len(x) // network.batch_size + (len(x) % network.batch_size > 0)
  reach_epochs = max(1, (2 * network.prune_epochs) // 3)
  reach_step = reach_epochs * steps_per_epoch
  lr = network.adam_learning_rate if network.optimizer == "adam" else network.learning_rate
  epochs = network.prune_epochs + network.finetune_epochs
  finetune_lr = _cosine(lr, network.finetune_epochs)
  callbacks = [k.callbacks.LearningRateScheduler(
      lambda e: lr if e < network.prune_epochs else finetune_lr(e - network.prune_epochs))]
  schedule = None
  if method == "tfmot":
    import tensorflow_model_optimization as tfmot  # pylint: disable=g-import-not-at-top
    model = _wrap_tfmot(dense, target, reach_step)
    callbacks.append(tfmot.sparsity.keras.UpdatePruningStep())
  elif method in ("gmp", "uniform"):
    model = ltp_tf.prune_low_magnitude_learned(dense, l0_lambda=0.0)
    frequency, end_step = mask_frequency(reach_step)
    callbacks.append(GlobalMagnitudePruning(target, end_step, frequency,
                                            uniform=method == "uniform"))
  else:
    model = _wrap_ltp(dense, network, method, target)
    schedule = ltp_tf.LTPPruningSchedule(
        soft_epochs=network.prune_epochs,
        target_epochs=reach_epochs if target is not None else None)
    callbacks.insert(0, schedule)
  keep_path = os.path.join(workdir, "runs", name + ".keep_ratio.json")
  if keep_log and method != "tfmot":
    callbacks.append(trail.KeepRatioLog(keep_path, every_n_steps=max(1, steps_per_epoch // 5)))
  fig1_before = None
  if keep_log and method.startswith("ltp"):
    fig1 = max(ltp_tf.collect_wrappers(model),
               key=lambda w: w.pruned_variables[0].shape.num_elements())
    fig1_before = fig1.pruned_variables[0].numpy().copy()
  compile_sgd(model, lr, network.optimizer)
  start = time.time()
  history = k.callbacks.History()
  diverged = None
  try:
    model.fit(x, y, batch_size=network.batch_size, epochs=epochs, verbose=verbose,
              callbacks=callbacks + [history])
  except FloatingPointError as e:  # LTPPruningSchedule stops on NaN/Inf and says where.
    diverged = str(e)
  seconds = time.time() - start
  stripped = _strip(model, method)
  compile_sgd(stripped, lr, network.optimizer)
  report = ltp_tf.sparsity_report(stripped)
  result = {
      "network": network.name, "method": method, "target": target, "seed": seed,
      "keras": f"keras {k.__version__}, {k.backend.backend()}" if network.keras3_backend
               else f"tf_keras {keras.__version__}",
      "dense_accuracy": dense_accuracy,
      "accuracy": float(stripped.evaluate(x_te, y_te, verbose=0)[1]),
      "sparsity": report.sparsity, "kept": report.kept, "size": report.size,
      "compression": report.size / max(report.kept, 1),
      "layers": {f"{t.layer}/{t.weight}": t.sparsity for t in report.tensors},
      "fully_pruned_layers": [f"{t.layer}/{t.weight}" for t in report.tensors if t.kept == 0],
      "seconds": seconds,
      "seconds_per_epoch": seconds / max(len(history.history.get("loss", [])), 1),
      "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
      "diverged": diverged,
  }
  if schedule is not None and schedule.landing:
    result["landing"] = schedule.landing
  if keep_log and os.path.exists(keep_path):
    result["keep_ratio_log"] = os.path.basename(keep_path)
  if fig1_before is not None:
    w2_path = os.path.join(workdir, "runs", name + ".fig1.npz")
    np.savez_compressed(w2_path, before=fig1_before,
                        after=_stripped_kernel(stripped, fig1.layer.name),
                        threshold=float(fig1.thresholds[0]), layer=fig1.layer.name)
    result["fig1"] = os.path.basename(w2_path)
  if export:
    result["tflite"] = export_sizes(stripped, report, (x, y), (x_te, y_te))
  trail.write_json(out, result)
  return result


def _stripped_kernel(model, layer_name):
  for layer in model.submodules:
    if getattr(layer, "name", None) == layer_name:
      return layer.get_weights()[0]
  raise ValueError(f"no layer {layer_name!r} in the stripped model")


def export_sizes(stripped, report, train, test, calibration=256):
  """Sparse TFLite (float and int8): bytes, the non-zero lower bound, LiteRT accuracy."""
  x, _ = train
  rows = x[:calibration]
  sizes = {}
  for kind, quantize in (("float", None), ("int8", "int8")):
    rep = (lambda: ([r[None]] for r in rows)) if quantize else None
    tflite = ltp_tf.export_tflite(stripped, quantize=quantize, representative_dataset=rep)
    sizes[f"{kind}_bytes"] = len(tflite)
    sizes[f"{kind}_accuracy"] = ltp_tf.evaluate_tflite(tflite, test)["accuracy"]
  sizes["float_nnz_bound_bytes"] = 4 * report.kept
  sizes["int8_nnz_bound_bytes"] = report.kept
  sizes["keras_accuracy"] = float(stripped.evaluate(*test, verbose=0)[1])
  return sizes


def grid_specs(methods, targets, seeds, natural=True, ablation_seeds=None):
  """(method, target, seed) triples: every method at every target; NATURAL ones also at
  their natural endpoint unless ``natural=False`` (``ltp_noreg``, which has nothing else,
  always there). ``ABLATIONS`` run on ``ablation_seeds`` (default: ``seeds``)."""
  specs = []
  for seed in sorted(set(seeds) | set(ablation_seeds or ())):
    for method in methods:
      if seed not in (ablation_seeds if ablation_seeds is not None and method in ABLATIONS
                      else seeds):
        continue
      if method in NATURAL and (natural or method == "ltp_noreg"):
        specs.append((method, None, seed))
      if method != "ltp_noreg":
        specs += [(method, t, seed) for t in targets]
  return specs


def run_grid(network, specs, data, workdir, export_seed=0, keep_log_seed=0, verbose=0,
             log=print, finished_only=False):
  """Runs every ``(method, target, seed)`` of ``specs`` (skipping finished ones); with
  ``finished_only``, only collects those already finished (a report of a partial grid)."""
  results = []
  tf_keras_only = not network.keras3_backend  # TFLite export, keep-ratio logs and Fig. 1.
  for i, (method, target, seed) in enumerate(specs):
    if finished_only and not os.path.exists(_run_path(network, method, target, seed, workdir)):
      log(f"[{i + 1}/{len(specs)}] {network.name} {method} target={target} seed={seed}: "
          "not run yet, left out")
      continue
    start = time.time()
    results.append(run_one(network, method, target, seed, data, workdir,
                           export=tf_keras_only and seed == export_seed,
                           keep_log=tf_keras_only and seed == keep_log_seed, verbose=verbose))
    r = results[-1]
    log(f"[{i + 1}/{len(specs)}] {network.name} {method} target={target} seed={seed}: "
        f"sparsity {r['sparsity']:.4f} accuracy {r['accuracy']:.4f} "
        f"({time.time() - start:.0f} s)")
  return results


def aggregate(results):
  """Mean and std over seeds per (method, target): accuracy, sparsity, compression."""
  groups = {}
  for r in results:
    groups.setdefault((r["method"], r["target"]), []).append(r)
  rows = []
  for (method, target), rs in groups.items():
    acc = np.array([r["accuracy"] for r in rs])
    sp = np.array([r["sparsity"] for r in rs])
    rows.append({
        "method": method, "target": target, "seeds": len(rs),
        "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
        "sparsity_mean": float(sp.mean()), "sparsity_std": float(sp.std()),
        "compression_mean": float(np.mean([r["compression"] for r in rs])),
        "error_mean": float(1 - acc.mean()),
        "dense_accuracy_mean": float(np.mean([r["dense_accuracy"] for r in rs])),
        "fully_pruned_layers": sorted({l for r in rs for l in r["fully_pruned_layers"]}),
        "diverged": sum(bool(r.get("diverged")) for r in rs),
        "seconds_mean": float(np.mean([r["seconds"] for r in rs])),
        "seconds_per_epoch_mean": float(np.mean(
            [r.get("seconds_per_epoch", r["seconds"] / _epochs(r)) for r in rs])),
    })
  order = {m: i for i, m in enumerate(METHODS)}
  rows.sort(key=lambda r: (r["target"] is not None, r["target"] or 0, order[r["method"]]))
  return rows


def _epochs(result):
  return max(len(result.get("history", {}).get("loss", [])), 1)


def write_outputs(network, results, out_dir, extra=None):
  """``benchmark_<net>.json`` and ``.md`` plus plots under ``out_dir``; returns the paths."""
  os.makedirs(out_dir, exist_ok=True)
  rows = aggregate(results)
  payload = {"network": dataclasses.asdict(network), "aggregate": rows, "runs": results}
  payload.update(extra or {})
  json_path = os.path.join(out_dir, f"benchmark_{network.name}.json")
  with open(json_path, "w") as f:
    json.dump(payload, f, indent=1)
  md_path = os.path.join(out_dir, f"benchmark_{network.name}.md")
  with open(md_path, "w") as f:
    f.write(markdown(network, rows, results))
  return json_path, md_path


def _notes(row):
  notes = []
  if row.get("diverged"):
    notes.append(f"{row['diverged']} of {row['seeds']} stopped on NaN/Inf")
  if row["fully_pruned_layers"]:
    notes.append("fully pruned: " + ", ".join(row["fully_pruned_layers"]))
  return "; ".join(notes) or "-"


def _optimizer_text(network):
  if network.optimizer == "adam":
    return f"Adam (lr {network.adam_learning_rate:g})"
  return f"SGD momentum 0.9 (lr {network.learning_rate:g})"


def _threshold_text(network):
  if network.threshold_lr_ratio > 0:
    return f"threshold_lr_ratio {network.threshold_lr_ratio:g}"
  if network.threshold_lr > 0:
    return f"threshold_lr {network.threshold_lr:g}"
  return "threshold_lr: the library default"


def markdown(network, rows, results):
  """The benchmark tables of one network."""
  lines = [f"### {network.name}: {network.model} on {network.dataset}"
           f"{f' ({network.train_examples} training images)' if network.train_examples else ''}",
           "", f"Budget: dense {network.dense_epochs} epochs (cosine, SGD momentum 0.9, lr "
           f"{network.learning_rate}), then for every method {network.prune_epochs} pruning "
           f"epochs + {network.finetune_epochs} fine-tuning epochs (cosine) with "
           f"{_optimizer_text(network)}, batch {network.batch_size}; LTP's "
           f"{_threshold_text(network)}. Dense accuracy "
           f"{np.mean([r['dense_accuracy'] for r in results]):.4f} (mean over seeds).", "",
           "| target | method | seeds | sparsity | compression | test accuracy | error | "
           "s / epoch | notes |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
  for r in rows:
    target = "natural" if r["target"] is None else f"{r['target']:.0%}"
    lines.append(
        f"| {target} | {r['method']} | {r['seeds']} | {r['sparsity_mean']:.2%} ± "
        f"{r['sparsity_std']:.2%} | {r['compression_mean']:.1f}× | {r['accuracy_mean']:.4f} ± "
        f"{r['accuracy_std']:.4f} | {r['error_mean']:.2%} | "
        f"{r.get('seconds_per_epoch_mean', float('nan')):.1f} | {_notes(r)} |")
  exported = [r for r in results if "tflite" in r]
  if exported:
    lines += ["", "Sparse TFLite (seed 0): bytes vs the non-zero lower bound (nnz × 4 bytes "
              "float, nnz × 1 byte int8), and LiteRT accuracy vs Keras.", "",
              "| target | method | float bytes | float bound | int8 bytes | int8 bound | "
              "Keras acc. | TFLite float acc. | TFLite int8 acc. |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(exported, key=lambda r: (r["target"] or 0, METHODS.index(r["method"]))):
      t = r["tflite"]
      target = "natural" if r["target"] is None else f"{r['target']:.0%}"
      lines.append(f"| {target} | {r['method']} | {t['float_bytes']:,} | "
                   f"{t['float_nnz_bound_bytes']:,} | {t['int8_bytes']:,} | "
                   f"{t['int8_nnz_bound_bytes']:,} | {t['keras_accuracy']:.4f} | "
                   f"{t['float_accuracy']:.4f} | {t['int8_accuracy']:.4f} |")
  return "\n".join(lines) + "\n"
