"""avg_pool2d and max_pool2d, for every size, kernel, stride, padding (before p), dilation (max) and output size
(floor or ceil_mode): average pooling spreads each window's G/D (the divisor) over the window — the stride-dilated
share, summed over the windows that cover an element; max pooling routes each G to its window's first maximum
(PyTorch's tie convention), overlapping windows adding up.

The pools' rules read their window with ``range(kernel_size)`` (the max pool compares every tap with every other), so
they are restated here in index form with the layer's own window arithmetic (tap (a, b) of window (i, j) reads
X[s·i + d·a − p, s·j + d·b − p]); the instantiation compares the result with the layer's own rule, differentiated."""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from .. import symbolic
from ..errors import ConfigError
from ..layers import layer as make_layer
from ..report import document
from .conv import I
from ..report.mathprint import Name
from .engine import Condition, Definition, Domain, Instance, Rules, Term, divides, eq, within
from .proof import Derivation, InstanceCheck, Proof, instantiate, partial


class PoolProof:
    def __init__(self, name: str, claim, ties: str = "first"):
        if not claim.flip_filter:
            raise ConfigError(
                f"claim={claim.name!r} is not allowed for {name}: a pool has no filter to rotate; "
                "its wrong claim is 'no_stride_dilation'"
            )
        self.name, self.claim, self.is_max = name, claim, name == "max_pool2d"
        self.ties, self.split = ties, self.is_max and ties == "split"
        self.N, self.C = I("N", "C", positive=True)
        self.axes = []
        for size, tag in (("H", "H"), ("W", "W")):
            s, K, H, out = I(f"s_{tag}", f"K_{tag}", size, f"{size}_{{out}}", positive=True)
            d = I(f"d_{tag}", positive=True) if self.is_max else sp.Integer(1)
            p = I(f"p_{tag}", nonnegative=True)
            self.axes.append(dict(s=s, K=K, H=H, out=out, d=d, p=p))
        self.X, self.G, self.D = sp.IndexedBase("X"), sp.IndexedBase("G"), sp.IndexedBase("D")
        self.Ar = sp.IndexedBase(Name("A^{row}", "Aʳᵒʷ"))
        self.Ac = sp.IndexedBase(Name("A^{col}", "Aᶜᵒˡ"))
        self.M, self.T = sp.IndexedBase("M"), sp.IndexedBase("T")
        value_ranges = {self.Ar: (0, self.axes[0]["K"] - 1), self.Ac: (0, self.axes[1]["K"] - 1)}
        facts = [
            (
                "N, C ≥ 1; per axis ",
                sp.Ge(self.axes[0]["s"], 1, evaluate=False),
                ", ",
                sp.Ge(self.axes[0]["K"], 1, evaluate=False),
                ", ",
                sp.Ge(self.axes[0]["H"], 1, evaluate=False),
                ", ",
                sp.Ge(self.axes[0]["p"], 0, evaluate=False),
                (", d ≥ 1" if self.is_max else ""),
                ", any output size ",
                sp.Ge(self.axes[0]["out"], 1, evaluate=False),
                " (the floor rule or ceil_mode's): integers; p is the padding before (TensorFlow's 'same' may pad "
                "more after, which no window index here depends on)",
            )
        ]
        if self.split:
            facts.append(
                (
                    "M[n, c, i, j, a, b] = 1 where tap (a, b) of window (i, j) equals the window's maximum (−∞ "
                    "padding), else 0; T[n, c, i, j] = Σ_{a,b} M ≥ 1, the number of tied maxima (ties='split', "
                    "TensorFlow's reduce_max); every window covers an input element, so no padding tap is a maximum",
                )
            )
        elif self.is_max:
            facts.append(
                (
                    "A^row, A^col: the tap (row, column in the window) of the first maximum of each window, "
                    "in row-major order (PyTorch's tie rule), with −∞ padding; 0 ≤ A^row ≤ K_H − 1, "
                    "0 ≤ A^col ≤ K_W − 1 by definition; every window covers an input element (the layer "
                    "refuses one that does not), so the first maximum is never padding",
                )
            )
        else:
            facts.append(
                (
                    "D: the layer's divisor of window (i, j) (count_include_pad, ceil_mode clipping or "
                    "divisor_override): any nonzero numbers that do not depend on X",
                )
            )
        self.domain = Domain(facts, {}, value_ranges)
        self.n, self.c, self.i, self.j, self.a, self.b = I("n", "c", "i", "j", "a", "b", nonnegative=True)

    def reads(self, i, j, a, b):
        ah, aw = self.axes
        return (ah["s"] * i + ah["d"] * a - ah["p"], aw["s"] * j + aw["d"] * b - aw["p"])

    def rule(self) -> Term:
        n, c, i, j, a, b = self.n, self.c, self.i, self.j, self.a, self.b
        ah, aw = self.axes
        r, q = self.reads(i, j, a, b)
        sums = ((a, 0, ah["K"] - 1), (b, 0, aw["K"] - 1))
        if self.split:
            return Term(sums, (eq(self.M[n, c, i, j, a, b], 1),), (self.X[n, c, r, q], self.T[n, c, i, j] ** -1))
        if self.is_max:
            return Term(sums, (eq(a, self.Ar[n, c, i, j]), eq(b, self.Ac[n, c, i, j])), (self.X[n, c, r, q],))
        return Term(sums, (), (self.X[n, c, r, q], self.D[i, j] ** -1))

    SAMPLES = (
        {"kernel_size": (3, 2), "stride": (2, 3), "padding": (1, 1), "dilation": (2, 1)},
        {"kernel_size": (2, 3), "stride": (1, 2), "padding": (0, 1), "dilation": (1, 2)},
    )

    def matches_layer(self) -> list:
        """The restated read is the layer's own (its SymPy rule at sample configurations, whose window arithmetic is
        written with numbers), and (average) the divisor does not read X."""
        conds = []
        x = sp.IndexedBase("x")
        for sample in self.SAMPLES:
            params = (dict(sample, ties=self.ties) if self.is_max else
                      {k: v for k, v in sample.items() if k != "dilation"})
            rule = make_layer(self.name, **params).sympy_rule({"x": (1, 1, 7, 7)})
            taps = [v for v, _, _ in rule.expr.limits]
            reads = [r for r in rule.expr.function.atoms(sp.Indexed) if r.base == x and set(taps) <= r.free_symbols]
            values = {}
            for ax, k, st, pd, dl in zip(
                self.axes,
                params["kernel_size"],
                params["stride"],
                params["padding"],
                sample["dilation"] if self.is_max else (1, 1),
            ):
                values.update(
                    {ax["K"]: k, ax["s"]: st, ax["p"]: pd, ax["d"]: dl}
                    if self.is_max
                    else {ax["K"]: k, ax["s"]: st, ax["p"]: pd}
                )
            mine = [sp.sympify(e).subs(values) for e in self.reads(self.i, self.j, *taps)]
            same = len(reads) == 1 and all(sp.expand(a - b) == 0 for a, b in zip(reads[0].indices[2:], mine))
            conds.append(
                Condition(
                    f"at {params}, the layer's rule reads x at the restated position",
                    None,
                    same,
                    f"{self.name}.sympy_rule",
                )
            )
            if not self.is_max:
                divisor = rule.expr.function / reads[0] if len(reads) == 1 else x
                conds.append(
                    Condition(f"at {params}, the divisor does not read x", None, not divisor.has(x), "structural")
                )
        return conds

    def tie_rule(self) -> list:
        if not self.is_max:
            return []
        if self.split:
            ties = make_layer(self.name, kernel_size=2, ties="split").params["ties"]
            return [Condition("the layer shares a tie equally among the tied maxima with ties='split'", None,
                              ties == "split", f"ties = {ties!r}")]
        ties = make_layer(self.name, kernel_size=2).params["ties"]
        return [Condition("the layer's default tie rule is the first maximum in row-major order (ties='first')", None,
                          ties == "first", f"ties = {ties!r}")]

    def layer_fill(self) -> float:
        lay = make_layer(self.name, kernel_size=2)
        return lay.sympy_rule({"x": (1, 1, 2, 2)}).fill.get("x", 0)

    def derivation(self) -> Derivation:
        N, C = self.N, self.C
        ah, aw = self.axes
        nu, chi, u, v = I("nu", "chi", "u", "v", nonnegative=True)
        free = [(nu, 0, N - 1), (chi, 0, C - 1), (u, 0, ah["H"] - 1), (v, 0, aw["H"] - 1)]
        rules = Rules(self.domain, {x: (lo, hi) for x, lo, hi in free})
        d = Derivation(
            "dL/dX: "
            + (
                "each G shared equally by its window's tied maxima"
                if self.split
                else "each G routed to its window's first maximum"
                if self.is_max
                else "each window's G/D spread over the window"
            ),
            partial("L", self.X[nu, chi, u, v]),
            rules,
            free,
            lambda val: val,
        )
        d.key = "x"
        O = sp.IndexedBase("O")[self.n, self.c, self.i, self.j]
        rule = self.rule()
        d.step(
            "the rule",
            "reading",
            "Tap (a, b) of window (i, j) reads X at (s·i + d·a − p, s·j + d·b − p)"
            + (
                "; the output is the mean of the taps that are the window's maximum."
                if self.split
                else "; the output is the tap that is the window's first maximum."
                if self.is_max
                else ", divided by the window's divisor D."
            ),
            lambda: (rule, self.matches_layer()),
            lhs=O,
        )
        fill = self.layer_fill()
        r, q = self.reads(self.i, self.j, self.a, self.b)
        padded = Term(
            rule.sums, rule.brackets + tuple(within(r, 0, ah["H"] - 1) + within(q, 0, aw["H"] - 1)), rule.factors
        )
        if self.split:
            cond = Condition("the layer pads with −∞ (IndexRule.fill), and every window covers an input element: no "
                             "padding tap is a maximum, so a maximum's read lies inside X", None, fill == -math.inf,
                             f"fill = {fill}")
        elif self.is_max:
            cond = Condition(
                "the layer pads with −∞ (IndexRule.fill), and every window covers an input element: the "
                "first maximum is never a padding tap, so its read lies inside X",
                None,
                fill == -math.inf,
                f"fill = {fill}",
            )
        else:
            cond = Condition(
                "the layer pads with 0 (IndexRule.fill): a padding tap adds nothing", None, fill == 0, f"fill = {fill}"
            )
        d.step(
            "padding as brackets",
            "definition of the padding",
            "The read carries [0 ≤ position ≤ size − 1].",
            lambda: (padded, [cond]),
            lhs=O,
        )
        d.forward = [padded]
        outputs = ((self.n, 0, N - 1), (self.c, 0, C - 1), (self.i, 0, ah["out"] - 1), (self.j, 0, aw["out"] - 1))

        def chain():
            rules.free.update({x: (lo, hi) for x, lo, hi in outputs})
            try:
                hold = None
                if self.split:
                    hold = ("the maxima M and their count T are held constant: the gradient of max is the mean of the "
                            "tied maxima's (the layer's subgradient with ties='split')")
                elif self.is_max:
                    hold = ("the selection [a = A^row][b = A^col] is held constant: the gradient of max is that of the "
                            "selected element (the layer's subgradient; at a tie PyTorch's first maximum)")
                terms, conds = rules.chain_rule([padded], self.X, (nu, chi, u, v), (N, C, ah["H"], aw["H"]), hold)
            finally:
                for x, _, _ in outputs:
                    rules.free.pop(x, None)
            (t,) = terms
            return Term(outputs + t.sums, t.brackets, (self.G[self.n, self.c, self.i, self.j],) + t.factors), conds

        d.step("chain rule", "chain rule", "dL/dX = Σ over every output of dL/dO · ∂O/∂X.", chain)
        for x in (self.n, self.c):
            d.step(f"eliminate {x}", "delta elimination", f"Σ over {x} of its delta.", rules.delta, d.term, x)
        if self.is_max:
            self.max_steps(d, rules, nu, chi, u, v)
        else:
            self.avg_steps(d, rules, nu, chi, u, v)
        d.reaches(d.final)
        return d

    def max_steps(self, d, rules, nu, chi, u, v):
        ah, aw = self.axes
        if self.split:
            return self.split_steps(d, rules, nu, chi, u, v)
        stride = [ax["s"] if self.claim.dilate_by_stride else 1 for ax in self.axes]
        r = stride[0] * self.i + ah["d"] * self.Ar[nu, chi, self.i, self.j] - ah["p"]
        q = stride[1] * self.j + aw["d"] * self.Ac[nu, chi, self.i, self.j] - aw["p"]
        d.final = Term(
            ((self.i, 0, ah["out"] - 1), (self.j, 0, aw["out"] - 1)),
            (eq(r, u), eq(q, v)),
            (self.G[nu, chi, self.i, self.j],),
        )
        for x in (self.a, self.b):
            d.step(
                f"eliminate {x}",
                "delta elimination",
                f"Σ over the tap {x} of the selection: {x} is the selected tap.",
                rules.delta,
                d.term,
                x,
            )
        d.step(
            "drop implied brackets",
            "range implication",
            "The selected tap lies in the window (the range of A).",
            rules.drop_implied,
            d.term,
        )
        for pos in (u, v):
            if d.stopped:
                return
            k = next(k for k, b in enumerate(d.term.brackets) if b.kind == "eq" and pos in b.free_symbols)
            d.step(
                f"the selected position is {pos}",
                "substitute an equality",
                "Under [selected position = u] the padding brackets speak of u.",
                rules.substitute_equal,
                d.term,
                k,
            )
        d.step(
            "drop implied brackets",
            "range implication",
            "0 ≤ u ≤ H − 1 and 0 ≤ v ≤ W − 1 hold.",
            rules.drop_implied,
            d.term,
        )

    def split_steps(self, d, rules, nu, chi, u, v):
        ah, aw = self.axes
        i, j, a, b = self.i, self.j, self.a, self.b
        stride = [ax["s"] if self.claim.dilate_by_stride else 1 for ax in self.axes]
        r, q = stride[0] * i + ah["d"] * a - ah["p"], stride[1] * j + aw["d"] * b - aw["p"]
        d.final = Term(((i, 0, ah["out"] - 1), (j, 0, aw["out"] - 1), (a, 0, ah["K"] - 1), (b, 0, aw["K"] - 1)),
                       (eq(self.M[nu, chi, i, j, a, b], 1), eq(r, u), eq(q, v)),
                       (self.G[nu, chi, i, j], self.T[nu, chi, i, j] ** -1))
        for pos in (u, v):
            if d.stopped:
                return
            k = next(k for k, br in enumerate(d.term.brackets) if br.kind == "eq" and pos in br.free_symbols)
            d.step(f"the tap's position is {pos}", "substitute an equality",
                   "Under [tap position = u] the padding brackets speak of u.", rules.substitute_equal, d.term, k)
        d.step("drop implied brackets", "range implication", "0 ≤ u ≤ H − 1 and 0 ≤ v ≤ W − 1 hold.",
               rules.drop_implied, d.term)

    def avg_steps(self, d, rules, nu, chi, u, v):
        ah, aw = self.axes
        for x in (self.i, self.j):
            d.step(
                f"eliminate {x}",
                "delta elimination",
                f"{x} = (position + p − tap)/s: s must divide.",
                rules.delta,
                d.term,
                x,
            )
        d.step(
            "drop implied brackets",
            "range implication",
            "The padding brackets now say 0 ≤ u ≤ H − 1.",
            rules.drop_implied,
            d.term,
        )
        share, spread = self._defs
        d.step(
            "stride-dilate the share G/D",
            "fold a definition",
            "The brackets on m, G[m/s] and 1/D[m/s] are S̃ = " "dilate_s(G/D) read at m = u + p − a.",
            rules.fold,
            d.term,
            share,
            (nu, chi, u + ah["p"] - self.a, v + aw["p"] - self.b),
        )
        d.step(
            "every window covering the element",
            "fold a definition",
            "What is left is Σ_{a,b} S̃[t − (a, b)] = Z: "
            "the shares of every window that covers t = (u + p, v + p), cropped by p.",
            rules.fold,
            d.term,
            spread,
            (nu, chi, u + ah["p"], v + aw["p"]),
        )
        d.final = Term((), (), (spread.base[nu, chi, u + ah["p"], v + aw["p"]],))

    def definitions(self):
        if self.is_max:
            return []
        ah, aw = self.axes
        n_, c_, m1, m2, t1, t2 = I("n", "c", "m_1", "m_2", "t_1", "t_2")
        St, Z = sp.IndexedBase(Name(r"\tilde{S}", "S", "~")), sp.IndexedBase("Z")
        if self.claim.dilate_by_stride:
            br = tuple(
                c
                for m, ax in ((m1, ah), (m2, aw))
                for c in [divides(ax["s"], m)] + within(m, 0, (ax["out"] - 1) * ax["s"])
            )
            body = (self.G[n_, c_, m1 / ah["s"], m2 / aw["s"]], self.D[m1 / ah["s"], m2 / aw["s"]] ** -1)
            text = "S̃ = dilate_s(G/D): each window's share of its G, spread out by the stride, 0 elsewhere."
        else:
            br = tuple(c for m, ax in ((m1, ah), (m2, aw)) for c in within(m, 0, ax["out"] - 1))
            body = (self.G[n_, c_, m1, m2], self.D[m1, m2] ** -1)
            text = "S̃ = G/D, NOT spread out by the stride (the claim under test)."
        share = Definition(St, (n_, c_, m1, m2), Term((), br, body), text)
        spread = Definition(
            Z,
            (n_, c_, t1, t2),
            Term(((self.a, 0, ah["K"] - 1), (self.b, 0, aw["K"] - 1)), (), (St[n_, c_, t1 - self.a, t2 - self.b],)),
            "Z = full-corr(pad(S̃, K − 1), ones): every element collects the shares of the windows "
            "covering it (overlapping windows add).",
        )
        self._defs = (share, spread)
        return [share, spread]

    def instances(self, seed, count, defs):
        rng = np.random.default_rng(seed)
        out = []
        for k in range(count):
            while True:
                K = tuple(int(v) for v in rng.integers(2 if k == 0 else 1, 4, size=2))
                s = tuple(int(v) for v in rng.integers(1, 4, size=2))
                if k == 0:
                    s = (2, max(2, s[1]))
                pad = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in K)
                params = {"kernel_size": K, "stride": s, "padding": pad, "ceil_mode": bool(k == 1)}
                if self.is_max:
                    params["dilation"] = tuple(int(v) for v in rng.integers(1, 3, size=2))
                    params["ties"] = self.ties
                else:
                    params["count_include_pad"] = bool(rng.integers(0, 2))
                    if k == count - 1:
                        params.update(padding="same", count_include_pad=False)
                shape = (
                    int(rng.integers(1, 3)),
                    int(rng.integers(1, 3)),
                    *[int(v) for v in rng.integers(2, 8, size=2)],
                )
                try:
                    lay = make_layer(self.name, **params)
                    lay.check_shapes({"x": shape})
                except Exception:
                    continue
                if k == 0 and min(lay.output_shape({"x": shape})[2:]) < 2:
                    continue
                break
            x = rng.integers(-2, 3, size=shape).astype(object)  # small range: ties on purpose
            out_shape = lay.output_shape({"x": shape})
            G = rng.integers(-3, 4, size=out_shape).astype(object)
            oracle = symbolic.gradients(lay, {"x": x}, G)
            values = {self.N: shape[0], self.C: shape[1]}
            (pt, _), (pl, _) = lay.pads(shape[2:])
            for ax, kk, st, pb, hh, ho, dl in zip(
                self.axes, K, s, (pt, pl), shape[2:], out_shape[2:], lay.params.get("dilation", (1, 1))
            ):
                values.update({ax["K"]: kk, ax["s"]: st, ax["p"]: pb, ax["H"]: hh, ax["out"]: ho})
                if self.is_max:
                    values[ax["d"]] = dl
            named = {"X": x, "G": G}
            if self.split:
                named["M"], named["T"] = maxima(x, K, s, (pt, pl), lay.params["dilation"], out_shape)
            elif self.is_max:
                named["A^{row}"], named["A^{col}"] = first_maximum(x, K, s, (pt, pl), lay.params["dilation"], out_shape)
            else:
                named["D"] = np.asarray(lay.divisor(shape[2:]), dtype=object) * np.ones(out_shape[2:], dtype=object)
            for defn in defs:
                named[defn.base.label.name] = defn
            out.append((f"{lay!r} x {shape}", Instance(values, named), oracle))
        return out


