"""The networks of ltp_tf.models: sizes, and wrap / train / hard-prune / strip on each."""

import numpy as np
import pytest

import layer_cases
import ltp_tf
from ltp_tf import models
from ltp_tf._keras import keras

L = keras.layers
PRUNABLE = (L.Conv2D, L.DepthwiseConv2D, L.Dense)


def _trainable_count(model):
  return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# count_params() counts every weight, BN moving statistics included.
@pytest.mark.parametrize("name,input_shape,classes,expected", [
    ("lenet300", (28, 28, 1), 10, 266_610),  # 784*300+300 + 300*100+100 + 100*10+10.
    # conv1 5*5*1*20+20 = 520; conv2 5*5*20*50+50 = 25,050; 28-24-12-8-4, so fc1 gets
    # 4*4*50 = 800 inputs: 800*500+500 = 400,500; fc2 500*10+10 = 5,010.
    ("lenet5", (28, 28, 1), 10, 431_080),
    ("alexnet", (224, 224, 3), 1000, 61_100_840),  # torchvision's count; build only.
])
def test_exact_parameter_counts(name, input_shape, classes, expected):
  assert models.get_model(name, input_shape, classes).count_params() == expected


def test_resnet20_size():
  model = models.get_model("resnet20", (32, 32, 3), 10)
  assert 260_000 <= model.count_params() <= 280_000
  # 274,042 in all; the BN moving statistics (2 * 784 channels) are not trained.
  assert model.count_params() == 274_042 and _trainable_count(model) == 272_474


@pytest.mark.slow
def test_mixnet_s_size_and_structure():
  model = models.get_model("mixnet_s", (224, 224, 3), 1000)  # Build only.
  assert abs(model.count_params() - 4.1e6) <= 0.41e6
  assert _trainable_count(model) == 4_134_606  # timm's mixnet_s: 4.13M.
  assert model.count_params() == 4_166_798
  depthwise = [l for l in model.layers if isinstance(l, L.DepthwiseConv2D)]
  assert sorted({l.kernel_size[0] for l in depthwise}) == [3, 5, 7, 9, 11]
  activations = [l.get_config()["activation"] for l in model.layers
                 if isinstance(l, L.Activation)]
  assert activations[0] == "relu" and activations[-1] == "relu" and "swish" in activations
  assert sum(l.name.endswith("_dw_bn") for l in model.layers) == 16  # Blocks.
  assert sum(l.name.endswith("_se_reduce") for l in model.layers) == 13  # All but the first 3.
  assert not any(l.weights for l in model.layers if isinstance(l, models.ChannelSplit))


def test_resnet50_is_the_keras_application_with_logits():
  model = models.get_model("resnet50", (32, 32, 3), 10)
  assert model.name == "resnet50" and model.count_params() == 23_608_202
  assert model.layers[-1].get_config()["activation"] == "linear"


# name -> (input shape, kwargs, input range). The ImageNet models run at 64x64, not 32x32:
# at 32x32 their last stages are 1x1 maps, and one SGD step with BN over two 1x1 samples
# sends randomly initialised EfficientNet to inf/NaN in inference mode.
PRUNE_CASES = {
    "lenet300": ((28, 28, 1), {}, 1.0),
    "lenet5": ((28, 28, 1), {}, 1.0),
    "resnet20": ((28, 28, 1), {}, 1.0),
    "mixnet_s": ((64, 64, 3), {}, 1.0),
    "efficientnet_b0": ((64, 64, 3), {}, 255.0),  # Rescales its input by 1/255 itself.
    "mobilenetv2": ((64, 64, 3), {"alpha": 0.35}, 1.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PRUNE_CASES))
