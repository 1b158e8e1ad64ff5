"""The derivation behind a report, and the sections every layer gets.

Everything shown comes from the layer's SymPy rule: the rule itself (``layer.sympy_rule``), every output
element as an explicit expression (``symbolic.expand``), every gradient as ``sympy.diff`` of
L = Σ dO·O over those expressions, the local gradients as ``sympy.diff`` of the rule's summand. The
numbers are those expressions evaluated exactly; the report refuses to build if they differ from the
sympy oracle's values (so a report cannot drift from the engine).

A layer family adds sections through a :class:`Family` registered with :func:`register` (see
``gradcheck/report/conv.py``); a layer without one still gets every section here. A new family is one small
module imported in ``gradcheck/report/__init__.py``, e.g. ``gradcheck/report/pool.py``::

    def routing(d):   # d: the Derivation (d.inputs, d.grad_out, d.gradients, d.gradient_values, ...)
        return [Heading(2, "Max-pool routing"), Para(...), figures.grids(...)]

    register(Family(sections=routing), "max_pool2d")
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np
import sympy as sp

from .. import symbolic
from ..errors import ConfigError, ReportError
from ..layers.base import Layer
from . import figures
from .document import Code, Display, Heading, Items, Math, Para
from .mathprint import Minus, Partial, product, total

# How operands are called in the lectures; a family may rename its own.
DEFAULT_NAMES = {"x": "X", "w": "W", "b": "b"}
OUTPUT, UPSTREAM = "O", "dO"   # dO_ij is the lectures' short name for ∂L/∂O_ij
MAX_TERMS = 3000               # beyond this a report is no longer readable


@dataclass(eq=False)  # identity: a family registered for several layers is one family
class Family:
    """What a layer family adds to the generic report; every hook is optional.

    - ``names``: display names of its operands (``{"x": "X", "w": "F"}``);
    - ``small_shapes(layer, size)``: the default small configuration (``size``: spatial sides or None);
    - ``output_size(d)``: blocks showing the output-size arithmetic with the numbers filled in;
    - ``sections(d)``: special sections (a convolution's collapse into the matrix identity, max-pool
      routing, the transposed convolution's adjoint relation), placed before the verification;
    - ``examples``: extra reports committed in ``reports/``: ``(layer, params)`` at the default small
      configuration, or ``(layer, params, data)`` with given data, ``data`` = {"inputs": [...], "grad_out": ...,
      "name": the file stem, "command": how to regenerate it};
    - ``replaces``: generic sections the family writes its own way, by name ("rule", "outputs",
      "local_gradients", "chain_rule") — e.g. max pooling, whose SymPy rule is a sum of Piecewise terms, shows
      O = max(…) and routed gradients; each replacement must still check its numbers against the oracle;
    - ``params``: the parameters of the default report (``gradcheck report max_pool2d``) for a layer that
      requires some (kernel_size) or whose own defaults teach little (conv_transpose2d: stride 2).
    """

    names: dict = field(default_factory=dict)
    small_shapes: Callable | None = None
    output_size: Callable | None = None
    sections: Callable | None = None
    examples: list = field(default_factory=list)
    params: dict = field(default_factory=dict)
    replaces: dict = field(default_factory=dict)


FAMILIES: dict[str, Family] = {}


def invariant(holds, message: str) -> None:
    """Refuse a report whose worked steps disagree with the oracles: ReportError(message) unless ``holds``."""
    if not holds:
        raise ReportError(message)


def register(family: Family, *layer_names: str) -> Family:
    for name in layer_names:
        FAMILIES[name] = family
    return family


def family_of(layer: Layer) -> Family:
    return FAMILIES.get(layer.name, Family())


def default_layer(layer) -> Layer:
    """The layer (a registered name or a Layer class) a report shows when no parameters are given: its
    defaults; for a layer that requires parameters, its family's ``params``, else those of the smallest
    configuration its strategy shrinks to."""
    from ..layers import REGISTRY

    cls = REGISTRY[layer] if isinstance(layer, str) and layer in REGISTRY else layer
    if isinstance(layer, str) and cls is layer:
        from ..layers import layer as make_layer
        return make_layer(layer)  # the registry's error for an unknown name
    family = FAMILIES.get(cls.name)
    if family and family.params:
        return cls(**family.params)
    try:
        return cls()
    except ConfigError:
        return smallest_config(cls, {})[0]


# The default report of each layer whose family has no small_shapes of its own: its shapes and its inputs that
# are not data (class targets, unpooling indices), written out. They are the minimum smallest_config found when
# they were pinned; found afresh, they would follow Hypothesis's shrinker, which may change in any release, and
# the committed reports/ with it.
DEFAULT_DATA: dict[str, tuple[dict, dict]] = {
    "batch_norm": ({"x": (2, 2)}, {}),
    "flatten": ({"x": (2, 2)}, {}),
    "linear": ({"x": (1, 1), "w": (4, 1)}, {}),
    "max_unpool2d": ({"x": (1, 1, 2, 2), "indices": (1, 1, 2, 2)}, {"indices": [[[[0, 1], [2, 3]]]]}),
    "mse": ({"pred": (2,), "target": (2,)}, {}),
    "relu": ({"x": (2, 2)}, {}),
    "separable_conv2d": ({"x": (2, 1, 1, 2), "w_depthwise": (1, 1, 1, 1), "w_pointwise": (1, 1, 1, 1)}, {}),
    "sigmoid": ({"x": (2, 2)}, {}),
    "softmax": ({"x": (2, 2)}, {}),
    "softmax_cross_entropy": ({"logits": (2, 2), "target": (2,)}, {"target": [0, 0]}),
    "tanh": ({"x": (2, 2)}, {}),
    "upsample_nearest2d": ({"x": (1, 1, 2, 2)}, {}),
    "upsample_zeros2d": ({"x": (1, 1, 2, 2)}, {}),
}


def pinned_data(layer: Layer, size=None) -> tuple[dict, dict] | None:
    """(shapes, non-data inputs) of ``layer``'s default report when it is the default configuration (and
    ``size`` is None or the pinned sides), else None."""
    pinned = DEFAULT_DATA.get(layer.name)
    if pinned is None or layer.params != default_layer(type(layer)).params:
        return None
    shapes, _ = pinned
    first = shapes[layer.inputs[0]]
    return pinned if size is None or tuple(first[-len(size):]) == tuple(size) else None


def generic_small_shapes(layer: Layer, size=None) -> dict:
    """The layer's pinned default shapes (DEFAULT_DATA); for other configurations the smallest one the layer's own
    Hypothesis strategy shrinks to with ≥ 4 outputs (and the given spatial sides)."""
    pinned = pinned_data(layer, size)
    return dict(pinned[0]) if pinned else smallest_config(type(layer), layer.params, size, key=layer.key)[1]


def smallest_config(cls, params: dict, size=None, key=None) -> tuple:
    """(layer, shapes): the canonical minimum of ``cls.configs(**params)`` with ≥ 4 outputs (a loss: ≥ 4
    inputs), at most 24 inputs, and the given spatial sides."""
    from hypothesis import HealthCheck, find, settings

    def fits(outputs):
        def check(example):
            lay, shapes = example
            first = shapes[lay.inputs[0]]
            n_in = sum(int(np.prod(s)) for k, s in shapes.items() if k in lay.differentiable)
            n_out = int(np.prod(lay.output_shape(shapes)))
            return ((key is None or lay.key == key) and n_in <= 24 and (4 <= n_out <= 36 if outputs else 4 <= n_in)
                    and (size is None or tuple(first[-len(size):]) == tuple(size)))
        return check
    for outputs in (True, False):  # at least 4 outputs; a loss (one output): at least 4 inputs
        try:
            return find(cls.configs(**params), fits(outputs), settings=settings(
                database=None, max_examples=500, derandomize=True, suppress_health_check=list(HealthCheck)))
        except Exception:
            continue
    shown = cls(**params) if params else cls.name
    raise ConfigError(f"found no small configuration of {shown!r}" + (f" with size {size}" if size else "")
                      + "; give another --size")


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
        self.inputs = {k: symbolic.exact(v) for k, v in inputs.items()}
        self.grad_out = symbolic.exact(grad_out)
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
                if self.is_sum_of_products(expr) and sp.expand(sp.sympify(expr).xreplace(self.values) - value) != 0:
                    raise AssertionError(f"report sums for {name} disagree with the sympy oracle")

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


# -- the generic sections ------------------------------------------------------------------------------
def one_based_rule(d: Derivation) -> sp.Eq:
    """The layer's IndexRule with every index counted from 1 (as in the lectures): each index v becomes
    v − 1 inside the rule and each read position gets + 1 — e.g. O_i = Σ_p X_{i+p−1} F_p."""
    rule = d.rule
    shift = {i: i - 1 for i in rule.indices}
    bases = {name: sp.IndexedBase(d.letter(name)) for name in rule.operands}
    order = {name: k for k, name in enumerate(rule.operands)}

    def rebase(expr):
        expr = expr.xreplace(shift)
        expr = expr.replace(lambda e: isinstance(e, sp.Indexed), lambda e: bases[str(e.base.label)][
            tuple(sp.expand(ix + 1) for ix in e.indices)])
        if isinstance(expr, sp.Mul) and all(isinstance(f, sp.Indexed) for f in expr.args):
            expr = product(*sorted(expr.args, key=lambda f: order.get(
                next(k for k, b in bases.items() if b == f.base), 99)))
        return expr

    terms = []
    for term in sorted(sp.Add.make_args(rule.expr), key=lambda t: not isinstance(t, sp.Sum)):
        if isinstance(term, sp.Sum):
            limits = [(v, lo + 1, hi + 1) for v, lo, hi in term.limits]
            shift.update({v: v - 1 for v, _, _ in term.limits})
            terms.append(sp.Sum(rebase(term.function), *limits))
        else:
            terms.append(rebase(term))
    lhs = sp.IndexedBase(OUTPUT)[rule.indices] if rule.indices else sp.Symbol(OUTPUT)
    return lhs, total(*terms), bases, shift


def rule_section(d: Derivation) -> list:
    lhs, rhs, _, _ = one_based_rule(d)
    ranges = ", ".join(f"{s} = 1…{n}" for s, n in zip(d.rule.indices, d.out_shape)) or "the single output"
    plan = symbolic.plan(d.layer, d.shapes)
    outside = [k for k in d.rule.operands if any((r.flat_index < 0).any() for t in plan.terms for r in t.reads
                                                 if r.operand == k)]
    fills = [f"{d.letter(k)} outside its range reads {d.rule.fill.get(k, 0)}" for k in outside]
    padding = (f" Positions outside an operand are padding ({'; '.join(fills)}): a read there contributes a "
               "constant and receives no gradient." if fills else "")
    return [Heading(2, "The forward rule"),
            Para(f"The layer's SymPy rule (`{type(d.layer).__name__}.sympy_rule`), printed with every index "
                 "counted from 1 as in the lectures:"),
            Display([[lhs, rhs]]),
            Para(f"for {ranges}.{padding}")]


def output_size_section(d: Derivation) -> list:
    blocks = [Heading(2, "Output size")]
    if d.family.output_size:
        return blocks + d.family.output_size(d)
    shapes = ", ".join(f"{d.letter(k)} {v}" for k, v in d.shapes.items())
    return blocks + [Para(f"From {shapes} the layer's output shape is {d.out_shape}.")]


def data_section(d: Derivation) -> list:
    rows = [[sp.Symbol(d.letter(k)), d.data_matrix(k)] for k in d.shapes]
    rows.append([sp.Symbol(UPSTREAM), as_matrix(rationals(d.grad_out))])
    shapes = ", ".join(f"{d.letter(k)} {v}" for k, v in d.shapes.items())
    name = next(iter(d.shapes))
    first = d.symbols[name].flat[0]
    ij = "ijkl"[:sum(n > 1 for n in d.out_shape)]
    upstream = sp.Symbol(f"{UPSTREAM}_{ij}" if ij else UPSTREAM)
    output = sp.Symbol(f"{OUTPUT}_{ij}" if ij else OUTPUT)
    return [Heading(2, "The data"),
            Para(f"Shapes {shapes}; output {OUTPUT} {d.out_shape}. {d.origin} Below, elements are named with "
                 "1-based subscripts over the axes longer than 1, so ", Math(first),
                 " is the first element of ", Math(sp.Symbol(d.letter(name))), "; ",
                 Math(upstream), " stands for ", Math(Partial(sp.Symbol("L"), output)), ", the upstream gradient."),
            Display(rows)]


def outputs_section(d: Derivation) -> list:
    rows = [d.chain(d.O[ix], d.outputs[ix], d.forward_values[ix]) for ix in np.ndindex(*d.out_shape)]
    padded = any((r.flat_index < 0).any() for t in symbolic.plan(d.layer, d.shapes).terms for r in t.reads)
    return [Heading(2, "Every output element"),
            Para("The rule written out for these shapes (SymPy, `symbolic.expand`), then with the numbers."
                 + (" Products that read the padding are constant (0 for zero padding) and do not appear:"
                    if padded else "")),
            Display(rows)]


def local_gradients_section(d: Derivation) -> list:
    lhs, rhs, bases, shift = one_based_rule(d)
    differentiable = {bases[k] for k in d.differentiable}
    rows, nested = [], False
    for term in (rhs.args if type(rhs).__name__ == "Terms" else [rhs]):
        summand = sp.sympify(evaluated(term.function if isinstance(term, sp.Sum) else term))
        inner = set().union(*[{v for v, *_ in s.limits} for s in summand.atoms(sp.Sum)])
        for read in sorted(summand.atoms(sp.Indexed), key=lambda r: list(bases.values()).index(r.base)):
            if read.base not in differentiable:
                continue
            if read.free_symbols & inner:  # read inside an inner sum: it stands for several elements
                nested = True
                continue
            u = sp.Dummy("u")
            rows.append([Partial(lhs, read), sp.diff(summand.xreplace({read: u}), u).xreplace({u: read})])
    blocks = [Heading(2, "Local gradients"),
              Para("sympy.diff of the rule's summand with respect to each operand it reads:")]
    if rows:
        blocks.append(Display(rows))
    if nested:
        blocks.append(Para("Reads inside an inner sum stand for several elements at once; their local gradients "
                           "are taken element by element in the next section."))
    return blocks


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


def chain_rule_section(d: Derivation) -> list:
    loss = total(*[product(g, o) for g, o in zip(d.dO.ravel(), d.O.ravel())])
    blocks = [Heading(2, "Every gradient by the chain rule"),
              Para("Take L = Σ dO·O, whose gradient with respect to the output is the given dO:"),
              Display([[sp.Symbol("L"), loss]]),
              Para("Each input element collects dO times its local gradient from every output that reads it "
                   "(sympy.diff of L, with the expanded outputs substituted):")]
    for name in d.differentiable:
        rows = [d.chain(Partial(sp.Symbol("L"), s), d.gradients[name][ix], d.gradient_values[name][ix])
                for ix, s in np.ndenumerate(d.symbols[name])]
        blocks += [Heading(3, f"Gradient with respect to {d.letter(name)}"), Display(rows)]
    return blocks


def values_figure(d: Derivation):
    panels = []
    for name in d.shapes:
        panels.append(figures.Panel(d.letter(name), squeeze2d(d.inputs[name]), cell_names(d.symbols[name])))
    panels.append(figures.Panel(UPSTREAM, squeeze2d(d.grad_out), cell_names(d.dO)))
    for name in d.differentiable:
        panels.append(figures.Panel(f"dL/d{d.letter(name)}", squeeze2d(d.gradient_values[name]),
                                    cell_names(d.symbols[name], prefix="d")))
    return figures.grids("values", "The data and the gradients (each cell: its value, its name)", panels)


def cell_names(arr, prefix=""):
    """The names of an array's symbols as figure labels (X_1_2 -> X12); cells that hold a number (zero padding)
    stay unnamed."""
    return np.vectorize(lambda s: prefix + str(s).replace("_", "") if isinstance(s, sp.Symbol) else "",
                        otypes=[object])(squeeze2d(arr))


def results_section(d: Derivation) -> list:
    rows = [[Partial(sp.Symbol("L"), sp.Symbol(d.letter(n))), as_matrix(d.gradient_values[n])]
            for n in d.differentiable]
    return [Heading(2, "The gradients"), Display(rows), values_figure(d)]


def verification_section(d: Derivation) -> list:
    from .. import __version__
    from ..symbolic import MPMATH_DIGITS
    from ..verify import verify

    inputs, grad_out = d.given
    verdict = verify(d.layer, *[inputs[name] for name in d.shapes], grad_out=grad_out,
                     oracles=("sympy", "numpy", "jax"))
    seed = f"seed {d.seed} (integer data drawn with numpy.random.default_rng({d.seed}))" if d.seed is not None \
        else "no seed: the data was given"
    # "exactly" only for the pairs compared with == (jax's float64 on a division, a float layer: a tolerance)
    exact = [f"{a} = {b}" for (a, b), rtol in verdict.tolerances.items() if rtol == 0]
    # a rule with exp/log/sqrt is evaluated in mpmath (gradcheck.symbolic.MPMATH_DIGITS), not in rationals
    arithmetic = ("in exact rational arithmetic" if d.layer.exact else
                  f"at {MPMATH_DIGITS} significant digits (mpmath; exp, log or sqrt has no exact rational value)")
    if not verdict.ok:
        status = "DISAGREE"
    elif len(exact) == len(verdict.tolerances):
        status = "agree exactly"
    elif exact:
        status = f"agree ({', '.join(exact)} exactly, the other pairs within float tolerance)"
    else:
        status = "agree within float tolerance"
    return [Heading(2, "Verification"),
            Para(f"Every number above is the SymPy expression evaluated {arithmetic}, and was "
                 f"checked against the sympy oracle while this report was built. The three oracles {status} "
                 f"on this data:"),
            Code(str(verdict)),
            # gradcheck's version only: a dependency's patch release must not change the committed reports/
            Items([(f"gradcheck {__version__}",), (seed,), ("regenerate: " + d.command,)])]


def generic_sections(d: Derivation) -> list:
    own = d.family.replaces
    blocks = own.get("rule", rule_section)(d) + output_size_section(d) + data_section(d)
    blocks += own.get("outputs", outputs_section)(d) + own.get("local_gradients", local_gradients_section)(d)
    blocks += own.get("chain_rule", chain_rule_section)(d) + results_section(d)
    if d.family.sections:
        blocks += d.family.sections(d)
    return blocks + verification_section(d)
