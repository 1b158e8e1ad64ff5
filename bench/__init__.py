"""Benchmarks (not part of the test run). Run one with ``python -m bench.sympy_oracle``."""
