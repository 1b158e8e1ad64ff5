"""A proof: derivations (chains of rule applications, each step with its side conditions), the definitions they
fold into, the exact instantiation on concrete configurations, and its rendering as a report (md, html, tex)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp

from ..errors import ConfigError
from ..report import Report, document, mathprint
from .engine import Condition, Instance, Stop, Term, Unguarded, evaluate


@dataclass(frozen=True)
class Claim:
    """The textbook form a proof is asked to reach. ``flip_filter``: dL/dX correlates with the 180°-rotated filter;
    ``dilate_by_stride``: dL/dO is spread out by the stride (s − 1 zeros between entries). The default is the true form;
    the others are the classic mistakes, which must fail at a named step."""

    name: str = "textbook"
    flip_filter: bool = True
    dilate_by_stride: bool = True


CLAIMS = {
    "textbook": Claim(),
    "no_rotation": Claim("no_rotation", flip_filter=False),
    "no_stride_dilation": Claim("no_stride_dilation", dilate_by_stride=False),
}


def claim_of(claim) -> Claim:
    if isinstance(claim, Claim):
        return claim
    if claim not in CLAIMS:
        raise ConfigError(f"claim={claim!r} is not allowed: claims are {', '.join(CLAIMS)} or a gradcheck.prove.Claim")
    return CLAIMS[claim]


@dataclass
class Step:
    """One rule application: ``name`` (what it does), ``rule`` (which rule), the term after it, its side conditions."""

    name: str
    rule: str
    text: str
    term: Term | None
    conditions: list
    lhs: object = None  # what the term is equal to, when not the derivation's gradient (the forward rule)

    @property
    def checked(self) -> bool:
        return all(c.checked for c in self.conditions)


class Derivation:
    """A chain of steps from the chain rule to a textbook form; it stops at the first step not proved."""

    def __init__(self, title: str, lhs, rules, free: list, to_array=None):
        self.title, self.lhs, self.rules, self.free = title, lhs, rules, free
        self.to_array = to_array  # the final term's values over ``free`` -> the gradient array's layout
        self.steps: list[Step] = []
        self.term: Term | None = None
        self.final: Term | None = None  # the claimed textbook form, stated up front

    @property
    def stopped(self) -> Step | None:
        return next((s for s in self.steps if not s.checked), None)

    def step(self, name: str, rule: str, text: str, fn, *args, lhs=None, **kwargs) -> bool:
        if self.stopped:
            return False
        try:
            out = fn(*args, **kwargs)
        except Stop as why:
            self.steps.append(Step(name, rule, text, None, [Condition(f"the rule does not apply: {why}")], lhs))
            return False
        term, conds = out[0], out[1]
        checked = all(c.checked for c in conds)
        # a step not proved shows no result: only the conditions that failed
        self.steps.append(Step(name, rule, text, term if checked else None, conds, lhs))
        self.term = term if checked else self.term
        return checked

    def note(self, name: str, rule: str, text: str, conditions: list) -> bool:
        """A step that proves a fact about the current term without changing it."""
        if self.stopped:
            return False
        self.steps.append(Step(name, rule, text, self.term, conditions))
        return self.steps[-1].checked

    def reaches(self, final: Term) -> bool:
        """The last step: the derived term is, factor for factor, the claimed textbook form."""
        if self.stopped:
            return False
        conds = self.rules.same(self.term, final, "the claimed form")
        self.steps.append(
            Step(
                "the claimed textbook form",
                "comparison",
                "The derived term is the claimed form.",
                self.term if all(c.checked for c in conds) else None,
                conds,
            )
        )
        return self.steps[-1].checked

    @property
    def checked(self) -> bool:
        return bool(self.steps) and all(s.checked for s in self.steps) and self.steps[-1].rule.startswith("comparison")


@dataclass
class InstanceCheck:
    """The claimed textbook forms evaluated on one concrete configuration, compared exactly with the instance oracle."""

    config: str
    agree: dict  # gradient name -> bool
    note: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.agree) and all(self.agree.values())


@dataclass
class Proof:
    """``p.steps`` (every step of every derivation, each ``.checked``), ``p.ok``, ``p.failed_step`` and the report."""

    layer: str
    claim: Claim
    title: str
    intro: list
    domain_rows: list
    definitions: list
    derivations: list
    instances: list = field(default_factory=list)
    command: str = ""
    source: object = None  # the family's builder (its symbols, definitions and instances), for tests and tools
    variant: str = ""  # a layer parameter the proof is about (max_pool2d's ties_split): part of the file name

    @property
    def steps(self) -> list[Step]:
        return [s for d in self.derivations for s in d.steps]

    @property
    def failed_step(self) -> str | None:
        for d in self.derivations:
            if d.stopped:
                return f"{d.title}: {d.stopped.name}"
            if not d.checked:
                return f"{d.title}: not completed"
        return None

    @property
    def proved(self) -> bool:
        return all(d.checked for d in self.derivations)

    @property
    def instantiated(self) -> bool:
        return bool(self.instances) and all(i.ok for i in self.instances)

    @property
    def ok(self) -> bool:
        return self.proved and self.instantiated

    def summary(self) -> str:
        lines = [f"{self.title}"]
        for d in self.derivations:
            lines.append(f"  {d.title}")
            for k, s in enumerate(d.steps, 1):
                lines.append(f"    {k:2d}. [{'checked' if s.checked else 'NOT PROVED'}] {s.name}")
                lines += [f"          not proved: {c.text} ({c.how})" for c in s.conditions if not c.checked]
        for inst in self.instances:
            agree = ", ".join(f"{k} {'=' if v else '!='}" for k, v in inst.agree.items())
            lines.append(f"  instance {inst.config}: {agree} oracle{' ' + inst.note if inst.note else ''}")
        lines.append(self.verdict())
        return "\n".join(lines)

    def verdict(self) -> str:
        if self.ok:
            return (
                f"PROVED: all {len(self.steps)} steps checked; the textbook forms agree exactly with the sympy "
                f"oracle on {len(self.instances)} random configurations"
            )
        parts = []
        if not self.proved:
            parts.append(f"not proved at step '{self.failed_step}'")
        bad = [i.config for i in self.instances if not i.ok]
        if bad:
            parts.append(f"the claimed forms disagree with the sympy oracle on {', '.join(bad)}")
        return "NOT PROVED: " + "; ".join(parts)

    # -- report ------------------------------------------------------------------------------------------------------
    def blocks(self) -> list:
        D = document
        out = [D.Heading(1, self.title)] + list(self.intro)
        rows = [tuple(p if isinstance(p, str) else D.Math(p) for p in row) for row in self.domain_rows]
        out += [D.Heading(2, "Domain: what is assumed"), D.Items(rows)]
        if self.definitions:
            out += [
                D.Heading(2, "Definitions (the textbook operators)"),
                D.Para(
                    "Each array below is defined for every integer index; a bracket [·] is 1 where its "
                    "condition holds and 0 elsewhere (Iverson)."
                ),
            ]
            for text, d in self.definitions:
                out += [D.Para(text), D.Display([d.show()])]
        for d in self.derivations:
            out.append(D.Heading(2, d.title))
            for k, s in enumerate(d.steps, 1):
                mark = "checked" if s.checked else "NOT PROVED"
                out.append(D.Para(f"Step {k} — {s.name} [{mark}] (rule: {s.rule}). {s.text}"))
                if s.term is not None:
                    out.append(D.Display([[d.lhs if s.lhs is None else s.lhs, s.term.show()]]))
                items = [
                    (f"{'checked' if c.checked else 'NOT PROVED'}: ", c.text + (f" — {c.how}" if c.how else ""))
                    for c in s.conditions
                ]
                if items:
                    out.append(D.Items(items))
            if d.stopped:
                out.append(
                    D.Para(
                        f"The derivation stops here: step '{d.stopped.name}' is not proved, so nothing "
                        "after it is claimed."
                    )
                )
        out.append(D.Heading(2, "Instantiation on random configurations"))
        out.append(
            D.Para(
                "The claimed textbook forms, evaluated exactly (Python integers) on seeded random "
                "configurations and data, compared with `==` against gradcheck's sympy oracle (the "
                "layer's own rule, differentiated)."
            )
        )
        rows = [
            f"{i.config}: "
            + ", ".join(f"{k} {'equal' if v else 'DIFFERENT'}" for k, v in i.agree.items())
            + (f" ({i.note})" if i.note else "")
            for i in self.instances
        ]
        out.append(D.Code("\n".join(rows) or "(none)"))
        out += [D.Heading(2, "Verdict"), D.Para(self.verdict())]
        if self.command:
            out.append(D.Para(f"Regenerate: `{self.command}`"))
        return out

    def report(self):
        claim = "" if self.claim.name == "textbook" else self.claim.name
        stem = "-".join(x for x in (self.layer, self.variant, claim) if x)
        return _ProofReport(stem, self.title, self.blocks())

    def markdown(self) -> str:
        return self.report().markdown()

    def html(self) -> str:
        return self.report().html()

    def tex(self) -> str:
        return self.report().tex()

    def write(self, out_dir=".", formats=("md",)):
        return self.report().write(out_dir, formats)

    def _repr_html_(self) -> str:
        return document.html_body(self.blocks())


def instantiate(derivations, inst: Instance, oracle: dict) -> dict:
    """Each derivation's claimed final form evaluated on ``inst`` against the oracle's gradient (exact ==)."""
    agree = {}
    for d in derivations:
        grid = np.meshgrid(*[np.arange(inst.number(lo), inst.number(hi) + 1) for _, lo, hi in d.free], indexing="ij")
        env = {v: g for (v, _, _), g in zip(d.free, grid)}
        try:
            values = evaluate(d.final, env, inst)
            got = d.to_array(values)
            want = oracle[d.key]
            agree[d.key] = got.shape == want.shape and all(
                _exact(a) == _exact(b) for a, b in zip(np.ravel(got), np.ravel(want))
            )
        except Unguarded:
            agree[d.key] = False
    return agree


_PLAIN = {
    "γ": "gamma",
    "ω": "omega",
    "φ": "phi",
    "χ": "chi",
    "κ": "kappa",
    "ν": "nu",
    "∣": "|",
    "\u0302": "-hat",
    "↦": "->",
    "ā": "a-bar",
    "⁻¹": "^-1",
    "±": "+/-",
    "∈": "in",
}


class _ProofReport(Report):
    def tex(self) -> str:  # pdflatex's default fonts have no Greek text glyphs: spell them out in the prose
        return Report(self.stem, _plain(self.title), [_plain_block(b) for b in self.blocks]).tex()


def _plain(text: str) -> str:
    for k, v in _PLAIN.items():
        text = text.replace(k, v)
    return text


def _plain_block(b):
    D = document
    parts = lambda ps: tuple(_plain(p) if isinstance(p, str) else p for p in ps)  # noqa: E731
    if isinstance(b, D.Para):
        return D.Para(*parts(b.parts))
    if isinstance(b, D.Items):
        return D.Items([parts(i) for i in b.items])
    if isinstance(b, D.Heading):
        return D.Heading(b.level, _plain(b.text))
    return b


def _exact(v) -> Fraction:
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (int, np.integer)):
        return Fraction(int(v))
    if isinstance(v, sp.Rational):
        return Fraction(int(v.p), int(v.q))
    return Fraction(v)  # a float: its exact binary value


def partial(of, at) -> sp.Expr:
    return mathprint.Partial(sp.Symbol(of), at)
