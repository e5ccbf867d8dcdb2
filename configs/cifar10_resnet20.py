"""ResNet-20 on CIFAR-10 (tfds downloads CIFAR; not available offline here).

Command:
  ltp-train --config=configs/cifar10_resnet20.py --workdir=/tmp/ltp_cifar10_r20

Runtime: not measured (no CIFAR data here); a ResNet-20 epoch over 50k images takes minutes on
a 2-core CPU, so use a GPU. Expected result: not measured here; the config is smoke-tested with
tfds mock data. Paper Table 1 for ResNet-20: T0 1e-3, r 1e-5, lambda 2e-6; epochs are ours.
"""

from ltp_tf import config_base


def get_config():
  return config_base.cifar("cifar10")
