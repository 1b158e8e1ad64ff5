"""Hypothesis building blocks the layers' own strategies are written with: bounds checked at once, small
arrays of integers, rationals or floats, per-axis parameters, held parameters.

This module knows no layer registry (the layers import it; :mod:`gradcheck.strategies`, which draws from the
registry, re-exports what is public here), so there is no import cycle between the layers and the strategies.
"""
from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

DATA_KINDS = ("integer", "rational", "float")


def check_bound(name, value, low, high=None):
    """Raise InvalidArgument at once when a strategy bound is not an int in [low, high]."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        allowed = f"an int >= {low}" + (f" and <= {high}" if high is not None else "")
        raise InvalidArgument(f"{name}={value!r} is not allowed: {name} must be {allowed}")


def arrays(shape, *, kind: str = "integer", min_value: int = -3, max_value: int = 3):
    """Arrays of ``shape`` holding small numbers of one kind.

    ``kind``: "integer" (int64 in [min_value, max_value], zeros and repeated values are frequent),
    "rational" (Fractions with denominators up to 6 in that range, object dtype) or "float" (float64,
    0 or of magnitude at least 2**-10).
    """
    if kind not in DATA_KINDS:
        raise InvalidArgument(f"kind={kind!r} is not allowed: kind must be one of {', '.join(DATA_KINDS)}")
    if min_value > max_value:
        raise InvalidArgument(f"min_value={min_value!r} > max_value={max_value!r}")
    if kind == "integer":
        return hnp.arrays(np.int64, shape, elements=st.integers(min_value, max_value))
    if kind == "float":
        # Magnitudes below 2**-10 become 0: finite differences cannot resolve 1e-193 next to 1.
        floats = st.floats(min_value, max_value, allow_subnormal=False).map(lambda v: v if abs(v) >= 2**-10 else 0.0)
        return hnp.arrays(np.float64, shape, elements=floats)
    # One integer array of indices into a table of Fractions, instead of st.fractions element by element
    # (which builds a new strategy per element: ~80% of the time of the rational property tests). The table
    # holds, for each denominator q = 1..6, the values round(k·q/6)/q of the 6·(max−min)+1 steps k/6 of the
    # range: uniform indices draw denominators uniformly and values evenly, as st.fractions does (zeros,
    # integers and repeats stay frequent). No fill value: every element is drawn, so arrays are rarely
    # constant. The table is ordered by denominator, then |value|, so data shrinks as st.fractions' does:
    # to smaller denominators, then towards zero.
    table = _rational_table(min_value, max_value)
    return hnp.arrays(np.int64, shape, elements=st.integers(0, len(table) - 1), fill=st.nothing()).map(
        lambda index: _take(table, index))


@functools.lru_cache(maxsize=None)
def _rational_table(min_value: int, max_value: int) -> np.ndarray:
    """round(k·q/6)/q for q = 1..6 and k = 6·min_value..6·max_value (an object array of Fractions, repeats
    kept), ordered by q, then |value|, positive first."""
    steps = sorted(range(6 * min_value, 6 * max_value + 1), key=lambda k: (abs(k), k < 0))
    table = np.empty(6 * len(steps), dtype=object)
    table[:] = [Fraction(round(Fraction(k * q, 6)), q) for q in range(1, 7) for k in steps]
    return table


def _take(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    out = np.empty(index.shape, dtype=object)  # also for shape (): table[index] is then a bare Fraction
    out[...] = table[index]
    return out


def per_axis(draw, name, held, strategy, spatial):
    """A held per-axis parameter as it is, or one drawn value per spatial axis."""
    if name in held:
        return held[name]
    return tuple(draw(strategy) for _ in range(spatial))


def held_params(layer_class, held: dict, **stand_ins) -> dict:
    """The caller's held parameters, validated at once by the layer class (its schema: ConfigError naming the
    value and what is allowed) and normalised. ``stand_ins`` stand in, while validating only, for parameters the
    layer requires (a pool's kernel_size) or that a held one must fit (a transposed convolution's stride)."""
    if not held:
        return {}
    return {k: v for k, v in layer_class(**{**stand_ins, **held}).params.items() if k in held}


__all__ = ["DATA_KINDS", "arrays", "check_bound", "held_params", "per_axis"]