def first_maximum(x, K, s, pads, dilation, out_shape):
    """Row and column (within the window) of each window's first maximum in row-major tap order, −∞ padding: written
    here from the definition (a later tap takes over only when strictly greater), not from the layer's code."""
    rows = np.zeros(out_shape, dtype=np.int64)
    cols = np.zeros(out_shape, dtype=np.int64)
    H, W = x.shape[2:]
    for n, c, i, j in np.ndindex(*out_shape):
        best = None
        for a in range(K[0]):
            for b in range(K[1]):
                r, q = s[0] * i + dilation[0] * a - pads[0], s[1] * j + dilation[1] * b - pads[1]
                value = x[n, c, r, q] if 0 <= r < H and 0 <= q < W else -math.inf
                if best is None or value > best:
                    best, rows[n, c, i, j], cols[n, c, i, j] = value, a, b
    return rows, cols


def maxima(x, K, s, pads, dilation, out_shape):
    """M (N, C, H_out, W_out, kH, kW): 1 at every tap equal to its window's maximum (−∞ padding), and T, their count:
    from the definition, not from the layer's code."""
    M = np.zeros(tuple(out_shape) + tuple(K), dtype=np.int64)
    H, W = x.shape[2:]
    for n, c, i, j in np.ndindex(*out_shape):
        taps = {}
        for a in range(K[0]):
            for b in range(K[1]):
                r, q = s[0] * i + dilation[0] * a - pads[0], s[1] * j + dilation[1] * b - pads[1]
                taps[a, b] = x[n, c, r, q] if 0 <= r < H and 0 <= q < W else -math.inf
        top = max(taps.values())
        for (a, b), value in taps.items():
            M[n, c, i, j, a, b] = value == top
    return M.astype(object), M.sum(axis=(4, 5)).astype(object)


