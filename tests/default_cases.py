"""The LTP defaults both Kerases must resolve alike (tests/test_sparsity_target.py and
tests/keras3_cases.py run ``check_regularizer_defaults`` on their own Keras)."""

import ltp_tf
from ltp_tf import wrapper as wrapper_lib

# prune_low_magnitude_learned's arguments -> (regularizer, l0_lambda) every wrapper gets.
REGULARIZER_DEFAULTS = (
    ({}, ("l0", wrapper_lib.DEFAULT_L0_LAMBDA)),                        # Natural mode: eq. (6).
    ({"target_sparsity": 0.5}, ("l0_fraction", wrapper_lib.DEFAULT_FRACTION_LAMBDA)),
    ({"target_sparsity": 0.5, "l0_lambda": 1e-4}, ("l0", 1e-4)),      # A raw-count lambda.
    ({"target_sparsity": 0.5, "regularizer": "l0"}, ("l0", wrapper_lib.DEFAULT_L0_LAMBDA)),
    ({"regularizer": "l0_fraction"}, ("l0_fraction", wrapper_lib.DEFAULT_FRACTION_LAMBDA)),
    ({"regularizer": "l2", "target_sparsity": 0.5}, ("l2", wrapper_lib.DEFAULT_L0_LAMBDA)),
)


def check_regularizer_defaults(make_model, wrapper_cls):
  """Every case above on ``make_model()``, and the resolved values survive get_config."""
  for kwargs, expected in REGULARIZER_DEFAULTS:
    pruned = ltp_tf.prune_low_magnitude_learned(make_model(), **kwargs)
    for w in ltp_tf.collect_wrappers(pruned):
      got = (w.regularizer, w._l0_lambda_init)  # pylint: disable=protected-access
      assert got == expected, (kwargs, w.name, got)
      config = w.get_config()
      assert (config["regularizer"], config["l0_lambda"]) == expected
      again = wrapper_cls.from_config(config)
      assert (again.regularizer, again._l0_lambda_init) == expected  # pylint: disable=protected-access
