"""Small in-memory datasets for the main job, tests and examples.

Larger input pipelines (tfds + keras-cv augmentation) live with the training binary.
"""

import gzip
import os

import numpy as np

# Environment variable naming the folder that holds mnist/ and fashion_mnist/ IDX files.
DATA_DIR_ENV = "LTP_TF_DATA_DIR"
_TFDS_NAMES = ("mnist", "fashion_mnist")


def digits(test_fraction=0.2, seed=0):
  """scikit-learn's 8x8 digits (ships with scikit-learn): ((x, y) train, (x, y) test).

  ``x`` is float32 in [0, 1] with shape [N, 64]; ``y`` int32 labels. The split is stratified
  and fixed by ``seed``.
  """
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  from sklearn.model_selection import train_test_split  # pylint: disable=g-import-not-at-top
  x, y = load_digits(return_X_y=True)
  x_tr, x_te, y_tr, y_te = train_test_split(
      (x / 16.0).astype(np.float32), y.astype(np.int32), test_size=test_fraction,
      random_state=seed, stratify=y)
  return (x_tr, y_tr), (x_te, y_te)


def read_idx(path):
  """A gzipped IDX file (the original MNIST format) as a uint8 array."""
  with gzip.open(path, "rb") as f:
    raw = f.read()
  if raw[:2] != b"\x00\x00" or raw[2] != 8:
    raise ValueError(f"{path} is not a uint8 IDX file")
  ndim = raw[3]
  shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
  return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def default_data_dir():
  """``$LTP_TF_DATA_DIR``, else ``../shared/data`` relative to the current directory."""
  return os.environ.get(DATA_DIR_ENV, os.path.join("..", "shared", "data"))


def idx_dataset(name, data_dir=None):
  """MNIST or Fashion-MNIST from the original IDX files in ``data_dir/name``.

  Returns ((x, y) train, (x, y) test) with x float32 in [0, 1], shape [N, 28, 28, 1].
  """
  if name not in _TFDS_NAMES:
    raise ValueError(f"name must be one of {_TFDS_NAMES}, got {name!r}")
  folder = os.path.join(data_dir or default_data_dir(), name)
  splits = []
  for split in ("train", "t10k"):
    x = read_idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"))
    splits.append(((x[..., None] / 255.0).astype(np.float32), y.astype(np.int32)))
  return tuple(splits)


def offline_load_kwargs(name, data_dir, manual_dir):
  """``tfds.load`` kwargs that prepare ``name`` from the original files in ``manual_dir``.

  Each dataset gets its own extract dir, because MNIST and Fashion-MNIST files share names (a
  shared one makes fashion_mnist silently reuse MNIST's extracted files). Checksums are
  verified. Returns ``{}`` when ``manual_dir`` is empty (tfds downloads as usual).
  """
  if not manual_dir:
    return {}
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  config = tfds.download.DownloadConfig(
      manual_dir=manual_dir, extract_dir=os.path.join(data_dir, "extracted", name),
      force_checksums_validation=True)
  return {"download_and_prepare_kwargs": {"download_config": config}}


def tfds_dataset(name, data_dir, manual_dir=None):
  """MNIST or Fashion-MNIST through tensorflow-datasets, offline when ``manual_dir`` is given.

  ``manual_dir`` holds the original files (e.g. ``../shared/data/mnist``); see
  ``offline_load_kwargs``.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if name not in _TFDS_NAMES:
    raise ValueError(f"name must be one of {_TFDS_NAMES}, got {name!r}")
  kwargs = offline_load_kwargs(name, data_dir, manual_dir)
  (x_tr, y_tr), (x_te, y_te) = tfds.as_numpy(tfds.load(
      name, split=["train", "test"], data_dir=data_dir, batch_size=-1, as_supervised=True,
      **kwargs))
  return ((x_tr / 255.0).astype(np.float32), y_tr.astype(np.int32)), \
         ((x_te / 255.0).astype(np.float32), y_te.astype(np.int32))
