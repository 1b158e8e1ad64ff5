"""The symbolic engine: exact forward values and gradients derived from a layer's SymPy rule.

A layer states its forward rule once, for one output element, in SymPy index notation
(:class:`~gradcheck.layers.IndexRule`), e.g. for conv2d

    O[n, o, i, j] = Sum(x[n, c, s·i + d·p − pad, s·j + d·q − pad] · w[o, c, p, q], (c,..), (p,..), (q,..)) + b[o]

Differentiating the fully expanded expression once per variable is hopeless (307 s for a small conv).
Instead the engine does reverse accumulation on the *element rule*: each summand is a SymPy expression
in a few operand reads u_k; ``sympy.diff`` gives its local derivatives ∂summand/∂u_k once, symbolically.
Instantiating the rule for concrete shapes turns every operand read into an index array over the grid
(output indices × reduction indices) — a gather plan. Then

    forward:      O = Σ_reduction summand(gathered u)
    dL/d(operand) = scatter-add over the grid of  G[output] · ∂summand/∂u_k(gathered u)

which is one pass over the terms, linear in their number. Values are Python ints and Fractions in object
arrays, so the result is exact. Plans (and the derived local derivatives) are cached per configuration.
"""
from __future__ import annotations

import functools
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

from .errors import ConfigError
from .layers.base import IndexRule, Layer


# Operations a summand may use and still be evaluated exactly on Fractions; anything else (exp, log,
# sqrt, ...) is transcendental and evaluated in mpmath at MPMATH_DIGITS significant digits instead.
_EXACT_FUNCTIONS = (sp.Piecewise, sp.Max, sp.Min, sp.floor, sp.ceiling, sp.Abs, sp.Mod, sp.Heaviside)
MPMATH_DIGITS = 40


def is_rational_function(expr: sp.Expr) -> bool:
    """True when ``expr`` uses only + − × ÷, integer powers and piecewise pieces: exact on Fractions."""
    if any(not (p.exp.is_Integer) for p in expr.atoms(sp.Pow)):
        return False
    return all(isinstance(f, _EXACT_FUNCTIONS) for f in expr.atoms(sp.Function))


class _ExactMixin:
    """Prints rational constants and divisions as Fractions, so generated code never rounds to float."""

    def _print_Rational(self, expr):
        return f"Fraction({expr.p}, {expr.q})"

    _print_Half = _print_Rational

    def _print_Mul(self, expr):
        return "*".join(f"({self._print(a)})" for a in expr.args)

    def _print_Pow(self, expr):
        if expr.exp.is_Integer and expr.exp < 0:
            return f"(Fraction(1) / ({self._print(expr.base)})**{-int(expr.exp)})"
        return super()._print_Pow(expr)


class _ExactArrayPrinter(_ExactMixin, NumPyPrinter):
    pass


class _ExactScalarPrinter(_ExactMixin, PythonCodePrinter):
    pass


def _elementwise(scalar, n_args: int):
    """``scalar`` applied elementwise to broadcast object arrays. np.frompyfunc is the fast way, but a ufunc
    takes at most 64 operands (NumPy's NPY_MAXARGS): a max pool's 8×8 window reads 64 elements and more."""
    if n_args <= 32:
        return np.frompyfunc(scalar, n_args, 1)

    def apply(*arrays):
        arrays = np.broadcast_arrays(*[np.asarray(a, dtype=object) for a in arrays])
        out = np.empty(arrays[0].shape, dtype=object)
        out.ravel()[:] = list(map(scalar, *(a.ravel() for a in arrays)))
        return out
    return apply


def _evaluator(args, expr):
    """A function of object arrays (broadcast together) that evaluates ``expr`` elementwise.

    Polynomial and rational expressions run as whole-array NumPy code on Python ints and Fractions;
    piecewise ones (conditions, max, floor) run element by element, still exactly; transcendental ones
    run element by element in mpmath (the inputs are then converted to mpf by the caller).
    """
    if not is_rational_function(expr):
        scalar = sp.lambdify(args, expr, modules="mpmath")
        return _elementwise(scalar, len(args)) if args else scalar
    if expr.atoms(*_EXACT_FUNCTIONS):
        scalar = sp.lambdify(args, expr, modules=[{"Fraction": Fraction}, "math"], printer=_ExactScalarPrinter)
        return _elementwise(scalar, len(args)) if args else scalar
    return sp.lambdify(args, expr, modules=[{"Fraction": Fraction}, "numpy"], printer=_ExactArrayPrinter)


