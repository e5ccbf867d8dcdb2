"""LeNet-5-Caffe (conv 20-5x5, pool, conv 50-5x5, pool, fc 500, fc 10) on MNIST, offline via tfds.

Command:
  ltp-train --config=configs/mnist_lenet5.py --workdir=/tmp/ltp_lenet5 \\
      --config.tfds_manual_dir=../shared/data/mnist

Expected result: see RESULTS below (measured on 2 CPU cores).
"""

from ltp_tf import config_base

RESULTS = "not measured yet"


def get_config():
  c = config_base.base()
  c.dataset = "mnist"
  c.model = "lenet5"
  c.dense_epochs = 4
  c.l0_lambda = 1e-6                 # 431k prunable weights, 400k of them in fc 800x500.
  c.soft_epochs = 8
  c.finetune_epochs = 3
  return c
