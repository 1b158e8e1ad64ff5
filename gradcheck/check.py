"""Property tests of a user's own backward (or forward) pass: ``check_backward`` and ``check_forward``.

>>> import gradcheck as gc
>>> def my_backward(grad_out, x, w, b=None, **params):
...     return gc.layer("conv2d", **params).backward(grad_out, x, w, b)
>>> gc.check_backward(my_backward, "conv2d", max_examples=20, stride=2)

Parameters not held are drawn by Hypothesis inside torch.nn.functional's domain (``extensions=True`` adds
TensorFlow's conventions), data are small integers as float64 by default (zeros, repeats and ties on
purpose), and ``fn`` is compared exactly with the gradients derived from the layer's SymPy rule. The
property only detects; once Hypothesis has shrunk a failure to its minimal example, that example alone is
explained: configuration, data, the first wrong elements with expected and actual values, and per wrong
gradient the catalogued mistake that reproduces ``fn`` on that configuration with fresh data, when one does.
Settings (derandomize, database, ...) come from the active Hypothesis profile; each call has its own
database key (``fn``, layer, held parameters and scope), so saved examples replay only where they belong.
"""
from __future__ import annotations

import functools
import hashlib
import numbers
import os
import sysconfig
import traceback
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Flaky, InvalidArgument, Unsatisfiable

from . import mistakes
from .errors import ConfigError, OutOfScope
from .layers import REGISTRY, Layer
from .oracles import jax_oracle
from .strategies import Example, data_dtype, examples
from .tolerance import rtol_for, within
from .verify import format_number, integer_valued, verify

MAX_SHOWN = 5
FRESH_DRAWS = 12  # fresh data per configuration on which a named mistake must reproduce fn


# Hypothesis' explain phase (which parts of the minimal example matter) re-runs the test a few hundred times
# and took a third of a failing check's time; the message here names the wrong elements and the mistake instead.
_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)


