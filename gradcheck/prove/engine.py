"""A small rewrite engine for index sums with Iverson brackets, and an exact evaluator for them.

A :class:`Term` is ``Σ_{sums} Π[brackets] · Π factors`` over integer index variables. A proof is a chain of
terms, each obtained from the previous one by one rule of a small, sound set, applied by code:

- ``chain_rule``: ∂/∂A[free] of a term linear in A: its read A[e] becomes the Kronecker deltas [e = free];
- ``delta``: Σ_v [a·v + r = 0] f(v) = [a | −r] [lo ≤ −r/a ≤ hi] f(−r/a)   (a ≠ 0);
- ``reindex``: Σ_{v=lo}^{hi} f(v) = Σ_{v=lo}^{hi} f(φ(v)) for an affine bijection φ of [lo, hi];
- ``split_index`` / ``split_equality`` / ``floor_quotient``: mixed-radix numbers (groups): γ·D + r with
  0 ≤ r < D is a bijection, so [γ·D + r = γ'·D + r'] = [γ = γ'][r = r'] and ⌊(γ·D + r)/D⌋ = γ;
- ``drop``: a bracket implied by the ranges of the indices is 1;
- ``fold``: replace an instance of a definition's body by the defined array (G̃, rot180 F, ...).

Every rule checks its side conditions with SymPy: an equality by ``simplify(difference) == 0``, an inequality
between linear index expressions by its minimum over the box of index ranges being ``is_nonnegative`` under the
symbols' assumptions. A condition SymPy cannot discharge is recorded as not proved; nothing is assumed.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp

from ..report import mathprint


# -- conditions (the Iverson brackets) -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cond:
    """[lhs ≤ rhs] (kind "le"), [lhs = rhs] ("eq") or [lhs divides rhs] ("div"), over integers."""

    kind: str
    lhs: sp.Expr
    rhs: sp.Expr

    def subs(self, mapping) -> "Cond":
        return Cond(
            self.kind,
            sp.expand(sp.sympify(self.lhs).subs(mapping, simultaneous=True)),
            sp.expand(sp.sympify(self.rhs).subs(mapping, simultaneous=True)),
        )

    @property
    def gap(self) -> sp.Expr:
        return sp.expand(self.rhs - self.lhs)

    @property
    def free_symbols(self):
        return sp.sympify(self.lhs).free_symbols | sp.sympify(self.rhs).free_symbols

    def show(self) -> sp.Expr:
        return Iverson(self.kind, _tidy(self.lhs), _tidy(self.rhs))


def le(a, b) -> Cond:
    return Cond("le", sp.sympify(a), sp.sympify(b))


def eq(a, b) -> Cond:
    return Cond("eq", sp.sympify(a), sp.sympify(b))


def divides(a, b) -> Cond:
    return Cond("div", sp.sympify(a), sp.sympify(b))


def within(e, lo, hi) -> list[Cond]:
    return [le(lo, e), le(e, hi)]


class Iverson(sp.Expr):
    """[condition]: 1 where it holds, else 0. Printed only."""

    is_commutative = True

    def __new__(cls, kind, lhs, rhs):
        kind = kind if isinstance(kind, sp.Symbol) else sp.Symbol(kind)
        return sp.Expr.__new__(cls, kind, sp.sympify(lhs), sp.sympify(rhs))

    _OPS = {"le": (r"\le", "\u2264"), "eq": ("=", "="), "div": (r"\mid", "\u2223")}

    def _sympystr(self, printer):
        kind, lhs, rhs = self.args
        return f"[{_txt(lhs)} {self._OPS[kind.name][1]} {_txt(rhs)}]"

    def _latex(self, printer):
        kind, lhs, rhs = self.args
        return rf"\left[{printer._print(lhs)} {self._OPS[kind.name][0]} {printer._print(rhs)}\right]"

    def _mathml_presentation(self, printer):
        kind, lhs, rhs = self.args
        row = printer.dom.createElement("mrow")
        for part in ("[", lhs, self._OPS[kind.name][1], rhs, "]"):
            if isinstance(part, str):
                mo = printer.dom.createElement("mo")
                mo.appendChild(printer.dom.createTextNode(part))
                row.appendChild(mo)
            else:
                row.appendChild(printer._print(part))
        return row


# -- terms -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """Σ over ``sums`` ((variable, lo, hi), inclusive) of Π brackets · Π factors."""

    sums: tuple = ()
    brackets: tuple = ()
    factors: tuple = ()

    def subs(self, mapping: dict) -> "Term":
        return Term(
            self.sums,
            tuple(b.subs(mapping) for b in self.brackets),
            tuple(_expand_indices(sp.sympify(f).subs(mapping, simultaneous=True)) for f in self.factors),
        )

    @property
    def bound(self) -> list:
        return [v for v, _, _ in self.sums]

    def show(self) -> sp.Expr:
        parts = [b.show() for b in self.brackets] + [_tidy_reads(f) for f in self.factors]
        body = mathprint.product(*parts) if parts else sp.Integer(1)
        return sp.Sum(body, *[sp.Tuple(v, lo, hi) for v, lo, hi in self.sums]) if self.sums else body


def _txt(expr) -> str:
    """An expression in condition texts (plain text in every format): d·k + i·s − p."""
    text = sp.sstr(expr).replace("**", "^").replace("*", "·")
    accents = {"tilde": "\u0303", "hat": "\u0302"}  # X̃, F̂
    return re.sub(r"\\(tilde|hat)\{(\w)\}", lambda m: m.group(2) + accents[m.group(1)], text)


def _expand_indices(f):
    return f.replace(lambda e: isinstance(e, sp.Indexed), lambda e: e.base[tuple(sp.expand(i) for i in e.indices)])


def _tidy(e):
    """u/s + p/s − d·k/s printed as (u + p − d·k)/s."""
    e = sp.sympify(e)
    return sp.together(e) if sp.denom(sp.together(e)) != 1 else e


def _tidy_reads(f):
    return sp.sympify(f).replace(
        lambda e: isinstance(e, sp.Indexed), lambda e: e.base[tuple(_tidy(i) for i in e.indices)]
    )


@dataclass
class Condition:
    """A side condition of a step: what it says, whether SymPy discharged it, and how."""

    text: str
    expr: object = None
    checked: bool = False
    how: str = ""


class Domain:
    """The symbols' assumptions, and the substitutions that turn every domain fact into signs of symbols.

    ``facts``: display rows (text, expression); ``reduce``: e.g. H -> (H_out − 1)·s + a + d(K − 1) + 1 − p − p',
    s -> 1 + a + ā: after it, a fact such as a ≤ s − 1 is ā ≥ 0, which SymPy's assumptions know."""

    def __init__(self, facts, reduce: dict, value_ranges: dict | None = None):
        self.facts, self.reduce = facts, reduce
        self.value_ranges = value_ranges or {}  # IndexedBase -> (lo, hi): arrays of indices (a window's argmax)

    def reduced(self, expr) -> sp.Expr:
        expr = sp.sympify(expr)
        for _ in range(4):  # definitions may refer to each other (H_out in H, s in H)
            expr = expr.subs(self.reduce)
        return sp.expand(expr)

    def is_zero(self, expr) -> bool:
        e = self.reduced(expr)
        if e == 0:
            return True
        if e.is_rational_function():  # cancel gives the canonical p/q: zero exactly when it is 0
            return sp.cancel(sp.together(e)) == 0
        return sp.simplify(e) == 0

    def is_nonneg(self, expr, ranges: dict) -> tuple[bool, str]:
        """expr ≥ 0 for every index in its range: expr is linear in each index; its minimum over the box of ranges
        (each index at the end its coefficient's sign picks) must be nonnegative under the assumptions."""
        e = sp.expand(sp.sympify(expr))
        ranges = dict(ranges)
        for read in e.atoms(sp.Indexed):
            if read.base in self.value_ranges:  # an array of tap indices ranges like an index
                stand_in = sp.Dummy(str(read.base.label), integer=True)
                e, ranges[stand_in] = e.xreplace({read: stand_in}), self.value_ranges[read.base]
        for v in [v for v in e.free_symbols if v in ranges]:
            coeff = sp.expand(sp.diff(e, v))
            if v in coeff.free_symbols:
                return False, f"not linear in {v}"
            lo, hi = ranges[v]
            c = self.reduced(coeff)
            if c.is_nonnegative:
                e = sp.expand(e.subs(v, lo))
            elif c.is_nonpositive:
                e = sp.expand(e.subs(v, hi))
            else:
                return False, f"the sign of the coefficient {coeff} of {v} is unknown"
        if e.free_symbols & set(ranges):
            return False, "an index is left"
        r = self.reduced(e)
        return (
            bool(r.is_nonnegative),
            f"minimum {sp.factor(e)} ≥ 0" if r.is_nonnegative else f"SymPy cannot show {e} ≥ 0",
        )


