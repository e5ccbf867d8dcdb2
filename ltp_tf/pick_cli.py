"""The ``ltp-pick`` binary: the sparsest trail checkpoint within an accuracy budget, shipped.

  ltp-pick --workdir=/tmp/ltp_mnist --max_accuracy_drop=0.01 [--finetune_epochs=2]
"""

from absl import app
from absl import flags
from absl import logging

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of an ltp-train run.", required=True)
_DROP = flags.DEFINE_float("max_accuracy_drop", 0.01,
                           "Largest allowed validation-accuracy drop below the dense model.")
_FINETUNE = flags.DEFINE_integer("finetune_epochs", 0, "Fine-tuning epochs after the pick.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  from ltp_tf import pick  # pylint: disable=g-import-not-at-top
  pick.pick(_WORKDIR.value, _DROP.value, _FINETUNE.value)


def run():
  app.run(main)


if __name__ == "__main__":
  run()
