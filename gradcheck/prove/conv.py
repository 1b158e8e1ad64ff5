"""conv1d / conv2d: dL/dX = full-corr(rot180 F, dilate_s(G)) cropped, dL/dF = corr(pad X, dilate_s(G)) read at the
filter's dilation, dL/db = ΣG — for every size, stride, padding (before p, after p'), dilation and groups.

The forward rule is the layer's own (``Conv.sympy_rule``), built with SymPy symbols for every size and parameter."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .. import symbolic
from ..layers import layer as make_layer
from ..report import document
from ..report.mathprint import Name
from .engine import _txt, Definition, Domain, Instance, Rules, Stop, Term, divides, within
from .proof import Derivation, InstanceCheck, Proof, instantiate, partial


def I(*names, **kw):  # integer symbols
    return sp.symbols(names, integer=True, **kw) if len(names) > 1 else sp.Symbol(names[0], integer=True, **kw)


class Geometry:
    """The symbols of one spatial axis: stride s, dilation d, kernel K, padding before p and after p', output size
    H_out and remainder a = (H + p + p' − d(K − 1) − 1) mod s; the input size H is derived from them."""

    def __init__(self, size: str, tag: str):
        sub = f"_{tag}" if tag else ""
        self.s, self.d, self.K, self.out = I(f"s{sub}", f"d{sub}", f"K{sub}", f"{size}_{{out}}", positive=True)
        self.p, self.q, self.a, self.abar = I(f"p{sub}", f"p'{sub}", f"a{sub}", rf"\bar{{a}}{sub}", nonnegative=True)
        self.H = I(size, positive=True)
        self.size = self.H
        self.H_value = (self.out - 1) * self.s + self.a + self.d * (self.K - 1) + 1 - self.p - self.q
        self.extent = (self.out - 1) * self.s + self.d * (self.K - 1) + 1  # where the full correlation ends

    def facts(self):
        s, d, K, p, q, a, H, out = self.s, self.d, self.K, self.p, self.q, self.a, self.H, self.out
        return [
            (
                sp.Ge(s, 1, evaluate=False),
                ", ",
                sp.Ge(d, 1, evaluate=False),
                ", ",
                sp.Ge(K, 1, evaluate=False),
                ", ",
                sp.Ge(out, 1, evaluate=False),
                ", ",
                sp.Ge(p, 0, evaluate=False),
                ", ",
                sp.Ge(q, 0, evaluate=False),
                ": integers (padding p before, p' after; torch pads p = p', TensorFlow's 'same' may not)",
            ),
            (
                "the output size ",
                sp.Eq(out, sp.floor((H + p + q - d * (K - 1) - 1) / s) + 1, evaluate=False),
                " written exactly as ",
                sp.Eq(H + p + q - d * (K - 1) - 1, (out - 1) * s + a, evaluate=False),
                " with remainder ",
                sp.Le(0, a, evaluate=False),
                ", ",
                sp.Le(a, s - 1, evaluate=False),
                " (checks substitute s = 1 + a + ā, ā ≥ 0)",
            ),
        ]

    def reduce(self):
        return {self.H: self.H_value, self.s: 1 + self.a + self.abar}


def symbols(spatial: int):
    names = [("H", "")] if spatial == 1 else [("H", "H"), ("W", "W")]
    axes = [Geometry(size, tag) for size, tag in names]
    N, g, Cg, Og = I("N", "g", "C_g", "O_g", positive=True)
    return axes, (N, g, Cg, Og)


def layer_rule(name: str, axes, counts):
    """The layer's own SymPy rule with symbolic sizes and parameters (its code path for every instance)."""
    N, g, Cg, Og = counts
    lay = make_layer(name)
    # placeholders: the layer's own index names (p, q for taps) must not meet the padding symbols
    pads = [
        (sp.Dummy("p", integer=True, nonnegative=True), sp.Dummy("q", integer=True, nonnegative=True)) for _ in axes
    ]
    lay.params = {
        "stride": tuple(ax.s for ax in axes),
        "dilation": tuple(ax.d for ax in axes),
        "groups": g,
        "padding": tuple(pads),
    }
    lay.pads = lambda kernel, size: tuple(pads)
    shapes = {"x": (N, g * Cg, *[ax.H for ax in axes]), "w": (g * Og, Cg, *[ax.K for ax in axes]), "b": (g * Og,)}
    rule = lay.sympy_rule(shapes)
    return rule, {ph: real for (pb, pa), ax in zip(pads, axes) for ph, real in ((pb, ax.p), (pa, ax.q))}


def split_rule(expr):
    """The rule's expression as a list of Terms: Sum(product, limits) + b[o]."""
    terms = []
    for part in sp.Add.make_args(expr):
        if isinstance(part, sp.Sum):
            terms.append(Term(tuple((v, lo, hi) for v, lo, hi in part.limits), (), sp.Mul.make_args(part.function)))
        else:
            terms.append(Term((), (), sp.Mul.make_args(part)))
    return terms


def zero_padding(terms, base, sizes, fill):
    """A read of a zero-padded operand is [0 ≤ e ≤ size − 1]·read (the rule's fill is 0)."""
    from .engine import Condition

    out = []
    for t in terms:
        brackets = list(t.brackets)
        for f in t.factors:
            if isinstance(f, sp.Indexed) and f.base == base:
                for e, n in list(zip(f.indices, sizes))[2:]:
                    brackets += within(e, 0, n - 1)
        out.append(Term(t.sums, tuple(brackets), t.factors))
    return out, [
        Condition(f"the rule reads {base} as 0 outside its shape (fill = {fill})", None, fill == 0, "IndexRule.fill")
    ]


class ConvProof:
    """Builds the proof of conv1d/conv2d; the layer-independent parts live in the engine."""

    def __init__(self, name: str, claim):
        self.name, self.claim = name, claim
        self.spatial = {"conv1d": 1, "conv2d": 2}[name]
        self.axes, self.counts = symbols(self.spatial)
        N, g, Cg, Og = self.counts
        facts = [
            ("N, g, C_g, O_g ≥ 1: batch, groups, input and output channels per group (C_in = g·C_g, " "C_out = g·O_g)",)
        ]
        for ax in self.axes:
            facts += ax.facts()
        reduce = {}
        for ax in self.axes:
            reduce.update(ax.reduce())
        self.domain = Domain(facts, reduce)
        self.X, self.F, self.G, self.b = (sp.IndexedBase(n) for n in ("X", "F", "G", "b"))
        rule, placeholders = layer_rule(name, self.axes, self.counts)
        self.rule = rule
        # the layer's names: x, w, b; operands here are X, F, b; taps renamed k (l) so that p can be the padding
        n, o, *out_pos = rule.indices
        taps = [v for v, _, _ in next(t for t in sp.Add.make_args(rule.expr) if isinstance(t, sp.Sum)).limits][1:]
        self.taps = list(I("k", "l")[: self.spatial]) if self.spatial == 2 else [I("k")]
        rename = {**dict(zip(taps, self.taps)), sp.IndexedBase("x"): self.X, sp.IndexedBase("w"): self.F}
        self.rule_expr = rule.expr.xreplace({**rename, **placeholders})
        self.n, self.o, self.out_pos = n, o, out_pos
        self.c = next(v for v, _, _ in next(t for t in sp.Add.make_args(rule.expr) if isinstance(t, sp.Sum)).limits)
        self.gamma, self.o1 = I("gamma", "o'", nonnegative=True)

    # -- the forward rule, prepared: zero padding explicit, the output channel split by group --------------------
    def forward_steps(self, d: Derivation, rules: Rules):
        N, g, Cg, Og = self.counts
        terms = split_rule(self.rule_expr)
        d.forward = terms
        sizes = (N, g * Cg, *[ax.H for ax in self.axes])
        d.step(
            "the layer's rule",
            "reading",
            "The forward rule of gradcheck's sympy oracle for this layer, built by "
            f"`{self.name}.sympy_rule` with symbols for every size and parameter (taps renamed "
            f"{', '.join(map(str, self.taps))}).",
            lambda: (Term((), (), (sp.Add(*[t.show() for t in terms]),)), []),
        )
        terms, conds = zero_padding(terms, self.X, sizes, self.rule.fill.get("x", 0))
        d.step(
            "zero padding as brackets",
            "definition of the padding",
            "X is read as 0 outside [0, H): the " "read carries Iverson brackets.",
            lambda: (Term((), (), (sp.Add(*[t.show() for t in terms]),)), conds),
        )
        split = {self.o: self.gamma * Og + self.o1}
        terms = [t.subs(split) for t in terms]
        conds = []
        from .engine import Condition

        conds.append(
            Condition(
                "(γ, o') ↦ γ·O_g + o' maps [0, g − 1] × [0, O_g − 1] onto [0, g·O_g − 1] (Euclidean "
                "division): its ends",
                None,
                self.domain.is_zero(((g - 1) * Og + Og - 1) - (g * Og - 1)),
                "simplify",
            )
        )
        rules.free.update({self.gamma: (0, g - 1), self.o1: (0, Og - 1)})
        out = []
        for t in terms:
            if not any(sp.sympify(f).has(sp.floor) for f in t.factors):
                out.append(t)
                continue
            t2, c2 = rules.floor_quotient(t)  # a Stop here is a failed step, never skipped
            out.append(t2)
            conds += c2
        d.forward = out
        d.step(
            "groups: o = γ·O_g + o'",
            "split an index (mixed radix)",
            "Output channel o of group γ reads the " "group's input channels γ·C_g + c: ⌊(γ·O_g + o')/O_g⌋ = γ.",
            lambda: (Term((), (), (sp.Add(*[t.show() for t in out]),)), conds),
        )
        return out

    def chain(self, d: Derivation, rules: Rules, base, at, sizes, hold=None):
        N, g, Cg, Og = self.counts
        outputs = ((self.n, 0, N - 1), (self.gamma, 0, g - 1), (self.o1, 0, Og - 1)) + tuple(
            (i, 0, ax.out - 1) for i, ax in zip(self.out_pos, self.axes)
        )
        grad = self.G[(self.n, self.gamma * Og + self.o1, *self.out_pos)]

        def apply():
            # the outputs' indices are free in the rule, summed over in the chain rule
            rules.free.update({v: (lo, hi) for v, lo, hi in outputs})
            try:
                terms, conds = rules.chain_rule(d.forward, base, at, sizes, hold)
            finally:
                for v, _, _ in outputs:
                    rules.free.pop(v, None)
            if len(terms) != 1:
                raise Stop(f"{len(terms)} terms read {base}")
            (t,) = terms
            return Term(outputs + t.sums, t.brackets, (grad,) + t.factors), conds

        return d.step(
            "chain rule",
            "chain rule",
            "dL/dA = Σ over every output of dL/dO · ∂O/∂A; the read of A "
            "becomes Kronecker deltas [index = the differentiated element].",
            apply,
        )

    def bracket(self, d, test):
        return next(k for k, b in enumerate(d.term.brackets) if test(b))

    # -- definitions ------------------------------------------------------------------------------------------------
    def definitions(self):
        N, g, Cg, Og = self.counts
        axes = self.axes
        n_, o_, c_, g_ = I("n", "o", "c", "gamma")
        m = list(I("m_1", "m_2"))[: self.spatial] if self.spatial == 2 else [I("m")]
        t = list(I("t_1", "t_2"))[: self.spatial] if self.spatial == 2 else [I("t")]
        self.m, self.t = m, t
        Gt, Fh, P, Y, Xp, C = (sp.IndexedBase(nm) for nm in (
            Name(r"\tilde{G}", "G", "~"), Name(r"\hat{F}", "F", "^"), "P", "Y", Name(r"\tilde{X}", "X", "~"), "C"))
        self.Gt, self.Fh, self.P, self.Y, self.Xp, self.C = Gt, Fh, P, Y, Xp, C
        if self.claim.dilate_by_stride:
            br = [c for mi, ax in zip(m, axes) for c in [divides(ax.s, mi)] + within(mi, 0, (ax.out - 1) * ax.s)]
            gt = Definition(
                Gt,
                (n_, o_, *m),
                Term((), tuple(br), (self.G[(n_, o_, *[mi / ax.s for mi, ax in zip(m, axes)])],)),
                "G̃ = dilate_s(G): G spread out by the stride (s − 1 zeros between entries), 0 outside.",
            )
        else:
            br = [c for mi, ax in zip(m, axes) for c in within(mi, 0, ax.out - 1)]
            gt = Definition(
                Gt,
                (n_, o_, *m),
                Term((), tuple(br), (self.G[(n_, o_, *m)],)),
                "G̃ = G, NOT spread out by the stride (the claim under test), 0 outside.",
            )
        flip = [ax.K - 1 - k if self.claim.flip_filter else k for k, ax in zip(self.taps, axes)]
        fh = Definition(
            Fh,
            (o_, c_, *self.taps),
            Term((), (), (self.F[(o_, c_, *flip)],)),
            (
                "F̂ = rot180(F): the filter reversed along every spatial axis."
                if self.claim.flip_filter
                else "F̂ = F, NOT reversed (the claim under test)."
            ),
        )
        p = Definition(
            P,
            (n_, o_, *t),
            Term((), (), (Gt[(n_, o_, *[ti - ax.d * (ax.K - 1) for ti, ax in zip(t, axes)])],)),
            "P = pad(G̃, d(K − 1)): the full padding, d·(K − 1) zeros before (and after) G̃.",
        )
        y = Definition(
            Y,
            (n_, g_, c_, *t),
            Term(
                ((self.o1, 0, Og - 1),) + tuple((k, 0, ax.K - 1) for k, ax in zip(self.taps, axes)),
                (),
                (
                    Fh[(g_ * Og + self.o1, c_, *self.taps)],
                    P[(n_, g_ * Og + self.o1, *[ti + ax.d * k for ti, k, ax in zip(t, self.taps, axes)])],
                ),
            ),
            "Y = full-corr(P, F̂) at dilation d, per group γ (input channel γ·C_g + c, F̂ read with its input and "
            "output channels swapped): the full correlation of the padded, dilated dL/dO with the rotated filter.",
        )
        xp = Definition(
            Xp,
            (n_, c_, *t),
            Term(
                (),
                tuple(c for ti, ax in zip(t, axes) for c in within(ti - ax.p, 0, ax.H - 1)),
                (self.X[(n_, c_, *[ti - ax.p for ti, ax in zip(t, axes)])],),
            ),
            "X̃ = pad(X, p): X with p zeros before (p' after).",
        )
        cc = Definition(
            C,
            (g_, o_, c_, *t),
            Term(
                ((self.n, 0, N - 1),)
                + tuple(
                    (mi, 0, (ax.out - 1) * ax.s if self.claim.dilate_by_stride else ax.out - 1)
                    for mi, ax in zip(m, axes)
                ),
                (),
                (Gt[(self.n, g_ * Og + o_, *m)], Xp[(self.n, g_ * Cg + c_, *[mi + ti for mi, ti in zip(m, t)])]),
            ),
            "C = corr(X̃, G̃): X̃ correlated with G̃ as the filter, summed over the batch, per group.",
        )
        return gt, fh, p, y, xp, cc

    # -- dL/dX -------------------------------------------------------------------------------------------------------
    def grad_input(self, gt, fh, p, y) -> Derivation:
        N, g, Cg, Og = self.counts
        nu, gx, chi = I("nu", "gamma_x", "chi", nonnegative=True)
        pos = list(I("u", "v", nonnegative=True))[: self.spatial] if self.spatial == 2 else [I("u", nonnegative=True)]
        free = [(nu, 0, N - 1), (gx, 0, g - 1), (chi, 0, Cg - 1)] + [(u, 0, ax.H - 1) for u, ax in zip(pos, self.axes)]
        rules = Rules(self.domain, {v: (lo, hi) for v, lo, hi in free})
        lhs = partial("L", self.X[(nu, gx * Cg + chi, *pos)])
        d = Derivation(
            "dL/dX: full correlation of the dilated dL/dO with the rotated filter, cropped",
            lhs,
            rules,
            free,
            lambda v: v.reshape((v.shape[0], v.shape[1] * v.shape[2]) + v.shape[3:]),
        )
        d.key = "x"
        d.final = Term((), (), (self.Y[(nu, gx, chi, *[u + ax.p for u, ax in zip(pos, self.axes)])],))
        self.forward_steps(d, rules)
        sizes = (N, g * Cg, *[ax.H for ax in self.axes])
        self.chain(d, rules, self.X, (nu, gx * Cg + chi, *pos), sizes)
        if not d.stopped:
            k = self.bracket(d, lambda b: b.kind == "eq" and self.c in b.free_symbols)
            d.step(
                "channel of the group",
                "mixed-radix equality",
                "[γ·C_g + c = γ_x·C_g + χ] = [γ = γ_x]·[c = χ].",
                rules.split_equality,
                d.term,
                k,
                ((self.gamma, gx), (self.c, chi)),
                Cg,
            )
        for v, why in [(self.n, "the batch index"), (self.gamma, "the group"), (self.c, "the input channel")] + [
            (i, f"the output position along {ax.H}: coefficient s, so s must divide")
            for i, ax in zip(self.out_pos, self.axes)
        ]:
            d.step(f"eliminate {v}", "delta elimination", f"Σ over {v} of the delta on {why}.", rules.delta, d.term, v)
        d.step(
            "drop implied brackets",
            "range implication",
            "The padding brackets now say 0 ≤ u ≤ H − 1, true for " "every input position.",
            rules.drop_implied,
            d.term,
        )
        for u, k, ax in zip(pos, self.taps, self.axes):
            if d.stopped:
                break
            idx = self.bracket(
                d,
                lambda b: b.kind == "le"
                and u in b.lhs.free_symbols
                and k in b.lhs.free_symbols
                and not b.rhs.free_symbols & {u, k},
            )
            from .engine import Condition

            E = ax.extent
            d.note(
                f"the remainder along {ax.H}",
                "range split",
                "Input positions past the full correlation's end, u + p ≥ E = (H_out − 1)s + d(K − 1) + 1, are "
                "read by no output: their gradient is 0. There are H + p + p' − E = a of them, "
                "a = (H + p + p' − d(K − 1) − 1) mod s (the output_padding of the matching transposed convolution).",
                rules.vanishes(d.term, idx, {u: (E - ax.p, ax.H - 1)})
                + [
                    Condition(
                        "H + p + p' − E = a", None, self.domain.is_zero(ax.H + ax.p + ax.q - E - ax.a), "simplify"
                    )
                ],
            )
        at = (nu, gx * Og + self.o1, *[u + ax.p - ax.d * k for u, k, ax in zip(pos, self.taps, self.axes)])
        d.step(
            "stride-dilate dL/dO",
            "fold a definition",
            "The brackets [s | m], 0 ≤ m ≤ (H_out − 1)s and the read "
            "G[m/s] are G̃ = dilate_s(G) read at m = u + p − d·k.",
            rules.fold,
            d.term,
            gt,
            at,
        )
        d.step(
            "reverse the filter",
            "re-index by a bijection, fold a definition",
            "Re-index every tap by the claimed bijection (k → K − 1 − k for rot180), fold F̂, and check that G̃ is "
            "then read at u + p + d·k − d(K − 1): a correlation, not a convolution.",
            self.reverse,
            rules,
            d,
        )
        at = (nu, gx * Og + self.o1, *[u + ax.p + ax.d * k for u, k, ax in zip(pos, self.taps, self.axes)])
        d.step(
            "full padding by d(K − 1)",
            "fold a definition",
            "G̃ read at t − d(K − 1) is P = pad(G̃, d(K − 1)) read at " "t = u + p + d·k.",
            rules.fold,
            d.term,
            p,
            at,
        )
        at = (nu, gx, chi, *[u + ax.p for u, ax in zip(pos, self.axes)])
        d.step(
            "full correlation, cropped",
            "fold a definition",
            "What is left is Y = full-corr(P, F̂) read at u + p: the " "padded gradient cropped by p.",
            rules.fold,
            d.term,
            y,
            at,
        )
        d.reaches(d.final)
        return d

    def reverse(self, rules, d):
        from .engine import Condition

        term, conds = d.term, []
        for k, ax in zip(self.taps, self.axes):
            image = ax.K - 1 - k if self.claim.flip_filter else k
            term, c = rules.reindex(term, k, image)
            conds += c
        _, fh, _, _ = self._defs[:4]
        read = next(f for f in term.factors if isinstance(f, sp.Indexed) and f.base == self.F)
        term, c = rules.fold(term, fh, read.indices[:2] + tuple(self.taps))
        conds += c
        gread = next(f for f in term.factors if isinstance(f, sp.Indexed) and f.base == self.Gt)
        for axis, (k, ax) in enumerate(zip(self.taps, self.axes)):
            slope = sp.diff(gread.indices[2 + axis], k)
            conds.append(
                Condition(
                    f"G̃ is read at a position increasing with {k} by d (a correlation): its slope is "
                    f"{_txt(slope)}",
                    None,
                    self.domain.is_zero(slope - ax.d),
                    "simplify",
                )
            )
        return term, conds

    # -- dL/dF -------------------------------------------------------------------------------------------------------
    def grad_weight(self, gt, xp, cc) -> Derivation:
        N, g, Cg, Og = self.counts
        gf, om, chi = I("gamma_f", "omega", "chi", nonnegative=True)
        kap = (
            list(I("kappa", "mu", nonnegative=True))[: self.spatial]
            if self.spatial == 2
            else [I("kappa", nonnegative=True)]
        )
        free = [(gf, 0, g - 1), (om, 0, Og - 1), (chi, 0, Cg - 1)] + [(k, 0, ax.K - 1) for k, ax in zip(kap, self.axes)]
        rules = Rules(self.domain, {v: (lo, hi) for v, lo, hi in free})
        d = Derivation(
            "dL/dF: the padded input correlated with the dilated dL/dO, read at the filter's dilation",
            partial("L", self.F[(gf * Og + om, chi, *kap)]),
            rules,
            free,
            lambda v: v.reshape((v.shape[0] * v.shape[1],) + v.shape[2:]),
        )
        d.key = "w"
        d.final = Term((), (), (self.C[(gf, om, chi, *[ax.d * k for k, ax in zip(kap, self.axes)])],))
        self.forward_steps(d, rules)
        self.chain(d, rules, self.F, (gf * Og + om, chi, *kap), (g * Og, Cg, *[ax.K for ax in self.axes]))
        if not d.stopped:
            k = self.bracket(d, lambda b: b.kind == "eq" and self.o1 in b.free_symbols)
            d.step(
                "output channel of the group",
                "mixed-radix equality",
                "[γ·O_g + o' = γ_f·O_g + ω] = [γ = γ_f]·[o' = ω].",
                rules.split_equality,
                d.term,
                k,
                ((self.gamma, gf), (self.o1, om)),
                Og,
            )
        for v in [self.gamma, self.o1, self.c] + self.taps:
            d.step(f"eliminate {v}", "delta elimination", f"Σ over {v} of its delta.", rules.delta, d.term, v)
        d.step(
            "drop implied brackets",
            "range implication",
            "The brackets on γ_f, ω, χ and κ hold in their ranges.",
            rules.drop_implied,
            d.term,
        )
        for i, mi, ax in zip(self.out_pos, self.m, self.axes):
            d.step(
                f"stride: introduce {mi} = s·{i}",
                "delta introduction",
                f"Σ_{mi} [s·{i} = {mi}] = 1, since s·{i} lies in "
                f"[0, (H_out − 1)s]: the output position becomes a position of the dilated gradient.",
                rules.introduce,
                d.term,
                mi,
                0,
                (ax.out - 1) * ax.s,
                ax.s * i,
            )
            d.step(
                f"eliminate {i}", "delta elimination", f"{i} = {mi}/s, so s must divide {mi}.", rules.delta, d.term, i
            )
        d.step(
            "stride-dilate dL/dO",
            "fold a definition",
            "The brackets on m and the read G[m/s] are G̃ read at m.",
            rules.fold,
            d.term,
            gt,
            (self.n, gf * Og + om, *self.m),
        )
        d.step(
            "pad the input",
            "fold a definition",
            "The padding brackets and X read at m + d·κ − p are X̃ = pad(X, p) " "read at m + d·κ.",
            rules.fold,
            d.term,
            xp,
            (self.n, gf * Cg + chi, *[mi + ax.d * k for mi, k, ax in zip(self.m, kap, self.axes)]),
        )
        d.step(
            "correlation, read at the dilation",
            "fold a definition",
            "What is left is C = corr(X̃, G̃) read at d·κ.",
            rules.fold,
            d.term,
            cc,
            (gf, om, chi, *[ax.d * k for k, ax in zip(kap, self.axes)]),
        )
        d.reaches(d.final)
        return d

    # -- dL/db -------------------------------------------------------------------------------------------------------
    def grad_bias(self) -> Derivation:
        N, g, Cg, Og = self.counts
        gf, om = I("gamma_f", "omega", nonnegative=True)
        free = [(gf, 0, g - 1), (om, 0, Og - 1)]
        rules = Rules(self.domain, {v: (lo, hi) for v, lo, hi in free})
        d = Derivation(
            "dL/db: dL/dO summed over the batch and every position",
            partial("L", self.b[gf * Og + om]),
            rules,
            free,
            lambda v: v.reshape(-1),
        )
        d.key = "b"
        d.final = Term(
            ((self.n, 0, N - 1),) + tuple((i, 0, ax.out - 1) for i, ax in zip(self.out_pos, self.axes)),
            (),
            (self.G[(self.n, gf * Og + om, *self.out_pos)],),
        )
        self.forward_steps(d, rules)
        self.chain(d, rules, self.b, (gf * Og + om,), (g * Og,))
        if not d.stopped:
            k = self.bracket(d, lambda b: b.kind == "eq")
            d.step(
                "output channel of the group",
                "mixed-radix equality",
                "[γ·O_g + o' = γ_f·O_g + ω] = [γ = γ_f]·[o' = ω].",
                rules.split_equality,
                d.term,
                k,
                ((self.gamma, gf), (self.o1, om)),
                Og,
            )
        for v in [self.gamma, self.o1]:
            d.step(f"eliminate {v}", "delta elimination", f"Σ over {v} of its delta.", rules.delta, d.term, v)
        d.step(
            "drop implied brackets", "range implication", "γ_f and ω lie in their ranges.", rules.drop_implied, d.term
        )
        d.reaches(d.final)
        return d

    # -- instantiation -----------------------------------------------------------------------------------------------
    def instances(self, seed: int, count: int):
        rng = np.random.default_rng(seed)
        out = []
        for k in range(count):
            while True:
                g = int(rng.integers(1, 3))
                cg, og, n = (int(v) for v in rng.integers(1, 3, size=3))
                s = tuple(int(v) for v in rng.integers(2 if k == 0 else 1, 4, size=self.spatial))
                dil = tuple(int(v) for v in rng.integers(1, 3, size=self.spatial))
                K = tuple(int(v) for v in rng.integers(1, 4, size=self.spatial))
                same = k == count - 1
                pad = "same" if same else tuple(int(v) for v in rng.integers(0, 3, size=self.spatial))
                H = tuple(int(v) for v in rng.integers(1, 8, size=self.spatial))
                lay = make_layer(self.name, stride=s, padding=pad, dilation=dil, groups=g)
                shapes = {"x": (n, g * cg, *H), "w": (g * og, cg, *K), "b": (g * og,)}
                try:
                    lay.check_shapes(shapes)
                except Exception:
                    continue
                # the first configuration is one where every classic mistake shows: stride >= 2, kernel >= 2 and
                # at least two outputs per axis
                if k == 0 and (min(K) < 2 or min(lay.output_shape(shapes)[2:]) < 2):
                    continue
                break
            arrays = {name: rng.integers(-3, 4, size=shape).astype(object) for name, shape in shapes.items()}
            out_shape = lay.output_shape(shapes)
            G = rng.integers(-3, 4, size=out_shape).astype(object)
            oracle = symbolic.gradients(lay, dict(arrays), G)
            values = {self.counts[0]: n, self.counts[1]: g, self.counts[2]: cg, self.counts[3]: og}
            for ax, st, dl, kk, hh, (pb, pa), ho in zip(self.axes, s, dil, K, H, lay.pads(K, H), out_shape[2:]):
                rem = (hh + pb + pa - dl * (kk - 1) - 1) % st
                values.update(
                    {
                        ax.s: st,
                        ax.d: dl,
                        ax.K: kk,
                        ax.H: hh,
                        ax.p: pb,
                        ax.q: pa,
                        ax.out: ho,
                        ax.a: rem,
                        ax.abar: st - 1 - rem,
                    }
                )
            arrays_named = {"X": arrays["x"], "F": arrays["w"], "b": arrays["b"], "G": G}
            for defn in self._defs:
                arrays_named[defn.base.label.name] = defn
            inst = Instance(values, arrays_named)
            config = f"{lay!r} x {shapes['x']} w {shapes['w']}"
            out.append((config, inst, oracle))
        return out


def prove_conv(name: str, claim, seed: int = 0, count: int = 3) -> Proof:
    cp = ConvProof(name, claim)
    defs = cp.definitions()
    cp._defs = defs
    gt, fh, p, y, xp, cc = defs
    derivations = [cp.grad_input(gt, fh, p, y), cp.grad_weight(gt, xp, cc), cp.grad_bias()]
    cp.sample = cp.instances
    checks = []
    for config, inst, oracle in cp.instances(seed, count):
        checks.append(InstanceCheck(config, instantiate(derivations, inst, oracle)))
    intro = [
        document.Para(
            f"Claim ({claim.name}): for every batch size, channel count, groups, input size, kernel size, stride, "
            "padding and dilation, the gradients of the layer's own forward rule are the textbook identities below. "
            "Each step applies one rule of a small sound set (chain rule, delta elimination, re-indexing by a "
            "bijection, mixed-radix splitting, range implication, folding a definition); its side conditions are "
            "discharged by SymPy, and a step whose condition SymPy cannot discharge is marked NOT PROVED."
        ),
        document.Display([[sp.IndexedBase("O")[cp.rule.indices], cp.rule_expr]]),
    ]
    defs_shown = [(d.text, d) for d in (gt, fh, p, y, xp, cc)]
    return Proof(
        name,
        claim,
        f"Proof: the backward identities of {name}, for every shape",
        intro,
        cp.domain.facts,
        defs_shown,
        derivations,
        checks,
        command=f"gradcheck prove {name}" + ("" if claim.name == "textbook" else f" --claim {claim.name}"),
        source=cp,
    )
