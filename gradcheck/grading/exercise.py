"""``gradcheck exercise new``: a fresh exercise with small integer data and its answer key, as a case file.

The configuration is the smallest one of the layer's Hypothesis ``configs`` (parameters given are held)
whose data input has at least 9 entries and whose output has at least 4 (or is a scalar loss): small
enough to work by hand, large enough to show every rule. The data are integers in [-3, 3] drawn with
``--seed``; the answer key (``claimed``) is computed with the layer's exact NumPy forward and backward.
"""
from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, find, settings

from ..errors import ConfigError
from ..layers import REGISTRY, layer as make_layer
from ..layers.schema import command_args


def _interesting(config) -> bool:
    layer, shapes = config
    try:
        out_shape = tuple(layer.output_shape(shapes))
    except Exception:  # noqa: BLE001  (a configuration outside the layer's domain)
        return False
    first = shapes[layer.inputs[0]]
    square = all(len(set(s[2:])) <= 1 for n, s in shapes.items() if n in layer.differentiable)
    one_sample = len(first) < 3 or first[0] == 1
    return square and one_sample and int(np.prod(first)) >= 9 and (int(np.prod(out_shape)) >= 4 or out_shape == ()) and all(
        int(np.prod(s)) >= 2 for n, s in shapes.items() if n in layer.differentiable)


def new_exercise(name: str, *, seed: int = 0, **params) -> str:
    """TOML text of one exercise for layer ``name`` with ``params`` held, answers in ``claimed``."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown layer {name!r}; registered layers: {', '.join(sorted(REGISTRY))}")
    make_layer(name, **params)  # parameters are validated before anything is drawn
    quiet = settings(database=None, max_examples=2000, suppress_health_check=list(HealthCheck))
    layer, shapes = find(REGISTRY[name].configs(**params), _interesting, settings=quiet,
                         random=random.Random(0))
    rng = np.random.default_rng(seed)
    inputs = {}
    for input_name, shape in shapes.items():
        if input_name in layer.differentiable:
            inputs[input_name] = rng.integers(-3, 4, size=shape)
        else:  # targets, indices: the layer's own strategy keeps them valid
            strategy = layer.input_strategy(input_name, shapes, "integer")
            varied = (lambda a: np.size(a) == 1 or len(set(np.ravel(a).tolist())) > 1)  # not all class 0
            inputs[input_name] = np.asarray(find(strategy, varied, settings=quiet, random=random.Random(seed)))
    out = layer.numpy_forward(*inputs.values())
    grad_out = rng.integers(-3, 4, size=out.shape) if out.size > 1 else None
    grads = layer.numpy_backward(np.ones_like(out) if grad_out is None else grad_out, *inputs.values())
    claimed = {"out": out, **{f"grad_{n}": g for n, g in zip(inputs, grads) if g is not None
                              and n in layer.differentiable}}
    source = " ".join(p for p in [f"gradcheck exercise new {name}", command_args(params), f"--seed {seed}"] if p)
    return exercise_toml(f"{name}-seed{seed}", layer, inputs, grad_out, claimed, ask=list(claimed),
                         title=f"{name} exercise (seed {seed})", source=source)


def exercise_toml(ident: str, layer, inputs: dict, grad_out, claimed: dict, *, ask=None, title="", source="",
                  single_channel: bool = True) -> str:
    """A case file with one single-layer exercise: full-rank ``inputs`` (written in 2-D when they are one
    sample of one channel), ``grad_out`` (None: the output is a scalar loss), and the answer key ``claimed``."""
    dropped = 0
    if single_channel:
        first = inputs[layer.inputs[0]]
        dropped = first.ndim - _single_channel(layer, layer.inputs[0], first).ndim
    lines = [f'title = "{title or ident}"'] + ([f'source = "{source}"'] if source else [])
    lines += ["", "[[exercise]]", f'id = "{ident}"', f'layer = "{layer.name}"',
              "params = { " + ", ".join(f"{k} = {_toml(_collapse(v))}" for k, v in layer.params.items()
                                 if v is not None) + " }"]  # None: the default, which TOML cannot write
    if ask:
        lines.append("ask = [" + ", ".join(f'"{q}"' for q in ask) + "]")
    if not layer.exact:  # exp/log answers are written rounded
        lines.append("tolerance = { decimals = 4 }")
    lines += ["", "[exercise.given]"]
    lines += [f"{n} = {_toml(_single_channel(layer, n, a) if single_channel else a)}" for n, a in inputs.items()]
    if grad_out is not None:
        lines.append(f"grad_out = {_toml(_drop(np.asarray(grad_out), dropped))}")
    if claimed:
        lines += ["", "# the answer key: delete [exercise.claimed] to hand the exercise out (`ask` keeps the questions)",
                  "[exercise.claimed]"]
        for q, v in claimed.items():
            name = q[5:] if q.startswith("grad_") else None
            if name in inputs and single_channel:
                v = np.asarray(v).reshape(_single_channel(layer, name, inputs[name]).shape)
            elif q == "out":
                v = _drop(np.asarray(v), dropped)
            lines.append(f"{q} = {_toml(v)}")
    return "\n".join(lines)


def _drop(a: np.ndarray, axes: int) -> np.ndarray:
    """Drop ``axes`` leading axes when they have size 1 (the output of a 2-D single-channel exercise)."""
    return a.reshape(a.shape[axes:]) if axes and all(s == 1 for s in a.shape[:axes]) else a


def _single_channel(layer, name, a):
    """Single-sample, single-channel data are written in the rank a hand exercise uses (2-D for conv2d)."""
    rank = layer.promotable.get(name)
    if rank is not None and a.ndim > rank and all(s == 1 for s in a.shape[:a.ndim - rank]):
        return a.reshape(a.shape[a.ndim - rank:])
    return a


def _collapse(v):
    """(2, 2) -> 2, as a user writes it."""
    return v[0] if isinstance(v, tuple) and len(set(v)) == 1 else v


def _toml(v) -> str:
    if isinstance(v, np.ndarray):
        return _toml(v.tolist()) if v.ndim else _toml(v[()])
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Fraction):
        return str(v.numerator) if v.denominator == 1 else f'"{v.numerator}/{v.denominator}"'
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(int(v))
