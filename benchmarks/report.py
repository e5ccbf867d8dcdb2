r"""Writes BENCHMARKS.md from the benchmark results (JSON) and the hand-written notes.

  python benchmarks/report.py          # reads benchmarks/results/*.json, benchmarks/notes.md

Tables are generated, never typed: the grid per network (``compare.py``), the bars of
issue 4 checked against the runs, LTP against TFMOT and GMP at every matched sparsity, the
training cost (``cost.py``), and whatever other result files exist (``mask_cost``, ``seeds``, ``deploy``).
"""

import json
import os

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(_HERE, "results")
ROOT = os.path.dirname(_HERE)

# (network, largest allowed test error, smallest compression, label): the bars of issue 4.
BARS = {
    "lenet300": (0.018, 50.0, "LeNet-300-100 / MNIST: >= 50x compression at <= 1.8 % error "
                 "(Han et al. 12x at 1.59 %, DNS 56x at 1.99 %, Sparse VD 68x at 1.92 %)"),
    "lenet5": (0.009, 100.0, "LeNet-5 / MNIST: >= 100x at <= 0.9 % error (Han 12x at 0.77 %, "
               "DNS 111x at 0.91 %, Sparse VD 280x at 0.75 %)"),
}


def _load(name):
  path = os.path.join(RESULTS, name)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def bar_check(network, rows, dense_accuracy, method="ltp"):
  """One line per bar: met / missed by how much, from the aggregated rows of ``method`` (of
  every budget of ``network``: each row's ``network`` names its grid)."""
  lines = []
  ltp = [r for r in rows if r["method"] == method]
  if not ltp:
    return lines
  if network in BARS:
    max_error, min_compression, label = BARS[network]
    best = max((r for r in ltp if r["error_mean"] <= max_error),
               key=lambda r: r["compression_mean"], default=None)
    at_compression = [r for r in ltp if r["compression_mean"] >= min_compression * 0.999]
    if best and best["compression_mean"] >= min_compression * 0.999:
      verdict = (f"**met**: {best['compression_mean']:.1f}× at {best['error_mean']:.2%} "
                 f"error ({best['network']})")
    else:
      parts = []
      if best:
        parts.append(f"within {max_error:.1%} error the best is {best['compression_mean']:.1f}× "
                     f"({best['error_mean']:.2%}, {best['network']})")
      if at_compression:
        low = min(at_compression, key=lambda r: r["error_mean"])
        parts.append(f"at {low['compression_mean']:.0f}× the lowest error is "
                     f"{low['error_mean']:.2%} ({100 * (low['error_mean'] - max_error):+.2f} pt over "
                     f"the bar, {low['network']})")
      verdict = "**missed**: " + "; ".join(parts)
    lines.append(f"- {label}, `{method}`: {verdict}.")
  elif network == "resnet20":
    # One line per grid (plain, --override): each against its own dense starts' mean.
    at_10x = sorted((r for r in ltp if r["compression_mean"] >= 9.99),
                    key=lambda r: r.get("network", ""))
    for r in at_10x or [max(ltp, key=lambda r: r["compression_mean"])]:
      dense = r.get("dense_accuracy_mean", dense_accuracy)
      gap = r["accuracy_mean"] - dense
      verdict = "**met**" if r in at_10x and gap >= -0.01 else "**missed**"
      grid = f" ({r['network']}, {r['seeds']} seeds)" if "network" in r and "seeds" in r else ""
      lines.append(f"- ResNet-20 (BN) / Fashion-MNIST: >= 10× within 1 pt of dense, `{method}`"
                   f"{grid}: {verdict}: {r['compression_mean']:.1f}× at "
                   f"{r['accuracy_mean']:.4f} vs dense {dense:.4f} ({gap:+.2%}).")
  return lines


# The baselines a grid may hold, in table order: TFMOT (uniform, no depthwise), global magnitude
# and uniform magnitude (every tensor alike, depthwise included).
BASELINES = {"tfmot": "TFMOT", "gmp": "GMP", "uniform": "uniform"}
# The compact BN + depthwise networks (issue 11's bar), shown first.
COMPACT = ("mnv2c", "effc", "mnv2c_half", "effc_half")


