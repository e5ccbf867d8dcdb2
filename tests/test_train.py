"""The training binary: every config, the binary under flagsaver, exact resume, the pick."""

import glob
import json
import os
import re
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
import tensorflow_datasets as tfds
from absl import flags
from absl.testing import flagsaver
from ml_collections import config_flags

import ltp_tf
from ltp_tf import pick
from ltp_tf import trail
from ltp_tf import train_lib

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(_ROOT, "configs",
                                                                          "*.py")))


def load_config(name, **overrides):
  """Loads configs/<name>.py, applies overrides, then locks it as the binary does."""
  config = config_flags.config_flags._LoadConfigModule(  # pylint: disable=protected-access
      name, os.path.join(_ROOT, "configs", f"{name}.py")).get_config()
  config.update(overrides)
  config.lock()
  return config


def _shrunk(name, **extra):
  shrink = dict(dense_epochs=1, soft_epochs=1, finetune_epochs=1, batch_size=4,
                train_examples=8, eval_examples=8, verbose=0, keep_ratio_every_n_steps=1)
  if "imagenet" in name:
    # Graph tracing of MixNet / EfficientNet takes over a minute per stage on 2 cores; eager
    # steps test the same config, data and model (graph mode is tested on smaller models).
    shrink.update(image_size=64 if "alexnet" in name else 32, export_tflite=False,
                  run_eagerly=True, finetune_epochs=0)
  shrink.update(extra)
  return load_config(name, **shrink)


def test_every_config_has_a_docstring_with_its_command():
  for name in CONFIGS:
    with open(os.path.join(_ROOT, "configs", f"{name}.py")) as f:
      text = f.read()
    assert "ltp-train" in text and "Expected result" in text, name


@pytest.mark.slow
@pytest.mark.parametrize("name", [c for c in CONFIGS if c != "digits_mlp"])
def test_config_runs_one_shrunk_step_on_mock_data(name, tmp_path):
  extra = {}
  if "imagenet" in name:  # Mock data, but the manual-download check wants the tars present.
    for tar in ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"):
      (tmp_path / tar).touch()
    extra["tfds_manual_dir"] = str(tmp_path)
  config = _shrunk(name, tfds_data_dir=str(tmp_path / "tfds"), **extra)
  with tfds.testing.mock_data(num_examples=16):
    result = train_lib.train_and_evaluate(config, str(tmp_path / "run"))
  assert set(result["stages"]) >= {"dense", "soft", "hard", "finetuned"}
  assert 0.0 <= result["global"]["sparsity"] <= 1.0
  assert len(trail.read_trail(str(tmp_path / "run"))) == 1


def test_digits_run_writes_report_plots_trail_and_tflite(tmp_path):
  config = load_config("digits_mlp", dense_epochs=3, soft_epochs=3, finetune_epochs=1,
                       verbose=0)
  result = train_lib.train_and_evaluate(config, str(tmp_path))
  for name in ("report.json", "report.md", "model_dense.tflite", "model_sparse.tflite",
               "model_sparse_int8.tflite", "model_sparse.keras", "keep_ratio.png",
               "trail_accuracy.png", "layer_sparsity.png", "fig1_scatter.png",
               "trail/trail.json", "trail/epoch_003.weights.h5"):
    assert os.path.exists(tmp_path / name), name
  stages = result["stages"]
  assert stages["soft"]["sparsity"] > 0.3  # lambda = 2e-4 prunes visibly within 3 epochs.
  assert stages["hard"]["sparsity"] == stages["finetuned"]["sparsity"]  # Mask frozen.
  assert stages["tflite_sparse"]["accuracy"] == pytest.approx(stages["finetuned"]["accuracy"],
                                                              abs=3e-3)
  assert stages["tflite_sparse_int8"]["accuracy"] > stages["finetuned"]["accuracy"] - 0.05
  assert result["tflite_bytes"]["sparse"] < result["tflite_bytes"]["dense"]
  assert result["compression_ratio"] == pytest.approx(1 / (1 - result["global"]["sparsity"]))
  entries = trail.read_trail(str(tmp_path))
  assert [e["epoch"] for e in entries] == [1, 2, 3]
  assert entries[-1]["sparsity"] == pytest.approx(stages["soft"]["sparsity"])


