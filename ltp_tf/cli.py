"""The ``ltp-train`` binary: absl flags over ``train_lib.train_and_evaluate``.

  ltp-train --workdir=/tmp/ltp_digits                      # embedded default: digits MLP
  ltp-train --config=configs/mnist_lenet300.py --workdir=/tmp/ltp_mnist \\
      --config.tfds_manual_dir=../shared/data/mnist --config.l0_lambda=2e-6
  ltp-train --config.keras=3 --config.backend=jax --workdir=/tmp/ltp_digits_k3   # Keras 3
  Re-running with the same --workdir resumes after the last completed epoch.

The console shows the stages, one line per epoch and the report; TensorFlow's, the TFLite
converter's and LiteRT's log lines go to WORKDIR/log.txt (``--noquiet`` shows them). The
``ltp-train`` script enters through ``ltp_tf_cli``, which also holds TensorFlow's start-up
lines for that log; ``python -m ltp_tf.cli`` works too, with those lines on the console.
"""

import functools
import os
import shlex
import sys
import time

# tf_keras configs: tf.keras is tf_keras (keras-cv's augmentation follows it); a Keras 3 config
# re-executes this binary with its backend (``_reexec_for_keras3``). Before TensorFlow's import.
import ltp_tf_cli  # noqa: E402  pylint: disable=g-import-not-at-top

ltp_tf_cli.set_keras_env()

from absl import app  # noqa: E402  pylint: disable=g-import-not-at-top
from absl import flags  # noqa: E402  pylint: disable=g-import-not-at-top
from absl import logging  # noqa: E402  pylint: disable=g-import-not-at-top
from ml_collections import config_flags  # noqa: E402  pylint: disable=g-import-not-at-top

from ltp_tf import console

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "configs", "digits_mlp.py")
_CONFIG = config_flags.DEFINE_config_file(
    "config", _DEFAULT_CONFIG, "Experiment config file (configs/*.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for the report, TFLite files and logs.",
                               required=True)
_QUIET = flags.DEFINE_bool(
    "quiet", True, "Show only the stages, one line per epoch and the report; TensorFlow's, "
    "the converter's and LiteRT's log lines go to WORKDIR/log.txt. --noquiet shows them too.")

LOG_FILE = "log.txt"


def main(argv, held=None):
  """Runs the config. ``held``: TensorFlow's start-up lines, held back (see ltp_tf_cli)."""
  early = held.release() if held else b""
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # Keep absl's INFO lines (one per checkpoint) out.
  config, workdir = _CONFIG.value, _WORKDIR.value
  _reexec_for_keras3(config)
  if not _QUIET.value:
    os.write(2, early)
    _train(config, workdir)
    return
  os.makedirs(workdir, exist_ok=True)
  log_path = os.path.join(workdir, LOG_FILE)
  started = f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(sys.argv)}\n"
  with console.to_log(log_path, preamble=started.encode() + early):
    print(f"ltp-train: {config.dataset} / {config.model}, workdir {workdir}\n"
          f"TensorFlow's log: {log_path} (--noquiet shows it here)", flush=True)
    _train(config, workdir)


def _reexec_for_keras3(config):
  """A ``config.keras = 3`` run needs ``KERAS_BACKEND`` set, and ``TF_USE_LEGACY_KERAS``
  unset, before the first import of TensorFlow or keras, which this process is past: it
  runs again, as ``python -m ltp_tf_cli`` with the same arguments, on ``config.backend``."""
  if getattr(config, "keras", 2) != 3:
    return
  if os.environ.get(ltp_tf_cli.KERAS3_BACKEND_ENV) == config.backend:
    return  # The re-executed process.
  env = dict(os.environ, **{ltp_tf_cli.KERAS3_BACKEND_ENV: config.backend})
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, [sys.executable, "-m", "ltp_tf_cli", *sys.argv[1:]], env)


def _train(config, workdir):
  from ltp_tf import train_lib  # pylint: disable=g-import-not-at-top
  train_lib.train_and_evaluate(config, workdir)


def run(held=None):
  """The binary; ``held`` (an ``ltp_tf_cli.HeldStderr``) is released when ``main`` starts, or
  written to the console if the binary fails before."""
  try:
    app.run(functools.partial(main, held=held))
  except SystemExit as e:
    if held and e.code not in (None, 0):
      held.release(replay=True)
    raise
  except BaseException:
    if held:
      held.release(replay=True)
    raise


if __name__ == "__main__":
  run()
