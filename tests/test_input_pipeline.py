"""ltp_tf.input_pipeline: tfds mock data for CIFAR/ImageNet, the real MNIST files offline."""

import importlib.util
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from ltp_tf import input_pipeline
from ltp_tf._keras import keras



def _arrays(ds):
  """All batches of ``ds`` as (images, labels) lists of numpy arrays."""
  images, labels = [], []
  for x, y in ds.as_numpy_iterator():
    images.append(x)
    labels.append(y)
  return images, labels


def _bounds(dataset):
  """Smallest and largest value a normalized [0, 1] image of ``dataset`` can take."""
  mean, std = (np.array(v, np.float32) for v in input_pipeline.MEAN_STD[dataset])
  return float(np.min((0 - mean) / std)) - 1e-5, float(np.max((1 - mean) / std)) + 1e-5


def _mock_datasets(tmp_path, num_examples, **kwargs):
  with tfds.testing.mock_data(num_examples=num_examples):
    return input_pipeline.get_datasets(data_dir=str(tmp_path), **kwargs)


def _fake_imagenet_manual_dir(tmp_path):
  """A manual_dir with (empty) ImageNet tars: enough for mock data, which never reads them."""
  manual = tmp_path / "manual"
  manual.mkdir()
  for name in ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"):
    (manual / name).touch()
  return str(manual)


# ------------------------------------------------------------------------------- mock data


def test_cifar10_batches_shapes_dtypes_ranges(tmp_path):
  train, evals, info = _mock_datasets(
      tmp_path, 20, dataset="cifar10", batch_size=8, eval_batch_size=6, shuffle_buffer=64)
  assert info == input_pipeline.DatasetInfo(
      num_classes=10, input_shape=(32, 32, 3), train_examples=20, eval_examples=20)
  lo, hi = _bounds("cifar10")
  train_x, train_y = _arrays(train)
  assert [x.shape for x in train_x] == [(8, 32, 32, 3)] * 2  # 20 // 8, remainder dropped
  eval_x, eval_y = _arrays(evals)
  assert [x.shape for x in eval_x] == [(6, 32, 32, 3)] * 3 + [(2, 32, 32, 3)]  # kept
  for x, y in zip(train_x + eval_x, train_y + eval_y):
    assert x.dtype == np.float32 and y.dtype == np.int32
    assert lo <= x.min() and x.max() <= hi
    assert ((0 <= y) & (y < 10)).all()
  assert train.element_spec[0].shape.as_list() == [8, 32, 32, 3]
  # keras-cv augmentation (RandomFlip) in tf.data feeding a tf_keras model.
  model = keras.Sequential([keras.Input(info.input_shape), keras.layers.GlobalAveragePooling2D(),
                            keras.layers.Dense(info.num_classes)])
  model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  history = model.fit(train, validation_data=evals, epochs=1, verbose=0)
  assert np.isfinite(history.history["loss"]).all()


def test_augmentation_on_train_only_and_eval_deterministic(tmp_path):
  kwargs = dict(dataset="cifar10", batch_size=8, shuffle_buffer=1, seed=3)
  plain, evals, _ = _mock_datasets(tmp_path, 16, augment="none", **kwargs)
  augmented, _, _ = _mock_datasets(tmp_path, 16, **kwargs)  # default: crop_flip
  plain1, plain2 = _arrays(plain)[0], _arrays(plain)[0]
  aug1, aug2 = _arrays(augmented)[0], _arrays(augmented)[0]
  np.testing.assert_array_equal(np.stack(plain1), np.stack(plain2))
  assert not np.array_equal(np.stack(aug1), np.stack(plain1))
  assert not np.array_equal(np.stack(aug1), np.stack(aug2))  # fresh draws every epoch
  (eval1, labels1), (eval2, labels2) = _arrays(evals), _arrays(evals)
  np.testing.assert_array_equal(np.concatenate(eval1), np.concatenate(eval2))
  np.testing.assert_array_equal(np.concatenate(labels1), np.concatenate(labels2))
  # Same labels, same order (shuffle_buffer=1): augmentation touches images only.
  np.testing.assert_array_equal(np.concatenate(_arrays(augmented)[1]),
                                np.concatenate(_arrays(plain)[1]))