def test_target_sparsity_config_lands_on_the_target(tmp_path):
  config = load_config("digits_mlp", dense_epochs=2, soft_epochs=3, finetune_epochs=1,
                       target_sparsity=0.7, verbose=0, export_tflite=False)
  result = train_lib.train_and_evaluate(config, str(tmp_path))
  size = result["global"]["size"]
  assert result["stages"]["hard"]["sparsity"] == pytest.approx(0.7, abs=1.0 / size)
  assert result["stages"]["finetuned"]["sparsity"] == result["stages"]["hard"]["sparsity"]
  assert result["landing"]["sparsity"] == pytest.approx(0.7, abs=1.0 / size)
  assert "l0_lambda" in result["history"]["soft"]  # Steered, and logged per epoch.


def _epoch_lines(console_text):
  return [line.split(" - ")[0] for line in console_text.splitlines()
          if line.startswith(("== ", "Epoch "))]


_STAGE_LINES = ["== Dense training: 2 epochs", "Epoch 1/2", "Epoch 2/2",
                "== LTP soft pruning: 2 epochs", "Epoch 1/2", "Epoch 2/2",
                "== Hard prune: {hard}", "== Fine-tuning (masks frozen, no L0): 2 epochs",
                "Epoch 1/2", "Epoch 2/2"]


@pytest.mark.slow
def test_binary_runs_end_to_end_under_flagsaver(tmp_path, capfd):
  from ltp_tf import cli  # pylint: disable=g-import-not-at-top
  argv = ["ltp-train", f"--workdir={tmp_path}",
          f"--config={os.path.join(_ROOT, 'configs', 'digits_mlp.py')}", "--config.dense_epochs=2",
          "--config.soft_epochs=2", "--config.finetune_epochs=2", "--config.l0_lambda=3e-4",
          "--config.export_tflite=False"]
  # ml_collections reads --config.* overrides from sys.argv.
  with flagsaver.flagsaver(), mock.patch.object(sys, "argv", argv):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(argv)
    cli.main(["ltp-train"])
  with open(tmp_path / "report.json") as f:
    report = json.load(f)
  assert report["config"]["l0_lambda"] == 3e-4
  out, err = capfd.readouterr()
  hard = report["stages"]["hard"]
  expected = [line.format(hard=f"{hard['sparsity']:.2%} sparse, test accuracy "
                               f"{hard['accuracy']:.4f}") for line in _STAGE_LINES]
  # Numbered over each stage, not Keras' "Epoch 2/2 ... Epoch 10/10" of one fit per epoch.
  assert _epoch_lines(out) == expected + ["== Export: strip"]
  assert "| finetuned |" in out and err == ""
  with open(tmp_path / cli.LOG_FILE) as f:
    logged = f.read()
  assert logged.startswith("==== ") and "Epoch 2/2" in logged and "| finetuned |" in logged


