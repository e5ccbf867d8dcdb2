"""The ``ltp-train`` entry point: ``ltp_tf.cli``, with TensorFlow's start-up lines held back.

``import ltp_tf`` imports TensorFlow, whose C++ start-up lines (``WARNING: All log messages
before absl::InitializeLog() ...``, ``I0000 ... port.cc] oneDNN custom operations are on``,
``cudart_stub.cc] Could not find cuda drivers``) go to file descriptor 2 whatever
TF_CPP_MIN_LOG_LEVEL says (TF 2.21, up to level 3); absl's ``app.run`` then runs TensorFlow's
GPU count, which logs ``E0000 ... failed call to cuInit`` on a machine without one. Code inside
``ltp_tf`` runs too late to catch the first, hence this package outside it: ``train`` holds
descriptor 2 in a file from before that import until ``ltp_tf.cli.main`` starts, which writes
the lines to WORKDIR/log.txt (or to the console with ``--noquiet``). If the binary stops
before (a bad flag, a failed import), they are written to the console.

  python -m ltp_tf_cli --workdir=/tmp/ltp_digits     # the same as ltp-train
"""

import importlib
import os
import sys
import tempfile


class HeldStderr:
  """Holds what is written to file descriptor 2 in a file, from creation to ``release``."""

  def __init__(self):
    sys.stderr.flush()
    self._saved = os.dup(2)
    self._held = tempfile.TemporaryFile()
    os.dup2(self._held.fileno(), 2)

  def release(self, replay=False):
    """Restores descriptor 2 and returns the held bytes (written to it if ``replay``).

    Only the first call restores and returns anything; later ones return ``b""``.
    """
    if self._held is None:
      return b""
    sys.stderr.flush()
    os.dup2(self._saved, 2)
    os.close(self._saved)
    self._held.seek(0)
    lines = self._held.read()
    self._held.close()
    self._held = None
    if replay:
      os.write(2, lines)
    return lines


# Set when ``ltp_tf.cli`` re-executes itself for a ``config.keras = 3`` run: its backend.
KERAS3_BACKEND_ENV = "LTP_TF_KERAS3_BACKEND"


def set_keras_env():
  """Chooses the process's Keras, before TensorFlow is imported (``import ltp_tf`` does).

  tf_keras configs: ``TF_USE_LEGACY_KERAS=1`` (keras-cv's augmentation in the input pipeline
  follows tf.keras). A Keras 3 config's process (``KERAS3_BACKEND_ENV`` set): no
  ``TF_USE_LEGACY_KERAS``, and ``KERAS_BACKEND`` its backend. A binary may set process-wide
  state; the library does not.
  """
  backend = os.environ.get(KERAS3_BACKEND_ENV)
  if backend:
    os.environ.pop("TF_USE_LEGACY_KERAS", None)
    os.environ["KERAS_BACKEND"] = backend
  else:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def train():
  """``ltp-train``: see ``ltp_tf.cli``."""
  set_keras_env()
  held = HeldStderr()
  try:
    cli = importlib.import_module("ltp_tf.cli")
  except BaseException:
    held.release(replay=True)  # They may say why.
    raise
  cli.run(held=held)
