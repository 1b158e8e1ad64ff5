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
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

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


def _evaluator(args, expr):
    """A function of object arrays (broadcast together) that evaluates ``expr`` elementwise.

    Polynomial and rational expressions run as whole-array NumPy code on Python ints and Fractions;
    piecewise ones (conditions, max, floor) run element by element, still exactly; transcendental ones
    run element by element in mpmath (the inputs are then converted to mpf by the caller).
    """
    if not is_rational_function(expr):
        scalar = sp.lambdify(args, expr, modules="mpmath")
        return np.frompyfunc(scalar, len(args), 1) if args else scalar
    if expr.atoms(*_EXACT_FUNCTIONS):
        scalar = sp.lambdify(args, expr, modules=[{"Fraction": Fraction}, "math"], printer=_ExactScalarPrinter)
        return np.frompyfunc(scalar, len(args), 1) if args else scalar
    return sp.lambdify(args, expr, modules=[{"Fraction": Fraction}, "numpy"], printer=_ExactArrayPrinter)


@dataclass
class _Read:
    """One operand read u_k in a summand: which operand, and its flat index at every grid point (−1 = outside)."""

    operand: str
    flat_index: np.ndarray
    local_derivative: object  # callable of (reads..., grid coordinates used) -> ∂summand/∂u_k


@dataclass
class _Term:
    grid: tuple[int, ...]        # output shape + reduction extents
    n_reduction_axes: int
    form: sp.Expr                # the summand in placeholders u_k and grid symbols
    args: tuple[sp.Symbol, ...]  # placeholders, then the grid symbols the summand uses
    coords: list[np.ndarray]     # object-int coordinates of those grid symbols, broadcast to the grid
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


def _grid_axes(shape):
    """Open-mesh index arrays for a grid of this shape (each broadcasts against the others)."""
    return [np.arange(n).reshape((1,) * k + (n,) + (1,) * (len(shape) - k - 1)) for k, n in enumerate(shape)]


@functools.lru_cache(maxsize=4096)
def _index_function(grid_symbols: tuple, expr):
    # lambdify costs ~1 ms; index expressions (s·i + d·p − pad) recur across configurations and shapes.
    return sp.lambdify(grid_symbols, expr, modules="numpy")


def _index_array(expr, grid_symbols, coords, grid) -> tuple[np.ndarray, np.ndarray]:
    """An index expression evaluated over the grid: (integer values, where it is a whole number)."""
    denominator = math.lcm(*(int(r.q) for r in expr.atoms(sp.Rational)))
    if denominator > 1 and not expr.atoms(sp.Function):
        # (i + p − d·a)/s is evaluated as an integer q·expr, divided exactly: in floats, SymPy's expanded
        # i/3 − p/3 gives 10/3 − 1/3 = 3.0000000000000004, which would read as "not whole".
        scaled = np.broadcast_to(np.asarray(_index_function(tuple(grid_symbols), sp.expand(expr * denominator))(
            *coords)), grid).astype(np.int64)
        whole = scaled % denominator == 0
        return np.where(whole, scaled // denominator, -1), whole
    values = np.broadcast_to(np.asarray(_index_function(tuple(grid_symbols), expr)(*coords)), grid)
    whole = np.equal(np.floor(values), values)
    return np.where(whole, values, -1).astype(np.int64), whole


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
    used_coords = [np.broadcast_to(c, grid).astype(object) for _, c in used]
    reads = []
    for read, u in zip(indexed, placeholders):
        name = str(read.base.label)
        shape = rule.operands[name]
        # A read is outside when an index leaves the operand (padding) or is not a whole number
        # (a transposed convolution's (i + p − d·a)/s): it then reads rule.fill and gets no gradient.
        parts = [_index_array(ix, grid_symbols, coords, grid) for ix in read.indices]
        inside = np.ones(grid, dtype=bool)
        for (ix, whole), n in zip(parts, shape):
            inside &= whole & (ix >= 0) & (ix < n)
        flat = np.ravel_multi_index([np.where(inside, ix, 0) for ix, _ in parts], shape)
        derivative = sp.diff(form, u)  # the local gradient, derived from the rule by SymPy
        reads.append(_Read(name, np.where(inside, flat, -1), _evaluator(args, derivative)))
    return _Term(grid, len(limits), form, args, used_coords, _evaluator(args, form), reads)


_PLANS: dict[tuple, Plan] = {}


def plan(layer: Layer, shapes: dict[str, tuple[int, ...]]) -> Plan:
    """The compiled plan of ``layer`` for these (full-rank) input shapes; cached per configuration."""
    key = (layer.key, tuple(sorted(shapes.items())))
    if key not in _PLANS:
        rule = layer.sympy_rule(shapes)
        _PLANS[key] = Plan(rule, [_compile_term(rule, t) for t in sp.Add.make_args(rule.expr)])
    return _PLANS[key]


def exact(arr) -> np.ndarray:
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
    values = {k: exact(v) for k, v in inputs.items()}
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
    g = exact(grad_out) if p.exact else _to_mpf(exact(grad_out))
    grads = {k: np.zeros(v.size, dtype=object) for k, v in values.items() if k in layer.differentiable}
    with _precision():
        for term in p.terms:
            arguments = _arguments(p, term, values)
            g_grid = g.reshape(g.shape + (1,) * term.n_reduction_axes)
            for read in term.reads:
                if read.operand not in grads:
                    continue
                contribution = _as_grid(read.local_derivative(*arguments), term.grid) * g_grid
                inside = read.flat_index >= 0
                np.add.at(grads[read.operand], read.flat_index[inside], contribution[inside])
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
