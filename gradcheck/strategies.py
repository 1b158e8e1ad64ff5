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

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from .layers import REGISTRY, Layer, layer as make_layer

DATA_KINDS = ("integer", "rational", "float")


@dataclass(frozen=True)
class Example:
    """One drawn case: a configured layer, its inputs (in call order) and an upstream gradient."""

    layer: Layer
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


def _check_bound(name, value, low, high=None):
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        allowed = f"an int >= {low}" + (f" and <= {high}" if high is not None else "")
        raise InvalidArgument(f"{name}={value!r} is not allowed: {name} must be {allowed}")


def _per_axis(draw, name, fixed, strategy, spatial):
    if name in fixed:
        return fixed[name]
    return tuple(draw(strategy) for _ in range(spatial))


def conv_configs(*, spatial: int = 2, max_batch: int = 2, max_channels: int = 4, max_side: int = 10,
                 max_kernel: int = 5, max_stride: int = 3, max_padding: int = 2, max_dilation: int = 3,
                 bias: bool | None = None, **fixed):
    """A convolution layer and input shapes that fit it: ``(layer, shapes)``.

    Defaults: batch 1–``max_batch`` (2), channels 1–``max_channels`` (4) with groups dividing C_in and
    C_out, spatial sides 1–``max_side`` (10), kernel 1–``max_kernel`` (5) with its dilated extent fitting
    the padded input, stride 1–``max_stride`` (3), padding 0–``max_padding`` (2) per side, 'valid' or
    'same', dilation 1–``max_dilation`` (3). ``bias``: True/False to hold, None to draw.
    """
    for name, value in [("max_batch", max_batch), ("max_channels", max_channels), ("max_side", max_side),
                        ("max_kernel", max_kernel), ("max_stride", max_stride), ("max_dilation", max_dilation)]:
        _check_bound(name, value, 1)
    _check_bound("max_padding", max_padding, 0)
    name = {1: "conv1d", 2: "conv2d"}.get(spatial)
    if name is None:
        raise InvalidArgument(f"spatial={spatial!r} is not allowed: spatial must be 1 or 2")
    held = make_layer(name, **fixed).params if fixed else {}  # validates the held parameters at once
    held = {k: v for k, v in held.items() if k in fixed}
    return _conv_configs(name, spatial, max_batch, max_channels, max_side, max_kernel, max_stride, max_padding,
                         max_dilation, bias, held)


@st.composite
def _conv_configs(draw, name, spatial, max_batch, max_channels, max_side, max_kernel, max_stride, max_padding,
                  max_dilation, bias, held):
    groups = held.get("groups") or draw(st.integers(1, max_channels))
    c_in = groups * draw(st.integers(1, max(1, max_channels // groups)))
    c_out = groups * draw(st.integers(1, max(1, max_channels // groups)))
    stride = _per_axis(draw, "stride", held, st.integers(1, max_stride), spatial)
    dilation = _per_axis(draw, "dilation", held, st.integers(1, max_dilation), spatial)
    if "padding" in held:
        padding = held["padding"]
    else:
        padding = draw(st.one_of(st.tuples(*[st.integers(0, max_padding)] * spatial),
                                 st.just("valid"), st.just("same")))
    sides, kernel = [], []
    for axis in range(spatial):
        side = draw(st.integers(1, max_side))
        pads = 0 if padding in ("valid", "same") else 2 * padding[axis]
        room = side + pads if padding != "same" else side + (max_kernel - 1) * dilation[axis]  # 'same' always fits
        kernel.append(draw(st.integers(1, max(1, min(max_kernel, (room - 1) // dilation[axis] + 1)))))
        sides.append(side)
    layer = make_layer(name, stride=stride, padding=padding, dilation=dilation, groups=groups)
    batch = draw(st.integers(1, max_batch))
    shapes = {"x": (batch, c_in, *sides), "w": (c_out, c_in // groups, *kernel)}
    if bias if bias is not None else draw(st.booleans()):
        shapes["b"] = (c_out,)
    return layer, shapes


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
    values = st.fractions(min_value, max_value, max_denominator=6)
    return st.lists(values, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))).map(
        lambda v: np.array([Fraction(x) for x in v] or [], dtype=object).reshape(shape))


CONFIGS = {"conv1d": lambda **kw: conv_configs(spatial=1, **kw),
           "conv2d": lambda **kw: conv_configs(spatial=2, **kw)}


def examples(layer: str, *, kind: str = "integer", bounds: dict | None = None, **fixed):
    """An :class:`Example` of a registered layer: drawn configuration, inputs and upstream gradient.

    ``kind`` is the data kind (see :func:`arrays`); ``bounds`` are passed to the layer's configuration
    strategy (e.g. ``{"max_side": 6}``); ``**fixed`` holds layer parameters.
    """
    if layer not in REGISTRY:
        raise InvalidArgument(f"layer={layer!r} is not registered; layers: {', '.join(sorted(REGISTRY))}")
    arrays((1,), kind=kind)  # validates kind at once
    return _examples(CONFIGS[layer](**(bounds or {}), **fixed), kind)


@st.composite
def _examples(draw, configs, kind):
    configured, shapes = draw(configs)
    inputs = tuple(draw(arrays(shape, kind=kind)) for shape in shapes.values())
    grad_out = draw(arrays(configured.output_shape(shapes), kind=kind))
    return Example(configured, inputs, grad_out)


__all__ = ["CONFIGS", "Example", "arrays", "conv_configs", "examples"]
