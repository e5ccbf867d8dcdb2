"""Seed-to-seed spread of LTP: mnist_lenet300 at a short budget, over several seeds.

The paper reports a standard deviation below 0.5 points (accuracy and sparsity) over 10
ResNet-50 runs. This runs ``train_lib.train_and_evaluate`` with ``configs/mnist_lenet300.py``
once per seed (the seed sets the initial weights and the data order) and reports the mean and
the sample standard deviation (ddof = 1) of the accuracy and sparsity of each stage.

Command (from the repository root; ~10 min on 2 shared CPU cores):
  python benchmarks/seeds.py --data_dir=../shared/data --seeds=0,1,2,3,4 \\
      --out=benchmarks/results

Writes ``seeds.json`` (every run's stages, the summary, the command) and ``seeds.md``.
"""

import json
import os
import shutil
import statistics
import sys
import time

from absl import app
from absl import flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Seeds to run.")
_DATA_DIR = flags.DEFINE_string("data_dir", os.path.join(_ROOT, "..", "shared", "data"),
                                "Folder holding mnist/ with the original *.gz files.")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/ltp_seeds", "Scratch folder (one run per seed; "
                               "emptied first, so every run starts from scratch).")
_OUT = flags.DEFINE_string("out", os.path.join(_ROOT, "benchmarks", "results"),
                           "Where seeds.json and seeds.md go.")
# The short budget of tests/test_train.py's MNIST run (README: ~1.5 min per run).
_BUDGET = {"dense_epochs": 2, "soft_epochs": 4, "finetune_epochs": 1}
_STAGES = ("dense", "soft", "hard", "finetuned")


def _config(seed):
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location(
      "mnist_lenet300", os.path.join(_ROOT, "configs", "mnist_lenet300.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  config.update(_BUDGET)
  config.seed = seed
  config.tfds_manual_dir = os.path.join(os.path.abspath(_DATA_DIR.value), "mnist")
  config.tfds_data_dir = os.path.join(_WORKDIR.value, "tfds")
  config.export_tflite = False  # The spread of training, not of the converter.
  config.export_int8 = False
  config.verbose = 0
  return config


def _summary(runs):
  out = {}
  for stage in _STAGES:
    for key in ("accuracy", "sparsity"):
      values = [r["stages"][stage][key] for r in runs]
      out[f"{stage}_{key}"] = {
          "mean": statistics.fmean(values),
          "std": statistics.stdev(values) if len(values) > 1 else 0.0,
          "min": min(values), "max": max(values)}
  return out


def _markdown(result):
  lines = ["# LTP seed spread: mnist_lenet300, short budget", "",
           f"Command: `{result['command']}`", "",
           f"Budget: {', '.join(f'{k}={v}' for k, v in _BUDGET.items())}; "
           f"{len(result['runs'])} seeds; std is the sample standard deviation (ddof = 1), "
           "in points. Accuracy is on the 10,000 MNIST test images (1 image = 0.01 pt).", "",
           "| seed | dense acc. | soft acc. | soft sparsity | fine-tuned acc. | final sparsity "
           "| seconds |", "|---:|---:|---:|---:|---:|---:|---:|"]
  for r in result["runs"]:
    s = r["stages"]
    lines.append(f"| {r['seed']} | {s['dense']['accuracy']:.4f} | {s['soft']['accuracy']:.4f} "
                 f"| {s['soft']['sparsity']:.2%} | {s['finetuned']['accuracy']:.4f} "
                 f"| {s['finetuned']['sparsity']:.2%} | {r['seconds']:.0f} |")
  lines += ["", "| stage | accuracy mean ± std | sparsity mean ± std |", "|---|---:|---:|"]
  summary = result["summary"]
  for stage in _STAGES:
    acc, sp = summary[f"{stage}_accuracy"], summary[f"{stage}_sparsity"]
    lines.append(f"| {stage} | {100 * acc['mean']:.2f} ± {100 * acc['std']:.2f} "
                 f"| {100 * sp['mean']:.2f} ± {100 * sp['std']:.2f} |")
  return "\n".join(lines) + "\n"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from ltp_tf import train_lib  # pylint: disable=g-import-not-at-top
  from ltp_tf._keras import keras  # pylint: disable=g-import-not-at-top
  runs = []
  for seed in (int(s) for s in _SEEDS.value):
    workdir = os.path.join(_WORKDIR.value, f"seed_{seed}")
    shutil.rmtree(workdir, ignore_errors=True)
    keras.backend.clear_session()
    start = time.time()
    report = train_lib.train_and_evaluate(_config(seed), workdir)
    runs.append({"seed": seed, "stages": report["stages"], "seconds": time.time() - start,
                 "layers": [{k: t[k] for k in ("layer", "weight", "size", "kept")}
                            for t in report["layers"]]})
  result = {"command": " ".join(["python", "benchmarks/seeds.py"] + sys.argv[1:]),
            "config": "configs/mnist_lenet300.py", "budget": _BUDGET, "runs": runs,
            "summary": _summary(runs)}
  os.makedirs(_OUT.value, exist_ok=True)
  with open(os.path.join(_OUT.value, "seeds.json"), "w") as f:
    json.dump(result, f, indent=1)
  markdown = _markdown(result)
  with open(os.path.join(_OUT.value, "seeds.md"), "w") as f:
    f.write(markdown)
  print(markdown)


if __name__ == "__main__":
  app.run(main)
