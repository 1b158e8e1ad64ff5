"""Numbers and tolerances of case files: read exactly, never evaluated.

A number in a case or answer file is an int, a decimal (``0.1`` is read as exactly 1/10: TOML floats are
parsed as ``decimal.Decimal``), or a string holding a fraction ``"-3/10"`` or a decimal ``"0.25"``,
matched by a regular expression and handed to ``fractions.Fraction``. Arrays are nested lists of numbers.

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
from decimal import Decimal
from fractions import Fraction

import numpy as np

from ..tolerance import GRADING_RTOL, within

_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?(\s*/\s*\d+)?\s*")
# Untrusted files (graders run them on student uploads) must not make the grader compute 10^999999999 or
# print a 5,000-digit number: a number has at most MAX_DIGITS significant digits and a decimal exponent
# within ±MAX_EXPONENT before any Fraction is built; exact values then stay within LIMIT (below).
MAX_DIGITS = 40
MAX_EXPONENT = 40
MAX_RANK = 8            # array nesting; numpy allows 64, exercises use at most 5 (N, C, D, H, W)
MAX_TOLERANCE_DIGITS = 40   # decimals / sigfigs: beyond 40 no two exercise numbers differ less than that


class NotANumber(ValueError):
    """A value that is not a number (the caller names the file, exercise and key)."""


def brief(value, width: int = 60) -> str:
    """repr(value), cut to ``width`` characters: values from untrusted files appear in one-line errors."""
    if isinstance(value, int) and abs(value) >= 10 ** 60:
        text = f"an int of {len(str(abs(value)))} digits"
    else:
        text = str(value) if isinstance(value, Decimal) else repr(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def number(value) -> int | Fraction:
    """An exact number from a TOML value: int, Decimal, or a string "a/b" or "0.25"."""
    if isinstance(value, bool):
        raise NotANumber(f"{value!r} is a boolean, not a number")
    if isinstance(value, int):
        if abs(value) >= LIMIT:
            raise NotANumber(f"{brief(value)} is too large for an exercise number (|x| < 2^53)")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise NotANumber(f"{value} is not a finite number")
        _bounded(value, value)
        return _simplest(Fraction(value))
    if isinstance(value, float):  # only from Python callers; TOML floats arrive as Decimal
        if not math.isfinite(value):
            raise NotANumber(f"{value} is not a finite number")
        return _simplest(Fraction(repr(value)))
    if isinstance(value, Fraction):
        return _simplest(value)
    if isinstance(value, str):
        if len(value) > 2 * MAX_DIGITS + 20 or not _NUMBER.fullmatch(value):
            raise NotANumber(f"{brief(value)} is not a number (write an int, a decimal or a fraction like \"1/3\")")
        numerator, _, denominator = value.partition("/")
        _bounded(Decimal(numerator.strip()), value)
        if denominator and int(denominator) == 0:
            raise NotANumber(f"{value!r} divides by zero")
        return _simplest(Fraction(numerator.strip()) / Fraction(int(denominator) if denominator else 1))
    raise NotANumber(f"{brief(value)} ({type(value).__name__}) is not a number")


def _bounded(d: Decimal, shown) -> None:
    """Refuse a decimal with too many significant digits or too large an exponent, before it is made exact."""
    _, digits, exponent = d.as_tuple()
    significant = "".join(map(str, digits)).strip("0")
    if len(significant) > MAX_DIGITS:
        raise NotANumber(f"{brief(shown)} has more than {MAX_DIGITS} significant digits")
    if significant and not -MAX_EXPONENT <= d.adjusted() <= MAX_EXPONENT:
        raise NotANumber(f"{brief(shown)} is out of range: an exercise number is within 10^±{MAX_EXPONENT} "
                         "(and exact ones below 2^53)")


LIMIT = 2 ** 53  # exercise numbers stay within float64's exact integers (oracles, JSON, NumPy int64 kernels)


def _simplest(f: Fraction) -> int | Fraction:
    if abs(f) >= LIMIT or f.denominator >= 2 ** 63:
        raise NotANumber(f"{brief(f)} is too large or has too many digits for an exercise number (|x| < 2^53)")
    return f.numerator if f.denominator == 1 else f


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
            return f"atol {_show(self.atol)}, rtol {_show(self.rtol)}"
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
            return Fraction(0) if e == 0 else Fraction(1, 2) * Fraction(10) ** (_exponent(e) - self.digits + 1)
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
                options.append(("decimals", max(0, -_exponent(self.atol)) + 1))
            if self.rtol:
                options.append(("sigfigs", max(1, -_exponent(self.rtol)) + 1))
            if not options:
                return None
            e = _exact(e)
            # the finer of the two: sigfigs n on e are decimals n - 1 - exponent(e)
            return max(options, key=lambda o: o[1] if o[0] == "decimals" or not e else o[1] - 1 - _exponent(e))
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
            return error <= Fraction(1, 2) * Fraction(10) ** (_exponent(e) - self.digits + 1)
        return error <= self.atol + self.rtol * abs(e)


def _exact(v) -> Fraction:
    return Fraction(v) if not isinstance(v, (float, np.floating)) else Fraction(float(v))


def _exponent(e: Fraction) -> int:
    """⌊log10 |e|⌋, exactly."""
    e = abs(e)
    k = math.floor(math.log10(e.numerator) - math.log10(e.denominator))
    while Fraction(10) ** k > e:
        k -= 1
    while Fraction(10) ** (k + 1) <= e:
        k += 1
    return k


def _show(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{float(v):g}"


def show(v, tol: "Tolerance | None" = None) -> str:
    """A number for a report, the one place grading prints numbers: ints as ints, finite decimals as decimals,
    other fractions as a/b. With a tolerance that is not exact, a value is printed as a decimal at the
    precision that tolerance needs: one digit more than it judges (``{decimals = 4}``: 0.25386), so a reader
    sees which way the right answer rounds, never 5142527634656991/40000000000000000."""
    digits = None if tol is None else tol.shown_digits(v)
    if digits is not None:
        kind, n = digits
        f = _exact(v)
        if f.denominator == 1:
            return str(f.numerator)
        places = n if kind == "decimals" else max(0, n - 1 - _exponent(f)) if f else 0
        text = format(_round_half_up(f, places), "f") if places else str(int(_round_half_up(f, 0)))
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.10g}"
    f = Fraction(v)
    if f.denominator == 1:
        return str(f.numerator)
    d = f.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:  # a terminating decimal, printed in full: the denominator < 2^63 bounds it to 63 places
        places = max(_factor(f.denominator, 2), _factor(f.denominator, 5))
        return format(_round_half_up(f, places), "f")
    return f"{f.numerator}/{f.denominator}"


def _factor(n: int, p: int) -> int:
    """How often p divides n."""
    k = 0
    while n % p == 0:
        n, k = n // p, k + 1
    return k


def _round_half_up(f: Fraction, places: int) -> Decimal:
    """``f`` rounded half away from zero to ``places`` decimals, exactly (how a hand calculation rounds)."""
    scaled = abs(f) * 10 ** places
    units = int(scaled) + (1 if scaled - int(scaled) >= Fraction(1, 2) else 0)
    # built from its digits: scaleb would round to the context's 28 digits
    return Decimal((int(f < 0 and units != 0), tuple(map(int, str(units))), -places))


def round_half_up(v, places: int):
    """``v`` (int, Fraction or float) rounded half away from zero to ``places`` decimals, in its own kind:
    a Fraction stays exact, a float is rounded as it prints (0.25385 is 0.25385, not 0.2538499..)."""
    if isinstance(v, (float, np.floating)):
        return float(_round_half_up(Fraction(repr(float(v))), places))
    if isinstance(v, (int, np.integer)):
        return int(v)
    return _simplest(Fraction(_round_half_up(Fraction(v), places)))


def as_json(v):
    """A number for JSON: ints and finite decimals as JSON numbers, other fractions as "a/b" strings."""
    if isinstance(v, (float, np.floating)) and not math.isfinite(v):
        return str(float(v))  # "inf", "nan": JSON has no such numbers (json.dumps would write invalid JSON)
    text = show(v)
    if "/" in text:
        return text
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