class Stop(Exception):
    """A rule could not be applied; the step that tried is recorded as not proved."""


# -- the rules -------------------------------------------------------------------------------------------------------
def _linear(expr, v):
    """(a, r) with expr = a·v + r, a free of v; None if expr is not linear in v."""
    expr = sp.expand(expr)
    if any(v in read.free_symbols for read in expr.atoms(sp.Indexed)):
        return None  # v inside an array read: no coefficient to speak of
    a = sp.expand(sp.diff(expr, v))
    r = sp.expand(expr - a * v)
    if v in a.free_symbols or v in r.free_symbols:
        return None
    return a, r


class Rules:
    """The rules, bound to a domain and to the ranges of the free indices."""

    def __init__(self, domain: Domain, free: dict):
        self.domain, self.free = domain, dict(free)

    def ranges(self, term: Term) -> dict:
        return {**self.free, **{v: (lo, hi) for v, lo, hi in term.sums}}

    def _within(self, e, lo, hi, ranges, what) -> list[Condition]:
        out = []
        for gap, text in [(e - lo, f"{what} ≥ lower end"), (hi - e, f"{what} ≤ upper end")]:
            ok, how = self.domain.is_nonneg(gap, ranges)
            out.append(Condition(text, sp.Le(lo, e) if "lower" in text else sp.Le(e, hi), ok, how))
        return out

    # chain rule -----------------------------------------------------------------------------------------------------
    def chain_rule(
        self, terms: list[Term], base: sp.IndexedBase, at: tuple, sizes: tuple, hold_conditions: str | None = None
    ):
        """∂/∂base[at] of Σ terms, each linear in base (one read base[e]): the read becomes Π [e_t = at_t]. The read
        must lie inside base's domain [0, size) wherever the term's brackets hold (so that base[e] is one of the
        variables).
        ``hold_conditions``: brackets that read base are held constant (a subgradient convention, stated)."""
        out, conds = [], []
        for t in terms:
            reads = [f for f in t.factors if isinstance(f, sp.Indexed) and f.base == base]
            others = [f for f in t.factors if not (isinstance(f, sp.Indexed) and f.base == base)]
            if any(f.has(base) for f in others):
                raise Stop(f"a factor of {t.show()} reads {base} other than as one plain factor")
            bracket_reads = any(b.lhs.has(base) or b.rhs.has(base) for b in t.brackets)
            if bracket_reads and not hold_conditions:
                raise Stop(f"a bracket of {t.show()} depends on {base}")
            if not reads:
                conds.append(
                    Condition(f"the term {_txt(t.show())} does not read {base}: derivative 0", None, True, "structural")
                )
                continue
            if len(reads) > 1:
                raise Stop(f"{t.show()} is not linear in {base}")
            (read,) = reads
            ranges = self.ranges(t)
            for e, size in zip(read.indices, sizes):
                has_lo = any(
                    b.kind == "le" and self.domain.is_zero(b.rhs - e) and self.domain.is_zero(b.lhs) for b in t.brackets
                )
                has_hi = any(
                    b.kind == "le" and self.domain.is_zero(b.lhs - e) and self.domain.is_zero(b.rhs - size + 1)
                    for b in t.brackets
                )
                for guarded, gap, text in [(has_lo, e, "≥ 0"), (has_hi, size - 1 - e, f"≤ {size} − 1")]:
                    ok, how = (True, "a bracket of the term") if guarded else self.domain.is_nonneg(gap, ranges)
                    conds.append(Condition(f"the read index {_txt(e)} {text}", None, ok, how))
            deltas = tuple(eq(e, a) for e, a in zip(read.indices, at))
            out.append(Term(t.sums, t.brackets + deltas, tuple(others)))
        if hold_conditions:
            conds.append(Condition(hold_conditions, None, True, "the layer's documented convention"))
        return out, conds

    # delta elimination ----------------------------------------------------------------------------------------------
    def delta(self, term: Term, v: sp.Symbol, which: int | None = None):
        """Σ_v [lhs = rhs] f(v) with lhs − rhs = a·v + r: v := −r/a, adding [a | −r] unless a = ±1, and lo ≤ v ≤ hi."""
        if v not in term.bound:
            raise Stop(f"{v} is not summed over")
        candidates = [
            k
            for k, b in enumerate(term.brackets)
            if b.kind == "eq" and v in b.free_symbols and _linear(b.lhs - b.rhs, v) is not None
        ]
        if which is not None:
            candidates = [k for k in candidates if k == which]
        if not candidates:
            raise Stop(f"no bracket [… = …] holds {v}")
        k = candidates[0]
        b = term.brackets[k]
        lin = _linear(b.lhs - b.rhs, v)
        if lin is None:
            raise Stop(f"{b.show()} is not linear in {v}")
        a, r = lin
        sol = sp.expand(-r / a)
        conds = [
            Condition(
                f"the coefficient {_txt(a)} of {v} is nonzero",
                sp.Ne(a, 0),
                bool(self.domain.reduced(a).is_nonzero),
                "assumptions",
            )
        ]
        check = sp.simplify((b.lhs - b.rhs).subs(v, sol))
        conds.append(Condition(f"{v} = {_txt(sol)} solves the bracket", None, check == 0, "simplify(lhs − rhs) = 0"))
        lo, hi = next((lo, hi) for u, lo, hi in term.sums if u == v)
        new = [c for j, c in enumerate(term.brackets) if j != k]
        extra = []
        if a == 1 or a == -1:
            extra += within(sol, lo, hi)
        else:  # [a | m] and lo ≤ m/a ≤ hi, written lo·a ≤ m ≤ hi·a (a > 0): integer brackets
            positive = self.domain.reduced(a).is_positive
            negative = self.domain.reduced(a).is_negative
            conds.append(Condition(f"the sign of {_txt(a)} is known", None, bool(positive or negative), "assumptions"))
            modulus = a if positive else -a
            m = sp.expand(sol * modulus)
            extra += [divides(modulus, m)] + within(m, sp.expand(lo * modulus), sp.expand(hi * modulus))
        rest = Term(tuple(s for s in term.sums if s[0] != v), tuple(new), term.factors).subs({v: sol})
        return Term(rest.sums, tuple(extra) + rest.brackets, rest.factors), conds

    def introduce(self, term: Term, v: sp.Symbol, lo, hi, e):
        """Σ_{v=lo}^{hi} [e = v] = 1 where lo ≤ e ≤ hi: a new summed index v with the delta [e = v] (the reverse of
        delta elimination; the old index is then eliminated with this bracket)."""
        conds = self._within(e, lo, hi, self.ranges(term), _txt(e))
        conds.append(
            Condition(
                f"{_txt(e)} is an integer (else no {v} equals it)", None, bool(sp.sympify(e).is_integer), "assumptions"
            )
        )
        return Term(term.sums + ((v, lo, hi),), term.brackets + (eq(e, v),), term.factors), conds

    # re-indexing by a bijection -------------------------------------------------------------------------------------
    def reindex(self, term: Term, v: sp.Symbol, image):
        """Σ_{v=lo}^{hi} f(v) = Σ_{v=lo}^{hi} f(φ(v)), φ(v) = ``image``: affine with slope ±1, its inverse composed
        with it the identity (both ways), and it maps the ends {lo, hi} onto themselves."""
        lo, hi = next((lo, hi) for u, lo, hi in term.sums if u == v)
        lin = _linear(image, v)
        if lin is None:
            raise Stop(f"{image} is not affine in {v}")
        a, r = lin
        w = sp.Dummy("w")
        inverse = sp.expand((w - r) / a)
        conds = [
            Condition(f"the slope of φ(v) = {_txt(image)} is ±1", None, a in (1, -1), "structural"),
            Condition(f"its offset {_txt(r)} is an integer", None, bool(r.is_integer), "assumptions"),
            Condition("φ⁻¹(φ(v)) = v", None, sp.simplify(inverse.subs(w, image) - v) == 0, "simplify"),
            Condition("φ(φ⁻¹(w)) = w", None, sp.simplify(sp.sympify(image).subs(v, inverse) - w) == 0, "simplify"),
        ]
        ends = [sp.sympify(image).subs(v, lo), sp.sympify(image).subs(v, hi)]
        onto = (self.domain.is_zero(ends[0] - lo) and self.domain.is_zero(ends[1] - hi)) or (
            self.domain.is_zero(ends[0] - hi) and self.domain.is_zero(ends[1] - lo)
        )
        conds.append(Condition("φ maps the ends {lo, hi} onto themselves", None, onto, "simplify"))
        return term.subs({v: image}), conds

    # mixed-radix indices (groups) -----------------------------------------------------------------------------------
    def floor_quotient(self, term: Term):
        """⌊(γ·D + r)/D⌋ = γ where 0 ≤ r ≤ D − 1 in the index ranges (Euclidean division)."""
        ranges, conds, mapping = self.ranges(term), [], {}
        for f in set().union(
            *[sp.sympify(x).atoms(sp.floor) for x in term.factors],
            *[b.lhs.atoms(sp.floor) | b.rhs.atoms(sp.floor) for b in term.brackets],
        ):
            num, den = sp.fraction(sp.together(f.args[0]))
            num = sp.expand(num)
            # SymPy may already have taken an integer γ out (⌊γ + r/D⌋ = γ + ⌊r/D⌋): then γ = 0 here
            gamma = next((v for v in ranges if self.domain.is_zero(sp.diff(num, v) - den)), sp.Integer(0))
            r = sp.expand(num - gamma * den)
            conds += [
                Condition(f"the remainder {_txt(r)} ≥ 0", None, *self.domain.is_nonneg(r, ranges)),
                Condition(
                    f"the remainder {_txt(r)} ≤ {_txt(den)} − 1", None, *self.domain.is_nonneg(den - 1 - r, ranges)
                ),
            ]
            mapping[f] = gamma
        if not mapping:
            raise Stop("no ⌊…⌋ to simplify")
        return term.subs(mapping), conds

    def split_equality(self, term: Term, k: int, pairs, modulus):
        """[γ·D + r = γ'·D + r'] = [γ = γ'][r = r'] when r, r' ∈ [0, D − 1] (Euclidean division is unique)."""
        b = term.brackets[k]
        (g1, g2), (r1, r2) = pairs
        conds = [
            Condition(
                "the bracket is γ·D + r = γ'·D + r'",
                None,
                self.domain.is_zero((b.lhs - b.rhs) - ((g1 - g2) * modulus + (r1 - r2))),
                "simplify",
            )
        ]
        ranges = self.ranges(term)
        for r in (r1, r2):
            conds += [
                Condition(f"0 ≤ {r}", None, *self.domain.is_nonneg(r, ranges)),
                Condition(f"{r} ≤ {_txt(modulus)} − 1", None, *self.domain.is_nonneg(modulus - 1 - r, ranges)),
            ]
        brackets = term.brackets[:k] + (eq(g1, g2), eq(r1, r2)) + term.brackets[k + 1 :]
        return Term(term.sums, brackets, term.factors), conds

    def split_index(self, term: Term, v, hi_block, block, outer, inner):
        """Σ_{v=0}^{g·D−1} f(v) = Σ_{γ=0}^{g−1} Σ_{r=0}^{D−1} f(γ·D + r): the map (γ, r) → γ·D + r is a bijection
        onto [0, g·D − 1] (Euclidean division), checked at its ends."""
        lo, hi = next((lo, hi) for u, lo, hi in term.sums if u == v)
        conds = [
            Condition("the sum starts at 0", None, self.domain.is_zero(lo), "simplify"),
            Condition(
                f"the sum ends at {_txt(hi_block)}·{_txt(block)} − 1",
                None,
                self.domain.is_zero(hi - (hi_block * block - 1)),
                "simplify",
            ),
        ]
        sums = []
        for s in term.sums:
            sums += [(outer, 0, hi_block - 1), (inner, 0, block - 1)] if s[0] == v else [s]
        new = Term(tuple(sums), term.brackets, term.factors).subs({v: outer * block + inner})
        return new, conds

    # brackets -------------------------------------------------------------------------------------------------------
    def drop(self, term: Term, k: int):
        """A bracket that holds for every index in range is 1."""
        b = term.brackets[k]
        ranges = self.ranges(term)
        if b.kind == "le":
            ok, how = self.domain.is_nonneg(b.rhs - b.lhs, ranges)
        elif b.kind == "eq":
            ok, how = self.domain.is_zero(b.lhs - b.rhs), "simplify"
        else:  # [s | e] where e/s is an integer expression (e = s·m)
            ok, how = bool(sp.simplify(b.rhs / b.lhs).is_integer), "e/s is an integer expression"
        cond = Condition(f"{_txt(b.show())} holds in the index ranges", None, ok, how)
        return Term(term.sums, term.brackets[:k] + term.brackets[k + 1 :], term.factors), [cond]

    def drop_implied(self, term: Term):
        """Drop every bracket of kind ≤ or = that the ranges imply (each one a checked condition)."""
        conds, k = [], 0
        while k < len(term.brackets):
            new, c = self.drop(term, k)
            if c[0].checked:
                term, conds = new, conds + c
                continue
            k += 1
        return term, conds

    def vanishes(self, term: Term, k: int, ranges: dict):
        """On the given ranges the bracket [lhs ≤ rhs] is false (lhs − rhs − 1 ≥ 0): the term is 0 there."""
        b = term.brackets[k]
        if b.kind != "le":
            raise Stop("only a [… ≤ …] bracket is shown false")
        ok, how = self.domain.is_nonneg(b.lhs - b.rhs - 1, {**self.ranges(term), **ranges})
        return [Condition(f"{_txt(b.show())} is 0 there", None, ok, how)]

    def substitute_equal(self, term: Term, k: int):
        """[E = u]·[φ(E)] = [E = u]·[φ(u)]: a bracket whose side is E (by simplify) gets u instead."""
        e = term.brackets[k]
        if e.kind != "eq":
            raise Stop("only an equality is substituted")
        out, changed = [], 0
        for j, b in enumerate(term.brackets):
            if j != k and b.kind == "le":
                lhs = e.rhs if self.domain.is_zero(b.lhs - e.lhs) else b.lhs
                rhs = e.rhs if self.domain.is_zero(b.rhs - e.lhs) else b.rhs
                changed += (lhs is not b.lhs) + (rhs is not b.rhs)
                b = Cond("le", lhs, rhs)
            out.append(b)
        cond = Condition(
            f"{_txt(e.show())} is a factor of the term: the other brackets may use it",
            None,
            changed > 0,
            f"{changed} sides rewritten",
        )
        return Term(term.sums, tuple(out), term.factors), [cond]

    def scale(self, term: Term, k: int, factor):
        """[lhs = rhs] = [factor·lhs = factor·rhs] for a nonzero factor."""
        b = term.brackets[k]
        if b.kind != "eq":
            raise Stop("only an equality is scaled")
        cond = Condition(
            f"the factor {_txt(factor)} is nonzero", None, bool(self.domain.reduced(factor).is_nonzero), "assumptions"
        )
        new = eq(sp.expand(b.lhs * factor), sp.expand(b.rhs * factor))
        return Term(term.sums, term.brackets[:k] + (new,) + term.brackets[k + 1 :], term.factors), [cond]

    def same(self, term: Term, other: Term, what: str):
        """The two terms are equal: the same sums (variables and ranges), brackets equivalent one for one (an
        inequality or equality up to a positive constant factor), the same factors (index by index, by simplify)."""
        conds = [
            Condition(
                f"{what}: the same summed indices and ranges",
                None,
                sorted(map(str, term.bound)) == sorted(map(str, other.bound))
                and all(
                    any(
                        u == v and self.domain.is_zero(lo - l2) and self.domain.is_zero(hi - h2)
                        for u, l2, h2 in other.sums
                    )
                    for v, lo, hi in term.sums
                ),
                "simplify",
            )
        ]
        free = set(self.free) | set(term.bound)
        pending = list(other.brackets)
        for b in term.brackets:
            k = next((k for k, c in enumerate(pending) if _equivalent(b, c, self.domain, free)), None)
            conds.append(
                Condition(
                    f"{what}: {_txt(b.show())} has its match",
                    None,
                    k is not None,
                    "simplify (up to a positive constant factor)",
                )
            )
            if k is not None:
                pending.pop(k)
        conds.append(Condition(f"{what}: no bracket is left over", None, not pending, "structural"))
        pending = list(other.factors)
        for f in term.factors:
            k = next((k for k, g in enumerate(pending) if _same_read(f, g, self.domain)), None)
            conds.append(
                Condition(f"{what}: the factor {_txt(f)} has its match", None, k is not None, "simplify each index")
            )
            if k is not None:
                pending.pop(k)
        conds.append(Condition(f"{what}: no factor is left over", None, not pending, "structural"))
        return conds

    # definitions ----------------------------------------------------------------------------------------------------
    def fold(self, term: Term, definition: "Definition", at: tuple):
        """Replace the definition's body, instantiated at index expressions ``at``, by the array read name[at]. Each of
        the body's brackets and factors must equal (by simplify) one of the term's, and its sums must be the term's."""
        body = definition.body.subs(dict(zip(definition.indices, at)))
        conds, used_b, used_f = [], set(), set()
        for want in body.brackets:
            k = next(
                (
                    k
                    for k, b in enumerate(term.brackets)
                    if k not in used_b
                    and b.kind == want.kind
                    and self.domain.is_zero(b.lhs - want.lhs)
                    and self.domain.is_zero(b.rhs - want.rhs)
                ),
                None,
            )
            conds.append(Condition(f"the term holds {_txt(want.show())}", None, k is not None, "simplify"))
            if k is not None:
                used_b.add(k)
        for want in body.factors:
            k = next(
                (k for k, f in enumerate(term.factors) if k not in used_f and _same_read(f, want, self.domain)), None
            )
            conds.append(
                Condition(f"the term holds the factor {_txt(want)}", None, k is not None, "simplify each index")
            )
            if k is not None:
                used_f.add(k)
        body_sums = {v: (lo, hi) for v, lo, hi in body.sums}
        for v, (lo, hi) in body_sums.items():
            mine = next(((l2, h2) for u, l2, h2 in term.sums if u == v), None)
            conds.append(
                Condition(
                    f"the term sums {v} over the same range",
                    None,
                    mine is not None and self.domain.is_zero(mine[0] - lo) and self.domain.is_zero(mine[1] - hi),
                    "simplify",
                )
            )
        rest_b = [b for k, b in enumerate(term.brackets) if k not in used_b]
        rest_f = [f for k, f in enumerate(term.factors) if k not in used_f]
        leaks = [
            v
            for v in body_sums
            if any(v in b.free_symbols for b in rest_b) or any(v in sp.sympify(f).free_symbols for f in rest_f)
        ]
        conds.append(
            Condition(
                "the rest of the term does not depend on the definition's summed indices", None, not leaks, "structural"
            )
        )
        read = definition.base[tuple(at)]
        sums = tuple(s for s in term.sums if s[0] not in body_sums)
        return Term(sums, tuple(rest_b), tuple(rest_f) + (read,)), conds


