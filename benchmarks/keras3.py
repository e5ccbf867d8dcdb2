r"""LTP on Keras 3 (one process per backend) beside the tf_keras grids' ``ltp`` rows.

  python benchmarks/keras3.py --networks=lenet300,lenet5 --targets=0.9,0.95,0.98 --seeds=0 \
      --backends=tensorflow,jax --workdir=/tmp/ltp_bench_k3 --data_dir=../shared/data

For each backend, starts ``compare.py`` in a process of its own (Keras 3 reads
``KERAS_BACKEND`` once per process) with ``--override=keras3_backend=<backend>,<--override>``,
``--methods`` (default ``ltp``) and no natural endpoints: the tf_keras grids' budget, optimizer
and models. Runs are resumable (one JSON per run under ``--workdir/runs``); ``--norun`` only
collects the finished ones. Writes ``keras3_lenets.json`` / ``.md`` to ``--out``: per network
and target, tf_keras's row (mean ± std over its seeds, from ``benchmark_<network>.json`` there)
beside each backend's, and whether Keras 3 is at least as accurate within the seed noise
(``report.within_noise``). ``report.py`` puts the Markdown in BENCHMARKS.md.

``threshold_lr=5e-6`` by default: the pace of the thresholds when the tf_keras grids ran
(the library default has since become 7e-6).
"""

import dataclasses
import json
import os
import subprocess
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import grid  # noqa: E402  pylint: disable=g-import-not-at-top
from benchmarks import harness  # noqa: E402  pylint: disable=g-import-not-at-top
from benchmarks import report  # noqa: E402  pylint: disable=g-import-not-at-top
from ltp_tf import trail  # noqa: E402  pylint: disable=g-import-not-at-top

_HERE = os.path.dirname(os.path.abspath(__file__))

_NETWORKS = flags.DEFINE_list("networks", ["lenet300", "lenet5"], "Networks of harness.NETWORKS.")
_TARGETS = flags.DEFINE_list("targets", ["0.9", "0.95", "0.98"], "Target sparsities.")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds.")
_BACKENDS = flags.DEFINE_list("backends", ["tensorflow", "jax"], "Keras 3 backends.")
_METHODS = flags.DEFINE_list("methods", ["ltp"], f"Of {harness.KERAS3_METHODS}.")
_OVERRIDES = flags.DEFINE_list("override", ["threshold_lr=5e-6"],
                               "Network fields for every run (see compare.py).")
