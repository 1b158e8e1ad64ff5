"""Public Hypothesis strategies: layer configurations, and data to run them on.

>>> from hypothesis import given
>>> import gradcheck as gc
>>> from gradcheck.strategies import examples
>>> @given(examples("conv2d", stride=2))
... def test_conv2d_stride_2(example):
...     assert gc.verify(example.layer, *example.inputs, grad_out=example.grad_out).ok

Every strategy takes keyword-only bounds with documented defaults; a bad bound raises
``hypothesis.errors.InvalidArgument`` at once, naming the value. Parameters given as ``**fixed`` are held
(and validated by the layer at once: ``ConfigError``); the others are drawn.

How examples shrink: sizes shrink towards 1, strides, dilations and groups towards 1, kernels towards 1,
padding towards 0, the bias towards absent, and data towards 0 — so a failure is reported on the
smallest configuration and the simplest data that still fail.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

DATA_KINDS = ("integer", "rational", "float")


@dataclass(frozen=True)
class Example:
    """One drawn case: a configured layer, its inputs (in call order) and an upstream gradient."""

    layer: "Layer"  # noqa: F821  (gradcheck.layers imports this module)
    inputs: tuple[np.ndarray, ...]
    grad_out: np.ndarray

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: a.shape for name, a in zip(self.layer.inputs, self.inputs)}

    def __repr__(self) -> str:
        names = self.layer.inputs[:len(self.inputs)] + ("grad_out",)
        with np.printoptions(threshold=10_000, linewidth=120):
            data = "\n".join(f"  {name} = {np.array2string(np.asarray(a), separator=', ')}"
                             for name, a in zip(names, self.inputs + (self.grad_out,)))
        return f"Example({self.layer!r}, shapes {self.shapes})\n{data}"


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


def held_params(layer_name: str, fixed: dict) -> dict:
    """The caller's held parameters, validated at once by the layer (ConfigError) and normalised."""
    from .layers import layer as make_layer

    if not fixed:
        return {}
    return {k: v for k, v in make_layer(layer_name, **fixed).params.items() if k in fixed}


def configs(layer: str, **bounds_and_fixed):
    """``(layer, shapes)`` pairs of a registered layer: its own configuration strategy (``Layer.configs``).

    Keyword arguments are the strategy's bounds (``max_side``, ...) and held layer parameters.
    """
    from .layers import REGISTRY

    if layer not in REGISTRY:
        raise InvalidArgument(f"layer={layer!r} is not registered; layers: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[layer].configs(**bounds_and_fixed)


def examples(layer: str, *, kind: str = "integer", bounds: dict | None = None, **fixed):
    """An :class:`Example` of a registered layer: drawn configuration, inputs and upstream gradient.

    ``kind`` is the data kind (see :func:`arrays`); ``bounds`` are passed to the layer's configuration
    strategy (e.g. ``{"max_side": 6}``); ``**fixed`` holds layer parameters. Inputs that are not data
    (class targets, pooling indices) are drawn by the layer itself (``Layer.input_strategy``).
    """
    arrays((1,), kind=kind)  # validates kind at once
    return _examples(configs(layer, **(bounds or {}), **fixed), kind)


@st.composite
def _examples(draw, configs, kind):
    configured, shapes = draw(configs)
    inputs = tuple(draw(configured.input_strategy(name, shapes, kind)) for name in shapes)
    grad_out = draw(arrays(configured.output_shape(shapes), kind=kind))
    return Example(configured, inputs, grad_out)


def __getattr__(name):
    # conv_configs lives with the convolution layer (gradcheck.layers.conv); re-exported here lazily
    # because gradcheck.layers imports this module.
    if name == "conv_configs":
        from .layers.conv import conv_configs
        return conv_configs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Example", "arrays", "check_bound", "configs", "conv_configs", "examples", "held_params", "per_axis"]
