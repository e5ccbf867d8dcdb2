"""tf.distribute runs of one LTP training, for tests/test_distribute.py.

Logical devices and TF_CONFIG must be set before TensorFlow initialises, so the distributed
runs happen in subprocesses:

  python tests/distribute_cases.py mirrored   # 2 logical CPUs: single device, then Mirrored
  TF_CONFIG=... python tests/distribute_cases.py worker   # one MultiWorkerMirrored worker

Each prints one JSON line. ``run`` is also imported by the test for the single-device run.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import ltp_tf  # noqa: E402
from ltp_tf._keras import keras  # noqa: E402

L = keras.layers
GLOBAL_BATCH, EPOCHS, SOFT = 32, 3, 2
EARLY_STEPS = 3


def dataset():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(256, 16)).astype(np.float32), rng.integers(0, 4, 256)
  options = tf.data.Options()
  # Every worker reads the same global batches and takes its share of each.
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH).with_options(options)


def run(strategy):
  """Wraps and compiles under ``strategy.scope()``, fits; returns what must not change."""
  keras.utils.set_random_seed(0)
  with strategy.scope():
    model = ltp_tf.prune_low_magnitude_learned(
        keras.Sequential([keras.Input((16,)), L.Dense(64, activation="relu"), L.Dense(4)]),
        l0_lambda=1e-3, threshold_lr=1e-6)
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  wrappers = ltp_tf.collect_wrappers(model)
  early = []  # Thresholds after each of the first steps: compared exactly.
  record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: early.append(
      [float(t) for w in wrappers for t in w.thresholds]) if len(early) < EARLY_STEPS else None)
  history = model.fit(dataset(), epochs=EPOCHS, verbose=0,
                      callbacks=[ltp_tf.LTPPruningSchedule(soft_epochs=SOFT), record])
  x = next(iter(dataset()))[0]
  return {"replicas": strategy.num_replicas_in_sync,
          "early_thresholds": early,
          "thresholds": [float(t) for w in wrappers for t in w.thresholds],
          "masks": [m.numpy().astype(int).tolist() for w in wrappers for m in w.masks],
          "sparsity": ltp_tf.sparsity_report(model).sparsity,
          "sparsity_log": history.history["sparsity"],
          "hard": [w.is_hard for w in wrappers],
          "stripped_output": ltp_tf.strip_pruning(model)(x).numpy().tolist(),
          "output": model(x).numpy().tolist()}


def main(mode):
  if mode == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    result = {"single": run(tf.distribute.get_strategy()),
              "mirrored": run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))}
  elif mode == "worker":
    result = run(tf.distribute.MultiWorkerMirroredStrategy())
  else:
    raise ValueError(f"mode must be 'mirrored' or 'worker', got {mode!r}")
  print(json.dumps(result))


if __name__ == "__main__":
  main(sys.argv[1])
