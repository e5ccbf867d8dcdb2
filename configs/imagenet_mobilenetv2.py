"""MobileNetV2 (keras.applications) on ImageNet (imagenet2012, manual download; not runnable offline here).

Command (dense weights required: the paper prunes pretrained networks):
  ltp-train --config=configs/imagenet_mobilenetv2.py --workdir=/tmp/ltp_imagenet_mobilenetv2 \\
      --config.tfds_manual_dir=/data/imagenet --config.init_checkpoint=/path/dense.weights.h5

Runtime: about an hour per epoch on 8 modern GPUs; CPU is impractical. Expected result:
paper: see its MobileNetV2 table (not measured here; smoke-tested with tfds mock data).
Paper Table 1: T0 1e-3, r 1e-7, lambda 1e-7; paper budget: 101 epochs.
"""

from ltp_tf import config_base


def get_config():
  c = config_base.base()
  c.dataset = "imagenet2012"
  c.tfds_manual_dir = ""             # Folder with ILSVRC2012_img_{train,val}.tar.
  c.model = "mobilenetv2"
  c.batch_size = 256
  c.learning_rate = 0.01
  c.lr_schedule = "cosine"
  c.dense_epochs = 0                 # Start from --config.init_checkpoint.
  c.temperature = 1e-3
  c.threshold_lr_ratio = 1e-7
  c.l0_lambda = 1e-7
  c.soft_epochs = 101
  c.finetune_epochs = 0
  c.export_int8 = False              # Calibrate separately; int8 conversion of ImageNet nets is slow.
  c.keep_ratio_every_n_steps = 500
  return c
