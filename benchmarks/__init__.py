"""Benchmark scripts of ltp_tf (not part of the installed package; run from the repo root)."""
