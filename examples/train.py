"""Runs the LTP pipeline; same as the ``ltp-train`` console script. See ltp_tf/cli.py."""

from ltp_tf import cli

if __name__ == "__main__":
  cli.run()
