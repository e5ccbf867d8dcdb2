"""Smoke test of the benchmark harness: a tiny MLP, every method, every output field."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import grid
from benchmarks import harness

TINY = harness.Network("tiny", "mlp", "digits", dense_epochs=1, prune_epochs=3,
                       finetune_epochs=1, l0_lambda=3e-4, l2_lambda=1e-2, batch_size=64,
                       model_kwargs={"hidden": (32,)})


@pytest.mark.slow
def test_every_method_runs_and_writes_every_field(tmp_path, monkeypatch):
  monkeypatch.setitem(harness.NETWORKS, "tiny", TINY)
  out = tmp_path / "out"
  summary = grid.run(["tiny"], [0.7], [0], list(harness.METHODS), str(tmp_path / "work"),
                     str(out))
  rows = summary["tiny"]
  assert {(r["method"], r["target"]) for r in rows} == {
      ("ltp", None), ("ltp_noreg", None), ("ltp_unstab", None)} | {
          (m, 0.7) for m in harness.METHODS if m != "ltp_noreg"}
  with open(out / "benchmark_tiny.json") as f:
    runs = json.load(f)["runs"]
  for r in runs:
    for field in ("accuracy", "sparsity", "compression", "layers", "seconds", "tflite",
                  "dense_accuracy", "fully_pruned_layers", "history"):
      assert field in r, (r["method"], field)
    t = r["tflite"]
    assert t["float_accuracy"] == pytest.approx(t["keras_accuracy"], abs=3e-3)
    assert t["int8_nnz_bound_bytes"] == r["kept"]
    if r["target"] is not None:  # Matched sparsity: every method on the target.
      assert r["sparsity"] == pytest.approx(0.7, abs=0.01), r["method"]
  natural = {r["method"]: r["sparsity"] for r in runs if r["target"] is None}
  assert natural["ltp"] > natural["ltp_noreg"]  # The soft L0 is what prunes.
  for name in ("benchmark_tiny.md", "accuracy_tiny.png", "keep_ratio_tiny.png",
               "fig1_tiny_ltp.png", "fig1_tiny_ltp_unstab.png", "layers_tiny_0.7.png"):
    assert os.path.exists(out / name), name
  # Resumable: a second call reads the finished runs instead of training again.
  again = grid.run(["tiny"], [0.7], [0], ["gmp"], str(tmp_path / "work"), str(out))
  assert again["tiny"][0]["accuracy_mean"] == pytest.approx(
      next(r["accuracy"] for r in runs if r["method"] == "gmp"))
  # finished_only: a report of what has run (seed 1 has not: left out, nothing trained).
  partial = grid.run(["tiny"], [0.7], [0, 1], ["gmp", "uniform"], str(tmp_path / "work"),
                     str(out), finished_only=True)
  assert {(r["method"], r["seeds"]) for r in partial["tiny"]} == {("gmp", 1), ("uniform", 1)}
  assert not os.path.exists(tmp_path / "work" / "runs" / "tiny_gmp_0.7_seed1.json")


def test_global_magnitude_pruning_uses_one_threshold_over_all_layers():
  from ltp_tf._keras import keras  # pylint: disable=g-import-not-at-top
  import ltp_tf  # pylint: disable=g-import-not-at-top
  model = ltp_tf.prune_low_magnitude_learned(keras.Sequential(
      [keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(4)]), l0_lambda=0.0)
  wrappers = ltp_tf.collect_wrappers(model)
  wrappers[1].pruned_variables[0].assign(np.full((16, 4), 10.0, np.float32))  # Big layer 2.
  gmp = harness.GlobalMagnitudePruning(0.5, reach_step=1, every_n_steps=1)
  gmp.set_model(model)
  gmp.on_train_begin()
  gmp.on_train_batch_end(0)
  kept = [int(np.count_nonzero(w.masks[0].numpy())) for w in wrappers]
  assert sum(kept) == 192 // 2  # 50 % of all 192 weights, globally...
  assert kept == [32, 64]  # ... all taken from the small-magnitude layer.
  for w in wrappers:
    assert np.all(w.pruned_variables[0].numpy()[w.masks[0].numpy() == 0] == 0)


def test_uniform_magnitude_pruning_prunes_every_tensor_alike():
  from ltp_tf._keras import keras  # pylint: disable=g-import-not-at-top
  import ltp_tf  # pylint: disable=g-import-not-at-top
  model = ltp_tf.prune_low_magnitude_learned(keras.Sequential(
      [keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(4)]), l0_lambda=0.0)
  wrappers = ltp_tf.collect_wrappers(model)
  wrappers[1].pruned_variables[0].assign(
      np.arange(1, 65, dtype=np.float32).reshape(16, 4))  # Big layer 2, distinct values.
  uniform = harness.GlobalMagnitudePruning(0.5, reach_step=1, every_n_steps=1, uniform=True)
  uniform.set_model(model)
  uniform.on_train_begin()
  uniform.on_train_batch_end(0)
  kept = [int(np.count_nonzero(w.masks[0].numpy())) for w in wrappers]
  assert kept == [64, 32]  # Half of each tensor, whatever the other's magnitudes...
  big = wrappers[1].pruned_variables[0].numpy()
  assert np.count_nonzero(big) == 32 and big.max() == 64 and np.min(big[big != 0]) == 33


def test_bad_grid_arguments_are_named(tmp_path):
  data = harness.load_data(TINY)
  with pytest.raises(ValueError, match="method"):
    harness.run_one(TINY, "magic", 0.5, 0, data, str(tmp_path))
  with pytest.raises(ValueError, match="needs a target"):
    harness.run_one(TINY, "tfmot", None, 0, data, str(tmp_path))
  with pytest.raises(ValueError, match="ltp_noreg"):
    harness.run_one(TINY, "ltp_noreg", 0.5, 0, data, str(tmp_path))
  with pytest.raises(ValueError, match="overridable"):
    grid.parse_overrides(["model=resnet50"])
  assert grid.parse_overrides(["prune_epochs=2", "l0_lambda=1e-5", "optimizer=adam"]) == {
      "prune_epochs": 2, "l0_lambda": 1e-5, "optimizer": "adam"}
  with pytest.raises(ValueError, match="optimizer"):
    harness.compile_sgd(harness.build(TINY, (8, 8), 10), 0.1, "lion")
  with pytest.raises(ValueError, match="unknown methods"):
    grid.run(["tiny"], [0.5], [0], ["magic"], str(tmp_path), str(tmp_path))


def test_overridden_grids_get_their_own_runs_but_share_the_dense_checkpoint():
  assert grid.with_overrides(TINY, {}) is TINY
  slow = grid.with_overrides(TINY, grid.parse_overrides(["threshold_lr_ratio=1e-6"]))
  assert (slow.name, slow.dense_name, slow.threshold_lr_ratio) == (
      "tiny+threshold_lr_ratio=1e-06", "tiny", 1e-6)
  longer = grid.with_overrides(TINY, {"dense_epochs": 3, "prune_epochs": 2})
  assert (longer.name, longer.dense_name) == ("tiny+dense_epochs=3,prune_epochs=2", "")


def test_ablations_can_run_on_fewer_seeds():
  specs = harness.grid_specs(["ltp", "ltp_unstab", "gmp"], [0.9], [0, 1], ablation_seeds=[0])
  assert [s for s in specs if s[0] == "ltp_unstab"] == [("ltp_unstab", None, 0),
                                                         ("ltp_unstab", 0.9, 0)]
  assert {s[2] for s in specs if s[0] in ("ltp", "gmp")} == {0, 1}
  assert len(specs) == 2 * 3 + 2  # ltp: natural + 0.9, gmp: 0.9, per seed; the ablation once.
  assert harness.grid_specs(["gmp"], [0.9], [0, 1]) == [("gmp", 0.9, 0), ("gmp", 0.9, 1)]
  assert harness.grid_specs(["ltp", "ltp_noreg"], [0.9], [0], natural=False) == [
      ("ltp", 0.9, 0), ("ltp_noreg", None, 0)]  # ltp_noreg has only its natural endpoint.


def test_a_run_that_diverges_is_recorded_not_fatal(tmp_path):
  blowup = dataclasses.replace(TINY, name="tiny_nan", learning_rate=1e12, dense_epochs=1)
  data = harness.load_data(blowup)
  result = harness.run_one(blowup, "ltp", None, 0, data, str(tmp_path))
  assert "non-finite" in result["diverged"] or "nan" in result["diverged"].lower()
  assert os.path.exists(tmp_path / "runs" / "tiny_nan_ltp_natural_seed0.json")
  (row,) = harness.aggregate([result])
  assert row["diverged"] == 1 and "stopped on NaN/Inf" in harness._notes(row)


def test_report_states_each_bar_as_met_or_missed_by_how_much():
  from benchmarks import report  # pylint: disable=g-import-not-at-top

  def row(method, compression, error, network="lenet300", std=0.0):
    return {"method": method, "target": 1 - 1 / compression, "compression_mean": compression,
            "error_mean": error, "accuracy_mean": 1 - error, "accuracy_std": std,
            "network": network}

  missed = report.bar_check("lenet300", [row("ltp", 20, 0.0178), row("ltp", 50, 0.0202)], 0.98)
  assert "**missed**" in missed[0] and "20.0× (1.78%" in missed[0] and "+0.22 pt" in missed[0]
  met = report.bar_check("lenet300", [row("ltp", 50, 0.0175, "lenet300_long")], 0.98)
  assert "**met**: 50.0× at 1.75% error (lenet300_long)" in met[0]
  assert report.bar_check("lenet300", [row("gmp", 50, 0.01)], 0.98) == []  # Not LTP's row.
  resnet = report.bar_check("resnet20", [row("ltp", 10, 0.095)], 0.906)
  assert "**met**" in resnet[0] and "(-0.10%)" in resnet[0]
  # One line per grid, each against its own dense starts.
  lucky = dict(row("ltp", 10, 0.09, "resnet20"), seeds=1, dense_accuracy_mean=0.906)
  today = dict(row("ltp", 10, 0.107, "resnet20+threshold_lr=7e-06"), seeds=3,
               dense_accuracy_mean=0.905)
  assert report.bar_check("resnet20", [today, lucky, row("ltp", 5, 0.08)], 0.906) == [
      "- ResNet-20 (BN) / Fashion-MNIST: >= 10× within 1 pt of dense, `ltp` (resnet20, 1 seeds):"
      " **met**: 10.0× at 0.9100 vs dense 0.9060 (+0.40%).",
      "- ResNet-20 (BN) / Fashion-MNIST: >= 10× within 1 pt of dense, `ltp` "
      "(resnet20+threshold_lr=7e-06, 3 seeds): **missed**: 10.0× at 0.8930 vs dense 0.9050 "
      "(-1.20%)."]
  assert "**missed**: 5.0×" in report.bar_check("resnet20", [row("ltp", 5, 0.08)], 0.906)[0]
  _, verdicts = report.matched([row("ltp", 50, 0.020, std=0.001), row("tfmot", 50, 0.0195),
                                row("gmp", 50, 0.025)])
  assert verdicts == [True, True]  # Behind TFMOT by less than the noise; ahead of GMP.
  _, verdicts = report.matched([row("ltp", 50, 0.020), row("tfmot", 50, 0.0195)])
  assert verdicts == [False]


def test_compact_bar_needs_every_target_and_a_lead_beyond_the_noise_at_3x():
  from benchmarks import report  # pylint: disable=g-import-not-at-top

  def row(method, target, accuracy, std=0.002):
    return {"method": method, "target": target, "accuracy_mean": accuracy,
            "accuracy_std": std, "seeds": 3}

  rows = [row("ltp", 0.5, 0.90), row("gmp", 0.5, 0.899), row("uniform", 0.5, 0.895),
          row("ltp", 2 / 3, 0.89), row("gmp", 2 / 3, 0.885), row("uniform", 2 / 3, 0.886)]
  (line,) = report.compact_bar("mnv2c", rows)
  assert "**met**" in line and "+0.50 pt vs GMP" in line and "**ahead by more" in line
  rows[3] = row("ltp", 2 / 3, 0.8855)  # Ahead of GMP by 0.05 pt, behind uniform by 0.05 pt.
  (line,) = report.compact_bar("mnv2c", rows)
  assert "**missed** (behind at 66.7% vs uniform by 0.05 pt)" in line
  assert "**not ahead by more than the noise**" in line
  table, verdicts = report.matched(rows)
  assert "| ltp − uniform |" in table[0] and verdicts == [True, True, True, True]
  assert report.compact_bar("mnv2c", [row("gmp", 0.5, 0.9)]) == []  # No LTP row: no line.
  # An --override grid says what it changed.
  (line,) = report.compact_bar("mnv2c+fraction_lambda=30", rows)
  assert line.startswith("- mnv2c+fraction_lambda=30, `ltp` with fraction_lambda=30: ")


def test_paired_differences_are_taken_seed_by_seed():
  from benchmarks import report  # pylint: disable=g-import-not-at-top
  runs = [{"method": m, "target": 2 / 3, "seed": s, "accuracy": a} for m, s, a in (
      ("ltp_frac", 0, 0.90), ("ltp_frac", 1, 0.80), ("ltp_frac", 2, 0.85),
      ("gmp", 0, 0.89), ("gmp", 1, 0.79), ("gmp", 2, 0.86), ("uniform", 0, 0.91))]
  lines = report.paired(runs)
  # Against GMP +1, +1, -1 pt: mean +0.33, std 1.155, se 0.67; uniform on seed 0 only.
  assert lines[-2] == "| 66.7% | +0.33 ± 0.67 pt (2 of 3) | -1.00 pt (0 of 1) |"
  assert report.paired([r for r in runs if r["method"] == "gmp"]) == []


def test_pooled_counts_every_network_and_seed_pair_once():
  from benchmarks import report  # pylint: disable=g-import-not-at-top

  def runs(*rows):
    return [{"method": m, "target": 0.25, "seed": s, "accuracy": a} for m, s, a in rows]

  grids = {"a": runs(("ltp_frac", 0, 0.90), ("gmp", 0, 0.89), ("ltp_frac", 1, 0.80),
                     ("gmp", 1, 0.81), ("uniform", 1, 0.78)),
           "b": runs(("ltp_frac", 0, 0.70), ("gmp", 0, 0.68)),
           "c": runs(("gmp", 0, 0.5))}  # No ltp_frac run: no pair.
  (line,) = report.pooled(grids)
  # Against GMP +1, -1, +2 pt: mean +0.67, std 1.53, se 0.88; uniform: +2 on one pair.
  assert line == ("- a, b, c pooled, `ltp_frac` minus each baseline seed by seed (mean ± "
                  "standard error over every network and seed): 25.0%: GMP +0.67 ± 0.88 pt "
                  "(3 pairs, ahead on 2), uniform +2.00 pt (1 pair, ahead on 1).")
  assert report.pooled({"c": grids["c"]}) == []


def test_split_distance_compares_the_per_tensor_splits_with_the_seed_spread():
  from benchmarks import report  # pylint: disable=g-import-not-at-top

  def run(method, seed, a, b, target=2 / 3):
    return {"method": method, "target": target, "seed": seed, "layers": {"a": a, "b": b}}

  runs = [run("ltp_frac", 0, 0.5, 0.9), run("ltp_frac", 1, 0.6, 0.8),
          run("gmp", 0, 0.5, 0.7), run("gmp", 1, 0.5, 0.7),
          run("uniform", 0, 0.7, 0.7), run("gmp", 0, 0.1, 0.1, target=0.5)]
  lines = report.split_distance(runs)
  # ltp - gmp: seed 0 (0 + 0.2) / 2, seed 1 (0.1 + 0.1) / 2: 0.1; uniform only on seed 0:
  # (0.2 + 0.2) / 2; ltp seed to seed (0.1 + 0.1) / 2; gmp 0. No ltp_frac run at 0.5: no row.
  assert lines[-2] == "| 66.7% | 2 | 0.100 | 0.200 | 0.100 | 0.000 |"
  assert len([line for line in lines if line.startswith("| 6")]) == 1
  assert report.split_distance([run("gmp", 0, 0.1, 0.1)]) == []

_KERAS3_GRID = """
import json, os, sys
import keras
from benchmarks import grid, harness
tiny = harness.Network("tiny", "mlp", "digits", dense_epochs=1, prune_epochs=3,
                       finetune_epochs=1, l0_lambda=3e-4, batch_size=64,
                       model_kwargs={"hidden": (32,)})
