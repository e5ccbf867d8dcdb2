"""LeNet-300-100 on MNIST through tfds, offline from the original files; ~4 min on 2 CPU cores.

Command (from the repository root, with the original files in ../shared/data/mnist):
  ltp-train --config=configs/mnist_lenet300.py --workdir=/tmp/ltp_mnist \\
      --config.tfds_manual_dir=../shared/data/mnist

Expected result (measured on 2 shared CPU cores, 4 min): dense 0.9760 test accuracy; after 10
soft and 5 fine-tuning epochs 91.74 % sparsity at 0.9816; sparse TFLite 0.9816 (float,
196,220 bytes) and 0.9815 (int8, 84,680 bytes) vs 1,068,496 bytes dense float.
Shrunk for the tests (--config.dense_epochs=2 --config.soft_epochs=4 --config.finetune_epochs=1,
~1.5 min): >= 90 % sparsity at >= 0.97 (measured 91.31 % at 0.9780).
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
