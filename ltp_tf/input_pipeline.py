"""tf.data input pipelines: tensorflow-datasets + keras-cv augmentation for the training binary.

``get_datasets`` returns batched ``(image, label)`` pipelines for MNIST, Fashion-MNIST,
CIFAR-10/100 and ImageNet (ILSVRC2012) plus a small ``DatasetInfo`` record. Images come out
float32 and normalized per channel (see ``MEAN_STD``); labels come out int32.

Offline preparation: pass ``manual_dir`` (a folder holding the original distribution files,
e.g. ``../shared/data/mnist``) and tfds takes the files from there instead of downloading
them. Every dataset gets its own extract dir, ``<data_dir>/extracted/<dataset>``: MNIST and
Fashion-MNIST use the same file names, so with tfds' shared default extract dir the second
dataset silently reuses the first one's extracted files (Fashion-MNIST comes out as MNIST
digits). ImageNet cannot be downloaded at all; its ``manual_dir`` must hold
``ILSVRC2012_img_train.tar`` and ``ILSVRC2012_img_val.tar``.

keras-cv and tf_keras in one process (verified with keras-cv 0.9.0, keras 3.15, tf_keras 2.20,
TF 2.20): keras-cv picks its Keras by looking at ``tensorflow.keras``. ``import ltp_tf`` leaves
``tf.keras`` alone, so keras-cv augmentation needs ``TF_USE_LEGACY_KERAS=1`` set before
TensorFlow is imported (``ltp-train`` sets it; ``_import_keras_cv`` says so otherwise). Then
``tf.keras`` is tf_keras, ``keras_cv.src.backend.config.keras_3()`` is False and keras-cv's
layers are tf_keras layers (Keras 3 is still imported by keras-cv and prints "Using TensorFlow
backend", but its layers are not used). ``RandomFlip`` and ``RandAugment`` run inside ``tf.data`` map functions
(batched), give different random draws per image and per epoch (they draw from a
``tf.random.Generator`` seeded with ``seed``), and the resulting datasets train tf_keras
models with ``Model.fit``. keras-cv layers are only ever called inside ``tf.data`` functions,
never in a model, and keras-cv is imported lazily (importing this module does not import it).
To keep them independent of a global mixed-precision policy, they are built with
``dtype="float32"``.

Why the random crop is not ``keras_cv.layers.RandomCrop``: in keras-cv 0.9 it crops with
``tf.image.crop_and_resize`` at fractional offsets with nearest-neighbour sampling, so about a
third of its 32x32 crops of a 40x40 padded CIFAR image are not pixel-exact shifts (a row or
column is duplicated or skipped; measured 131/200 exact). The pad-and-crop therefore uses
``tf.image.stateless_random_crop``; the ImageNet random-resized crop uses
``tf.image.stateless_sample_distorted_bounding_box`` + ``tf.image.decode_and_crop_jpeg`` (it
decodes only the crop window, which keras-cv layers cannot do).
"""

import dataclasses
import os
import sys

import tensorflow as tf

from ltp_tf import data

_NEEDS_LEGACY_KERAS = (
    "The input pipeline's keras-cv augmentation runs on tf_keras, and keras-cv follows "
    "tf.keras, which is Keras 3 in this process. Set TF_USE_LEGACY_KERAS=1 before TensorFlow "
    "is imported (ltp-train does), or use augment='none' and randaugment=False.")


def _import_keras_cv():
  """keras-cv on tf_keras (see the module docstring), imported on first use.

  Raises:
    RuntimeError: if keras-cv would be (or was) imported on Keras 3 in this process.
  """
  legacy = os.environ.get("TF_USE_LEGACY_KERAS", "") in ("1", "true", "True")
  if "keras_cv" not in sys.modules and not legacy:
    raise RuntimeError(_NEEDS_LEGACY_KERAS)  # keras-cv's import would half-fail on Keras 3.
  import keras_cv  # pylint: disable=g-import-not-at-top  (Keras 3 package: import lazily)
  from keras_cv.src.backend import config  # pylint: disable=g-import-not-at-top
  if config.keras_3():
    raise RuntimeError(_NEEDS_LEGACY_KERAS)
  return keras_cv


DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "imagenet2012")
AUGMENTS = ("none", "crop_flip", "imagenet")

