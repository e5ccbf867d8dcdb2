"""tf.distribute: MirroredStrategy (2 logical CPUs) and MultiWorkerMirroredStrategy (2
processes on loopback) give the single-device result.

The runs are in tests/distribute_cases.py, in subprocesses: logical devices and TF_CONFIG
must be set before TensorFlow starts. Keras divides the L0 terms (``model.losses``) by the
number of replicas like the data loss, and the threshold gradients are summed over replicas,
so the thresholds follow the single-device run on the same global batches.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import distribute_cases

pytestmark = pytest.mark.slow  # Real data or subprocesses: tens of seconds each.

_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distribute_cases.py")
_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def _last_json(stdout):
  return json.loads(stdout.strip().splitlines()[-1])


def _assert_same_run(got, expected):
  """The first steps exactly; the end of the run statistically.

  A sum over replicas and a sum on one device round differently (1e-7), and LTP's threshold
  dynamics amplify that (tens of percent after tens of steps), so only the first steps are
  compared to float tolerance.
  """
  np.testing.assert_allclose(got["early_thresholds"], expected["early_thresholds"], rtol=1e-5)
  assert got["hard"] == expected["hard"] == [True, True]
  np.testing.assert_allclose(got["thresholds"], expected["thresholds"], rtol=0.2)
  assert got["sparsity"] == pytest.approx(expected["sparsity"], abs=0.05)
  np.testing.assert_allclose(got["sparsity_log"], expected["sparsity_log"], atol=0.05)
  np.testing.assert_allclose(got["stripped_output"], got["output"], rtol=1e-5, atol=1e-6)


def test_mirrored_strategy_equals_single_device():
  run = subprocess.run([sys.executable, _SCRIPT, "mirrored"], capture_output=True, text=True,
                       timeout=600, env=_ENV)
  assert run.returncode == 0, run.stderr[-3000:]
  result = _last_json(run.stdout)
  assert (result["single"]["replicas"], result["mirrored"]["replicas"]) == (1, 2)
  assert 0.15 < result["single"]["sparsity"] < 0.9
  _assert_same_run(result["mirrored"], result["single"])


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def test_multi_worker_mirrored_workers_agree_with_each_other_and_one_device():
  """The README's launch recipe: one process per worker, each with its TF_CONFIG."""
  workers = [f"localhost:{port}" for port in _free_ports(2)]
  procs = []
  for index in range(2):
    tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
    procs.append(subprocess.Popen(
        [sys.executable, _SCRIPT, "worker"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=dict(_ENV, TF_CONFIG=json.dumps(tf_config))))
  results = []
  try:
    for proc in procs:
      out, err = proc.communicate(timeout=600)
      assert proc.returncode == 0, err[-3000:]
      results.append(_last_json(out))
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
  chief, other = results
  assert chief["replicas"] == other["replicas"] == 2
  assert chief["thresholds"] == other["thresholds"]  # Bit for bit: one all-reduced variable.
  assert chief["masks"] == other["masks"]
  _assert_same_run(chief, distribute_cases.run(tf.distribute.get_strategy()))
