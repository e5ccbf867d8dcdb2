"""``python -m ltp_tf_cli``: the same as ``ltp-train``."""

from ltp_tf_cli import train

if __name__ == "__main__":
  train()
