"""ltp_tf: Learned Threshold Pruning (Azarian et al., arXiv:2003.00075) for tf_keras + TFMOT.

LTP is patented (US 11,704,571 B2, Qualcomm); see the README.
"""

from ltp_tf._keras import keras  # noqa: F401  (tf_keras; imports no Keras 3, sets no env)
from ltp_tf import models  # noqa: F401  (registers its weightless custom layers for loading)
from ltp_tf.callbacks import LTPPruningSchedule
from ltp_tf.callbacks import LTPSummaries
from ltp_tf.export import evaluate_tflite
from ltp_tf.export import export_tflite
from ltp_tf.prune import collect_wrappers
from ltp_tf.prune import hard_prune
from ltp_tf.prune import prune_low_magnitude_learned
from ltp_tf.prune import prune_scope
from ltp_tf.prune import strip_pruning
from ltp_tf.report import sparsity_report
from ltp_tf.tflite_inspect import tflite_weights
from ltp_tf.threshold_update import install as install_threshold_update
from ltp_tf.tfmot_interop import quantize_preserving_sparsity
from ltp_tf.tfmot_interop import to_tfmot
from ltp_tf.wrapper import PruneLearnedThreshold

from ltp_tf import _flavour  # noqa: E402

if _flavour.keras3() is not None:  # TensorFlow imports Keras 3 already: no import of ours.
  # Registers the Keras 3 wrapper for keras.saving.load_model of pruned .keras files.
  from ltp_tf.keras3 import wrapper as _keras3_wrapper  # noqa: F401,E402

__version__ = "0.1.0"

__all__ = [
    "LTPPruningSchedule",
    "LTPSummaries",
    "PruneLearnedThreshold",
    "collect_wrappers",
    "evaluate_tflite",
    "export_tflite",
    "hard_prune",
    "install_threshold_update",
    "prune_low_magnitude_learned",
    "prune_scope",
    "quantize_preserving_sparsity",
    "sparsity_report",
    "strip_pruning",
    "tflite_weights",
    "to_tfmot",
]