_RUN = flags.DEFINE_bool("run", True, "Run the missing runs (else only collect).")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/ltp_bench_k3", "Runs and dense checkpoints.")
_OUT = flags.DEFINE_string("out", os.path.join(_HERE, "results"), "Where the outputs go; the "
                           "tf_keras grids' benchmark_<network>.json are read there.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "As compare.py's.")


def network_of(name, backend, overrides):
  """The Keras 3 twin of ``harness.NETWORKS[name]`` on ``backend``, as ``compare.py`` names
  it."""
  return grid.with_overrides(harness.NETWORKS[name], {**overrides, "keras3_backend": backend})


def compare_command(backend, networks, targets, seeds, methods, override_items, workdir,
                    data_dir=None):
  """``compare.py``'s command line for one backend's share of the grid."""
  command = [sys.executable, os.path.join(_HERE, "compare.py"), f"--networks={','.join(networks)}",
             f"--targets={','.join(str(t) for t in targets)}",
             f"--seeds={','.join(str(s) for s in seeds)}", f"--methods={','.join(methods)}",
             "--nonatural", f"--override={','.join([f'keras3_backend={backend}', *override_items])}",
             f"--workdir={workdir}", f"--out={os.path.join(workdir, 'out')}"]
  return command + ([f"--data_dir={data_dir}"] if data_dir else [])


def run_backend(backend, *args, **kwargs):
  """Runs ``compare_command(backend, ...)`` in a process on ``backend``; raises if it fails."""
  env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
  env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
  subprocess.run(compare_command(backend, *args, **kwargs), env=env, check=True)


def collect(networks, backends, targets, seeds, methods, overrides, workdir):
  """The finished runs: {(network, backend): [result, ...]} (missing runs are left out)."""
  found = {}
  for name in networks:
    for backend in backends:
      network = network_of(name, backend, overrides)
      runs = [trail.read_json(os.path.join(workdir, "runs", harness.run_name(
          network, m, t, s) + ".json"), None) for m in methods for t in targets for s in seeds]
      found[(name, backend)] = [r for r in runs if r]
  return found


def _cell(row):
  if row is None:
    return "not run"
  return f"{row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f} ({row['seeds']})"


def table(reference, found, backends, method="ltp"):
  """Markdown lines and verdicts: per (network, target), tf_keras's ``method`` row from
  ``reference`` ({network: aggregate rows}) beside each backend's, with the difference, the
  verdict and the time per run."""
  head = ["network", "target", "tf_keras (seeds)"] + [f"Keras 3 {b} (seeds)" for b in backends]
  head += [f"{b} − tf_keras" for b in backends] + [f"{b} s / run" for b in backends]
  lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
  verdicts = []
  for name in sorted({n for n, _ in found}, key=lambda n: list(reference).index(n)
                     if n in reference else len(reference)):
    tf_rows = {r["target"]: r for r in reference.get(name, []) if r["method"] == method}
    k3_rows = {b: {r["target"]: r for r in harness.aggregate(
        [r for r in found[(name, b)] if r["method"] == method])} for b in backends}
    targets = sorted({t for rows in k3_rows.values() for t in rows})
    for target in targets:
      tf_row = tf_rows.get(target)
      rows = [k3_rows[b].get(target) for b in backends]
      cells = [name, f"{target:.0%}", _cell(tf_row)] + [_cell(r) for r in rows]
      for r in rows:
        if r is None or tf_row is None:
          cells.append("-")
          continue
        ok = report.within_noise(r, tf_row)
        verdicts.append(ok)
        cells.append(f"{r['accuracy_mean'] - tf_row['accuracy_mean']:+.2%} "
                     f"({'ok' if ok else '**behind**'})")
      cells += ["-" if r is None else f"{r['seconds_mean']:.0f}" for r in rows]
      lines.append("| " + " | ".join(cells) + " |")
  return lines, verdicts


def markdown(lines, verdicts, command, overrides, missing, dense):
  text = ["# Keras 3: LTP on the TensorFlow and JAX backends", "",
          "The tf_keras LeNet grids' budget, optimizer, models (`ltp_tf.models`, built with "
          "Keras 3) and target schedule, on Keras 3, each backend in a process of its own; "
          f"LTP's {', '.join(f'{k}={v:g}' for k, v in sorted(overrides.items()))} "
          "(the thresholds' pace when the tf_keras grids ran: the library default is now 7e-6). "
          "tf_keras: the `ltp` rows above (mean ± std over their seeds). "
          "`ok`: at least as accurate, or behind by less than the two stds in quadrature "
          "(`report.within_noise`). Seconds per run: pruning + fine-tuning `fit`, on 2 shared "
          "CPU cores.", "", "```bash", command, "```", "", *lines, "",
          f"Dense starts (test accuracy): {dense}.", "",
          f"Verdict: Keras 3 at least as accurate as tf_keras within seed noise in "
          f"{sum(verdicts)} of {len(verdicts)} comparisons."]
  if missing:
    text += ["", "Not run: " + "; ".join(missing) + "."]
  return "\n".join(text) + "\n"


def write(out, reference, found, backends, targets, seeds, methods, overrides, command):
  """``keras3_lenets.json`` and ``.md`` under ``out``; returns the verdicts."""
  lines, verdicts = table(reference, found, backends)
  missing = [f"{name} on {backend}: {len(targets) * len(seeds) * len(methods) - len(runs)} of "
             f"{len(targets) * len(seeds) * len(methods)} runs"
             for (name, backend), runs in found.items()
             if len(runs) < len(targets) * len(seeds) * len(methods)]
  dense = ", ".join(f"{name} {backend} {runs[0]['dense_accuracy']:.4f}"
                    for (name, backend), runs in found.items() if runs)
  payload = {"command": command, "overrides": overrides, "backends": list(backends),
             "networks": {f"{n}/{b}": dataclasses.asdict(network_of(n, b, overrides))
                          for n, b in found},
             "runs": [r for runs in found.values() for r in runs]}
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "keras3_lenets.json"), "w") as f:
    json.dump(payload, f, indent=1)
  with open(os.path.join(out, "keras3_lenets.md"), "w") as f:
    f.write(markdown(lines, verdicts, command, overrides, missing, dense))
  return verdicts


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  unknown = sorted(set(_METHODS.value) - set(harness.KERAS3_METHODS))
  if unknown:
    raise app.UsageError(f"--methods {unknown} do not run on Keras 3; choose from "
                         f"{harness.KERAS3_METHODS}")
  targets = [float(t) for t in _TARGETS.value]
  seeds = [int(s) for s in _SEEDS.value]
  overrides = grid.parse_overrides(_OVERRIDES.value)
  if _RUN.value:
    for backend in _BACKENDS.value:
      run_backend(backend, _NETWORKS.value, targets, seeds, _METHODS.value, _OVERRIDES.value,
                  _WORKDIR.value, _DATA_DIR.value)
  reference = {}
  for name in _NETWORKS.value:
    path = os.path.join(_OUT.value, f"benchmark_{name}.json")
    reference[name] = trail.read_json(path, {}).get("aggregate", [])
  found = collect(_NETWORKS.value, _BACKENDS.value, targets, seeds, _METHODS.value, overrides,
                  _WORKDIR.value)
  command = " ".join(["python benchmarks/keras3.py", *sys.argv[1:]])
  write(_OUT.value, reference, found, _BACKENDS.value, targets, seeds, _METHODS.value,
        overrides, command)


if __name__ == "__main__":
  app.run(main)
