"""The derivation behind a report: one configuration worked out from the layer's SymPy rule.

Everything shown comes from the rule: the rule itself (``layer.sympy_rule``), every output element as an
explicit expression (``symbolic.expand``), every gradient as ``sympy.diff`` of L = Σ dO·O over those
expressions. The numbers are those expressions evaluated exactly; the derivation refuses to build
(:class:`gradcheck.errors.ReportError`) if they differ from the sympy oracle's values, so a report cannot drift
from the engine. Also here: how symbols and arrays are shown (1-based subscripts, matrices, figure labels).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp

from .. import symbolic
from ..errors import ConfigError, ReportError
from ..layers.base import Layer
from .family import family_of
from .mathprint import Minus, product, total


# How operands are called in the lectures; a family may rename its own.
DEFAULT_NAMES = {"x": "X", "w": "W", "b": "b"}
OUTPUT, UPSTREAM = "O", "dO"   # dO_ij is the lectures' short name for ∂L/∂O_ij
MAX_TERMS = 3000               # beyond this a report is no longer readable


def invariant(holds, message: str) -> None:
    """Refuse a report whose worked steps disagree with the oracles: ReportError(message) unless ``holds``."""
    if not holds:
        raise ReportError(message)


def subscript(index, shape) -> str:
    """1-based subscript over the axes longer than 1, like the lectures: (0, 0, 1, 2) in (1, 1, 3, 3) -> '23'."""
    kept = [i + 1 for i, n in zip(index, shape) if n > 1]
    sep = "" if all(n <= 9 for n in shape) else ","
    return sep.join(map(str, kept))


def display_symbol(letter: str, index, shape) -> sp.Symbol:
    sub = subscript(index, shape)
    return sp.Symbol(f"{letter}_{sub}" if sub else letter)


def display_array(letter: str, shape) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for ix in np.ndindex(*shape):
        out[ix] = display_symbol(letter, ix, shape)
    return out


def squeeze2d(arr) -> np.ndarray:
    """An array as shown: axes of length 1 dropped; beyond 2-D the (n, c) slices stacked row after row."""
    a = np.asarray(arr, dtype=object)
    a = a.reshape([n for n in a.shape if n > 1] or [1])
    return a if a.ndim <= 2 else a.reshape(-1, a.shape[-1])


def as_matrix(arr) -> sp.Matrix:
    """An array shown as a matrix (1-D as a row)."""
    a = squeeze2d(arr)
    return sp.Matrix((a.reshape(1, -1) if a.ndim == 1 else a).tolist())


def rational(v) -> sp.Expr:
    """Exact data as a SymPy Rational; a float (a transcendental layer's value) as a 12-digit Float."""
    if isinstance(v, sp.Basic):
        return v
    if isinstance(v, (float, np.floating)):
        return sp.Float(float(v), 12)
    return sp.Rational(Fraction(v).numerator, Fraction(v).denominator)


class Derivation:
    """One configuration worked out: symbols, expanded outputs, chain-rule sums, and (exact) numbers."""

    def __init__(self, layer: Layer, shapes: dict, inputs: dict, grad_out: np.ndarray, *, origin: str,
                 command: str, seed: int | None):
        n_terms = symbolic.plan(layer, shapes).n_terms
        if n_terms > MAX_TERMS:
            raise ConfigError(f"{layer!r} with shapes {shapes} expands to {n_terms} products; a readable report "
                              f"needs at most {MAX_TERMS}: give a smaller --size")
        self.layer, self.shapes, self.origin, self.command, self.seed = layer, shapes, origin, command, seed
        self.family = family_of(layer)
        self.names = {**DEFAULT_NAMES, **self.family.names}
        self.rule = layer.sympy_rule(shapes)
        self.out_shape = tuple(self.rule.shape)
        self.given = dict(inputs), np.asarray(grad_out)  # as given: verify sees integer data as integers
        self.inputs = {k: symbolic.as_exact(v) for k, v in inputs.items()}
        self.grad_out = symbolic.as_exact(grad_out)
        self.symbols = {name: display_array(self.names.get(name, name), shape) for name, shape in shapes.items()}
        self.dO = display_array(UPSTREAM, self.out_shape)
        self.O = display_array(OUTPUT, self.out_shape)
        # Sorting key of every symbol: (dO first, then the inputs in call order; then the index).
        self.key = {s: (0, ix) for ix, s in np.ndenumerate(self.dO)}
        for order, name in enumerate(shapes, start=1):
            self.key.update({s: (order, ix) for ix, s in np.ndenumerate(self.symbols[name])})
        engine_names = {sp.Symbol(f"{name}[{', '.join(map(str, ix))}]"): self.symbols[name][ix]
                        for name, shape in shapes.items() for ix in np.ndindex(*shape)}
        expanded = np.asarray(symbolic.expand(layer, shapes), dtype=object)  # 0-d for a loss
        self.outputs = np.empty(self.out_shape, dtype=object)
        for ix in np.ndindex(*self.out_shape):
            self.outputs[ix] = sp.sympify(expanded[ix]).xreplace(engine_names)
        loss = sp.Add(*[g * o for g, o in zip(self.dO.ravel(), self.outputs.ravel())])
        self.differentiable = [n for n in shapes if n in layer.differentiable]
        self.gradients = {}
        for name in self.differentiable:
            grad = np.empty(shapes[name], dtype=object)
            for ix in np.ndindex(*shapes[name]):
                grad[ix] = sp.diff(loss, self.symbols[name][ix])
            self.gradients[name] = grad
        self.values = {s: rational(v) for name in shapes for s, v in zip(self.symbols[name].ravel(),
                                                                          self.inputs[name].ravel())}
        self.values.update({s: rational(v) for s, v in zip(self.dO.ravel(), self.grad_out.ravel())})
        self._check_against_engine()

    def _check_against_engine(self):
        forward = symbolic.forward(self.layer, self.inputs)
        grads = symbolic.gradients(self.layer, self.inputs, self.grad_out)
        self.forward_values = rationals(forward)
        self.gradient_values = {k: rationals(g) for k, g in grads.items()}
        # The sums of products (and chain-rule sums) shown with their numbers must give the oracle's values.
        # A piecewise rule (max, relu) shows its expression and the oracle's value, which applies the layer's
        # documented convention at ties and kinks.
        for name, exprs in [("output", self.outputs)] + list(self.gradients.items()):
            expected = self.forward_values if name == "output" else self.gradient_values[name]
            for expr, value in zip(exprs.ravel(), expected.ravel()):
                if self.is_sum_of_products(expr):
                    numbers = sp.sympify(expr).xreplace(self.values)
                    invariant(sp.expand(numbers - value) == 0, f"report sums for {name} disagree with the sympy oracle")

    # -- helpers the sections use ------------------------------------------------------------------
    def letter(self, name: str) -> str:
        return self.names.get(name, name)

    @staticmethod
    def is_sum_of_products(expr) -> bool:
        expr = sp.sympify(expr)
        return not expr.free_symbols or expr.is_polynomial(*expr.free_symbols)

    def ordered(self, expr) -> sp.Expr:
        """A polynomial as lecture-ordered terms (by dO index, then inputs in call order); else as is."""
        expr = sp.sympify(expr)
        if not expr.free_symbols or not self.is_sum_of_products(expr):
            return expr
        terms = []
        for term in sp.Add.make_args(sp.expand(expr)):
            coeff, factors = term.as_coeff_mul()
            factors = sorted(factors, key=lambda f: self.key.get(f, (99, ())))
            terms.append((tuple(self.key.get(f, (99, ())) for f in factors), coeff, factors))
        shown = []
        for _, coeff, factors in sorted(terms, key=lambda t: t[0]):
            if not factors:
                shown.append(coeff)
            elif coeff == -1:
                shown.append(Minus(product(*factors)))
            else:
                shown.append(product(*([coeff] if coeff != 1 else []), *factors))
        return total(*shown)

    def chain(self, lhs, expr, value) -> list:
        """[lhs, the lecture-ordered sum, the same sum with the numbers, its value]."""
        shown = self.ordered(expr)
        row = [lhs, shown]
        if not self.is_sum_of_products(expr):
            return row + [value]  # the oracle's value: substituting into a piecewise derivative ignores ties
        if shown.free_symbols:
            numeric = shown.xreplace(self.values)
            if numeric != value:
                row.append(numeric)
            row.append(value)
        return row

    def data_matrix(self, name) -> sp.Matrix:
        return as_matrix(rationals(self.inputs[name]))


def rationals(arr) -> np.ndarray:
    a = np.asarray(arr, dtype=object)
    return np.array([rational(v) for v in a.ravel()], dtype=object).reshape(a.shape)


def evaluated(expr):
    """A display expression (Terms/Factors) turned back into plain SymPy arithmetic."""
    from .mathprint import Factors, Terms

    if isinstance(expr, Minus):
        return -evaluated(expr.args[0])
    if isinstance(expr, Factors):
        return sp.Mul(*[evaluated(a) for a in expr.args])
    if isinstance(expr, Terms):
        return sp.Add(*[evaluated(a) for a in expr.args])
    return expr


def cell_names(arr, prefix=""):
    """The names of an array's symbols as figure labels (X_1_2 -> X12); cells that hold a number (zero padding)
    stay unnamed."""
    return np.vectorize(lambda s: prefix + str(s).replace("_", "") if isinstance(s, sp.Symbol) else "",
                        otypes=[object])(squeeze2d(arr))
