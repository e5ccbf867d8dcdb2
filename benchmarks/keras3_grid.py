"""The Keras 3 column behind ``keras3.py``, as functions (the binary only parses flags): one
``compare.py`` process per backend, then the table beside the tf_keras grids' rows."""

import dataclasses
import json
import os
import subprocess
import sys

from benchmarks import grid
from benchmarks import harness
from benchmarks import report
from ltp_tf import trail

_HERE = os.path.dirname(os.path.abspath(__file__))
# A "backend" that is tf_keras: the same overrides on today's tf_keras, as a control.
TF_KERAS = "tf_keras"


def _backend_override(backend):
  return {} if backend == TF_KERAS else {"keras3_backend": backend}


def network_of(name, backend, overrides):
  """``harness.NETWORKS[name]`` with ``overrides`` on ``backend`` (a Keras 3 backend, or
  ``TF_KERAS``), as ``compare.py`` names it."""
  return grid.with_overrides(harness.NETWORKS[name], {**overrides, **_backend_override(backend)})


def compare_command(backend, networks, targets, seeds, methods, override_items, workdir,
                    data_dir=None):
  """``compare.py``'s command line for one backend's share of the grid."""
  overrides = ",".join([*(f"{k}={v}" for k, v in _backend_override(backend).items()),
                        *override_items])
  command = [sys.executable, os.path.join(_HERE, "compare.py"),
             f"--networks={','.join(networks)}", f"--targets={','.join(str(t) for t in targets)}",
             f"--seeds={','.join(str(s) for s in seeds)}", f"--methods={','.join(methods)}",
             "--nonatural", f"--override={overrides}", f"--workdir={workdir}",
             f"--out={os.path.join(workdir, 'out')}"]
  return command + ([f"--data_dir={data_dir}"] if data_dir else [])


def run_backend(backend, *args, xla_flags="", **kwargs):
  """Runs ``compare_command(backend, ...)`` in a process on ``backend``; raises if it fails.

  ``xla_flags``, when given, is appended to ``XLA_FLAGS`` for the JAX backend's process.
  """
  env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
  env["TF_CPP_MIN_LOG_LEVEL"] = "3"
  if backend != TF_KERAS:
    env["KERAS_BACKEND"] = backend
  if backend == "jax" and xla_flags:
    env["XLA_FLAGS"] = " ".join(f for f in (env.get("XLA_FLAGS", ""), xla_flags) if f)
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


def _by_target(runs, method):
  """{target: aggregated row} of ``method``'s runs."""
  return {r["target"]: r for r in harness.aggregate([r for r in runs if r["method"] == method])}


def table(reference, found, backends, method="ltp"):
  """Markdown lines and verdicts: per (network, target), tf_keras's ``method`` row from
  ``reference`` ({network: aggregate rows}) beside each backend's, with the difference, the
  verdict (Keras 3 backends only) and the time per run."""
  label = {b: "tf_keras now" if b == TF_KERAS else f"Keras 3 {b}" for b in backends}
  head = ["network", "target", "tf_keras grid (seeds)"]
  head += [f"{label[b]} (seeds)" for b in backends] + [f"{label[b]} − grid" for b in backends]
  head += [f"{label[b]} s / run" for b in backends]
  lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
  verdicts = []
  for name in sorted({n for n, _ in found}, key=lambda n: list(reference).index(n)
                     if n in reference else len(reference)):
    tf_rows = {r["target"]: r for r in reference.get(name, []) if r["method"] == method}
    k3_rows = {b: _by_target(found[(name, b)], method) for b in backends}
    targets = sorted({t for rows in k3_rows.values() for t in rows})
    for target in targets:
      tf_row = tf_rows.get(target)
      rows = [k3_rows[b].get(target) for b in backends]
      cells = [name, f"{target:.0%}", _cell(tf_row)] + [_cell(r) for r in rows]
      for backend, r in zip(backends, rows):
        if r is None or tf_row is None:
          cells.append("-")
          continue
        ok = report.within_noise(r, tf_row)
        if backend != TF_KERAS:  # The control is no verdict on Keras 3.
          verdicts.append(ok)
        cells.append(f"{r['accuracy_mean'] - tf_row['accuracy_mean']:+.2%} "
                     f"({'ok' if ok else '**behind**'})")
      cells += ["-" if r is None else f"{r['seconds_mean']:.0f}" for r in rows]
      lines.append("| " + " | ".join(cells) + " |")
  return lines, verdicts


def against_control(found, backends, method="ltp"):
  """Verdicts of each Keras 3 backend against today's tf_keras path (``TF_KERAS``, same
  overrides) wherever both ran a target: at least as accurate, or behind by less than the
  seed noise. Empty without the control."""
  if TF_KERAS not in backends:
    return []
  verdicts = []
  for (name, backend), runs in found.items():
    if backend == TF_KERAS or backend not in backends:
      continue
    control = _by_target(found.get((name, TF_KERAS), []), method)
    verdicts += [report.within_noise(row, control[target])
                 for target, row in _by_target(runs, method).items() if target in control]
  return verdicts


def markdown(lines, verdicts, command, overrides, missing, dense, control=()):
  text = ["# Keras 3: LTP on the TensorFlow and JAX backends", "",
          "The tf_keras LeNet grids' budget, optimizer, models (`ltp_tf.models`, built with "
          "Keras 3) and target schedule, on Keras 3, each backend in a process of its own; "
          f"LTP's {', '.join(f'{k}={v:g}' for k, v in sorted(overrides.items()))} "
          "(the thresholds' pace when the tf_keras grids ran: the library default is now 7e-6). "
          "tf_keras grid: the `ltp` rows above (mean ± std over their seeds), run before the "
          "thresholds got their own eq. (11) step (they were stepped by the SGD with momentum "
          "0.9 at r = 1e-5, about 5e-6). tf_keras now: today's tf_keras path with the same "
          "overrides, a control for that change. "
          "`ok`: at least as accurate, or behind by less than the two stds in quadrature "
          "(`report.within_noise`). Seconds per run: pruning + fine-tuning `fit`, on 2 shared "
          "CPU cores.", "", "```bash", command, "```", "", *lines, "",
          f"Dense starts (test accuracy): {dense}.", "",
          f"Verdict: Keras 3 at least as accurate as tf_keras within seed noise in "
          f"{sum(verdicts)} of {len(verdicts)} comparisons."]
  if control:
    text += ["", f"Against today's tf_keras path with the same settings (the control, which "
             f"isolates Keras 3 from the library's changes since the grid): at least as accurate "
             f"within seed noise in {sum(control)} of {len(control)} comparisons."]
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
    f.write(markdown(lines, verdicts, command, overrides, missing, dense,
                     against_control(found, backends)))
  return verdicts
