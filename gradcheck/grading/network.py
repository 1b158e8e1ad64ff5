"""Every quantity of an exercise, computed: forward, backward and one SGD step through a chain of layers.

A single-layer exercise is a chain of one unnamed stage; its quantities are ``out``, ``out_shape``,
``n_params``, ``grad_<input>``, ``updated_<param>``. In a network every quantity is addressed
``<layer name>.<quantity>`` (``conv.out``, ``fc1.grad_w``, ``relu.grad_out``, ``fc2.updated_b``), and the
network as a whole has ``out``, ``loss``, ``out_shape`` and ``n_params``:

- ``<name>.out``        the layer's output (activation)            ``<name>.out_shape`` its shape
- ``<name>.grad_out``   dL/d(its output): the upstream gradient it receives
- ``<name>.grad_<in>``  dL/d(its input ``<in>``): ``grad_x`` is passed on to the layer before, ``grad_w``,
                        ``grad_b`` are parameter gradients
- ``<name>.updated_<p>`` parameter ``p`` after one SGD step, p − lr·dL/dp
- ``<name>.n_params``   its trainable parameters (``Layer.n_params``)

Data: ``x`` is the network input (the first layer's first input); every other input of a layer is
``<name>.<input>`` (``conv.w``, ``ce.target``); ``grad_out`` is dL/d(final output), 1 when the final output
is a scalar loss. Values are computed by ``gc.sequential``'s ``walk``; ``run`` takes ``inject``, an
``Intervention`` (walk's one hook, ``gradcheck.sequential``): a catalogued mistake's predictions replace one
stage's results (or the SGD rule), and everything downstream is recomputed — how a mistake is traced to the
quantities it spoils.
Shapes only (``out_shape``, ``n_params``, no data) are computed here, stage by stage, because a layer's first
input may be given instead of the previous output there (parallel branches, LeNet's C3).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..layers import Layer
from ..layers.base import promote_to_shape
from ..sequential import Intervention, Sequential


@dataclass(frozen=True)
class Stage:
    name: str      # "" for the single layer of a one-layer exercise
    layer: Layer

    def address(self, quantity: str) -> str:
        return f"{self.name}.{quantity}" if self.name else quantity

    @property
    def parameters(self) -> tuple[str, ...]:
        """Trainable inputs: the differentiable ones after the first (data) input; a loss's target is a label
        (mse differentiates it, but SGD does not update it), as in gc.sequential."""
        return tuple(n for n in self.layer.differentiable if n not in (self.layer.inputs[0], "target"))


# A catalogued mistake injected at one stage (its prediction replaces what the stage computes), or in the SGD
# rule (stage None): Sequential.walk's one hook.
Injection = Intervention


class SGDStep:
    """The pseudo-layer ``sgd`` of the mistake catalogue: params {"lr": η}; ``predict`` gets {p: value, grad_p:
    gradient}. The right step is Sequential's own, w − η·dL/dw."""

    name = "sgd"

    def __init__(self, lr):
        self.params = {"lr": lr}

    def __repr__(self):
        return f"sgd(lr={self.params['lr']})"


