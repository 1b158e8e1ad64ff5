"""Time of the exact symbolic check: derive the gradient plan from the SymPy rule, then evaluate it.

    python -m bench.sympy_oracle

Each case is timed cold (a fresh plan: rule instantiation + sympy.diff of the summand + lambdify) and
warm (the cached plan, evaluation only), on small-integer data so the result is exact, and checked
against the NumPy backward. Targets from the foundation issue: medium < 1 s, large < 10 s.
"""
from __future__ import annotations

import time

import numpy as np

import gradcheck as gc
from gradcheck import symbolic

CASES = [  # name, x shape, w shape, stride, padding, target seconds
    ("medium", (1, 3, 16, 16), (4, 3, 3, 3), 1, 1, 1.0),
    ("large", (2, 8, 32, 32), (8, 8, 3, 3), 2, 1, 10.0),
]


def run_case(x_shape, w_shape, stride, padding):
    rng = np.random.default_rng(0)
    layer = gc.layer("conv2d", stride=stride, padding=padding)
    x, w, b = rng.integers(-3, 4, x_shape), rng.integers(-3, 4, w_shape), rng.integers(-3, 4, w_shape[0])
    inputs = {"x": x, "w": w, "b": b}
    g = rng.integers(-3, 4, layer.output_shape({k: v.shape for k, v in inputs.items()}))
    start = time.perf_counter()
    plan = symbolic.plan(layer, {k: v.shape for k, v in inputs.items()})
    derived = time.perf_counter()
    exact = symbolic.gradients(layer, inputs, g)
    cold = time.perf_counter()
    symbolic.gradients(layer, inputs, g)
    warm = time.perf_counter() - cold
    agree = all(np.array_equal(exact[k].astype(np.int64), ref)
                for k, ref in zip(inputs, layer.numpy_backward(g, x, w, b)))
    return plan.n_terms, derived - start, cold - derived, warm, agree


def main():
    header = f"{'case':8} {'x / w, stride, pad':34} {'terms':>8} {'derive':>8} {'evaluate':>9} {'total':>8} " \
             f"{'warm':>7} {'target':>7}  exact==numpy"
    print(header)
    for name, xs, ws, s, p, target in CASES:
        terms, derive, evaluate, warm, agree = run_case(xs, ws, s, p)
        total = derive + evaluate
        print(f"{name:8} {f'{xs} / {ws}, {s}, {p}':34} {terms:>8,} {derive:>7.3f}s {evaluate:>8.3f}s {total:>7.3f}s "
              f"{warm:>6.3f}s {f'<{target:g}s':>7}  {'yes' if agree else 'NO'}"
              f"{'' if total < target else '  (target missed)'}")


if __name__ == "__main__":
    main()