@dataclass
class _Read:
    """One operand read u_k in a summand: which operand, and its flat index at every grid point (−1 = outside),
    an array broadcastable to the grid (axes the read does not depend on have size 1: a max pool's other
    window reads vary with the window, not with the tap)."""

    operand: str
    flat_index: np.ndarray
    local_derivative: object  # callable of (reads..., grid coordinates used) -> ∂summand/∂u_k; None: it is 0


@dataclass
class _Term:
    grid: tuple[int, ...]        # output shape + reduction extents
    n_reduction_axes: int
    form: sp.Expr                # the summand in placeholders u_k and grid symbols
    args: tuple[sp.Symbol, ...]  # placeholders, then the grid symbols the summand uses
    coords: list[np.ndarray]     # object-int coordinates of those grid symbols, broadcastable to the grid
    summand: object              # callable of (reads..., coords...)
    reads: list[_Read]


@dataclass
class Plan:
    """The instantiated rule of one configuration: everything except the data."""

    rule: IndexRule
    terms: list[_Term]

    @property
    def n_terms(self) -> int:
        """Number of summand instances (products, for a convolution) the rule expands to."""
        return sum(int(np.prod(t.grid)) for t in self.terms)

    @property
    def exact(self) -> bool:
        """True when every summand is a rational function: values and gradients are exact Fractions."""
        return all(is_rational_function(t.form) for t in self.terms)

    @property
    def nbytes(self) -> int:
        """Memory held by the plan's index and coordinate arrays (what the plan cache is bounded by)."""
        return sum(r.flat_index.nbytes for t in self.terms for r in t.reads) + sum(
            c.size * 36 for t in self.terms for c in t.coords)  # object array: pointer + a small Python int


def _grid_axes(shape):
    """Open-mesh index arrays for a grid of this shape (each broadcasts against the others)."""
    return [np.arange(n).reshape((1,) * k + (n,) + (1,) * (len(shape) - k - 1)) for k, n in enumerate(shape)]


@functools.lru_cache(maxsize=4096)
def _index_function(grid_symbols: tuple, expr):
    # lambdify costs ~1 ms; index expressions (s·i + d·p − pad) recur across configurations and shapes.
    return sp.lambdify(grid_symbols, expr, modules="numpy")


