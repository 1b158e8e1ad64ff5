"""Run several oracles on one configuration, compare their gradients, vote, and explain.

``verify(layer, *inputs, grad_out=g)`` returns a :class:`Verdict`. On integer or rational data the
oracles that are exact there are compared with ``==``; so are sympy and numpy on float data where the
layer's rule lets them compute on the floats' integers (``gradcheck.dyadic``); any pair involving a float
result uses the tolerance of ``gradcheck.tolerance``. When oracles disagree the verdict names the odd one out (the
oracle whose removal leaves the others in agreement) and lists the first wrong elements.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import numbers
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from . import dyadic, symbolic
from . import oracles as oracle_registry
from . import number_text, symbolic
from .oracles import jax_oracle
from .errors import ConfigError
from .layers import Layer, layer as make_layer
from .layers.base import FLOAT64_EXACT, is_rational_data, value_bound
from .tolerance import rtol_finite_differences, rtol_for, within

MAX_SHOWN = 5


def data_kind(arrays) -> str:
    """'integer', 'rational' or 'float': which oracles can be exact on this data (Python ints in object
    arrays, integers too large for int64, are integers)."""
    if all(a.dtype.kind in "iu" or a.dtype == object and all(type(v) is int for v in a.flat) for a in arrays):
        return "integer"
    return "rational" if all(is_rational_data(a) for a in arrays) else "float"


def default_grad_out(shape, like_float: bool) -> np.ndarray:
    """The upstream gradient used when none is given: small integers from a fixed seed (0); for a scalar
    output (a loss) 1, so the gradients are those of the loss itself."""
    shape = tuple(shape)
    g = np.ones((), dtype=np.int64) if shape == () else np.random.default_rng(0).integers(-3, 4, size=shape)
    return g.astype(np.float64) if like_float else g


# How verdicts print an oracle's number: a Fraction as a/b (its exact value), a float to 12 digits.
format_number = functools.partial(number_text.format_number, fractions="ratio", float_digits=12)


@dataclass
class Mismatch:
    """Where oracles disagree on one gradient."""

    gradient: str
    odd_one_out: str | None          # the oracle whose removal leaves the others agreeing
    agreeing: tuple[str, ...]        # the oracles that agree with each other
    n_wrong: int
    first_wrong: list[tuple[tuple[int, ...], dict[str, object]]]  # (index, {oracle: value})


@dataclass
class Verdict:
    """The outcome of :func:`verify`. ``ok`` is True when every oracle ran and all agree."""

    layer: Layer
    shapes: dict[str, tuple[int, ...]]
    kind: str
    oracles: tuple[str, ...]
    gradients: dict[str, dict[str, np.ndarray]]       # oracle -> gradient name -> array (shape given)
    errors: dict[str, str] = field(default_factory=dict)    # oracle -> what went wrong
    mismatches: list[Mismatch] = field(default_factory=list)
    tolerances: dict[tuple[str, str], float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)   # oracle -> where it computed ("gpu", "cpu fallback")
    precisions: dict[str, str] = field(default_factory=dict)  # oracle -> "float32" where its device has no float64

    def label(self, oracle: str) -> str:
        """The oracle's name, with the device that computed its result where that is not the plain CPU
        (``jax[gpu]``, ``jax[cpu fallback]``): on a machine with an accelerator the reader learns which."""
        device = self.devices.get(oracle, "cpu")
        return oracle if device == "cpu" else f"{oracle}[{device}]"

    @property
    def ok(self) -> bool:
        return not self.errors and not self.mismatches

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        shapes = "  ".join(f"{k} {v}" for k, v in self.shapes.items())
        # "exact" only when some pair was held to ==: finite differences against anything never are.
        exact = any(t == 0 for t in self.tolerances.values())
        compare = ("nothing compared" if not self.tolerances else
                   "exact comparison" if exact else "float tolerance")
        lines = [f"{self.layer!r}  {shapes}  [{self.kind} data, {compare}]"]
        for name, err in self.errors.items():
            lines.append(f"  oracle {name} FAILED: {err}")
        names = next(iter(self.gradients.values()), {}).keys() if self.gradients else []
        for grad in names:
            bad = [m for m in self.mismatches if m.gradient == grad]
            if not bad:
                lines.append(f"  grad_{grad}: {' = '.join(map(self.label, self.gradients))}")
                continue
            m = bad[0]
            who = (f"{self.label(m.odd_one_out)} is the odd one out ({' = '.join(map(self.label, m.agreeing))})"
                   if m.odd_one_out else "no majority")
            lines.append(f"  grad_{grad}: DISAGREE, {who}; {m.n_wrong} element(s) differ. First:")
            for index, values in m.first_wrong:
                lines.append(f"    [{', '.join(map(str, index))}]  " +
                             "  ".join(f"{self.label(o)}={format_number(v)}" for o, v in values.items()))
        inexact = sorted({f"{a}~{b} {t:.2g}" for (a, b), t in self.tolerances.items() if t})
        if inexact:
            lines.append(f"  compared within rtol (a float result is involved): {', '.join(inexact)}")
        for oracle, dtype in self.precisions.items():
            lines.append(f"  {self.label(oracle)} computed in {dtype}: its device has no float64, so its result is "
                         f"compared within {dtype}'s tolerance, never exactly")
        count = len(self.gradients)
        lines.append(f"OK: {count} oracles agree" if self.ok else "FAILED: the oracles disagree" if
                     self.mismatches else "FAILED: an oracle did not run")
        return "\n".join(lines)


def integer_valued(arrays) -> bool:
    """Float64 data holding integers only, each below 2**53 in magnitude: what float64 represents exactly."""
    floats = [a for a in arrays if a.dtype.kind == "f"]
    return bool(floats) and all(a.dtype == np.float64 and np.all(np.abs(a) < 2.0**53) and np.all(a == np.round(a))
                                for a in floats)


def _pair_rtol(layer: Layer, a: str, b: str, kind: str, results, integral: bool = False) -> float:
    """0 (compare with ==) when both results are exact on this data, else the pair's float tolerance.

    A result is exact when it comes back as ints or Fractions (the sympy and numpy oracles on exact data,
    a user backward that keeps them), or when the oracle is declared exact on this kind of data and,
    for a float64 result, the layer is closed on integers (jax: small integer sums are exact in float64,
    1/9 is not). ``integral``: the float data are integer-valued (:func:`integer_valued`); then a float64
    result of a layer closed on integers is exact too while its magnitudes stay below 2**53, from a user's
    backward or an oracle exact on integer data (not finite differences, which round at every step).
    """
    def result_is_exact(name):
        spec = oracle_registry.ORACLES.get(name)
        dtypes = [np.asarray(g).dtype for g in results[name].values()]
        if all(d.kind in "iuO" for d in dtypes):
            return True
        if any(d.kind == "f" and d.itemsize < 8 for d in dtypes):  # float32 (jax on a TPU) rounds past 2**24
            return False
        if integral and layer.closed_on_integers and (spec is None or "integer" in spec.exact_on) and all(
                d.kind in "iuO" or (d == np.float64 and np.all(np.abs(np.asarray(g)) < 2.0**53))
                for d, g in zip(dtypes, results[name].values())):
            return True
        return spec is not None and kind in spec.exact_on and (kind != "integer" or layer.closed_on_integers)

    if layer.exact and result_is_exact(a) and result_is_exact(b):
        return 0.0
    if "fd" in (a, b):
        return rtol_finite_differences()
    return max([rtol_for(np.float64)] + [rtol_for(np.asarray(g).dtype) for n in (a, b)
                                         for g in results[n].values() if np.asarray(g).dtype.kind == "f"])


def choose_oracles(oracles) -> list:
    """The oracles to run: names ("sympy", ...; or one comma-separated string) and/or user backward callables.

    At least two different ones, or ConfigError: one result compared with nothing is no check, and an oracle
    named twice is one result, not two. Distinct callables that share a name ("<lambda>") are told apart as
    "<lambda>#2", ... so that no result overwrites another.
    """
    if isinstance(oracles, str):
        oracles = [o.strip() for o in oracles.split(",") if o.strip()]
    elif callable(oracles):
        oracles = [oracles]
    chosen, seen = [], set()
    for o in oracles:
        if (o if callable(o) else None) in seen or isinstance(o, str) and o in {c.name for c in chosen}:
            raise ConfigError(f"oracle {getattr(o, '__name__', o)!r} is given twice: the same oracle twice is one "
                              "result, not two; give at least two different oracles")
        oracle = oracle_registry.get(o)
        if callable(o):
            seen.add(o)
            names = {c.name for c in chosen}
            if oracle.name in names:
                oracle = dataclasses.replace(oracle, name=next(f"{oracle.name}#{k}" for k in itertools.count(2)
                                                               if f"{oracle.name}#{k}" not in names))
        chosen.append(oracle)
    if len(chosen) < 2:
        given = ", ".join(c.name for c in chosen) or "none"
        raise ConfigError(f"oracles: {given}: at least two different oracles are needed, since a verdict "
                          f"compares their results (e.g. {', '.join(oracle_registry.DEFAULT_ORACLES)})")
    return chosen


def verify(layer, *inputs, grad_out=None, oracles=oracle_registry.DEFAULT_ORACLES, max_terms=None,
           device=None, **params) -> Verdict:
    """Compute the gradients of ``layer`` on ``inputs`` with each oracle and compare them.

    ``layer`` is a Layer or a registered name (then ``params`` configure it). ``grad_out`` defaults to
    :func:`default_grad_out`. ``oracles`` holds at least two different names ("sympy", "numpy", "jax", "fd")
    and/or user backward callables ``fn(grad_out, *inputs, **params)`` (ConfigError otherwise: see
    :func:`choose_oracles`). ``max_terms`` bounds the sympy oracle's work (``gradcheck.symbolic.max_terms``
    when None): a configuration estimated past it is refused with a ConfigError before anything runs.
    ``device`` ("cpu", "gpu", "tpu"; None: JAX's default backend) is where JAX computes: the jax oracle and a
    user's ``adapters.jax`` code; ConfigError when JAX has no such device here, or when no oracle uses JAX.
    """
    layer = make_layer(layer, **params)
    chosen = choose_oracles(oracles)
    target = resolve_device(device, chosen)
    arrays, given, g = layer.prepare(inputs, grad_out)
    if any(o.name == "sympy" for o in chosen):
        symbolic.check_size(layer, {k: v.shape for k, v in arrays.items()}, max_terms)
    if g is None:
        out_shape = layer.output_shape({k: v.shape for k, v in arrays.items()})
        g = default_grad_out(out_shape, like_float=any(a.dtype.kind == "f" for a in arrays.values()))
    kind = data_kind(list(arrays.values()) + [g])
    # Integer results past 2**53 are rounded in float64 (jax): then only ints and Fractions are held to ==.
    compared_as = ("large integer" if kind == "integer" and
                   value_bound(layer, list(arrays.values()) + [g]) >= FLOAT64_EXACT else kind)
    # Python ints past float64's range (≈ 1.8e308): only exact results can be computed and compared there.
    huge = not _within_float_range(list(arrays.values()) + [g])
    # Float data as integers times powers of two (gradcheck.dyadic), for the oracles exact on integers at any
    # size: exact, and as fast as integer data. Only when the sympy oracle runs, whose size limit bounds the
    # work (numpy = jax on VGG-sized float data stays in float64).
    scaled = (dyadic.to_integers(layer, arrays, g) if kind == "float" and any(o.name == "sympy" for o in chosen)
              else None)
    results, errors, seconds, devices, precisions = {}, {}, {}, {}, {}
    for oracle in chosen:
        start = time.perf_counter()
        try:
            if scaled is not None and {"integer", "rational"} <= oracle.exact_on:  # sympy, numpy: no JAX
                grads = oracle.gradients(layer, scaled.arrays, scaled.grad_out)
                results[oracle.name] = scaled.back(_check_shapes(grads, arrays))
            else:
                with jax_oracle.on_device(target):
                    grads = oracle.gradients(layer, arrays, g)
                if getattr(grads, "device", None):  # the jax oracle says where it computed (see jax_oracle)
                    devices[oracle.name] = grads.device
                if getattr(grads, "precision", "float64") != "float64":  # and in what, where not float64 (a TPU)
                    precisions[oracle.name] = grads.precision
                results[oracle.name] = _check_shapes(grads, arrays)
            if huge and any(r.dtype.kind == "f" for r in results[oracle.name].values()):
                del results[oracle.name]
                raise ValueError("the data hold integers beyond float64's range (about 1.8e308), where this "
                                 "oracle computes; compare exact oracles (sympy, numpy) on such data")
        except Exception as exc:  # an oracle that crashes is reported, not re-raised
            errors[oracle.name] = f"{type(exc).__name__}: {exc}"
        seconds[oracle.name] = time.perf_counter() - start

    shown = {**given, "grad_out": np.shape(grad_out) if grad_out is not None else g.shape}
    verdict = Verdict(layer, shown, kind, tuple(o.name for o in chosen),
                      gradients={}, errors=errors, seconds=seconds, devices=devices, precisions=precisions)
    for name in results:
        verdict.gradients[name] = dict(zip(
            results[name], layer.restore_shapes(list(results[name].values()), {k: given[k] for k in results[name]})))
    ran = list(results)
    scales = {} if huge else layer.gradient_scale(arrays, g)  # only float pairs use them; none is left if huge
    integral = kind == "float" and integer_valued(list(arrays.values()) + [np.asarray(g)])
    for grad in (n for n in arrays if n in layer.differentiable):
        agree = {}
        for a, b in itertools.combinations(ran, 2):
            rtol = _pair_rtol(layer, a, b, compared_as, results, integral)
            verdict.tolerances[(a, b)] = rtol
            agree[(a, b)] = agree[(b, a)] = within(results[a][grad], results[b][grad], rtol,
                                                        scales.get(grad, 0.0))
        if all(v.all() for v in agree.values()):
            continue
        verdict.mismatches.append(_explain(grad, ran, agree, results, given[grad]))
    return verdict


def resolve_device(device, chosen):
    """The JAX device for ``device=`` (None: JAX's default). Refused when every oracle is a named one and none is
    jax: the device would change nothing, and a user reading "--device gpu ... OK" would think the GPU checked."""
    if device is None:
        return None
    target = jax_oracle.resolve_device(device)
    builtin = [o for o in chosen if oracle_registry.ORACLES.get(o.name) is o]  # a user's backward may use JAX
    if len(builtin) == len(chosen) and not any(o.name == "jax" for o in builtin):
        raise ConfigError(f"device={device!r} chooses where JAX computes, but no oracle here uses JAX (oracles: "
                          f"{', '.join(o.name for o in chosen)}); add jax to the oracles, or leave the device out")
    return target


def _within_float_range(arrays) -> bool:
    for a in arrays:
        if a.dtype == object:
            try:
                np.asarray(a, dtype=np.float64)
            except OverflowError:
                return False
    return True


_EXACT_NUMBERS = frozenset({int, Fraction, float})


def _check_shapes(grads, arrays):
    """Each gradient as an array of the input's shape holding numbers, or a ValueError saying what it is."""
    out = {}
    for name, g in grads.items():
        if np.shape(g) != arrays[name].shape:
            raise ValueError(f"gradient for {name} has shape {np.shape(g)}, expected {arrays[name].shape}")
        arr = np.asarray(g)
        if arr.dtype.kind not in "iuf" and not (arr.dtype == object and (
                all(type(v) in _EXACT_NUMBERS for v in arr.flat) or  # the common case, without ABC checks
                all(isinstance(v, (numbers.Rational, float, np.floating)) and not isinstance(v, bool)
                    for v in arr.flat))):
            bad = next((v for v in arr.flat if not isinstance(v, (numbers.Rational, float, np.floating))), arr.dtype)
            bad = bad.item() if isinstance(bad, np.generic) else bad
            raise ValueError(f"gradient for {name} holds {bad!r} ({type(bad).__name__}): gradients must be numbers")
        out[name] = arr
    return out


def _explain(grad, ran, agree, results, given_shape) -> Mismatch:
    """Find the odd one out and the first elements where it is wrong."""
    odd, agreeing = None, tuple(ran)
    for candidate in ran:
        rest = [o for o in ran if o != candidate]
        if rest and all(agree[(a, b)].all() for a, b in itertools.combinations(rest, 2)):
            if len(rest) >= 2 or candidate != "sympy":  # with two oracles, trust the exact derivation
                odd, agreeing = candidate, tuple(rest)
                break
    if odd is not None:
        wrong = ~agree[(odd, agreeing[0])]
    else:
        wrong = np.zeros_like(next(iter(agree.values())))
        for v in agree.values():
            wrong |= ~v
    flat_wrong = np.flatnonzero(wrong)
    first = []
    for flat in flat_wrong[:MAX_SHOWN]:
        full_index = np.unravel_index(flat, wrong.shape)
        index = tuple(int(i) for i in np.unravel_index(flat, given_shape))
        first.append((index, {o: results[o][grad][full_index] for o in ran}))
    return Mismatch(grad, odd, agreeing if odd else (), int(flat_wrong.size), first)
