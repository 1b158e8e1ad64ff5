"""Numbers and tolerances of case files: read exactly, never evaluated.

A number in a case or answer file is an int, a decimal (``0.1`` is read as exactly 1/10: TOML floats are
parsed as ``decimal.Decimal``), or a string holding a fraction ``"-3/10"`` or a decimal ``"0.25"``,
matched by a regular expression and handed to ``fractions.Fraction`` (:func:`gradcheck.number_text.parse_number`,
here ``number``). Arrays are nested lists of numbers.

Tolerances (one per exercise, layer or quantity):

- none given: exact (``==``) when every layer of the exercise is exact (linear or piecewise-linear on
  rational data); otherwise ``gradcheck.tolerance.GRADING_RTOL`` relative (results computed in float64);
- ``{ decimals = d }``: |given − expected| ≤ 0.5·10⁻ᵈ (the answer rounds to the right d decimals);
- ``{ sigfigs = s }``: |given − expected| ≤ 0.5·10^(e − s + 1), e the decimal exponent of the expected value;
- ``{ atol = a, rtol = r }`` (either may be left out, 0): |given − expected| ≤ a + r·|expected|.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..number_text import LIMIT, MAX_DIGITS, MAX_EXPONENT, NotANumber, brief  # noqa: F401  (re-exported)
from ..number_text import decimal_exponent, format_number, parse_number as number, rounded_decimal, simplest
from ..tolerance import GRADING_RTOL, within

MAX_RANK = 8            # array nesting; numpy allows 64, exercises use at most 5 (N, C, D, H, W)
MAX_TOLERANCE_DIGITS = 40   # decimals / sigfigs: beyond 40 no two exercise numbers differ less than that


def array(value) -> np.ndarray:
    """A nested list of numbers as an exact object array (ints and Fractions); a number gives a 0-d array."""
    nested, shape_ = _nested(value)
    out = np.empty(shape_, dtype=object)
    if shape_:
        out[...] = nested
    else:
        out[()] = nested
    return out


def _nested(value, depth: int = 0):
    """(nested lists of exact numbers, shape); NotANumber for ragged, empty or too deeply nested lists."""
    if not isinstance(value, list):
        return number(value), ()
    if not value:
        raise NotANumber("an empty list is not an array of numbers")
    if depth >= MAX_RANK:
        raise NotANumber(f"lists nested more than {MAX_RANK} deep: an exercise array has at most {MAX_RANK} axes")
    rows = [_nested(v, depth + 1) for v in value]
    shapes = {s for _, s in rows}
    if len(shapes) > 1:
        raise NotANumber(f"rows of different shapes {sorted(shapes)}: not a rectangular array")
    return [r for r, _ in rows], (len(rows),) + rows[0][1]


MAX_SIDE = 10 ** 6  # a shape entry; keeps parameter counts far inside int64


def shape(value, minimum: int = 1) -> tuple[int, ...]:
    """A shape: a list of ints >= minimum (an int alone is a 1-D shape); answers may hold a (wrong) 0."""
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) and minimum <= v <= MAX_SIDE for v in items):
        raise NotANumber(f"{brief(value)} is not a shape (a list of ints from {minimum} to {MAX_SIDE:,})")
    return tuple(items)


# -- tolerances ---------------------------------------------------------------------------------------
RULE_KEYS = ("decimals", "sigfigs", "atol", "rtol")


@dataclass(frozen=True)
class Tolerance:
    """How close a given number must be to the expected one. ``kind``: exact, decimals, sigfigs, abs_rel, float."""

    kind: str = "exact"
    digits: int = 0
    atol: Fraction = Fraction(0)
    rtol: Fraction = Fraction(0)

    @classmethod
    def from_table(cls, table: dict) -> "Tolerance":
        """From ``{decimals = 2}``, ``{sigfigs = 3}`` or ``{atol = .., rtol = ..}``; ValueError naming the key."""
        keys = set(table)
        if "decimals" in keys or "sigfigs" in keys:
            if len(keys) != 1:
                raise NotANumber(f"give one of decimals, sigfigs or atol/rtol, not {', '.join(sorted(keys))}")
            (key, digits), = table.items()
            low = 0 if key == "decimals" else 1
            if isinstance(digits, bool) or not isinstance(digits, int) or not low <= digits <= MAX_TOLERANCE_DIGITS:
                raise NotANumber(f"{key} = {brief(digits)}: it must be an int from {low} to {MAX_TOLERANCE_DIGITS}")
            return cls(key, digits=digits)
        if not keys:
            return cls()
        atol, rtol = (number(table.get(k, 0)) for k in ("atol", "rtol"))
        if atol < 0 or rtol < 0:
            raise NotANumber("atol and rtol must be >= 0")
        return cls("abs_rel", atol=Fraction(atol), rtol=Fraction(rtol))

    def __str__(self) -> str:
        if self.kind == "decimals":
            return f"{self.digits} decimals (±{show(Fraction(1, 2 * 10 ** self.digits))})"
        if self.kind == "sigfigs":
            return f"{self.digits} significant figures"
        if self.kind == "abs_rel":
            return (f"atol {format_number(self.atol, fractions='float', float_digits=6)}, "
                    f"rtol {format_number(self.rtol, fractions='float', float_digits=6)}")
        if self.kind == "float":
            return f"rtol {GRADING_RTOL:g} (float results)"
        return "exact"

    def halfwidth(self, e) -> Fraction:
        """How far from ``e`` a given number may lie and still be right (for the float kind an upper bound:
        there the array's scale counts as well, and callers check a candidate with ``close``)."""
        e = _exact(e)
        if self.kind == "decimals":
            return Fraction(1, 2 * 10 ** self.digits)
        if self.kind == "sigfigs":
            return Fraction(0) if e == 0 else Fraction(1, 2) * Fraction(10) ** (decimal_exponent(e) - self.digits + 1)
        if self.kind == "abs_rel":
            return self.atol + self.rtol * abs(e)
        if self.kind == "float":
            return Fraction(GRADING_RTOL) * 2 * abs(e)
        return Fraction(0)

    def shown_digits(self, e) -> tuple[str, int] | None:
        """("decimals", n) or ("sigfigs", n): the precision an expected value is printed at, one digit beyond
        what this tolerance judges; None for exact comparison (the value is printed exactly)."""
        if self.kind == "decimals":
            return "decimals", self.digits + 1
        if self.kind == "sigfigs":
            return "sigfigs", self.digits + 1
        if self.kind == "float":
            return "sigfigs", -math.floor(math.log10(GRADING_RTOL)) + 1
        if self.kind == "abs_rel":
            options = []
            if self.atol:
                options.append(("decimals", max(0, -decimal_exponent(self.atol)) + 1))
            if self.rtol:
                options.append(("sigfigs", max(1, -decimal_exponent(self.rtol)) + 1))
            if not options:
                return None
            e = _exact(e)
            # the finer of the two: sigfigs n on e are decimals n - 1 - exponent(e)
            return max(options, key=lambda o: o[1] if o[0] == "decimals" or not e else o[1] - 1 - decimal_exponent(e))
        return None

    def close(self, given: np.ndarray, expected: np.ndarray) -> np.ndarray:
        """Elementwise: is each given entry within this tolerance of the expected one? (same shapes)"""
        if self.kind == "float":
            return within(given, expected, GRADING_RTOL)
        flat_g, flat_e = given.ravel(), expected.ravel()
        ok = np.array([self._close(_exact(g), _exact(e)) for g, e in zip(flat_g, flat_e)], dtype=bool)
        return ok.reshape(expected.shape)

    def _close(self, g: Fraction, e: Fraction) -> bool:
        error = abs(g - e)
        if self.kind == "exact":
            return error == 0
        if self.kind == "decimals":
            return error <= Fraction(1, 2 * 10 ** self.digits)
        if self.kind == "sigfigs":
            if e == 0:
                return g == 0
            return error <= Fraction(1, 2) * Fraction(10) ** (decimal_exponent(e) - self.digits + 1)
        return error <= self.atol + self.rtol * abs(e)


def _exact(v) -> Fraction:
    return Fraction(v) if not isinstance(v, (float, np.floating)) else Fraction(float(v))


def show(v, tol: "Tolerance | None" = None) -> str:
    """A number for a report, the one place grading prints numbers: ints as ints, finite decimals as decimals,
    other fractions as a/b. With a tolerance that is not exact, a value is printed as a decimal at the
    precision that tolerance needs: one digit more than it judges (``{decimals = 4}``: 0.25386), so a reader
    sees which way the right answer rounds, never 5142527634656991/40000000000000000.
    (:func:`gradcheck.number_text.format_number`, as every number gradcheck prints.)"""
    return format_number(v, round_to=None if tol is None else tol.shown_digits(v))


def round_half_up(v, places: int):
    """``v`` (int, Fraction or float) rounded half away from zero to ``places`` decimals, in its own kind:
    a Fraction stays exact, a float is rounded as it prints (0.25385 is 0.25385, not 0.2538499..)."""
    if isinstance(v, (float, np.floating)):
        return float(rounded_decimal(Fraction(repr(float(v))), places))
    if isinstance(v, (int, np.integer)):
        return int(v)
    return simplest(Fraction(rounded_decimal(Fraction(v), places)))


def as_json(v):
    """A number for JSON: ints and finite decimals as JSON numbers, other fractions as "a/b" strings."""
    if isinstance(v, (float, np.floating)) and not math.isfinite(v):
        return str(float(v))  # "inf", "nan": JSON has no such numbers (json.dumps would write invalid JSON)
    text = show(v)
    if "/" in text:
        return text
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
