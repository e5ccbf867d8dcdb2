"""The one Keras of this package: tf_keras (Keras 2), as TFMOT requires.

TFMOT 0.8 only works with Keras 2. Like TFMOT, we set ``TF_USE_LEGACY_KERAS=1``
so that ``tf.keras`` resolves to Keras 2 when TensorFlow is imported after us, and
we import ``tf_keras`` directly so that it does not matter what the user imported
first. Every module of the package imports Keras from here.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import tf_keras as keras  # noqa: E402  pylint: disable=g-import-not-at-top

__all__ = ["keras"]
