"""The networks of the training binary's configs: ``get_model(name, input_shape, num_classes)``.

Every model is a Sequential or functional tf_keras model (never subclassed), so that
``ltp_tf.prune_low_magnitude_learned`` can wrap its layers and ``ltp_tf.strip_pruning`` can
rebuild it. Every model returns logits (no softmax), to be trained with
``SparseCategoricalCrossentropy(from_logits=True)`` as the training binary does.

The project's own image models (lenet5, resnet20, alexnet, mixnet_s) take ``input_shape``
``(H, W, C)``, or ``(H, W)`` for single-channel images (a Reshape adds the channel axis).

The two custom layers below (``ChannelSplit``, ``AdaptiveAveragePooling2D``) hold no weights,
so LTP leaves them alone, and are registered as Keras serializables: import ``ltp_tf.models``
before loading a saved model that contains them.
"""

import inspect
import numbers

import tensorflow as tf

from ltp_tf._keras import keras

L = keras.layers

# He-style initializer of the reference MixNet / EfficientNet implementations, as a config so
# that each layer gets its own initializer (one shared unseeded instance repeats its values).
_CONV_INIT = {"class_name": "VarianceScaling",
              "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}


# --- Weightless custom layers ----------------------------------------------------------------


@keras.saving.register_keras_serializable(package="ltp_tf")
class ChannelSplit(L.Layer):
  """Splits the last axis of its input into consecutive pieces of the given sizes.

  Holds no weights. Used by MixConv and by MixNet's grouped 1x1 convolutions.

  Args:
    sizes: the number of channels of each piece, in order; they must add up to the input's
      channels.
    **kwargs: Keras layer arguments.
  """

  def __init__(self, sizes, **kwargs):
    super().__init__(**kwargs)
    sizes = [int(s) for s in sizes]
    if not sizes or min(sizes) < 1:
      raise ValueError(f"ChannelSplit sizes must be positive channel counts, got {sizes}")
    self.sizes = sizes

  def build(self, input_shape):
    channels = input_shape[-1]
    if channels is not None and channels != sum(self.sizes):
      raise ValueError(f"ChannelSplit '{self.name}': sizes {self.sizes} add up to "
                       f"{sum(self.sizes)}, but the input has {channels} channels.")
    super().build(input_shape)

  def call(self, inputs):
    return tf.split(inputs, self.sizes, axis=-1)

  def compute_output_shape(self, input_shape):
    input_shape = tf.TensorShape(input_shape)
    return [input_shape[:-1].concatenate([size]) for size in self.sizes]

  def get_config(self):
    return {**super().get_config(), "sizes": list(self.sizes)}


@keras.saving.register_keras_serializable(package="ltp_tf")
class AdaptiveAveragePooling2D(L.Layer):
  """PyTorch's ``AdaptiveAvgPool2d`` for channels-last inputs with static height and width.

  Output cell ``i`` of an axis of length ``n`` pooled to ``m`` averages input positions
  ``floor(i * n / m)`` to ``ceil((i + 1) * n / m) - 1``, as in PyTorch (so a map smaller than
  the output is repeated). Holds no weights.

  Args:
    output_size: an int or a pair (height, width).
    **kwargs: Keras layer arguments.
  """

  def __init__(self, output_size, **kwargs):
    super().__init__(**kwargs)
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if len(size) != 2 or min(size) < 1:
      raise ValueError(f"output_size must be a positive int or a pair of them, got "
                       f"{output_size!r}")
    self.output_size = tuple(int(s) for s in size)

  def build(self, input_shape):
    if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
      raise ValueError(f"AdaptiveAveragePooling2D '{self.name}' needs a 4D channels-last input "
                       f"with a known height and width, got shape {tuple(input_shape)}.")
    super().build(input_shape)

  @staticmethod
  def _pool_axis(x, axis, out):
    size = x.shape[axis]
    if size == out:
      return x
    cells = []
    for i in range(out):
      start, stop = (i * size) // out, -((-(i + 1) * size) // out)
      index = [slice(None)] * 4
      index[axis] = slice(start, stop)
      cells.append(tf.reduce_mean(x[tuple(index)], axis=axis, keepdims=True))
    return tf.concat(cells, axis=axis)

  def call(self, inputs):
    x = self._pool_axis(inputs, 1, self.output_size[0])
    return self._pool_axis(x, 2, self.output_size[1])

  def compute_output_shape(self, input_shape):
    input_shape = tf.TensorShape(input_shape)
    return tf.TensorShape([input_shape[0], *self.output_size, input_shape[-1]])

  def get_config(self):
    return {**super().get_config(), "output_size": list(self.output_size)}


# --- Helpers ---------------------------------------------------------------------------------


def _image_input(input_shape, name, k=keras):
  """(Input, image tensor) for a model taking ``(H, W, C)`` or ``(H, W)`` images."""
  if len(input_shape) not in (2, 3):
    raise ValueError(f"input_shape for '{name}' must be (height, width, channels) or "
                     f"(height, width), got {tuple(input_shape)}")
  inputs = k.Input(input_shape, name="image")
  x = inputs
  if len(input_shape) == 2:
    x = k.layers.Reshape((*input_shape, 1), name="add_channel_axis")(x)
  return inputs, x


def _conv_bn(x, filters, kernel_size, strides=1, activation=None, name=None):
  """Conv2D (no bias) + BatchNormalization (+ activation)."""
  x = L.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
               kernel_initializer="he_normal", name=f"{name}_conv")(x)
  x = L.BatchNormalization(name=f"{name}_bn")(x)
  if activation:
    x = L.Activation(activation, name=f"{name}_{activation}")(x)
  return x