def _index_array(expr, grid_symbols, coords) -> tuple[np.ndarray, np.ndarray]:
    """An index expression evaluated over the grid: (integer values, where it is a whole number), each of
    the grid's rank but size 1 along the axes the expression does not use (broadcast later, not stored)."""
    rank = len(coords)

    def full_rank(a):
        a = np.asarray(a)
        return a.reshape((1,) * (rank - a.ndim) + a.shape)
    denominator = math.lcm(*(int(r.q) for r in expr.atoms(sp.Rational)))
    if denominator > 1 and not expr.atoms(sp.Function):
        # (i + p − d·a)/s is evaluated as an integer q·expr, divided exactly: in floats, SymPy's expanded
        # i/3 − p/3 gives 10/3 − 1/3 = 3.0000000000000004, which would read as "not whole".
        scaled = full_rank(_index_function(tuple(grid_symbols), sp.expand(expr * denominator))(*coords)).astype(
            np.int64)
        whole = scaled % denominator == 0
        return np.where(whole, scaled // denominator, -1), whole
    values = full_rank(_index_function(tuple(grid_symbols), expr)(*coords))
    whole = np.equal(np.floor(values), values)
    return np.where(whole, values, -1).astype(np.int64), whole


def _local_derivatives(form: sp.Expr, placeholders) -> list:
    """∂form/∂u for each placeholder u, by ``sympy.diff``, with every Piecewise condition held opaque.

    SymPy differentiates a Piecewise branch by branch and leaves the conditions as they are, but it
    re-canonicalises them for every derivative: a max pool's "this tap beats the K others" has K
    comparisons, so K derivatives cost K² (k⁴ in the kernel side). With each condition replaced by a
    Boolean placeholder first, a derivative costs what its branches cost, and those that vanish (a tap
    that only appears in the conditions) are 0 at once.
    """
    conditions = {c for pw in form.atoms(sp.Piecewise) for _, c in pw.args if c is not sp.true}
    opaque = {c: sp.Dummy(f"c{k}") for k, c in enumerate(sorted(conditions, key=sp.default_sort_key))}
    back = {v: k for k, v in opaque.items()}
    held = form.xreplace(opaque)
    return [sp.diff(held, u).xreplace(back) for u in placeholders]


def _compile_term(rule: IndexRule, term: sp.Expr) -> _Term:
    if isinstance(term, sp.Sum):
        summand, limits = term.function, term.limits
    else:
        summand, limits = term, ()
    for symbol, lo, hi in limits:
        if not (lo.is_Integer and hi.is_Integer):
            raise ValueError(f"rule bounds must be constants, got {symbol} in [{lo}, {hi}]")
    # Sums nested inside the summand (a softmax denominator, a batch mean) have constant bounds:
    # expand them, so each of their terms becomes a read of its own.
    summand = summand.replace(lambda e: isinstance(e, sp.Sum), lambda e: e.doit())
    grid = tuple(rule.shape) + tuple(int(hi - lo + 1) for _, lo, hi in limits)
    # Grid coordinates: output indices start at 0, reduction indices at their lower bound.
    axes = _grid_axes(grid)
    coords = axes[:len(rule.shape)] + [ax + int(lo) for ax, (_, lo, _) in zip(axes[len(rule.shape):], limits)]
    grid_symbols = list(rule.indices) + [lim[0] for lim in limits]

    indexed = sorted(summand.atoms(sp.Indexed), key=sp.default_sort_key)
    placeholders = sp.symbols(f"u0:{len(indexed)}")
    form = summand.xreplace(dict(zip(indexed, placeholders)))
    used = [(sym, c) for sym, c in zip(grid_symbols, coords) if sym in form.free_symbols]
    args = tuple(placeholders) + tuple(sym for sym, _ in used)
    used_coords = [c.astype(object) for _, c in used]  # open mesh: broadcast when evaluated
    reads = []
    for read, derivative in zip(indexed, _local_derivatives(form, placeholders)):
        name = str(read.base.label)
        shape = rule.operands[name]
        # A read is outside when an index leaves the operand (padding) or is not a whole number
        # (a transposed convolution's (i + p − d·a)/s): it then reads rule.fill and gets no gradient.
        parts = [_index_array(ix, grid_symbols, coords) for ix in read.indices]
        inside = np.ones((1,) * len(grid), dtype=bool)
        for (ix, whole), n in zip(parts, shape):
            inside = inside & whole & (ix >= 0) & (ix < n)
        parts = np.broadcast_arrays(inside, *(np.where(inside, ix, 0) for ix, _ in parts))
        flat = np.ravel_multi_index(parts[1:], shape) if shape else np.zeros(parts[0].shape, dtype=np.int64)
        # the local gradient, derived from the rule by SymPy; None where it vanishes (no scatter to do)
        local = None if derivative == 0 else _evaluator(args, derivative)
        reads.append(_Read(name, np.where(parts[0], flat, -1), local))
    return _Term(grid, len(limits), form, args, used_coords, _evaluator(args, form), reads)


def _limit(variable: str, default: int) -> int:
    value = os.environ.get(variable, "")
    try:
        return int(value.replace("_", "")) if value.strip() else default
    except ValueError:
        raise ConfigError(f"{variable}={value!r} is not allowed: it must be a whole number") from None


# The sympy oracle holds its whole plan (≈ 110 bytes a term, measured on conv2d) and evaluates it in Python
# ints: 20 M terms are ≈ 2 GB and ≈ 7 s. Past that a check is refused before it starts (ConfigError), not left
# to exhaust memory. Raise it per call (verify(..., max_terms=N)), per process (GRADCHECK_MAX_TERMS=N) or here.
MAX_TERMS = 20_000_000
BYTES_PER_TERM = 110
# Plans are cached per configuration, least recently used first out once they hold more than this.
PLAN_CACHE_BYTES = 1 << 30

_PLANS: OrderedDict[tuple, Plan] = OrderedDict()


def estimated_terms(layer: Layer, shapes: dict[str, tuple[int, ...]]) -> int:
    """The number of summand instances (products, for a convolution) the sympy oracle will plan and evaluate
    for these full-rank shapes — ``Plan.n_terms``, counted from the rule without instantiating it (a chain
    adds up its stages')."""
    if hasattr(layer, "stage_shapes"):
        return sum(estimated_terms(s, local) for s, local in zip(layer.stages, layer.stage_shapes(shapes)))
    key = (layer.key, tuple(sorted(shapes.items())))
    if key in _PLANS:
        return _PLANS[key].n_terms
    rule = _rule(layer, shapes)
    total = 0
    for term in sp.Add.make_args(rule.expr):
        extents = [int(hi - lo + 1) for _, lo, hi in term.limits] if isinstance(term, sp.Sum) else []
        total += math.prod(rule.shape) * math.prod(extents)
    return total


def max_terms() -> int:
    """The size limit in force: the environment variable GRADCHECK_MAX_TERMS if set, else ``MAX_TERMS``."""
    return _limit("GRADCHECK_MAX_TERMS", MAX_TERMS)


def check_size(layer: Layer, shapes: dict[str, tuple[int, ...]], limit: int | None = None) -> int:
    """The estimated terms, or ConfigError when they exceed ``limit`` (default :func:`max_terms`)."""
    limit = max_terms() if limit is None else limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"max_terms={limit!r} is not allowed: it must be an int >= 1")
    terms = estimated_terms(layer, shapes)
    if terms > limit:
        shown = "  ".join(f"{k} {tuple(v)}" for k, v in shapes.items())
        raise ConfigError(f"{layer!r} on {shown} expands to {terms:,} terms (≈ {terms * BYTES_PER_TERM / 1e9:.1f} GB "
                          f"for the sympy oracle), more than the limit of {limit:,}: check smaller shapes, leave "
                          "out the sympy oracle, or raise the limit (verify(..., max_terms=N), GRADCHECK_MAX_TERMS=N)")
    return terms


