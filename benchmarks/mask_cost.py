r"""Where the soft phase's extra step time goes: LTP's soft mask alone, on a network's weights.

  python benchmarks/mask_cost.py --networks=lenet300,lenet5

``cost.py`` times whole training steps; this times only what the soft phase adds to one, on
the network's prunable tensors (tf_keras' ``ltp_tf.models``, the registry's weights) and with
no model around them. Per variant, one ``tf.function`` computes ``v`` for every tensor, the
loss ``sum(v * g) + 1e-6 * L0`` (``g`` a fixed random upstream gradient) and the gradients
w.r.t. the weights and thresholds, in turns of ``--steps`` calls for ``--rounds`` rounds
(medians over rounds after the first):

  * ``identity``: ``v = w`` (what a plain layer's weight costs here: the baseline);
  * ``ltp``: ``soft_prune.soft_prune_and_l0`` (eqs. 2, 6, 7, 10, 14), as the wrapper runs it;
  * ``identity_xla`` and ``ltp_xla``: the same functions compiled by XLA (``jit_compile``),
    which fuses the elementwise work over each tensor into fewer passes.

The soft mask is elementwise work over every weight: the forward's square, shift, scale,
sigmoid, sum and product, and the backward's two products, sigmoid gradient and sum. The
report gives each variant's time per call, the soft mask's own time (``ltp - identity``) and
that per weight. Writes ``mask_cost.json`` and ``mask_cost.md``.
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_NETWORKS = flags.DEFINE_list("networks", ["lenet300", "lenet5"], "Of ltp_tf.models (MNIST).")
_STEPS = flags.DEFINE_integer("steps", 200, "Calls per variant per round.")
_ROUNDS = flags.DEFINE_integer("rounds", 7, "Rounds (the first is warm-up).")
_OPS = flags.DEFINE_bool("ops", True, "Also time each kind of TensorFlow kernel the soft mask "
                         "runs, on a tensor of the network's largest size (see op_times).")
_OUT = flags.DEFINE_string("out", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               "results"), "Output folder.")

VARIANTS = ("identity", "ltp", "identity_xla", "ltp_xla")


def prunable_shapes(network):
  """Shapes of ``network``'s prunable tensors (MNIST input, 10 classes)."""
  from ltp_tf import models  # pylint: disable=g-import-not-at-top
  from ltp_tf import registry  # pylint: disable=g-import-not-at-top
  model = models.get_model(network, (28, 28, 1), 10)
  return [tuple(registry.resolve(layer, path).shape) for layer in model.layers
          if registry.supports(layer) for path in registry.weight_paths(layer)]


def measure(shapes, steps, rounds, seed=0):
  """Median seconds per call of each of ``VARIANTS`` on tensors of ``shapes``."""
  if rounds < 2:
    raise ValueError(f"--rounds must be >= 2 (the first is warm-up), got {rounds}")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from ltp_tf import soft_prune  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  ws = [tf.Variable(rng.normal(0.0, 0.05, s).astype(np.float32)) for s in shapes]
  thetas = [tf.Variable(0.0) for _ in shapes]
  temps = [tf.constant(float(soft_prune.temperature(w))) for w in ws]
  grads = [tf.constant(rng.normal(0.0, 1e-3, s).astype(np.float32)) for s in shapes]

  def ltp(w, theta, temp):
    return soft_prune.soft_prune_and_l0(w, soft_prune.threshold_from_param(theta, 5e-6), temp)

  def identity(w, theta, temp):
    del theta, temp
    return w, tf.constant(0.0)

  def step_of(fn, jit):
    @tf.function(jit_compile=jit)
    def step():
      with tf.GradientTape() as tape:
        loss = 0.0
        for w, theta, temp, g in zip(ws, thetas, temps, grads):
          v, l0 = fn(tf.convert_to_tensor(w), theta, temp)
          loss += tf.reduce_sum(v * g) + 1e-6 * l0
      out = tape.gradient(loss, ws + thetas, unconnected_gradients="zero")
      return tf.add_n([tf.reduce_sum(x) for x in out])
    return step

  fns = {"identity": step_of(identity, False), "ltp": step_of(ltp, False),
         "identity_xla": step_of(identity, True), "ltp_xla": step_of(ltp, True)}
  times = {k: [] for k in fns}
  for r in range(rounds):
    for name, fn in fns.items():  # Interleaved: the machine's drift hits every variant alike.
      start = time.perf_counter()
      for _ in range(steps):
        fn()
      if r:
        times[name].append((time.perf_counter() - start) / steps)
  return {k: float(np.median(v)) for k, v in times.items()}


