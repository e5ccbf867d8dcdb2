"""Exact resume and sparse checkpoints, for the three ways Keras users checkpoint.

The scenarios are in tests/resume_cases.py, run in a subprocess: they turn on
``tf.config.experimental.enable_op_determinism()``, which is process-wide and permanent.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # Real data or subprocesses: tens of seconds each.

_HERE = os.path.dirname(os.path.abspath(__file__))
_SAME = {"thresholds": 0, "masks": 0, "weights": 0, "phase": 0, "step": 0}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("resume"))
  run = subprocess.run([sys.executable, os.path.join(_HERE, "resume_cases.py"), workdir],
                       capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert run.returncode == 0, run.stderr[-3000:]
  return json.loads(run.stdout.strip().splitlines()[-1])


def test_reference_runs_are_bit_identical_and_end_pruned(results):
  assert results["rerun"] == _SAME  # Op determinism + seeds: the premise of what follows.
  assert results["reference_phase"] == [1, 1]
  assert 0.3 < results["reference_sparsity"] < 0.95


@pytest.mark.parametrize("mechanism", ["tf.train.Checkpoint", "BackupAndRestore",
                                       "BackupAndRestore, soft_steps", "ModelCheckpoint"])
def test_resume_mid_soft_phase_is_bit_identical(results, mechanism):
  """Saved after epoch 2 of 3 soft epochs, restored into a model initialised from another
  seed, trained to the end: same thresholds, masks, weights (bit for bit) and step."""
  assert results[mechanism] == _SAME


def test_hard_phase_checkpoints_hold_exact_zeros(results):
  """TFMOT's #206: savers listed BEFORE LTPPruningSchedule write at epoch end; the pruned
  weights they stored must already be exactly 0."""
  hard = results["hard"]
  assert hard["phase"] == [1, 1] and hard["pruned"] > 0
  # Why it needs care: momentum from the soft phase moves the stored pruned weights off zero
  # within each fine-tuning epoch (the forward pass masks them regardless).
  assert hard["drift_within_epochs"] > 0
  for saver in ("ModelCheckpoint", "tf.train.Checkpoint", "BackupAndRestore"):
    assert hard[saver] == 0, saver