_RULES: OrderedDict[tuple, IndexRule] = OrderedDict()


def _rule(layer: Layer, shapes) -> IndexRule:
    """``layer.sympy_rule(shapes)``, kept for the few configurations estimated but not yet planned: a check
    estimates its size from the rule and then plans it, and a max pool's rule over a large window takes a
    second to state."""
    key = (layer.key, tuple(sorted(shapes.items())))
    if key not in _RULES:
        _RULES[key] = layer.sympy_rule(shapes)
        if len(_RULES) > 16:
            _RULES.popitem(last=False)
    return _RULES[key]


def gradient_factors(layer: Layer, shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[str, ...]] | None:
    """Per differentiable input, the operands whose reads multiply grad_out in every term of its gradient, read
    off the rule: conv2d gives {x: (w,), w: (x,), b: ()} (dL/dx = Σ G·w, dL/dw = Σ G·x, dL/db = Σ G).

    So when each operand is scaled by its own positive factor, each gradient scales by the product of its
    factors' (and grad_out's): what lets ``gradcheck.dyadic`` check float data on integers. None when the rule
    is not of that form: a summand that is not a sum of integer multiples of products of reads (a division, a
    power, exp/log), a Piecewise whose conditions a scaling could change (x > 1, or x < w), a fill other than
    0 or ±∞, or one gradient collecting terms with different factors (mse's (p − t)², a chain's biases).
    """
    if hasattr(layer, "sympy_gradients"):  # a chain (gc.sequential) has no rule of its own
        return None
    key = (layer.key, tuple(sorted(shapes.items())))
    if key not in _FACTORS:  # a max pool's window conditions take a while to inspect: once per configuration
        _FACTORS[key] = _gradient_factors(layer, _PLANS[key].rule if key in _PLANS else _rule(layer, shapes))
        if len(_FACTORS) > 256:
            _FACTORS.popitem(last=False)
    return _FACTORS[key]


_FACTORS: OrderedDict[tuple, dict | None] = OrderedDict()


