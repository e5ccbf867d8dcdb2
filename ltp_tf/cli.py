"""The ``ltp-train`` binary: absl flags over ``train_lib.train_and_evaluate``.

  ltp-train --workdir=/tmp/ltp_digits                      # embedded default: digits MLP
  ltp-train --config=configs/mnist_lenet300.py --workdir=/tmp/ltp_mnist \\
      --config.tfds_manual_dir=../shared/data/mnist --config.l0_lambda=2e-6
  Re-running with the same --workdir resumes after the last completed epoch.
"""

import os

# This binary trains tf_keras models, and its input pipeline's keras-cv augmentation follows
# tf.keras: make tf.keras tf_keras before anything imports TensorFlow. (The library itself
# leaves TF_USE_LEGACY_KERAS alone.) A binary may set process-wide state; a library may not.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from absl import app  # noqa: E402  pylint: disable=g-import-not-at-top
from absl import flags  # noqa: E402  pylint: disable=g-import-not-at-top
from absl import logging  # noqa: E402  pylint: disable=g-import-not-at-top
from ml_collections import config_flags  # noqa: E402  pylint: disable=g-import-not-at-top

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "configs", "digits_mlp.py")
_CONFIG = config_flags.DEFINE_config_file(
    "config", _DEFAULT_CONFIG, "Experiment config file (configs/*.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for the report, TFLite files and logs.",
                               required=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # Keep the TFLite converter's INFO lines out.
  from ltp_tf import train_lib  # pylint: disable=g-import-not-at-top
  train_lib.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


def run():
  app.run(main)


if __name__ == "__main__":
  run()