def _equivalent(a: Cond, b: Cond, domain: Domain, indices) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == "div":
        return domain.is_zero(a.lhs - b.lhs) and (domain.is_zero(a.rhs - b.rhs) or domain.is_zero(a.rhs + b.rhs))
    if domain.is_zero(a.gap - b.gap):
        return True
    if b.gap == 0:
        return False
    ratio = sp.simplify(a.gap / b.gap)
    if ratio.free_symbols & set(indices):
        return False
    r = domain.reduced(ratio)
    return bool(r.is_positive) if a.kind == "le" else bool(r.is_nonzero)


def _same_read(f, want, domain: Domain) -> bool:
    if isinstance(f, sp.Indexed) and isinstance(want, sp.Indexed):
        return (
            f.base == want.base
            and len(f.indices) == len(want.indices)
            and all(domain.is_zero(a - b) for a, b in zip(f.indices, want.indices))
        )
    return domain.is_zero(sp.sympify(f) - want)


@dataclass
class Definition:
    """name[indices] := body (a Term whose free indices are ``indices``); ``text`` says what it is."""

    base: sp.IndexedBase
    indices: tuple
    body: Term
    text: str

    def show(self):
        return [self.base[self.indices], self.body.show()]


# -- exact evaluation on concrete data -------------------------------------------------------------------------------
class Unguarded(Exception):
    """A read outside an array where the term's brackets hold: the formula is not even defined there."""


