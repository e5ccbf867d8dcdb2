"""Figures of the benchmark: accuracy vs sparsity, per-layer keep ratios, ablation keep
ratios (Fig. 2), Fig. 1."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=g-import-not-at-top
import numpy as np  # noqa: E402

from ltp_tf import plots  # noqa: E402
from ltp_tf import trail  # noqa: E402

_STYLE = {"ltp": ("tab:blue", "o"), "ltp_frac": ("tab:cyan", "P"),
          "tfmot": ("tab:orange", "s"), "gmp": ("tab:green", "^"),
          "uniform": ("tab:olive", "<"), "ltp_noreg": ("tab:gray", "x"),
          "ltp_l2": ("tab:purple", "D"), "ltp_unstab": ("tab:red", "v")}


def accuracy_vs_sparsity(network, rows, path):
  """Test accuracy (mean ± std over seeds) vs achieved sparsity, one line per method;
  natural endpoints (no target) as open markers."""
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for method, (color, marker) in _STYLE.items():
    targeted = sorted((r for r in rows if r["method"] == method and r["target"] is not None),
                      key=lambda r: r["target"])
    if targeted:
      ax.errorbar([100 * r["sparsity_mean"] for r in targeted],
                  [r["accuracy_mean"] for r in targeted],
                  yerr=[r["accuracy_std"] for r in targeted], color=color, marker=marker,
                  capsize=3, label=method)
    for r in rows:
      if r["method"] == method and r["target"] is None:
        ax.errorbar(100 * r["sparsity_mean"], r["accuracy_mean"], xerr=100 * r["sparsity_std"],
                    yerr=r["accuracy_std"], color=color, marker=marker, mfc="none", ms=9,
                    capsize=3, label=f"{method} (natural)")
  dense = np.mean([r["dense_accuracy_mean"] for r in rows])
  ax.axhline(dense, color="k", ls="--", lw=1, label="dense")
  ax.set(xlabel="global sparsity (%)", ylabel="test accuracy",
         title=f"{network}: accuracy vs sparsity (mean ± std over seeds)")
  ax.legend(fontsize=7, ncol=2)
  return plots.save_figure(fig, path)


def keep_ratio_per_layer(network, results, target, path):
  """Keep ratio of every pruned tensor (x: the model's order) at ``target``, one line per
  method, mean over seeds: where the methods differ."""
  runs = [r for r in results if r["target"] == target and r.get("layers")]
  if not runs:
    return None
  tensors = list(runs[0]["layers"])
  fig, ax = plt.subplots(figsize=(max(7, 0.35 * len(tensors)), 4.5))
  for method, (color, marker) in _STYLE.items():
    mine = [r for r in runs if r["method"] == method]
    if mine:
      keep = [1 - np.mean([r["layers"][t] for r in mine]) for t in tensors]
      ax.plot(range(len(tensors)), keep, color=color, marker=marker, label=method)
  ax.set_xticks(range(len(tensors)))
  ax.set_xticklabels(tensors, rotation=90, fontsize=6)
  ax.axhline(1 - target, color="k", ls=":", lw=1, label="uniform keep ratio")
  ax.set(ylabel="keep ratio", ylim=(0, 1.02),
         title=f"{network}: keep ratio per tensor at {target:.1%} sparsity (mean over seeds)")
  ax.legend(fontsize=7, ncol=2)
  fig.tight_layout()
  return plots.save_figure(fig, path)


def keep_ratio_ablation(network, results, runs_dir, path, target=None):
  """Global keep ratio vs step during pruning (paper Fig. 2): LTP and its ablations at their
  natural endpoints (left) and steered to ``target`` (right), seed 0."""
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
  for ax, want, title in ((axes[0], None, "natural lambda"),
                          (axes[1], target, f"target {target:.0%}" if target else "target")):
    for r in results:
      if r["seed"] != 0 or r["target"] != want or "keep_ratio_log" not in r:
        continue
      log = trail.read_json(os.path.join(runs_dir, r["keep_ratio_log"]), None)
      if not log or not log["step"]:
        continue
      color, _ = _STYLE[r["method"]]
      ax.plot(log["step"], log["global"], color=color, label=r["method"])
    if want is not None:
      ax.axhline(1 - want, color="k", ls=":", lw=1)
    ax.set(xlabel="training step", title=f"{network}: {title}", ylim=(0, 1.02))
    if ax.get_lines():
      ax.legend(fontsize=8)
  axes[0].set_ylabel("global keep ratio")
  return plots.save_figure(fig, path)


def fig1_pair(network, results, runs_dir, path):
  """Paper Fig. 1: w² after vs before LTP, with (left) and without (right) the stabilized
  gradient of eq. (14), largest layer, natural lambda, seed 0."""
  panels = []
  for method in ("ltp", "ltp_unstab"):
    for r in results:
      if r["method"] == method and r["target"] is None and r["seed"] == 0 and "fig1" in r:
        panels.append((method, np.load(os.path.join(runs_dir, r["fig1"]))))
  if not panels:
    return None
  out = []
  for method, npz in panels:
    out.append(plots.weight_scatter(
        npz["before"], npz["after"], float(npz["threshold"]),
        f"{network} {str(npz['layer'])} ({method})",
        path.replace(".png", f"_{method}.png")))
  return out
