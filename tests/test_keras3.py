"""Keras 3: no import side effects, and the Keras 3 test set on each backend in a subprocess.

The Keras 3 tests themselves are tests/test_soft_prune.py (the shared oracles, run on the
``keras.ops`` implementation) and tests/keras3_cases.py (wrapper, verbs, phases, save/load,
export); each backend runs them once, in a process of its own.
"""

import pytest

import keras3_subprocess

_NO_SIDE_EFFECTS = """
import os
before = os.environ.get("TF_USE_LEGACY_KERAS")
import tensorflow as tf
import ltp_tf
assert os.environ.get("TF_USE_LEGACY_KERAS") == before, os.environ.get("TF_USE_LEGACY_KERAS")
import keras
assert keras.version().startswith("3."), keras.version()
assert tf.keras.version().startswith("3."), tf.keras.version()  # Still Keras 3.
assert "tensorflow_model_optimization" not in __import__("sys").modules

# The tf_keras path still works, imported in this order, and leaves tf.keras alone too.
import numpy as np
from ltp_tf._keras import keras as tf_keras
m = ltp_tf.prune_low_magnitude_learned(
    tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(3)]))
m.compile("sgd", "mse")
m.fit(np.ones((8, 4)), np.ones((8, 3)), verbose=0, callbacks=[ltp_tf.LTPPruningSchedule()])
assert len(ltp_tf.export_tflite(m)) > 0
assert os.environ.get("TF_USE_LEGACY_KERAS") == before
assert tf.keras.version().startswith("3.")
print("ok")
"""


def test_import_changes_neither_keras_nor_tf_keras_and_tf_keras_path_works():
  out = keras3_subprocess.run_python(_NO_SIDE_EFFECTS)
  assert out.strip().endswith("ok")


def test_legacy_keras_users_keep_tf_keras():
  out = keras3_subprocess.run_python(
      "import tensorflow as tf, ltp_tf\n"
      "assert ltp_tf.keras is __import__('tf_keras')\n"
      "assert tf.keras.__name__.startswith('tf_keras'), tf.keras.__name__\nprint('ok')",
      TF_USE_LEGACY_KERAS="1")
  assert out.strip().endswith("ok")


@pytest.mark.parametrize("backend", keras3_subprocess.BACKENDS)
def test_keras3_suite(backend):
  keras3_subprocess.run_pytest(["test_soft_prune.py", "keras3_cases.py"], backend)


@pytest.mark.slow
def test_keras_applications_on_tensorflow():  # 15 models and keras-hub: ~3 min on 2 cores
  keras3_subprocess.run_pytest(["keras3_cases.py"], "tensorflow", markers="slow")


def test_data_parallel_on_two_jax_host_devices():  # ~30 s
  keras3_subprocess.run_pytest(["keras3_distribution_cases.py"], "jax",
                               XLA_FLAGS="--xla_force_host_platform_device_count=2")
