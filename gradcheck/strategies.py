"""Public Hypothesis strategies: layer configurations, and data to run them on.

>>> from hypothesis import given
>>> import gradcheck as gc
>>> from gradcheck.strategies import examples
>>> @given(examples("conv2d", stride=2))
... def test_conv2d_stride_2(example):
...     assert gc.verify(example.layer, *example.inputs, grad_out=example.grad_out).ok

Every strategy takes keyword-only bounds with documented defaults; a bad bound raises
``hypothesis.errors.InvalidArgument`` at once, naming the value. Parameters given as ``**held`` are held
(and validated by the layer at once: ``ConfigError``; a set holds one of its values per example); the others
are drawn inside torch.nn.functional's domain unless ``extensions=True``; ``where(layer, shapes)`` narrows the
scope further, and a configured Layer (or ``gc.sequential`` chain) in place of a name holds everything but shapes.

How examples shrink: sizes shrink towards 1, strides, dilations and groups towards 1, kernels towards 1,
padding towards 0, the bias towards absent, and data towards 0 — so a failure is reported on the
smallest configuration and the simplest data that still fail.
"""
from __future__ import annotations

import functools
import inspect
import itertools
from dataclasses import dataclass

import numpy as np
from hypothesis import assume, strategies as st
from hypothesis.errors import InvalidArgument

from .drawing import DATA_KINDS, arrays, check_bound, per_axis
from .errors import ConfigError, GradcheckError
from .layers import REGISTRY, Layer, layer as make_layer
from .layers.conv import conv_configs

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


def _order(value):
    """Sort key for the allowed values of a held set: ints first, in order, then the rest by repr."""
    return (0, value, "") if isinstance(value, int) and not isinstance(value, bool) else (1, 0, repr(value))


def held_params(layer_name: str, held: dict, **stand_ins) -> dict:
    """The caller's held parameters, validated at once by the layer (its schema: ConfigError naming the value and
    what is allowed) and normalised. ``stand_ins`` stand in, while validating only, for parameters the layer
    requires (a pool's kernel_size) or that a held one must fit (a transposed convolution's stride)."""
    if not held:
        return {}
    return {k: v for k, v in make_layer(layer_name, **{**stand_ins, **held}).params.items() if k in held}


def registered_name(layer) -> str:
    """The registered name of ``layer`` (a name, or a configured :class:`Layer`); InvalidArgument if unknown."""
    name = layer.name if isinstance(layer, Layer) else layer
    if name not in REGISTRY:
        raise InvalidArgument(f"layer={layer!r} is not registered; layers: {', '.join(sorted(REGISTRY))}")
    return name


def configs(layer, *, where=None, extensions: bool = False, **bounds_and_held):
    """``(layer, shapes)`` pairs of a registered layer: its own configuration strategy (``Layer.configs``).

    ``layer`` is a registered name, or a configured :class:`Layer`: then every parameter is held (it is the
    layer drawn) and only the shapes are drawn. Keyword arguments are the strategy's bounds (``max_side``,
    ...) and held layer parameters; a held parameter given as a set or frozenset holds it to those values
    (each validated by the layer at once, one drawn per example, shrinking towards the smallest).
    ``extensions=True`` also draws what torch.nn.functional does not allow (TensorFlow 'SAME' pooling,
    'same' with a stride, split max-pool ties) for the layers that have such extensions; held values are
    always honoured. ``where(layer, shapes) -> bool`` keeps only the configurations inside a declared scope.
    """
    if isinstance(layer, Layer) and hasattr(layer, "stages"):  # a gc.sequential chain: its stages are held
        if bounds_and_held:
            raise ConfigError(f"{sorted(bounds_and_held)[0]}=...: a chain holds its stages' parameters; bounds and "
                              "held parameters apply to a single layer")
        strategy = _chain_configs(layer, extensions)
        return strategy if where is None else strategy.filter(lambda c: where(*c))
    name = registered_name(layer)
    build = REGISTRY[name].configs
    if extensions and "extensions" in inspect.signature(build).parameters:
        build = functools.partial(build, extensions=True)
    if isinstance(layer, Layer):
        overlap = sorted(set(bounds_and_held) & set(layer.params))
        if overlap:
            raise ConfigError(f"{overlap[0]}={bounds_and_held[overlap[0]]!r}: {layer!r} already holds its "
                              "parameters; pass a layer name to draw them, or configure the layer as you want it")
        strategy = build(**bounds_and_held, **layer.params).map(lambda c: (layer, c[1]))
    else:
        strategy = _with_sets(name, build, bounds_and_held)
    if where is not None:
        if not callable(where):
            raise ConfigError(f"where={where!r} is not allowed: it must be a function (layer, shapes) -> bool")
        strategy = strategy.filter(lambda c: where(*c))
    return strategy


