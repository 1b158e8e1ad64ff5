"""The one place where float tolerances are defined.

Exact oracles on integer or rational data are compared with ``==`` (no tolerance at all). Everything
else is compared elementwise as

    |a − b| ≤ rtol · (|b| + scale),   scale = max |b| over the whole gradient array,

where ``scale`` keeps elements that cancel to (almost) zero from demanding impossible relative accuracy.
``scale`` is at least the layer's ``gradient_scale`` — by default ``term_scale`` (max |grad_out| ·
max(1, max |input|)), the size of the terms each gradient element sums: when a whole gradient cancels to zero (softmax under a constant upstream
gradient) float64 leaves residues of order eps·|terms| and max |b| is no scale at all.
``rtol`` follows from the machine epsilon of the less precise of the two results:

- an oracle computing in a float dtype:   rtol = eps ** (3/4)   (float64: 1.8e-12, float32: 6.4e-6)
- central finite differences (float64):  rtol = eps ** (1/2)   (1.5e-8; step h = eps ** (1/3)·max(1, |x|))
"""
from __future__ import annotations

import numpy as np

FD_STEP_EXPONENT = 1 / 3


def rtol_for(dtype) -> float:
    """Relative tolerance for a result computed in ``dtype`` (0.0 for exact object/int results)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        return 0.0
    return float(np.finfo(dtype).eps) ** 0.75


def rtol_finite_differences() -> float:
    return float(np.finfo(np.float64).eps) ** 0.5


def fd_step(value: float) -> float:
    return float(np.finfo(np.float64).eps) ** FD_STEP_EXPONENT * max(1.0, abs(value))


def term_scale(grad_out, inputs) -> float:
    """max |grad_out| · max(1, max |input|): the magnitude of the terms a gradient element sums."""
    def largest(a):
        return float(np.max(np.abs(np.asarray(a, dtype=np.float64)), initial=0.0))
    return largest(grad_out) * max([1.0] + [largest(a) for a in inputs])


def within(a: np.ndarray, b: np.ndarray, rtol: float, scale: float = 0.0) -> np.ndarray:
    """Elementwise agreement of ``a`` with reference ``b``: exact when rtol == 0, else the rule above."""
    if rtol == 0.0:
        return np.asarray(a == b, dtype=bool).reshape(np.shape(b))
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(scale, float(np.max(np.abs(b64), initial=0.0)))
    return np.abs(a64 - b64) <= rtol * (np.abs(b64) + scale)

# Grading course answers (gradcheck.grading): results of exercises with float layers (exp, log) are computed
# in float64 and a given answer is held to this relative tolerance unless the case file sets its own.
GRADING_RTOL = 1e-9