def test_prune_train_hard_prune_and_strip(name):
  input_shape, kwargs, scale = PRUNE_CASES[name]
  classes, batch = 3, 2
  model = models.get_model(name, input_shape, classes, **kwargs)
  assert type(model).__name__ in ("Functional", "Sequential")  # Not subclassed.
  expected = sum(isinstance(l, PRUNABLE) for l in ltp_tf.prune.iter_layers(model))

  pruned = ltp_tf.prune_low_magnitude_learned(model)
  wrappers = ltp_tf.collect_wrappers(pruned)
  assert len(wrappers) == expected
  assert all(isinstance(w.layer, PRUNABLE) for w in wrappers)

  rng = np.random.default_rng(0)
  x = (scale * rng.uniform(size=(batch, *input_shape))).astype(np.float32)
  # Eager: tracing the train step of a 100-wrapper model takes a minute on 2 CPU cores.
  pruned.compile(keras.optimizers.SGD(1e-3),
                 keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True)
  loss = pruned.train_on_batch(x, np.arange(batch) % classes)
  assert np.isfinite(loss)

  for w in wrappers:  # Prune about half of every tensor.
    layer_cases.set_thresholds_to_median(w)
  ltp_tf.hard_prune(pruned)
  expected_out = pruned(x, training=False).numpy()
  assert np.isfinite(expected_out).all()

  stripped = ltp_tf.strip_pruning(pruned)
  assert not ltp_tf.collect_wrappers(stripped)
  kernels = [w.layer.weights[0].name for w in wrappers]
  zeros = [float(np.mean(v.numpy() == 0)) for v in stripped.weights if v.name in kernels]
  assert len(zeros) == len(kernels) and np.mean(zeros) > 0.3
  np.testing.assert_allclose(stripped(x, training=False).numpy(), expected_out,
                             rtol=1e-4, atol=1e-5)


def test_efficientnet_b0_uses_relu_not_swish():
  model = models.get_model("efficientnet_b0", (32, 32, 3), 4)
  activations = {l.get_config()["activation"] for l in model.layers
                 if "activation" in l.get_config()}
  assert "relu" in activations
  assert not activations & {"swish", "silu"}
  config = model.to_json().lower()
  assert "swish" not in config and "silu" not in config
  assert model.layers[-1].get_config()["activation"] == "linear"  # Logits.
  kinds = {type(l).__name__ for l in model.layers}
  assert {"Rescaling", "Normalization"} <= kinds  # tf_keras' preprocessing is kept.


def test_rank2_input_gets_a_channel_axis():
  model = models.get_model("resnet20", (28, 28), 10)
  assert model.output_shape == (None, 10)
  assert model.count_params() == models.get_model("resnet20", (28, 28, 1), 10).count_params()


