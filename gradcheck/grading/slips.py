"""Arithmetic slips: a wrong entry that is a right answer written down wrongly.

A slip is named only when it turns a right answer into the given number *exactly as the student wrote it*:
the check works on the decimal string of the answer (TOML decimals are read as ``decimal.Decimal``, which
keeps the digits written, "0.2380" apart from "0.238"), never on a float. The right answers it starts from
("intended") are every decimal at the needed precision that the exercise's tolerance accepts, nearest to
the expected value first (with ``{decimals = 3}``, 0.2538 is a right way to write 0.253858...), plus the
value the chain gives when every intermediate is rounded to the precision written (a lecture computes so).

Grading names conceptual mistakes first (``gradcheck.mistakes``); an entry of a quantity no conceptual
mistake explains is then checked for these, in this order:
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from itertools import islice

import numpy as np

from ..number_text import rounded_decimal
from . import values

# id -> what was done, in a sentence a student understands; ids are stable (graders match on them, `expect` too)
SLIPS = {
    "rounded_intermediates": "every intermediate result was rounded to the precision written, then the chain "
                             "continued from the rounded values",
    "sign_flipped": "the right number with the wrong sign",
    "decimal_point_shifted": "the right digits with the decimal point shifted (×10ⁿ)",
    "digits_transposed": "the right number with two adjacent digits swapped",
    "digit_dropped": "the right number with one digit left out",
    "digit_repeated": "the right number with one digit written twice",
    "digits_permuted": "the right digits in another order",
}
__doc__ += "".join(f"\n- ``{k}``: {v}" for k, v in SLIPS.items()) + "\n"

MAX_INTENDED = 21   # right decimals tried per precision: a tolerance wider than that explains anything
MAX_SHIFT = 6       # ×10^±6 at most: a shifted point, not a different number
MAX_ROUNDED = 10    # places a hand calculation rounds to; each other precision costs a rerun of the chain


@dataclass(frozen=True)
class Slip:
    kind: str           # an id of SLIPS
    intended: str       # the right answer the given one is a slip of, as it would be written
    written: str        # the given answer as written

    def __str__(self) -> str:
        if self.kind == "rounded_intermediates":
            return f"{self.kind}: {self.written} is what the chain gives with every intermediate rounded"
        return f"{self.kind}: {self.written} is {self.intended} with {_WHAT[self.kind]}"


_WHAT = {"sign_flipped": "the sign flipped", "decimal_point_shifted": "the decimal point shifted",
         "digits_transposed": "two adjacent digits swapped", "digits_permuted": "its digits permuted",
         "digit_dropped": "a digit left out", "digit_repeated": "a digit written twice"}


def written(raw) -> Decimal | None:
    """The answer as written, when it is a decimal (an int, a TOML decimal, a string "0.25"); None for a
    fraction "1/3" or anything else: a slip is a slip of written digits."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, Decimal):
        return raw if raw.is_finite() else None
    if isinstance(raw, float):
        return Decimal(repr(raw))
    if isinstance(raw, str) and "/" not in raw:
        try:
            values.number(raw)  # the same bounds as every number read
            return Decimal(raw.strip())
        except (ValueError, ArithmeticError):
            return None
    return None


def places(d: Decimal) -> int:
    return max(0, -d.as_tuple().exponent)


def _text(d: Decimal) -> str:
    return format(abs(d), "f")


