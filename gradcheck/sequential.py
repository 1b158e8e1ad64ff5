"""Chains of layers: a whole network's backward, verified end to end through the same oracles.

>>> import gradcheck as gc
>>> net = gc.sequential(["conv2d", "relu", "flatten", "linear", "softmax_cross_entropy"])
>>> net.inputs
('x', '0.w', '0.b', '3.w', '3.b', '4.target')

``gc.sequential(stages, without=())`` returns a :class:`Sequential`, which is a :class:`~gradcheck.Layer`:
``forward``, ``backward``, ``gc.verify`` and the oracles work on it as on any layer.

- ``stages``: a list of Layer objects, registered names, or ``(name, params)`` pairs, e.g.
  ``[("conv2d", {"padding": 1}), "relu", "flatten", "linear", "softmax_cross_entropy"]``.
- inputs: ``"x"`` (the first stage's first input), then each stage's further inputs named
  ``"<stage index>.<input name>"`` ("0.w", "0.b", "3.w", "4.target"), all required. ``without`` names
  optional ones the chain does not use (``without=["0.b"]``: a conv without bias).
- differentiable: x and every stage's differentiable parameters; targets ("4.target") are labels, even
  for mse, so they are not differentiated, counted (``n_params``) or updated. The output is the last
  stage's output; a chain ending in a loss has shape () and its default grad_out is 1.
- shapes are checked stage by stage (a dense layer after a convolution needs a flatten in between);
  x and the parameters may be given in the stages' promotable ranks (a 2-D single-channel image, a
  scalar conv bias), intermediate values are not promoted.

Oracles: ``numpy`` chains the stages' numpy_forward / numpy_backward; ``sympy`` chains the exact
derivations, ``gradcheck.symbolic.forward`` per stage and then ``symbolic.gradients`` stage by stage
backwards with the upstream gradient, so every local gradient is still derived from its stage's SymPy rule;
``jax`` differentiates the composed jax_forward. Exact (``==``) on integer/rational data when every stage
is exact.

For exercises on whole networks (values are NumPy arrays; ints and Fractions stay exact):

- ``net.trace(*inputs)`` -> list, entry k = the output of stage k (its activation), full rank.
- ``net.backward_trace(grad_out, *inputs)`` -> list, entry k = dict for stage k: ``"grad_out"`` = dL/d(output
  of stage k), ``"grad_<its first input>"`` = dL/d(input of stage k) (e.g. "grad_x", "grad_logits"), both
  full rank, and ``"grad_<parameter>"`` (e.g. "grad_w", "grad_b") in the shape the parameter was given.
  grad_out may be None for a chain ending in a loss (then 1).
- ``net.sgd_step(lr, *inputs, grad_out=None)`` -> dict chain input name -> parameter after one SGD step,
  w − lr·dL/dw, for every differentiable parameter ("0.w", "3.b", ...), in the shape given.
  Pass lr as a Fraction to stay exact.
- ``net.walk(*inputs, grad_out=None, lr=None, intervention=None)`` -> :class:`Walk`: all of the above from
  one pass (``inputs``, ``outputs``, ``grads``, ``updated``; the backward only with a grad_out, the step only
  with lr or an intervention's update rule). The one hook into a walk is an :class:`Intervention`:
  ``Intervention({k: {"out": ..., "grad_<input>": ...}})`` replaces what stage k computes and recomputes
  everything downstream of it; ``Intervention(update=f)``, ``f(w, dL/dw) -> new w``, replaces the SGD rule.
  Grading traces a catalogued mistake through a network with it (``gradcheck.grading.network``).

Chains are not a registry entry: a chain is configured by a list of layers, which a case file or
``gradcheck verify NAME --param`` cannot hold, and a drawn chain of ReLUs makes kinks (pre-activations of
exactly 0) that finite differences cannot resolve. ``Sequential.configs`` draws short chains for tests.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np
from hypothesis import strategies as st

from . import symbolic
from .drawing import check_bound
from .errors import ConfigError, InputError
from .layers import Layer, layer as make_layer
from .layers.base import as_array
from .layers.geometry import window_output_size


@dataclass(frozen=True)
class Intervention:
    """The one hook into :meth:`Sequential.walk`: what stages compute replaced, ``replace`` {stage index:
    {"out": its output, "grad_<input>": a gradient it passes on}}, and/or the SGD rule, ``update(w, dL/dw) ->
    new w``. Grading traces a catalogued mistake (or rounded intermediates) through a network with it; the
    default replaces nothing."""

    replace: dict = field(default_factory=dict)
    update: Callable | None = None

    def output(self, k: int, out):
        """Stage k's output as the walk goes on with it."""
        values = self.replace.get(k, {})
        return np.asarray(values["out"]) if "out" in values else out

    def gradients(self, k: int, grads: dict) -> dict:
        """Stage k's gradients {local input name: dL/d(it)} as they are passed on."""
        return {**grads, **{n[5:]: g for n, g in self.replace.get(k, {}).items() if n.startswith("grad_")}}


