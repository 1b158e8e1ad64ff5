"""Exact gradient checks at any size by random projection: ``gc.verify_projected``.

A backward's gradients G_i must satisfy, for every direction u = (u_1, ..., u_n) (one array per
differentiable input),

    Σ_i ⟨G_i, u_i⟩  =  D(u) = d/dt ⟨g, f(inputs + t·u)⟩ at t = 0.

For a layer that is affine in each input while the others are held (``Layer.multiaffine``: convolutions,
linear, average pooling, ...), P(t) = ⟨g, f(inputs + t·u)⟩ is a polynomial in t of degree at most
``layer.degree``, so a central stencil over t = ±1, ..., ±m (2m ≥ degree) gives D(u) *exactly*:
(P(1) − P(−1))/2 for degree ≤ 2. P is evaluated with the layer's own NumPy forward, code independent of any
backward; the two sides are two independent results.

Exact mode (a layer closed on integers, integer data): u_i has entries drawn uniformly from a set of S
integers; everything is computed in integers and compared with ==. If G ≠ the true gradient, the error
e = G − Jᵀg has some e_j ≠ 0, and with the other entries of u fixed at most one of the S values of u_j makes
⟨e, u⟩ = 0: a wrong gradient survives one trial with probability ≤ 1/S, k independent trials ≤ S^−k.
The forward runs in float64 BLAS when a bound proves every sum it forms is an integer below 2**53 (then
float64 is exact whatever the summation order); otherwise in the layer's exact int64 / Python-int path. A layer
that divides (avg_pool2d) or rational data: Python ints and Fractions throughout, up to ``RATIONAL_MAX`` entries.

Float mode (float data, or exact data a float64 computation cannot hold): the same identity in float64, held to
``tolerance.rtol_for(float64)`` on the scale of the terms (see ``_Float._tolerance``); u is drawn from
{−2..2}·2^e_i, 2^e_i the power of two at the input's magnitude, so no term swamps another.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from . import oracles as oracle_registry
from .errors import ConfigError
from .layers import REGISTRY, Layer, layer as make_layer
from .layers.base import FLOAT64_EXACT, INT64_SAFE, as_float64, value_bound
from .tolerance import rtol_for
from .verify import _check_shapes, default_grad_out, format_number, integer_valued

MAX_SET_BITS = 20      # u_j from 2**20 integers: 2**-20 a trial; smaller when the exact float64 bound needs it
RATIONAL_MAX = 200_000  # entries (inputs and grad_out) up to which a layer that divides, or rational data, are
                        # checked exactly in Python Fractions (about 1 µs an operation); past it in float64
FLOAT_SET = 2          # float mode: u_j in {-2..2} times the input's scale


def multiaffine_layers() -> list[str]:
    return sorted(n for n, cls in REGISTRY.items() if cls.multiaffine)


def stencil(degree: int) -> list[tuple[int, Fraction]]:
    """[(j, c_j)]: P'(0) = Σ_j c_j·(P(j) − P(−j)) for every polynomial P of degree ≤ ``degree``
    (odd powers t^k, k < 2m, must give [k == 1]; even powers cancel in P(j) − P(−j))."""
    m = max(1, math.ceil(degree / 2))
    # Σ_j c_j·2·j^k = [k == 1] for k = 1, 3, ..., 2m − 1: a Vandermonde system, solved in rationals.
    rows = [[Fraction(2 * j ** k) for j in range(1, m + 1)] + [Fraction(k == 1)] for k in range(1, 2 * m, 2)]
    for col in range(m):
        pivot = rows[col][col]
        rows[col] = [v / pivot for v in rows[col]]
        for r in range(m):
            if r != col and rows[r][col]:
                factor = rows[r][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col])]
    return [(j, rows[j - 1][m]) for j in range(1, m + 1)]


@dataclass
class Trial:
    """One random direction: the backward's side per input and in total, the forward's D(u)."""

    number: int
    backward: dict[str, object]        # input -> ⟨G_i, u_i⟩
    backward_total: object
    forward_total: object              # D(u) from the forward (exact: int or Fraction)
    tolerance: float                   # 0.0: compared with ==
    ok: bool
    wrong_inputs: tuple[str, ...] = ()  # on a failure: the inputs whose own projection disagrees


@dataclass
class ProjectedVerdict:
    """The outcome of :func:`verify_projected`; ``ok`` when the backward ran and every trial agreed."""

    layer: Layer
    shapes: dict[str, tuple[int, ...]]
    exact: bool
    mode: str                          # why exact or float, in words
    set_size: int                      # S: entries of u are drawn from S values (exact mode)
    seed: int
    trials: list[Trial] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.trials) and all(t.ok for t in self.trials)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failure_bound(self) -> float | None:
        """Probability that a wrong gradient passes every trial (exact mode): S^−k."""
        return float(self.set_size) ** -len(self.trials) if self.exact and self.trials else None

    def failed_trial(self) -> Trial | None:
        return next((t for t in self.trials if not t.ok), None)

    def __str__(self) -> str:
        shapes = "  ".join(f"{k} {v}" for k, v in self.shapes.items())
        how = (f"exact, u from {self.set_size:,} integers" if self.exact else "float64 within tolerance")
        lines = [f"{self.layer!r}  {shapes}  [projected, {len(self.trials)} trial(s), {how}; {self.mode}; "
                 f"seed {self.seed}]"]
        for name, err in self.errors.items():
            lines.append(f"  {name} FAILED: {err}")
        for t in self.trials:
            per_input = "  ".join(f"⟨grad_{k}, u⟩={_num(v)}" for k, v in t.backward.items())
            verdict = "agree" if t.ok else "DISAGREE"
            cmp = "=" if t.tolerance == 0 else f"≈ (tol {t.tolerance:.3g})"
            if not t.ok or t.number == 1:
                lines.append(f"  trial {t.number}: backward Σ={_num(t.backward_total)} {cmp} forward "
                             f"D(u)={_num(t.forward_total)}: {verdict}  ({per_input})")
            if t.wrong_inputs:
                lines.append(f"    wrong: {', '.join('grad_' + w for w in t.wrong_inputs)} (their own projections "
                             "disagree with the forward's partial derivatives)")
        if self.ok:
            bound = (f"; a wrong gradient passes all {len(self.trials)} with probability ≤ "
                     f"{self.set_size}^-{len(self.trials)} = {self.failure_bound:.3g}" if self.exact else "")
            lines.append(f"OK: backward and forward agree in {len(self.trials)} random projection(s){bound}")
        elif self.errors:
            lines.append("FAILED: the check could not run")
        else:
            bad = self.failed_trial()
            lines.append(f"FAILED: trial {bad.number} of {len(self.trials)}: the backward is not the gradient "
                         "of the forward")
        return "\n".join(lines)


def _num(v) -> str:
    return format_number(v) if not isinstance(v, float) else f"{v:.12g}"


# -- exact arithmetic ----------------------------------------------------------------------------------
def _exact_dot(a: np.ndarray, b: np.ndarray, a_max: int | None = None, b_max: int | None = None) -> int:
    """⟨a, b⟩ of two integer arrays (int64, Python ints, or float64 holding integers below 2**53) as a Python
    int. While max|a|·max|b|·n provably stays in the type's exact range (2**53 in float64, where BLAS sums
    exactly in any order; 2**62 in int64) one dot does; otherwise b = hi·2^k + lo with |lo| ≤ 2^(k−1) small
    enough that ⟨a, lo⟩ fits, and hi in turn; Python ints when not even one bit fits. ``a_max``/``b_max``:
    known bounds on |a| and |b| (not scanned for then)."""
    a, b = a.ravel(), b.ravel()
    if a.dtype == object or b.dtype == object or a.dtype.kind != b.dtype.kind:
        return _python_dot(a, b)
    limit = FLOAT64_EXACT if a.dtype.kind == "f" else INT64_SAFE
    a_max = max(int(np.max(np.abs(a), initial=0)) if a_max is None else a_max, 1)
    n = max(a.size, 1)
    bits = limit.bit_length() - 2 - a_max.bit_length() - n.bit_length()
    if bits < 1:
        return _python_dot(a, b)
    total, shift, base = 0, 0, 2 ** bits
    while True:
        if b_max is None:
            b_max = int(np.max(np.abs(b), initial=0))
        if a_max * b_max * n < limit:
            return total + (int(np.dot(a, b)) << shift)
        if b.dtype.kind == "f":  # exact: scaling by 2^-k, rounding to an integer, and hi·2^k − b are all exact
            high = np.round(b * (1.0 / base))
            low = np.multiply(high, -base)
            low += b
        else:
            high = (b + base // 2) // base
            low = b - high * base
        total += int(np.dot(a, low)) << shift  # |low| ≤ 2^(k−1): within the limit by the choice of k
        b, shift, b_max = high, shift + bits, b_max // base + 1


def _has_floats(arr) -> bool:
    return arr.dtype.kind == "f" or arr.dtype == object and any(isinstance(v, (float, np.floating)) for v in arr.flat)


def _python_dot(a, b):
    """⟨a, b⟩ in Python ints and Fractions: exact at any size (float64 entries go through int64 first)."""
    a, b = (x.ravel().astype(np.int64) if x.dtype.kind == "f" else x.ravel() for x in (a, b))
    value = np.dot(a.astype(object), b.astype(object))
    return value if isinstance(value, Fraction) else int(value)


def _integers(grad: np.ndarray):
    """The gradient as an integer array, or (None, flat index) of its first non-integer entry."""
    if grad.dtype.kind in "iu":
        return grad.astype(np.int64) if grad.dtype.kind == "i" else grad.astype(object), None
    if grad.dtype == object:
        bad = next((i for i, v in enumerate(grad.flat) if not _whole(v)), None)
        return (np.array([int(v) for v in grad.flat], dtype=object).reshape(grad.shape), None) if bad is None \
            else (None, bad)
    finite = np.isfinite(grad)
    whole = finite & (grad == np.round(np.where(finite, grad, 0)))
    if not whole.all():
        return None, int(np.flatnonzero(~whole)[0])
    if np.all(np.abs(grad) < 2.0 ** 53):
        return grad.astype(np.float64), None   # integers float64 holds exactly: dotted by BLAS, exactly
    if np.all(np.abs(grad) < 2.0 ** 63):
        return grad.astype(np.int64), None
    return np.array([int(v) for v in grad.flat], dtype=object).reshape(grad.shape), None


def _whole(v) -> bool:
    try:
        return Fraction(v).denominator == 1
    except (TypeError, ValueError, OverflowError):  # nan, inf
        return False


# -- the check -----------------------------------------------------------------------------------------
def verify_projected(layer, *inputs, grad_out=None, backward=None, trials: int = 8, seed: int | None = None,
                     **params) -> ProjectedVerdict:
    """Check ``backward`` against the layer's forward by ``trials`` random projections (see the module).

    ``layer`` is a Layer or a registered name (``params`` configure it); it must be affine in each input
    (``gradcheck.projected.multiaffine_layers()``), or ConfigError. ``backward(grad_out, *inputs, **params)``
    returns one gradient per input (default: the layer's own NumPy backward). ``grad_out`` defaults as in
    ``gc.verify``. ``seed`` fixes the directions (default: a fresh one, shown in the verdict).
    """
    layer = make_layer(layer, **params)
    if not type(layer).multiaffine:
        raise ConfigError(f"{layer.name} is not affine in each of its inputs, so the projected check cannot "
                          f"differentiate its forward exactly; it checks {', '.join(multiaffine_layers())} "
                          "(use gc.verify for the others)")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"trials={trials!r} is not allowed: it must be an int >= 1")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"seed={seed!r} is not allowed: it must be an int >= 0 or None")
    arrays, given, g = layer.prepare(inputs, grad_out)
    if g is None:
        g = default_grad_out(layer.output_shape({k: v.shape for k, v in arrays.items()}),
                             like_float=any(a.dtype.kind == "f" for a in arrays.values()))
    g = np.asarray(g)
    seed = random.SystemRandom().randrange(2 ** 32) if seed is None else seed
    diff = [n for n in arrays if n in layer.differentiable]
    data = [arrays[n] for n in diff] + [g]
    exact_data = all(a.dtype.kind in "iu" or a.dtype == object for a in data)
    integers = exact_data and all(a.dtype != object or all(type(v) is int for v in a.flat) for a in data)
    small = sum(a.size for a in arrays.values()) + g.size <= RATIONAL_MAX
    divides = "" if layer.closed_on_integers else f"{layer.name} divides, "
    rational = False
    if integers and not divides:
        exact, mode = True, "integer data"
    elif integer_valued(data) and all(a.dtype.kind in "iuf" for a in data) and not divides:
        # integers held as float64: a float64 backward is exact on them only while its sums stay below 2**53
        exact = value_bound(layer, [a.astype(np.int64) for a in data]) < FLOAT64_EXACT  # (|a| < 2**53 here)
        mode = "integer data" if exact else "integer-valued float64 data whose sums pass 2**53"
    elif exact_data and small:
        exact, rational = True, True
        mode = f"{divides or 'rational data, '}exact in Fractions"
    elif exact_data:
        exact, mode = False, f"{divides or 'rational data, '}past {RATIONAL_MAX:,} entries compared in float64"
    else:
        exact, mode = False, f"{divides}float data"
    shown = {**given, "grad_out": np.shape(grad_out) if grad_out is not None else g.shape}

    oracle = oracle_registry.get(backward if backward is not None else "numpy")
    verdict = ProjectedVerdict(layer, shown, exact, mode, 0, seed)
    start = time.perf_counter()
    try:
        # copies: a backward that writes into its arguments must not change what the forward is evaluated on
        grads = _check_shapes(oracle.gradients(layer, {k: v.copy() for k, v in arrays.items()}, g.copy()), arrays)
        missing = [n for n in diff if n not in grads]
        if missing:
            raise ValueError(f"returned no gradient for {', '.join(missing)}")
    except Exception as exc:  # a backward that crashes is reported, not re-raised
        verdict.errors[f"backward {oracle.name}"] = f"{type(exc).__name__}: {exc}"
        return verdict
    finally:
        verdict.seconds["backward"] = time.perf_counter() - start
    if rational and any(_has_floats(np.asarray(grads[n])) for n in diff):
        # a backward that computes in floats on rational data rounds: held to the float tolerance, as gc.verify does
        verdict.exact, exact, verdict.mode = False, False, mode.replace("exact in Fractions", "a float backward")
    start = time.perf_counter()
    check = _Exact(layer, arrays, diff, g, rational) if exact else _Float(layer, arrays, diff, g)
    verdict.set_size = check.set_size
    bad = check.prepare(grads)
    if bad:
        verdict.errors["backward " + oracle.name] = bad
    else:
        rng = np.random.default_rng(seed)
        for number in range(1, trials + 1):
            verdict.trials.append(check.trial(number, rng))
            if not verdict.trials[-1].ok:
                break  # one failed trial decides; the rest would cost forwards and say nothing more
    verdict.seconds["forward"] = time.perf_counter() - start
    return verdict


class _Exact:
    """Every number an exact integer: integer data on a layer closed on integers (BLAS where a bound allows),
    or, ``rational``, Python ints and Fractions throughout (a layer that divides, rational data)."""

    def __init__(self, layer, arrays, diff, g, rational=False):
        self.layer, self.diff, self.rational = layer, diff, rational
        self.g = g.astype(np.int64) if g.dtype.kind == "f" else g
        self.steps = stencil(layer.degree)
        if rational:
            self.bits, self.blas, self.set_size, self.arrays = MAX_SET_BITS, False, 2 ** MAX_SET_BITS, arrays
            self.g = self.g.astype(object)
            return
        reach = max(j for j, _ in self.steps)
        biggest = max(int(np.max(np.abs(a), initial=0)) for a in [*(arrays[n] for n in diff), self.g])
        sizes = sum(a.size for a in arrays.values()) + g.size
        # value_bound's rule, M^d·N^(d−1), at the largest |entry| of inputs + t·u (|t| ≤ reach, |u| ≤ S/2):
        # below 2**53, float64 forms every sum exactly, whatever BLAS's order.
        for bits in range(MAX_SET_BITS, 0, -1):
            bound = max(biggest + reach * 2 ** (bits - 1), 1) ** layer.degree * sizes ** (layer.degree - 1)
            if bound < FLOAT64_EXACT:
                self.bits, self.blas, self.out_max = bits, True, bound  # bounds every output entry too
                break
        else:
            self.bits, self.blas = MAX_SET_BITS, False  # the layer's own int64 / Python-int arithmetic
        self.set_size = 2 ** self.bits
        # BLAS: the data as float64 once (exact: integers below 2**53), so that each trial only adds t·u.
        kind = np.float64 if self.blas else None
        self.arrays = {n: a.astype(kind) if kind and n in diff else a for n, a in arrays.items()}
        if self.blas:
            self.g = self.g.astype(np.float64)
            self.g_max = int(np.max(np.abs(self.g), initial=0))

    def prepare(self, grads):
        self.grads = {}
        self.p0 = None
        for n in self.diff:
            if self.rational:  # ints or exact rationals: a backward returning floats went to _Float
                self.grads[n] = np.asarray(grads[n]).astype(object)
                continue
            ints, bad = _integers(np.asarray(grads[n]))
            if ints is None:
                index = tuple(int(i) for i in np.unravel_index(bad, np.shape(grads[n])))
                return (f"grad_{n} holds {_num(np.asarray(grads[n]).flat[bad])} at {list(index)}: on integer data "
                        f"the gradients of {self.layer.name} are integers")
            self.grads[n] = ints
        return None

    def _inner(self, shifted) -> int:
        """⟨g, f(shifted inputs)⟩ exactly, with the layer's own forward."""
        if self.blas:
            return _exact_dot(self.g, np.asarray(self.layer.numpy_forward(*shifted.values()), dtype=np.float64),
                              self.g_max, self.out_max)
        if self.rational:
            args = [a.astype(object) if n in self.diff else a for n, a in shifted.items()]
            return _python_dot(self.g, np.asarray(self.layer.numpy_forward(*args)))
        small = value_bound(self.layer, list(shifted.values()) + [self.g]) < INT64_SAFE
        # integer-valued floats through int64 (exact below 2**53), then Python ints if a sum could pass int64
        args = [(a.astype(np.int64) if a.dtype.kind == "f" else a).astype(np.int64 if small else object)
                if n in self.diff else a for n, a in shifted.items()]
        return _exact_dot(self.g, np.asarray(self.layer.numpy_forward(*args)))

    def _direction(self, rng):
        half = self.set_size // 2
        return {n: rng.integers(-half, half, self.arrays[n].shape).astype(np.float64 if self.blas else np.int64)
                for n in self.diff}

    def _shift(self, u, t, only=None):
        return {n: a + t * u[n] if n in u and (only is None or n == only) else a for n, a in self.arrays.items()}

    def trial(self, number, rng) -> Trial:
        u = self._direction(rng)
        per_input = {n: _exact_dot(self.grads[n], u[n].astype(self.grads[n].dtype)) for n in self.diff}
        total = sum(per_input.values())
        forward = sum((c * (self._inner(self._shift(u, j)) - self._inner(self._shift(u, -j)))
                       for j, c in self.steps), Fraction(0))
        forward = int(forward) if forward.denominator == 1 else forward
        trial = Trial(number, per_input, total, forward, 0.0, total == forward)
        if not trial.ok:  # which inputs: affine in each, so D_i(u) = P_i(1) − P(0) exactly
            if self.p0 is None:
                self.p0 = self._inner(self.arrays)
            trial.wrong_inputs = tuple(n for n in self.diff
                                       if self._inner(self._shift(u, 1, only=n)) - self.p0 != per_input[n])
        return trial


class _Float:
    """Float data, or a layer that divides: float64 throughout, within the stated tolerance."""

    set_size = 2 * FLOAT_SET + 1

    def __init__(self, layer, arrays, diff, g):
        self.layer, self.diff = layer, diff
        who = "the projected check's float mode"
        self.arrays = {n: as_float64(a, who) if n in diff else a for n, a in arrays.items()}
        self.g = as_float64(g, who)
        self.steps = stencil(layer.degree)
        # u_i at the magnitude of input i (a power of two: scaling by it is exact), so that P(±1) neither
        # drowns D(u) in the data (u too small) nor in its own t² terms (u too large).
        self.unit = {n: 2.0 ** math.ceil(math.log2(m)) if (m := float(np.max(np.abs(self.arrays[n]), initial=0)))
                     else 1.0 for n in diff}
        self.rtol = rtol_for(np.float64)
        self.scale = layer.gradient_scale(self.arrays, self.g)

    def prepare(self, grads):
        self.grads = {n: np.asarray(grads[n], dtype=np.float64) for n in self.diff}
        for n, grad in self.grads.items():
            if not np.all(np.isfinite(grad)):
                index = tuple(int(i) for i in np.argwhere(~np.isfinite(grad))[0])
                return f"grad_{n} holds {grad[index]} at {list(index)}"
        self.p0 = None
        return None

    def _inner(self, shifted) -> float:
        return float(np.dot(self.g.ravel(), np.asarray(self.layer.numpy_forward(*shifted.values()),
                                                      dtype=np.float64).ravel()))

    def _tolerance(self, n, u) -> float:
        """gc.verify's elementwise rule |a − b| ≤ rtol·(|b| + scale), summed over the projection:
        rtol·(⟨|G_i|, |u_i|⟩ + scale_i·Σ|u_i|), scale_i = max(gradient_scale_i, max |G_i|)."""
        grad, weight = self.grads[n], np.abs(u[n]).ravel()
        scale = max(self.scale.get(n, 0.0), float(np.max(np.abs(grad), initial=0.0)))
        return self.rtol * (float(np.dot(np.abs(grad).ravel(), weight)) + scale * float(weight.sum()))

    def trial(self, number, rng) -> Trial:
        u = {n: rng.integers(-FLOAT_SET, FLOAT_SET + 1, self.arrays[n].shape) * self.unit[n] for n in self.diff}
        per_input = {n: float(np.dot(self.grads[n].ravel(), u[n].ravel())) for n in self.diff}
        total = math.fsum(per_input.values())
        shift = lambda t, only=None: {n: a + t * u[n] if n in u and only in (None, n) else a  # noqa: E731
                                      for n, a in self.arrays.items()}
        forward = math.fsum(float(c) * (self._inner(shift(j)) - self._inner(shift(-j))) for j, c in self.steps)
        tol = {n: self._tolerance(n, u) for n in self.diff}
        trial = Trial(number, per_input, total, forward, sum(tol.values()),
                      abs(total - forward) <= sum(tol.values()))
        if not trial.ok:
            if self.p0 is None:
                self.p0 = self._inner(self.arrays)
            trial.wrong_inputs = tuple(n for n in self.diff
                                       if abs(self._inner(shift(1, n)) - self.p0 - per_input[n]) > tol[n])
        return trial
