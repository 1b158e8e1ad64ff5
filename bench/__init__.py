"""Benchmarks against the peers (not part of the test run): ``python -m bench`` (see bench/__main__.py).

peers.py   the checks compared (gradcheck's exact and numpy=jax checks, torch.autograd.gradcheck slow
           and fast, jax.test_util.check_grads, NumPy vs XLA backward) and the benchmarked cases
table.py   the cases and the one table, printed as Markdown
fresh.py   throughput of the full default check on fresh configurations; how the JAX oracle compiles
growth.py  exact-check time and memory vs the number of terms, and its plot
measure.py wall time and peak memory of one cell
"""