NO_INTERVENTION = Intervention()


class Sequential(Layer):
    """A chain of layers: x -> stage 0 -> stage 1 -> ... (inputs "x", "<k>.<name>")."""

    name = "sequential"

    def __init__(self, stages=(), without=()):
        super().__init__(stages=stages, without=without)

    # -- configuration -----------------------------------------------------------------------------
    def validate(self, params):
        stages = [self._stage(k, s) for k, s in enumerate(params.get("stages") or ())]
        if not stages:
            raise ConfigError("stages=[] is not allowed: a chain needs at least one stage")
        without = tuple(params.get("without") or ())
        self.own = []  # per stage: (local input name, chain input name) of its further inputs
        for k, stage in enumerate(stages):
            names = [n for n in stage.inputs[1:] if f"{k}.{n}" not in without]
            used = len(names) + 1
            if used < stage.required or tuple(stage.inputs[:used]) != (stage.inputs[0], *names):
                raise ConfigError(f"without={list(without)!r} is not allowed for stage {k} ({stage.name}): only its "
                                  f"optional trailing inputs ({', '.join(stage.inputs[stage.required:]) or 'none'}) "
                                  "may be left out")
            self.own.append([(n, f"{k}.{n}") for n in names])
        known = {c for pairs in self.own for _, c in pairs} | {f"{k}.{n}" for k, s in enumerate(stages)
                                                               for n in s.inputs[1:]}
        for name in without:
            if name not in known:
                raise ConfigError(f"without={name!r}: no stage has an input of that name; inputs are "
                                  f"{', '.join(sorted(known))}")
        first = stages[0]
        self.stages = stages
        self.inputs = ("x",) + tuple(c for pairs in self.own for _, c in pairs)
        self.required = len(self.inputs)
        # A loss's target is a label in a network, even where the loss alone differentiates it (mse):
        # never differentiated, counted or updated.
        self.differentiable = ("x",) + tuple(c for s, pairs in zip(stages, self.own) for n, c in pairs
                                             if n in s.differentiable and n != "target")
        self.ranks = {"x": first.ranks[first.inputs[0]],
                      **{c: s.ranks[n] for s, pairs in zip(stages, self.own) for n, c in pairs}}
        self.promotable = {**({"x": first.promotable[first.inputs[0]]} if first.inputs[0] in first.promotable
                              else {}),
                           **{c: s.promotable[n] for s, pairs in zip(stages, self.own) for n, c in pairs
                              if n in s.promotable}}
        self.exact = all(s.exact for s in stages)
        self.closed_on_integers = all(s.closed_on_integers for s in stages)
        return {"stages": tuple(stages), "without": tuple(sorted(without))}

    @staticmethod
    def _stage(k, spec) -> Layer:
        if isinstance(spec, Layer):
            return spec
        if isinstance(spec, str):
            return make_layer(spec)
        if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict):
            return make_layer(spec[0], **spec[1])
        raise ConfigError(f"stage {k} is {spec!r}: a stage must be a Layer, a registered layer name or a "
                          "(name, params) pair")

    @property
    def key(self) -> tuple:
        return (self.name,) + tuple(s.key for s in self.stages) + (self.params["without"],)

    def __repr__(self) -> str:
        without = f", without={list(self.params['without'])}" if self.params["without"] else ""
        return f"sequential([{', '.join(map(repr, self.stages))}]{without})"

    # -- shapes ------------------------------------------------------------------------------------
    def stage_shapes(self, shapes) -> list[dict]:
        """Each stage's input shapes {its input name: shape}, the first one the previous stage's output."""
        current, out = shapes["x"], []
        for k, stage in enumerate(self.stages):
            first = stage.inputs[0]
            rank = stage.ranks[first]
            if k == 0:  # x: stage 0's own rule (batch_norm takes any (N, C, *S)), on a zero-strided stand-in
                current = self.promoted_shape("x", current)
            elif (rank is None and len(current) == 0) or (rank is not None and len(current) != rank):
                raise InputError(f"stage {k} ({stage.name}) takes a {rank or 'non-scalar'}"
                                 f"{'-D' if rank else ''} {first}, but stage {k - 1} ({self.stages[k - 1].name}) "
                                 f"gives shape {current}" + ("; put a flatten before it" if rank == 2 and len(current) > 2 else ""))
            local = {first: current, **{n: shapes[c] for n, c in self.own[k]}}
            with self._in_stage(k):
                stage.check_shapes(local)
                current = stage.output_shape(local)
            out.append(local)
        return out

    @contextmanager
    def _in_stage(self, k):
        """A stage's ConfigError / InputError, prefixed with the stage it comes from."""
        try:
            yield
        except (ConfigError, InputError) as exc:
            raise type(exc)(f"stage {k} ({self.stages[k].name}): {exc}") from None

    def _promote(self, name, arr):
        """x and each parameter are promoted (or refused) by the stage they belong to (batch_norm takes any
        (N, C, *S) x)."""
        k, local = (0, self.stages[0].inputs[0]) if name == "x" else (int(name.split(".")[0]), name.split(".", 1)[1])
        with self._in_stage(k):
            return self.stages[k]._promote(local, arr)

    def prepare(self, inputs, grad_out=None):
        """Layer.prepare, then each stage's own checks of its inputs' values (class targets in range, distinct
        unpooling indices), with zeros of the right shape standing in for the previous stage's output. Their
        messages name the input ("target holds 7 ..."), which only one stage has: no stage prefix."""
        arrays, given, g = super().prepare(inputs, grad_out)
        for k, (stage, local) in enumerate(zip(self.stages, self.stage_shapes({n: a.shape for n, a in arrays.items()}))):
            first = arrays["x"] if k == 0 else np.zeros(local[stage.inputs[0]], dtype=np.int64)
            stage.prepare([first] + [arrays[c] for _, c in self.own[k]])
        return arrays, given, g

    def check_shapes(self, shapes):
        self.stage_shapes(shapes)

    def output_shape(self, shapes):
        last, local = self.stages[-1], self.stage_shapes(shapes)[-1]
        return last.output_shape(local)

    def sympy_rule(self, shapes):
        raise ConfigError("a chain has no single rule: the sympy oracle chains its stages' rules "
                                  "(Sequential.sympy_forward / sympy_gradients)")

    # -- one walk forward and one backward, for every oracle ---------------------------------------
    def _forward(self, values: dict, run, intervention=NO_INTERVENTION) -> tuple[list[dict], object]:
        """Stage inputs (dicts, local names) and the final output; ``run(stage, local inputs) -> output``,
        then ``intervention.output`` (see ``walk``)."""
        current, locals_ = values["x"], []
        for k, stage in enumerate(self.stages):
            local = {stage.inputs[0]: current, **{n: values[c] for n, c in self.own[k]}}
            locals_.append(local)
            current = intervention.output(k, run(stage, local))
        return locals_, current

    def _backward(self, locals_: list[dict], grad_out, gradients,
                  intervention=NO_INTERVENTION) -> tuple[list[dict], dict]:
        """Per-stage gradients (local names, "grad_out" the upstream one, every input the stage differentiates)
        and the chain's gradients by name, from ``_forward``'s stage inputs.

        ``gradients(stage, local inputs, upstream) -> {local name: dL/d(name)}``, then ``intervention.gradients``
        before they are passed on.
        """
        upstream, steps, chain = grad_out, [None] * len(self.stages), {}
        for k in reversed(range(len(self.stages))):
            stage = self.stages[k]
            grads = intervention.gradients(k, gradients(stage, locals_[k], upstream))
            steps[k] = {"grad_out": upstream, **{f"grad_{n}": g for n, g in grads.items()
                                                 if g is not None and n in stage.differentiable}}
            chain.update({c: grads[n] for n, c in self.own[k] if c in self.differentiable})
            upstream = grads[stage.inputs[0]]
        chain["x"] = upstream
        return steps, {n: chain[n] for n in self.inputs if n in chain}

    @staticmethod
    def _numpy_run(stage, local):
        return stage.numpy_forward(*local.values())

    @staticmethod
    def _numpy_gradients(stage, local, upstream):
        return dict(zip(local, stage.numpy_backward(upstream, *local.values())))

    def numpy_forward(self, *arrays):
        return self._forward(dict(zip(self.inputs, arrays)), self._numpy_run)[1]

    def numpy_backward(self, grad_out, *arrays):
        locals_, _ = self._forward(dict(zip(self.inputs, arrays)), self._numpy_run)
        _, grads = self._backward(locals_, grad_out, self._numpy_gradients)
        return tuple(grads.get(n) for n in self.inputs)

    def jax_forward(self, *arrays):
        return self._forward(dict(zip(self.inputs, arrays)), lambda stage, local: stage.jax_forward(*local.values()))[1]

    def sympy_forward(self, inputs: dict):
        return self._forward(dict(inputs), symbolic.forward)[1]

    def sympy_gradients(self, inputs: dict, grad_out) -> dict:
        locals_, _ = self._forward(dict(inputs), symbolic.forward)
        _, grads = self._backward(locals_, grad_out, symbolic.gradients)
        grads = {n: g for n, g in grads.items() if n in inputs}
        # An inexact stage makes every gradient upstream of it a float; Fractions of floats would only mislead.
        return grads if self.exact else {n: np.asarray(g, dtype=np.float64) for n, g in grads.items()}

    def input_strategy(self, name, shapes, kind):
        local = self.stage_shapes(shapes)
        if name == "x":
            return self.stages[0].input_strategy(self.stages[0].inputs[0], local[0], kind)
        k, own = name.split(".", 1)
        return self.stages[int(k)].input_strategy(own, local[int(k)], kind)

    # -- exercises on whole networks ---------------------------------------------------------------
    def walk(self, *inputs, grad_out=None, lr=None, intervention: Intervention | None = None, override=None,
             update=None) -> Walk:
        """Everything one NumPy pass computes, stage by stage (see :class:`Walk`); trace, backward_trace and
        sgd_step are views of it. The backward runs only when grad_out is given (they pass 1 for a chain
        ending in a loss), the SGD step only when lr or the intervention's ``update`` is given as well.

        ``intervention`` (:class:`Intervention`): what one stage computes is replaced and everything downstream
        of it (later outputs, earlier gradients, the step) is recomputed from it; or the rule w − lr·dL/dw is.
        ``override=``/``update=`` (the keywords before Intervention) still work: they make one.
        """
        if override is not None or update is not None:
            if intervention is not None:
                raise ConfigError("give intervention= or override=/update=, not both")
            intervention = Intervention(replace=dict(override or {}), update=update)
        intervention = intervention or NO_INTERVENTION
        arrays, given, g = self.prepare(inputs, grad_out)
        locals_, out = self._forward(arrays, self._numpy_run, intervention)
        outputs = [local[stage.inputs[0]] for local, stage in zip(locals_[1:], self.stages[1:])] + [out]
        walk = Walk(locals_, outputs)
        if g is None:
            return walk
        walk.grads, chain = self._backward(locals_, g, self._numpy_gradients, intervention)
        update = intervention.update
        if update is None and lr is not None:
            _check_lr(lr)
            update = lambda w, grad: w - lr * grad  # noqa: E731
        if update is not None:
            walk.updated = {c: as_array(c, update(arrays[c], np.asarray(chain[c]))).reshape(given[c])
                            for c in self.differentiable if c != "x" and c in arrays}
        return walk

    def trace(self, *inputs) -> list[np.ndarray]:
        """The output of every stage (NumPy forward, full rank), in order."""
        return self.walk(*inputs).outputs

    def backward_trace(self, grad_out, *inputs) -> list[dict]:
        """Per stage: {"grad_out": dL/d(its output), "grad_<first input>": dL/d(its input), "grad_<param>": ...}."""
        given = dict(zip(self.inputs, map(np.shape, inputs)))
        steps = self.walk(*inputs, grad_out=self._grad_out(grad_out, inputs)).grads
        for k, step in enumerate(steps):  # the chain's gradients (not a loss's target), parameters as given
            first = self.stages[k].inputs[0]
            steps[k] = {q: v for q, v in step.items() if q in ("grad_out", f"grad_{first}")} | {
                f"grad_{n}": np.asarray(step[f"grad_{n}"]).reshape(given[c]) for n, c in self.own[k]
                if c in self.differentiable and f"grad_{n}" in step}
        return steps

    def sgd_step(self, lr, *inputs, grad_out=None) -> dict[str, np.ndarray]:
        """Every differentiable parameter after one SGD step, w − lr·dL/dw, by chain input name, shape given."""
        _check_lr(lr)
        return self.walk(*inputs, grad_out=self._grad_out(grad_out, inputs), lr=lr).updated

    def _grad_out(self, grad_out, inputs):
        if grad_out is not None:
            return grad_out
        arrays, _, _ = self.prepare(inputs)
        if self.output_shape({n: a.shape for n, a in arrays.items()}) != ():
            raise InputError(f"grad_out is required: {self!r} does not end in a loss (its output is not a scalar)")
        return 1

    # -- Hypothesis: short chains ------------------------------------------------------------------
    @classmethod
    def configs(cls, *, max_batch: int = 2, max_side: int = 4, max_channels: int = 2, smooth: bool = False):
        """``(chain, shapes)``: one of conv2d → relu → conv2d, conv2d → relu → flatten → linear
        [→ softmax_cross_entropy], linear → relu|sigmoid|tanh → linear → mse|softmax_cross_entropy,
        with batch 1–``max_batch`` (2), image sides and features 1–``max_side`` (4), channels
        1–``max_channels`` (2), biases drawn. ``smooth=True``: only chains without relu (for finite
        differences on floats). Shrinks towards the first template, one sample and one feature."""
        check_bound("max_batch", max_batch, 1)
        check_bound("max_side", max_side, 1)
        check_bound("max_channels", max_channels, 1)
        return _chains(max_batch, max_side, max_channels, smooth)