def _settings(max_examples: int):
    return settings(max_examples=max_examples, deadline=None, report_multiple_bugs=False, phases=_PHASES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def _strategy(layer, max_examples, dtype, kind, where, extensions, held):
    """The examples to draw, every argument validated at once (ConfigError)."""
    if not isinstance(max_examples, numbers.Integral) or isinstance(max_examples, bool) or max_examples < 1:
        raise ConfigError(f"max_examples={max_examples!r} is not allowed: it must be an int >= 1")
    if not isinstance(layer, Layer) and layer not in REGISTRY:
        raise ConfigError(f"unknown layer {layer!r}; registered layers: {', '.join(sorted(REGISTRY))}")
    drawn, to_float = data_dtype(dtype, kind, default="float64", error=ConfigError)
    try:
        strategy = examples(layer, dtype="float64" if to_float else None, kind=None if to_float else drawn,
                            where=where, extensions=extensions, **held)
        strategy.validate()
    except InvalidArgument as exc:  # a bad bound (max_side=0, ...): one error type for every bad argument
        raise ConfigError(str(exc)) from None
    return strategy


def _database_key(fn, layer, dtype, kind, where, extensions, held) -> bytes:
    """What one check is about: the function checked, the layer, held parameters, bounds and scope."""
    def name(f):
        return f"{getattr(f, '__module__', '')}.{getattr(f, '__qualname__', repr(f))}"
    scope = (name(fn), repr(layer), dtype, kind, None if where is None else name(where), extensions,
             sorted((k, sorted(map(repr, v)) if isinstance(v, (set, frozenset)) else repr(v)) for k, v in held.items()))
    return hashlib.sha256(repr(scope).encode()).digest()


def _run(prop, strategy, max_examples, key, explain):
    """Run the property; on failure explain the minimal example once (after shrinking) and raise that."""
    seen = []

    def recording(example):
        try:
            prop(example)
        except _Failed:
            seen.append(example)  # Hypothesis replays the minimal example last
            raise

    recording._hypothesis_internal_add_digest = key  # as Hypothesis' pytest plugin tells parametrized cases apart
    test = _settings(max_examples)(given(strategy)(recording))
    try:
        test()
    except _Failed as failed:
        if isinstance(failed.cause, OutOfScope):
            raise ConfigError(_out_of_scope(failed.name, seen[-1], failed.cause)) from None
        if failed.cause is not None:
            raise failed.cause from None
        raise AssertionError(explain(seen[-1])) from None
    except Flaky:
        # The failure did not repeat on Hypothesis' final replay: fn is not deterministic, or the cheap shrink
        # comparator passed an example the reference fails. The reference's own failure is still explained.
        if not seen:
            raise
        raise AssertionError(explain(seen[-1])) from None
    except Unsatisfiable:
        raise ConfigError("no configuration is inside the declared scope (held parameters, bounds and where=): "
                          "Hypothesis found none that satisfies all of them; widen the scope") from None


class _Failed(Exception):
    """Raised by a property: the example failed (cause: an OutOfScope from an adapter, or None)."""

    def __init__(self, name, cause=None):
        super().__init__(name)
        self.name, self.cause = name, cause


def _recorded(fn, record: dict):
    """``fn`` as an oracle that remembers the exception it raised (verify keeps only its text)."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            record["exception"] = exc
            raise
    if not hasattr(call, "__name__"):
        call.__name__ = "backward"
    return call


def _fn_name(fn, default):
    return getattr(fn, "__name__", default)


def check_backward(fn, layer, *, max_examples: int = 100, dtype: str | None = None, kind: str | None = None,
                   oracles=("sympy",), where=None, extensions: bool = False, device: str | None = None,
                   **held) -> None:
    """Hypothesis property test: ``fn(grad_out, *inputs, **params)`` returns the layer's gradients.

    ``layer``: a registered name, or a configured Layer (all its parameters held, shapes drawn).
    ``fn`` receives NumPy arrays in the layer's input order (conv: x (N, C, H, W), w (O, C/groups, kH, kW) and
    b (O,) — or no b at all: drawn configurations leave the bias out half the time, so give it a default) and
    the layer's parameters normalised as ``layer.params`` holds them: per-axis tuples (``stride=(2, 2)``),
    padding as a tuple of ints or 'same'/'valid'. It must return one gradient per input, in that order.
    ``dtype``: "float64" (default: small integers as float64, exact at these sizes), "int64" or "fraction"
    (object arrays of Fractions); ``kind`` (integer, rational, float) is the older spelling.
    ``**held``: layer parameters to hold (a set/frozenset: one of those values per example) and the bounds of
    the layer's strategy (``max_side``, ``max_kernel``, ...); ``where(layer, shapes) -> bool``: the declared
    scope. ``oracles`` are the references (default: the exact SymPy derivation; add "jax" for a second opinion).
    ``device`` ("cpu", "gpu", "tpu"; None: JAX's default backend): where JAX computes, the jax oracle and
    ``fn`` itself when it is JAX code (``adapters.jax``); ConfigError at once when JAX has no such device.
    Raises AssertionError explaining the minimal failing example; ConfigError on bad arguments or when the
    code under test raises ``OutOfScope``; returns None when every example passes.
    """
    strategy = _strategy(layer, max_examples, dtype, kind, where, extensions, held)
    oracles = tuple(oracles)
    name = _fn_name(fn, "backward")
    jax_oracle.resolve_device(device)  # a device JAX lacks: one ConfigError before anything is drawn

    # Once an example has failed against the reference, Hypothesis only shrinks it: the shrink steps compare
    # fn with the hand-coded NumPy backward (itself checked against the SymPy derivation by gradcheck's own
    # tests), which is many times cheaper; the minimal example is then explained against the reference, and
    # if the reference did not fail there, the first failure it confirmed is explained instead.
    failed_on_reference = []

    def backward_agrees(example, shrinking_oracles=("numpy",)):
        record = {}
        reference = shrinking_oracles if failed_on_reference else oracles
        verdict = verify(example.layer, *example.inputs, grad_out=example.grad_out,
                         oracles=(*reference, _recorded(fn, record)), device=device)
        cause = record.get("exception") if isinstance(record.get("exception"), OutOfScope) else None
        broken = [o for o in reference if o in verdict.errors]
        if broken and reference is not oracles:
            return  # the shrink comparator cannot run here: this step tells nothing (a pass keeps the last failure)
        if broken:  # the reference itself cannot run here: not fn's fault, and nothing was compared
            cause = ConfigError(f"the reference oracle {broken[0]} cannot run on {example.layer!r}: "
                                f"{verdict.errors[broken[0]]}; choose others with oracles=(...)")
        if cause is not None or not verdict.ok:
            if reference is oracles and cause is None:
                failed_on_reference.append(example)
            raise _Failed(name, cause)

    def explain(minimal):
        message = _explain_backward(fn, minimal, oracles, device)
        if message is None and failed_on_reference:  # the shrink comparator and the reference differ here
            message = _explain_backward(fn, failed_on_reference[0], oracles, device)
        return message or f"{name}: a disagreement with the NumPy backward that the reference did not confirm"

    _run(backward_agrees, strategy, max_examples, _database_key(fn, layer, dtype, kind, where, extensions, held),
         explain)


def _explain_backward(fn, example: Example, oracles, device=None) -> str | None:
    """The failure message for the minimal example: what went wrong, where, and which mistake it is
    (None when ``fn`` agrees with the reference there)."""
    layer = example.layer
    name = _fn_name(fn, "backward")
    record = {}
    verdict = verify(layer, *example.inputs, grad_out=example.grad_out, oracles=(*oracles, _recorded(fn, record)),
                     device=device)
    if verdict.ok:
        return None
    user = next(o for o in verdict.oracles if o not in oracles)
    lines = [f"{name} is wrong for {layer!r} with shapes {example.shapes}"]
    if "exception" in record:
        lines += _raised(name, record["exception"], layer)
    elif user in verdict.errors:
        lines.append(f"  {name} returned a wrong result: {verdict.errors[user]}")
        lines.append("  it must return one gradient per input, in the order "
                     f"({', '.join(example.shapes)}), each with that input's shape")
    else:
        reference = oracles[0]
        for m in verdict.mismatches:
            lines.append(f"  grad_{m.gradient}: {m.n_wrong} wrong element(s); first:")
            for index, values in m.first_wrong[:MAX_SHOWN]:
                lines.append(f"    [{', '.join(map(str, index))}]  expected {format_number(values[reference])}"
                             f"  got {format_number(values[user])}")
            quantity = f"grad_{m.gradient}"
            found = _named(fn, example, quantity)
            if found and all(mistakes.CATALOGUE[m].kind == "convention" for m in found):
                lines.append(f"  {quantity}: a convention difference, not a mistake: {mistakes.describe(found)}")
            elif found:
                lines.append(f"  {quantity}: this is the mistake: {mistakes.describe(found)}")
    lines.append("minimal failing example:")
    lines.append(repr(example))
    return "\n".join(lines)


def _fresh(example: Example, rng, low: int) -> tuple[list, np.ndarray]:
    """New data for the configuration of ``example``: its differentiable inputs and grad_out redrawn from
    low..-low, in the same dtype; other inputs (class targets, pooling indices) kept."""
    def like(a):
        values = rng.integers(low, 1 - low, np.shape(a))
        if np.asarray(a).dtype == object:
            return np.array([Fraction(int(v)) for v in values.ravel()], dtype=object).reshape(values.shape)
        return values.astype(np.asarray(a).dtype)
    layer = example.layer
    inputs = [like(a) if n in layer.differentiable else np.asarray(a)
              for n, a in zip(layer.inputs, example.inputs)]
    return inputs, like(example.grad_out)


def _named(fn, example: Example, quantity: str) -> list[str]:
    """The catalogued mistakes that reproduce ``fn``'s wrong ``quantity`` on the minimal example and on fresh data.

    A shrunk example is small and full of zeros, so a mistake can match it by accident (relu'(0) = 1 looks
    like a missing mask on x = 0). ``fn`` is deterministic: a name is kept only when it predicts exactly what
    ``fn`` returns for ``quantity`` on the example and on each of FRESH_DRAWS fresh draws of its configuration
    (half from -1..1: zeros and ties; half from -3..3). A mistake named on a parameter gradient is also held
    to the gradient of the first input (the data), which every mistake in the layer's model changes (a
    flipped kernel), but not to the other parameter gradients: those are separate reductions, so a bug in
    one alone (dW not summed over the batch, db right) is named on that one. A mistake named on the data
    gradient is held to every gradient (dX from an unrotated filter is not a flipped kernel if dW is right).
    """
    layer = example.layer
    names = layer.inputs[:len(example.inputs)]
    data = f"grad_{names[0]}"
    held_to = [q for q in dict.fromkeys((quantity, data)) if q[len("grad_"):] in layer.differentiable]
    if quantity == data:  # a wrong data gradient: the mistake must leave fn's parameter gradients as fn has them
        held_to = [f"grad_{n}" for n in names if n in layer.differentiable]
    surviving = [m.id for m in mistakes.for_layer(layer.name) if m.kind in ("backward", "convention")]
    rng = np.random.default_rng(0)
    for draw in range(1 + FRESH_DRAWS):
        if not surviving:
            break
        inputs, g = ((list(example.inputs), example.grad_out) if draw == 0 else
                     _fresh(example, rng, -1 if draw % 2 else -3))
        try:
            answers = dict(zip((f"grad_{n}" for n in names), fn(g, *inputs, **layer.params)))
        except Exception:
            continue  # this draw tells nothing; fn's exception on the minimal example is reported instead
        arrays = dict(zip(names, inputs))
        kept = []
        for m in surviving:
            try:
                predictions = mistakes.CATALOGUE[m].predict(layer, arrays, g)
            except Exception:  # the mistake cannot be made here: it cannot be what fn did
                continue
            if any(quantity in p and all(q not in p or mistakes.same_values(answers.get(q), p[q]) for q in held_to)
                   for p in predictions):
                kept.append(m)
        surviving = kept
    return surviving


def _user_frame(exc: BaseException):
    """The last frame of the traceback in the user's own code: outside gradcheck and installed libraries."""
    package = os.path.dirname(os.path.abspath(__file__))
    libraries = {os.path.abspath(sysconfig.get_paths()[k]) for k in ("stdlib", "purelib", "platlib")}
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(package + os.sep)]
    own = [f for f in frames if not any(os.path.abspath(f.filename).startswith(lib + os.sep) for lib in libraries)]
    return (own or frames or [None])[-1]


