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

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from .layers.base import IndexRule, Layer


class _ExactPrinter(NumPyPrinter):
    """Prints rational constants as Fractions, so lambdified code never rounds to float."""

    def _print_Rational(self, expr):
        return f"Fraction({expr.p}, {expr.q})"

    _print_Half = _print_Rational


def _exact_lambdify(args, expr):
    return sp.lambdify(args, expr, modules=[{"Fraction": Fraction}, "numpy"], printer=_ExactPrinter)


@dataclass
class _Read:
    """One operand read u_k in a summand: which operand, and its flat index at every grid point (−1 = outside)."""

    operand: str
    flat_index: np.ndarray
    local_derivative: object  # callable of all reads of the summand -> ∂summand/∂u_k


@dataclass
class _Term:
    grid: tuple[int, ...]        # output shape + reduction extents
    n_reduction_axes: int
    summand: object              # callable of the reads
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


def _grid_axes(shape):
    """Open-mesh index arrays for a grid of this shape (each broadcasts against the others)."""
    return [np.arange(n).reshape((1,) * k + (n,) + (1,) * (len(shape) - k - 1)) for k, n in enumerate(shape)]


def _compile_term(rule: IndexRule, term: sp.Expr) -> _Term:
    if isinstance(term, sp.Sum):
        summand, limits = term.function, term.limits
    else:
        summand, limits = term, ()
    for symbol, lo, hi in limits:
        if not (lo.is_Integer and hi.is_Integer):
            raise ValueError(f"rule bounds must be constants, got {symbol} in [{lo}, {hi}]")
    red_symbols = [lim[0] for lim in limits]
    grid = tuple(rule.shape) + tuple(int(hi - lo + 1) for _, lo, hi in limits)
    # Grid coordinates: output indices start at 0, reduction indices at their lower bound.
    axes = _grid_axes(grid)
    coords = axes[:len(rule.shape)] + [ax + int(lo) for ax, (_, lo, _) in zip(axes[len(rule.shape):], limits)]
    grid_symbols = list(rule.indices) + red_symbols

    indexed = sorted(summand.atoms(sp.Indexed), key=sp.default_sort_key)
    placeholders = sp.symbols(f"u0:{len(indexed)}")
    local_form = summand.xreplace(dict(zip(indexed, placeholders)))
    reads = []
    for read, u in zip(indexed, placeholders):
        name = str(read.base.label)
        shape = rule.operands[name]
        index_fn = sp.lambdify(grid_symbols, list(read.indices), modules="numpy")
        parts = [np.broadcast_to(np.asarray(ix), grid).astype(np.int64) for ix in index_fn(*coords)]
        inside = np.ones(grid, dtype=bool)
        for ix, n in zip(parts, shape):
            inside &= (ix >= 0) & (ix < n)
        flat = np.ravel_multi_index([np.where(inside, ix, 0) for ix in parts], shape)
        derivative = sp.diff(local_form, u)  # the local gradient, derived from the rule by SymPy
        reads.append(_Read(name, np.where(inside, flat, -1), _exact_lambdify(placeholders, derivative)))
    return _Term(grid, len(limits), _exact_lambdify(placeholders, local_form), reads)


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


def _gather(values: np.ndarray, read: _Read, fill) -> np.ndarray:
    out = values[np.where(read.flat_index >= 0, read.flat_index, 0)]
    outside = read.flat_index < 0
    if outside.any():
        out = out.copy()
        out[outside] = fill
    return out


def _reads(p: Plan, term: _Term, inputs: dict[str, np.ndarray]):
    flat = {k: v.ravel() for k, v in inputs.items()}
    return [_gather(flat[r.operand], r, p.rule.fill.get(r.operand, 0)) for r in term.reads]


def _as_grid(value, grid):
    return np.broadcast_to(np.asarray(value, dtype=object), grid)


def forward(layer: Layer, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Exact forward values from the rule (object array of ints/Fractions)."""
    inputs = {k: exact(v) for k, v in inputs.items()}
    p = plan(layer, {k: v.shape for k, v in inputs.items()})
    out = np.zeros(p.rule.shape, dtype=object)
    for term in p.terms:
        values = _as_grid(term.summand(*_reads(p, term, inputs)), term.grid)
        out = out + values.sum(axis=tuple(range(len(p.rule.shape), len(term.grid))))
    return out


def gradients(layer: Layer, inputs: dict[str, np.ndarray], grad_out) -> dict[str, np.ndarray]:
    """Exact dL/d(input) for L = Σ grad_out · O, for every differentiable input given."""
    inputs = {k: exact(v) for k, v in inputs.items()}
    p = plan(layer, {k: v.shape for k, v in inputs.items()})
    g = exact(grad_out)
    grads = {k: np.zeros(v.size, dtype=object) for k, v in inputs.items() if k in layer.differentiable}
    for term in p.terms:
        reads = _reads(p, term, inputs)
        g_grid = g.reshape(g.shape + (1,) * term.n_reduction_axes)
        for read in term.reads:
            if read.operand not in grads:
                continue
            contribution = _as_grid(read.local_derivative(*reads), term.grid) * g_grid
            inside = read.flat_index >= 0
            np.add.at(grads[read.operand], read.flat_index[inside], contribution[inside])
    return {k: v.reshape(inputs[k].shape) for k, v in grads.items()}


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
        values = _as_grid(term.summand(*_reads(p, term, symbols)), term.grid)
        out = out + values.sum(axis=tuple(range(len(p.rule.shape), len(term.grid))))
    return out