@dataclass
class Walk:
    """What ``Sequential.walk`` computed, stage k at index k (NumPy, local input names, full rank)."""

    inputs: list[dict]                  # stage k's inputs {"x"/"logits"/...: array, "w": ..., ...}
    outputs: list                       # stage k's output (its activation)
    grads: list[dict] | None = None     # stage k: "grad_out" = dL/d(its output), "grad_<input>" for every input
                                        # it differentiates (a loss's target too); None without a backward
    updated: dict | None = None         # chain input name -> parameter after the step (shape given); None without


def _check_lr(lr):
    if isinstance(lr, bool) or not isinstance(lr, (int, float, Fraction)) or not math.isfinite(lr):
        raise ConfigError(f"lr={lr!r} is not allowed: lr must be a finite number (int, float or Fraction)")


def sequential(stages, *, without=()) -> Sequential:
    """A chain of layers as one Layer (see the module docstring): ``gc.sequential(["linear", "relu", "linear"])``."""
    return Sequential(stages=stages, without=without)


@st.composite
def _conv(draw, batch, side, c_in, max_side, max_channels):
    """A stride-1/2, padding-0/1 conv2d fitting an input of ``side`` × ``side``: (params, w shape, out side)."""
    padding = draw(st.integers(0, 1))
    kernel = draw(st.integers(1, max(1, min(3, side + 2 * padding))))
    stride = draw(st.integers(1, 2))
    c_out = draw(st.integers(1, max_channels))
    out_side = window_output_size(side, kernel, stride=stride, padding=padding)
    return {"stride": stride, "padding": padding}, (c_out, c_in, kernel, kernel), out_side