def _is_positive_int(value):
  return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def _split_channels(channels, groups):
  """``channels`` split in ``groups`` near-equal parts, the first one taking the remainder."""
  sizes = [channels // groups] * groups
  sizes[0] += channels - sum(sizes)
  return sizes


# --- MLPs and LeNets -------------------------------------------------------------------------


def _mlp(input_shape, num_classes, k=keras, /, *, hidden=None):
  """Flatten, ``Dense(units, relu)`` for each entry of ``hidden``, ``Dense(num_classes)``."""
  if hidden is None:
    raise ValueError("get_model('mlp', ...) needs hidden=<tuple of hidden layer widths>, "
                     "e.g. hidden=(300, 100) for LeNet-300-100.")
  if not isinstance(hidden, (str, bytes)) and hasattr(hidden, "__iter__"):
    hidden = tuple(hidden)
  if not isinstance(hidden, tuple) or not all(_is_positive_int(u) for u in hidden):
    raise ValueError(f"hidden must be a sequence of positive ints, got {hidden!r}")
  return _dense_stack(input_shape, num_classes, [int(u) for u in hidden], "mlp", k)


def _dense_stack(input_shape, num_classes, hidden, name, k):
  layers = [k.Input(input_shape), k.layers.Flatten(name="flatten")]
  layers += [k.layers.Dense(units, activation="relu", name=f"fc{i + 1}")
             for i, units in enumerate(hidden)]
  layers.append(k.layers.Dense(num_classes, name="logits"))
  return k.Sequential(layers, name=name)


def _lenet300(input_shape, num_classes, k=keras, /):
  """LeNet-300-100: the mlp with hidden=(300, 100). 266,610 parameters for 28x28 / 10."""
  return _dense_stack(input_shape, num_classes, (300, 100), "lenet300", k)


def _lenet5(input_shape, num_classes, k=keras, /):
  """LeNet-5-Caffe, the LeNet-5 of the pruning literature (e.g. Han et al. 2015).

  conv 20 5x5 valid, max-pool 2/2, conv 50 5x5 valid, max-pool 2/2, Flatten, Dense 500 ReLU,
  Dense ``num_classes``. As in Caffe's ``lenet_train_test.prototxt`` the convolutions have NO
  activation (the only ReLU is after the 500-unit layer). 431,080 parameters for 28x28x1 / 10.
  """
  inputs, x = _image_input(input_shape, "lenet5", k)
  layers = k.layers
  x = layers.Conv2D(20, 5, name="conv1")(x)
  x = layers.MaxPooling2D(2, 2, name="pool1")(x)
  x = layers.Conv2D(50, 5, name="conv2")(x)
  x = layers.MaxPooling2D(2, 2, name="pool2")(x)
  x = layers.Flatten(name="flatten")(x)
  x = layers.Dense(500, activation="relu", name="fc1")(x)
  return k.Model(inputs, layers.Dense(num_classes, name="logits")(x), name="lenet5")


# --- ResNet-20 -------------------------------------------------------------------------------


def _resnet20(input_shape, num_classes):
  """CIFAR ResNet-20 (He et al. 2016, sec. 4.2): 6n+2 layers with n = 3.

  conv3x3 16 + BN + ReLU; three stages of three basic blocks with 16, 32 and 64 filters
  (stride 2 in the first block of stages 2 and 3); each block is conv3x3-BN-ReLU-conv3x3-BN
  plus the shortcut, then ReLU; global average pooling; Dense ``num_classes``. Where a block
  changes the shape, the shortcut is a 1x1 conv (stride 2) + BN projection: the paper's
  option B, not the parameter-free zero-padding option A it uses on CIFAR. Convolutions have
  no bias (BN follows) and He-normal initialisation. For 32x32x3 / 10: 272,474 trainable
  parameters (the paper's 0.27M; option B adds 2,752), 274,042 with the BN moving statistics.
  Any input size works, e.g. 28x28x1 (maps of 28, 14 and 7) as well as 32x32x3.
  """
  inputs, x = _image_input(input_shape, "resnet20")
  x = _conv_bn(x, 16, 3, activation="relu", name="stem")
  for stage, filters in enumerate((16, 32, 64)):
    for block in range(3):
      name = f"stage{stage + 1}_block{block + 1}"
      strides = 2 if stage > 0 and block == 0 else 1
      shortcut = x
      if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, strides, name=f"{name}_shortcut")
      y = _conv_bn(x, filters, 3, strides, activation="relu", name=f"{name}_1")
      y = _conv_bn(y, filters, 3, name=f"{name}_2")
      x = L.Activation("relu", name=f"{name}_out")(L.Add(name=f"{name}_add")([shortcut, y]))
  x = L.GlobalAveragePooling2D(name="avg_pool")(x)
  return keras.Model(inputs, L.Dense(num_classes, name="logits")(x), name="resnet20")


