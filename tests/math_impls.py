"""The two implementations of LTP's math, behind one interface, for the shared oracle tests.

``tf_keras``: ``ltp_tf.soft_prune`` (TensorFlow). ``keras3``: ``ltp_tf.keras3.soft_prune``
(``keras.ops``) on the process's Keras 3 backend. Each gives its module, the few array ops a
test needs, ``tensor(x)`` (a NumPy constant as that implementation's tensor: a PyTorch
tensor does not combine with a NumPy array by ``*``), and ``grad(f, *args)``: the gradients of the scalar ``f(*args)`` as NumPy arrays,
through that implementation's autodiff.
"""

import os
import types

import numpy as np

# Set by tests/keras3_subprocess.py: the Keras 3 implementation only, on this process's backend.
ONLY_KERAS3_ENV = "LTP_TF_ONLY_KERAS3"
NAMES = ("keras3",) if os.environ.get(ONLY_KERAS3_ENV) else ("tf_keras", "keras3")


def _tf_grad(f, args):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  args = [tf.constant(a) for a in args]
  with tf.GradientTape() as tape:
    tape.watch(args)
    y = f(*args)
  return [g.numpy() for g in tape.gradient(y, args, unconnected_gradients="zero")]


class _TFMath:
  name = "tf_keras"

  def __init__(self):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from ltp_tf import soft_prune  # pylint: disable=g-import-not-at-top
    self.math = soft_prune
    self.ops = types.SimpleNamespace(sum=tf.reduce_sum, sigmoid=tf.sigmoid, square=tf.square)
    self.tensor = tf.constant

  def grad(self, f, *args):
    return _tf_grad(f, [np.asarray(a, np.float32) for a in args])


class _Keras3Math:
  name = "keras3"

  def __init__(self):
    import keras  # pylint: disable=g-import-not-at-top
    from ltp_tf.keras3 import soft_prune  # pylint: disable=g-import-not-at-top
    self.backend, self.math, self.ops = keras.backend.backend(), soft_prune, keras.ops
    self.tensor = keras.ops.convert_to_tensor

  def grad(self, f, *args):
    args = [np.asarray(a, np.float32) for a in args]
    if self.backend == "tensorflow":
      return _tf_grad(f, args)
    if self.backend == "jax":
      import jax  # pylint: disable=g-import-not-at-top
      grads = jax.grad(f, argnums=tuple(range(len(args))))(*[jax.numpy.asarray(a) for a in args])
      return [np.asarray(g) for g in grads]
    if self.backend == "torch":
      import torch  # pylint: disable=g-import-not-at-top
      ts = [torch.tensor(a, requires_grad=True) for a in args]
      f(*ts).backward()
      return [np.zeros_like(a) if t.grad is None else t.grad.numpy() for a, t in zip(args, ts)]
    raise NotImplementedError(f"no gradient helper for backend {self.backend}")


def make(name):
  return {"tf_keras": _TFMath, "keras3": _Keras3Math}[name]()
