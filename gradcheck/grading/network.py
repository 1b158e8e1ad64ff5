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
``<name>.<input>`` (``conv.w``, ``loss.target``); ``grad_out`` is dL/d(final output), 1 when the final output
is a scalar loss. ``run`` takes an ``inject`` hook: a catalogued mistake's predictions replace one stage's
results (or the SGD rule), and everything downstream is recomputed — how a mistake is traced to the
quantities it spoils.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..layers import Layer


@dataclass(frozen=True)
class Stage:
    name: str      # "" for the single layer of a one-layer exercise
    layer: Layer

    def address(self, quantity: str) -> str:
        return f"{self.name}.{quantity}" if self.name else quantity

    @property
    def parameters(self) -> tuple[str, ...]:
        """Trainable inputs: the differentiable ones after the first (data) input."""
        return tuple(n for n in self.layer.differentiable if n != self.layer.inputs[0])


@dataclass
class Injection:
    """Replace what stage ``stage`` computes by a mistake's prediction (``out``, ``out_shape``, ``grad_*``),
    or (``stage`` None) the SGD rule by ``update(param values, gradients) -> updated values``."""

    stage: int | None
    prediction: dict = field(default_factory=dict)
    update: object = None


class SGDStep:
    """The pseudo-layer ``sgd`` of the mistake catalogue: params {"lr": η}; arrays {p: value, grad_p: gradient}."""

    name = "sgd"

    def __init__(self, lr):
        self.params = {"lr": lr}

    def __repr__(self):
        return f"sgd(lr={self.params['lr']})"

    def step(self, arrays: dict) -> dict:
        lr = self.params["lr"]
        return {f"updated_{p}": v - lr * arrays[f"grad_{p}"] for p, v in arrays.items() if not p.startswith("grad_")}


@dataclass
class Chain:
    stages: list[Stage]
    network: bool            # False: one unnamed layer

    @property
    def exact(self) -> bool:
        return all(s.layer.exact for s in self.stages)

    def first_key(self) -> str:
        return "x" if self.network else self.stages[0].layer.inputs[0]

    def input_keys(self, k: int) -> list[str]:
        stage = self.stages[k]
        keys = [stage.address(n) for n in stage.layer.inputs]
        if k == 0:
            keys[0] = self.first_key()
        return keys

    # -- shapes only --------------------------------------------------------------------------------
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
                full[name] = promote_shape(layer, name, tuple(value))
            layer.check_shapes(full)
            out_shape = tuple(layer.output_shape(full))
            q[stage.address("n_params")] = layer.n_params(full)
            if inject is not None and inject.stage == k:
                q.update({stage.address(n): v for n, v in inject.prediction.items() if n in ("out_shape", "n_params")})
                out_shape = tuple(q.get(stage.address("out_shape"), out_shape))
            q[stage.address("out_shape")] = out_shape
            q.setdefault("_shapes", {})[k] = full
            previous = out_shape
        if self.network:
            q["out_shape"], q["n_params"] = previous, sum(q[s.address("n_params")] for s in self.stages)
        return q

    # -- values ---------------------------------------------------------------------------------------
    def run(self, data: dict, lr=None, inject: Injection | None = None) -> dict:
        """Every value quantity (out, grad_*, updated_*, loss) for the data; ``_arrays``/``_upstream`` per stage
        keep what a mistake's ``predict`` needs."""
        convert = (lambda a: np.asarray(a, dtype=np.float64)) if not self.exact else (lambda a: a)
        q, arrays_of, previous = {}, [], None
        for k, stage in enumerate(self.stages):
            inputs = [previous if (i == 0 and k > 0) else data.get(key)
                      for i, key in enumerate(self.input_keys(k))]
            while inputs and inputs[-1] is None:
                inputs.pop()
            inputs = [a if a is None else convert(a) if name in stage.layer.differentiable else _integers(a)
                      for a, name in zip(inputs, stage.layer.inputs)]  # targets, indices stay integers
            arrays, _, _ = stage.layer.prepare(inputs)
            out = stage.layer.numpy_forward(*arrays.values())
            if inject is not None and inject.stage == k and "out" in inject.prediction:
                out = np.asarray(inject.prediction["out"])
            q[stage.address("out")] = out
            arrays_of.append(arrays)
            previous = out
        q["_arrays"] = arrays_of
        if self.network:
            q["out"] = previous
        if np.size(previous) == 1:
            q["loss"] = previous.reshape(())
        g = data.get("grad_out")
        if g is None and np.size(previous) == 1:
            g = np.ones_like(previous)
        upstream = [None] * len(self.stages)
        if g is not None:
            g = convert(g)
            if np.shape(g) != np.shape(previous):
                if np.size(g) != np.size(previous):
                    raise InputError(f"grad_out has shape {np.shape(g)}, but the output has shape {np.shape(previous)}")
                g = np.reshape(g, np.shape(previous))
            for k in reversed(range(len(self.stages))):
                stage, arrays = self.stages[k], arrays_of[k]
                upstream[k] = g
                q[stage.address("grad_out")] = g
                grads = stage.layer.numpy_backward(g, *arrays.values())
                grads = dict(zip(arrays, grads))
                if inject is not None and inject.stage == k:
                    grads.update({n[5:]: v for n, v in inject.prediction.items() if n.startswith("grad_")})
                for name, grad in grads.items():
                    if grad is not None and name in stage.layer.differentiable:
                        q[stage.address(f"grad_{name}")] = np.asarray(grad)
                g = grads.get(stage.layer.inputs[0])
                if g is None:
                    break
            if lr is not None:
                step = SGDStep(lr if self.exact else float(lr))
                for k, stage in enumerate(self.stages):
                    params = {p: arrays_of[k][p] for p in stage.parameters if p in arrays_of[k]}
                    grads = {f"grad_{p}": q[stage.address(f"grad_{p}")] for p in params
                             if stage.address(f"grad_{p}") in q}
                    if len(grads) != len(params):
                        continue
                    rule = inject.update if inject is not None and inject.update else step.step
                    q.update({stage.address(n): v for n, v in rule({**params, **grads}).items()})
        q["_upstream"] = upstream
        return q


def _integers(a):
    """Targets and indices as int64 when they are whole numbers (layers check their own ranges)."""
    a = np.asarray(a)
    if a.dtype == object and all(isinstance(v, int) for v in a.ravel()):
        return a.astype(np.int64)
    return a


def promote_shape(layer: Layer, name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The full-rank shape of an input given in a single-channel (promotable) rank, as Layer.prepare does."""
    rank = layer.ranks[name]
    if rank is None and shape:  # any rank (elementwise layers, targets)
        return shape
    if len(shape) == rank:
        return shape
    if len(shape) == layer.promotable.get(name, -1):
        return (1,) * (rank - len(shape)) + shape
    raise InputError(f"{layer.name}: input {name} has shape {shape} ({len(shape)}-D); it must be {rank}-D")


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


__all__ = ["Chain", "Injection", "SGDStep", "Stage", "align", "promote_shape", "strip_ones"]
