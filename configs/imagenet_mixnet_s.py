"""MixNet-S (defined in ltp_tf.models) on ImageNet.

imagenet2012 needs the manual download; it is not available offline here.

Command (dense weights required: the paper prunes pretrained networks):
  ltp-train --config=configs/imagenet_mixnet_s.py --workdir=/tmp/ltp_imagenet_mixnet_s \\
      --config.tfds_manual_dir=/data/imagenet --config.init_checkpoint=/path/dense.weights.h5

Runtime: not measured (no ImageNet here); an ImageNet epoch needs accelerators. Expected result:
paper: see its MixNet-S table (not measured here; smoke-tested with tfds mock data).
Paper Table 1: T0 1e-3, r 1e-5, lambda 5e-8; paper budget: 17 epochs.
"""

from ltp_tf import config_base


def get_config():
  return config_base.imagenet("mixnet_s", threshold_lr_ratio=1e-5, l0_lambda=5e-8,
                              soft_epochs=17, finetune_epochs=0)