def _raised(name, exc, layer) -> list[str]:
    lines = [f"  {name} raised {type(exc).__name__}: {exc}"]
    frame = _user_frame(exc)
    if frame is not None:
        source = f": {frame.line}" if frame.line else ""
        lines.append(f"    at {frame.filename}:{frame.lineno} in {frame.name}{source}")
    lines.append(f"  on the configuration {layer!r}")
    lines.append("  if your code does not cover this configuration, narrow the scope: hold parameters "
                 "(e.g. stride=1, or a set: padding={0, 1}) or pass where=lambda layer, shapes: ...")
    return lines


def _out_of_scope(name, example: Example, exc: OutOfScope) -> str:
    what = f"hold {exc.parameter}" if exc.parameter else "hold the parameter it names"
    current = example.layer.params.get(exc.parameter) if exc.parameter else None
    shown = f" (drawn here: {exc.parameter}={current!r})" if current is not None else ""
    return (f"{name} cannot express {example.layer!r} with shapes {example.shapes}: {exc}. "
            f"Declare the scope your code covers: {what}{shown} to a value it supports, e.g. "
            f"check_backward(..., {exc.parameter or 'name'}=VALUE), or pass where=lambda layer, shapes: ...")


def check_forward(fn, layer, *, max_examples: int = 100, dtype: str | None = None, kind: str | None = None,
                  where=None, extensions: bool = False, **held) -> None:
    """Hypothesis property test: ``fn(*inputs, **params)`` returns the layer's output, exactly.

    Arguments as for :func:`check_backward`. The reference is the forward value of the layer's SymPy rule
    (exact on integer/rational data, and on integer-valued float64 for layers closed on integers).
    """
    from . import symbolic

    strategy = _strategy(layer, max_examples, dtype, kind, where, extensions, held)
    name = _fn_name(fn, "forward")

    def wrong_forward(example, explain=True):
        """None when fn is right on this example, else the failure message (True when not ``explain``ed)."""
        configured = example.layer
        arrays = dict(zip(configured.inputs, example.inputs))
        expected = symbolic.forward(configured, arrays)
        try:
            got = np.asarray(fn(*example.inputs, **configured.params))
        except OutOfScope as exc:
            return exc
        except Exception as exc:
            return "\n".join([f"{name} is wrong for {configured!r} with shapes {example.shapes}",
                              *_raised(name, exc, configured), repr(example)])
        if not explain and (got.shape != expected.shape):
            return True
        if got.shape != expected.shape:
            found = mistakes.diagnose(configured, arrays, example.grad_out, {"out": got}, {"out": expected})
            named = f"\n  this is the mistake: {mistakes.describe(found)}" if found else ""
            return (f"{name} returned shape {got.shape}, expected {expected.shape} for "
                    f"{configured!r}{named}\n{example!r}")
        exact = configured.exact and (got.dtype.kind in "iuO" or (
            configured.closed_on_integers and integer_valued(list(example.inputs)) and integer_valued([got])))
        wrong = ~within(got, expected, 0.0 if exact else rtol_for(np.float64))
        if not wrong.any():
            return None
        if not explain:
            return True
        lines = [f"{name} is wrong for {configured!r}: {int(wrong.sum())} wrong element(s); first:"]
        for index in list(zip(*np.nonzero(wrong)))[:MAX_SHOWN]:
            lines.append(f"  [{', '.join(map(str, index))}]  expected {format_number(expected[index])}"
                         f"  got {format_number(got[index])}")
        found = mistakes.diagnose(configured, arrays, example.grad_out, {"out": got}, {"out": expected})
        if found:
            lines.append(f"  this is the mistake: {mistakes.describe(found)}")
        return "\n".join(lines + ["minimal failing example:", repr(example)])

    def forward_agrees(example):
        problem = wrong_forward(example, explain=False)
        if problem is not None:
            raise _Failed(name, problem if isinstance(problem, OutOfScope) else None)

    _run(forward_agrees, strategy, max_examples, _database_key(fn, layer, dtype, kind, where, extensions, held),
         wrong_forward)