def within_noise(row, other):
  """True if aggregated ``row`` is at least as accurate as ``other``, or behind by no more
  than their seed noise (the two accuracy stds added in quadrature)."""
  diff = row["accuracy_mean"] - other["accuracy_mean"]
  return diff >= 0 or -diff <= np.hypot(row["accuracy_std"], other["accuracy_std"])


def matched(rows, method="ltp"):
  """``method`` minus each baseline the grid holds (mean accuracy) at each target, with the
  stds; verdicts: at least as accurate, or behind by less than the seed noise."""
  present = [b for b in BASELINES if any(r["method"] == b for r in rows)] or ["tfmot", "gmp"]
  names = [BASELINES[b] for b in present]
  lines = [f"| target | {method} | " + " | ".join(names) + " | " +
           " | ".join(f"{method} − {n}" for n in names) + " |",
           "|---|" + "---:|" * (1 + 2 * len(names))]
  verdicts = []
  by = {(r["method"], r["target"]): r for r in rows}
  for target in sorted({r["target"] for r in rows if r["target"] is not None}):
    ltp = by.get((method, target))
    others = [by.get((b, target)) for b in present]
    if not ltp:
      continue
    cells = [f"{target:.1%}"]
    for r in (ltp, *others):
      cells.append(f"{r['accuracy_mean']:.4f} ± {r['accuracy_std']:.4f}" if r else "-")
    for other in others:
      if other:
        cells.append(f"{ltp['accuracy_mean'] - other['accuracy_mean']:+.2%}")
        verdicts.append(within_noise(ltp, other))
      else:
        cells.append("-")
    lines.append("| " + " | ".join(cells) + " |")
  return lines, verdicts


def compact_bar(network, rows, method="ltp"):
  """Issue 11's bar on a compact network: at every target ``method``'s mean over seeds at least
  as accurate as GMP and uniform magnitude; at 3x ahead of GMP by more than the seed noise."""
  by = {(r["method"], r["target"]): r for r in rows}
  targets = sorted(t for (m, t) in by if m == method and t is not None)
  if not targets:
    return []
  behind, three = [], None
  for t in targets:
    ltp = by[(method, t)]
    for b in ("gmp", "uniform"):
      other = by.get((b, t))
      if other and ltp["accuracy_mean"] < other["accuracy_mean"]:
        behind.append(f"{t:.1%} vs {BASELINES[b]} by "
                      f"{100 * (other['accuracy_mean'] - ltp['accuracy_mean']):.2f} pt")
    gmp = by.get(("gmp", t))
    if abs(t - 2 / 3) < 0.01 and gmp:
      noise = float(np.hypot(ltp["accuracy_std"], gmp["accuracy_std"]))
      three = (ltp["accuracy_mean"] - gmp["accuracy_mean"], noise, ltp["seeds"])
  seeds = sorted({r["seeds"] for r in rows if r["method"] == method})
  verdict = "**met**" if not behind else "**missed** (behind at " + "; ".join(behind) + ")"
  label = {"ltp": "`ltp` (eq. 6, the paper's)",
           "ltp_frac": "`ltp_frac` (the library's target-mode default)"}.get(method, f"`{method}`")
  if "+" in network:  # An --override grid: say what it changed.
    label = f"`{method}` with {network.split('+', 1)[1]}"
  line = (f"- {network}, {label}: at least as accurate as GMP and uniform magnitude at every "
          f"target ({', '.join(f'{t:.1%}' for t in targets)}; seeds per target: {seeds}): "
          f"{verdict}.")
  if three:
    diff, noise, n = three
    line += (f" At 3×: {100 * diff:+.2f} pt vs GMP, seed noise {100 * noise:.2f} pt ({n} seeds):"
             f" {'**ahead by more than the noise**' if diff > noise else '**not ahead by more than the noise**'}.")
  return [line]