# Per-channel (mean, std) applied as (x - mean) / std to images in [0, 1].
# MNIST-likes stay in [0, 1] (identity), like ``ltp_tf.data`` and the models trained on it.
# CIFAR: the usual statistics of the training split. ImageNet: the torchvision/timm constants.
MEAN_STD = {
    "mnist": ((0.0,), (1.0,)),
    "fashion_mnist": ((0.0,), (1.0,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet2012": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}

_NATIVE_SHAPE = {
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
    "cifar100": (32, 32, 3),
}
_EVAL_SPLIT = {"imagenet2012": "validation"}  # "test" for the others
_DEFAULT_AUGMENT = {
    "mnist": "none",
    "fashion_mnist": "none",
    "cifar10": "crop_flip",
    "cifar100": "crop_flip",
    "imagenet2012": "imagenet",
}
_IMAGENET_TARS = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")
DEFAULT_IMAGE_SIZE = 224
EVAL_CROP_FRACTION = 0.875  # ImageNet eval: resize the shorter side to size / 0.875, crop size.
CROP_PADDING = 4  # "crop_flip": zero-pad 4 pixels per side, random crop back to the size.
# RandAugment (Cubuk et al. 2019) settings for ``keras_cv.layers.RandAugment``: 2 ops per image,
# mean magnitude 0.5 on keras-cv's [0, 1] scale, each op applied with rate 10/11 (keras-cv's
# default, equivalent to the paper's identity op).
RANDAUGMENT_KWARGS = {"augmentations_per_image": 2, "magnitude": 0.5}


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What the pipelines deliver.

  Attributes:
    num_classes: number of label classes.
    input_shape: (H, W, C) of one preprocessed image.
    train_examples: examples read from the train split (before ``drop_remainder``).
    eval_examples: examples in the eval pipeline.
  """
  num_classes: int
  input_shape: tuple
  train_examples: int
  eval_examples: int


def _check_int(name, value, minimum=1, allow_none=False):
  if value is None and allow_none:
    return
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ValueError(f"{name} must be an int >= {minimum}"
                     f"{' or None' if allow_none else ''}, got {value!r}")


def _split(name, examples):
  return name if examples is None else f"{name}[:{examples}]"


def _num_examples(ds, info, split):
  """Examples in ``ds``: from the tfds metadata, else counted (tfds mock data has no metadata)."""
  try:
    return int(info.splits[split].num_examples)
  except (KeyError, ValueError):
    pass
  n = int(ds.cardinality())
  if n >= 0:
    return n
  return int(ds.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))


def _check_imagenet_manual_dir(data_dir, manual_dir):
  """Raises ValueError unless imagenet2012 is prepared in data_dir or manual_dir has the tars."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if tfds.builder("imagenet2012", data_dir=data_dir).is_prepared():
    return
  where = ", ".join(_IMAGENET_TARS)
  if manual_dir is None:
    raise ValueError(
        f"manual_dir is required for dataset='imagenet2012' (not prepared in data_dir="
        f"{data_dir!r}, and tfds cannot download it): download {where} from image-net.org, "
        "put them in one folder and pass that folder as manual_dir.")
  missing = [f for f in _IMAGENET_TARS if not os.path.exists(os.path.join(manual_dir, f))]
  if missing:
    raise ValueError(f"manual_dir={manual_dir!r} lacks {', '.join(missing)}; put {where} "
                     "(from image-net.org) directly in that folder.")


def _to_unit(image):
  return tf.cast(image, tf.float32) / 255.0


def _imagenet_train_crop(image_bytes, image_size, seed):
  """Random-resized crop (area 8-100%, aspect 3/4-4/3) decoding only the crop window."""
  shape = tf.image.extract_jpeg_shape(image_bytes)
  begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
      shape, bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
      min_object_covered=0.08, aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0),
      max_attempts=10, use_image_if_no_bounding_boxes=True)
  offset_y, offset_x, _ = tf.unstack(begin)
  height, width, _ = tf.unstack(size)
  image = tf.image.decode_and_crop_jpeg(
      image_bytes, tf.stack([offset_y, offset_x, height, width]), channels=3)
  image = tf.image.resize(image, [image_size, image_size], method="bilinear", antialias=True)
  return tf.clip_by_value(image / 255.0, 0.0, 1.0)


def _imagenet_eval_crop(image_bytes, image_size):
  """Resize the shorter side to round(image_size / 0.875), then take the central crop."""
  image = tf.io.decode_jpeg(image_bytes, channels=3)
  resize = round(image_size / EVAL_CROP_FRACTION)
  hw = tf.cast(tf.shape(image)[:2], tf.float32)
  new_hw = tf.cast(tf.round(hw * (resize / tf.reduce_min(hw))), tf.int32)
  new_hw = tf.maximum(new_hw, image_size)
  image = tf.image.resize(image, new_hw, method="bilinear", antialias=True)
  top = (new_hw[0] - image_size) // 2
  left = (new_hw[1] - image_size) // 2
  image = image[top:top + image_size, left:left + image_size]
  image = tf.ensure_shape(image, [image_size, image_size, 3])
  return tf.clip_by_value(image / 255.0, 0.0, 1.0)


def _normalizer(dataset):
  mean, std = MEAN_STD[dataset]
  mean = tf.constant(mean, tf.float32)
  std = tf.constant(std, tf.float32)
  return lambda image: (image - mean) / std


def get_datasets(*, dataset, data_dir, manual_dir=None, batch_size, eval_batch_size=None,
                 train_examples=None, eval_examples=None, augment=None, randaugment=False,
                 image_size=None, shuffle_buffer=10_000, seed=0, cache=None):
  """Train and eval ``tf.data`` pipelines for one tfds image-classification dataset.

  Train: read (uint8, or JPEG bytes for ImageNet) -> cache -> shuffle -> per-example map
  (crop, to float [0, 1]) -> batch (drop_remainder) -> batched maps (optional keras-cv
  RandAugment; keras-cv RandomFlip, normalization) -> prefetch. Eval: per-example map
  (ImageNet center crop, to float, normalization) -> batch -> cache -> prefetch; it is
  deterministic and never augmented.

  Args:
    dataset: "mnist", "fashion_mnist", "cifar10", "cifar100" or "imagenet2012".
    data_dir: tfds data dir; prepared datasets are written to / read from here.
    manual_dir: folder holding the dataset's original files, for offline preparation (see
      the module docstring). Required for imagenet2012 unless it is already prepared.
    batch_size: train batch size (incomplete last batch dropped).
    eval_batch_size: eval batch size (incomplete last batch kept); default ``batch_size``.
    train_examples: use only the first N train examples ("train[:N]"); default all.
    eval_examples: use only the first N eval examples ("test[:N]" / "validation[:N]").
    augment: train augmentation: "none"; "crop_flip" (zero-pad 4, random crop back to the
      size, random horizontal flip; MNIST-likes and CIFAR); "imagenet" (random-resized crop to
      ``image_size`` + random horizontal flip; imagenet2012 only, where "none" means the
      eval center crop). Default: "none" for MNIST-likes, "crop_flip" for CIFAR, "imagenet"
      for imagenet2012.
    randaugment: add ``keras_cv.layers.RandAugment`` (``RANDAUGMENT_KWARGS``) to the train
      pipeline, on [0, 1] images before normalization.
    image_size: imagenet2012 output size (default 224). For the other datasets only None or
      their native size is accepted.
    shuffle_buffer: train shuffle buffer size.
    seed: seeds the shuffle, tfds' file shuffling and the augmentation random generators;
      None for unseeded.
    cache: cache the decoded train examples (before augmentation) and the finished eval
      batches in memory. None: yes, except for imagenet2012, whose splits do not fit in memory
      (True there raises).

  Returns:
    ``(train_ds, eval_ds, info)``: datasets of ``(float32 [B, H, W, C], int32 [B])`` and a
    ``DatasetInfo``.

  Raises:
    ValueError: on a bad argument (the message names it).
  """
  if dataset not in DATASETS:
    raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
  if not data_dir:
    raise ValueError(f"data_dir must name a folder, got {data_dir!r}")
  _check_int("batch_size", batch_size)
  _check_int("eval_batch_size", eval_batch_size, allow_none=True)
  _check_int("train_examples", train_examples, allow_none=True)
  _check_int("eval_examples", eval_examples, allow_none=True)
  _check_int("shuffle_buffer", shuffle_buffer)
  _check_int("seed", seed, minimum=0, allow_none=True)
  if not isinstance(randaugment, bool):
    raise ValueError(f"randaugment must be a bool, got {randaugment!r}")
  if cache is not None and not isinstance(cache, bool):
    raise ValueError(f"cache must be None or a bool, got {cache!r}")
  is_imagenet = dataset == "imagenet2012"
  if cache and is_imagenet:
    raise ValueError("cache=True is not possible for imagenet2012 (its splits do not fit in "
                     "memory); pass cache=None or False.")
  if augment is None:
    augment = _DEFAULT_AUGMENT[dataset]
  allowed = ("none", "imagenet") if is_imagenet else ("none", "crop_flip")
  if augment not in allowed:
    raise ValueError(f"augment must be one of {allowed} for dataset={dataset!r}, "
                     f"got {augment!r}")
  if is_imagenet:
    image_size = DEFAULT_IMAGE_SIZE if image_size is None else image_size
    _check_int("image_size", image_size)
    input_shape = (image_size, image_size, 3)
    _check_imagenet_manual_dir(data_dir, manual_dir)
  else:
    input_shape = _NATIVE_SHAPE[dataset]
    if image_size not in (None, input_shape[0]):
      raise ValueError(f"image_size must be None or {input_shape[0]} for dataset={dataset!r} "
                       f"(only imagenet2012 is resized), got {image_size!r}")
  eval_batch_size = eval_batch_size or batch_size
  cache = (not is_imagenet) if cache is None else cache

  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  load_kwargs = {"data_dir": data_dir, "as_supervised": True, "with_info": True,
                 **data.offline_load_kwargs(dataset, data_dir, manual_dir)}
  if is_imagenet:  # Decode in the map functions (the train crop decodes only its window).
    load_kwargs["decoders"] = {"image": tfds.decode.SkipDecoding()}
  train_split = _split("train", train_examples)
  eval_split = _split(_EVAL_SPLIT.get(dataset, "test"), eval_examples)
  train, tfds_info = tfds.load(
      dataset, split=train_split, shuffle_files=True,
      read_config=tfds.ReadConfig(shuffle_seed=seed), **load_kwargs)
  evals, _ = tfds.load(dataset, split=eval_split, shuffle_files=False, **load_kwargs)
  # tfds slices real splits; take() also bounds mock data (which ignores slicing).
  if train_examples is not None:
    train = train.take(train_examples)
  if eval_examples is not None:
    evals = evals.take(eval_examples)
  info = DatasetInfo(
      num_classes=int(tfds_info.features["label"].num_classes), input_shape=input_shape,
      train_examples=_num_examples(train, tfds_info, train_split),
      eval_examples=_num_examples(evals, tfds_info, eval_split))
  if info.train_examples < batch_size:
    raise ValueError(f"batch_size={batch_size} exceeds the {info.train_examples} train "
                     "examples; with drop_remainder the train pipeline would be empty")

  normalize = _normalizer(dataset)
  autotune = tf.data.AUTOTUNE
  height, width, channels = input_shape
  # Distinct seeds per random source, so that e.g. flips and crops are not correlated.
  seeds = [None] * 3 if seed is None else [seed, seed + 1, seed + 2]
  crop_rng = tf.random.Generator.from_seed(seeds[0]) if seed is not None else (
      tf.random.Generator.from_non_deterministic_state())

  @tf.autograph.experimental.do_not_convert  # Nothing to convert; saves seconds of tracing.
  def train_example(image, label):
    label = tf.cast(label, tf.int32)
    if is_imagenet:
      if augment == "imagenet":
        return _imagenet_train_crop(image, image_size, crop_rng.make_seeds(1)[:, 0]), label
      return _imagenet_eval_crop(image, image_size), label
    image = _to_unit(image)
    if augment == "crop_flip":
      image = tf.image.pad_to_bounding_box(
          image, CROP_PADDING, CROP_PADDING, height + 2 * CROP_PADDING, width + 2 * CROP_PADDING)
      image = tf.image.stateless_random_crop(
          image, [height, width, channels], seed=crop_rng.make_seeds(1)[:, 0])
    return image, label

  flip = randaugment_layer = None
  if augment != "none" or randaugment:
    keras_cv = _import_keras_cv()
    if augment != "none":
      flip = keras_cv.layers.RandomFlip("horizontal", seed=seeds[1], dtype="float32")
    if randaugment:
      randaugment_layer = keras_cv.layers.RandAugment(
          value_range=(0, 1), seed=seeds[2], dtype="float32", **RANDAUGMENT_KWARGS)

  def train_randaugment(images, labels):  # Some keras-cv ops need AutoGraph: keep it on here.
    return randaugment_layer(images, training=True), labels

  @tf.autograph.experimental.do_not_convert  # Nothing to convert; saves seconds of tracing.
  def train_batch(images, labels):
    if flip is not None:
      images = flip(images, training=True)
    images = tf.ensure_shape(images, [batch_size, height, width, channels])
    return normalize(images), labels

  @tf.autograph.experimental.do_not_convert  # Nothing to convert; saves seconds of tracing.
  def eval_example(image, label):
    if is_imagenet:
      image = _imagenet_eval_crop(image, image_size)
    else:
      image = _to_unit(image)
    return normalize(image), tf.cast(label, tf.int32)

  if cache:
    train = train.cache()
  train = train.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
  train = train.map(train_example, num_parallel_calls=autotune)
  train = train.batch(batch_size, drop_remainder=True)
  if randaugment:
    train = train.map(train_randaugment, num_parallel_calls=autotune)
  train = train.map(train_batch, num_parallel_calls=autotune).prefetch(autotune)

  evals = evals.map(eval_example, num_parallel_calls=autotune).batch(eval_batch_size)
  if cache:
    evals = evals.cache()
  evals = evals.prefetch(autotune)
  return train, evals, info
