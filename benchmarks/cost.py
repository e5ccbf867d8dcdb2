r"""Training cost: step time of LTP- and TFMOT-wrapped models over the plain model, and memory.

  python benchmarks/cost.py --networks=lenet300,lenet5,resnet20 --data_dir=../shared/data

In one process the plain model, the LTP-wrapped model in its soft phase and in its hard
(fine-tuning) phase, and the TFMOT-wrapped model (PolynomialDecay, masks every 100 steps) are
trained in turns of ``--steps`` steps for ``--rounds`` rounds, each with the callback it needs
(``LTPPruningSchedule``, ``UpdatePruningStep``). Per step we record wall time (from the batch's
begin to its end) and, per turn, process CPU time; medians over all steps after the first
round, and the ratios to the plain model. That is repeated in ``--repeats`` fresh processes
(the spread between processes exceeds that within one): the report gives the median ratio and
its range. Peak memory (max RSS) is measured
in a fresh subprocess per model, trained for 20 steps on random inputs of the data's shape,
next to a baseline process that builds no model. Writes ``cost.json`` and ``cost.md``.

Keras 3 rows (``--kerases``, networks ``lenet300`` and ``lenet5``): the same plain / LTP soft /
LTP hard turns, on a Keras 3 model, in processes of their own on ``KERAS_BACKEND=tensorflow``
and ``jax`` (no TFMOT row, no memory). The step timer's batch hooks make every step wait for
its result (on JAX too), the same for every variant.

  python benchmarks/cost.py --networks=lenet5,lenet300 --kerases=tensorflow,jax
"""

import json
import os
import resource
import subprocess
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402  pylint: disable=g-import-not-at-top

_NETWORKS = flags.DEFINE_list("networks", ["lenet300", "lenet5", "resnet20"], "Networks.")
_STEPS = flags.DEFINE_integer("steps", 50, "Steps per model per round.")
_ROUNDS = flags.DEFINE_integer("rounds", 8, "Rounds (the first is warm-up).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder with mnist/, fashion_mnist/.")
_OUT = flags.DEFINE_string("out", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               "results"), "Output folder.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Independent processes per network; the report "
                                "gives the median of their ratios and the range.")
_MEMORY_CHILD = flags.DEFINE_string("memory_child", None, "Internal: network,variant.")
_STEPS_CHILD = flags.DEFINE_string("steps_child", None, "Internal: network.")
_KERASES = flags.DEFINE_list(
    "kerases", ["tf_keras", "tensorflow", "jax"], "tf_keras rows, and Keras 3 rows per backend "
    "(tensorflow, jax; for the networks in KERAS3_NETWORKS).")

VARIANTS = ("plain", "ltp_soft", "ltp_hard", "tfmot")
KERAS3_VARIANTS = ("plain", "ltp_soft", "ltp_hard")
KERAS3_NETWORKS = ("lenet300", "lenet5")


def _keras3():
  """Keras 3 in a Keras 3 child process (``KERAS_BACKEND`` set, no ``TF_USE_LEGACY_KERAS``);
  None in a tf_keras one."""
  if "KERAS_BACKEND" not in os.environ:
    return None
  import keras  # pylint: disable=g-import-not-at-top
  return keras


