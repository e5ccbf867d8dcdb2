"""Deployment measurements for LTP models: TFLite sizes, PQAT int8, to_tfmot, XNNPack latency.

Command (repository root; about 10 minutes on 2 shared CPU cores):

  python benchmarks/deploy.py --data_dir=../shared/data

Writes ``benchmarks/results/deploy.json`` (everything) and ``deploy.md`` (the tables):

* LeNet-5 on MNIST and ResNet-20 (batch norm) on Fashion-MNIST, LTP-pruned on a shrunk budget
  (the flags below; the configs' full budgets take 7.5 and 41 minutes): bytes of the dense
  float file, of the pruned model stored dense and sparse in float32, float16 and int8, gzip
  of each, and the non-zero lower bound (every non-zero stored value times its byte size,
  without index or flatbuffer overhead); per tensor, which the converter stored sparse and why
  the others stayed dense (``ltp_tf.tflite_weights``).
* PQAT: LTP -> ``quantize_preserving_sparsity`` -> fine-tune -> int8 sparse TFLite, accuracy
  in LiteRT against the float sparse file and against a control: the float LTP model
  fine-tuned for the same epoch at the same learning rate.
* ``to_tfmot`` then one epoch with TFMOT's ``UpdatePruningStep``: mask entries that changed,
  with the default fixed mask and with TFMOT re-selecting every 100 steps.
* Latency in LiteRT (XNNPack delegate, 1 and 2 threads): a MobileNet-like network shaped for
  XNNPack's sparse path (checked with TFMOT's ``PruneForLatencyOnXNNPack``), dense vs its
  1x1 convolutions 90 % sparse.
"""

import gzip
import json
import os
import platform
import statistics
import sys
import time
import warnings

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot

import ltp_tf
from ltp_tf import data
from ltp_tf import models
from ltp_tf._keras import keras

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402  pylint: disable=g-import-not-at-top

L = keras.layers

_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder holding mnist/ and fashion_mnist/ "
                                "(default: $LTP_TF_DATA_DIR, else ../shared/data).")
_OUT = flags.DEFINE_string("out_dir", os.path.join(os.path.dirname(__file__), "results"),
                           "Where deploy.json and deploy.md go.")
_LENET = flags.DEFINE_list("lenet_epochs", ["4", "4", "2"], "LeNet-5: dense, soft, fine-tune "
                            "(the config: 4, 8, 3).")
_RESNET = flags.DEFINE_list("resnet_epochs", ["4", "3", "2"], "ResNet-20: dense, soft, "
                            "fine-tune (the config: 6, 6, 3 on 60k images).")
_RESNET_TRAIN = flags.DEFINE_integer("resnet_train_examples", 30000,
                                     "Fashion-MNIST training images used for ResNet-20.")
_RUNS = flags.DEFINE_integer("latency_runs", 200, "Timed invocations per model and setting.")


# --- Training -------------------------------------------------------------------------------


def _train(model, train, epochs, l0_lambda, lr):
  """Dense training, then LTP (soft, hard, fine-tune). Returns (dense TFLite, LTP model, log)."""
  dense_epochs, soft_epochs, finetune_epochs = (int(e) for e in epochs)
  (x, y), start = train, time.time()
  harness.compile_sgd(model, lr).fit(x, y, epochs=dense_epochs, batch_size=128, verbose=0)
  dense_tflite = ltp_tf.export_tflite(model, sparse=False)  # Before LTP changes the weights.
  ltp = harness.compile_sgd(ltp_tf.prune_low_magnitude_learned(model, l0_lambda=l0_lambda), lr)
  ltp.fit(x, y, epochs=soft_epochs + finetune_epochs, batch_size=128, verbose=0,
          callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=soft_epochs)])
  report = ltp_tf.sparsity_report(ltp)
  log = {"epochs": {"dense": dense_epochs, "soft": soft_epochs, "finetune": finetune_epochs},
         "train_examples": len(x), "l0_lambda": l0_lambda, "learning_rate": lr,
         "sparsity": report.sparsity, "kept": report.kept, "prunable": report.size,
         "per_layer": {f"{t.layer}.{t.weight}": t.sparsity for t in report.tensors},
         "train_seconds": time.time() - start}
  return dense_tflite, ltp, log


