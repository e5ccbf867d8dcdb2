"""CIFAR-style ResNet-20 (with batch norm) on Fashion-MNIST, 28x28x1: our offline stand-in for
the paper's batch-norm experiments (L0 keeps regularizing where L1/L2 cannot).

Command:
  ltp-train --config=configs/fashion_mnist_resnet20.py --workdir=/tmp/ltp_fmnist_r20 \\
      --config.tfds_manual_dir=../shared/data/fashion_mnist

Expected result: see RESULTS below (measured on 2 CPU cores).
"""

from ltp_tf import config_base

RESULTS = "not measured yet"


def get_config():
  c = config_base.base()
  c.dataset = "fashion_mnist"
  c.model = "resnet20"
  c.learning_rate = 0.05
  c.dense_epochs = 6
  c.l0_lambda = 2e-6                 # Paper Table 1, ResNet20 (CIFAR-100).
  c.threshold_lr_ratio = 1e-5
  c.soft_epochs = 6
  c.finetune_epochs = 3
  return c
