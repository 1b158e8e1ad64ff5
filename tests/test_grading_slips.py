"""Arithmetic slips: named only when they reproduce the number exactly as written; conceptual mistakes first."""
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from gradcheck.grading import grade, load_answers, load_cases
from gradcheck.grading.slips import SLIPS, explain
from gradcheck.grading.values import Tolerance

CASES = Path(__file__).resolve().parent.parent / "cases"
D3, D4, EXACT = Tolerance("decimals", 3), Tolerance("decimals", 4), Tolerance()
DF = 0.25385820692913313  # the lecture network's dL/dF entries, exactly 0.253858...


@pytest.mark.parametrize("written, expected, tol, rounded, slip, intended", [
    # the lecture slide's five (graded at 3 decimals: its own right values differ from the exact ones by 2e-4)
    ("0.5238", DF, D3, None, "digits_transposed", "0.2538"),
    ("0.238", DF, D3, None, "digit_dropped", "0.2538"),
    ("0.625", 0.6525808429571291, D3, None, "digit_dropped", "0.6525"),
    ("-0.7678", -0.6788973794488157, D3, None, "digits_permuted", "-0.6787"),
    ("0.364", 0.36601927967629083, D3, None, "digit_dropped", "0.3664"),
    # each kind, on exact data
    ("0.735", Fraction(3, 8), EXACT, None, "digits_transposed", "0.375"),
    ("-0.375", Fraction(3, 8), EXACT, None, "sign_flipped", "0.375"),
    ("3.75", Fraction(3, 8), EXACT, None, "decimal_point_shifted", "0.375"),
    ("0.0375", Fraction(3, 8), EXACT, None, "decimal_point_shifted", "0.375"),
    ("0.3775", Fraction(3, 8), EXACT, None, "digit_repeated", "0.375"),
    ("0.35", Fraction(3, 8), EXACT, None, "digit_dropped", "0.375"),
    ("0.1254", Fraction(1, 8), EXACT, None, None, None),              # one digit more, none repeated
    ("0.5312", Fraction(1235, 10000), EXACT, None, "digits_permuted", "0.1235"),
    (48210, 48120, EXACT, None, "digits_transposed", "48120"),
    ("12", 120, EXACT, None, "decimal_point_shifted", "120"),
    # rounded intermediates: the chain's value with every intermediate rounded to the places written
    ("0.2538", DF, D4, lambda p: Fraction(2538, 10000), "rounded_intermediates", "0.2538"),
    ("0.5238", DF, D4, lambda p: Fraction(2538, 10000), "digits_transposed", "0.2538"),  # a slip on top of it
    ("0.5238", DF, D4, None, None, None),  # at 4 decimals 0.2538 is not right, so not a starting point
    # not slips: a different number; too few digits to tell a slip from chance; fractions are not digits
    ("0.3", Fraction(1, 5), Tolerance("decimals", 1), None, None, None),
    ("0.17", DF, D3, None, None, None),
    ("0.26", DF, D3, None, None, None),
    ("3/8", Fraction(-3, 8), EXACT, None, None, None),
    ("0", Fraction(3, 8), EXACT, None, None, None),
])
def test_a_slip_is_named_only_when_it_reproduces_the_written_number(written, expected, tol, rounded, slip,
                                                                     intended):
    raw = written if isinstance(written, int) else Decimal(written) if "/" not in written else written
    found = explain(raw, expected, tol, rounded)
    assert (found and (found.kind, found.intended)) == (slip and (slip, intended)), found
    assert found is None or found.kind in SLIPS


def test_slips_are_read_from_the_digits_written():
    # the same number written as a decimal (a TOML decimal or a string) or as a fraction: only digits slip
    assert explain(Decimal("0.238"), DF, D3).kind == explain("0.238", DF, D3).kind == "digit_dropped"
    assert explain("119/500", DF, D3) is None


def _graded(case_path, answers_text, ident):
    (ex,) = [e for e in load_cases(case_path) if e.id == ident]
    answers = load_answers("student.toml", answers_text)[ident]
    return {q.name: q for q in grade(ex, answers, "student.toml").quantities}


def test_the_lecture_slide_names_each_of_its_five_slips_and_flags_nothing_else():
    (ex,) = load_cases(CASES / "network-slide.toml")
    result = {q.name: q for q in grade(ex).quantities}
    wrong = {name: [(e["index"], e["slip"]["id"], e["slip"]["intended"]) for e in q.wrong_entries]
             for name, q in result.items() if not q.correct}
    assert wrong == {"conv.grad_w": [([0, 0], "digits_transposed", "0.2538"), ([1, 1], "digit_dropped", "0.2538")],
                     "fc1.updated_w": [([1, 0], "digit_dropped", "0.3664")],
                     "fc2.updated_w": [([1, 1], "digits_permuted", "-0.6787")],
                     "fc2.updated_b": [([0], "digit_dropped", "0.6525")]}
    assert all(q.as_expected for q in result.values())


NETWORK_ID = "lecture-network-sgd-step"
SLIDE_GRAD_W = "conv.grad_w = [[0.2538, 0.2538], [0.2538, 0.2538]]"  # 0.0846 + 0.1692, from rounded g


@pytest.mark.parametrize("accept, correct", [(False, False), (True, True)])
def test_rounded_intermediates_are_named_and_accepted_where_the_case_file_allows(accept, correct, tmp_path):
    text = (CASES / "network.toml").read_text()  # graded at 4 decimals: the exact 0.253858 is 0.2539
    if accept:
        text = text.replace("tolerance = { decimals = 4 }", "tolerance = { decimals = 4 }\n"
                                                            "accept_rounded_intermediates = true")
    (tmp_path / "n.toml").write_text(text)
    q = _graded(tmp_path / "n.toml", f"[{NETWORK_ID}]\n{SLIDE_GRAD_W}", NETWORK_ID)["conv.grad_w"]
    assert q.correct is correct and q.names == ["rounded_intermediates"]
    assert len(q.accepted if accept else q.wrong_entries) == 4


def test_a_conceptual_mistake_takes_precedence_over_a_slip():
    # w = 0: the SGD step with its sign flipped gives exactly -1 times the right update, which a sign slip
    # on every entry would also explain; the mistake is named, not the slips
    case = """[[exercise]]
id = "step"
layer = "linear"
lr = 1
given = { x = [[1, 2]], w = [[0, 0]], b = [0], grad_out = [[1]] }
ask = ["updated_w"]
"""
    (q,) = grade(load_cases("c.toml", case)[0], {"updated_w": [[1, 2]]}).quantities
    assert q.mistake == "sgd_sign_flipped" and q.names == ["sgd_sign_flipped"]
    assert not any("slip" in e for e in q.wrong_entries)
    (q,) = grade(load_cases("c.toml", case)[0], {"updated_w": [[-1, -20]]}).quantities
    assert q.mistake is None and [e["slip"]["id"] for e in q.wrong_entries] == ["decimal_point_shifted"]


@pytest.mark.parametrize("expect, met", [
    ('["digits_transposed", "digit_dropped"]', True),
    ('"wrong"', True),
    ('"digits_transposed"', False),                    # the answer also shows a dropped digit
    ('["digits_transposed", "sign_flipped"]', False),
])
def test_expect_names_every_slip_an_answer_shows(expect, met, tmp_path):
    text = (CASES / "network-slide.toml").read_text().replace(
        'conv.grad_w   = ["digits_transposed", "digit_dropped"]', f"conv.grad_w   = {expect}")
    (ex,) = load_cases("slide.toml", text)
    (q,) = [q for q in grade(ex).quantities if q.name == "conv.grad_w"]
    assert q.as_expected is met
