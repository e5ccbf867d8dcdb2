"""The accuracy grid behind ``compare.py``, as functions (the binary only parses flags)."""

import dataclasses
import os

from benchmarks import figures
from benchmarks import harness

_FIXED = ("name", "model", "dataset", "model_kwargs", "dense_name")
# Fields the dense checkpoint depends on: overriding one of them trains a new one.
_DENSE_FIELDS = ("dense_epochs", "learning_rate", "batch_size", "train_examples",
                 "keras3_backend")


def parse_overrides(items):
  """``["prune_epochs=2", ...]`` -> ``{"prune_epochs": 2}``, checked against ``Network``."""
  fields = {f.name: f.type for f in dataclasses.fields(harness.Network)}
  out = {}
  for item in items:
    key, _, value = item.partition("=")
    if key not in fields or key in _FIXED:
      raise ValueError(f"--override {item!r}: not an overridable Network field "
                       f"({sorted(set(fields) - set(_FIXED))})")
    kind = fields[key] if isinstance(fields[key], str) else fields[key].__name__
    out[key] = {"float": float, "int": int, "str": str}[kind](value)
  return out


def with_overrides(network, overrides):
  """``network`` with ``overrides`` applied, renamed ``name+key=value,...`` so that its runs
  and outputs never mix with the plain grid's; the dense checkpoint is shared unless a field
  it depends on is overridden."""
  if not overrides:
    return network
  suffix = ",".join(f"{k}={v:g}" if not isinstance(v, str) else f"{k}={v}"
                    for k, v in sorted(overrides.items()))
  dense_name = "" if set(overrides) & set(_DENSE_FIELDS) else network.dense_name or network.name
  return dataclasses.replace(network, name=f"{network.name}+{suffix}", dense_name=dense_name,
                             **overrides)


def run(networks, targets, seeds, methods, workdir, out_dir, data_dir=None, overrides=None,
        ablation_seeds=None, natural=True, verbose=0, finished_only=False):
  """Runs the grid for each network and writes its outputs; returns {network: rows}.

  ``ablation_seeds`` (default: ``seeds``) are the seeds of ``harness.ABLATIONS``: the
  ablations answer a yes/no question, so one seed can be enough where the grid is slow.
  ``natural=False`` skips the natural endpoints (fixed lambda, no target), but for
  ``ltp_noreg``'s, its only run.
  """
  unknown = [m for m in methods if m not in harness.METHODS]
  if unknown:
    raise ValueError(f"unknown methods {unknown}; choose from {harness.METHODS}")
  summary = {}
  for name in networks:
    if name not in harness.NETWORKS:
      raise ValueError(f"unknown network {name!r}; choose from {sorted(harness.NETWORKS)}")
    network = with_overrides(harness.NETWORKS[name], overrides)
    data = harness.load_data(network, data_dir)
    specs = harness.grid_specs(methods, targets, seeds, natural=natural,
                               ablation_seeds=ablation_seeds)
    results = harness.run_grid(network, specs, data, workdir, verbose=verbose,
                               finished_only=finished_only)
    harness.write_outputs(network, results, out_dir)
    rows = harness.aggregate(results)
    runs_dir = os.path.join(workdir, "runs")
    label = network.name
    figures.accuracy_vs_sparsity(label, rows, os.path.join(out_dir, f"accuracy_{label}.png"))
    figures.keep_ratio_ablation(label, results, runs_dir,
                                os.path.join(out_dir, f"keep_ratio_{label}.png"),
                                target=sorted(targets)[len(targets) // 2] if targets else None)
    figures.fig1_pair(label, results, runs_dir, os.path.join(out_dir, f"fig1_{label}.png"))
    for target in targets:
      figures.keep_ratio_per_layer(
          label, results, target, os.path.join(out_dir, f"layers_{label}_{target:g}.png"))
    summary[label] = rows
  return summary
