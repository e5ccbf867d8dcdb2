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
(``report.within_noise``); the functions are in ``keras3_grid.py``. ``report.py`` puts the
Markdown in BENCHMARKS.md.

``threshold_lr=5e-6`` by default: the pace of the thresholds when the tf_keras grids ran
(the library default has since become 7e-6).
"""

import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import grid  # noqa: E402  pylint: disable=g-import-not-at-top
from benchmarks import harness  # noqa: E402  pylint: disable=g-import-not-at-top
from benchmarks import keras3_grid  # noqa: E402  pylint: disable=g-import-not-at-top
from ltp_tf import trail  # noqa: E402  pylint: disable=g-import-not-at-top

_RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

_NETWORKS = flags.DEFINE_list("networks", ["lenet300", "lenet5"], "Of harness.NETWORKS.")
_TARGETS = flags.DEFINE_list("targets", ["0.9", "0.95", "0.98"], "Target sparsities.")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds.")
_BACKENDS = flags.DEFINE_list("backends", ["tensorflow", "jax"], "Keras 3 backends.")
_METHODS = flags.DEFINE_list("methods", ["ltp"], f"Of {harness.KERAS3_METHODS}.")
_OVERRIDES = flags.DEFINE_list("override", ["threshold_lr=5e-6"],
                               "Network fields for every run (see compare.py).")
_RUN = flags.DEFINE_bool("run", True, "Run the missing runs (else only collect).")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/ltp_bench_k3", "Runs and dense checkpoints.")
_OUT = flags.DEFINE_string("out", _RESULTS, "Where the outputs go; the tf_keras grids' "
                           "benchmark_<network>.json are read there.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "As compare.py's.")
# XLA's CPU convolutions are ~3x slower than TensorFlow's oneDNN ones on LeNet-5; XNNPACK graph
# fusion brings JAX's dense LeNet-5 epoch from ~90 to ~60 ms a step here, with identical losses
# (jaxlib 0.10.2; an unknown flag aborts XLA, so set it to "" on other versions).
_XLA_FLAGS = flags.DEFINE_string(
    "jax_xla_flags", "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
    "Appended to XLA_FLAGS for the JAX backend's process.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  unknown = sorted(set(_METHODS.value) - set(harness.KERAS3_METHODS))
  if unknown:
    raise app.UsageError(f"--methods {unknown} do not run on Keras 3; choose from "
                         f"{harness.KERAS3_METHODS}")
  networks, backends, methods = _NETWORKS.value, _BACKENDS.value, _METHODS.value
  targets = [float(t) for t in _TARGETS.value]
  seeds = [int(s) for s in _SEEDS.value]
  overrides = grid.parse_overrides(_OVERRIDES.value)
  if _RUN.value:
    for backend in backends:
      keras3_grid.run_backend(backend, networks, targets, seeds, methods, _OVERRIDES.value,
                              _WORKDIR.value, _DATA_DIR.value, xla_flags=_XLA_FLAGS.value)
  reference = {name: trail.read_json(os.path.join(_OUT.value, f"benchmark_{name}.json"),
                                     {}).get("aggregate", []) for name in networks}
  found = keras3_grid.collect(networks, backends, targets, seeds, methods, overrides,
                              _WORKDIR.value)
  keras3_grid.write(_OUT.value, reference, found, backends, targets, seeds, methods, overrides,
                    " ".join(["python benchmarks/keras3.py",  # The command that runs it.
                              *(a for a in sys.argv[1:] if a != "--norun")]))


if __name__ == "__main__":
  app.run(main)
