r"""Accuracy at matched sparsity: LTP vs TFMOT vs global and uniform magnitude pruning, and LTP's
ablations.

  python benchmarks/compare.py --networks=lenet300,lenet5 --targets=0.9,0.95,0.98 \
      --seeds=0,1,2 --workdir=/tmp/ltp_bench --data_dir=../shared/data
  python benchmarks/compare.py --networks=lenet5 --targets=0.9,0.95,0.98 --seeds=0,1,2 \
      --ablation_seeds=0 --workdir=/tmp/ltp_bench --data_dir=../shared/data
  python benchmarks/compare.py --networks=resnet20 --targets=0.8,0.9 --seeds=0 \
      --workdir=/tmp/ltp_bench --data_dir=../shared/data
  # The compact BN + depthwise networks (1.33x, 2x, 3x, 5x; add --override=optimizer=adam):
  python benchmarks/compare.py --networks=mnv2c,effc --targets=0.25,0.5,0.667,0.8 \
      --seeds=0,1,2 --methods=gmp,uniform,ltp,ltp_frac --nonatural \
      --workdir=/tmp/ltp_bench --data_dir=../shared/data

Writes ``benchmark_<network>.json`` / ``.md`` and PNGs (accuracy vs sparsity, the keep ratio
per tensor at each target, the ablations' keep-ratio curves, the Fig. 1 scatter with and without eq. 14) to ``--out``. Runs are
resumable: each finished (network, method, target, seed) is a JSON under
``--workdir/runs`` and is not run again. The grid itself is ``benchmarks/grid.py``; the
protocol is in ``benchmarks/harness.py``.
"""

import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import grid  # noqa: E402  pylint: disable=g-import-not-at-top
from benchmarks import harness  # noqa: E402  pylint: disable=g-import-not-at-top

_NETWORKS = flags.DEFINE_list("networks", ["lenet300"], f"Of {sorted(harness.NETWORKS)}.")
_TARGETS = flags.DEFINE_list("targets", ["0.9", "0.95", "0.98"], "Target sparsities.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (dense init and data order).")
_ABLATION_SEEDS = flags.DEFINE_list("ablation_seeds", None, f"Seeds of {harness.ABLATIONS} "
                                    "(default: --seeds).")
_METHODS = flags.DEFINE_list("methods", list(harness.METHODS), "Methods to run.")
_NATURAL = flags.DEFINE_bool("natural", True, "Also run ltp and ltp_unstab at their natural "
                             "endpoint (fixed lambda, no target); ltp_noreg runs only there.")
_WORKDIR = flags.DEFINE_string("workdir", "/tmp/ltp_bench", "Runs and dense checkpoints.")
_OUT = flags.DEFINE_string("out", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               "results"), "Where JSON, Markdown, PNGs go.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder with mnist/ and fashion_mnist/ "
                                "IDX files (default: $LTP_TF_DATA_DIR or ../shared/data).")
_FINISHED_ONLY = flags.DEFINE_bool("finished_only", False, "Run nothing: tabulate and plot the "
                                    "runs of the grid already finished in --workdir.")
_OVERRIDES = flags.DEFINE_list("override", [], "Network fields to override for every "
                               "network, e.g. prune_epochs=2,train_examples=2000.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  ablation_seeds = _ABLATION_SEEDS.value
  grid.run(_NETWORKS.value, [float(t) for t in _TARGETS.value], [int(s) for s in _SEEDS.value],
           _METHODS.value, _WORKDIR.value, _OUT.value, _DATA_DIR.value,
           grid.parse_overrides(_OVERRIDES.value),
           ablation_seeds=None if ablation_seeds is None else [int(s) for s in ablation_seeds],
           natural=_NATURAL.value, finished_only=_FINISHED_ONLY.value)


if __name__ == "__main__":
  app.run(main)
