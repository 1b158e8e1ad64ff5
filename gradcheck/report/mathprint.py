"""SymPy printers for the reports: LaTeX (Markdown, .tex) and presentation MathML (HTML).

The derivations are SymPy expressions. Where a display must read like the lecture — ``dO11·F22 + dO12·F21
+ …`` in a chosen order, ``(−1)·2`` left unmultiplied — SymPy's Add and Mul would re-sort and evaluate, so
such displays use small print-only nodes: ``Terms`` / ``Factors`` (built by :func:`total`, :func:`product`),
``Minus`` (a subtracted term), ``Partial`` (∂a/∂b) and ``Frac`` (an undivided fraction). Everything else
(index expressions such as 2i + p − 1) prints the usual SymPy way.
"""
from __future__ import annotations

from fractions import Fraction

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.mathml import MathMLPresentationPrinter

from ..number_text import terminating_decimal


class Partial(sp.Expr):
    """∂num/∂den, printed only."""

    is_commutative = True

    def __new__(cls, num, den):
        return sp.Expr.__new__(cls, sp.sympify(num), sp.sympify(den))


class Frac(sp.Expr):
    """num/den as a fraction bar, not divided."""

    is_commutative = True

    def __new__(cls, num, den):
        return sp.Expr.__new__(cls, sp.sympify(num), sp.sympify(den))


class Minus(sp.Expr):
    """A term to subtract: ``Add(a, Minus(b), evaluate=False)`` prints a − b."""

    is_commutative = True

    def __new__(cls, term):
        return sp.Expr.__new__(cls, sp.sympify(term))


class Terms(sp.Expr):
    """A sum printed in the order given, nothing combined: built by :func:`total`."""

    is_commutative = True

    def __new__(cls, *terms):
        return sp.Expr.__new__(cls, *map(sp.sympify, terms))


class Factors(sp.Expr):
    """A product printed in the order given, nothing multiplied out: built by :func:`product`."""

    is_commutative = True

    def __new__(cls, *factors):
        return sp.Expr.__new__(cls, *map(sp.sympify, factors))


class Name(sp.Symbol):
    """A symbol with its own LaTeX (``name``) and MathML: text, optionally with an accent over it (X̃)."""

    def __new__(cls, latex: str, text: str, accent: str = ""):
        obj = super().__new__(cls, latex)
        obj.text, obj.accent = text, accent
        return obj


class Apply(sp.Expr):
    """An operator applied to arguments, printed name(a, b): corr(X̃, G̃)."""

    is_commutative = True

    def __new__(cls, name, *args):
        return sp.Expr.__new__(cls, name, *map(sp.sympify, args))


class Pair(sp.Expr):
    """The inner product ⟨a, b⟩, printed only."""

    is_commutative = True

    def __new__(cls, a, b):
        return sp.Expr.__new__(cls, sp.sympify(a), sp.sympify(b))


def product(*factors) -> sp.Expr:
    """Factors multiplied, printed in the order given: product(dO11, F22) -> dO11·F22."""
    return sp.sympify(factors[0]) if len(factors) == 1 else Factors(*factors)


def total(*terms) -> sp.Expr:
    """Terms added, printed in the order given (an empty sum is 0); Minus(t) terms are subtracted."""
    if not terms:
        return sp.Integer(0)
    return sp.sympify(terms[0]) if len(terms) == 1 else Terms(*terms)


def _needs_parens(arg, in_product: bool) -> bool:
    """Negative numbers are bracketed wherever they follow an operator: 2·(−1), a + (−3)."""
    return (isinstance(arg, sp.Number) and arg < 0) or (in_product and isinstance(arg, (sp.Add, Terms)))


def decimal(value: sp.Rational) -> str | None:
    """A rational with a terminating decimal expansion of at most 6 places as that decimal (the lectures' 0.25),
    else None: the printers then write a fraction."""
    return terminating_decimal(Fraction(int(value.p), int(value.q)), max_places=6)


class Latex(LatexPrinter):
    def __init__(self):
        super().__init__({})

    def _wrap(self, arg, in_product):
        text = self._print(arg)
        return rf"\left({text}\right)" if _needs_parens(arg, in_product) else text

    def _print_Terms(self, expr):
        parts = [self._wrap(expr.args[0], False)]
        for arg in expr.args[1:]:
            parts.append(f"- {self._wrap(arg.args[0], False)}" if isinstance(arg, Minus)
                         else f"+ {self._wrap(arg, False)}")
        return " ".join(parts)

    def _print_Factors(self, expr):
        return r" \cdot ".join(self._wrap(a, True) for a in expr.args)

    def _print_Minus(self, expr):
        return f"-{self._wrap(expr.args[0], False)}"

    def _print_Rational(self, expr):
        text = decimal(expr)
        return text if text is not None else super()._print_Rational(expr)

    def _print_Partial(self, expr):
        num, den = (self._print(a) for a in expr.args)
        return rf"\frac{{\partial {num}}}{{\partial {den}}}"

    def _print_Frac(self, expr):
        num, den = (self._print(a) for a in expr.args)
        return rf"\frac{{{num}}}{{{den}}}"

    def _print_Name(self, expr):
        return expr.name

    def _print_Apply(self, expr):
        name, *args = expr.args
        return rf"{self._print(name)}\left({', '.join(self._print(a) for a in args)}\right)"

    def _print_Pair(self, expr):
        return rf"\left\langle {self._print(expr.args[0])}, {self._print(expr.args[1])} \right\rangle"

    def _print_Indexed(self, expr):
        base = self._print(expr.base.label)
        base = f"{{{base}}}" if "_" in base else base  # w_{pointwise}_{o,k}: a double subscript without braces
        return f"{base}_{{{','.join(self._print(i) for i in expr.indices)}}}"

    def _print_Sum(self, expr):
        sums = "".join(rf"\sum_{{{self._print(v)}={self._print(lo)}}}^{{{self._print(hi)}}} "
                       for v, lo, hi in expr.limits)
        body = self._print(expr.function)
        return sums + (rf"\left({body}\right)" if isinstance(expr.function, sp.Add) else body)