@dataclass
class Instance:
    """Concrete values: ``values`` for the size and parameter symbols, ``arrays`` name -> ndarray (exact, object) or
    Definition (evaluated from its body)."""

    values: dict
    arrays: dict = field(default_factory=dict)

    def number(self, expr) -> int:
        v = sp.sympify(expr).subs(self.values)
        if not v.is_Integer:
            raise ValueError(f"{expr} is not an integer here: {v}")
        return int(v)


def _index(expr, env: dict, inst: Instance):
    """An index expression over ``env``, exactly: (numerator int array, denominator int). (u + p − d·k)/s is
    evaluated as the integer u + p − d·k over s: in floats 5/3 + 1/3 is 2.0000000000000004, not a whole index."""
    expr = sp.sympify(expr).subs(inst.values)
    reads = sorted(expr.atoms(sp.Indexed), key=str)
    if reads:  # an index that reads an array of indices (a window's argmax): read it first
        env = dict(env)
        shape = np.broadcast_shapes(*[np.shape(v) for v in env.values()])
        for k, read in enumerate(reads):
            stand_in = sp.Symbol(f"_read{k}", integer=True)
            env[stand_in] = np.asarray(_read(read, env, np.ones(shape, dtype=bool), inst), dtype=np.int64)
            expr = expr.xreplace({read: stand_in})
    if expr.atoms(sp.floor, sp.Mod):
        raise ValueError(f"the evaluator takes no ⌊…⌋ or mod in an index: {expr}")
    den = math.lcm(*(int(r.q) for r in expr.atoms(sp.Rational)))
    num = sp.expand(expr * den)
    syms = sorted(num.free_symbols, key=str)
    if not syms:
        return np.asarray(int(num)), den
    fn = sp.lambdify(syms, num, modules="numpy", dummify=True)
    return np.asarray(fn(*[np.asarray(env[s], dtype=np.int64) for s in syms]), dtype=np.int64), den