def _gradient_factors(layer: Layer, rule: IndexRule) -> dict[str, tuple[str, ...]] | None:
    if any(v not in (0, float("inf"), float("-inf")) for v in rule.fill.values()):
        return None
    found: dict[str, set] = {}
    for term in sp.Add.make_args(rule.expr):
        monomials = _monomials(term.function if isinstance(term, sp.Sum) else term)
        if monomials is None:
            return None
        for reads in monomials:
            for k, read in enumerate(reads):
                others = tuple(sorted(str(r.base.label) for r in reads[:k] + reads[k + 1:]))
                found.setdefault(str(read.base.label), set()).add(others)
    if any(len(v) > 1 for v in found.values()):
        return None
    return {name: next(iter(found[name])) if name in found else () for name in layer.differentiable}


def _monomials(expr: sp.Expr) -> list[list[sp.Indexed]] | None:
    """The reads of each monomial of ``expr`` with an integer coefficient (pieces of a Piecewise whose conditions
    compare like-scaled products, or one with 0, included), or None when ``expr`` is not of that form."""
    expr = sp.expand(expr.replace(lambda e: isinstance(e, sp.Sum), lambda e: e.doit()))
    out = []
    for part in sp.Add.make_args(expr):
        coefficient, factors = part.as_coeff_mul()
        if not coefficient.is_Integer:
            return None
        if len(factors) == 1 and isinstance(factors[0], sp.Piecewise):
            for value, condition in factors[0].args:
                pieces = _monomials(value)
                if pieces is None or not _scale_invariant(condition):
                    return None
                out.extend(pieces)
        elif all(isinstance(f, sp.Indexed) for f in factors):
            out.append(list(factors))
        else:
            return None
    return out


def _scale_invariant(condition) -> bool:
    """True when scaling every operand by a positive factor of its own cannot change ``condition``: each of its
    comparisons holds only index expressions, or compares products of the same operands (x[a] < x[b]), or
    one such product with 0 (x > 0)."""
    if condition in (sp.true, sp.false):
        return True
    for relation in condition.atoms(sp.core.relational.Relational):
        if not relation.atoms(sp.Indexed):
            continue
        sides = _monomials(relation.lhs - relation.rhs)
        if sides is None or any(not reads for reads in sides) or len(
                {tuple(sorted(str(r.base.label) for r in reads)) for reads in sides}) != 1:
            return False
    return True


def plan(layer: Layer, shapes: dict[str, tuple[int, ...]]) -> Plan:
    """The compiled plan of ``layer`` for these (full-rank) input shapes; cached per configuration (least
    recently used plans are dropped once the cache holds more than PLAN_CACHE_BYTES)."""
    key = (layer.key, tuple(sorted(shapes.items())))
    if key in _PLANS:
        _PLANS.move_to_end(key)
        return _PLANS[key]
    rule = _RULES.pop(key, None) or layer.sympy_rule(shapes)  # the plan keeps it from here on
    compiled = Plan(rule, [_compile_term(rule, t) for t in sp.Add.make_args(rule.expr)])
    _PLANS[key] = compiled
    held = sum(p.nbytes for p in _PLANS.values())
    while held > PLAN_CACHE_BYTES and len(_PLANS) > 1:
        _, dropped = _PLANS.popitem(last=False)
        held -= dropped.nbytes
    return compiled


def as_exact(arr) -> np.ndarray:
    """Data as an object array of Python ints / Fractions (floats are converted exactly)."""
    arr = np.asarray(arr)
    if arr.dtype.kind in "iub":
        return arr.astype(object)
    if arr.dtype.kind == "f":
        return np.array([Fraction(float(v)) for v in arr.ravel()], dtype=object).reshape(arr.shape)
    return arr


def _to_mpf(arr: np.ndarray) -> np.ndarray:
    import mpmath

    def convert(v):
        v = Fraction(v)
        return mpmath.mpf(v.numerator) / v.denominator
    return np.asarray(np.frompyfunc(convert, 1, 1)(arr), dtype=object) if arr.size else arr  # 0-D stays an array


def _gather(values: np.ndarray, read: _Read, fill) -> np.ndarray:
    out = values[np.where(read.flat_index >= 0, read.flat_index, 0)]
    outside = read.flat_index < 0
    if outside.any():
        out = out.copy()
        out[outside] = fill
    return out


