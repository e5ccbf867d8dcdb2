"""Shared test set-up: quiet TF, fixed seeds, the real-data folder."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The tf_keras suite runs as ltp-train does: keras-cv (input pipeline) follows tf.keras. ltp_tf
# itself sets nothing (tests/test_keras3.py checks that in fresh processes without this).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import pytest  # noqa: E402

import ltp_tf  # noqa: E402,F401
from ltp_tf import data  # noqa: E402
from ltp_tf._keras import keras  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
  keras.backend.clear_session()
  keras.utils.set_random_seed(0)


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def shared_data_dir():
  """The folder holding mnist/ (and fashion_mnist/) original files: $LTP_TF_DATA_DIR, default
  ../shared/data beside the repository, wherever pytest runs from."""
  path = os.environ.get(data.DATA_DIR_ENV) or os.path.join(_ROOT, "..", "shared", "data")
  if not os.path.exists(os.path.join(path, "mnist", "train-images-idx3-ubyte.gz")):
    pytest.skip(f"MNIST files not found under {os.path.abspath(path)}/mnist; set "
                f"{data.DATA_DIR_ENV} to the folder holding mnist/ (and fashion_mnist/).")
  return path


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
  """One tfds data_dir for the session: each dataset is prepared in it once (~20 s)."""
  return str(tmp_path_factory.mktemp("tfds"))