@pytest.mark.slow
def test_console_holds_progress_and_report_and_the_log_the_rest(tmp_path):
  """The real binary, as a process: TensorFlow's C++ lines (import, converter, LiteRT) go
  to workdir/log.txt, whatever TF_CPP_MIN_LOG_LEVEL (this test session sets it to 3)."""
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  proc = subprocess.run(
      [sys.executable, "-m", "ltp_tf_cli", f"--workdir={tmp_path}", "--config.dense_epochs=2",
       "--config.soft_epochs=2", "--config.finetune_epochs=2"],
      cwd=_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  console_lines = (proc.stdout + proc.stderr).splitlines()
  noise = [line for line in console_lines if re.match(r"[IWEF]\d{4} |WARNING|INFO", line)]
  assert not noise, noise
  with open(tmp_path / "report.json") as f:
    hard = json.load(f)["stages"]["hard"]
  expected = [line.format(hard=f"{hard['sparsity']:.2%} sparse, test accuracy "
                               f"{hard['accuracy']:.4f}") for line in _STAGE_LINES]
  assert _epoch_lines(proc.stdout) == expected + [
      "== Export: strip, sparse TFLite (float, int8), LiteRT evaluation"]
  soft = [line for line in console_lines if line.startswith("Epoch ") and "soft_l0" in line]
  assert len(soft) == 4 and all(re.search(r"sparsity: \d+\.\d\d%", line) for line in soft)
  assert "| tflite_sparse_int8 |" in proc.stdout
  with open(tmp_path / "log.txt") as f:
    logged = f.read()
  assert re.search(r"^I0000 .*Reading SavedModel from", logged, re.M)  # The converter's.
  rest = iter(logged.splitlines())  # The console's lines are logged too, in order.
  assert all(line in rest for line in proc.stdout.splitlines())


class _KillAfter:
  """A callback that raises at the end of the n-th epoch (over all stages): a simulated kill."""

  def __new__(cls, n):
    from ltp_tf._keras import keras  # pylint: disable=g-import-not-at-top

    class Kill(keras.callbacks.Callback):
      count = 0

      def on_epoch_end(self, epoch, logs=None):
        Kill.count += 1
        if Kill.count == n:
          raise KeyboardInterrupt(f"simulated kill after epoch {n}")

    return Kill()


def _final_state(workdir):
  config = load_config("digits_mlp", verbose=0)
  data_ = train_lib.Data(config)
  _, pruned = train_lib.build_pruned_model(config, data_)
  with open(os.path.join(workdir, "trail", "trail.json")) as f:
    last = json.load(f)[-1]["weights"]
  pruned.load_weights(os.path.join(workdir, "trail", last))
  return [float(t) for w in ltp_tf.collect_wrappers(pruned) for t in w.thresholds]


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [3, 5])  # In the soft stage; in the fine-tune stage.
def test_resume_after_a_kill_matches_an_uninterrupted_run(kill_after, tmp_path):
  overrides = dict(dense_epochs=2, soft_epochs=2, finetune_epochs=2, verbose=0,
                   export_tflite=False)
  full = train_lib.train_and_evaluate(load_config("digits_mlp", **overrides),
                                      str(tmp_path / "full"))
  resumed_dir = str(tmp_path / "resumed")
  with pytest.raises(KeyboardInterrupt):
    train_lib.train_and_evaluate(load_config("digits_mlp", **overrides), resumed_dir,
                                 callbacks=[_KillAfter(kill_after)])
  resumed = train_lib.train_and_evaluate(load_config("digits_mlp", **overrides), resumed_dir)
  np.testing.assert_allclose(_final_state(resumed_dir), _final_state(str(tmp_path / "full")),
                             rtol=1e-6)
  for stage, values in full["stages"].items():
    assert resumed["stages"][stage] == pytest.approx(values, abs=1e-6), stage
  assert len(resumed["history"]["soft"]["loss"]) == 2


def test_pick_selects_the_sparsest_checkpoint_within_budget(tmp_path):
  config = load_config("digits_mlp", dense_epochs=3, soft_epochs=3, finetune_epochs=0,
                       verbose=0, export_tflite=False)
  train_lib.train_and_evaluate(config, str(tmp_path))
  entries = trail.read_trail(str(tmp_path))
  result = pick.pick(str(tmp_path), max_accuracy_drop=1.0, verbose=0)
  assert result["entry"] == max(entries, key=lambda e: (e["sparsity"], e["val_accuracy"]))
  assert result["sparsity"] == pytest.approx(result["entry"]["sparsity"])
  assert os.path.exists(tmp_path / "picked" / "model_sparse.tflite")
  assert result["tflite_accuracy"] == pytest.approx(result["accuracy"], abs=3e-3)
  assert "within_budget" in result and "hard_accuracy" in result
  with pytest.raises(ValueError, match="max_accuracy_drop"):
    pick.pick(str(tmp_path), max_accuracy_drop=-0.5)
  with pytest.raises(ValueError, match="finetune_epochs"):
    pick.pick(str(tmp_path), finetune_epochs=-1)
  # Fine-tuning picks keep their checkpoints apart: a second pick never resumes the first.
  for epochs in (1, 2):
    tuned = pick.pick(str(tmp_path), max_accuracy_drop=1.0, finetune_epochs=epochs, verbose=0)
    assert tuned["finetune_epochs"] == epochs
  folders = sorted(p.name for p in (tmp_path / "picked").iterdir() if p.is_dir())
  assert folders == [f"finetune_epoch{result['entry']['epoch']:03d}_for{n}" for n in (1, 2)]


