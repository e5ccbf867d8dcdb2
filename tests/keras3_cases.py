"""Keras 3 tests, run once per backend in a subprocess by tests/test_keras3.py."""
