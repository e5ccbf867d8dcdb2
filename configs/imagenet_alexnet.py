"""AlexNet (torchvision variant) on ImageNet.

imagenet2012 needs the manual download; it is not available offline here.

Command (dense weights required: the paper prunes pretrained networks):
  ltp-train --config=configs/imagenet_alexnet.py --workdir=/tmp/ltp_imagenet_alexnet \\
      --config.tfds_manual_dir=/data/imagenet --config.init_checkpoint=/path/dense.weights.h5

Runtime: not measured (no ImageNet here); an ImageNet epoch needs accelerators. Expected result:
paper: 26.4x compression at 79.1 % top-5 (not measured here; smoke-tested with tfds mock data).
Paper Table 1: T0 1e-3, r 1e-7, lambda 1e-7; epochs are our choice.
"""

from ltp_tf import config_base


def get_config():
  return config_base.imagenet("alexnet", threshold_lr_ratio=1e-7, l0_lambda=1e-7,
                              soft_epochs=25, finetune_epochs=5)