def explain(raw, expected, tol: values.Tolerance, rounded=None) -> Slip | None:
    """The slip that turns a right answer into ``raw`` exactly as written, or None.

    ``expected`` is the right value, ``tol`` the exercise's tolerance for it; ``rounded(p)`` (optional) gives
    the value the chain computes with every intermediate rounded to ``p`` decimals."""
    g = written(raw)
    if g is None:
        return None
    e = values._exact(expected)
    p = places(g)

    def rounded_at(precision):
        if rounded is None or precision > MAX_ROUNDED:
            return None
        value = rounded(precision)
        if value is None:
            return None
        # a float as it prints: the rounded chain's 0.6525 is 0.6525, not 0.65249999...
        exact = Fraction(repr(float(value))) if isinstance(value, (float, np.floating)) else Fraction(value)
        return rounded_decimal(exact, precision)

    def right(d: Decimal) -> bool:
        r = rounded_at(places(d))
        return bool(tol.close(np.array([Fraction(d)], dtype=object), np.array([e], dtype=object))[0]) or (
            r is not None and r == d)

    r = rounded_at(p)
    if r is not None and r == g:
        return Slip("rounded_intermediates", format(r, "f"), format(g, "f"))
    if g != 0 and right(-g):
        return Slip("sign_flipped", format(-g, "f"), format(g, "f"))
    if g != 0:
        for n in sorted(range(-MAX_SHIFT, MAX_SHIFT + 1), key=abs):
            if n and right(g.scaleb(n)):
                return Slip("decimal_point_shifted", format(g.scaleb(n), "f"), format(g, "f"))
    # With fewer than 3 significant digits written, a wide set of right answers explains almost any number
    # by chance (0.3 is 0.23 with the 2 dropped): then only the correctly rounded value is a starting point.
    many = MAX_INTENDED if len(_text(g).replace(".", "").strip("0")) >= 3 else 1
    same = [c for c in _intended(e, tol, p, r, many) if (c < 0) == (g < 0) and c != g]
    for c in same:
        if _transposed(_text(c), _text(g)):
            return Slip("digits_transposed", format(c, "f"), format(g, "f"))
    longer = [c for c in list(_intended(e, tol, p + 1, rounded_at(p + 1), many)) + same if (c < 0) == (g < 0)]
    for c in longer:
        if _text(g) in _deletions(_text(c)):
            return Slip("digit_dropped", format(c, "f"), format(g, "f"))
    for shorter in _deletions(_text(g), repeated_only=True):
        d = Decimal(shorter).copy_sign(g) if g else Decimal(shorter)
        if d != g and right(d):
            return Slip("digit_repeated", format(d, "f"), format(g, "f"))
    for c in same:  # last: the loosest of them
        if _permuted(_text(c), _text(g)):
            return Slip("digits_permuted", format(c, "f"), format(g, "f"))
    return None


def _intended(e: Fraction, tol: values.Tolerance, p: int, rounded: Decimal | None, many: int = MAX_INTENDED):
    """Right answers written with ``p`` decimals, nearest to ``e`` first (of the ``many`` nearest decimals),
    then the rounded-intermediates value."""
    unit = Fraction(1, 10 ** p)
    h = tol.halfwidth(e)
    centre = rounded_decimal(e, p)
    out, seen = [], set()
    steps = (centre + k * Decimal(unit.numerator).scaleb(-p) for k in _zigzag())
    for c in islice(steps, many):
        if abs(Fraction(c) - e) <= h and bool(tol.close(np.array([Fraction(c)], dtype=object),
                                                         np.array([e], dtype=object))[0]):
            out.append(c.quantize(Decimal(1).scaleb(-p)) if p else c.quantize(Decimal(1)))
    if rounded is not None:
        out.append(rounded)
    for c in out:
        if c not in seen:
            seen.add(c)
            yield c


def _zigzag():
    yield 0
    k = 1
    while True:
        yield k
        yield -k
        k += 1


def _digits(text: str) -> tuple[str, int]:
    """("02538", 1) for "0.2538": the digits and where the point sits among them."""
    whole, _, frac = text.partition(".")
    return whole + frac, len(whole)


def _transposed(right: str, given: str) -> bool:
    a, pa = _digits(right)
    b, pb = _digits(given)
    if pa != pb or len(a) != len(b):
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def _permuted(right: str, given: str) -> bool:
    a, pa = _digits(right)
    b, pb = _digits(given)
    return pa == pb and a != b and sorted(a) == sorted(b)


def _deletions(text: str, repeated_only: bool = False) -> set[str]:
    """Every decimal ``text`` becomes with one digit left out (normalised as Decimal prints it);
    ``repeated_only``: only digits equal to the one before them (a digit written twice)."""
    digits, point = _digits(text)
    out = set()
    for i in range(len(digits)):
        if repeated_only and (i == 0 or digits[i] != digits[i - 1]):
            continue
        rest = digits[:i] + digits[i + 1:]
        at = point - (i < point)
        whole, frac = rest[:at] or "0", rest[at:]
        if not rest:
            continue
        out.add(_text(Decimal(f"{whole}.{frac}" if frac else whole)))
    return out


__all__ = ["SLIPS", "Slip", "explain", "written"]