def _whole(index) -> tuple[np.ndarray, np.ndarray]:
    """(where the index is an integer, its integer value there)."""
    num, den = index
    return num % den == 0, num // den


def _truth(c: Cond, env, inst) -> np.ndarray:
    (a, p), (b, q) = _index(c.lhs, env, inst), _index(c.rhs, env, inst)
    if c.kind == "le":
        return np.asarray(a * q <= b * p)
    if c.kind == "eq":
        return np.asarray(a * q == b * p)
    whole_a, modulus = _whole((a, p))
    whole_b, value = _whole((b, q))
    return np.asarray(whole_a & whole_b & (np.mod(value, np.where(modulus == 0, 1, modulus)) == 0) & (modulus != 0))


def evaluate(term: Term, env: dict, inst: Instance) -> np.ndarray:
    """The term's value at every point of ``env`` (index symbol -> integer array, broadcast together), exactly."""
    shape = np.broadcast_shapes(*[np.shape(v) for v in env.values()]) if env else ()
    k = len(term.sums)
    env = {s: np.reshape(v, np.shape(v) + (1,) * k) for s, v in env.items()}
    full = shape + (1,) * k
    for t, (v, lo, hi) in enumerate(term.sums):
        lo, hi = inst.number(lo), inst.number(hi)
        axis = [1] * (len(shape) + k)
        axis[len(shape) + t] = max(hi - lo + 1, 0)
        env[v] = np.arange(lo, hi + 1).reshape(axis)
        full = tuple(max(x, y) for x, y in zip(full, axis))
    mask = np.ones(full, dtype=bool)
    for c in term.brackets:
        mask = mask & _truth(c, env, inst)
    value = np.ones(full, dtype=object)
    for f in term.factors:
        value = value * _factor(f, env, mask, inst)
    result = np.where(mask, value, 0)
    return result.sum(axis=tuple(range(len(shape), len(shape) + k))) if k else result


