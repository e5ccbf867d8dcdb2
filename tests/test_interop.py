"""Import order, and stripped models continuing through TFMOT."""

import pytest
import subprocess
import sys

import numpy as np
import tensorflow_model_optimization as tfmot

import ltp_tf
from ltp_tf._keras import keras

L = keras.layers

_AFTER_KERAS3 = """
import keras, tensorflow as tf          # Keras 3 and TF first, without TF_USE_LEGACY_KERAS
import ltp_tf, tf_keras, numpy as np
assert ltp_tf.keras is tf_keras
m = ltp_tf.prune_low_magnitude_learned(
    tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(3)]))
m.compile("sgd", "mse")
m.fit(np.ones((8, 4)), np.ones((8, 3)), verbose=0, callbacks=[ltp_tf.LTPPruningSchedule()])
assert len(ltp_tf.export_tflite(m)) > 0
print("ok")
"""


@pytest.mark.slow
def test_import_works_after_keras3_and_tensorflow():
  result = subprocess.run([sys.executable, "-c", _AFTER_KERAS3], capture_output=True,
                          text=True, timeout=300,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
  assert result.stdout.strip().endswith("ok"), result.stderr[-2000:]


def _stripped():
  model = ltp_tf.prune_low_magnitude_learned(keras.Sequential(
      [keras.Input((8,)), L.Dense(16, activation="relu"), L.Dense(4)]))
  for w in ltp_tf.collect_wrappers(model):
    w._theta[0].assign(float(np.median(w.pruned_variables[0].numpy() ** 2)) /
                       w.threshold_scale)
  ltp_tf.hard_prune(model)
  return ltp_tf.strip_pruning(model)


def test_tfmot_accepts_the_stripped_model():
  stripped = _stripped()
  pruned = tfmot.sparsity.keras.prune_low_magnitude(
      stripped, pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.5, 0))
  assert len(pruned.layers) == 2
  quantized = tfmot.quantization.keras.quantize_model(stripped)
  x = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
  assert quantized(x).shape == (4, 4)
