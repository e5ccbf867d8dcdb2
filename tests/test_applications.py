"""Every tf_keras.applications model can be pruned: wrap, one train step, hard-prune, strip.

Slow (each model is built, wrapped, trained one step and stripped on CPU): the 71 models took
27 min on 2 busy cores, run in 7 parts, up to 15 GiB (ResNetRS420 alone: 1.5 min, 10 GiB).
By default one model of each family is walked (18 models, what CI runs); set
``LTP_TF_ALL_APPLICATIONS=1`` for all of them. Deselect with ``-m "not slow"``; run one
family with e.g. ``-k ConvNeXt``. A model is skipped,
with the reason, when it needs more memory than the machine has free: ConvNeXtXLarge needs
about 21 GiB; a model after a big one in the same process may be skipped too (the process
keeps the memory it freed), so run the biggest alone.
"""

import warnings

import numpy as np
import pytest

import applications_cases as cases
import ltp_tf
from ltp_tf._keras import keras

L = keras.layers
APPLICATIONS = cases.constructors(keras.applications)


def _family(name):
  return cases.family(keras.applications, name)


def test_the_walk_covers_every_family():
  families = {fn.__module__.rsplit(".", 1)[-1] for fn in
              (getattr(keras.applications, n) for n in APPLICATIONS)}
  assert len(APPLICATIONS) >= 70 and "ConvNeXtTiny" in APPLICATIONS
  assert {"convnext", "efficientnet_v2", "nasnet", "regnet", "resnet_rs", "vgg16"} <= families


WALKED = cases.walked(keras.applications)


def test_ci_walks_one_model_of_every_family():
  assert {_family(n) for n in WALKED} == {_family(n) for n in APPLICATIONS}


@pytest.mark.slow
@pytest.mark.parametrize("name", WALKED)
def test_application_wraps_trains_and_strips_to_the_hard_mode_model(name):
  size = cases.MIN_SIZE.get(name, 32)
  model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3),
                                            classes=10, classifier_activation=None)
  cases.skip_if_too_big(name, model)
  # Batch statistics over a batch of 2 at 1x1 resolution blow the gradients up (to NaN in a
  # step); frozen batch normalization uses its moving statistics, as when fine-tuning.
  for layer in model.submodules:
    if isinstance(layer, L.BatchNormalization):
      layer.trainable = False
  with warnings.catch_warnings():
    warnings.simplefilter("error", UserWarning)  # Nothing may be skipped.
    pruned = ltp_tf.prune_low_magnitude_learned(model)
  assert ltp_tf.collect_wrappers(pruned)
  # Eager: tracing a graph for one step of these deep models costs more than the step.
  # clipvalue (per variable, as the README advises for LTP): the gradients of a random
  # EfficientNetV2L are large enough that one plain step of 1e-4 overflows its activations.
  pruned.compile(keras.optimizers.SGD(1e-2, clipvalue=1e-2),
                 keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True)
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, size, size, 3)).astype(np.float32)
  assert np.isfinite(pruned.train_on_batch(x, np.array([1, 2])))
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # A random net may lose a whole layer.
    ltp_tf.hard_prune(pruned)
    expected = pruned(x, training=False).numpy()
    stripped = ltp_tf.strip_pruning(pruned)
  assert not ltp_tf.collect_wrappers(stripped)
  report = ltp_tf.sparsity_report(stripped)
  assert not report.not_pruned and report.kept < report.size
  assert np.all(np.isfinite(expected))
  np.testing.assert_allclose(stripped(x, training=False), expected, rtol=1e-5, atol=1e-5)