def _arguments(p: Plan, term: _Term, inputs: dict[str, np.ndarray]):
    flat = {k: v.ravel() for k, v in inputs.items()}
    reads = [_gather(flat[r.operand], r, p.rule.fill.get(r.operand, 0)) for r in term.reads]
    return reads + term.coords


def _as_grid(value, grid):
    return np.broadcast_to(np.asarray(value, dtype=object), grid)


def _prepare(layer: Layer, inputs: dict[str, np.ndarray]):
    values = {k: as_exact(v) for k, v in inputs.items()}
    p = plan(layer, {k: v.shape for k, v in values.items()})
    if not p.exact:
        with _precision():
            values = {k: _to_mpf(v) for k, v in values.items()}
    return p, values


def _precision():
    import mpmath
    return mpmath.workdps(MPMATH_DIGITS)


def _finish(p: Plan, arr: np.ndarray) -> np.ndarray:
    """Exact plans return Fractions/ints; transcendental ones float64 rounded from MPMATH_DIGITS digits."""
    # np.asarray: a scalar rule (a loss) sums to a bare Fraction, returned as a 0-D array like the others.
    return np.asarray(arr, dtype=object) if p.exact else np.asarray(arr, dtype=np.float64)


def forward(layer: Layer, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Forward values from the rule: exact (object array of ints/Fractions) for rational rules.

    A composite layer (``gc.sequential``) has no rule of its own; it provides ``sympy_forward`` and
    ``sympy_gradients``, which chain this engine over its stages' rules.
    """
    if hasattr(layer, "sympy_forward"):
        return layer.sympy_forward(inputs)
    p, values = _prepare(layer, inputs)
    out = np.zeros(p.rule.shape, dtype=object)
    with _precision():
        for term in p.terms:
            terms = _as_grid(term.summand(*_arguments(p, term, values)), term.grid)
            out = out + terms.sum(axis=tuple(range(len(p.rule.shape), len(term.grid))))
    return _finish(p, out)


def gradients(layer: Layer, inputs: dict[str, np.ndarray], grad_out) -> dict[str, np.ndarray]:
    """dL/d(input) for L = Σ grad_out · O, for every differentiable input given (exact for rational rules)."""
    if hasattr(layer, "sympy_gradients"):
        return layer.sympy_gradients(inputs, grad_out)
    p, values = _prepare(layer, inputs)
    g = as_exact(grad_out) if p.exact else _to_mpf(as_exact(grad_out))
    grads = {k: np.zeros(v.size, dtype=object) for k, v in values.items() if k in layer.differentiable}
    with _precision():
        for term in p.terms:
            arguments = _arguments(p, term, values)
            g_grid = g.reshape(g.shape + (1,) * term.n_reduction_axes)
            for read in term.reads:
                if read.operand not in grads or read.local_derivative is None:
                    continue
                contribution = _as_grid(read.local_derivative(*arguments), term.grid) * g_grid
                flat = np.broadcast_to(read.flat_index, term.grid)
                inside = flat >= 0
                np.add.at(grads[read.operand], flat[inside], contribution[inside])
    return {k: _finish(p, v.reshape(values[k].shape)) for k, v in grads.items()}


def expand(layer: Layer, shapes: dict[str, tuple[int, ...]]) -> np.ndarray:
    """Every output element as an explicit SymPy expression in the input elements (small shapes only).

    Symbols are named like ``x[0, 0, 1, 2]``; out-of-range reads are replaced by the fill value.
    Used by derivation reports and to cross-check the engine against plain ``sympy.diff``.
    """
    p = plan(layer, shapes)
    symbols = {name: np.array([sp.Symbol(f"{name}[{', '.join(map(str, ix))}]")
                               for ix in np.ndindex(*shape)], dtype=object).reshape(shape)
               for name, shape in shapes.items()}
    out = np.zeros(p.rule.shape, dtype=object)
    for term in p.terms:
        arguments = [_as_grid(a, term.grid) for a in _arguments(p, term, symbols)]
        terms = np.empty(term.grid, dtype=object)
        for point in np.ndindex(*term.grid):
            terms[point] = term.form.xreplace({a: v[point] for a, v in zip(term.args, arguments)})
        out = out + terms.sum(axis=tuple(range(len(p.rule.shape), len(term.grid))))
    return out
