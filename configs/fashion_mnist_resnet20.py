"""CIFAR-style ResNet-20 (with batch norm) on Fashion-MNIST, 28x28x1: our offline stand-in for
the paper's batch-norm experiments (L0 keeps regularizing where L1/L2 cannot).

Command:
  ltp-train --config=configs/fashion_mnist_resnet20.py --workdir=/tmp/ltp_fmnist_r20 \\
      --config.tfds_manual_dir=../shared/data/fashion_mnist

Expected result (measured on 2 shared CPU cores, 41 min): dense 0.9046 test accuracy; after 6
soft and 3 fine-tuning epochs 69.77 % sparsity at 0.9101 (0.9140 at the end of soft pruning);
per layer: stem 9 %, stage 1 ~25 %, stage 2 30-52 %, stage 3 55-88 %, shortcuts 14 %, classifier
8 %; sparse TFLite 442,304 bytes float (0.9101) / 213,872 int8 (0.9097) vs 1,097,860 dense.
"""

from ltp_tf import config_base


def get_config():
  c = config_base.base()
  c.dataset = "fashion_mnist"
  c.model = "resnet20"
  c.learning_rate = 0.05
  c.dense_epochs = 6
  c.l0_lambda = 2e-6                 # Paper Table 1, ResNet20 (CIFAR-100).
  c.threshold_lr, c.threshold_lr_ratio = None, 1e-5
  c.soft_epochs = 6
  c.finetune_epochs = 3
  return c
