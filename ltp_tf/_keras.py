"""The tf_keras (Keras 2) of this package, as TFMOT requires.

TFMOT 0.8 only works with Keras 2. We import ``tf_keras`` directly, so it does not matter what
the user imported first, and we do not set ``TF_USE_LEGACY_KERAS``: after ``import ltp_tf``,
``keras`` and ``tf.keras`` mean what they meant before (Keras 3 by default). Every tf_keras
module of the package imports Keras from here; the Keras 3 side (``ltp_tf.keras3``) imports
``keras`` itself, lazily (see ``ltp_tf._flavour``).

This is also the one place that touches tf_keras internals: ``master_value``.
"""

import tensorflow as tf
import tf_keras as keras

__all__ = ["keras", "master_value"]


def master_value(variable):
  """The value of ``variable`` in the dtype it is stored in.

  Under a mixed-precision policy (``mixed_float16``, ``mixed_bfloat16``) a layer's weights
  are tf_keras ``AutoCastVariable``s: float32 variables that read as float16/bfloat16 inside
  the layer's call. LTP's sigmoid argument ``(w**2 - tau) / T`` needs the float32 value
  (``T`` can be ~1e-9 and a float16 ``w**2`` is off by ~1e-3 of itself, which moves the
  argument by far more than 1). tf_keras has no public way to read the float32 value inside
  the cast scope, so this reads the wrapped variable (``AutoCastVariable._variable``, present
  since TF 2.1); tests/test_mixed_precision.py pins it. Reading it records a read of the same
  resource, so gradients reach the variable as usual. Any other variable or tensor is
  returned as a tensor, unchanged.
  """
  inner = getattr(variable, "_variable", None) if hasattr(variable, "true_dtype") else None
  if inner is not None and inner.dtype != variable.true_dtype:
    raise TypeError(f"Unexpected AutoCastVariable layout for '{variable.name}': tf_keras "
                    "changed; ltp_tf._keras.master_value needs an update.")
  return tf.convert_to_tensor(variable if inner is None else inner)