@dataclass
class Chain:
    stages: list[Stage]
    network: bool            # False: one unnamed layer

    @property
    def exact(self) -> bool:
        return all(s.layer.exact for s in self.stages)

    def rate(self, lr):
        """The learning rate as the chain computes: exact, or a float on float data."""
        return lr if self.exact else float(lr)

    def first_key(self) -> str:
        return "x" if self.network else self.stages[0].layer.inputs[0]

    def input_keys(self, k: int) -> list[str]:
        stage = self.stages[k]
        keys = [stage.address(n) for n in stage.layer.inputs]
        if k == 0:
            keys[0] = self.first_key()
        return keys

    # -- shapes only (a layer's first input may be given: parallel branches) --------------------------
    def shapes(self, shapes: dict, inject: Injection | None = None) -> dict:
        """out_shape and n_params of every stage and of the whole, from input and parameter shapes."""
        q, previous = {}, None
        for k, stage in enumerate(self.stages):
            layer = stage.layer
            full = {}
            for i, (name, key) in enumerate(zip(layer.inputs, self.input_keys(k))):
                value = shapes.get(key, previous if i == 0 else None)
                if value is None:
                    if i < layer.required:
                        raise InputError(f"{key}: the shape of input {name} of {layer.name} is not given")
                    continue
                # Layer.prepare's promotion (and its message)
                full[name] = layer.promoted_shape(name, value)
            layer.check_shapes(full)
            out_shape = tuple(layer.output_shape(full))
            q[stage.address("n_params")] = layer.n_params(full)
            if inject is not None and inject.stage == k:
                q.update({stage.address(n): v for n, v in inject.values.items() if n in ("out_shape", "n_params")})
                out_shape = tuple(q.get(stage.address("out_shape"), out_shape))
            q[stage.address("out_shape")] = out_shape
            q.setdefault("_shapes", {})[k] = full
            previous = out_shape
        if self.network:
            q["out_shape"], q["n_params"] = previous, sum(q[s.address("n_params")] for s in self.stages)
        return q

    # -- values: one walk through gc.sequential ---------------------------------------------------------
    def run(self, data: dict, lr=None, inject: Injection | None = None) -> dict:
        """Every value quantity (out, grad_*, updated_*, loss) for the data; ``_arrays``/``_upstream`` per stage
        keep what a mistake's ``predict`` needs."""
        out_shape = self.shapes({k: np.shape(v) for k, v in data.items()})[self.stages[-1].address("out_shape")]
        convert = (lambda a: np.asarray(a, dtype=np.float64)) if not self.exact else (lambda a: a)
        inputs, without = [], []
        for k, stage in enumerate(self.stages):
            for i, (name, key) in enumerate(zip(stage.layer.inputs, self.input_keys(k))):
                if k > 0 and i == 0:  # the previous stage's output
                    continue
                if data.get(key) is None:
                    without.append(f"{k}.{name}")
                else:  # targets, indices stay integers
                    inputs.append(convert(data[key]) if name in stage.layer.differentiable else _integers(data[key]))
        g = data.get("grad_out")
        if g is None and int(np.prod(out_shape)) == 1:  # a scalar loss (or a single output): dL/dL = 1
            g = np.ones(out_shape, dtype=object if self.exact else np.float64)
        if g is not None:
            g = promote_to_shape("grad_out", np.asarray(convert(g)), out_shape, "the output has")
        walk = Sequential([s.layer for s in self.stages], without=without).walk(
            *inputs, grad_out=g, lr=None if lr is None else self.rate(lr), intervention=inject)
        q = {stage.address("out"): out for stage, out in zip(self.stages, walk.outputs)}
        q["_arrays"], last = walk.inputs, walk.outputs[-1]
        if self.network:
            q["out"] = last
        if np.size(last) == 1:
            q["loss"] = last.reshape(())
        q["_upstream"] = [None] * len(self.stages) if walk.grads is None else [s["grad_out"] for s in walk.grads]
        for stage, grads in zip(self.stages, walk.grads or ()):
            q.update({stage.address(n): np.asarray(v) for n, v in grads.items()})
        for name, value in (walk.updated or {}).items():
            k, p = name.split(".", 1)
            q[self.stages[int(k)].address(f"updated_{p}")] = value
        return q


def _integers(a):
    """Targets and indices as int64 when they are whole numbers (layers check their own ranges)."""
    a = np.asarray(a)
    if a.dtype == object and all(isinstance(v, int) for v in a.ravel()):
        return a.astype(np.int64)
    return a


def align(expected: np.ndarray, given_shape: tuple[int, ...]) -> np.ndarray | None:
    """``expected`` in the shape an answer was given in, when the two differ only by leading axes of size 1
    (single-sample, single-channel exercises are answered in 2-D); None when they really differ."""
    expected = np.asarray(expected)
    if expected.shape == given_shape:
        return expected
    if expected.size != int(np.prod(given_shape, dtype=np.int64)):
        return None
    if strip_ones(expected.shape) == strip_ones(given_shape):
        return expected.reshape(given_shape)
    return None


def strip_ones(shape) -> tuple[int, ...]:
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


__all__ = ["Chain", "Injection", "SGDStep", "Stage", "align", "strip_ones"]