class MathML(MathMLPresentationPrinter):
    def __init__(self):
        super().__init__({})

    def _el(self, tag, *children, text=None):
        el = self.dom.createElement(tag)
        if text is not None:
            el.appendChild(self.dom.createTextNode(text))
        for child in children:
            el.appendChild(child)
        return el

    def _wrap(self, arg, in_product):
        printed = self._print(arg)
        if _needs_parens(arg, in_product):
            return self._el("mrow", self._el("mo", text="("), printed, self._el("mo", text=")"))
        return printed

    def _print_Terms(self, expr):
        row = self._el("mrow", self._wrap(expr.args[0], False))
        for arg in expr.args[1:]:
            minus = isinstance(arg, Minus)
            row.appendChild(self._el("mo", text="\u2212" if minus else "+"))
            row.appendChild(self._wrap(arg.args[0] if minus else arg, False))
        return row

    def _print_Factors(self, expr):
        row = self._el("mrow")
        for k, arg in enumerate(expr.args):
            if k:
                row.appendChild(self._el("mo", text="\u00b7"))
            row.appendChild(self._wrap(arg, True))
        return row

    def _print_Integer(self, expr):
        if expr < 0:
            return self._el("mrow", self._el("mo", text="\u2212"), self._el("mn", text=str(-expr)))
        return self._el("mn", text=str(expr))

    def _print_Minus(self, expr):
        return self._el("mrow", self._el("mo", text="\u2212"), self._wrap(expr.args[0], False))

    def _print_Rational(self, expr):
        text = decimal(expr)
        if text is None:
            return super()._print_Rational(expr)
        if expr < 0:
            return self._el("mrow", self._el("mo", text="\u2212"), self._el("mn", text=text[1:]))
        return self._el("mn", text=text)

    def _print_Partial(self, expr):
        num, den = (self._el("mrow", self._el("mo", text="\u2202"), self._print(a)) for a in expr.args)
        return self._el("mfrac", num, den)

    def _print_Frac(self, expr):
        return self._el("mfrac", *(self._print(a) for a in expr.args))

    def _print_Name(self, expr):
        name = self._el("mi", text=expr.text)
        return self._el("mover", name, self._el("mo", text=expr.accent)) if expr.accent else name

    def _print_Apply(self, expr):
        name, *args = expr.args
        row = self._el("mrow", self._print(name), self._el("mo", text="("))
        for k, arg in enumerate(args):
            if k:
                row.appendChild(self._el("mo", text=","))
            row.appendChild(self._print(arg))
        row.appendChild(self._el("mo", text=")"))
        return row

    def _print_Pair(self, expr):
        return self._el("mrow", self._el("mo", text="\u27e8"), self._print(expr.args[0]), self._el("mo", text=","),
                        self._print(expr.args[1]), self._el("mo", text="\u27e9"))

    def _print_Indexed(self, expr):
        indices = self._el("mrow")
        for k, ix in enumerate(expr.indices):
            if k:
                indices.appendChild(self._el("mo", text=","))
            indices.appendChild(self._print(ix))
        return self._el("msub", self._print(expr.base.label), indices)

    def _print_IndexedBase(self, expr):
        return self._print(expr.label)

    def _print_MatrixBase(self, expr):
        """No bracket glyphs to stretch (a browser may lack a math font): the matrix's CSS draws them."""
        table = self._el("mtable")
        table.setAttribute("class", "matrix")
        for r in range(expr.rows):
            row = self._el("mtr")
            for c in range(expr.cols):
                row.appendChild(self._el("mtd", self._print(expr[r, c])))
            table.appendChild(row)
        return table

    _print_ImmutableDenseMatrix = _print_MutableDenseMatrix = _print_MatrixBase

    def _print_Sum(self, expr):
        row = self._el("mrow")
        for v, lo, hi in expr.limits:
            under = self._el("mrow", self._print(v), self._el("mo", text="="), self._print(lo))
            row.appendChild(self._el("munderover", self._el("mo", text="\u2211"), under, self._print(hi)))
        body = self._print(expr.function)
        if isinstance(expr.function, sp.Add):
            body = self._el("mrow", self._el("mo", text="("), body, self._el("mo", text=")"))
        row.appendChild(body)
        return row


_LATEX, _MATHML = Latex(), MathML()


def latex(expr) -> str:
    """LaTeX of an expression (or of a string, taken as already being LaTeX)."""
    return expr if isinstance(expr, str) else _LATEX.doprint(expr)


def mathml(expr) -> str:
    """Presentation MathML of an expression, without the enclosing <math> element."""
    if isinstance(expr, str):
        return f"<mtext>{expr}</mtext>"
    return _MATHML._print(sp.sympify(expr)).toxml()