# --- AlexNet ---------------------------------------------------------------------------------

_ALEXNET_MIN_SIZE = 63


def _alexnet(input_shape, num_classes, *, dropout=0.5):
  """torchvision's AlexNet (the one-GPU variant of Krizhevsky 2014, "One weird trick").

  Conv 64 11x11/4 pad 2, ReLU, max-pool 3/2, conv 192 5x5 pad 2, ReLU, max-pool 3/2, conv 384
  3x3, conv 256 3x3, conv 256 3x3 (pad 1, ReLU each), max-pool 3/2, adaptive average pooling
  to 6x6, Flatten, Dropout, Dense 4096 ReLU, Dropout, Dense 4096 ReLU, Dense ``num_classes``.
  61,100,840 parameters at 224x224x3 / 1000, as torchvision.

  Padding is ZeroPadding2D + valid convolutions, as in PyTorch. Height and width must be at
  least 63 (smaller maps vanish in the pooling layers). The adaptive pooling is omitted when
  the map is already 6x6 (224x224 input), is an AveragePooling2D when the map size is a
  multiple of 6, and otherwise the weightless ``AdaptiveAveragePooling2D`` layer.
  """
  if len(input_shape) in (2, 3) and min(input_shape[:2]) < _ALEXNET_MIN_SIZE:
    raise ValueError(f"input_shape for 'alexnet' must be at least {_ALEXNET_MIN_SIZE}x"
                     f"{_ALEXNET_MIN_SIZE}, got {tuple(input_shape)}")
  inputs, x = _image_input(input_shape, "alexnet")
  specs = ((64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False),
           (256, 3, 1, 1, False), (256, 3, 1, 1, True))  # filters, kernel, stride, pad, pool
  for i, (filters, kernel, stride, pad, pool) in enumerate(specs):
    x = L.ZeroPadding2D(pad, name=f"conv{i + 1}_pad")(x)
    x = L.Conv2D(filters, kernel, strides=stride, activation="relu", name=f"conv{i + 1}")(x)
    if pool:
      x = L.MaxPooling2D(3, 2, name=f"pool{i + 1}")(x)
  height, width = x.shape[1], x.shape[2]
  if height % 6 == 0 and width % 6 == 0:
    if (height, width) != (6, 6):
      x = L.AveragePooling2D((height // 6, width // 6), name="avg_pool")(x)
  else:
    x = AdaptiveAveragePooling2D(6, name="avg_pool")(x)
  x = L.Flatten(name="flatten")(x)
  x = L.Dropout(dropout, name="dropout1")(x)
  x = L.Dense(4096, activation="relu", name="fc1")(x)
  x = L.Dropout(dropout, name="dropout2")(x)
  x = L.Dense(4096, activation="relu", name="fc2")(x)
  return keras.Model(inputs, L.Dense(num_classes, name="logits")(x), name="alexnet")


# --- MixNet-S --------------------------------------------------------------------------------

# The MixNet-S blocks of Tan & Le 2019 (the paper's architecture figure; the reference TPU
# implementation's mixnet_builder): (repeats, depthwise kernel sizes, expand groups, project
# groups, stride, expand ratio, output filters, SE ratio of the block's input filters,
# activation).
_MIXNET_S_BLOCKS = (
    (1, (3,), 1, 1, 1, 1, 16, 0.0, "relu"),
    (1, (3,), 2, 2, 2, 6, 24, 0.0, "relu"),
    (1, (3,), 2, 2, 1, 3, 24, 0.0, "relu"),
    (1, (3, 5, 7), 1, 1, 2, 6, 40, 0.5, "swish"),
    (3, (3, 5), 2, 2, 1, 6, 40, 0.5, "swish"),
    (1, (3, 5, 7), 1, 2, 2, 6, 80, 0.25, "swish"),
    (2, (3, 5), 1, 2, 1, 6, 80, 0.25, "swish"),
    (1, (3, 5, 7), 2, 2, 1, 6, 120, 0.5, "swish"),
    (2, (3, 5, 7, 9), 2, 2, 1, 3, 120, 0.5, "swish"),
    (1, (3, 5, 7, 9, 11), 1, 1, 2, 6, 200, 0.5, "swish"),
    (2, (3, 5, 7, 9), 1, 2, 1, 6, 200, 0.5, "swish"),
)


def _grouped_pointwise(x, filters, groups, name):
  """A 1x1 convolution over ``groups`` channel groups (one Conv2D per group), no bias."""
  if groups == 1:
    return L.Conv2D(filters, 1, use_bias=False, kernel_initializer=_CONV_INIT, name=name)(x)
  parts = ChannelSplit(_split_channels(x.shape[-1], groups), name=f"{name}_split")(x)
  outs = [L.Conv2D(f, 1, use_bias=False, kernel_initializer=_CONV_INIT, name=f"{name}_{i}")(p)
          for i, (p, f) in enumerate(zip(parts, _split_channels(filters, groups)))]
  return L.Concatenate(name=f"{name}_concat")(outs)


def _mixconv(x, kernel_sizes, strides, name):
  """MixConv: the channels split in groups, one DepthwiseConv2D per kernel size, concatenated."""
  if len(kernel_sizes) == 1:
    return L.DepthwiseConv2D(kernel_sizes[0], strides, padding="same", use_bias=False,
                             depthwise_initializer=_CONV_INIT, name=name)(x)
  parts = ChannelSplit(_split_channels(x.shape[-1], len(kernel_sizes)), name=f"{name}_split")(x)
  outs = [L.DepthwiseConv2D(k, strides, padding="same", use_bias=False,
                            depthwise_initializer=_CONV_INIT, name=f"{name}_{k}x{k}")(p)
          for p, k in zip(parts, kernel_sizes)]
  return L.Concatenate(name=f"{name}_concat")(outs)


def _mixnet_block(x, kernel_sizes, expand_groups, project_groups, strides, expand_ratio,
                  filters, se_ratio, activation, name):
  """An inverted-residual block with MixConv and optional squeeze-and-excitation."""
  inputs, filters_in = x, x.shape[-1]
  expanded = filters_in * expand_ratio
  if expand_ratio != 1:
    x = _grouped_pointwise(x, expanded, expand_groups, f"{name}_expand")
    x = L.BatchNormalization(name=f"{name}_expand_bn")(x)
    x = L.Activation(activation, name=f"{name}_expand_{activation}")(x)
  x = _mixconv(x, kernel_sizes, strides, f"{name}_dw")
  x = L.BatchNormalization(name=f"{name}_dw_bn")(x)
  x = L.Activation(activation, name=f"{name}_dw_{activation}")(x)
  if se_ratio:
    squeezed = max(1, int(filters_in * se_ratio))
    s = L.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_squeeze")(x)
    s = L.Conv2D(squeezed, 1, activation=activation, kernel_initializer=_CONV_INIT,
                 name=f"{name}_se_reduce")(s)
    s = L.Conv2D(expanded, 1, activation="sigmoid", kernel_initializer=_CONV_INIT,
                 name=f"{name}_se_expand")(s)
    x = L.Multiply(name=f"{name}_se_excite")([x, s])
  x = _grouped_pointwise(x, filters, project_groups, f"{name}_project")
  x = L.BatchNormalization(name=f"{name}_project_bn")(x)
  if strides == 1 and filters_in == filters:
    x = L.Add(name=f"{name}_add")([x, inputs])
  return x


def _mixnet_s(input_shape, num_classes, *, dropout=0.2):
  """MixNet-S (Tan & Le 2019, "MixConv: Mixed Depthwise Convolutional Kernels").

  Stem conv 3x3/2 16 + BN + ReLU; the 16 blocks of ``_MIXNET_S_BLOCKS`` (the paper's
  architecture: MixConv kernel groups, grouped 1x1 expansion/projection, SE, ReLU in the first
  three blocks and Swish after); head conv 1x1 1536 + BN + ReLU; global average pooling;
  Dropout 0.2; Dense ``num_classes``. At 224x224x3 / 1000: 4,134,606 trainable parameters,
  the paper's 4.1M and exactly timm's ``mixnet_s``; 4,166,798 with the BN moving statistics.

  Implementation notes: MixConv and the grouped 1x1 convolutions split the channels with the
  weightless ``ChannelSplit`` layer, run one DepthwiseConv2D / Conv2D per group, and
  concatenate (so every convolution is a standard, prunable layer); SE squeezes to
  ``se_ratio * block input filters`` channels with the block's activation, then a sigmoid gate.
  Simplifications: no drop-connect (stochastic depth); Keras' BN defaults (momentum 0.99,
  epsilon 1e-3, as the TF reference) and TF "same" padding for strided convolutions.
  """
  inputs, x = _image_input(input_shape, "mixnet_s")
  x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False, kernel_initializer=_CONV_INIT,
               name="stem_conv")(x)
  x = L.BatchNormalization(name="stem_bn")(x)
  x = L.Activation("relu", name="stem_relu")(x)
  index = 0
  for repeats, kernels, e_groups, p_groups, strides, ratio, filters, se, act in _MIXNET_S_BLOCKS:
    for r in range(repeats):
      index += 1
      x = _mixnet_block(x, kernels, e_groups, p_groups, strides if r == 0 else 1, ratio,
                        filters, se, act, name=f"block{index}")
  x = L.Conv2D(1536, 1, use_bias=False, kernel_initializer=_CONV_INIT, name="head_conv")(x)
  x = L.BatchNormalization(name="head_bn")(x)
  x = L.Activation("relu", name="head_relu")(x)
  x = L.GlobalAveragePooling2D(name="avg_pool")(x)
  x = L.Dropout(dropout, name="dropout")(x)
  return keras.Model(inputs, L.Dense(num_classes, name="logits")(x), name="mixnet_s")


# --- Compact BN + depthwise networks (the paper's Table 5 regime, at small scale) -----------

# (expand ratio, depthwise kernel, filters, stride) of each inverted-residual block.
_COMPACT_BLOCKS = {
    "mobilenetv2_compact": ((1, 3, 16, 1), (6, 3, 24, 2), (6, 3, 24, 1), (6, 3, 32, 2),
                            (6, 3, 32, 1)),
    "efficientnet_compact": ((1, 3, 16, 1), (6, 3, 24, 2), (6, 5, 24, 1), (6, 3, 32, 2),
                             (6, 5, 32, 1)),
}


def _compact(name, input_shape, num_classes, *, se_ratio, activation, head=128, width=1.0):
  """Stem, five inverted residual blocks of ``_COMPACT_BLOCKS[name]``, 1x1 head, logits.

  Stem conv 3x3/2 16 + BN + ``activation``; each block is ``_mixnet_block`` with a single
  depthwise kernel and ungrouped 1x1s (expand + BN + activation, depthwise + BN + activation,
  optional SE, linear projection + BN, residual where the shape allows); head conv 1x1
  ``head`` + BN + activation, global average pooling, Dense ``num_classes``. ``width``
  multiplies every channel count (stem, blocks, head; rounded, at least 4), as MobileNet's
  width multiplier.
  """
  if isinstance(width, bool) or not (isinstance(width, (int, float)) and width > 0):
    raise ValueError(f"width (the channel multiplier of '{name}') must be > 0, got {width!r}")
  scaled = lambda c: max(4, int(round(c * width)))
  inputs, x = _image_input(input_shape, name)
  x = L.Conv2D(scaled(16), 3, strides=2, padding="same", use_bias=False,
               kernel_initializer=_CONV_INIT, name="stem_conv")(x)
  x = L.BatchNormalization(name="stem_bn")(x)
  x = L.Activation(activation, name=f"stem_{activation}")(x)
  for i, (ratio, kernel, filters, strides) in enumerate(_COMPACT_BLOCKS[name]):
    x = _mixnet_block(x, (kernel,), 1, 1, strides, ratio, scaled(filters), se_ratio, activation,
                      name=f"block{i + 1}")
  x = L.Conv2D(scaled(head), 1, use_bias=False, kernel_initializer=_CONV_INIT,
               name="head_conv")(x)
  x = L.BatchNormalization(name="head_bn")(x)
  x = L.Activation(activation, name=f"head_{activation}")(x)
  x = L.GlobalAveragePooling2D(name="avg_pool")(x)
  return keras.Model(inputs, L.Dense(num_classes, name="logits")(x), name=name)


def _mobilenetv2_compact(input_shape, num_classes, *, width=1.0):
  """A MobileNetV2-style network at Fashion-MNIST scale: ReLU6, no SE (``_compact``).

  42,208 prunable kernel weights for 28x28x1 / 10 (the depthwise kernels included).
  """
  return _compact("mobilenetv2_compact", input_shape, num_classes, se_ratio=0,
                  activation="relu6", width=width)


def _efficientnet_compact(input_shape, num_classes, *, width=1.0):
  """An EfficientNet-B0-style network at Fashion-MNIST scale: MBConv blocks with
  squeeze-and-excitation (ratio 0.25 of the block input), 3x3 and 5x5 depthwise kernels, ReLU
  instead of Swish as in the LTP paper (``_compact``)."""
  return _compact("efficientnet_compact", input_shape, num_classes, se_ratio=0.25,
                  activation="relu", width=width)


# --- tf_keras applications -------------------------------------------------------------------


def _mobilenetv2(input_shape, num_classes, **kwargs):
  """``keras.applications.MobileNetV2`` (random weights unless ``weights`` is given), logits.

  ``kwargs`` go to MobileNetV2 (``alpha``, ``weights``, ``classifier_activation``, ...).
  """
  kwargs.setdefault("weights", None)
  kwargs.setdefault("classifier_activation", None)
  return keras.applications.MobileNetV2(input_shape=tuple(input_shape), classes=num_classes,
                                        **kwargs)


def _resnet50(input_shape, num_classes, **kwargs):
  """``keras.applications.ResNet50`` (random weights unless ``weights`` is given), logits."""
  kwargs.setdefault("weights", None)
  kwargs.setdefault("classifier_activation", None)
  return keras.applications.ResNet50(input_shape=tuple(input_shape), classes=num_classes,
                                     **kwargs)


def _efficientnet_b0(input_shape, num_classes, **kwargs):
  """EfficientNet-B0 with ReLU instead of Swish everywhere, as pruned in the LTP paper.

  Built by the public ``keras.applications.EfficientNetB0``, which forwards ``activation`` to
  tf_keras' generic EfficientNet builder; the SE gates stay sigmoid. The model keeps tf_keras'
  input preprocessing (Rescaling 1/255 + Normalization), so it expects pixels in [0, 255].
  ``kwargs`` go to EfficientNetB0 (``weights``, ``drop_connect_rate``, ...); ``activation``
  defaults to "relu". At 224x224x3 / 1000: 5,288,548 trainable parameters (5,330,571 in all).
  """
  kwargs.setdefault("weights", None)
  kwargs.setdefault("classifier_activation", None)
  kwargs.setdefault("activation", "relu")
  return keras.applications.EfficientNetB0(input_shape=tuple(input_shape), classes=num_classes,
                                           **kwargs)


_BUILDERS = {
    "mlp": _mlp,
    "lenet300": _lenet300,
    "lenet5": _lenet5,
    "resnet20": _resnet20,
    "alexnet": _alexnet,
    "mobilenetv2": _mobilenetv2,
    "resnet50": _resnet50,
    "efficientnet_b0": _efficientnet_b0,
    "mixnet_s": _mixnet_s,
    "mobilenetv2_compact": _mobilenetv2_compact,
    "efficientnet_compact": _efficientnet_compact,
}
MODEL_NAMES = tuple(_BUILDERS)
# The models built from plain Keras layers only, so that any Keras can build them
# (``get_model(..., keras_module=...)``); the others use tf_keras layers of this module.
PORTABLE_MODEL_NAMES = ("mlp", "lenet300", "lenet5")


def _check_shape_and_classes(input_shape, num_classes):
  if (isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__")
      or not input_shape or not all(_is_positive_int(d) for d in input_shape)):
    raise ValueError(f"input_shape must be a non-empty tuple of positive ints (without the "
                     f"batch axis), got {input_shape!r}")
  if not _is_positive_int(num_classes):
    raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")


def get_model(name, input_shape, num_classes, keras_module=None, **kwargs):
  """The network ``name`` for inputs of ``input_shape`` and ``num_classes`` classes (logits).

  Names:
    * ``"mlp"``: Flatten, Dense(units, ReLU) for each entry of ``hidden`` (required), Dense.
    * ``"lenet300"``: LeNet-300-100 (266,610 parameters for 28x28x1 / 10 classes).
    * ``"lenet5"``: LeNet-5-Caffe, no activation after the convolutions (431,080 parameters).
    * ``"resnet20"``: CIFAR ResNet-20 with projection shortcuts (272,474 trainable).
    * ``"alexnet"``: torchvision's AlexNet (61,100,840 at 224x224x3 / 1000); ``dropout``.
    * ``"mobilenetv2"``, ``"resnet50"``: tf_keras applications, random weights by default;
      extra ``kwargs`` (``alpha``, ``weights``, ...) go to the application.
    * ``"efficientnet_b0"``: EfficientNet-B0 with ReLU instead of Swish (5,288,548 trainable
      at 224x224x3 / 1000); extra ``kwargs`` go to ``keras.applications.EfficientNetB0``.
    * ``"mixnet_s"``: MixNet-S (4,134,606 trainable at 224x224x3 / 1000); ``dropout``.
    * ``"mobilenetv2_compact"``, ``"efficientnet_compact"``: small inverted-residual networks
      (BN, depthwise; the second with SE) for the compact-network benchmarks.

  Example::

    model = ltp_tf.models.get_model("lenet5", (28, 28, 1), 10)
    model = ltp_tf.prune_low_magnitude_learned(model)

  Args:
    name: one of ``MODEL_NAMES``.
    input_shape: the shape of one example, without the batch axis, e.g. ``(32, 32, 3)``.
    num_classes: the number of output logits.
    keras_module: the Keras to build with (``import keras`` for Keras 3 on its backend;
      default tf_keras), for the ``PORTABLE_MODEL_NAMES``: the same layers, names and
      parameters in either.
    **kwargs: options of the model (see above).

  Returns:
    A built Sequential or functional ``keras.Model`` (never subclassed) returning logits.

  Raises:
    ValueError: for an unknown ``name``, a bad ``input_shape`` or ``num_classes``, a missing
      or unknown keyword argument, an input too small for the model, or a ``keras_module``
      other than tf_keras for a model outside ``PORTABLE_MODEL_NAMES``.
  """
  if name not in _BUILDERS:
    raise ValueError(f"name must be one of {', '.join(MODEL_NAMES)}; got {name!r}")
  portable = ()
  if keras_module is not None and keras_module is not keras:
    if name not in PORTABLE_MODEL_NAMES:
      raise ValueError(f"get_model({name!r}) builds with tf_keras only; keras_module="
                       f"{getattr(keras_module, '__name__', keras_module)!r} is for "
                       f"{', '.join(PORTABLE_MODEL_NAMES)} (or build your own Keras 3 "
                       "model).")
    portable = (keras_module,)
  _check_shape_and_classes(input_shape, num_classes)
  builder = _BUILDERS[name]
  params = inspect.signature(builder).parameters
  takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
  allowed = [p.name for p in params.values() if p.kind == p.KEYWORD_ONLY]
  unknown = sorted(set(kwargs) - set(allowed))
  if unknown and not takes_any:
    raise ValueError(f"get_model({name!r}) got unexpected keyword argument(s) {unknown}; it "
                     f"accepts {allowed or 'none'}.")
  return builder(tuple(int(d) for d in input_shape), int(num_classes), *portable, **kwargs)
