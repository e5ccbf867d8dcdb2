"""PNG plots of an LTP run (matplotlib, headless)."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=g-import-not-at-top
import numpy as np  # noqa: E402


def save_figure(fig, path):
  """Tight layout, 110 dpi, the folder made, the figure closed; returns ``path``."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def keep_ratio_curves(log, path):
  """Keep ratio vs training step, per tensor and global (paper Fig. 2)."""
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for name, values in log["tensors"].items():
    ax.plot(log["step"], values, lw=1, alpha=0.7, label=name)
  ax.plot(log["step"], log["global"], "k", lw=2.5, label="global")
  ax.set(xlabel="training step (soft pruning)", ylabel="keep ratio", ylim=(0, 1.02),
         title="LTP keep ratio per layer")
  if len(log["tensors"]) <= 12:
    ax.legend(fontsize=7)
  return save_figure(fig, path)


def trail_accuracy(trail, dense_accuracy, path):
  """Validation accuracy vs keep ratio along the trail, with the dense reference."""
  fig, ax = plt.subplots(figsize=(6, 4))
  keep = [1 - e["sparsity"] for e in trail]
  ax.plot(keep, [e["val_accuracy"] for e in trail], "o-", label="trail (soft pruning)")
  for e, k in zip(trail, keep):
    ax.annotate(str(e["epoch"]), (k, e["val_accuracy"]), fontsize=7, xytext=(3, 3),
                textcoords="offset points")
  if dense_accuracy is not None:
    ax.axhline(dense_accuracy, color="gray", ls="--", label="dense")
  ax.set(xlabel="keep ratio (1 - sparsity)", ylabel="validation accuracy",
         title="Accuracy along the LTP trail (labels: epoch)")
  ax.invert_xaxis()
  ax.legend()
  return save_figure(fig, path)


def layer_sparsity(rows, path):
  """Per-tensor sparsity bars."""
  names = [f"{r['layer']}/{r['weight']}" for r in rows]
  fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(rows)), 4))
  ax.bar(range(len(rows)), [100 * r["sparsity"] for r in rows])
  ax.set_xticks(range(len(rows)), names, rotation=75, ha="right", fontsize=7)
  ax.set(ylabel="sparsity (%)", ylim=(0, 100), title="Learned sparsity per layer")
  return save_figure(fig, path)


def weight_scatter(before, after, threshold, layer, path, max_points=20000, seed=0):
  """w**2 after vs before pruning for one tensor, with the threshold line (paper Fig. 1)."""
  before, after = np.square(np.ravel(before)), np.square(np.ravel(after))
  if before.size > max_points:
    idx = np.random.default_rng(seed).choice(before.size, max_points, replace=False)
    before, after = before[idx], after[idx]
  fig, ax = plt.subplots(figsize=(5, 5))
  kept = after > 0
  ax.scatter(before[kept], after[kept], s=2, alpha=0.4, label="kept")
  ax.scatter(before[~kept], after[~kept], s=4, alpha=0.6, color="tab:red", zorder=3,
             label="pruned (w² after = 0)")
  ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.3g}")
  linthresh = max(float(threshold) / 10, 1e-10)
  ax.set_xscale("symlog", linthresh=linthresh)
  ax.set_yscale("symlog", linthresh=linthresh)
  ax.set(xlabel="w² before LTP", ylabel="w² after LTP", title=f"{layer}")
  ax.set_xlim(left=0)
  ax.set_ylim(bottom=-linthresh)  # Room below 0, where the pruned weights lie.
  ax.legend(fontsize=8)
  return save_figure(fig, path)
