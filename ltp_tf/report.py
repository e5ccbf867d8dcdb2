"""Per-tensor sparsity accounting for wrapped and stripped models."""

import dataclasses

import numpy as np
import tensorflow as tf

from ltp_tf import _flavour
from ltp_tf import prune
from ltp_tf import registry
from ltp_tf._keras import master_value


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
class NotPruned:
  """A layer LTP does not know how to prune, left dense (``unsupported="skip"``): its class
  and ``size``, the number of weights in its matrices and kernels (rank >= 2)."""
  layer: str
  layer_class: str
  size: int


@dataclasses.dataclass
class SparsityReport:
  """Rows per prunable tensor, the global numbers over all of them, and the layers holding
  kernels that LTP left dense because it does not know how to prune them (``not_pruned``,
  outside the global numbers)."""
  tensors: list
  not_pruned: list = dataclasses.field(default_factory=list)

  @property
  def size(self):
    return sum(t.size for t in self.tensors)

  @property
  def kept(self):
    return sum(t.kept for t in self.tensors)

  @property
  def sparsity(self):
    return 1.0 - self.kept / self.size if self.size else 0.0

  @property
  def fully_pruned(self):
    """``"layer/weight"`` of every tensor with all its weights pruned (100 % sparsity)."""
    return [f"{t.layer}/{t.weight}" for t in self.tensors if t.size and not t.kept]

  def as_dict(self):
    return {"tensors": [dict(dataclasses.asdict(t), sparsity=t.sparsity) for t in self.tensors],
            "global": {"size": self.size, "kept": self.kept, "sparsity": self.sparsity},
            "fully_pruned": self.fully_pruned,
            "not_pruned": [dataclasses.asdict(n) for n in self.not_pruned]}

  def __str__(self):
    lines = ["| layer | weight | size | kept | sparsity | threshold | temperature |",
             "|---|---|---:|---:|---:|---:|---:|"]
    def fmt(v):
      return "-" if v is None else f"{v:.3g}"
    for t in self.tensors:
      lines.append(f"| {t.layer} | {t.weight} | {t.size} | {t.kept} | {t.sparsity:.2%} | "
                   f"{fmt(t.threshold)} | {fmt(t.temperature)} |")
    lines.append(f"| **global** | | {self.size} | {self.kept} | {self.sparsity:.2%} | | |")
    if self.fully_pruned:
      lines.append(f"\n**Fully pruned (100 % sparse, no signal passes):** "
                   f"{', '.join(self.fully_pruned)}")
    if self.not_pruned:
      listed = ", ".join(f"{n.layer} ({n.layer_class}, {n.size} weights)"
                         for n in self.not_pruned)
      lines.append(f"\n**Not pruned (ltp_tf does not know how to prune them; left dense, "
                   f"outside the global numbers):** {listed}")
    return "\n".join(lines)


