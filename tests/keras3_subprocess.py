"""Run Python or pytest in a fresh process on one Keras 3 backend.

``KERAS_BACKEND`` is read once per process (by the first ``import keras``, which TensorFlow's
own import already does), so each backend gets a subprocess of its own.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

import math_impls

BACKENDS = ("tensorflow", "jax", "torch")
_TESTS = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_TESTS)


def skip_if_missing(backend):
  """Skips, with the reason, when ``backend``'s package is not installed."""
  package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
  if importlib.util.find_spec(package) is None:
    reasons = {"torch": "torch is not installed (.ci/run installs torch==2.13.0, the CPU "
                        "build, where pip can; `pip install torch==2.13.0` to run these)"}
    pytest.skip(reasons.get(backend, f"{package} is not installed"))


def env(backend, **extra):
  """The environment of a child process on ``backend``: this one's, minus anything that
  would change which Keras ``tf.keras`` is (a TFMOT import in this process sets
  ``TF_USE_LEGACY_KERAS``)."""
  child = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
  child.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=_ROOT, **extra)
  return child


def run_python(code, backend="tensorflow", timeout=300, **extra_env):
  """Runs ``code`` with ``python -c`` from the repository root; fails the test, showing the
  child's output, unless it exits 0. Returns its stdout."""
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, cwd=_ROOT, env=env(backend, **extra_env))
  if result.returncode:
    pytest.fail(f"Child process on KERAS_BACKEND={backend} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}", pytrace=False)
  return result.stdout


def run_pytest(paths, backend, timeout=600, markers="not slow", **extra_env):
  """Runs pytest on ``paths`` (relative to tests/) on ``backend``, the Keras 3 implementation
  only (``math_impls.ONLY_KERAS3_ENV``), the tests selected by ``markers`` (``-m``), with
  ``extra_env`` in the child's environment. Fails with the failing tests' short report."""
  skip_if_missing(backend)
  args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=short", "-rfE",
          "--durations=5", "-m", markers, *[os.path.join(_TESTS, p) for p in paths]]
  result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=_ROOT,
                          env=env(backend, **{math_impls.ONLY_KERAS3_ENV: "1"}, **extra_env))
  if result.returncode:
    out = result.stdout
    start = out.find("= FAILURES =")
    start = out.rfind("\n", 0, start) if start >= 0 else max(0, len(out) - 6000)
    pytest.fail(f"Keras 3 tests on KERAS_BACKEND={backend} failed (exit "
                f"{result.returncode}):\n{out[start:][-12000:]}\n{result.stderr[-2000:]}",
                pytrace=False)
  return result.stdout
