"""One small model per supported layer kind, for the parameterized tests."""

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.sparsity import keras as tfmot_sparsity

from ltp_tf._keras import keras

L = keras.layers


@keras.saving.register_keras_serializable(package="ltp_tf_tests")
class MyDense(L.Dense):
  """A subclass of a supported layer: supported through isinstance."""


@keras.saving.register_keras_serializable(package="ltp_tf_tests")
class ScaleLayer(L.Layer, tfmot_sparsity.PrunableLayer):
  """A custom layer that implements TFMOT's PrunableLayer."""

  def build(self, input_shape):
    self.scale = self.add_weight("scale", shape=input_shape[-1:], initializer="random_normal")
    self.offset = self.add_weight("offset", shape=input_shape[-1:], initializer="zeros")

  def call(self, inputs):
    return inputs * self.scale + self.offset

  def get_prunable_weights(self):
    return [self.scale]


@keras.saving.register_keras_serializable(package="ltp_tf_tests")
class UnknownKernel(L.Layer):
  """A custom layer holding a kernel that ltp_tf has no entry for: unsupported."""

  def __init__(self, units=3, **kwargs):
    super().__init__(**kwargs)
    self.units = units

  def build(self, input_shape):
    self.kernel = self.add_weight("kernel", shape=(input_shape[-1], self.units),
                                  initializer="random_normal")
    super().build(input_shape)

  def call(self, inputs):
    return tf.matmul(inputs, self.kernel)

  def get_config(self):
    return dict(super().get_config(), units=self.units)


@keras.saving.register_keras_serializable(package="ltp_tf_tests")
class ChannelScale(L.Layer):
  """Like ConvNeXt's LayerScale: one per-channel vector (and a scalar), nothing to prune."""

  def build(self, input_shape):
    self.gamma = self.add_weight("gamma", shape=input_shape[-1:], initializer="ones")
    self.shift = self.add_weight("shift", shape=(), initializer="zeros")
    super().build(input_shape)

  def call(self, inputs):
    return inputs * self.gamma + self.shift


# name -> (layer factory, input shape, input dtype)
CASES = {
    "dense": (lambda: L.Dense(4), (3,), "float32"),
    "dense_subclass": (lambda: MyDense(4), (3,), "float32"),
    "einsum_dense": (lambda: L.EinsumDense("ab,bc->ac", output_shape=4), (3,), "float32"),
    "conv1d": (lambda: L.Conv1D(3, 2), (6, 2), "float32"),
    "conv2d": (lambda: L.Conv2D(3, 2), (5, 5, 2), "float32"),
    "conv3d": (lambda: L.Conv3D(2, 2), (4, 4, 4, 1), "float32"),
    "conv1d_transpose": (lambda: L.Conv1DTranspose(3, 2), (5, 2), "float32"),
    "conv2d_transpose": (lambda: L.Conv2DTranspose(3, 2), (4, 4, 2), "float32"),
    "conv3d_transpose": (lambda: L.Conv3DTranspose(2, 2), (3, 3, 3, 1), "float32"),
    "separable_conv1d": (lambda: L.SeparableConv1D(3, 2), (6, 2), "float32"),
    "separable_conv2d": (lambda: L.SeparableConv2D(3, 2), (5, 5, 2), "float32"),
    "depthwise_conv1d": (lambda: L.DepthwiseConv1D(2), (6, 2), "float32"),
    "depthwise_conv2d": (lambda: L.DepthwiseConv2D(2), (5, 5, 2), "float32"),
    "locally_connected1d": (lambda: L.LocallyConnected1D(2, 2), (5, 2), "float32"),
    "locally_connected2d": (lambda: L.LocallyConnected2D(2, 2), (4, 4, 1), "float32"),
    "embedding": (lambda: L.Embedding(11, 4), (5,), "int32"),
    "simple_rnn": (lambda: L.SimpleRNN(3), (4, 2), "float32"),
    "gru": (lambda: L.GRU(3), (4, 2), "float32"),
    "lstm": (lambda: L.LSTM(3), (4, 2), "float32"),
    "stacked_rnn_cells": (lambda: L.RNN([L.SimpleRNNCell(3), L.GRUCell(3), L.LSTMCell(2)]),
                          (4, 2), "float32"),
    "prunable_layer": (lambda: ScaleLayer(), (3,), "float32"),
}
MHA = "multi_head_attention"


def make_input(shape, dtype, batch=4, seed=0):
  rng = np.random.default_rng(seed)
  if dtype == "int32":
    return rng.integers(0, 11, size=(batch, *shape)).astype(np.int32)
  return rng.normal(size=(batch, *shape)).astype(np.float32)


def make_model(name, wrap):
  """A functional model around one layer of kind ``name``; ``wrap`` wraps that layer.

  Returns (model, inputs) where inputs is a list of arrays.
  """
  if name == MHA:
    q, v = keras.Input((3, 4)), keras.Input((5, 4))
    out = wrap(L.MultiHeadAttention(num_heads=2, key_dim=3))(q, v)
    return keras.Model([q, v], out), [make_input((3, 4), "float32"),
                                      make_input((5, 4), "float32", seed=1)]
  factory, shape, dtype = CASES[name]
  x = keras.Input(shape, dtype=dtype)
  out = wrap(factory())(x)
  out = L.Flatten()(out) if len(out.shape) > 2 else out
  return keras.Model(x, out), [make_input(shape, dtype)]


ALL = sorted(CASES) + [MHA]


def covered_classes():
  classes = [type(CASES[n][0]()) for n in CASES] + [L.MultiHeadAttention]
  rnn = CASES["stacked_rnn_cells"][0]()
  return classes + [type(c) for c in rnn.cell.cells]


def set_thresholds_to_median(wrapper):
  """Puts each threshold on the w**2 of a middle weight: about half of each tensor is pruned,
  and that weight sits on the threshold (sigmoid 1/2), so the threshold gets a gradient."""
  for w, theta in zip(wrapper.pruned_variables, wrapper._theta):  # pylint: disable=protected-access
    w2 = np.sort(np.square(w.numpy()).ravel())
    theta.assign(float(w2[len(w2) // 2]) / wrapper.threshold_scale)
  return wrapper


def as_tensor(x):
  return tf.convert_to_tensor(x)
