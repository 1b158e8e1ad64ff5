"""The registry of report families: what a layer family adds to the generic report, and the default
configuration a report shows.

A layer family adds sections through a :class:`Family` registered with :func:`register` (see
``gradcheck/report/conv.py``); a layer without one still gets every generic section
(``gradcheck/report/sections.py``). A new family is one small module imported in
``gradcheck/report/__init__.py``, e.g. ``gradcheck/report/pool.py``::

    def routing(d):   # d: the Derivation (d.inputs, d.grad_out, d.gradients, d.gradient_values, ...)
        return [Heading(2, "Max-pool routing"), Para(...), figures.grids(...)]

    register(Family(sections=routing), "max_pool2d")
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import ConfigError
from ..layers.base import Layer


@dataclass(eq=False)  # identity: a family registered for several layers is one family
class Family:
    """What a layer family adds to the generic report; every hook is optional.

    - ``names``: display names of its operands (``{"x": "X", "w": "F"}``);
    - ``small_shapes(layer, size)``: the default small configuration (``size``: spatial sides or None);
    - ``output_size(d)``: blocks showing the output-size arithmetic with the numbers filled in;
    - ``sections(d)``: special sections (a convolution's collapse into the matrix identity, max-pool
      routing, the transposed convolution's adjoint relation), placed before the verification;
    - ``examples``: extra reports committed in ``reports/``: ``(layer, params)`` at the default small
      configuration, or ``(layer, params, data)`` with given data, ``data`` = {"inputs": [...], "grad_out": ...,
      "name": the file stem, "command": how to regenerate it};
    - ``replaces``: generic sections the family writes its own way, by name ("rule", "outputs",
      "local_gradients", "chain_rule") — e.g. max pooling, whose SymPy rule is a sum of Piecewise terms, shows
      O = max(…) and routed gradients; each replacement must still check its numbers against the oracle;
    - ``params``: the parameters of the default report (``gradcheck report max_pool2d``) for a layer that
      requires some (kernel_size) or whose own defaults teach little (conv_transpose2d: stride 2).
    """

    names: dict = field(default_factory=dict)
    small_shapes: Callable | None = None
    output_size: Callable | None = None
    sections: Callable | None = None
    examples: list = field(default_factory=list)
    params: dict = field(default_factory=dict)
    replaces: dict = field(default_factory=dict)


FAMILIES: dict[str, Family] = {}


def register(family: Family, *layer_names: str) -> Family:
    for name in layer_names:
        FAMILIES[name] = family
    return family


def family_of(layer: Layer) -> Family:
    return FAMILIES.get(layer.name, Family())


def default_layer(layer) -> Layer:
    """The layer (a registered name or a Layer class) a report shows when no parameters are given: its
    defaults; for a layer that requires parameters, its family's ``params``, else those of the smallest
    configuration its strategy shrinks to."""
    from ..layers import REGISTRY

    cls = REGISTRY[layer] if isinstance(layer, str) and layer in REGISTRY else layer
    if isinstance(layer, str) and cls is layer:
        from ..layers import layer as make_layer
        return make_layer(layer)  # the registry's error for an unknown name
    family = FAMILIES.get(cls.name)
    if family and family.params:
        return cls(**family.params)
    try:
        return cls()
    except ConfigError:
        return smallest_config(cls, {})[0]


# The default report of each layer whose family has no small_shapes of its own: its shapes and its inputs that
# are not data (class targets, unpooling indices), written out. They are the minimum smallest_config found when
# they were pinned; found afresh, they would follow Hypothesis's shrinker, which may change in any release, and
# the committed reports/ with it.
DEFAULT_DATA: dict[str, tuple[dict, dict]] = {
    "batch_norm": ({"x": (2, 2)}, {}),
    "flatten": ({"x": (2, 2)}, {}),
    "linear": ({"x": (1, 1), "w": (4, 1)}, {}),
    "max_unpool2d": ({"x": (1, 1, 2, 2), "indices": (1, 1, 2, 2)}, {"indices": [[[[0, 1], [2, 3]]]]}),
    "mse": ({"pred": (2,), "target": (2,)}, {}),
    "relu": ({"x": (2, 2)}, {}),
    "separable_conv2d": ({"x": (2, 1, 1, 2), "w_depthwise": (1, 1, 1, 1), "w_pointwise": (1, 1, 1, 1)}, {}),
    "sigmoid": ({"x": (2, 2)}, {}),
    "softmax": ({"x": (2, 2)}, {}),
    "softmax_cross_entropy": ({"logits": (2, 2), "target": (2,)}, {"target": [0, 0]}),
    "tanh": ({"x": (2, 2)}, {}),
    "upsample_nearest2d": ({"x": (1, 1, 2, 2)}, {}),
    "upsample_zeros2d": ({"x": (1, 1, 2, 2)}, {}),
}


def pinned_data(layer: Layer, size=None) -> tuple[dict, dict] | None:
    """(shapes, non-data inputs) of ``layer``'s default report when it is the default configuration (and
    ``size`` is None or the pinned sides), else None."""
    pinned = DEFAULT_DATA.get(layer.name)
    if pinned is None or layer.params != default_layer(type(layer)).params:
        return None
    shapes, _ = pinned
    first = shapes[layer.inputs[0]]
    return pinned if size is None or tuple(first[-len(size):]) == tuple(size) else None


def generic_small_shapes(layer: Layer, size=None) -> dict:
    """The layer's pinned default shapes (DEFAULT_DATA); for other configurations the smallest one the layer's own
    Hypothesis strategy shrinks to with ≥ 4 outputs (and the given spatial sides)."""
    pinned = pinned_data(layer, size)
    return dict(pinned[0]) if pinned else smallest_config(type(layer), layer.params, size, key=layer.key)[1]


def smallest_config(cls, params: dict, size=None, key=None) -> tuple:
    """(layer, shapes): the canonical minimum of ``cls.configs(**params)`` with ≥ 4 outputs (a loss: ≥ 4
    inputs), at most 24 inputs, and the given spatial sides."""
    from hypothesis import HealthCheck, find, settings

    def fits(outputs):
        def check(example):
            lay, shapes = example
            first = shapes[lay.inputs[0]]
            n_in = sum(int(np.prod(s)) for k, s in shapes.items() if k in lay.differentiable)
            n_out = int(np.prod(lay.output_shape(shapes)))
            return ((key is None or lay.key == key) and n_in <= 24 and (4 <= n_out <= 36 if outputs else 4 <= n_in)
                    and (size is None or tuple(first[-len(size):]) == tuple(size)))
        return check
    for outputs in (True, False):  # at least 4 outputs; a loss (one output): at least 4 inputs
        try:
            return find(cls.configs(**params), fits(outputs), settings=settings(
                database=None, max_examples=500, derandomize=True, suppress_health_check=list(HealthCheck)))
        except Exception:
            continue
    shown = cls(**params) if params else cls.name
    raise ConfigError(f"found no small configuration of {shown!r}" + (f" with size {size}" if size else "")
                      + "; give another --size")