# --- Sizes ----------------------------------------------------------------------------------


def _itemsize(dtype):
  return np.dtype(dtype).itemsize if dtype in np.sctypeDict else 4


def _file_row(name, tflite, test=None):
  """Bytes, gzip bytes, non-zero bound and encoding totals of one TFLite file."""
  weights = ltp_tf.tflite_weights(tflite)
  row = {
      "file": name, "bytes": len(tflite), "gzip_bytes": len(gzip.compress(tflite, 9)),
      "stored_dense_instead": "sparse" in name and not any(w.sparse for w in weights),
      "nonzero_bound_bytes": sum(w.nonzero * _itemsize(w.dtype) for w in weights),
      "value_bytes": sum(w.value_bytes for w in weights),
      "index_bytes": sum(w.index_bytes for w in weights),
      "quantization_bytes": sum(w.quantization_bytes for w in weights),
      "sparse_tensors": sum(w.sparse for w in weights),
      "filters": sum(len(w.shape) >= 2 for w in weights)}
  if test is not None:
    result = ltp_tf.evaluate_tflite(tflite, test)
    row.update(accuracy=result["accuracy"], kernels=result["kernels"])
  return row


def _tensor_rows(tflite):
  return [dict(vars(w), shape=list(w.shape), sparsity=w.sparsity)
          for w in ltp_tf.tflite_weights(tflite)]


def _sizes(dense_tflite, ltp, train, test, qat_epochs, qat_lr):
  """Every file of the size table, the per-tensor tables, and the PQAT result."""
  x_train, y_train = train
  def representative():
    for row in x_train[:200]:
      yield [row[None]]
  files = {"dense float32 (before LTP)": dense_tflite}
  for label, quantize in (("float32", None), ("float16", "float16"), ("int8 (PTQ)", "int8")):
    for sparse in (False, True):
      with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files[f"LTP {label}, {'sparse' if sparse else 'dense'} storage"] = ltp_tf.export_tflite(
            ltp, quantize=quantize, sparse=sparse,
            representative_dataset=representative if quantize == "int8" else None)
      for w in caught:
        logging.warning("%s", w.message)  # The float16 fallback to dense storage, if any.
  # PQAT: LTP zeros kept through quantization-aware fine-tuning.
  start = time.time()
  qat = harness.compile_sgd(ltp_tf.quantize_preserving_sparsity(ltp), qat_lr)
  qat.fit(x_train, y_train, epochs=qat_epochs, batch_size=128, verbose=0)
  files["LTP + PQAT int8, sparse storage"] = ltp_tf.export_tflite(qat, quantize="int8")
  qat_seconds = time.time() - start
  # Control: PQAT's extra epoch at its learning rate, without quantization (mask frozen).
  harness.compile_sgd(ltp, qat_lr).fit(x_train, y_train, epochs=qat_epochs, batch_size=128, verbose=0)
  files["control: LTP float32 + the same epoch, sparse storage"] = ltp_tf.export_tflite(ltp)
  rows = []
  for name, tflite in files.items():
    evaluate = name.startswith("dense") or "dense storage" not in name  # Same weights.
    rows.append(_file_row(name, tflite, test if evaluate else None))
  tensors = {name: _tensor_rows(files[name]) for name in
             ("LTP float32, sparse storage", "LTP int8 (PTQ), sparse storage",
              "LTP + PQAT int8, sparse storage")}
  return rows, tensors, {"epochs": qat_epochs, "learning_rate": qat_lr, "seconds": qat_seconds}


# --- to_tfmot: do TFMOT's pruning steps keep LTP's mask? -------------------------------------


