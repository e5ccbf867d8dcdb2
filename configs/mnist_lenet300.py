"""LeNet-300-100 on MNIST through tfds, offline from the original files; ~1.5 min on 2 CPU cores.

Command (from the repository root, with the original files in ../shared/data/mnist):
  ltp-train --config=configs/mnist_lenet300.py --workdir=/tmp/ltp_mnist \\
      --config.tfds_manual_dir=../shared/data/mnist

Expected result (measured on 2 CPU cores, 83 s): dense 0.9787 test accuracy; after 10 soft and
5 fine-tuning epochs 91.89 % sparsity at 0.9826 (per layer 96.2 / 61.0 / 8.3 %); sparse float
TFLite 196,672 bytes vs 1,068,476 dense (5.43x), same accuracy in LiteRT.
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