def _differences(runs, method, other):
  """``{target: array}`` of ``method``'s accuracy minus ``other``'s, seed by seed, at each
  target where ``method`` ran (empty arrays where ``other`` has no run of that seed)."""
  acc = {(r["method"], r["target"], r["seed"]): r["accuracy"] for r in runs}
  return {target: np.array([a - acc[(other, target, s)] for (m, t, s), a in sorted(acc.items())
                            if m == method and t == target and (other, target, s) in acc])
          for target in sorted({t for (m, t, _) in acc if m == method and t is not None})}


def _mean_se(d):
  """``+0.12 ± 0.05 pt`` (percentage points) of the differences ``d``."""
  se = f" ± {100 * d.std(ddof=1) / np.sqrt(len(d)):.2f}" if len(d) > 1 else ""
  return f"{100 * d.mean():+.2f}{se} pt"


def paired(runs, method="ltp_frac"):
  """``method`` minus GMP and uniform magnitude seed by seed (each seed's runs share a dense
  start and a data order): the mean difference, its standard error and the seeds ahead."""
  diffs = {other: _differences(runs, method, other) for other in ("gmp", "uniform")}
  lines = []
  for target in diffs["gmp"]:
    cells = [f"{_mean_se(d)} ({int((d > 0).sum())} of {len(d)})" if len(d) else "-"
             for d in (diffs[other][target] for other in ("gmp", "uniform"))]
    lines.append(f"| {target:.1%} | " + " | ".join(cells) + " |")
  if not lines:
    return []
  return [f"`{method}` minus each baseline seed by seed (same dense start and data order): "
          "mean ± standard error of the differences, and on how many seeds it is ahead:", "",
          f"| target | {method} − GMP | {method} − uniform |", "|---|---:|---:|", *lines, ""]


def pooled(grids, method="ltp_frac"):
  """One line: ``method`` minus GMP and uniform seed by seed, pooled over ``grids`` (network
  name -> its runs) at each target, every (network, seed) pair counted once. Where one
  network's cell is decided by less than its runs' chaos, the pool says whether the method is
  behind or level across networks."""
  cells = []
  per_target = {}
  for runs in grids.values():
    for other in ("gmp", "uniform"):
      for target, d in _differences(runs, method, other).items():
        per_target.setdefault(target, {}).setdefault(other, []).append(d)
  for target, by_other in sorted(per_target.items()):
    parts = []
    for other in ("gmp", "uniform"):
      d = np.concatenate(by_other[other])  # Both keys: _differences gives every target.
      if len(d):
        parts.append(f"{BASELINES[other]} {_mean_se(d)} ({len(d)} pair"
                     f"{'s' if len(d) > 1 else ''}, ahead on {int((d > 0).sum())})")
    if parts:
      cells.append(f"{target:.1%}: " + ", ".join(parts))
  if not cells:
    return []
  return [f"- {', '.join(grids)} pooled, `{method}` minus each baseline seed by seed (mean ± "
          f"standard error over every network and seed): " + "; ".join(cells) + "."]


def split_distance(runs, method="ltp_frac"):
  """How far apart the per-tensor splits are, at each target: the mean over tensors of
  |keep ratio of ``method`` - keep ratio of GMP (uniform)| on the same seed, averaged over
  seeds, next to the spread of ``method``'s and GMP's own splits between seeds (mean over
  seed pairs). A method whose distance to GMP is inside its own spread learned GMP's split."""

  def distance(a, b):
    return float(np.mean([abs(a["layers"][k] - b["layers"][k]) for k in a["layers"]]))

  by = {(r["method"], r["target"], r["seed"]): r for r in runs if r.get("layers")}
  lines = []
  for target in sorted({t for (m, t, _) in by if m == method and t is not None}):
    seeds = sorted(s for (m, t, s) in by if m == method and t == target)
    cells = []
    for other in ("gmp", "uniform"):
      pairs = [(by[(method, target, s)], by[(other, target, s)]) for s in seeds
               if (other, target, s) in by]
      cells.append(f"{np.mean([distance(a, b) for a, b in pairs]):.3f}" if pairs else "-")
    for m in (method, "gmp"):
      own = sorted(s for (mm, t, s) in by if mm == m and t == target)
      pairs = [(by[(m, target, a)], by[(m, target, b)]) for i, a in enumerate(own)
               for b in own[i + 1:]]
      cells.append(f"{np.mean([distance(a, b) for a, b in pairs]):.3f}" if pairs else "-")
    lines.append(f"| {target:.1%} | {len(seeds)} | " + " | ".join(cells) + " |")
  if not lines:
    return []
  return ["How far apart the per-tensor splits are (mean over tensors of the keep ratios' "
          "absolute difference, same seed, mean over seeds; the last two columns: the "
          "spread between seeds of one method):", "",
          f"| target | seeds | {method} − GMP | {method} − uniform | {method}, seed to seed "
          f"| GMP, seed to seed |", "|---|---:|---:|---:|---:|---:|", *lines, ""]


