"""The sections every report has, in order: the forward rule, the output size, the data, every output element,
the local gradients (``sympy.diff`` of the rule's summand), every gradient by the chain rule, the gradients, the
verification. A family (``gradcheck/report/family.py``) may replace some and add its own before the verification.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from .. import symbolic
from . import figures
from .derivation import OUTPUT, UPSTREAM, Derivation, as_matrix, cell_names, evaluated, rationals, squeeze2d
from .document import Code, Display, Heading, Items, Math, Para
from .mathprint import Partial, product, total


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
