"""LeNet-300-100 on MNIST through tfds, offline from the original files; ~3 min on 2 CPU cores.

Command (from the repository root, with the original files in ../shared/data/mnist):
  ltp-train --config=configs/mnist_lenet300.py --workdir=/tmp/ltp_mnist \\
      --config.tfds_manual_dir=../shared/data/mnist

Expected result (measured, see README): dense ~0.98 test accuracy; after LTP and fine-tuning
>= 90 % sparsity at >= 0.975, with a sparse float TFLite file several times smaller.
"""

from ml_collections import config_dict

import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.dataset = "mnist"
  config.tfds_data_dir = "/tmp/tfds"          # Where tfds prepares the dataset.
  config.tfds_manual_dir = config_dict.placeholder(str)  # e.g. ../shared/data/mnist (offline).
  config.model = "mlp"
  config.hidden = (300, 100)
  config.seed = 0
  config.batch_size = 128
  config.learning_rate = 0.05
  config.momentum = 0.9
  config.dense_epochs = 5
  config.l0_lambda = 1e-6            # 266k prunable weights; 1e-5 empties the first layer.
  config.temperature = 1e-3
  config.threshold_lr_ratio = 1e-5
  config.stabilized_gradient = True
  config.soft_epochs = 10
  config.finetune_epochs = 5
  config.verbose = 2
  return config
