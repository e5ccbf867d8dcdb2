"""Per-tensor sparsity accounting for wrapped and stripped models."""

import dataclasses

import numpy as np
import tensorflow as tf

from ltp_tf import prune
from ltp_tf import registry
from ltp_tf._keras import keras


@dataclasses.dataclass
class TensorSparsity:
  layer: str
  weight: str
  size: int
  kept: int
  threshold: float | None = None
  temperature: float | None = None

  @property
  def sparsity(self):
    return 1.0 - self.kept / self.size if self.size else 0.0


@dataclasses.dataclass
class SparsityReport:
  """Rows per prunable tensor, and the global numbers over all of them."""
  tensors: list

  @property
  def size(self):
    return sum(t.size for t in self.tensors)

  @property
  def kept(self):
    return sum(t.kept for t in self.tensors)

  @property
  def sparsity(self):
    return 1.0 - self.kept / self.size if self.size else 0.0

  def as_dict(self):
    return {"tensors": [dict(dataclasses.asdict(t), sparsity=t.sparsity) for t in self.tensors],
            "global": {"size": self.size, "kept": self.kept, "sparsity": self.sparsity}}

  def __str__(self):
    lines = ["| layer | weight | size | kept | sparsity | threshold | temperature |",
             "|---|---|---:|---:|---:|---:|---:|"]
    def fmt(v):
      return "-" if v is None else f"{v:.3g}"
    for t in self.tensors:
      lines.append(f"| {t.layer} | {t.weight} | {t.size} | {t.kept} | {t.sparsity:.2%} | "
                   f"{fmt(t.threshold)} | {fmt(t.temperature)} |")
    lines.append(f"| **global** | | {self.size} | {self.kept} | {self.sparsity:.2%} | | |")
    return "\n".join(lines)


def sparsity_report(model):
  """Per prunable tensor: layer, weight, size, kept, sparsity, threshold, temperature.

  On a wrapped model, "kept" counts the weights that eq. (1) keeps (``w**2 > tau``, or the
  frozen mask in the hard phase). On a plain (e.g. stripped) model it counts the non-zero
  weights of every tensor that LTP would prune. Tensors of layers a wrapped model left
  unwrapped are counted too, so the global sparsity is over every prunable tensor.

  Example::

    print(ltp_tf.sparsity_report(model))            # Markdown table
    ltp_tf.sparsity_report(model).sparsity          # global sparsity
  """
  rows, skip = [], set()
  for m in prune.iter_layers(model):
    if id(m) in skip:
      continue
    if isinstance(m, prune.PruneLearnedThreshold):
      if not m._ltp_built:  # pylint: disable=protected-access
        raise ValueError(f"Wrapper '{m.name}' is not built yet; call the model once first.")
      for path, w, pruned, tau, temp in zip(m.weight_paths, m.pruned_variables,
                                            m.pruned_weights(), m.thresholds, m.temperatures):
        rows.append(TensorSparsity(m.layer.name, path, int(np.prod(w.shape)),
                                   int(tf.math.count_nonzero(pruned)), float(tau), float(temp)))
    elif registry.supports(m) and m.built and not isinstance(m, keras.Model):
      for path in registry.weight_paths(m):
        w = registry.resolve(m, path)
        rows.append(TensorSparsity(m.name, path, int(np.prod(w.shape)),
                                   int(tf.math.count_nonzero(w))))
    else:
      continue
    skip.update(id(s) for s in m.submodules)
  return SparsityReport(rows)


def global_stats(wrappers):
  """(kept, size, soft_l0) over ``wrappers``, as tensors; cheap enough for every log step."""
  kept, size, l0 = [], 0, []
  for w in wrappers:
    kept += [tf.math.count_nonzero(p) for p in w.pruned_weights()]
    size += sum(int(np.prod(v.shape)) for v in w.pruned_variables)
    l0.append(w.soft_l0())
  return tf.add_n(kept), size, tf.add_n(l0)