def make(network, variant, input_shape, num_classes, steps_per_epoch):
  """(model, callbacks) of ``variant``, compiled with the benchmark's optimizer."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import ltp_tf  # pylint: disable=g-import-not-at-top
  k3 = _keras3()
  model = harness.build(network, input_shape, num_classes, keras_module=k3)
  callbacks = []
  if variant.startswith("ltp"):
    model = ltp_tf.prune_low_magnitude_learned(model, l0_lambda=network.l0_lambda)
    if variant == "ltp_hard":
      for w in ltp_tf.collect_wrappers(model):  # ~90 % pruned, then frozen.
        w2 = np.sort(np.square(w.pruned_variables[0].numpy()).ravel())
        w._theta[0].assign(float(w2[int(0.9 * len(w2))]) / w.threshold_scale)  # pylint: disable=protected-access
      ltp_tf.hard_prune(model)
    callbacks.append(ltp_tf.LTPPruningSchedule())
  elif variant == "tfmot":
    import tensorflow_model_optimization as tfmot  # pylint: disable=g-import-not-at-top
    model = harness._wrap_tfmot(model, 0.9, 100 * steps_per_epoch)  # pylint: disable=protected-access
    callbacks.append(tfmot.sparsity.keras.UpdatePruningStep())
  return harness.compile_sgd(model, network.learning_rate), callbacks


def _step_timer():
  from ltp_tf._keras import keras  # pylint: disable=g-import-not-at-top

  class StepTimer(keras.callbacks.Callback):

    def __init__(self):
      super().__init__()
      self.times = []

    def on_train_batch_begin(self, batch, logs=None):
      self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
      self.times.append(time.perf_counter() - self._start)

  return StepTimer()


def measure(network, data, steps, rounds):
  """Median step wall time and CPU time per variant, interleaved in rounds."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  if rounds < 2:
    raise ValueError(f"--rounds must be at least 2 (the first round is warm-up), got {rounds}")
  (x, y), _ = data
  n = steps * network.batch_size
  x, y = x[:n], y[:n]
  num_classes = int(y.max()) + 1
  variants = VARIANTS if _keras3() is None else KERAS3_VARIANTS
  built = {v: make(network, v, x.shape[1:], num_classes, steps) for v in variants}
  wall = {v: [] for v in variants}
  cpu = {v: [] for v in variants}
  for r in range(rounds):
    for v, (model, callbacks) in built.items():
      timer = _step_timer()
      start = time.process_time()
      model.fit(x, y, batch_size=network.batch_size, epochs=1, verbose=0, shuffle=False,
                callbacks=callbacks + [timer])
      if r:  # The first round traces and warms up.
        wall[v] += timer.times[1:]
        cpu[v].append((time.process_time() - start) / steps)
  out = {}
  for v in variants:
    out[v] = {"step_ms_median": 1e3 * float(np.median(wall[v])),
              "step_ms_p90": 1e3 * float(np.percentile(wall[v], 90)),
              "cpu_ms_per_step": 1e3 * float(np.median(cpu[v])), "steps": len(wall[v])}
  for v in variants:
    out[v]["wall_ratio"] = out[v]["step_ms_median"] / out["plain"]["step_ms_median"]
    out[v]["cpu_ratio"] = out[v]["cpu_ms_per_step"] / out["plain"]["cpu_ms_per_step"]
  return out


def _child(args, data_dir, backend=None):
  """This script with ``args`` in a fresh process (``backend``: on Keras 3 there); its last
  line of output."""
  cmd = [sys.executable, os.path.abspath(__file__), *args]
  if data_dir:
    cmd.append(f"--data_dir={data_dir}")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env.pop("KERAS_BACKEND", None)
  if backend:
    env.pop("TF_USE_LEGACY_KERAS", None)
    env["KERAS_BACKEND"] = backend
  result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600,
                          check=True)
  return result.stdout.strip().splitlines()[-1]


