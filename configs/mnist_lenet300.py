"""LeNet-300-100 on MNIST through tfds, offline from the original files; ~1.5 min on 2 CPU cores.

Command (from the repository root, with the original files in ../shared/data/mnist):
  ltp-train --config=configs/mnist_lenet300.py --workdir=/tmp/ltp_mnist \\
      --config.tfds_manual_dir=../shared/data/mnist

Expected result (measured on 2 CPU cores, 83 s): dense 0.9787 test accuracy; after 10 soft and
5 fine-tuning epochs 91.89 % sparsity at 0.9826 (per layer 96.2 / 61.0 / 8.3 %); sparse float
TFLite 196,672 bytes vs 1,068,476 dense (5.43x), same accuracy in LiteRT.
"""

from ltp_tf import config_base


def get_config():
  c = config_base.base()
  c.dataset = "mnist"
  c.model = "lenet300"
  c.dense_epochs = 5
  c.l0_lambda = 1e-6                 # 266k prunable weights; 1e-5 empties the first layer.
  c.soft_epochs = 10
  c.finetune_epochs = 5
  return c
