"""Numbers as text, both ways: the one parser of numbers written by people (case files, answer files, CLI
parameter values) and the one formatter of numbers shown to people (verdicts, grading feedback, reports).

Reading never evaluates anything: a number is an int, a ``decimal.Decimal`` (TOML floats are parsed as
Decimal, so ``0.1`` is exactly 1/10), or a string holding a decimal ``"0.25"`` or a fraction ``"-3/10"``,
matched by a regular expression and handed to ``fractions.Fraction``.

>>> parse_number("-3/10"), parse_number("0.25"), parse_number("1e-3")
(Fraction(-3, 10), Fraction(1, 4), Fraction(1, 1000))
>>> format_number(Fraction(1, 4)), format_number(Fraction(1, 4), fractions="ratio"), format_number(Fraction(1, 3))
('0.25', '1/4', '1/3')
"""
from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np

NUMBER_TEXT = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?(\s*/\s*\d+)?\s*")
# Untrusted files (graders run them on student uploads) must not make the grader compute 10^999999999 or
# print a 5,000-digit number: a number has at most MAX_DIGITS significant digits and a decimal exponent
# within ±MAX_EXPONENT before any Fraction is built; exact values then stay within LIMIT (below).
MAX_DIGITS = 40
MAX_EXPONENT = 40
LIMIT = 2 ** 53  # exercise numbers stay within float64's exact integers (oracles, JSON, NumPy int64 kernels)


class NotANumber(ValueError):
    """A value that is not a number (the caller names the file, exercise and key)."""


def brief(value, width: int = 60) -> str:
    """repr(value), cut to ``width`` characters: values from untrusted files appear in one-line errors."""
    if isinstance(value, int) and abs(value) >= 10 ** 60:
        text = f"an int of {len(str(abs(value)))} digits"
    else:
        text = str(value) if isinstance(value, Decimal) else repr(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def parse_number(value) -> int | Fraction:
    """An exact number from a TOML value or a text: int, Decimal, or a string "a/b" or "0.25"."""
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
        return simplest(Fraction(value))
    if isinstance(value, float):  # only from Python callers; TOML floats arrive as Decimal
        if not math.isfinite(value):
            raise NotANumber(f"{value} is not a finite number")
        return simplest(Fraction(repr(value)))
    if isinstance(value, Fraction):
        return simplest(value)
    if isinstance(value, str):
        if len(value) > 2 * MAX_DIGITS + 20 or not NUMBER_TEXT.fullmatch(value):
            raise NotANumber(f"{brief(value)} is not a number (write an int, a decimal or a fraction like \"1/3\")")
        numerator, _, denominator = value.partition("/")
        _bounded(Decimal(numerator.strip()), value)
        if denominator and int(denominator) == 0:
            raise NotANumber(f"{value!r} divides by zero")
        return simplest(Fraction(numerator.strip()) / Fraction(int(denominator) if denominator else 1))
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


def simplest(f: Fraction) -> int | Fraction:
    """``f`` as an int when it is whole, else the Fraction; NotANumber past an exercise number's limits."""
    if abs(f) >= LIMIT or f.denominator >= 2 ** 63:
        raise NotANumber(f"{brief(f)} is too large or has too many digits for an exercise number (|x| < 2^53)")
    return f.numerator if f.denominator == 1 else f


# -- formatting -------------------------------------------------------------------------------------------
FRACTION_STYLES = ("decimal", "ratio", "float")


def decimal_exponent(e: Fraction) -> int:
    """⌊log10 |e|⌋ of a nonzero number, exactly."""
    e = abs(Fraction(e))
    k = math.floor(math.log10(e.numerator) - math.log10(e.denominator))
    while Fraction(10) ** k > e:
        k -= 1
    while Fraction(10) ** (k + 1) <= e:
        k += 1
    return k


def rounded_decimal(f: Fraction, places: int) -> Decimal:
    """``f`` rounded half away from zero to ``places`` decimals, exactly (how a hand calculation rounds)."""
    scaled = abs(f) * 10 ** places
    units = int(scaled) + (1 if scaled - int(scaled) >= Fraction(1, 2) else 0)
    # built from its digits: scaleb would round to the context's 28 digits
    return Decimal((int(f < 0 and units != 0), tuple(map(int, str(units))), -places))


def terminating_decimal(value: Fraction, max_places: int | None = None) -> str | None:
    """``value`` as its exact decimal (1/8 -> '0.125', 5/2 -> '2.5', 3 -> '3') when it has one with at most
    ``max_places`` places (any number if None), else None."""
    value = Fraction(value)
    twos = fives = 0
    d = value.denominator
    while d % 2 == 0:
        d, twos = d // 2, twos + 1
    while d % 5 == 0:
        d, fives = d // 5, fives + 1
    places = max(twos, fives)
    if d != 1 or (max_places is not None and places > max_places):
        return None
    scaled = abs(value.numerator) * 10 ** places // value.denominator
    digits = str(scaled).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return sign + (digits[:-places] + "." + digits[-places:] if places else digits)


def format_number(v, *, fractions: str = "decimal", max_places: int | None = None, float_digits: int = 10,
                  round_to: tuple[str, int] | None = None) -> str:
    """A number as people read it: ints (and integer-valued Fractions) as ints; floats with ``float_digits``
    significant digits, integer-valued ones below 10^15 as ints; other Fractions by ``fractions``:

    - "decimal": a decimal when one terminates (within ``max_places`` places, if given), else a/b — grading
      feedback and reports;
    - "ratio": a/b (denominators of 10^6 and more: the float value, marked exact) — oracle verdicts;
    - "float": the float value with ``float_digits`` significant digits — tolerances.

    ``round_to`` ("decimals", n) or ("sigfigs", n): a non-integer value (a float by its exact binary value) as a
    decimal rounded half up at that precision, trailing zeros dropped — grading prints an expected value one
    digit beyond what its tolerance judges. Anything that is not a number (a string, a bool) is ``str(v)``.
    """
    if fractions not in FRACTION_STYLES:
        raise ValueError(f"fractions={fractions!r} is not allowed: fractions must be one of {FRACTION_STYLES}")
    if isinstance(v, (bool, np.bool_, str)):
        return str(v)
    if round_to is not None and isinstance(v, (int, np.integer, float, np.floating, Fraction)):
        kind, n = round_to
        f = Fraction(float(v)) if isinstance(v, (float, np.floating)) else Fraction(int(v)) \
            if isinstance(v, np.integer) else Fraction(v)
        if f.denominator == 1:
            return str(f.numerator)
        places = n if kind == "decimals" else max(0, n - 1 - decimal_exponent(f)) if f else 0
        text = format(rounded_decimal(f, places), "f") if places else str(int(rounded_decimal(f, 0)))
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.{float_digits}g}"
    if not isinstance(v, (int, np.integer, Fraction)):
        return str(v)
    f = Fraction(int(v)) if isinstance(v, np.integer) else Fraction(v)
    if f.denominator == 1:
        return str(f.numerator)
    if fractions == "float":
        return f"{float(f):.{float_digits}g}"
    if fractions == "ratio":
        return f"{f.numerator}/{f.denominator}" if f.denominator < 10 ** 6 else f"{float(f):.12g} (exact)"
    text = terminating_decimal(f, max_places)
    return text if text is not None else f"{f.numerator}/{f.denominator}"


__all__ = ["LIMIT", "MAX_DIGITS", "MAX_EXPONENT", "NotANumber", "brief", "decimal_exponent", "format_number",
           "parse_number", "rounded_decimal", "simplest", "terminating_decimal"]
