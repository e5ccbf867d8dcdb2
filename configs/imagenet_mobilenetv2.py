"""MobileNetV2 (keras.applications) on ImageNet.

imagenet2012 needs the manual download; it is not available offline here.

Command (dense weights required: the paper prunes pretrained networks):
  ltp-train --config=configs/imagenet_mobilenetv2.py --workdir=/tmp/ltp_imagenet_mobilenetv2 \\
      --config.tfds_manual_dir=/data/imagenet --config.init_checkpoint=/path/dense.weights.h5

Runtime: not measured (no ImageNet here); an ImageNet epoch needs accelerators. Expected result:
paper: see its MobileNetV2 table (not measured here; smoke-tested with tfds mock data).
Paper Table 1: T0 1e-3, r 1e-7, lambda 1e-7; paper budget: 101 epochs.
"""

from ltp_tf import config_base


def get_config():
  return config_base.imagenet("mobilenetv2", threshold_lr_ratio=1e-7, l0_lambda=1e-7,
                              soft_epochs=101, finetune_epochs=0)