def cost_section(cost):
  from benchmarks import cost as cost_lib  # pylint: disable=g-import-not-at-top
  lines = [cost_lib.markdown(cost), ""]
  for name, r in cost.items():
    s = r["steps"]
    soft, hard = s["ltp_soft"]["wall_ratio"], s["ltp_hard"]["wall_ratio"]
    if "tfmot" not in s:  # A Keras 3 row: TFMOT does not run there; the bar is <= 1.15x.
      lines.append(
          f"- {name}: step time (median wall) LTP soft phase {soft:.2f}×, hard phase "
          f"{hard:.2f}× plain (CPU time: {s['ltp_soft']['cpu_ratio']:.2f}×, "
          f"{s['ltp_hard']['cpu_ratio']:.2f}×). Bar <= 1.15×: soft phase "
          f"**{'met' if soft <= 1.15 else 'missed'}**, hard phase "
          f"**{'met' if hard <= 1.15 else 'missed'}**.")
      continue
    tfmot = s["tfmot"]["wall_ratio"]
    verdict = lambda x: "met" if x <= 1.15 and x <= tfmot else (  # noqa: E731
        "<= 1.15× but above TFMOT" if x <= 1.15 else "missed")
    lines.append(
        f"- {name}: step time (median wall) LTP soft phase {soft:.2f}×, hard phase "
        f"{hard:.2f}×, TFMOT {tfmot:.2f}× plain (CPU time: {s['ltp_soft']['cpu_ratio']:.2f}×, "
        f"{s['ltp_hard']['cpu_ratio']:.2f}×, {s['tfmot']['cpu_ratio']:.2f}×). Bar <= 1.15× "
        f"and no worse than TFMOT: soft phase **{verdict(soft)}**, hard phase "
        f"**{verdict(hard)}**.")
  return lines


def _with_baselines(network, rows):
  """``rows``, and for an --override grid of LTP (``net+key=value``) the baselines' rows of
  the plain grid (same dense checkpoints and budget) at its targets, where it has none."""
  base = _load(f"benchmark_{network.split('+')[0]}.json") if "+" in network else None
  if not base:
    return rows
  return rows + [r for r in base["aggregate"] if r["method"] in BASELINES
                 and r["target"] in {x["target"] for x in rows}
                 and r["method"] not in {x["method"] for x in rows}]


