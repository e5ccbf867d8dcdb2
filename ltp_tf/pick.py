"""Pick the sparsest network of an LTP trail within an accuracy budget, and ship it."""

import json
import os
import types

from ltp_tf import export
from ltp_tf import prune
from ltp_tf import report as report_lib
from ltp_tf import trail
from ltp_tf import train_lib


def _load_config(workdir):
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise ValueError(f"{workdir} has no config.json: run ltp-train with this --workdir first.")
  with open(path) as f:
    return types.SimpleNamespace(**json.load(f))


def pick(workdir, max_accuracy_drop=0.01, finetune_epochs=0, verbose=2):
  """Selects, hard-prunes, optionally fine-tunes, strips and exports a trail checkpoint.

  Accuracies are on the run's evaluation split (the test set for MNIST-likes and CIFAR, the
  validation set for ImageNet), as in the trail; the reference is the dense stage's. The
  selection uses the soft-pruned checkpoint's accuracy; after the hard prune (and fine-tuning)
  the result's ``within_budget`` says whether the shipped model still meets the budget.
  Writes ``workdir/picked/``: the stripped ``model.keras``, ``model_sparse.tflite``,
  ``picked.json``.

  Args:
    workdir: the workdir of an ``ltp-train`` run (with a trail).
    max_accuracy_drop: largest allowed drop of validation accuracy below the dense model's.
    finetune_epochs: epochs of fine-tuning (mask frozen) after the hard prune.
    verbose: Keras verbosity.

  Returns:
    A dict: the chosen trail entry and the picked model's accuracy, sparsity and size.
  """
  if isinstance(finetune_epochs, bool) or not isinstance(finetune_epochs, int) or \
      finetune_epochs < 0:
    raise ValueError(f"finetune_epochs must be a non-negative int, got {finetune_epochs!r}")
  config = _load_config(workdir)
  state = trail.read_json(os.path.join(workdir, "state.json"), {})
  dense = state.get("stages", {}).get("dense")
  if dense is None:
    raise ValueError(f"{workdir}/state.json has no dense accuracy: the run did not finish "
                     "its dense stage.")
  entry = trail.select(trail.read_trail(workdir), dense["accuracy"], max_accuracy_drop)
  data_ = train_lib.Data(config)
  _, pruned = train_lib.build_pruned_model(config, data_)
  pruned.load_weights(os.path.join(workdir, trail.TRAIL_DIR, entry["weights"]))
  prune.hard_prune(pruned)
  config.verbose = verbose
  train_lib._compile(pruned, config, finetune_epochs, data_)  # pylint: disable=protected-access
  hard_accuracy = float(pruned.evaluate(data_.eval, verbose=0)[1])
  out = os.path.join(workdir, "picked")
  if finetune_epochs:
    # Its own folder per (entry, epochs): a later pick never resumes another pick's run.
    run = train_lib.Run(config, os.path.join(
        out, f"finetune_epoch{entry['epoch']:03d}_for{finetune_epochs}"))
    from ltp_tf import callbacks  # pylint: disable=g-import-not-at-top
    run.fit(pruned, "finetune", finetune_epochs, data_, callbacks=[callbacks.LTPPruningSchedule()])
  stripped = prune.strip_pruning(pruned)
  os.makedirs(out, exist_ok=True)
  stripped.save(os.path.join(out, "model.keras"))
  tflite = export.export_tflite(stripped, os.path.join(out, "model_sparse.tflite"))
  result = {
      "entry": entry, "reference_accuracy": dense["accuracy"],
      "max_accuracy_drop": max_accuracy_drop, "finetune_epochs": finetune_epochs,
      "hard_accuracy": hard_accuracy,
      "accuracy": float(pruned.evaluate(data_.eval, verbose=0)[1]),
      "tflite_accuracy": export.evaluate_tflite(tflite, data_.eval)["accuracy"],
      "sparsity": report_lib.sparsity_report(stripped).sparsity, "tflite_bytes": len(tflite)}
  result["within_budget"] = (result["accuracy"] >=
                             dense["accuracy"] - max_accuracy_drop)
  if not result["within_budget"]:
    print(f"WARNING: after the hard prune the picked model's accuracy {result['accuracy']:.4f} "
          f"is below the budget {dense['accuracy'] - max_accuracy_drop:.4f}; fine-tune it "
          "(--finetune_epochs) or allow a larger drop.")
  with open(os.path.join(out, "picked.json"), "w") as f:
    json.dump(result, f, indent=1)
  print(json.dumps(result, indent=1))
  return result
