"""The binary's console: stage-numbered epoch lines, the log that takes TensorFlow's lines."""

import os
import sys
import warnings

import numpy as np
import pytest

import ltp_tf_cli
from ltp_tf import console
from ltp_tf._keras import keras

_LTP_TF_FILE = os.path.abspath(console.__file__)


def _fit_one_epoch_at_a_time(epochs, verbose, extra_logs=None):
  """Fits the way train_lib.Run.fit does: fit(initial_epoch=e, epochs=e + 1) per epoch."""
  model = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
  model.compile("sgd", "mse")
  x, y = np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32)
  cbs = [console.EpochProgress(epochs)]
  if extra_logs:
    cbs.insert(0, keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: logs.update(extra_logs)))
  for e in range(epochs):
    model.fit(x, y, batch_size=4, initial_epoch=e, epochs=e + 1, verbose=verbose, callbacks=cbs)


def test_epoch_lines_are_numbered_over_the_stage(capsys):
  _fit_one_epoch_at_a_time(3, verbose=2, extra_logs={"sparsity": 0.8449, "soft_l0": 2640.0})
  lines = capsys.readouterr().out.splitlines()
  assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
  assert all(" - loss: " in line and line.endswith(" - sparsity: 84.49% - soft_l0: 2640.0000")
             for line in lines), lines


def test_progress_bar_header_is_numbered_over_the_stage(capsys):
  _fit_one_epoch_at_a_time(3, verbose=1)
  out = capsys.readouterr().out
  assert [line for line in out.splitlines() if line.startswith("Epoch ")] == [
      "Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]


def test_verbose_0_prints_nothing(capsys):
  _fit_one_epoch_at_a_time(2, verbose=0)
  assert capsys.readouterr().out == ""


def test_to_log_shows_stdout_and_logs_everything(tmp_path, capfd):
  log = tmp_path / "log.txt"
  with console.to_log(str(log), preamble=b"held import line\n"):
    print("Epoch 1/2 - progress")
    os.write(2, b"I0000 a C++ log line\n")
    os.write(1, b"a C++ print\n")
    sys.stderr.write("WARNING:tensorflow: a Python log line\n")
    warnings.warn_explicit("a TF warning", UserWarning, "/elsewhere/tf.py", 1)
    warnings.warn_explicit("an ltp_tf warning", UserWarning, _LTP_TF_FILE, 1)
  os.write(2, b"after the block\n")
  out, err = capfd.readouterr()
  assert out.startswith("Epoch 1/2 - progress\n"
                        f"{_LTP_TF_FILE}:1: UserWarning: an ltp_tf warning\n")
  assert "C++" not in out and "Python log" not in out and "TF warning" not in out
  assert err == "after the block\n"
  logged = log.read_text()
  for line in ("held import line", "Epoch 1/2 - progress", "I0000 a C++ log line",
               "a C++ print", "a Python log line", "a TF warning", "an ltp_tf warning"):
    assert line in logged, line
  assert logged.index("held import line") < logged.index("Epoch 1/2 - progress") < logged.index(
      "I0000 a C++ log line") < logged.index("a C++ print")


def test_to_log_appends_an_exception_and_lets_it_through(tmp_path, capfd):
  log = tmp_path / "log.txt"
  log.write_text("an earlier run\n")
  stdout, stderr = sys.stdout, sys.stderr
  with pytest.raises(ValueError, match="config.dataset"):
    with console.to_log(str(log)):
      raise ValueError("config.dataset must be 'digits'")
  assert (sys.stdout, sys.stderr) == (stdout, stderr)
  logged = log.read_text()
  assert logged.startswith("an earlier run\n")
  assert "Traceback" in logged and "ValueError: config.dataset must be 'digits'" in logged
  assert capfd.readouterr() == ("", "")


def test_held_stderr_returns_or_replays_what_it_held(capfd):
  held = ltp_tf_cli.HeldStderr()
  os.write(2, b"I0000 port.cc] oneDNN custom operations are on\n")
  assert held.release() == b"I0000 port.cc] oneDNN custom operations are on\n"
  assert held.release() == b""
  held = ltp_tf_cli.HeldStderr()
  os.write(2, b"FATAL Flags parsing error\n")
  held.release(replay=True)
  assert capfd.readouterr().err == "FATAL Flags parsing error\n"