def build():
  notes_path = os.path.join(_HERE, "notes.md")
  notes = open(notes_path).read() if os.path.exists(notes_path) else ""
  parts = ["# Benchmarks", "",
           "Generated by `python benchmarks/report.py` from `benchmarks/results/*.json`; the "
           "commands that produced each file are given in its section. Machine: 2 CPU cores "
           "(shared with other work while the grids ran), no GPU.", "", notes.strip(), ""]
  bars, comparisons = [], []
  main = [*COMPACT, "lenet300", "lenet5", "resnet20", "lenet300_long", "lenet5_long"]
  extra = sorted(f[len("benchmark_"):-len(".json")] for f in os.listdir(RESULTS)
                 if f.startswith("benchmark_") and f.endswith(".json")
                 and f[len("benchmark_"):-len(".json")] not in main)
  for base in ("lenet300", "lenet5", "resnet20"):
    # Every budget of the network, and its --override grids (e.g. another r), count.
    budgets = [n for n in [base, base + "_long"] + extra
               if n.split("+")[0] in (base, base + "_long") and _load(f"benchmark_{n}.json")]
    if not budgets:
      continue
    all_rows = [dict(r, network=n) for n in budgets for r in _load(f"benchmark_{n}.json")[
        "aggregate"]]
    dense = float(np.mean([r["dense_accuracy_mean"] for r in all_rows if r["network"] == base]
                          or [r["dense_accuracy_mean"] for r in all_rows]))
    bars += bar_check(base, all_rows, dense) + bar_check(base, all_rows, dense, "ltp_frac")
  for network in [*COMPACT, *(n for n in extra if n.split("+")[0] in COMPACT)]:
    result = _load(f"benchmark_{network}.json")
    if result:
      rows = _with_baselines(network, result["aggregate"])
      bars += compact_bar(network, rows) + compact_bar(network, rows, "ltp_frac")
  bars += pooled({n: grid["runs"] for n in COMPACT if (grid := _load(f"benchmark_{n}.json"))})
  for network in main + extra:  # Then the grids run with --override, e.g. another r.
    result = _load(f"benchmark_{network}.json")
    if not result:
      continue
    rows = _with_baselines(network, result["aggregate"])
    base = "+" in network and _load(f"benchmark_{network.split('+')[0]}.json")
    tables = []
    for method in ("ltp", "ltp_frac"):
      table, verdicts = matched(rows, method)
      if verdicts:
        against = " and ".join(BASELINES[b] for b in BASELINES
                               if any(r["method"] == b for r in rows)) or "TFMOT and GMP"
        comparisons.append(
            f"- {network}, `{method}`: at least as accurate as {against} (or behind by "
            f"less than their seed noise) in {sum(verdicts)} of {len(verdicts)} comparisons.")
        tables += table + [""]
    with open(os.path.join(RESULTS, f"benchmark_{network}.md")) as f:
      grid = f.read()
    parts += [f"## {network}", "", grid, "", "LTP against the baselines at matched sparsity "
              "(mean ± std over seeds" + (f"; the baselines from the `{network.split('+')[0]}` "
                                          "grid, same dense checkpoints and budget" if base
                                          else "") + "):", "", *tables,
              *(paired(result["runs"]) + split_distance(result["runs"])
                if network in COMPACT else []),
              f"![accuracy vs sparsity](benchmarks/results/accuracy_{network}.png)",
              *[f"![keep ratio per tensor at {t:.1%}](benchmarks/results/layers_{network}_{t:g}.png)"
                for t in sorted({r["target"] for r in rows if r["target"] is not None})
                if os.path.exists(os.path.join(RESULTS, f"layers_{network}_{t:g}.png"))],
              f"![keep ratio](benchmarks/results/keep_ratio_{network}.png)",
              *[f"![Fig. 1, {m}](benchmarks/results/fig1_{network}_{m}.png)"
                for m in ("ltp", "ltp_unstab")
                if os.path.exists(os.path.join(RESULTS, f"fig1_{network}_{m}.png"))], ""]
  cost = _load("cost.json")
  if cost:
    parts += ["## Training cost", "", "`python benchmarks/cost.py --data_dir=../shared/data` "
              "(batch 128; medians over interleaved rounds in one process).", "",
              *cost_section(cost), ""]
  for name, title in (("mask_cost", "Training cost: the soft mask alone"),
                      ("optimizers", "Optimizers: the thresholds' own step"),
                      ("seeds", "Seed variance"), ("deploy", "Deployment sizes"),
                      ("keras3_lenets", "Keras 3")):
    path = os.path.join(RESULTS, f"{name}.md")
    if os.path.exists(path):
      with open(path) as f:
        lines = f.read().splitlines()
        if lines and lines[0].startswith("# "):  # Its title: the section's own heading.
          lines = lines[1:]
        text = "\n".join("#" + line if line.startswith("#") else line  # One level down.
                         for line in lines)
        parts += [f"## {title}", "", text, ""]
  parts[4:4] = ["## Where we stand against the bars", "", *bars, *comparisons, ""]
  with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
    f.write("\n".join(parts).rstrip() + "\n")


if __name__ == "__main__":
  import sys  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, ROOT)
  build()
