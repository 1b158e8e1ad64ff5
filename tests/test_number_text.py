"""The one number formatter and parser (gradcheck.number_text), in each style its callers use."""
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

from gradcheck import cli
from gradcheck.grading import values
from gradcheck.number_text import format_number, parse_number, terminating_decimal
from gradcheck.report import figures, mathprint
from gradcheck.verify import format_number as verdict_number

F = Fraction
FORMATS = [  # value, grading feedback and reports ("decimal"), verdicts ("ratio"), tolerances ("float", 6 digits)
    (3, "3", "3", "3"),
    (np.int64(-4), "-4", "-4", "-4"),
    (F(1, 4), "0.25", "1/4", "0.25"),
    (F(-5, 2), "-2.5", "-5/2", "-2.5"),
    (F(1, 3), "1/3", "1/3", "0.333333"),
    (F(6, 3), "2", "2", "2"),
    (F(1, 1024), "0.0009765625", "1/1024", "0.000976562"),
    (F(1, 10 ** 9), "0.000000001", "1e-09 (exact)", "1e-09"),
    (F(1, 3 * 10 ** 7), "1/30000000", "3.33333333333e-08 (exact)", "3.33333e-08"),
    (2.0, "2", "2", "2"),
    (0.1, "0.1", "0.1", "0.1"),
    (1 / 3, "0.3333333333", "0.333333333333", "0.333333"),
    ("1/3", "1/3", "1/3", "1/3"),
]


@pytest.mark.parametrize("value, decimal, ratio, short", FORMATS)
def test_each_style_of_the_one_formatter(value, decimal, ratio, short):
    assert format_number(value) == values.show(value) == decimal
    assert format_number(value, fractions="ratio", float_digits=12) == verdict_number(value) == ratio
    assert format_number(value, fractions="float", float_digits=6) == short


@pytest.mark.parametrize("value, places, text", [(F(1, 8), 6, "0.125"), (F(-1, 8), None, "-0.125"), (F(7), 0, "7"),
                                                 (F(1, 2 ** 7), 6, None), (F(1, 3), None, None), (F(-3, 50), 2, "-0.06")])
def test_terminating_decimals_feed_the_reports(value, places, text):
    assert terminating_decimal(value, places) == text
    if places == 6:  # the report printers and figure cells write the same text
        assert mathprint.decimal(sp.Rational(value.numerator, value.denominator)) == text
        shown = text or f"{value.numerator}/{value.denominator}"
        assert figures.number_text(sp.Rational(value.numerator, value.denominator)) == shown.replace("-", "\u2212")


@pytest.mark.parametrize("text, value", [("1e-5", 1e-5), ("0.1", 0.1), (" 2.5 ", 2.5), ("1/4", 0.25)])
def test_the_cli_reads_parameter_numbers_with_the_case_file_parser(text, value):
    assert cli._param_value(text) == value == float(parse_number(text))


@pytest.mark.parametrize("text", ["1e400", "1/0", "0x10"])
def test_the_cli_refuses_what_the_case_file_parser_refuses(text):
    with pytest.raises(cli.argparse.ArgumentTypeError, match="is not an int, a comma-separated list of ints"):
        cli._param_value(text)


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="fractions='percent' is not allowed"):
        format_number(F(1, 2), fractions="percent")