@pytest.mark.slow
def test_cifar100_randaugment_runs(tmp_path):
  train, evals, info = _mock_datasets(
      tmp_path, 12, dataset="cifar100", batch_size=4, train_examples=10, eval_examples=5,
      randaugment=True)
  assert (info.num_classes, info.train_examples, info.eval_examples) == (100, 10, 5)
  lo, hi = _bounds("cifar100")
  train_x, train_y = _arrays(train)
  assert len(train_x) == 2 and all(x.shape == (4, 32, 32, 3) for x in train_x)
  assert all(lo <= x.min() and x.max() <= hi and np.isfinite(x).all() for x in train_x)
  assert max(y.max() for y in train_y) < 100
  assert sum(len(y) for y in _arrays(evals)[1]) == 5


def test_imagenet2012_crops_and_center_crop(tmp_path):
  manual = _fake_imagenet_manual_dir(tmp_path)
  train, evals, info = _mock_datasets(
      tmp_path, 10, dataset="imagenet2012", manual_dir=manual, batch_size=4, image_size=32)
  assert info == input_pipeline.DatasetInfo(
      num_classes=1000, input_shape=(32, 32, 3), train_examples=10, eval_examples=10)
  lo, hi = _bounds("imagenet2012")
  (train1, labels), (train2, _) = _arrays(train), _arrays(train)
  assert [x.shape for x in train1] == [(4, 32, 32, 3)] * 2
  assert all(x.dtype == np.float32 and lo <= x.min() and x.max() <= hi for x in train1)
  assert all(y.dtype == np.int32 and ((0 <= y) & (y < 1000)).all() for y in labels)
  assert not np.array_equal(np.stack(train1), np.stack(train2))
  (eval1, _), (eval2, _) = _arrays(evals), _arrays(evals)
  assert [x.shape for x in eval1] == [(4, 32, 32, 3)] * 2 + [(2, 32, 32, 3)]
  np.testing.assert_array_equal(np.concatenate(eval1), np.concatenate(eval2))


def test_imagenet_eval_crop_keeps_the_center():
  # A 40x80 image whose left/right quarters are black: the shorter side goes to 32 / 0.875 = 37
  # (74 wide), the central 32x32 crop sees only the white middle.
  image = np.zeros([40, 80, 3], np.uint8)
  image[:, 20:60] = 255
  out = input_pipeline._imagenet_eval_crop(tf.io.encode_jpeg(image, quality=100), 32)
  assert out.shape == (32, 32, 3)
  assert float(tf.reduce_min(out)) > 0.9


def test_imagenet2012_needs_manual_dir(tmp_path):
  with pytest.raises(ValueError, match="manual_dir.*ILSVRC2012_img_train.tar"):
    _mock_datasets(tmp_path, 4, dataset="imagenet2012", batch_size=2)
  with pytest.raises(ValueError, match="manual_dir=.*lacks ILSVRC2012_img_train.tar"):
    _mock_datasets(tmp_path, 4, dataset="imagenet2012", batch_size=2,
                   manual_dir=str(tmp_path))


@pytest.mark.parametrize("kwargs, name", [
    (dict(dataset="svhn"), "dataset"),
    (dict(dataset="cifar10", batch_size=0), "batch_size"),
    (dict(dataset="cifar10", eval_batch_size=-1), "eval_batch_size"),
    (dict(dataset="cifar10", train_examples=0), "train_examples"),
    (dict(dataset="cifar10", eval_examples=2.5), "eval_examples"),
    (dict(dataset="cifar10", augment="imagenet"), "augment"),
    (dict(dataset="imagenet2012", augment="crop_flip"), "augment"),
    (dict(dataset="mnist", augment="bogus"), "augment"),
    (dict(dataset="cifar10", randaugment="yes"), "randaugment"),
    (dict(dataset="cifar10", image_size=64), "image_size"),
    (dict(dataset="imagenet2012", image_size=0), "image_size"),
    (dict(dataset="cifar10", shuffle_buffer=0), "shuffle_buffer"),
    (dict(dataset="cifar10", seed=-1), "seed"),
    (dict(dataset="cifar10", cache="yes"), "cache"),
    (dict(dataset="imagenet2012", cache=True), "cache"),
])
def test_bad_arguments_raise_value_error_naming_them(tmp_path, kwargs, name):
  kwargs = {"batch_size": 2, "data_dir": str(tmp_path), **kwargs}
  with pytest.raises(ValueError, match=rf"^{name}\b"):
    input_pipeline.get_datasets(**kwargs)