@st.composite
def _chains(draw, max_batch, max_side, max_channels, smooth):
    n = draw(st.integers(1, max_batch))
    stages, shapes, without = [], {}, []

    def add(name, params=None, **input_shapes):
        k = len(stages)
        stages.append((name, params or {}))
        for local, shape in input_shapes.items():
            if local == "b" and not draw(st.booleans()):
                without.append(f"{k}.b")
            else:
                shapes[f"{k}.{local}"] = shape

    template = draw(st.sampled_from(["mlp"] if smooth else ["conv_conv", "conv_dense", "mlp"]))
    if template == "mlp":
        width = [draw(st.integers(1, max_side)) for _ in range(3)]
        shapes["x"] = (n, width[0])
        add("linear", w=(width[1], width[0]), b=(width[1],))
        add(draw(st.sampled_from(["sigmoid", "tanh"] if smooth else ["relu", "sigmoid", "tanh"])))
        add("linear", w=(width[2], width[1]), b=(width[2],))
        if draw(st.booleans()):
            add("mse", {"reduction": draw(st.sampled_from(["mean", "sum"]))}, target=(n, width[2]))
        else:
            add("softmax_cross_entropy", target=(n,))
    else:
        side, c_in = draw(st.integers(1, max_side)), draw(st.integers(1, max_channels))
        shapes["x"] = (n, c_in, side, side)
        params, w, side = draw(_conv(n, side, c_in, max_side, max_channels))
        add("conv2d", params, w=w, b=(w[0],))
        add("relu")
        if template == "conv_conv":
            params, w2, side = draw(_conv(n, side, w[0], max_side, max_channels))
            add("conv2d", params, w=w2, b=(w2[0],))
        else:
            add("flatten")
            features, out = w[0] * side * side, draw(st.integers(1, max_side))
            add("linear", w=(out, features), b=(out,))
            if draw(st.booleans()):
                add("softmax_cross_entropy", target=(n,))
    net = sequential(stages, without=without)
    return net, {name: shapes[name] for name in net.inputs}
