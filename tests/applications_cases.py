"""Which ``keras.applications`` models the applications walks build, for either Keras.

tests/test_applications.py walks tf_keras's, tests/keras3_cases.py Keras 3's; both take the
``applications`` module of their Keras. By default one model of each family (module) is
walked, the smallest; ``LTP_TF_ALL_APPLICATIONS=1`` walks every constructor.
"""

import inspect
import os

import pytest

ALL_ENV = "LTP_TF_ALL_APPLICATIONS"
# The smallest input each model accepts where it is above 32x32.
MIN_SIZE = {"InceptionResNetV2": 75, "InceptionV3": 75, "Xception": 71}
# The smallest model of each family, for CI.
SMALLEST = {"ConvNeXtTiny", "DenseNet121", "EfficientNetB0", "EfficientNetV2B0", "MobileNet",
            "MobileNetV2", "MobileNetV3Small", "NASNetMobile", "RegNetX002", "RegNetY002",
            "ResNet50", "ResNet50V2", "ResNetRS50", "VGG16", "VGG19", "InceptionV3",
            "InceptionResNetV2", "Xception"}
# Peak memory of one eager train step and the strip, per parameter (measured on tf_keras's
# ConvNeXt: the soft masks' intermediates are kept for the backward pass, ~14 floats a weight).
BYTES_PER_PARAM = 64


def constructors(applications):
  """Every public model constructor of ``applications``, read from the module so that a new
  one is walked too."""
  return sorted(name for name, fn in vars(applications).items()
                if inspect.isfunction(fn) and name[:1].isupper())


def family(applications, name):
  return getattr(applications, name).__module__.rsplit(".", 1)[-1]


def walked(applications):
  """The models to walk: all with ``LTP_TF_ALL_APPLICATIONS=1``, else the smallest of each
  family (and every model of a family none of ``SMALLEST`` belongs to)."""
  names = constructors(applications)
  if os.environ.get(ALL_ENV) == "1":
    return names
  covered = {family(applications, m) for m in SMALLEST if m in names}
  return [n for n in names if n in SMALLEST or family(applications, n) not in covered]


def _available_bytes():
  """MemAvailable from /proc/meminfo, or None where there is none (not Linux)."""
  try:
    with open("/proc/meminfo", encoding="ascii") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return None


def skip_if_too_big(name, model):
  """Skips, with the reason, when ``model`` needs more memory than the machine has free."""
  need, available = model.count_params() * BYTES_PER_PARAM, _available_bytes()
  if available is not None and need > available:
    pytest.skip(f"{name} ({model.count_params() / 1e6:.0f}M weights) needs about "
                f"{need / 2**30:.0f} GiB for a train step and the strip; "
                f"{available / 2**30:.0f} GiB are available.")
