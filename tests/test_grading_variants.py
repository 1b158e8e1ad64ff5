"""`gradcheck exercise new ... --student ID | --students IDS.txt`: a variant per student, with its answer key,
on which the grader still names mistakes."""
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from gradcheck import cli
from gradcheck.errors import ConfigError
from gradcheck.grading import grade, load_cases
from gradcheck.grading.exercise import class_variants, read_students, student_seed
from gradcheck.mistakes import CATALOGUE

CASES = Path(__file__).resolve().parent.parent / "cases"
STUDENTS = [f"s{i:03d}" for i in range(30)]


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _given(text):
    return text.split("[exercise.given]")[1].split("#")[0]


@pytest.mark.parametrize("source", [dict(layer="conv2d", stride=2), dict(source=CASES / "network.toml")],
                         ids=["single-layer", "network"])
def test_every_student_gets_other_numbers_the_same_ones_again_and_a_key_that_grades_right(source):
    variants = class_variants(STUDENTS, **source)
    assert len({_given(key) for _, key in variants.values()}) == len(STUDENTS)
    assert class_variants(STUDENTS[:2], **source) == {s: variants[s] for s in STUDENTS[:2]}  # reproducible
    assert class_variants(STUDENTS[:1], seed=1, **source) != {STUDENTS[0]: variants[STUDENTS[0]]}  # class seed
    for student in STUDENTS[:3]:
        handout, key = variants[student]
        assert "[exercise.claimed]" not in handout and handout in key
        (ex,) = load_cases("key.toml", key)
        assert ex.id.endswith(f"-{student}") and all(q.correct for q in grade(ex).quantities)
        assert load_cases("handout.toml", handout)[0].asked == ex.asked


def test_the_grader_names_a_mistake_on_a_students_variant():
    # single layer: a student who did not rotate the filter
    (_, key), = class_variants(["ada"], layer="conv2d").values()
    (ex,) = load_cases("ada.toml", key)
    (wrong,) = CATALOGUE["filter_not_rotated"].predict(ex.chain.stages[0].layer, ex.expected["_arrays"][0],
                                                       ex.expected["_upstream"][0])
    result = {q.name: q for q in grade(ex, {"grad_x": np.asarray(wrong["grad_x"]).tolist()}).quantities}
    assert result["grad_x"].mistake == "filter_not_rotated"
    # a network: a student who added the gradient in the SGD step (w + η·dL/dw)
    (_, key), = class_variants(["ada"], source=CASES / "network.toml").values()
    (ex,) = load_cases("ada.toml", key)
    flipped = ex.data["fc2.w"] + Fraction(1, 2) * np.asarray(ex.expected["fc2.grad_w"], dtype=object)
    answer = [[float(v) for v in row] for row in flipped]
    result = {q.name: q for q in grade(ex, {"fc2.updated_w": answer}).quantities}
    assert result["fc2.updated_w"].mistake == "sgd_sign_flipped"


def test_students_file_into_a_folder_of_handouts_and_keys(tmp_path, capsys):
    (tmp_path / "ids.txt").write_text("ada  # the first\n\nbob\n")
    code, out, _ = run(capsys, "exercise", "new", CASES / "pooling.toml", "--exercise", "max-pool-2x2-backward",
                       "--students", tmp_path / "ids.txt", "--output", tmp_path / "class")
    assert code == 0 and sorted(p.name for p in (tmp_path / "class").iterdir()) == [
        "ada.key.toml", "ada.toml", "bob.key.toml", "bob.toml"]
    assert run(capsys, "grade", tmp_path / "class" / "bob.key.toml")[0] == 0
    code, out, _ = run(capsys, "exercise", "new", CASES / "pooling.toml", "--exercise", "max-pool-2x2-backward",
                       "--student", "bob")
    assert out == (tmp_path / "class" / "bob.key.toml").read_text()


@pytest.mark.parametrize("argv, message", [
    (["exercise", "new", "conv2d", "--student", "../etc"], "student id '../etc' is not allowed"),
    (["exercise", "new", "conv2d", "--student", "a", "--students", "x.txt"], "not both"),
    (["exercise", "new", str(CASES / "network.toml")], "drawn per student"),
    (["exercise", "new", str(CASES / "pooling.toml"), "--student", "a"], "choose one with --exercise"),
    (["exercise", "new", str(CASES / "network.toml"), "--student", "a", "--stride", "2"], "--stride: the layer"),
    (["exercise", "new", "conv2d", "--students", str(CASES / "network.toml")], "--output DIR"),
])
def test_bad_variant_requests_are_one_line_exit_2(argv, message, capsys):
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_student_ids_file_is_checked(tmp_path):
    (tmp_path / "ids.txt").write_text("ada\nbob\nada\n")
    with pytest.raises(ConfigError, match="'ada' is listed twice"):
        read_students(tmp_path / "ids.txt")
    assert student_seed("ada") == student_seed("ada") != student_seed("ada", 1) != student_seed("bob")
