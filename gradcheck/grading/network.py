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
is a scalar loss. Values are computed by ``gc.sequential``'s ``walk``; ``run`` takes an ``inject`` (or an
``override`` of several stages), passed on as walk's one hook (``gradcheck.sequential.Intervention``): a
catalogued mistake's predictions replace one stage's results (or the SGD rule), and everything downstream is
recomputed — how a mistake is traced to the quantities it spoils.
Shapes only (``out_shape``, ``n_params``, no data) are computed here, stage by stage, because a layer's first
input may be given instead of the previous output there (parallel branches, LeNet's C3).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, InputError
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


@dataclass
class Injection:
    """Replace what stage ``stage`` computes by a mistake's prediction (``out``, ``out_shape``, ``grad_*``),
    or (``stage`` None) the SGD rule by ``update(param, its gradient) -> updated param`` (``run`` makes it
    Sequential.walk's one hook, an Intervention)."""

    stage: int | None
    prediction: dict = field(default_factory=dict)
    update: object = None


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
                full[name] = _promoted(layer, name, value)
            _check_promoting(layer, full)
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

    # -- values: one walk through gc.sequential ---------------------------------------------------------
    def run(self, data: dict, lr=None, inject: Injection | None = None, override: dict | None = None) -> dict:
        """Every value quantity (out, grad_*, updated_*, loss) for the data; ``_arrays``/``_upstream`` per stage
        keep what a mistake's ``predict`` needs. ``override`` {stage: {"out"/"grad_<input>": array}} is walk's,
        for several stages at once (``run_rounded``)."""
        shapes = self.shapes({k: np.shape(v) for k, v in data.items()})
        out_shape = shapes[self.stages[-1].address("out_shape")]
        data = dict(data)
        for k in range(len(self.stages)):  # given arrays in the shapes ``shapes`` promoted them to
            for i, (name, key) in enumerate(zip(self.stages[k].layer.inputs, self.input_keys(k))):
                if (k == 0 or i > 0) and data.get(key) is not None and name in shapes["_shapes"][k]:
                    data[key] = np.asarray(data[key]).reshape(shapes["_shapes"][k][name])
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
            *inputs, grad_out=g, lr=None if lr is None else self.rate(lr),
            intervention=Intervention(
                {inject.stage: inject.prediction} if inject is not None and inject.stage is not None else override or {},
                inject.update if inject is not None else None))
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


    def run_rounded(self, data: dict, lr, places: int) -> dict:
        """``run`` as a hand calculation does it: every stage's output rounded half up to ``places`` decimals
        before the next stage uses it, and every gradient a stage passes on (to the stage before, and the
        parameter gradients the SGD step uses) rounded likewise. One run per stage and direction: each
        rerun starts from the rounded values fixed so far (an ``override``: walk's Intervention)."""
        override: dict = {}
        for k, stage in enumerate(self.stages):
            q = self.run(data, lr, override=override)
            override.setdefault(k, {})["out"] = _rounded(q[stage.address("out")], places)
        for k in reversed(range(len(self.stages))):
            stage = self.stages[k]
            q = self.run(data, lr, override=override)
            for name in stage.layer.differentiable:
                if stage.address(f"grad_{name}") in q:
                    override[k][f"grad_{name}"] = _rounded(q[stage.address(f"grad_{name}")], places)
        return self.run(data, lr, override=override)


def _stand_in(shape) -> np.ndarray:
    """A zero-strided array of ``shape``: promotion rules read shapes only, no memory is allocated."""
    return np.broadcast_to(np.int8(0), tuple(shape))


def _promoted(layer: Layer, name: str, shape) -> tuple[int, ...]:
    """A given input's full shape: Layer.prepare's promotion (a single-channel exercise's 2-D x, a scalar
    bias), else, for an input of fixed rank, the leading axes of size 1 it leaves out put back
    (``promote_to_shape``'s rule: a (C, H, W) image is one sample, a 1-D weight row one output)."""
    try:
        return layer.promoted_shape(name, shape)
    except InputError:
        rank = layer.ranks[name]
        if rank is None or len(shape) >= rank:
            raise
        return promote_to_shape(name, _stand_in(shape), (1,) * (rank - len(shape)) + tuple(shape), "it has").shape


def _check_promoting(layer: Layer, full: dict) -> None:
    """``layer.check_shapes``; where it refuses, an input of free rank (mse's target, a one-hot target) that
    leaves out leading size-1 axes of the first input's shape is given that shape and checked again. The
    first refusal is the one reported when that does not fit either."""
    try:
        layer.check_shapes(full)
        return
    except (InputError, ConfigError) as exc:
        first = full[layer.inputs[0]]
        promoted = {}
        for name, shape in full.items():
            if name != layer.inputs[0] and layer.ranks.get(name, 0) is None and shape != first:
                try:
                    promoted[name] = promote_to_shape(name, _stand_in(shape), first, "it has").shape
                except InputError:
                    continue
        if not promoted:
            raise
        try:
            layer.check_shapes({**full, **promoted})
        except (InputError, ConfigError):
            raise exc from None
        full.update(promoted)


def _rounded(a, places: int) -> np.ndarray:
    """Each entry rounded half up to ``places`` decimals; exact entries stay exact, floats stay floats."""
    from .values import round_half_up
    a = np.asarray(a)
    out = np.empty(a.shape, dtype=object if a.dtype == object or a.dtype.kind in "iu" else a.dtype)
    for index in np.ndindex(a.shape):
        out[index] = round_half_up(a[index], places)
    return out


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