def test_trail_selection_rules():
  entries = [{"epoch": 1, "sparsity": 0.5, "val_accuracy": 0.97},
             {"epoch": 2, "sparsity": 0.8, "val_accuracy": 0.96},
             {"epoch": 3, "sparsity": 0.9, "val_accuracy": 0.90}]
  assert trail.select(entries, 0.975, 0.02)["epoch"] == 2
  assert trail.select(entries, 0.975, 0.1)["epoch"] == 3
  with pytest.raises(ValueError, match="best is 0.9700"):
    trail.select(entries, 0.99, 0.001)


def test_bad_config_values_are_named(tmp_path):
  with pytest.raises(ValueError, match="config.dataset"):
    train_lib.train_and_evaluate(load_config("digits_mlp", dataset="svhn"), str(tmp_path))
  with pytest.raises(ValueError, match="init_checkpoint"):
    train_lib.train_and_evaluate(load_config("digits_mlp", dense_epochs=0), str(tmp_path))
  with pytest.raises(ValueError, match="config.train_examples"):
    train_lib.train_and_evaluate(load_config("digits_mlp", train_examples=100), str(tmp_path))
  with pytest.raises(ValueError, match="config.soft_epochs"):
    train_lib.train_and_evaluate(load_config("digits_mlp", soft_epochs=-2), str(tmp_path))
  with pytest.raises(ValueError, match="config.optimizer"):
    train_lib.train_and_evaluate(load_config("digits_mlp", optimizer="rmsprop"), str(tmp_path))
  with pytest.raises(ValueError, match="config.keras must be 2 .* or 3"):
    train_lib.train_and_evaluate(load_config("digits_mlp", keras=1), str(tmp_path))
  # This process's Keras 3 runs on TensorFlow: a JAX config says how to get JAX.
  with pytest.raises(ValueError, match="KERAS_BACKEND=jax .*ltp-train does it"):
    train_lib.train_and_evaluate(load_config("digits_mlp", keras=3, backend="jax"),
                                 str(tmp_path))


@pytest.mark.slow
def test_binary_on_keras3_jax_reexecs_trains_and_exports_litert_in_a_tf_process(tmp_path):
  # ~90 s on 2 busy cores. Started as tf_keras runs are (TF_USE_LEGACY_KERAS=1 in this
  # session's environment): the binary re-executes itself on Keras 3 / JAX.
  proc = subprocess.run(
      [sys.executable, "-m", "ltp_tf_cli", f"--workdir={tmp_path}", "--config.keras=3",
       "--config.backend=jax", "--config.dense_epochs=1", "--config.soft_epochs=1",
       "--config.finetune_epochs=1", "--config.export_int8=False"],
      cwd=_ROOT, env=dict(os.environ, TF_USE_LEGACY_KERAS="1"), capture_output=True,
      text=True, timeout=600, check=False)
  assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
  with open(tmp_path / "report.json") as f:
    report = json.load(f)
  stages = report["stages"]
  assert (report["config"]["keras"], report["config"]["backend"]) == (3, "jax")
  assert 0.3 < stages["finetuned"]["sparsity"] < 0.95
  assert stages["tflite_sparse"]["accuracy"] == pytest.approx(stages["finetuned"]["accuracy"],
                                                              abs=0.01)
  assert 0 < report["tflite_bytes"]["sparse"] < report["tflite_bytes"]["dense"]
  assert "| tflite_sparse |" in proc.stdout and "Epoch 1/1" in proc.stdout
  # A Keras 3 file, with the original layer names and no wrapper.
  import zipfile  # pylint: disable=g-import-not-at-top
  with zipfile.ZipFile(tmp_path / "model_sparse.keras") as z:
    saved, meta = json.loads(z.read("config.json")), json.loads(z.read("metadata.json"))
  assert meta["keras_version"].startswith("3.")
  assert "PruneLearnedThreshold" not in json.dumps(saved)