net = grid.with_overrides(tiny, grid.parse_overrides([f"keras3_backend={sys.argv[1]}",
                                                      "threshold_lr=5e-6"]))
assert isinstance(harness.build(net, (8, 8), 10), keras.Model)  # Keras 3's, not tf_keras'.
data = harness.load_data(net)
specs = harness.grid_specs(["ltp", "ltp_frac"], [0.7], [0], natural=False)
runs = harness.run_grid(net, specs, data, sys.argv[2], log=lambda line: None)
try:
  harness.run_one(net, "gmp", 0.7, 0, data, sys.argv[2])
except ValueError as e:
  refused = str(e)
print(json.dumps({"runs": runs, "refused": refused, "name": net.name,
                  "dense": sorted(os.listdir(os.path.join(sys.argv[2], "dense")))}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_keras3_grid_runs_ltp_on_each_backend(backend, tmp_path):
  import keras3_subprocess  # pylint: disable=g-import-not-at-top
  keras3_subprocess.skip_if_missing(backend)
  code = f"import sys; sys.argv = ['-', {backend!r}, {str(tmp_path)!r}]\n" + _KERAS3_GRID
  out = json.loads(keras3_subprocess.run_python(code, backend).strip().splitlines()[-1])
  assert out["name"] == f"tiny+keras3_backend={backend},threshold_lr=5e-06"
  assert out["dense"] == [f"{out['name']}_seed0.weights.h5", f"{out['name']}_seed0.weights.h5.json"]
  assert [r["method"] for r in out["runs"]] == ["ltp", "ltp_frac"]
  for r in out["runs"]:
    assert r["keras"].startswith("keras 3.") and r["keras"].endswith(f", {backend}")
    assert r["sparsity"] == pytest.approx(0.7, abs=0.01), r["method"]  # Landed on the target.
    assert r["accuracy"] > 0.8, r  # 8x8 digits, 32 hidden units: ~0.93 after 5 epochs.
    assert r["landing"]["sparsity"] == pytest.approx(r["sparsity"])
    assert "tflite" not in r and not r["diverged"]
  assert "tf_keras-only" in out["refused"] and "ltp_frac" in out["refused"]


def test_keras3_network_refuses_a_process_on_another_backend():
  import keras  # pylint: disable=g-import-not-at-top  (Keras 3: TensorFlow imported it already)
  other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
  with pytest.raises(ValueError, match=f"KERAS_BACKEND={other}"):
    harness.build(dataclasses.replace(TINY, keras3_backend=other), (8, 8), 10)
  assert harness.keras_of(TINY) is harness.keras  # tf_keras, as ever.


def test_keras3_table_sets_each_backend_beside_tf_keras_and_judges_by_seed_noise(tmp_path):
  from benchmarks import keras3_grid  # pylint: disable=g-import-not-at-top

  def run(accuracy, target=0.9, seed=0):
    return {"method": "ltp", "target": target, "seed": seed, "accuracy": accuracy,
            "sparsity": target, "compression": 1 / (1 - target), "dense_accuracy": 0.98,
            "fully_pruned_layers": [], "seconds": 100.0, "seconds_per_epoch": 10.0}

  reference = {"lenet300": [
      {"method": "ltp", "target": 0.9, "accuracy_mean": 0.980, "accuracy_std": 0.001,
       "seeds": 3},
      {"method": "ltp", "target": 0.95, "accuracy_mean": 0.980, "accuracy_std": 0.001,
       "seeds": 3},
      {"method": "tfmot", "target": 0.95, "accuracy_mean": 0.5, "accuracy_std": 0.0,
       "seeds": 3}]}
  found = {("lenet300", "tensorflow"): [run(0.9795), run(0.975, 0.95)],  # -0.05 pt; -0.5 pt.
           ("lenet300", "jax"): [run(0.9810)]}  # Ahead; its 95 % run is missing.
  lines, verdicts = keras3_grid.table(reference, found, ["tensorflow", "jax"])
  assert verdicts == [True, True, False]
  assert lines[2] == ("| lenet300 | 90% | 0.9800 ± 0.0010 (3) | 0.9795 ± 0.0000 (1) | "
                      "0.9810 ± 0.0000 (1) | -0.05% (ok) | +0.10% (ok) | 100 | 100 |")
  assert lines[3] == ("| lenet300 | 95% | 0.9800 ± 0.0010 (3) | 0.9750 ± 0.0000 (1) | not run | "
                      "-0.50% (**behind**) | - | 100 | - |")
  found[("lenet300", keras3_grid.TF_KERAS)] = [run(0.97)]  # The control: no verdict.
  lines, verdicts = keras3_grid.table(reference, found, ["tensorflow", keras3_grid.TF_KERAS])
  assert verdicts == [True, False] and "tf_keras now (seeds)" in lines[0]
  assert "-1.00% (**behind**)" in lines[2]
  found[("lenet300", keras3_grid.TF_KERAS)] = [run(0.9797, seed=s) for s in (0, 1)] + [
      run(0.9793, seed=2), run(0.9760, 0.95)]
  # 90 %: 0.9795 vs 0.9795 ± 0.0002 (ok); 95 %: 0.975 vs 0.976 (behind, no seed noise).
  assert keras3_grid.against_control(
      found, ["tensorflow", keras3_grid.TF_KERAS]) == [True, False]
  assert keras3_grid.against_control(found, ["tensorflow", "jax"]) == []
  assert "in 2 of 3 comparisons" in keras3_grid.markdown(  # JAX's 90 % run is ahead.
      [], [], "c", {}, [], "", keras3_grid.against_control(found, ["tensorflow", "jax",
                                                                    keras3_grid.TF_KERAS]))
  del found[("lenet300", keras3_grid.TF_KERAS)]
  keras3_grid.write(str(tmp_path), reference, found, ["tensorflow", "jax"], [0.9, 0.95], [0],
                    ["ltp"], {"threshold_lr": 5e-6}, "python benchmarks/keras3.py")
  text = (tmp_path / "keras3_lenets.md").read_text()
  assert "threshold_lr=5e-06" in text and "in 2 of 3 comparisons" in text
  assert "Not run: lenet300 on jax: 1 of 2 runs." in text
  with open(tmp_path / "keras3_lenets.json") as f:
    assert len(json.load(f)["runs"]) == 3
  command = keras3_grid.compare_command("jax", ["lenet5"], [0.95], [0], ["ltp"],
                                        ["threshold_lr=5e-6"], "/w")
  assert "--override=keras3_backend=jax,threshold_lr=5e-6" in command
  assert "--nonatural" in command and "--methods=ltp" in command
  control = keras3_grid.compare_command(keras3_grid.TF_KERAS, ["lenet5"], [0.95], [0], ["ltp"],
                                        ["threshold_lr=5e-6"], "/w")
  assert "--override=threshold_lr=5e-6" in control  # Today's tf_keras, same overrides.
  assert keras3_grid.network_of("lenet5", keras3_grid.TF_KERAS, {"threshold_lr": 5e-6}).name == (
      "lenet5+threshold_lr=5e-06")


def test_keras3_grid_gives_the_xla_flags_to_the_jax_process_only(monkeypatch):
  from benchmarks import keras3_grid  # pylint: disable=g-import-not-at-top
  envs = {}
  monkeypatch.setenv("XLA_FLAGS", "--a=1")
  monkeypatch.delenv("KERAS_BACKEND", raising=False)
  monkeypatch.setattr(keras3_grid.subprocess, "run",
                      lambda command, env, check: envs.setdefault(env.get("KERAS_BACKEND"), env))
  for backend in ["jax", "tensorflow", keras3_grid.TF_KERAS]:
    keras3_grid.run_backend(backend, ["lenet5"], [0.95], [0], ["ltp"], [], "/w",
                            xla_flags="--b=2")
  assert envs["jax"]["XLA_FLAGS"] == "--a=1 --b=2"
  assert envs["tensorflow"]["XLA_FLAGS"] == "--a=1"
  assert envs[None]["XLA_FLAGS"] == "--a=1" and "TF_USE_LEGACY_KERAS" not in envs[None]


def test_mask_cost_times_every_variant_on_the_networks_tensors(tmp_path):
  from benchmarks import mask_cost  # pylint: disable=g-import-not-at-top
  assert mask_cost.prunable_shapes("lenet300") == [(784, 300), (300, 100), (100, 10)]
  seconds = mask_cost.measure([(6, 4), (4, 2)], steps=2, rounds=2)
  assert sorted(seconds) == sorted(mask_cost.VARIANTS) and all(t > 0 for t in seconds.values())
  with pytest.raises(ValueError, match="--rounds must be >= 2"):
    mask_cost.measure([(6, 4)], steps=2, rounds=1)
  text = mask_cost.markdown({"net": {"weights": 32, "seconds": seconds}}, "cmd")
  assert "| net | 32 |" in text and "`cmd`" in text
  # The per-kernel chains compute what they are named after (NumPy oracles).
  x, y = np.array([0.2, 0.5, 0.9], np.float32), np.array([0.3, 0.1, 0.7], np.float32)
  oracles = [x * y, x - y[0], 1 / (1 + np.exp(-x)), x * (1 - x) * y, x + x.sum()]
  for op, want in zip(mask_cost.OPS.values(), oracles):
    np.testing.assert_allclose(np.asarray(op(tf.constant(x), tf.constant(y))), want, rtol=1e-6)
  us = mask_cost.op_times(64, steps=2, rounds=2, chain=3)
  assert list(us) == list(mask_cost.OPS) and all(np.isfinite(list(us.values())))
  text = mask_cost.markdown({"net": {"weights": 32, "seconds": seconds, "op_size": 64,
                                     "op_us": us}}, "cmd")
  assert "largest tensor (64 float32s)" in text and "| sigmoid (eq. 2) |" in text