def _torch_adaptive_avg_pool(x, out):
  """PyTorch's AdaptiveAvgPool2d definition, in numpy, channels last."""
  n, h, w, c = x.shape
  result = np.zeros((n, out, out, c), np.float32)
  for i in range(out):
    for j in range(out):
      rows = slice(i * h // out, -(-(i + 1) * h // out))
      cols = slice(j * w // out, -(-(j + 1) * w // out))
      result[:, i, j] = x[:, rows, cols].mean(axis=(1, 2))
  return result


@pytest.mark.parametrize("size", [1, 4, 6, 7, 13])
def test_adaptive_average_pooling_matches_pytorch(size):
  x = np.random.default_rng(0).normal(size=(2, size, size, 3)).astype(np.float32)
  out = models.AdaptiveAveragePooling2D(6)(x).numpy()
  np.testing.assert_allclose(out, _torch_adaptive_avg_pool(x, 6), rtol=1e-6, atol=1e-6)


def test_alexnet_small_input_and_minimum_size():
  model = models.get_model("alexnet", (63, 63, 3), 10)  # The last map is 1x1, repeated.
  assert any(isinstance(l, models.AdaptiveAveragePooling2D) for l in model.layers)
  assert model.output_shape == (None, 10)
  with pytest.raises(ValueError, match="input_shape.*alexnet.*63"):
    models.get_model("alexnet", (62, 62, 3), 10)


def test_custom_layers_save_and_load(tmp_path):
  inputs = keras.Input((7, 7, 6))
  parts = models.ChannelSplit([4, 2])(inputs)
  x = L.Concatenate()([L.DepthwiseConv2D(3, padding="same")(parts[0]), parts[1]])
  model = keras.Model(inputs, models.AdaptiveAveragePooling2D((2, 3))(x))
  x = np.random.default_rng(0).normal(size=(2, 7, 7, 6)).astype(np.float32)
  path = str(tmp_path / "model.keras")
  model.save(path)
  np.testing.assert_allclose(keras.models.load_model(path)(x), model(x), rtol=1e-6)


@pytest.mark.parametrize("name,kwargs,expected", [
    ("lenet300", {}, 266_610), ("lenet5", {}, 431_080),
    ("mlp", {"hidden": (128, 64)}, 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10)])
def test_keras3_builds_the_same_networks(name, kwargs, expected):
  import keras as keras3  # pylint: disable=g-import-not-at-top
  shape = (8, 8) if name == "mlp" else (28, 28, 1)
  model = models.get_model(name, shape, 10, keras_module=keras3, **kwargs)
  assert isinstance(model, keras3.Model) and model.count_params() == expected
  twin = models.get_model(name, shape, 10, **kwargs)
  assert [layer.name for layer in model.layers] == [layer.name for layer in twin.layers]
  with pytest.raises(ValueError, match=r"'resnet20'\) builds with tf_keras only.*lenet5"):
    models.get_model("resnet20", (32, 32, 3), 10, keras_module=keras3)


def test_unknown_name_is_refused_with_the_valid_names():
  with pytest.raises(ValueError,
                     match=r"name must be one of mlp, .*mixnet_s, .*_compact; got 'nope'"):
    models.get_model("nope", (28, 28, 1), 10)


@pytest.mark.parametrize("name,prunable,depthwise,se", [
    ("mobilenetv2_compact", 42_208, 5, 0), ("efficientnet_compact", 55_008, 5, 5)])
def test_compact_networks_are_bn_depthwise_inverted_residuals(name, prunable, depthwise, se):
  model = models.get_model(name, (28, 28), 10)
  kinds = [type(l).__name__ for l in model.layers]
  assert kinds.count("DepthwiseConv2D") == depthwise
  # Stem, block 1 (no expansion: depthwise + projection), 4 expanding blocks x 3, head.
  assert kinds.count("BatchNormalization") == 1 + 2 + 3 * 4 + 1
  assert sum(l.name.endswith("_se_reduce") for l in model.layers) == se
  assert sum(l.name.endswith("_add") for l in model.layers) == 3  # Blocks 1, 3, 5: same shape.
  report = ltp_tf.sparsity_report(ltp_tf.prune_low_magnitude_learned(model))
  assert report.size == prunable and report.sparsity == 0.0
  assert model.output_shape == (None, 10)


def test_compact_width_multiplies_every_channel_count():
  full = models.get_model("mobilenetv2_compact", (28, 28), 10)
  half = models.get_model("mobilenetv2_compact", (28, 28), 10, width=0.5)
  channels = lambda m: [l.output_shape[-1] for l in m.layers
                        if type(l).__name__ == "Conv2D"]
  assert channels(half) == [max(4, round(c / 2)) for c in channels(full)]
  assert ltp_tf.sparsity_report(ltp_tf.prune_low_magnitude_learned(half)).size == 12_240
  for bad in (0, -1.0, "half", True):
    with pytest.raises(ValueError, match="width .*efficientnet_compact"):
      models.get_model("efficientnet_compact", (28, 28), 10, width=bad)


def test_mlp_needs_hidden():
  with pytest.raises(ValueError, match="hidden"):
    models.get_model("mlp", (8,), 3)
  with pytest.raises(ValueError, match="hidden"):
    models.get_model("mlp", (8,), 3, hidden=(4, 0))
  model = models.get_model("mlp", (8,), 3, hidden=(5,))
  assert model.count_params() == 8 * 5 + 5 + 5 * 3 + 3


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="lenet5", input_shape=(28, 28, 1), num_classes=10, hidden=(3,)), "hidden"),
    (dict(name="lenet5", input_shape=(28, 28, 1), num_classes=0), "num_classes"),
    (dict(name="lenet5", input_shape=(28, -1, 1), num_classes=10), "input_shape"),
    (dict(name="lenet5", input_shape=(784,), num_classes=10), "input_shape"),
])
def test_bad_arguments_are_named(kwargs, match):
  with pytest.raises(ValueError, match=match):
    models.get_model(**kwargs)


def test_only_portable_models_build_with_another_keras():
  import types  # pylint: disable=g-import-not-at-top
  other = types.ModuleType("keras")
  with pytest.raises(ValueError, match=r"'resnet20'\) builds with tf_keras only.*lenet5"):
    models.get_model("resnet20", (28, 28, 1), 10, keras_module=other)
  model = models.get_model("resnet20", (28, 28, 1), 10, keras_module=keras)  # tf_keras: as ever.
  assert model.count_params() == models.get_model("resnet20", (28, 28, 1), 10).count_params()