@st.composite
def _chain_configs(draw, chain, extensions):
    """Shapes for a fixed chain: each stage's own inputs drawn by its strategy (its parameters held), their
    sizes carried over to the shape the previous stage gives it; the stage's own check_shapes has the last word."""
    shapes, current = {}, None
    for k, stage in enumerate(chain.stages):
        first = stage.inputs[0]
        own = dict(chain.own[k])
        bias = {"bias": "b" in own} if "b" in stage.inputs and stage.name != "batch_norm" else {}
        _, drawn = draw(configs(stage, extensions=extensions, **bias))
        if k == 0:
            current = shapes["x"] = drawn[first]
        sizes = dict(zip(drawn[first], current)) if len(drawn[first]) == len(current) else {}
        local = {first: current}
        for name, chain_name in own.items():
            if name not in drawn:
                assume(False)  # the stage's strategy left out an input this chain has
            local[name] = shapes[chain_name] = tuple(sizes.get(d, d) for d in drawn[name])
        try:
            stage.check_shapes(local)
            current = stage.output_shape(local)
        except GradcheckError:
            assume(False)
    return chain, {name: shapes[name] for name in chain.inputs}


def _with_sets(name, build, kwargs):
    """``build(**kwargs)``, where a set-valued keyword holds its parameter to one of the set's values."""
    sets = {k: sorted(v, key=_order) for k, v in kwargs.items() if isinstance(v, (set, frozenset))}
    if not sets:
        return build(**kwargs)
    plain = {k: v for k, v in kwargs.items() if k not in sets}
    for key, values in sets.items():
        if not values:
            raise ConfigError(f"{key}=set() is not allowed: a set of allowed values must hold at least one")
        for value in values:  # each allowed value alone, so that the error names it
            build(**plain, **{key: value})
    branches = []
    for combination in itertools.product(*sets.values()):
        try:
            branches.append(build(**plain, **dict(zip(sets, combination))))
        except ConfigError:  # two allowed values that do not go together (a pool's padding > kernel/2)
            continue
    if not branches:
        held = ", ".join(f"{k}={set(v)!r}" for k, v in sets.items())
        raise ConfigError(f"{name}: no combination of {held} is a valid configuration")
    return st.one_of(branches)  # shrinks towards the first branch: the smallest allowed values


DTYPES = ("int64", "float64", "fraction")


def data_dtype(dtype=None, kind=None, *, default: str = "int64", error=InvalidArgument) -> tuple[str, bool]:
    """(data kind drawn, cast to float64): from ``dtype`` (int64, float64 = integer-valued float64, fraction)
    or the older ``kind`` (integer, rational, float), at most one of them; ``default`` when neither is given."""
    if dtype is not None and kind is not None:
        raise error(f"dtype={dtype!r} and kind={kind!r}: give one of them (dtype is the newer spelling)")
    if kind is not None:
        if kind not in DATA_KINDS:
            raise error(f"kind={kind!r} is not allowed: kind must be one of {', '.join(DATA_KINDS)}")
        return kind, False
    dtype = default if dtype is None else dtype
    if dtype not in DTYPES:
        raise error(f"dtype={dtype!r} is not allowed: dtype must be one of {', '.join(DTYPES)}")
    return {"int64": ("integer", False), "float64": ("integer", True), "fraction": ("rational", False)}[dtype]


def examples(layer, *, kind: str | None = None, dtype: str | None = None, bounds: dict | None = None,
             where=None, extensions: bool = False, **held):
    """An :class:`Example` of a registered layer (a name or a configured :class:`Layer`): drawn configuration,
    inputs and upstream gradient.

    ``dtype`` of the data: "int64" (the default here: small integers), "float64" (the same integers as
    float64, exact at these sizes) or "fraction" (object arrays of Fractions, denominators up to 6); the older
    ``kind`` ("integer", "rational", "float": non-integer float64) still works, see :func:`arrays`. Inputs that
    are not data (class targets, pooling indices) stay int64, drawn by the layer itself
    (``Layer.input_strategy``). ``bounds`` are passed to the layer's configuration strategy (e.g.
    ``{"max_side": 6}``); ``**held`` holds layer parameters (a set: one of those values); ``where`` and
    ``extensions``: see :func:`configs`.
    """
    drawn, to_float = data_dtype(dtype, kind)
    return _examples(configs(layer, where=where, extensions=extensions, **(bounds or {}), **held), drawn, to_float)


@st.composite
def _examples(draw, configs, kind, to_float=False):
    configured, shapes = draw(configs)
    inputs = tuple(draw(configured.input_strategy(name, shapes, kind)) for name in shapes)
    grad_out = draw(arrays(configured.output_shape(shapes), kind=kind))
    if to_float:  # the data (differentiable inputs, grad_out) as float64; targets and indices stay integers
        inputs = tuple(a.astype(np.float64) if name in configured.differentiable else a
                       for name, a in zip(shapes, inputs))
        grad_out = grad_out.astype(np.float64)
    return Example(configured, inputs, grad_out)


__all__ = ["DTYPES", "Example", "arrays", "check_bound", "configs", "conv_configs", "data_dtype", "examples",
           "held_params", "per_axis", "registered_name"]
