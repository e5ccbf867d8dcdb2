"""Real data, end to end: LeNet-300-100 on MNIST from the original files (about a minute)."""

import numpy as np
import pytest

import ltp_tf
import mnist_cases
from ltp_tf import data

pytestmark = pytest.mark.slow  # Real data or subprocesses: tens of seconds each.


def test_tfds_offline_recipe_gives_the_original_mnist(shared_data_dir, tfds_dir):
  (x_tr, y_tr), (x_te, y_te) = data.tfds_dataset(
      "mnist", tfds_dir, manual_dir=f"{shared_data_dir}/mnist")
  assert x_tr.shape == (60000, 28, 28, 1) and x_te.shape == (10000, 28, 28, 1)
  # Sanity values from shared/data/README.md.
  assert np.bincount(y_te).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
  assert round(float(x_tr.mean()) * 255, 4) == 33.3184
  (_, y_idx), _ = data.idx_dataset("mnist", shared_data_dir)
  assert np.bincount(y_tr).tolist() == np.bincount(y_idx).tolist()


def test_lenet_300_100_reaches_90_percent_sparsity_at_97_percent_accuracy(shared_data_dir):
  """Measured: 92.7 % sparsity, 0.980 test accuracy, ~35 s on 2 CPU cores."""
  (x_tr, y_tr), (x_te, y_te) = data.idx_dataset("mnist", shared_data_dir)
  model = mnist_cases.dense_lenet300(x_tr, y_tr, epochs=3)

  pruned = mnist_cases.sgd_compile(ltp_tf.prune_low_magnitude_learned(model, l0_lambda=1e-6))
  history = pruned.fit(x_tr, y_tr, epochs=9, batch_size=128, verbose=0,
                       callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=6)])
  sparsity = ltp_tf.sparsity_report(pruned).sparsity
  assert history.history["sparsity"][-1] == pytest.approx(sparsity, abs=1e-6)

  tflite = ltp_tf.export_tflite(pruned)
  result = ltp_tf.evaluate_tflite(tflite, (x_te, y_te))
  keras_accuracy = pruned.evaluate(x_te, y_te, verbose=0)[1]
  assert abs(result["accuracy"] - keras_accuracy) < 1e-3
  assert sparsity >= 0.90, ltp_tf.sparsity_report(pruned)
  assert result["accuracy"] >= 0.97


def test_mnist_lenet300_config_shrunk_keeps_its_docstring_promise(shared_data_dir, tfds_dir,
                                                                 tmp_path):
  """configs/mnist_lenet300.py promises >= 90 % sparsity at >= 0.97 for this budget."""
  from test_train import load_config  # pylint: disable=g-import-not-at-top
  from ltp_tf import train_lib  # pylint: disable=g-import-not-at-top
  config = load_config("mnist_lenet300", tfds_data_dir=tfds_dir,
                       tfds_manual_dir=f"{shared_data_dir}/mnist", dense_epochs=2,
                       soft_epochs=4, finetune_epochs=1, export_int8=False, verbose=0)
  result = train_lib.train_and_evaluate(config, str(tmp_path))
  assert result["stages"]["tflite_sparse"]["sparsity"] >= 0.90
  assert result["stages"]["tflite_sparse"]["accuracy"] >= 0.97
