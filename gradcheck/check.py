"""Property tests of a user's own backward (or forward) pass: ``check_backward`` and ``check_forward``.

>>> import gradcheck as gc
>>> def my_backward(grad_out, x, w, b=None, **params):
...     return gc.layer("conv2d", **params).backward(grad_out, x, w, b)
>>> gc.check_backward(my_backward, "conv2d", max_examples=20, stride=2)

Parameters not held are drawn by Hypothesis, data are small integers (zeros, repeats and ties on
purpose), and ``fn`` is compared exactly with the gradients derived from the layer's SymPy rule. A failure
raises ``AssertionError`` from the minimal example Hypothesis shrinks it to: configuration, data, the
first wrong elements with expected and actual values, and the catalogued mistake that reproduces the
answer, when one does. Settings (derandomize, database, ...) come from the active Hypothesis profile.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings

from . import mistakes
from .errors import ConfigError
from .layers import REGISTRY
from .strategies import Example, examples
from .tolerance import rtol_for, within
from .verify import format_number, verify

MAX_SHOWN = 5


def _settings(max_examples: int):
    return settings(max_examples=max_examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def _check_layer(layer: str) -> None:
    if layer not in REGISTRY:
        raise ConfigError(f"unknown layer {layer!r}; registered layers: {', '.join(sorted(REGISTRY))}")


def _explain_backward(fn, example: Example, oracles) -> str | None:
    """None when ``fn`` agrees with the oracles on this example, else the failure message."""
    layer = example.layer
    name = getattr(fn, "__name__", "backward")
    verdict = verify(layer, *example.inputs, grad_out=example.grad_out, oracles=(*oracles, fn))
    if verdict.ok:
        return None
    user = next(o for o in verdict.oracles if o not in oracles)
    lines = [f"{name} is wrong for {layer!r} with shapes {example.shapes}"]
    if user in verdict.errors:
        lines.append(f"  {name} failed: {verdict.errors[user]}")
        lines.append("  it must return one gradient per input, in the order "
                     f"({', '.join(example.shapes)}), each with that input's shape")
    else:
        reference = oracles[0]
        for m in verdict.mismatches:
            lines.append(f"  grad_{m.gradient}: {m.n_wrong} wrong element(s); first:")
            for index, values in m.first_wrong[:MAX_SHOWN]:
                lines.append(f"    [{', '.join(map(str, index))}]  expected {format_number(values[reference])}"
                             f"  got {format_number(values[user])}")
        arrays = dict(zip(layer.inputs, (np.asarray(a) for a in example.inputs)))
        given = {f"grad_{k}": v for k, v in verdict.gradients[user].items()}
        correct = {f"grad_{k}": v for k, v in verdict.gradients[reference].items()}
        found = _confirm(fn, example, mistakes.diagnose(layer, arrays, example.grad_out, given, correct))
        if found:
            lines.append(f"  this is the mistake: {mistakes.describe(found)}")
    lines.append("minimal failing example:")
    lines.append(repr(example))
    return "\n".join(lines)


def _confirm(fn, example: Example, candidates: list[str], trials: int = 3) -> list[str]:
    """Keep the mistakes that also reproduce ``fn`` on fresh data for the same configuration.

    A shrunk example is small and full of zeros, so several mistakes often explain it; ``fn`` is
    deterministic, so re-running it on a few random draws (differentiable inputs and grad_out redrawn,
    the rest kept) tells them apart.
    """
    if len(candidates) < 2:
        return candidates
    layer = example.layer
    names = layer.inputs[:len(example.inputs)]
    rng = np.random.default_rng(0)
    surviving = list(candidates)
    for _ in range(trials):
        inputs = [rng.integers(-3, 4, np.shape(a)) if n in layer.differentiable else np.asarray(a)
                  for n, a in zip(names, example.inputs)]
        g = rng.integers(-3, 4, np.shape(example.grad_out))
        try:
            answers = fn(g, *inputs, **layer.params)
        except Exception:
            return surviving
        arrays = dict(zip(names, inputs))
        given = {f"grad_{n}": np.asarray(a) for n, a in zip(names, answers) if n in layer.differentiable}
        correct = {f"grad_{n}": a for n, a in zip(names, layer.numpy_backward(g, *inputs))
                   if n in layer.differentiable}
        matching = set(mistakes.diagnose(layer, arrays, g, given, correct))
        if matching:  # on data where fn happens to be right, no mistake can be told apart
            surviving = [m for m in surviving if m in matching] or surviving
    return surviving


def check_backward(fn, layer: str, *, max_examples: int = 100, kind: str = "integer",
                   oracles=("sympy",), **fixed) -> None:
    """Hypothesis property test: ``fn(grad_out, *inputs, **params)`` returns the layer's gradients.

    ``fn`` must return one gradient per input, in the layer's input order. ``oracles`` are the references
    (default: the exact SymPy derivation; add "jax" for a second opinion at ~85 ms per new shape).
    Raises AssertionError with the minimal failing example; returns None when every example passes.
    """
    _check_layer(layer)
    strategy = examples(layer, kind=kind, **fixed)

    @_settings(max_examples)
    @given(strategy)
    def backward_agrees(example):
        message = _explain_backward(fn, example, tuple(oracles))
        if message:
            raise AssertionError(message)

    backward_agrees()


def check_forward(fn, layer: str, *, max_examples: int = 100, kind: str = "integer", **fixed) -> None:
    """Hypothesis property test: ``fn(*inputs, **params)`` returns the layer's output, exactly.

    The reference is the forward value of the layer's SymPy rule (exact on integer/rational data).
    """
    from . import symbolic

    _check_layer(layer)
    strategy = examples(layer, kind=kind, **fixed)
    name = getattr(fn, "__name__", "forward")

    @_settings(max_examples)
    @given(strategy)
    def forward_agrees(example):
        configured = example.layer
        arrays = dict(zip(configured.inputs, example.inputs))
        expected = symbolic.forward(configured, arrays)
        try:
            got = np.asarray(fn(*example.inputs, **configured.params))
        except Exception as exc:
            raise AssertionError(f"{name} raised {type(exc).__name__}: {exc}\n{example!r}") from None
        if got.shape != expected.shape:
            found = mistakes.diagnose(configured, arrays, example.grad_out, {"out": got}, {"out": expected})
            named = f"\n  this is the mistake: {mistakes.describe(found)}" if found else ""
            raise AssertionError(f"{name} returned shape {got.shape}, expected {expected.shape} for "
                                 f"{configured!r}{named}\n{example!r}")
        exact = configured.exact and got.dtype.kind in "iuO"
        wrong = ~within(got, expected, 0.0 if exact else rtol_for(np.float64))
        if wrong.any():
            lines = [f"{name} is wrong for {configured!r}: {int(wrong.sum())} wrong element(s); first:"]
            for index in list(zip(*np.nonzero(wrong)))[:MAX_SHOWN]:
                lines.append(f"  [{', '.join(map(str, index))}]  expected {format_number(expected[index])}"
                             f"  got {format_number(got[index])}")
            correct = {"out": expected}
            found = mistakes.diagnose(configured, arrays, example.grad_out, {"out": got}, correct)
            if found:
                lines.append(f"  this is the mistake: {mistakes.describe(found)}")
            raise AssertionError("\n".join(lines + ["minimal failing example:", repr(example)]))

    forward_agrees()
