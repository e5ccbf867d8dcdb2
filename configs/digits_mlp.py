"""Embedded default: an MLP on scikit-learn's 8x8 digits, offline, 30-40 s on 2 CPU cores.

Command:
  ltp-train --workdir=/tmp/ltp_digits            # (= --config=configs/digits_mlp.py)

Expected result (measured on 2 CPU cores; the test set has 360 images): dense 0.9722 test
accuracy; after 30 soft and 10 fine-tuning epochs 83.08 % sparsity at 0.9639 (0.9667 at the
end of soft pruning); sparse TFLite 18,284 bytes float / 17,088 int8 vs 70,944 dense, 0.9639 /
0.9639 in LiteRT.
"""

from ltp_tf import config_base


def get_config():
  c = config_base.base()
  c.dataset = "digits"
  c.model = "mlp"
  c.model_kwargs.hidden = (128, 64)
  c.batch_size = 32
  c.dense_epochs = 20
  c.l0_lambda = 2e-4                 # Per kept weight; this MLP has 17k prunable weights.
  c.soft_epochs = 30
  c.finetune_epochs = 10
  c.keep_ratio_every_n_steps = 10
  return c
