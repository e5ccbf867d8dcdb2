"""Embedded default: an MLP on scikit-learn's 8x8 digits, offline, about a minute on 2 CPU cores.

Command:
  ltp-train --workdir=/tmp/ltp_digits            # (= --config=configs/digits_mlp.py)

Expected result (measured on 2 CPU cores, 25 s): dense 0.9778 test accuracy; after 30 soft and
10 fine-tuning epochs 84.06 % sparsity at 0.9750; sparse float TFLite 17,356 bytes vs 70,924
dense (4.09x), same accuracy in LiteRT.
Switch to MNIST through tfds (offline from the original files):
  ltp-train --workdir=/tmp/ltp_mnist --config.dataset=mnist --config.hidden='(300, 100)' \\
      --config.tfds_data_dir=/tmp/tfds --config.tfds_manual_dir=../shared/data/mnist \\
      --config.batch_size=128 --config.l0_lambda=1e-6
"""

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.dataset = "digits"          # digits | mnist | fashion_mnist
  config.tfds_data_dir = ""          # mnist / fashion_mnist: where tfds prepares the data.
  config.tfds_manual_dir = ""        # Folder with the original .gz files, for offline use.
  config.model = "mlp"
  config.hidden = (128, 64)
  config.seed = 0
  config.batch_size = 32
  config.learning_rate = 0.05
  config.momentum = 0.9
  config.dense_epochs = 20
  # LTP (paper Table 1 notation: T0 = temperature, r = threshold_lr_ratio, lambda = l0_lambda).
  config.l0_lambda = 2e-4            # Per kept weight; this MLP has 17k prunable weights.
  config.temperature = 1e-3
  config.threshold_lr_ratio = 1e-5
  config.stabilized_gradient = True
  config.soft_epochs = 30
  config.finetune_epochs = 10
  config.verbose = 2
  return config
