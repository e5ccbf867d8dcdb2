"""AlexNet (torchvision variant) on ImageNet (imagenet2012, manual download; not runnable offline here).

Command (dense weights required: the paper prunes pretrained networks):
  ltp-train --config=configs/imagenet_alexnet.py --workdir=/tmp/ltp_imagenet_alexnet \\
      --config.tfds_manual_dir=/data/imagenet --config.init_checkpoint=/path/dense.weights.h5

Runtime: about an hour per epoch on 8 modern GPUs; CPU is impractical. Expected result:
paper: 26.4x compression at 79.1 % top-5 (not measured here; smoke-tested with tfds mock data).
Paper Table 1: T0 1e-3, r 1e-7, lambda 1e-7; epochs are our choice.
"""

from ltp_tf import config_base


def get_config():
  c = config_base.base()
  c.dataset = "imagenet2012"
  c.tfds_manual_dir = ""             # Folder with ILSVRC2012_img_{train,val}.tar.
  c.model = "alexnet"
  c.batch_size = 256
  c.learning_rate = 0.01
  c.lr_schedule = "cosine"
  c.dense_epochs = 0                 # Start from --config.init_checkpoint.
  c.temperature = 1e-3
  c.threshold_lr_ratio = 1e-7
  c.l0_lambda = 1e-7
  c.soft_epochs = 25
  c.finetune_epochs = 5
  c.export_int8 = False              # Calibrate separately; int8 conversion of ImageNet nets is slow.
  c.keep_ratio_every_n_steps = 500
  return c