def _factor(f, env, mask, inst):
    f = sp.sympify(f)
    if isinstance(f, sp.Indexed):
        return _read(f, env, mask, inst)
    if isinstance(f, sp.Mul):
        return functools.reduce(operator.mul, [_factor(a, env, mask, inst) for a in f.args])
    if isinstance(f, sp.Pow) and f.exp == -1:
        x = _factor(f.base, env, mask, inst)
        if np.any(mask & (x == 0)):
            raise ZeroDivisionError(f"{f.base} is 0 where the brackets hold")
        return np.where(x == 0, 0, Fraction(1) / np.where(x == 0, 1, x))
    if isinstance(f, sp.Pow) and f.exp.is_Integer and f.exp > 0:
        return _factor(f.base, env, mask, inst) ** int(f.exp)
    v = f.subs(inst.values)
    if v.is_Rational:
        return Fraction(int(sp.numer(v)), int(sp.denom(v)))
    raise ValueError(f"cannot evaluate the factor {f}")


def _read(f: sp.Indexed, env, mask, inst):
    name = f.base.label.name
    idx = [_whole(_index(e, env, inst)) for e in f.indices]
    whole = np.broadcast_arrays(*[w for w, _ in idx], mask)[:-1]
    idx = np.broadcast_arrays(*[i for _, i in idx], mask)[:-1]
    if np.any(mask & ~np.logical_and.reduce(whole)):
        raise Unguarded(f"{f} is read at a non-whole index where the brackets hold")
    source = inst.arrays[name]
    if isinstance(source, Definition):
        sub = {s: np.where(mask, i, 0) for s, i in zip(source.indices, idx)}
        return evaluate(source.body, sub, inst)
    inside = np.ones(mask.shape, dtype=bool)
    for i, n in zip(idx, source.shape):
        inside &= (i >= 0) & (i < n)
    if np.any(mask & ~inside):
        raise Unguarded(f"{f} is read outside {name} {source.shape} where the brackets hold")
    clipped = tuple(np.where(inside, i, 0) for i in idx)
    return np.where(inside, source[clipped], 0)
