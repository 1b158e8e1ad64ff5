"""conv_transpose1d / conv_transpose2d: the adjoint of convolution, for every shape.

Proved from the layer's own rule O[n,o,i] = Σ_{c,a} x[n, γ·C_g + c, (i + p − d·a)/s] · w[γ·C_g + c, o − γ·O_g, a]:
- the forward pass is, term for term, the convolution's input gradient (the conv proof's term after its delta
  eliminations) with G := x and F := w: ⟨conv(Z, w), Y⟩ = ⟨Z, conv_transpose(Y, w)⟩, so the conv proof's remaining
  steps make it crop(full-corr(pad(dilate_s(x)), rot180 w));
- dL/dx = conv(G, w): the convolution layer's own rule with x := G (the other direction of the adjoint);
- dL/dw = G correlated with the stride-dilated x, read at offset p − d·κ;  dL/db = ΣG.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from .. import symbolic
from ..layers import layer as make_layer
from ..report import document
from .conv import I, ConvProof, split_rule
from ..report.mathprint import Name
from .engine import Condition, Definition, Domain, Instance, Rules, Stop, Term, divides, within
from .proof import Derivation, InstanceCheck, Proof, instantiate, partial


class Axis:
    def __init__(self, size: str, tag: str):
        sub = f"_{tag}" if tag else ""
        self.s, self.d, self.K, self.H = I(f"s{sub}", f"d{sub}", f"K{sub}", size, positive=True)
        self.p, self.op = I(f"p{sub}", f"op{sub}", nonnegative=True)
        self.out = I(f"{size}_{{out}}", positive=True)
        self.out_value = (self.H - 1) * self.s - 2 * self.p + self.d * (self.K - 1) + self.op + 1


class ConvTransposeProof:
    def __init__(self, name: str, claim):
        self.name, self.claim = name, claim
        self.spatial = {"conv_transpose1d": 1, "conv_transpose2d": 2}[name]
        names = [("H", "")] if self.spatial == 1 else [("H", "H"), ("W", "W")]
        self.axes = [Axis(size, tag) for size, tag in names]
        self.counts = I("N", "g", "C_g", "O_g", positive=True)
        N, g, Cg, Og = self.counts
        facts = [
            ("N, g, C_g, O_g ≥ 1: batch, groups, input and output channels per group (C_in = g·C_g, " "C_out = g·O_g)",)
        ]
        reduce = {}
        for ax in self.axes:
            facts.append(
                (
                    sp.Ge(ax.s, 1, evaluate=False),
                    ", ",
                    sp.Ge(ax.d, 1, evaluate=False),
                    ", ",
                    sp.Ge(ax.K, 1, evaluate=False),
                    ", ",
                    sp.Ge(ax.H, 1, evaluate=False),
                    ", ",
                    sp.Ge(ax.p, 0, evaluate=False),
                    ", ",
                    sp.Ge(ax.op, 0, evaluate=False),
                    " (output_padding), integers; the output size ",
                    sp.Eq(ax.out, ax.out_value, evaluate=False),
                    " ≥ 1",
                )
            )
            reduce[ax.out] = ax.out_value
        self.domain = Domain(facts, reduce)
        self.X, self.W, self.G, self.b = (sp.IndexedBase(n) for n in ("X", "W", "G", "b"))
        lay = make_layer(name)
        pads = [sp.Dummy("p", integer=True, nonnegative=True) for _ in self.axes]
        lay.params = {
            "stride": tuple(ax.s for ax in self.axes),
            "dilation": tuple(ax.d for ax in self.axes),
            "groups": g,
            "padding": tuple(pads),
            "output_padding": tuple(ax.op for ax in self.axes),
        }
        rule = lay.sympy_rule(
            {
                "x": (N, g * Cg, *[ax.H for ax in self.axes]),
                "w": (g * Cg, Og, *[ax.K for ax in self.axes]),
                "b": (g * Og,),
            }
        )
        self.rule = rule
        n, o, *out_pos = rule.indices
        limits = next(t for t in sp.Add.make_args(rule.expr) if isinstance(t, sp.Sum)).limits
        self.c = limits[0][0]
        taps = [v for v, _, _ in limits[1:]]
        self.taps = [I("a")] if self.spatial == 1 else list(I("a", "e"))
        self.rule_expr = rule.expr.xreplace(
            {
                **dict(zip(taps, self.taps)),
                **dict(zip(pads, [ax.p for ax in self.axes])),
                sp.IndexedBase("x"): self.X,
                sp.IndexedBase("w"): self.W,
            }
        )
        self.n, self.o, self.out_pos = n, o, out_pos
        self.gamma, self.o1 = I("gamma", "o'", nonnegative=True)
        self.conv = ConvProof({1: "conv1d", 2: "conv2d"}[self.spatial], claim)

    # -- the rule: non-whole or outside reads are 0, groups split ----------------------------------------------------
    def forward_steps(self, d: Derivation, rules: Rules):
        N, g, Cg, Og = self.counts
        terms = split_rule(self.rule_expr)
        O = sp.IndexedBase("O")
        d.step(
            "the layer's rule",
            "reading",
            f"The forward rule of gradcheck's sympy oracle, built by "
            f"`{self.name}.sympy_rule` with symbols (taps renamed {', '.join(map(str, self.taps))}).",
            lambda: (Term((), (), (sp.Add(*[t.show() for t in terms]),)), []),
            lhs=O[self.rule.indices],
        )
        out = []
        for t in terms:
            brackets = list(t.brackets)
            for f in t.factors:
                if isinstance(f, sp.Indexed) and f.base == self.X:
                    for e, ax in zip(f.indices[2:], self.axes):
                        num = sp.expand(e * ax.s)
                        brackets += [divides(ax.s, num)] + within(e, 0, ax.H - 1)
            out.append(Term(t.sums, tuple(brackets), t.factors))
        fill = self.rule.fill.get("x", 0)
        conds = [
            Condition(
                f"the rule reads x as 0 outside its shape and at a non-whole index (fill = {fill}, "
                "gradcheck.symbolic's reading of a quotient index)",
                None,
                fill == 0,
                "IndexRule.fill",
            )
        ]
        d.step(
            "non-whole and outside reads as brackets",
            "definition of the read",
            "x at (i + p − d·a)/s is read only " "where s divides i + p − d·a and the quotient lies in [0, H − 1].",
            lambda: (Term((), (), (sp.Add(*[t.show() for t in out]),)), conds),
            lhs=O[self.rule.indices],
        )
        split = {self.o: self.gamma * Og + self.o1}
        rules.free.update({self.gamma: (0, g - 1), self.o1: (0, Og - 1)})
        terms, conds = [], [
            Condition(
                "(γ, o') ↦ γ·O_g + o' maps [0, g − 1] × [0, O_g − 1] onto [0, g·O_g − 1]: its ends",
                None,
                self.domain.is_zero((g - 1) * Og + Og - 1 - (g * Og - 1)),
                "simplify",
            )
        ]
        for t in out:
            t = t.subs(split)
            if any(sp.sympify(f).has(sp.floor) for f in t.factors) or any(
                b.lhs.has(sp.floor) or b.rhs.has(sp.floor) for b in t.brackets
            ):
                t, c = rules.floor_quotient(t)
                conds += c
            terms.append(t)
        d.forward = terms
        d.step(
            "groups: o = γ·O_g + o'",
            "split an index (mixed radix)",
            "⌊(γ·O_g + o')/O_g⌋ = γ.",
            lambda: (Term((), (), (sp.Add(*[t.show() for t in terms]),)), conds),
            lhs=O[(self.n, self.gamma * Og + self.o1, *self.out_pos)],
        )
        return terms

    def conv_names(self, conv_free):
        """conv's symbols -> this layer's: conv's G is x, its F is w, its output size H_out is x's size H, its input
        size is this layer's output size; conv's out/in channels per group are C_g/O_g here."""
        cp, N, g, Cg, Og = self.conv, *self.counts
        m = {
            cp.counts[0]: N,
            cp.counts[1]: g,
            cp.counts[2]: Og,
            cp.counts[3]: Cg,
            sp.IndexedBase("G"): self.X,
            sp.IndexedBase("F"): self.W,
        }
        for cax, ax in zip(cp.axes, self.axes):
            m.update({cax.s: ax.s, cax.d: ax.d, cax.K: ax.K, cax.p: ax.p, cax.out: ax.H, cax.H: ax.out})
        m.update(conv_free)
        return m

    def rename(self, term: Term, mapping) -> Term:
        sums = tuple(
            (mapping.get(v, v), sp.sympify(lo).xreplace(mapping), sp.sympify(hi).xreplace(mapping))
            for v, lo, hi in term.sums
        )
        br = tuple(
            type(b)(b.kind, sp.expand(b.lhs.xreplace(mapping)), sp.expand(b.rhs.xreplace(mapping)))
            for b in term.brackets
        )
        return Term(sums, br, tuple(sp.sympify(f).xreplace(mapping) for f in term.factors))

    # -- the forward pass is conv's input gradient -------------------------------------------------------------------
    def adjoint(self, defs) -> Derivation:
        N, g, Cg, Og = self.counts
        free = [(self.n, 0, N - 1), (self.gamma, 0, g - 1), (self.o1, 0, Og - 1)] + [
            (i, 0, ax.out - 1) for i, ax in zip(self.out_pos, self.axes)
        ]
        rules = Rules(self.domain, {v: (lo, hi) for v, lo, hi in free})
        O = sp.IndexedBase("O")
        d = Derivation(
            "the forward pass is conv's input gradient (the adjoint relation)",
            O[(self.n, self.gamma * Og + self.o1, *self.out_pos)] - self.b[self.gamma * Og + self.o1],
            rules,
            free,
            lambda v: v.reshape((v.shape[0], v.shape[1] * v.shape[2]) + v.shape[3:]),
        )
        d.key = "out"
        terms = self.forward_steps(d, rules)
        main = [t for t in terms if t.sums]
        cp = self.conv
        conv_d = cp.grad_input(*cp._defs[:4])
        at = next((s for s in conv_d.steps if s.name == "drop implied brackets"), None)
        later = conv_d.steps[conv_d.steps.index(at) + 1 :] if at else []
        nu, gx, chi = I("nu", "gamma_x", "chi", nonnegative=True)
        pos = list(I("u", "v", nonnegative=True))[: self.spatial] if self.spatial == 2 else [I("u", nonnegative=True)]
        mapping = self.conv_names(
            {
                nu: self.n,
                gx: self.gamma,
                chi: self.o1,
                cp.o1: self.c,
                **dict(zip(pos, self.out_pos)),
                **dict(zip(cp.taps, self.taps)),
            }
        )

        def compare():
            if at is None or len(main) != 1:
                raise Stop("the conv proof did not reach its delta-eliminated input gradient")
            conds = rules.same(main[0], self.rename(at.term, mapping), "conv's input gradient, renamed")
            conds.append(
                Condition(
                    "the conv proof's steps from there to its textbook form are checked",
                    None,
                    conv_d.checked and all(s.checked for s in later),
                    f"{len(later)} steps, " f"{'all checked' if conv_d.checked else 'not all checked'}",
                )
            )
            # conv's domain ties its input size H to a remainder a ≤ s − 1; here that size is (H − 1)s − 2p + d(K − 1)
            # + output_padding + 1, and output_padding may reach s when d > s. The reused steps (folds, re-indexing)
            # must not depend on it: none of their terms may mention H or a (the remainder notes are not reused).
            sizes = {sym for cax in cp.axes for sym in (cax.H, cax.a)}
            reused = [s for s in later if s.rule != "range split" and s.term is not None]
            conds.append(
                Condition(
                    "the reused conv steps mention neither conv's input size nor its remainder a: they hold for every "
                    "output_padding",
                    None,
                    bool(reused) and not any(s.term.show().free_symbols & sizes for s in reused),
                    "structural",
                )
            )
            return self.rename(conv_d.final, mapping), conds

        d.step(
            "the adjoint relation",
            "comparison with a proved term",
            "Term for term, this is the conv proof's dL/dZ after its delta eliminations, with G := x, F := w, conv's "
            "output channels (per group) := this layer's input channels, conv's input size := this output size. So "
            "⟨conv(Z, w), Y⟩ = ⟨Z, conv_transpose(Y, w)⟩, and the conv proof's remaining steps give its textbook form: "
            "the stride-dilated x, padded by d(K − 1), full-correlated with rot180(w), cropped by p (the "
            "output_padding rows are the conv proof's remainder rows).",
            compare,
        )
        d.final = self.rename(conv_d.final, mapping)
        d.defs = {
            name: self.rename_def(defn, mapping)
            for name, defn in zip((r"\tilde{G}", r"\hat{F}", "P", "Y"), cp._defs[:4])
        }
        return d

    def rename_def(self, defn: Definition, mapping) -> Definition:
        return Definition(
            defn.base, tuple(mapping.get(i, i) for i in defn.indices), self.rename(defn.body, mapping), defn.text
        )

    # -- dL/dx = conv(G, w) ------------------------------------------------------------------------------------------
    def grad_input(self) -> Derivation:
        N, g, Cg, Og = self.counts
        nu, gx, chi = I("nu", "gamma_x", "chi", nonnegative=True)
        pos = list(I("m_1", "m_2"))[: self.spatial] if self.spatial == 2 else [I("m")]
        free = [(nu, 0, N - 1), (gx, 0, g - 1), (chi, 0, Cg - 1)] + [(m, 0, ax.H - 1) for m, ax in zip(pos, self.axes)]
        rules = Rules(self.domain, {v: (lo, hi) for v, lo, hi in free})
        d = Derivation(
            "dL/dx = conv(G, w): the convolution with the same stride, padding and dilation",
            partial("L", self.X[(nu, gx * Cg + chi, *pos)]),
            rules,
            free,
            lambda v: v.reshape((v.shape[0], v.shape[1] * v.shape[2]) + v.shape[3:]),
        )
        d.key = "x"
        self.forward_steps(d, rules)
        self.chain(d, rules, self.X, (nu, gx * Cg + chi, *pos), (N, g * Cg, *[ax.H for ax in self.axes]))
        if not d.stopped:
            k = next(k for k, b in enumerate(d.term.brackets) if b.kind == "eq" and self.c in b.free_symbols)
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
        for v in (self.n, self.gamma, self.c):
            d.step(f"eliminate {v}", "delta elimination", f"Σ over {v} of its delta.", rules.delta, d.term, v)
        for i, m, ax in zip(self.out_pos, pos, self.axes):
            if d.stopped:
                break
            k = next(k for k, b in enumerate(d.term.brackets) if b.kind == "eq" and i in b.free_symbols)
            d.step(
                f"clear the stride along {ax.H}",
                "scale an equality",
                "[(i + p − d·a)/s = m] = [i + p − d·a = s·m].",
                rules.scale,
                d.term,
                k,
                ax.s,
            )
            d.step(f"eliminate {i}", "delta elimination", f"{i} = s·{m} + d·a − p.", rules.delta, d.term, i)
        d.step(
            "drop implied brackets",
            "range implication",
            "s | s·m, 0 ≤ m ≤ H − 1 and the channel ranges hold.",
            rules.drop_implied,
            d.term,
        )
        # conv's own rule (padding brackets, groups split), renamed: x := G, its filter := w (channels swapped)
        cp = self.conv
        conv_fwd = Derivation("", None, Rules(cp.domain, {}), [])
        cp.forward_steps(conv_fwd, conv_fwd.rules)
        conv_term = next(t for t in conv_fwd.forward if t.sums)
        mapping = self.conv_names(
            {
                cp.n: nu,
                cp.gamma: gx,
                cp.o1: chi,
                cp.c: self.o1,
                sp.IndexedBase("X"): self.G,
                sp.IndexedBase("F"): self.W,
                **dict(zip(cp.out_pos, pos)),
                **dict(zip(cp.taps, self.taps)),
            }
        )
        for cax, ax in zip(cp.axes, self.axes):
            mapping[cax.H] = ax.out  # conv's input here is G, of this layer's output size
        target = self.rename(conv_term, mapping)
        d.final = target
        d.step(
            "conv(G, w)",
            "comparison with a proved term",
            "The term is the conv layer's own rule (its zero padding "
            "and groups made explicit) with x := G and the filter w, its in/out channels swapped per group.",
            lambda: (target, rules.same(d.term, target, "conv's rule, renamed")),
        )
        return d

    def chain(self, d, rules, base, at, sizes):
        N, g, Cg, Og = self.counts
        outputs = ((self.n, 0, N - 1), (self.gamma, 0, g - 1), (self.o1, 0, Og - 1)) + tuple(
            (i, 0, ax.out - 1) for i, ax in zip(self.out_pos, self.axes)
        )
        grad = self.G[(self.n, self.gamma * Og + self.o1, *self.out_pos)]

        def apply():
            rules.free.update({v: (lo, hi) for v, lo, hi in outputs})
            try:
                terms, conds = rules.chain_rule(d.forward, base, at, sizes)
            finally:
                for v, _, _ in outputs:
                    rules.free.pop(v, None)
            if len(terms) != 1:
                raise Stop(f"{len(terms)} terms read {base}")
            (t,) = terms
            return Term(outputs + t.sums, t.brackets, (grad,) + t.factors), conds

        return d.step("chain rule", "chain rule", "dL/dA = Σ over every output of dL/dO · ∂O/∂A.", apply)

    # -- dL/dw -------------------------------------------------------------------------------------------------------
    def grad_weight(self, xt, corr) -> Derivation:
        N, g, Cg, Og = self.counts
        gf, om, chi = I("gamma_f", "omega", "chi", nonnegative=True)
        kap = (
            list(I("kappa", "mu", nonnegative=True))[: self.spatial]
            if self.spatial == 2
            else [I("kappa", nonnegative=True)]
        )
        free = [(gf, 0, g - 1), (chi, 0, Cg - 1), (om, 0, Og - 1)] + [(k, 0, ax.K - 1) for k, ax in zip(kap, self.axes)]
        rules = Rules(self.domain, {v: (lo, hi) for v, lo, hi in free})
        d = Derivation(
            "dL/dw: G correlated with the stride-dilated x",
            partial("L", self.W[(gf * Cg + chi, om, *kap)]),
            rules,
            free,
            lambda v: v.reshape((v.shape[0] * v.shape[1],) + v.shape[2:]),
        )
        d.key = "w"
        d.final = Term((), (), (corr.base[(gf, om, chi, *[ax.p - ax.d * k for k, ax in zip(kap, self.axes)])],))
        self.forward_steps(d, rules)
        self.chain(d, rules, self.W, (gf * Cg + chi, om, *kap), (g * Cg, Og, *[ax.K for ax in self.axes]))
        if not d.stopped:
            k = next(k for k, b in enumerate(d.term.brackets) if b.kind == "eq" and self.c in b.free_symbols)
            d.step(
                "channel of the group",
                "mixed-radix equality",
                "[γ·C_g + c = γ_f·C_g + χ] = [γ = γ_f]·[c = χ].",
                rules.split_equality,
                d.term,
                k,
                ((self.gamma, gf), (self.c, chi)),
                Cg,
            )
        for v in [self.gamma, self.c, self.o1] + self.taps:
            d.step(f"eliminate {v}", "delta elimination", f"Σ over {v} of its delta.", rules.delta, d.term, v)
        d.step(
            "drop implied brackets",
            "range implication",
            "The brackets on γ_f, χ, ω and κ hold in their ranges.",
            rules.drop_implied,
            d.term,
        )
        d.step(
            "stride-dilate x",
            "fold a definition",
            "[s | m], 0 ≤ m/s ≤ H − 1 and x[m/s] are X̃ = dilate_s(x) read at " "m = i + p − d·κ.",
            rules.fold,
            d.term,
            xt,
            (self.n, gf * Cg + chi, *[i + ax.p - ax.d * k for i, k, ax in zip(self.out_pos, kap, self.axes)]),
        )
        d.step(
            "correlation",
            "fold a definition",
            "What is left is D = corr(X̃, G) read at p − d·κ.",
            rules.fold,
            d.term,
            corr,
            (gf, om, chi, *[ax.p - ax.d * k for k, ax in zip(kap, self.axes)]),
        )
        d.reaches(d.final)
        return d

    def definitions(self):
        N, g, Cg, Og = self.counts
        n_, c_, o_, g_ = I("n", "c", "o", "gamma")
        m = [I("m")] if self.spatial == 1 else list(I("m_1", "m_2"))
        t = [I("tau")] if self.spatial == 1 else list(I("tau_1", "tau_2"))
        Xt, D = sp.IndexedBase(Name(r"\tilde{X}", "X", "~")), sp.IndexedBase("D")
        if self.claim.dilate_by_stride:
            br = [c for mi, ax in zip(m, self.axes) for c in [divides(ax.s, mi)] + within(mi / ax.s, 0, ax.H - 1)]
            xt = Definition(
                Xt,
                (n_, c_, *m),
                Term((), tuple(br), (self.X[(n_, c_, *[mi / ax.s for mi, ax in zip(m, self.axes)])],)),
                "X̃ = dilate_s(x): x spread out by the stride, 0 elsewhere.",
            )
        else:
            br = [c for mi, ax in zip(m, self.axes) for c in within(mi, 0, ax.H - 1)]
            xt = Definition(
                Xt,
                (n_, c_, *m),
                Term((), tuple(br), (self.X[(n_, c_, *m)],)),
                "X̃ = x, NOT spread out by the stride (the claim under test).",
            )
        corr = Definition(
            D,
            (g_, o_, c_, *t),
            Term(
                ((self.n, 0, N - 1),) + tuple((i, 0, ax.out - 1) for i, ax in zip(self.out_pos, self.axes)),
                (),
                (
                    self.G[(self.n, g_ * Og + o_, *self.out_pos)],
                    Xt[(self.n, g_ * Cg + c_, *[i + ti for i, ti in zip(self.out_pos, t)])],
                ),
            ),
            "D = corr(X̃, G): the stride-dilated x correlated with G as the filter, summed over the batch, per group.",
        )
        return xt, corr

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
            k = next(k for k, b in enumerate(d.term.brackets) if b.kind == "eq")
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
        for v in (self.gamma, self.o1):
            d.step(f"eliminate {v}", "delta elimination", f"Σ over {v} of its delta.", rules.delta, d.term, v)
        d.step(
            "drop implied brackets", "range implication", "γ_f and ω lie in their ranges.", rules.drop_implied, d.term
        )
        d.step(
            "the claimed form", "comparison", "Σ_n Σ_positions G.", lambda: (d.term, rules.same(d.term, d.final, "Σ G"))
        )
        return d

    # -- instantiation -----------------------------------------------------------------------------------------------
    def instances(self, seed, count, defs):
        rng = np.random.default_rng(seed)
        out = []
        for k in range(count):
            while True:
                g = int(rng.integers(1, 3))
                cg, og, n = (int(v) for v in rng.integers(1, 3, size=3))
                s = tuple(int(v) for v in rng.integers(2 if k == 0 else 1, 4, size=self.spatial))
                dil = tuple(int(v) for v in rng.integers(1, 3, size=self.spatial))
                K = tuple(int(v) for v in rng.integers(2 if k == 0 else 1, 4, size=self.spatial))
                H = tuple(int(v) for v in rng.integers(2 if k == 0 else 1, 5, size=self.spatial))
                pad = tuple(int(v) for v in rng.integers(0, 3, size=self.spatial))
                op = tuple(int(rng.integers(0, max(a, b))) for a, b in zip(s, dil))
                if k == 1:  # output_padding >= stride, which a dilation > stride allows
                    s, dil, op = (1,) * self.spatial, (2,) * self.spatial, (1,) * self.spatial
                shapes = {"x": (n, g * cg, *H), "w": (g * cg, og, *K), "b": (g * og,)}
                try:
                    lay = make_layer(self.name, stride=s, padding=pad, dilation=dil, groups=g, output_padding=op)
                    lay.check_shapes(shapes)
                except Exception:
                    continue
                break
            arrays = {name: rng.integers(-3, 4, size=shape).astype(object) for name, shape in shapes.items()}
            out_shape = lay.output_shape(shapes)
            G = rng.integers(-3, 4, size=out_shape).astype(object)
            oracle = dict(symbolic.gradients(lay, dict(arrays), G))
            oracle["out"] = symbolic.forward(lay, {"x": arrays["x"], "w": arrays["w"]})
            N, gg, Cg, Og = self.counts
            values = {N: n, gg: g, Cg: cg, Og: og}
            for ax, st, dl, kk, hh, pp, o, ho in zip(self.axes, s, dil, K, H, pad, op, out_shape[2:]):
                values.update({ax.s: st, ax.d: dl, ax.K: kk, ax.H: hh, ax.p: pp, ax.op: o, ax.out: ho})
            named = {"X": arrays["x"], "W": arrays["w"], "b": arrays["b"], "G": G}
            for defn in defs:
                named[defn.base.label.name] = defn
            out.append((f"{lay!r} x {shapes['x']} w {shapes['w']}", Instance(values, named), oracle))
        return out


def prove_conv_transpose(name: str, claim, seed: int = 0, count: int = 3) -> Proof:
    cp = ConvTransposeProof(name, claim)
    conv = cp.conv
    conv._defs = conv.definitions()
    xt, corr = cp.definitions()
    adj = cp.adjoint(conv._defs)
    derivations = [adj, cp.grad_input(), cp.grad_weight(xt, corr), cp.grad_bias()]
    defs = list(adj.defs.values()) + [xt, corr]
    cp.sample = lambda seed, count: cp.instances(seed, count, defs)
    checks = [
        InstanceCheck(config, instantiate(derivations, inst, oracle))
        for config, inst, oracle in cp.instances(seed, count, defs)
    ]
    intro = [
        document.Para(
            f"Claim ({claim.name}): for every batch size, channel count, groups, input size, kernel size, stride, "
            "padding, output_padding and dilation, the transposed convolution is the adjoint of the convolution, and "
            "its gradients are convolutions again. The proof reuses the conv proof's checked steps where the terms "
            "coincide."
        ),
        document.Display([[sp.IndexedBase("O")[cp.rule.indices], cp.rule_expr]]),
    ]
    shown = [
        (defn.text + " Here with G := x and F := w (the adjoint relation).", defn) for defn in adj.defs.values()
    ] + [(xt.text, xt), (corr.text, corr)]
    return Proof(
        name,
        claim,
        f"Proof: the backward identities of {name}, for every shape",
        intro,
        cp.domain.facts,
        shown,
        derivations,
        checks,
        command=f"gradcheck prove {name}" + ("" if claim.name == "textbook" else f" --claim {claim.name}"),
        source=cp,
    )