# The kernels the soft mask runs (eqs. 2, 6, 7, 10, 14), as chains of one kind: ``x`` is the
# running value, ``y`` a second tensor of the same size.
OPS = {
    "multiply (w * s, s * dv, w**2)": lambda x, y: x * y,
    "subtract a scalar (w**2 - tau)": lambda x, y: x - y[0],
    "sigmoid (eq. 2)": lambda x, y: tf_().sigmoid(x),
    "sigmoid gradient s (1 - s) dy": lambda x, y: tf_().raw_ops.SigmoidGrad(y=x, dy=y),
    "sum over the tensor (eqs. 6, 7, 10)": lambda x, y: x + tf_().reduce_sum(x),
}


def tf_():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf


def op_times(size, steps, rounds, chain=20, seed=0):
  """Microseconds per kernel of each of ``OPS`` on ``size`` float32s: a ``tf.function`` of a
  chain of ``chain`` such kernels minus one of a single kernel, over ``chain - 1``, so that the
  call's own cost cancels; the best round (the least disturbed)."""
  tf = tf_()
  rng = np.random.default_rng(seed)
  x0 = tf.constant(rng.uniform(0.1, 0.9, size).astype(np.float32))
  y = tf.constant(rng.uniform(0.1, 0.9, size).astype(np.float32))
  out = {}
  for name, op in OPS.items():
    def chain_of(k, op=op):
      @tf.function
      def f(x):
        for _ in range(k):
          x = op(x, y)
        return x
      return f
    fns = {k: chain_of(k) for k in (1, chain)}
    best = {k: np.inf for k in fns}
    for k, f in fns.items():
      f(x0)
    for _ in range(rounds):
      for k, f in fns.items():
        start = time.perf_counter()
        for _ in range(steps):
          f(x0)
        best[k] = min(best[k], (time.perf_counter() - start) / steps)
    out[name] = 1e6 * (best[chain] - best[1]) / (chain - 1)
  return out


def markdown(results, command):
  lines = ["# The soft mask alone: its forward and backward on a network's weights", "",
           f"Command: `{command}`", "",
           "Per call: every prunable tensor's `v` (and soft L0), the loss `sum(v * g)` and the "
           "gradients w.r.t. weights and thresholds; medians over rounds, interleaved in one "
           "process. `identity` is `v = w`; `ltp` the library's soft pruning; `_xla` the same "
           "under `jit_compile`.", "",
           "| network | weights | identity ms | ltp ms | mask ms (ltp - identity) | mask ns / weight "
           "| identity_xla ms | ltp_xla ms | mask ms under XLA |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
  for name, r in results.items():
    t = {k: 1e3 * r["seconds"][k] for k in VARIANTS}
    mask, mask_xla = t["ltp"] - t["identity"], t["ltp_xla"] - t["identity_xla"]
    lines.append(f"| {name} | {r['weights']:,} | {t['identity']:.3f} | {t['ltp']:.3f} | "
                 f"{mask:.3f} | {1e6 * mask / r['weights']:.2f} | {t['identity_xla']:.3f} | "
                 f"{t['ltp_xla']:.3f} | {mask_xla:.3f} |")
  for name, r in results.items():
    if "op_us" not in r:
      continue
    lines += ["", f"Per kernel, {name}'s largest tensor ({r['op_size']:,} float32s), "
              "microseconds (chains of 20 kernels of one kind, less one):", "",
              "| kernel | µs |", "|---|---:|"]
    lines += [f"| {op} | {us:.1f} |" for op, us in r["op_us"].items()]
  return "\n".join(lines) + "\n"


def main(argv):
  del argv
  results = {}
  for network in _NETWORKS.value:
    shapes = prunable_shapes(network)
    results[network] = {"shapes": shapes, "weights": int(sum(np.prod(s) for s in shapes)),
                        "seconds": measure(shapes, _STEPS.value, _ROUNDS.value)}
    if _OPS.value:
      size = int(max(np.prod(s) for s in shapes))
      results[network].update(op_size=size,
                              op_us=op_times(size, _STEPS.value, _ROUNDS.value))
    print(network, results[network]["seconds"], flush=True)
  command = "python benchmarks/mask_cost.py " + " ".join(
      f"--{f}={v}" for f, v in (("networks", ",".join(_NETWORKS.value)),
                                ("steps", _STEPS.value), ("rounds", _ROUNDS.value)))
  os.makedirs(_OUT.value, exist_ok=True)
  with open(os.path.join(_OUT.value, "mask_cost.json"), "w") as f:
    json.dump({"command": command, "results": results}, f, indent=1)
  with open(os.path.join(_OUT.value, "mask_cost.md"), "w") as f:
    f.write(markdown(results, command))


if __name__ == "__main__":
  app.run(main)
