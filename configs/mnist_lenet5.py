"""LeNet-5-Caffe (conv 20-5x5, pool, conv 50-5x5, pool, fc 500, fc 10) on MNIST, offline via tfds.

Command:
  ltp-train --config=configs/mnist_lenet5.py --workdir=/tmp/ltp_lenet5 \\
      --config.tfds_manual_dir=../shared/data/mnist

Expected result (measured on 2 shared CPU cores, 7.5 min): dense 0.9889 test accuracy; after 8
soft and 3 fine-tuning epochs 98.71 % sparsity (77x fewer weights) at 0.9892; per layer conv1
15.4 %, conv2 91.6 %, fc1 99.91 % (343 of 400k kept), fc2 45.9 %; sparse TFLite 44,244 bytes
(float) / 43,560 (int8) vs 1,727,320 dense, both 0.9892 in LiteRT.
"""

from ltp_tf import config_base


def get_config():
  c = config_base.base()
  c.dataset = "mnist"
  c.model = "lenet5"
  c.dense_epochs = 4
  c.l0_lambda = 1e-6                 # 431k prunable weights, 400k of them in fc 800x500.
  c.soft_epochs = 8
  c.finetune_epochs = 3
  return c
