"""The main job (README command 1) on shrunk configs, and the binary end to end."""

import json
import os
import subprocess
import sys

import pytest

from ltp_tf import train_lib

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _digits_config(**overrides):
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location("digits_mlp",
                                                os.path.join(_ROOT, "configs", "digits_mlp.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  config.update(dict(dense_epochs=3, soft_epochs=3, finetune_epochs=1, verbose=0), **overrides)
  return config


def test_train_and_evaluate_writes_a_consistent_report(tmp_path):
  result = train_lib.train_and_evaluate(_digits_config(), str(tmp_path))
  for name in ("report.json", "report.md", "model_dense.tflite", "model_sparse.tflite",
               "model_sparse.keras"):
    assert os.path.exists(tmp_path / name), name
  with open(tmp_path / "report.json") as f:
    assert json.load(f)["stages"] == result["stages"]
  stages = result["stages"]
  assert stages["dense"]["accuracy"] > 0.8
  assert stages["soft"]["sparsity"] > 0.2  # lambda = 2e-4 prunes visibly within 3 epochs.
  assert stages["hard"]["sparsity"] == stages["finetuned"]["sparsity"]  # Mask frozen.
  assert stages["tflite"]["sparsity"] == stages["finetuned"]["sparsity"]
  assert stages["tflite"]["accuracy"] == pytest.approx(stages["finetuned"]["accuracy"], abs=3e-3)
  assert result["tflite_bytes"]["sparse"] < result["tflite_bytes"]["dense"]
  assert len(result["layers"]) == 3
  assert os.listdir(tmp_path / "tensorboard")


def test_bad_dataset_is_named(tmp_path):
  with pytest.raises(ValueError, match="config.dataset"):
    train_lib.train_and_evaluate(_digits_config(dataset="cifar"), str(tmp_path))
  with pytest.raises(ValueError, match="tfds_data_dir"):
    train_lib.train_and_evaluate(_digits_config(dataset="mnist"), str(tmp_path))


def test_binary_runs_end_to_end_with_overrides(tmp_path):
  cmd = [sys.executable, os.path.join(_ROOT, "examples", "train.py"),
         f"--workdir={tmp_path}", "--config.dense_epochs=1", "--config.soft_epochs=1",
         "--config.finetune_epochs=0", "--config.verbose=0", "--config.l0_lambda=3e-4"]
  subprocess.run(cmd, check=True, capture_output=True, cwd=_ROOT, timeout=300)
  with open(tmp_path / "report.json") as f:
    assert json.load(f)["config"]["l0_lambda"] == 3e-4