def _mask_stability(ltp, train, test, examples=10000):
  """Fine-tunes to_tfmot(ltp) one epoch on ``examples`` images with UpdatePruningStep, and
  counts the mask entries that differ from LTP's (read from TFMOT's ``pruning_vars``)."""
  x, y = (a[:examples] for a in train)
  ltp_masks = {w.layer.name: [m.numpy() for m in w.masks] for w in ltp_tf.collect_wrappers(ltp)}
  results = {}
  for frequency in (None, 100):
    converted = harness.compile_sgd(ltp_tf.to_tfmot(ltp, frequency=frequency), 0.01)
    converted.fit(x, y, epochs=1, batch_size=64, verbose=0,
                  callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    changed, kept_ltp, kept_tfmot = 0, 0, 0
    for layer in converted.layers:
      if not hasattr(layer, "pruning_vars"):
        continue
      for (_, mask, _), ltp_mask in zip(layer.pruning_vars, ltp_masks[layer.layer.name]):
        mask = mask.numpy()
        changed += int(np.sum(mask != ltp_mask))
        kept_ltp += int(ltp_mask.sum())
        kept_tfmot += int(mask.sum())
    stripped = harness.compile_sgd(tfmot.sparsity.keras.strip_pruning(converted), 0.01)
    results[str(frequency)] = {
        "steps": len(x) // 64, "mask_entries_changed": changed, "kept_ltp": kept_ltp,
        "kept_after": kept_tfmot, "accuracy_after": float(stripped.evaluate(*test, verbose=0)[1])}
  return results


# --- Latency --------------------------------------------------------------------------------


def xnnpack_shaped_model():
  """MobileNet-like: 3x3 stride-2 stem on 3 channels, depthwise 3x3 + 1x1 conv blocks, global
  average pooling (keepdims), as XNNPack's sparse path and TFMOT's PruneForLatencyOnXNNPack
  require; a classifier after the sparse subgraph."""
  inputs = keras.Input((224, 224, 3))
  x = L.ZeroPadding2D(1)(inputs)
  x = L.ReLU()(L.Conv2D(32, 3, strides=2, name="stem")(x))
  for i, (channels, stride) in enumerate([(64, 1), (128, 2), (128, 1), (256, 2), (256, 1),
                                          (512, 2), (512, 1), (512, 1), (1024, 2)]):
    if stride == 2:
      x = L.DepthwiseConv2D(3, strides=2, name=f"dw{i}")(L.ZeroPadding2D(1)(x))
    else:
      x = L.DepthwiseConv2D(3, padding="same", name=f"dw{i}")(x)
    x = L.ReLU()(x)
    x = L.ReLU()(L.Conv2D(channels, 1, name=f"pw{i}")(x))
  x = L.GlobalAveragePooling2D(keepdims=True)(x)
  return keras.Model(inputs, L.Dense(1000)(L.Flatten()(x)))


def _prune_pointwise(model, sparsity):
  """LTP-wraps only the 1x1 convolutions (sharing ``model``'s layers, whose pruned weights
  hard_prune zeroes in place); thresholds at the ``sparsity`` quantile of w**2."""
  def wrap(layer):
    if isinstance(layer, L.Conv2D) and layer.kernel_size == (1, 1):
      return ltp_tf.PruneLearnedThreshold(layer)
    return layer
  pruned = keras.models.clone_model(model, clone_function=wrap)
  for w in ltp_tf.collect_wrappers(pruned):
    w2 = np.square(w.pruned_variables[0].numpy())
    threshold = float(np.quantile(w2, sparsity))
    w._theta[0].assign(threshold / w.threshold_scale)  # pylint: disable=protected-access
  ltp_tf.hard_prune(pruned)
  return ltp_tf.strip_pruning(pruned)


def _time(tflite, threads, runs, builtin=False):
  """Median, 10th and 90th percentile milliseconds of one invocation (batch 1)."""
  from ai_edge_litert import interpreter as litert  # pylint: disable=g-import-not-at-top
  kwargs = {"experimental_op_resolver_type":
            litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES} if builtin else {}
  interpreter = litert.Interpreter(model_content=tflite, num_threads=threads, **kwargs)
  interpreter.allocate_tensors()
  inp = interpreter.get_input_details()[0]
  interpreter.set_tensor(inp["index"], np.random.default_rng(0).random(
      inp["shape"], dtype=np.float32))
  for _ in range(10):
    interpreter.invoke()
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    interpreter.invoke()
    times.append((time.perf_counter() - start) * 1e3)
  return times


def _latency(runs):
  model = xnnpack_shaped_model()
  # TFMOT's own check of the XNNPack sparse-inference constraints: raises if the model breaks
  # them. On a clone, because TFMOT marks the layers it wraps.
  tfmot.sparsity.keras.prune_low_magnitude(
      keras.models.clone_model(model),
      pruning_policy=tfmot.sparsity.keras.PruneForLatencyOnXNNPack(),
      pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.9, 0))
  files = {"dense": ltp_tf.export_tflite(model, sparse=False)}
  files["1x1 convs 90 % sparse"] = ltp_tf.export_tflite(_prune_pointwise(model, 0.9))
  pointwise = [w for w in ltp_tf.tflite_weights(files["1x1 convs 90 % sparse"])
               if w.op == "CONV_2D" and w.shape[1:3] == (1, 1)]
  rows = []
  for threads, builtin in ((1, False), (2, False), (1, True)):
    samples = {name: [] for name in files}
    for _ in range(4):  # Interleaved rounds, so load from other processes hits both alike.
      for name, tflite in files.items():
        samples[name] += _time(tflite, threads, runs // 4, builtin)
    row = {"kernels": "builtin (no XNNPack)" if builtin else "XNNPack", "threads": threads}
    for name, times in samples.items():
      row[name] = {"median_ms": statistics.median(times),
                   "p10_ms": float(np.percentile(times, 10)),
                   "p90_ms": float(np.percentile(times, 90))}
    row["dense_over_sparse"] = (row["dense"]["median_ms"] /
                                row["1x1 convs 90 % sparse"]["median_ms"])
    rows.append(row)
  return {"model": "MobileNet-like, 224x224x3, batch 1, float32",
          "bytes": {name: len(t) for name, t in files.items()},
          "pointwise_filters_sparse": sum(w.sparse for w in pointwise),
          "pointwise_filters": len(pointwise),
          "pointwise_sparsity": float(np.mean([w.sparsity for w in pointwise])),
          "rows": rows}


# --- Report ---------------------------------------------------------------------------------


def _markdown(results):
  lines = [f"# Deployment measurements\n\nProduced by `{results['command']}` on "
           f"{results['machine']} ({results['seconds'] / 60:.1f} min).\n"]
  for name, r in results["models"].items():
    t = r["training"]
    lines += [f"## {name}\n",
              f"Budget: {t['epochs']['dense']} dense, {t['epochs']['soft']} soft, "
              f"{t['epochs']['finetune']} fine-tune epochs on {t['train_examples']} images, "
              f"l0_lambda {t['l0_lambda']:g}; sparsity {t['sparsity']:.2%} ({t['kept']:,} of "
              f"{t['prunable']:,} prunable weights kept). PQAT: {r['pqat']['epochs']} epoch.\n",
              "| file | bytes | gzip | non-zero bound | bytes / bound | values | indices | quant. "
              "params | other | sparse filters | accuracy (LiteRT) |", "|---|" + "---:|" * 10]
    for f in r["files"]:
      acc = f"{f['accuracy']:.4f}" if "accuracy" in f else "(same weights)"
      other = f["bytes"] - f["value_bytes"] - f["index_bytes"] - f["quantization_bytes"]
      name = f["file"] + (" (stored dense: float16 workaround, see export_tflite)"
                          if f.get("stored_dense_instead", f["sparse_tensors"] == 0
                                   and "float16, sparse" in f["file"]) else "")
      lines.append(f"| {name} | {f['bytes']:,} | {f['gzip_bytes']:,} | "
                   f"{f['nonzero_bound_bytes']:,} | {f['bytes'] / f['nonzero_bound_bytes']:.2f} | "
                   f"{f['value_bytes']:,} | {f['index_bytes']:,} | "
                   f"{f['quantization_bytes']:,} | {other:,} | "
                   f"{f['sparse_tensors']}/{f['filters']} | {acc} |")
    for file_name, tensors in r["tensors"].items():
      lines += [f"\n{file_name}, per tensor (filters; biases are always dense):\n",
                "| tensor | op | shape | sparsity | stored | values | indices | quant. params | "
                "why dense |", "|---|---|---|---:|---|---:|---:|---:|---|"]
      for w in tensors:
        if len(w["shape"]) < 2:
          continue
        stored = f"sparse ({w['block']}{', DENSIFY' if w['densify'] else ''})" \
            if w["sparse"] else "dense"
        lines.append(f"| {w['name'][:60]} | {w['op']} | {'x'.join(map(str, w['shape']))} | "
                     f"{w['sparsity']:.1%} | {stored} | {w['value_bytes']:,} | "
                     f"{w['index_bytes']:,} | {w['quantization_bytes']:,} | {w['reason']} |")
    if "mask_stability" in r:
      lines += ["\n`to_tfmot`, then one epoch of fine-tuning with `UpdatePruningStep`:\n",
                "| frequency | steps | mask entries changed | kept (LTP → after) | accuracy |",
                "|---|---:|---:|---|---:|"]
      for freq, m in r["mask_stability"].items():
        lines.append(f"| {freq} | {m['steps']} | {m['mask_entries_changed']:,} | "
                     f"{m['kept_ltp']:,} → {m['kept_after']:,} | {m['accuracy_after']:.4f} |")
    lines.append("")
  lat = results["latency"]
  lines += [f"## Latency: {lat['model']}\n",
            f"1x1 filters stored sparse: {lat['pointwise_filters_sparse']}/"
            f"{lat['pointwise_filters']} at {lat['pointwise_sparsity']:.1%}; bytes "
            f"{lat['bytes']}.\n",
            "| kernels | threads | dense ms (p10–p90) | sparse ms (p10–p90) | dense / sparse |",
            "|---|---:|---:|---:|---:|"]
  for row in lat["rows"]:
    d, s = row["dense"], row["1x1 convs 90 % sparse"]
    lines.append(f"| {row['kernels']} | {row['threads']} | {d['median_ms']:.2f} "
                 f"({d['p10_ms']:.2f}–{d['p90_ms']:.2f}) | {s['median_ms']:.2f} "
                 f"({s['p10_ms']:.2f}–{s['p90_ms']:.2f}) | {row['dense_over_sparse']:.2f} |")
  return "\n".join(lines) + "\n"


def _machine():
  flags_line = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
  isa = [f for f in ("avx", "avx2", "avx512f") if f in flags_line.split()]
  return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{'/'.join(isa) or 'no AVX'}, TF {tf.__version__}")


def main(argv):
  del argv
  if _RUNS.value < 4:  # Timed in 4 interleaved turns per model and setting.
    raise app.UsageError(f"--latency_runs must be at least 4, got {_RUNS.value}")
  logging.set_verbosity(logging.WARNING)
  start, data_dir = time.time(), _DATA_DIR.value or data.default_data_dir()
  keras.utils.set_random_seed(0)
  results = {"command": "python benchmarks/deploy.py --data_dir=" + data_dir,
             "machine": _machine(), "models": {}}
  (x_tr, y_tr), test = data.idx_dataset("mnist", data_dir)
  dense, ltp, log = _train(models.get_model("lenet5", (28, 28, 1), 10), (x_tr, y_tr),
                           _LENET.value, l0_lambda=2e-6, lr=0.05)
  files, tensors, pqat = _sizes(dense, ltp, (x_tr, y_tr), test, qat_epochs=1, qat_lr=0.001)
  results["models"]["LeNet-5 on MNIST"] = {
      "training": log, "files": files, "tensors": tensors, "pqat": pqat,
      "mask_stability": _mask_stability(ltp, (x_tr, y_tr), test)}

  (x_tr, y_tr), test = data.idx_dataset("fashion_mnist", data_dir)
  n = _RESNET_TRAIN.value
  dense, ltp, log = _train(models.get_model("resnet20", (28, 28, 1), 10), (x_tr[:n], y_tr[:n]),
                           _RESNET.value, l0_lambda=5e-6, lr=0.05)
  files, tensors, pqat = _sizes(dense, ltp, (x_tr[:n], y_tr[:n]), test, qat_epochs=1,
                                qat_lr=0.001)
  results["models"]["ResNet-20 (BN) on Fashion-MNIST"] = {
      "training": log, "files": files, "tensors": tensors, "pqat": pqat}

  results["latency"] = _latency(_RUNS.value)
  results["seconds"] = time.time() - start
  os.makedirs(_OUT.value, exist_ok=True)
  with open(os.path.join(_OUT.value, "deploy.json"), "w") as f:
    json.dump(results, f, indent=1, default=float)
  with open(os.path.join(_OUT.value, "deploy.md"), "w") as f:
    f.write(_markdown(results))
  print(_markdown(results))


if __name__ == "__main__":
  app.run(main)