def test_batch_size_larger_than_train_split(tmp_path):
  with pytest.raises(ValueError, match="^batch_size=8 exceeds the 4 train examples"):
    _mock_datasets(tmp_path, 4, dataset="cifar10", batch_size=8)


def test_keras_cv_is_imported_lazily_and_runs_on_tf_keras():
  keras_cv_modules = {name: module for name, module in sys.modules.items()
                      if name == "keras_cv" or name.startswith("keras_cv.")}
  try:
    for name in keras_cv_modules:
      del sys.modules[name]
    # A fresh copy of the module (not a reload: other tests keep using the original).
    spec = importlib.util.spec_from_file_location("_input_pipeline_copy", input_pipeline.__file__)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert "keras_cv" not in sys.modules
  finally:
    sys.modules.update(keras_cv_modules)
  keras_cv = input_pipeline._import_keras_cv()  # pylint: disable=protected-access
  from keras_cv.src.backend import config  # pylint: disable=g-import-not-at-top
  assert os.environ["TF_USE_LEGACY_KERAS"] == "1"
  assert not config.keras_3()  # keras-cv follows tf.keras, which is tf_keras here
  assert isinstance(keras_cv.layers.RandomFlip(), keras.layers.Layer)


# ------------------------------------------------------------------ real MNIST, offline


@pytest.fixture(scope="module")
def mnist(shared_data_dir, tfds_dir):
  """MNIST prepared from the original files (once per session: ~20 s), first 2000/500."""
  return input_pipeline.get_datasets(
      dataset="mnist", data_dir=tfds_dir, manual_dir=os.path.join(shared_data_dir, "mnist"),
      batch_size=100, train_examples=2000, eval_examples=500)


def _mean_pixel(ds):
  return float(np.mean(np.concatenate(_arrays(ds)[0])))


@pytest.mark.slow
def test_mnist_offline_from_the_original_files(mnist, tfds_dir):
  train, evals, info = mnist
  assert info == input_pipeline.DatasetInfo(
      num_classes=10, input_shape=(28, 28, 1), train_examples=2000, eval_examples=500)
  train_x, train_y = _arrays(train)
  eval_x, eval_y = _arrays(evals)
  assert len(train_x) == 20 and all(x.shape == (100, 28, 28, 1) for x in train_x)
  assert [len(x) for x in eval_x] == [100] * 5
  for x, y in zip(train_x + eval_x, train_y + eval_y):
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.dtype == np.int32 and ((0 <= y) & (y < 10)).all()
  labels = np.concatenate(train_y)
  assert len(np.unique(labels)) == 10
  assert abs(_mean_pixel(train) - 33.32 / 255) < 0.02  # README: 33.3184 over all 60000
  assert os.path.isdir(os.path.join(tfds_dir, "extracted", "mnist"))


@pytest.mark.slow
def test_fashion_mnist_in_the_same_data_dir_is_not_mnist(mnist, shared_data_dir, tfds_dir):
  """The extract-dir trap: a shared extract dir gives fashion_mnist MNIST's files."""
  manual = os.path.join(shared_data_dir, "fashion_mnist")
  if not os.path.exists(os.path.join(manual, "train-images-idx3-ubyte.gz")):
    pytest.skip(f"Fashion-MNIST files not found under {os.path.abspath(manual)}")
  train, _, info = input_pipeline.get_datasets(
      dataset="fashion_mnist", data_dir=tfds_dir, manual_dir=manual, batch_size=100,
      train_examples=2000, eval_examples=100)
  assert (info.num_classes, info.train_examples, info.eval_examples) == (10, 2000, 100)
  fashion_mean, mnist_mean = _mean_pixel(train), _mean_pixel(mnist[0])
  assert abs(fashion_mean - 72.94 / 255) < 0.03, (fashion_mean, mnist_mean)
  assert fashion_mean - mnist_mean > 0.1
