r"""Accuracy at matched sparsity: LTP vs TFMOT vs global magnitude pruning, and LTP's ablations.

  python benchmarks/compare.py --networks=lenet300,lenet5 --targets=0.9,0.95,0.98 \
      --seeds=0,1,2 --workdir=/tmp/ltp_bench --data_dir=../shared/data
  python benchmarks/compare.py --networks=resnet20 --targets=0.8,0.9 --seeds=0 \
      --workdir=/tmp/ltp_bench --data_dir=../shared/data

Writes ``benchmark_<network>.json`` / ``.md`` and PNGs (accuracy vs sparsity, the ablations'
keep-ratio curves, the Fig. 1 scatter with and without eq. 14) to ``--out``. Runs are
resumable: each finished (network, method, target, seed) is a JSON under
``--workdir/runs`` and is not run again. See ``benchmarks/harness.py`` for the protocol.
"""

import dataclasses
import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import figures  # noqa: E402  pylint: disable=g-import-not-at-top
from benchmarks import harness  # noqa: E402  pylint: disable=g-import-not-at-top

_NETWORKS = flags.DEFINE_list("networks", ["lenet300"], f"Of {sorted(harness.NETWORKS)}.")
_TARGETS = flags.DEFINE_list("targets", ["0.9", "0.95", "0.98"], "Target sparsities.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (dense init and data order).")
_METHODS = flags.DEFINE_list("methods", list(harness.METHODS), "Methods to run.")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/ltp_bench", "Runs and dense checkpoints.")
_OUT = flags.DEFINE_string("out", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               "results"), "Where JSON, Markdown, PNGs go.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder with mnist/ and fashion_mnist/ "
                                "IDX files (default: $LTP_TF_DATA_DIR or ../shared/data).")
_OVERRIDES = flags.DEFINE_list("override", [], "Network fields to override for every "
                               "network, e.g. prune_epochs=2,train_examples=2000.")


def parse_overrides(items):
  fields = {f.name: f.type for f in dataclasses.fields(harness.Network)}
  out = {}
  for item in items:
    key, _, value = item.partition("=")
    if key not in fields or key in ("name", "model", "dataset", "model_kwargs"):
      raise ValueError(f"--override {item!r}: not an overridable Network field "
                       f"({sorted(set(fields) - {'name', 'model', 'dataset', 'model_kwargs'})})")
    out[key] = float(value) if fields[key] in (float, "float") else int(value)
  return out


def run(networks, targets, seeds, methods, workdir, out_dir, data_dir=None, overrides=None,
        verbose=0):
  """Runs the grid for each network and writes its outputs; returns {network: rows}."""
  unknown = [m for m in methods if m not in harness.METHODS]
  if unknown:
    raise ValueError(f"unknown methods {unknown}; choose from {harness.METHODS}")
  summary = {}
  for name in networks:
    if name not in harness.NETWORKS:
      raise ValueError(f"unknown network {name!r}; choose from {sorted(harness.NETWORKS)}")
    network = dataclasses.replace(harness.NETWORKS[name], **(overrides or {}))
    data = harness.load_data(network, data_dir)
    specs = harness.grid_specs(methods, targets, seeds)
    results = harness.run_grid(network, specs, data, workdir, verbose=verbose)
    harness.write_outputs(network, results, out_dir)
    rows = harness.aggregate(results)
    runs_dir = os.path.join(workdir, "runs")
    figures.accuracy_vs_sparsity(name, rows, os.path.join(out_dir, f"accuracy_{name}.png"))
    figures.keep_ratio_ablation(name, results, runs_dir,
                                os.path.join(out_dir, f"keep_ratio_{name}.png"),
                                target=sorted(targets)[len(targets) // 2] if targets else None)
    figures.fig1_pair(name, results, runs_dir, os.path.join(out_dir, f"fig1_{name}.png"))
    summary[name] = rows
  return summary


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  run(_NETWORKS.value, [float(t) for t in _TARGETS.value], [int(s) for s in _SEEDS.value],
      _METHODS.value, _WORKDIR.value, _OUT.value, _DATA_DIR.value,
      parse_overrides(_OVERRIDES.value))


if __name__ == "__main__":
  app.run(main)