def repeated_steps(network_name, data_dir, steps, rounds, repeats, backend=None):
  """``measure`` in ``repeats`` fresh processes (on Keras 3 and ``backend`` if given): per
  variant the median of each ratio over the processes, its range, and every process's numbers
  (the spread between processes on a shared VM is larger than within one)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  runs = [json.loads(_child([f"--steps_child={network_name}", f"--steps={steps}",
                             f"--rounds={rounds}"], data_dir, backend))
          for _ in range(repeats)]
  out = {}
  for v in runs[0]:
    out[v] = {key: float(np.median([r[v][key] for r in runs])) for key in runs[0][v]}
    for key in ("wall_ratio", "cpu_ratio"):
      out[v][key + "_range"] = [min(r[v][key] for r in runs), max(r[v][key] for r in runs)]
  out["processes"] = runs
  return out


def peak_memory_mb(network_name, variant, data_dir):
  """Max RSS of a fresh process that builds ``variant`` and trains it for 20 steps."""
  return float(_child([f"--memory_child={network_name},{variant}"], data_dir))


_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "digits": (64,)}


def _memory_child(spec, data_dir):
  """Random inputs of the network's shape (loading the data set would dominate the peak);
  variant "none" builds nothing: the baseline of TF and the data."""
  del data_dir  # The values do not change the memory.
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top,unused-import
  name, variant = spec.split(",")
  network = harness.NETWORKS[name]
  n = 20 * network.batch_size
  rng = np.random.default_rng(0)
  x = rng.random((n, *_SHAPES[network.dataset]), dtype=np.float32)
  y = rng.integers(0, 10, n)
  if variant != "none":
    model, callbacks = make(network, variant, x.shape[1:], 10, 20)
    model.fit(x, y, batch_size=network.batch_size, epochs=1, verbose=0, callbacks=callbacks)
  print(_peak_rss_mb())


def _peak_rss_mb():
  """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over ``exec`` from
  the forking parent, so a child started by a big process reports the parent's size."""
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024.0
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def markdown(results):
  lines = ["| network | variant | step ms (median) | × plain (range) | CPU ms / step | "
           "× plain (range) | peak RSS MB | over TF baseline MB |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]

  def ratio(m, key):
    low, high = m.get(key + "_range", (m[key], m[key]))
    return f"{m[key]:.3f} ({low:.2f}–{high:.2f})"

  for name, r in results.items():
    for v in VARIANTS:
      if v not in r["steps"]:
        continue
      m = r["steps"][v]
      memory = r.get("memory_mb")
      mem = (f"{memory[v]:.0f} | {memory[v] - memory['none']:.0f}" if memory else "– | –")
      lines.append(f"| {name} | {v} | {m['step_ms_median']:.2f} | {ratio(m, 'wall_ratio')} | "
                   f"{m['cpu_ms_per_step']:.2f} | {ratio(m, 'cpu_ratio')} | {mem} |")
  return "\n".join(lines) + "\n"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if _MEMORY_CHILD.value:
    _memory_child(_MEMORY_CHILD.value, _DATA_DIR.value)
    return
  if _STEPS_CHILD.value:
    network = harness.NETWORKS[_STEPS_CHILD.value]
    print(json.dumps(measure(network, harness.load_data(network, _DATA_DIR.value),
                             _STEPS.value, _ROUNDS.value)))
    return
  results = {}
  for name in _NETWORKS.value:
    network = harness.NETWORKS[name]
    for backend in [k for k in _KERASES.value if k != "tf_keras"]:
      if name not in KERAS3_NETWORKS:
        continue
      row = f"{name} (Keras 3, {backend})"
      results[row] = {"batch_size": network.batch_size, "steps": repeated_steps(
          name, _DATA_DIR.value, _STEPS.value, _ROUNDS.value, _REPEATS.value, backend)}
      print(markdown({row: results[row]}), flush=True)
    if "tf_keras" not in _KERASES.value:
      continue
    results[name] = {
        "batch_size": network.batch_size,
        "steps": repeated_steps(name, _DATA_DIR.value, _STEPS.value, _ROUNDS.value,
                                _REPEATS.value),
        "memory_mb": {v: peak_memory_mb(name, v, _DATA_DIR.value)
                      for v in ("none",) + VARIANTS}}
    print(markdown({name: results[name]}), flush=True)
  os.makedirs(_OUT.value, exist_ok=True)
  with open(os.path.join(_OUT.value, "cost.json"), "w") as f:
    json.dump(results, f, indent=1)
  with open(os.path.join(_OUT.value, "cost.md"), "w") as f:
    f.write(markdown(results))


if __name__ == "__main__":
  app.run(main)
