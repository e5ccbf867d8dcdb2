"""Runs the LTP pipeline; same as the ``ltp-train`` console script. See ltp_tf/cli.py."""

from ltp_tf_cli import train

if __name__ == "__main__":
  train()
