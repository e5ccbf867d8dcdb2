"""Defaults shared by every ``configs/*.py`` experiment (ml_collections; binaries only).

Each config starts from ``base()`` and sets what differs; every field is documented here.
"""

import ml_collections
from ml_collections import config_dict


def base():
  c = ml_collections.ConfigDict()
  # Data. dataset: digits | mnist | fashion_mnist | cifar10 | cifar100 | imagenet2012.
  c.dataset = "digits"
  c.tfds_data_dir = "/tmp/tfds"       # Where tfds prepares datasets.
  c.tfds_manual_dir = config_dict.placeholder(str)  # Original files, for offline use.
  c.train_examples = 0                # 0: the whole split; N: the first N (shrunk runs).
  c.eval_examples = 0
  c.augment = config_dict.placeholder(str)  # None: the dataset's default (input_pipeline).
  c.randaugment = False
  c.image_size = 0                    # ImageNet crop size (0: 224).
  # Model: ltp_tf.models.get_model(model, input_shape, num_classes, **model_kwargs).
  c.model = "mlp"
  c.model_kwargs = ml_collections.ConfigDict()
  c.init_checkpoint = ""              # Dense weights to start from (.weights.h5 / .h5 / .keras).
  # Optimization (one optimizer per stage, restarted at each stage).
  c.seed = 0
  c.batch_size = 128
  c.optimizer = "sgd"                 # sgd | adam
  c.learning_rate = 0.05
  c.lr_schedule = "constant"          # constant | cosine (over each stage)
  c.momentum = 0.9
  c.weight_decay = 0.0                # Decoupled; thresholds are excluded.
  # Stages (0 epochs skips a stage).
  c.dense_epochs = 0
  c.soft_epochs = 10
  c.finetune_epochs = 5
  # LTP, paper Table 1 notation: T0 = temperature, r = threshold_lr_ratio, lambda = l0_lambda.
  c.l0_lambda = 1e-6
  c.temperature = 1e-3
  # The thresholds' own learning rate (eq. 11), whatever the optimizer; or, as in the paper,
  # threshold_lr_ratio = r: r times the optimizer's learning rate (then threshold_lr = None).
  c.threshold_lr = config_dict.placeholder(float)
  c.threshold_lr = 5e-6  # The pace l0_lambda was calibrated with (library default: 7e-6).
  c.threshold_lr_ratio = config_dict.placeholder(float)
  c.stabilized_gradient = True
  c.regularizer = "l0"                # l0 (eq. 6) | l0_fraction (per-tensor keep ratios) | l2
  # (The configs are the paper's recipes, eq. 6 with Table 1's lambda also in target mode; the
  # library's own target-mode default is --config.regularizer=l0_fraction --config.l0_lambda=0.1.)
  # Target-sparsity mode: steer l0_lambda (from the value above) so that the global sparsity
  # follows a ramp to target_sparsity, reached after target_epochs soft epochs (0: two thirds
  # of soft_epochs); the hard prune then lands on it exactly. None: l0_lambda stays fixed.
  c.target_sparsity = config_dict.placeholder(float)
  c.target_epochs = 0
  # Outputs.
  c.export_tflite = True              # False: skip TFLite export and evaluation.
  c.export_int8 = True
  c.keep_ratio_every_n_steps = 50     # Fig. 2 resolution.
  c.fig1_layer = ""                   # Layer for the Fig. 1 scatter ("" = the largest).
  # Keras: 2 (tf_keras, the default) or 3 (Keras 3 on `backend`: tensorflow | jax; ltp-train
  # sets KERAS_BACKEND for it; LiteRT export then runs in a TensorFlow-backend process).
  c.keras = 2
  c.backend = "tensorflow"
  c.verbose = 2                       # 0 silent; 1 Keras' bar; 2 one line per epoch (+ stages).
  c.run_eagerly = False               # True: eager train steps (debugging, quick smoke runs).
  return c


def cifar(dataset):
  """CIFAR-10/100 ResNet-20 training from scratch, then LTP (paper Table 1: T0 1e-3, r 1e-5,
  lambda 2e-6). Epoch counts are our choice."""
  c = base()
  c.dataset = dataset
  c.model = "resnet20"
  c.learning_rate = 0.1
  c.lr_schedule = "cosine"
  c.weight_decay = 1e-4
  c.dense_epochs = 160
  c.l0_lambda = 2e-6
  c.threshold_lr, c.threshold_lr_ratio = None, 1e-5
  c.soft_epochs = 60
  c.finetune_epochs = 20
  return c


def imagenet(model, *, threshold_lr_ratio, l0_lambda, soft_epochs, finetune_epochs):
  """ImageNet LTP from pretrained dense weights (``--config.init_checkpoint``), paper Table 1."""
  c = base()
  c.dataset = "imagenet2012"
  c.tfds_manual_dir = ""             # Folder with ILSVRC2012_img_{train,val}.tar.
  c.model = model
  c.batch_size = 256
  c.learning_rate = 0.01
  c.lr_schedule = "cosine"
  c.dense_epochs = 0                 # Start from --config.init_checkpoint.
  c.temperature = 1e-3
  c.threshold_lr, c.threshold_lr_ratio = None, threshold_lr_ratio
  c.l0_lambda = l0_lambda
  c.soft_epochs = soft_epochs
  c.finetune_epochs = finetune_epochs
  c.export_int8 = False              # Calibrate separately: int8 conversion is slow at this size.
  c.keep_ratio_every_n_steps = 500
  return c
