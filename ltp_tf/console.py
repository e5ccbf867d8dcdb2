"""What the training binary shows on the terminal, and the log file that keeps the rest.

TensorFlow, the TFLite converter and LiteRT write their log lines from C++ straight to file
descriptors 2 and 1 (``I0000 ... reader.cc:83] Reading SavedModel from: ...``), where no
Python setting reaches them. ``to_log`` points both descriptors at a log file for the
duration and keeps ``sys.stdout`` on the terminal (and in the log), so what the run prints
itself (one line per epoch, the report) is shown and everything else is only logged.
``EpochProgress`` is that per-epoch line.
"""

import contextlib
import io
import os
import sys
import time
import traceback
import warnings

from ltp_tf._keras import keras

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class EpochProgress(keras.callbacks.ProgbarLogger):
  """Keras' progress output, with epochs numbered over a stage fitted one epoch at a time.

  ``train_lib.Run.fit`` calls ``model.fit(initial_epoch=e, epochs=e + 1)`` once per epoch (the
  data order is seeded by the epoch, so a resumed run is exact), and Keras' own logger then
  prints ``Epoch e+1/e+1``. This one prints ``Epoch k/N`` with N the stage's ``epochs``:
  under ``verbose=1`` above Keras' progress bar, under ``verbose=2`` as one line per epoch::

    Epoch 3/30 - 0.2s - loss: 0.9381 - accuracy: 0.9957 - sparsity: 75.85% - ...

  Put it after ``LTPPruningSchedule`` in the callback list: that one adds ``sparsity``.

  Args:
    epochs: the number of epochs of the stage (N).
    verbose: None: ``fit``'s ``verbose``; else this one (a Keras 3 ``fit`` runs with
      ``verbose=0``, so that it adds no progress bar of its own).
  """

  def __init__(self, epochs, verbose=None):
    super().__init__(count_mode="steps")
    self.stage_epochs = epochs
    self._verbose = verbose
    self._start = time.time()

  def set_params(self, params):
    super().set_params(params)
    self.epochs = self.stage_epochs
    if self._verbose is not None:
      self.verbose = self._verbose

  def on_epoch_begin(self, epoch, logs=None):
    self._start = time.time()
    if self.verbose != 2:
      super().on_epoch_begin(epoch, logs)

  def on_epoch_end(self, epoch, logs=None):
    if self.verbose != 2:
      super().on_epoch_end(epoch, logs)
      return
    fields = [f"Epoch {epoch + 1}/{self.epochs}", f"{time.time() - self._start:.1f}s"]
    fields += [f"{k}: {_format(k, float(v))}" for k, v in (logs or {}).items()]
    print(" - ".join(fields), flush=True)


def _format(name, value):
  if name.endswith("sparsity"):
    return f"{value:.2%}"
  return f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.4e}"


class _Tee(io.TextIOBase):
  """A text stream writing to several, flushing each write (to keep the log in order with
  the C++ lines written to the same file)."""

  def __init__(self, *streams):
    super().__init__()
    self._streams = streams

  def write(self, text):
    for stream in self._streams:
      stream.write(text)
      stream.flush()
    return len(text)

  def flush(self):
    for stream in self._streams:
      stream.flush()

  def isatty(self):
    return self._streams[0].isatty()

  def fileno(self):
    return self._streams[0].fileno()

  @property
  def encoding(self):
    return self._streams[0].encoding


@contextlib.contextmanager
def to_log(path, *, preamble=b""):
  """Sends file descriptors 1 and 2 to the file ``path`` (appended) for the block.

  Inside the block ``sys.stdout`` writes to the terminal and to the log, ``sys.stderr`` to the
  log only; warnings raised from ``ltp_tf`` code are also shown on the terminal. An exception
  leaving the block is written to the log, then propagates with the descriptors restored, so
  its traceback reaches the terminal.

  Example::

    with console.to_log(os.path.join(workdir, "log.txt")):
      train_lib.train_and_evaluate(config, workdir)

  Args:
    path: the log file.
    preamble: bytes to write to the log first (e.g. the lines TensorFlow printed on import).

  Yields:
    A text stream to the terminal only.
  """
  sys.stdout.flush()
  sys.stderr.flush()
  log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
  os.write(log_fd, preamble)
  saved = {fd: os.dup(fd) for fd in (1, 2)}
  encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
  terminal = open(os.dup(saved[1]), "w", encoding=encoding, errors="replace", buffering=1)
  log = open(os.dup(log_fd), "w", encoding="utf-8", errors="replace", buffering=1)
  streams = sys.stdout, sys.stderr, warnings.showwarning
  for fd in saved:
    os.dup2(log_fd, fd)
  os.close(log_fd)

  def showwarning(message, category, filename, lineno, file=None, line=None):
    del file  # Always to the log; ltp_tf's own warnings to the terminal too.
    text = warnings.formatwarning(message, category, filename, lineno, line)
    log.write(text)
    if os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep):
      terminal.write(text)

  sys.stdout, sys.stderr, warnings.showwarning = _Tee(terminal, log), log, showwarning
  try:
    yield terminal
  except BaseException:
    log.write(traceback.format_exc())
    raise
  finally:
    sys.stdout, sys.stderr, warnings.showwarning = streams
    sys.stdout.flush()  # What was written to the old streams goes to the log,
    sys.stderr.flush()  # before the descriptors are restored.
    log.close()
    terminal.close()
    for fd, copy in saved.items():
      os.dup2(copy, fd)
      os.close(copy)
