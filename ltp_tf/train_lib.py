"""The main job: dense training, LTP soft pruning, hard pruning, fine-tuning, export, report.

``train_and_evaluate(config, workdir)`` is what the ``ltp-train`` binary runs; tests run it with
shrunk configs. ``config`` is an ``ml_collections.ConfigDict`` (see ``configs/``); this module
only reads its fields.
"""

import json
import os
import time

from ltp_tf import callbacks
from ltp_tf import data
from ltp_tf import export
from ltp_tf import prune
from ltp_tf import report as report_lib
from ltp_tf._keras import keras


def load_data(config):
  """((x, y) train, (x, y) test) for ``config.dataset``."""
  if config.dataset == "digits":
    return data.digits(seed=config.seed)
  if config.dataset in ("mnist", "fashion_mnist"):
    if not config.tfds_data_dir:
      raise ValueError(f"config.tfds_data_dir must name a writable folder for tfds to "
                       f"prepare {config.dataset} in (got {config.tfds_data_dir!r}).")
    return data.tfds_dataset(config.dataset, config.tfds_data_dir,
                             manual_dir=config.tfds_manual_dir or None)
  raise ValueError(f"config.dataset must be 'digits', 'mnist' or 'fashion_mnist', "
                   f"got {config.dataset!r}")


def build_model(config, input_shape, num_classes):
  """The network named by ``config.model``: 'mlp' (hidden sizes ``config.hidden``)."""
  if config.model != "mlp":
    raise ValueError(f"config.model must be 'mlp', got {config.model!r}")
  layers = [keras.Input(input_shape), keras.layers.Flatten()]
  layers += [keras.layers.Dense(units, activation="relu") for units in config.hidden]
  layers.append(keras.layers.Dense(num_classes))
  return keras.Sequential(layers, name=config.model)


def _compile(model, config):
  model.compile(keras.optimizers.SGD(config.learning_rate, momentum=config.momentum),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
  return model


def _accuracy(model, x, y):
  return float(model.evaluate(x, y, batch_size=512, verbose=0)[1])


def train_and_evaluate(config, workdir):
  """Runs every stage and writes ``report.json``, ``report.md``, TFLite files to ``workdir``.

  Returns:
    The report as a dict.
  """
  os.makedirs(workdir, exist_ok=True)
  keras.utils.set_random_seed(config.seed)
  times, stages = {}, {}
  start = time.time()
  (x_tr, y_tr), (x_te, y_te) = load_data(config)
  times["data"] = time.time() - start
  fit = dict(batch_size=config.batch_size, verbose=config.verbose,
             validation_data=(x_te, y_te))

  start = time.time()
  model = _compile(build_model(config, x_tr.shape[1:], int(y_tr.max()) + 1), config)
  model.fit(x_tr, y_tr, epochs=config.dense_epochs, **fit)
  stages["dense"] = {"accuracy": _accuracy(model, x_te, y_te), "sparsity": 0.0}
  dense_tflite = export.export_tflite(model, os.path.join(workdir, "model_dense.tflite"))
  times["dense"] = time.time() - start

  start = time.time()
  pruned = _compile(prune.prune_low_magnitude_learned(
      model, l0_lambda=config.l0_lambda, temperature=config.temperature,
      threshold_lr_ratio=config.threshold_lr_ratio,
      stabilized_gradient=config.stabilized_gradient), config)
  history = pruned.fit(x_tr, y_tr, epochs=config.soft_epochs, **fit, callbacks=[
      callbacks.LTPPruningSchedule(),
      callbacks.LTPSummaries(os.path.join(workdir, "tensorboard"))])
  stages["soft"] = {"accuracy": _accuracy(pruned, x_te, y_te),
                    "sparsity": report_lib.sparsity_report(pruned).sparsity}
  times["soft"] = time.time() - start

  prune.hard_prune(pruned)
  stages["hard"] = {"accuracy": _accuracy(pruned, x_te, y_te),
                    "sparsity": report_lib.sparsity_report(pruned).sparsity}

  start = time.time()
  if config.finetune_epochs:
    pruned.fit(x_tr, y_tr, epochs=config.finetune_epochs, **fit,
               callbacks=[callbacks.LTPPruningSchedule()])
  per_layer = report_lib.sparsity_report(pruned)
  stages["finetuned"] = {"accuracy": _accuracy(pruned, x_te, y_te),
                         "sparsity": per_layer.sparsity}
  times["finetune"] = time.time() - start

  start = time.time()
  stripped = prune.strip_pruning(pruned)
  stripped.save(os.path.join(workdir, "model_sparse.keras"))
  sparse_tflite = export.export_tflite(stripped, os.path.join(workdir, "model_sparse.tflite"))
  stages["tflite"] = {"accuracy": export.evaluate_tflite(sparse_tflite, (x_te, y_te))["accuracy"],
                      "sparsity": report_lib.sparsity_report(stripped).sparsity}
  times["export"] = time.time() - start

  result = {
      "config": config.to_dict(),
      "stages": stages,
      "layers": per_layer.as_dict()["tensors"],
      "tflite_bytes": {"dense": len(dense_tflite), "sparse": len(sparse_tflite)},
      "soft_history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
      "seconds": times,
  }
  with open(os.path.join(workdir, "report.json"), "w") as f:
    json.dump(result, f, indent=2)
  markdown = format_report(result, per_layer)
  with open(os.path.join(workdir, "report.md"), "w") as f:
    f.write(markdown)
  print(markdown)
  return result


def format_report(result, per_layer):
  lines = [f"# LTP report: {result['config']['dataset']} / {result['config']['model']}", "",
           "| stage | test accuracy | sparsity |", "|---|---:|---:|"]
  for stage, values in result["stages"].items():
    lines.append(f"| {stage} | {values['accuracy']:.4f} | {values['sparsity']:.2%} |")
  sizes = result["tflite_bytes"]
  lines += ["", f"TFLite bytes: dense {sizes['dense']}, sparse {sizes['sparse']} "
            f"({sizes['dense'] / sizes['sparse']:.2f}x smaller)", "", "## Per layer", "",
            str(per_layer), "",
            "Seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result["seconds"].items())]
  return "\n".join(lines) + "\n"