def prove_pool(name: str, claim, seed: int = 0, count: int = 3, ties: str = "first") -> Proof:
    pp = PoolProof(name, claim, ties)
    defs = pp.definitions()
    d = pp.derivation()
    pp.sample = lambda seed, count: pp.instances(seed, count, defs)
    checks = [
        InstanceCheck(config, instantiate([d], inst, oracle))
        for config, inst, oracle in pp.instances(seed, count, defs)
    ]
    what = (
        "max pooling with ties='split' (TensorFlow) shares each G equally among the tied maxima of its window, "
        "overlapping windows adding up"
        if pp.split
        else "max pooling routes each G to the first maximum of its window (PyTorch's tie rule, ties='first'), "
        "overlapping windows adding up"
        if pp.is_max
        else "average pooling spreads each window's G/D over the window (D the layer's divisor, whatever its rule)"
    )
    intro = [
        document.Para(
            f"Claim ({claim.name}): for every batch, channel count, input size, kernel size, stride, "
            f"padding{', dilation' if pp.is_max else ''} and output size, {what}."
        )
    ]
    return Proof(
        name,
        claim,
        f"Proof: the backward identity of {name}" + (" (ties='split')" if pp.split else "") + ", for every shape",
        intro,
        pp.domain.facts,
        [(x.text, x) for x in defs],
        [d],
        checks,
        command=f"gradcheck prove {name}" + (" --ties split" if pp.split else "")
        + ("" if claim.name == "textbook" else f" --claim {claim.name}"),
        source=pp,
        variant="ties_split" if pp.split else "",
    )
