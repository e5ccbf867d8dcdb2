"""ResNet-20 on CIFAR-10 (needs the CIFAR-10 tfds data; not runnable offline here).

Command:
  ltp-train --config=configs/cifar10_resnet20.py --workdir=/tmp/ltp_c10_r20

Runtime: about 15 s/epoch on one modern GPU; CPU is impractical (hours). Expected result: not
measured here (no CIFAR data offline); the config is smoke-tested with tfds mock data. Paper
Table 1 hyper-parameters for ResNet-20 (T0 1e-3, r 1e-5, lambda 2e-6); epochs are our choice.
"""

from ltp_tf import config_base


def get_config():
  c = config_base.base()
  c.dataset = "cifar10"
  c.model = "resnet20"
  c.batch_size = 128
  c.learning_rate = 0.1
  c.lr_schedule = "cosine"
  c.weight_decay = 1e-4
  c.dense_epochs = 160
  c.l0_lambda = 2e-6
  c.temperature = 1e-3
  c.threshold_lr_ratio = 1e-5
  c.soft_epochs = 60
  c.finetune_epochs = 20
  return c