def sparsity_report(model):
  """Per prunable tensor: layer, weight, size, kept, sparsity, threshold, temperature.

  ``.fully_pruned`` lists the tensors with every weight pruned (``as_dict()["fully_pruned"]``,
  and a line under the table): a layer with 100 % sparsity passes no signal.
  ``.not_pruned`` lists the layers holding a matrix or kernel that LTP does not know how to
  prune (left dense by ``prune_low_magnitude_learned(..., unsupported="skip")``), by name,
  class and size (``as_dict()["not_pruned"]``, and a line under the table); their weights are
  not in the global numbers.

  On a wrapped model, "kept" counts the weights that eq. (1) keeps (``w**2 > tau``, or the
  frozen mask in the hard phase). On a plain (e.g. stripped) model it counts the non-zero
  weights of every tensor that LTP would prune. Tensors of layers a wrapped model left
  unwrapped are counted too, so the global sparsity is over every prunable tensor.

  Example::

    print(ltp_tf.sparsity_report(model))            # Markdown table
    ltp_tf.sparsity_report(model).sparsity          # global sparsity
  """
  rows, not_pruned, skip = [], [], set()
  for m in prune.iter_layers(model):
    if id(m) in skip:
      continue
    if isinstance(m, prune.wrapper_types()):
      if not m._ltp_built:  # pylint: disable=protected-access
        raise ValueError(f"Wrapper '{m.name}' is not built yet; call the model once first.")
      for path, w, pruned, tau, temp in zip(m.weight_paths, m.pruned_variables,
                                            m.pruned_weights(), m.thresholds, m.temperatures):
        rows.append(TensorSparsity(m.label, path, int(np.prod(w.shape)),
                                   int(np.count_nonzero(_flavour.to_numpy(pruned))),
                                   float(_flavour.to_numpy(tau)),
                                   float(_flavour.to_numpy(temp))))  # Not float(MirroredVariable).
    elif registry.supports(m) and m.built and not _flavour.is_model(m):
      for path in registry.weight_paths(m):
        w = registry.resolve(m, path)
        rows.append(TensorSparsity(m.name, path, int(np.prod(w.shape)),
                                   int(np.count_nonzero(_flavour.to_numpy(w)))))
    elif m.built and registry.is_unsupported(m):
      own = registry.own_kernel_weights(m)
      if own:
        not_pruned.append(NotPruned(m.name, type(m).__name__,
                                    sum(int(np.prod(w.shape)) for w in own)))
      continue  # Its sublayers (wrappers, Dense, ...) are walked and counted on their own.
    else:
      continue
    skip.update(id(s) for s in _flavour.all_sublayers(m))
  return SparsityReport(rows, not_pruned)


def _bad_count(x):
  """How many of ``x``'s values are NaN or Inf."""
  x = _flavour.to_numpy(x)
  if not np.issubdtype(x.dtype, np.floating) and x.dtype.name != "bfloat16":
    return 0
  return int(x.size) - int(np.count_nonzero(np.isfinite(x.astype(np.float32))))


def _master(v):
  return v if _flavour.is_keras3(v) else master_value(v)


def non_finite(model):
  """Every threshold, pruned weight and other variable of ``model`` holding NaN or Inf.

  One description per tensor, the wrappers' thresholds and pruned weights first (named by
  layer and weight), then any other variable of ``model`` by its variable name. Empty when
  all are finite. One pass over the weights: for diagnosis, not for every step.
  """
  found, seen = [], set()
  for m in prune.collect_wrappers(model):
    if not m._ltp_built:  # pylint: disable=protected-access
      continue
    for path, w, tau, theta in zip(m.weight_paths, m.pruned_variables, m.thresholds,
                                   m._theta):  # pylint: disable=protected-access
      name = f"{m.label}/{path}"
      if _bad_count(tau):
        found.append(f"threshold of '{name}' (tau = {float(tau)})")
      bad = _bad_count(_master(w))
      if bad:
        found.append(f"weights '{name}' ({bad} of {int(np.prod(w.shape))} values)")
      seen.update((id(w), id(theta)))
  for v in getattr(model, "weights", []):
    if id(v) not in seen:
      bad = _bad_count(_master(v))
      if bad:
        found.append(f"variable '{v.name}' ({bad} of {int(np.prod(v.shape))} values)")
  return found


def non_finite_message(model):
  """What went non-finite in ``model`` (``non_finite``) and what to do, as one message."""
  found = non_finite(model)
  if not found:
    return ("Every threshold and weight is still finite, so the loss itself is not: check the "
            "last batches' inputs and labels for NaN/Inf, and the loss function.")
  return ("Non-finite values (NaN or Inf) in: " + "; ".join(found) + ". Usual causes: a "
          "learning rate, l0_lambda or threshold_lr_ratio too large; float16 without loss "
          "scaling; NaN/Inf in the inputs. Restart from the last good checkpoint with smaller "
          "rates, or check the data.")


def global_stats(wrappers):
  """(kept, size, soft_l0) over ``wrappers``, as tensors; cheap enough for every log step."""
  kept, size, l0 = [], 0, []
  for w in wrappers:
    kept += [tf.math.count_nonzero(p) for p in w.pruned_weights()]
    size += sum(int(np.prod(v.shape)) for v in w.pruned_variables)
    l0.append(w.soft_l0())
  return tf.add_n(kept), size, tf.add_n(l0)
