"""sparsity_report against NumPy counts, on wrapped and stripped models."""

import pytest

import layer_cases
import ltp_tf
from ltp_tf._keras import keras
from ltp_tf.report import NotPruned

L = keras.layers


def test_report_counts_match_numpy_on_wrapped_and_stripped_models():
  model = ltp_tf.prune_low_magnitude_learned(keras.Sequential(
      [keras.Input((4, 3)), L.LSTM(5, return_sequences=True), L.Flatten(), L.Dense(2)]))
  wrappers = ltp_tf.collect_wrappers(model)
  for w in wrappers:
    layer_cases.set_thresholds_to_median(w)
  report = ltp_tf.sparsity_report(model)
  assert [(t.layer, t.weight) for t in report.tensors] == [
      ("lstm", "cell.kernel"), ("lstm", "cell.recurrent_kernel"), ("dense", "kernel")]
  rows = iter(report.tensors)
  for w in wrappers:
    for var, tau, temp in zip(w.pruned_variables, w.thresholds, w.temperatures):
      row = next(rows)
      assert row.size == var.numpy().size
      assert row.kept == int((var.numpy()**2 > float(tau)).sum())
      assert row.threshold == float(tau) and row.temperature == float(temp)
  assert report.size == sum(t.size for t in report.tensors)
  assert report.sparsity == 1 - report.kept / report.size
  stripped = ltp_tf.sparsity_report(ltp_tf.strip_pruning(model))
  assert [(t.size, t.kept) for t in stripped.tensors] == [(t.size, t.kept)
                                                         for t in report.tensors]
  assert all(t.threshold is None for t in stripped.tensors)
  assert "**global**" in str(report)
  assert report.as_dict()["global"]["sparsity"] == report.sparsity


def test_unwrapped_prunable_layers_count_towards_global_sparsity():
  wrapped = ltp_tf.PruneLearnedThreshold(L.Dense(4))
  model = keras.Sequential([keras.Input((3,)), wrapped, L.Dense(2)])
  report = ltp_tf.sparsity_report(model)
  assert [t.layer for t in report.tensors] == ["dense", "dense_1"]
  assert report.tensors[1].threshold is None


def test_layers_left_dense_by_skip_are_listed_as_not_pruned():
  inputs = keras.Input((4,))
  x = layer_cases.UnknownKernel(3, name="odd")(L.Dense(4)(inputs))
  x = layer_cases.ChannelScale(name="scale")(x)  # Only a vector: not listed.
  model = keras.Model(inputs, L.Dense(2)(x))
  with pytest.warns(UserWarning, match="'odd' \\(UnknownKernel\\)"):
    pruned = ltp_tf.prune_low_magnitude_learned(model, unsupported="skip")
  for report in (ltp_tf.sparsity_report(pruned),
                 ltp_tf.sparsity_report(ltp_tf.strip_pruning(pruned))):
    assert report.not_pruned == [NotPruned("odd", "UnknownKernel", 4 * 3)]
    assert [t.layer for t in report.tensors] == ["dense", "dense_1"]
    assert report.size == 4 * 4 + 3 * 2  # The skipped kernel is outside the global numbers.
    assert report.as_dict()["not_pruned"] == [
        {"layer": "odd", "layer_class": "UnknownKernel", "size": 12}]
    assert ("**Not pruned (ltp_tf does not know how to prune them; left dense, outside the "
            "global numbers):** odd (UnknownKernel, 12 weights)") in str(report)


def test_report_without_skipped_layers_has_an_empty_not_pruned_list():
  report = ltp_tf.sparsity_report(ltp_tf.prune_low_magnitude_learned(
      keras.Sequential([keras.Input((3,)), L.Dense(2)])))
  assert report.not_pruned == [] and report.as_dict()["not_pruned"] == []
  assert "Not pruned" not in str(report)


def test_a_block_of_layers_is_walked_not_listed_as_not_pruned():

  class Block(L.Layer):
    """A custom layer built of other layers, one wrapped by hand, one unknown."""

    def __init__(self, **kwargs):
      super().__init__(**kwargs)
      self.fc = ltp_tf.PruneLearnedThreshold(L.Dense(3, name="fc"))
      self.odd = layer_cases.UnknownKernel(2, name="odd")

    def call(self, inputs):
      return self.odd(self.fc(inputs))

  model = keras.Sequential([keras.Input((4,)), Block(name="block")])
  report = ltp_tf.sparsity_report(model)
  assert [(t.layer, t.weight) for t in report.tensors] == [("fc", "kernel")]
  assert report.not_pruned == [NotPruned("odd", "UnknownKernel", 3 * 2)]
