"""EfficientNet-B0 without Swish (ReLU) on ImageNet.

imagenet2012 needs the manual download; it is not available offline here.

Command (dense weights required: the paper prunes pretrained networks):
  ltp-train --config=configs/imagenet_efficientnet_b0.py --workdir=/tmp/ltp_effnet_b0 \\
      --config.tfds_manual_dir=/data/imagenet --config.init_checkpoint=/path/dense.weights.h5

Runtime: not measured (no ImageNet here); an ImageNet epoch needs accelerators. Expected result:
paper: see its EfficientNet-B0 table (not measured here; smoke-tested with tfds mock data).
Paper Table 1: T0 1e-3, r 5e-7, lambda 1e-6; paper budget: 52 epochs.
"""

from ltp_tf import config_base


def get_config():
  return config_base.imagenet("efficientnet_b0", threshold_lr_ratio=5e-7, l0_lambda=1e-6,
                              soft_epochs=52, finetune_epochs=0)
