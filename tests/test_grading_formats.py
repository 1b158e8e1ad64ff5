"""The graders' formats, each produced here and checked against its documented shape: Gradescope's
results.json, JUnit XML (grade and sweep), PrairieLearn's grade(data), and --json = --format json."""
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gradcheck import cli
from gradcheck.errors import ConfigError
from gradcheck.grading import CaseFileError, load_cases, prairielearn
from gradcheck.junit import sweep_xml

CASES = Path(__file__).resolve().parent.parent / "cases"
SLIDE = CASES / "network-slide.toml"


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- Gradescope (https://gradescope-autograders.readthedocs.io/en/latest/specs/) ---------------------------
GRADESCOPE_TOP = {"score": (int, float), "execution_time": int, "output": str, "output_format": str,
                  "test_output_format": str, "visibility": str, "stdout_visibility": str, "tests": list}
GRADESCOPE_TEST = {"name": str, "number": str, "score": (int, float), "max_score": (int, float), "status": str,
                   "output": str, "output_format": str, "tags": list, "visibility": str}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
OUTPUT_FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def check_gradescope(doc):
    """Only Gradescope's documented keys, of their documented types and values."""
    assert set(doc) <= set(GRADESCOPE_TOP) and {"score", "tests"} <= set(doc)
    for key, value in doc.items():
        assert isinstance(value, GRADESCOPE_TOP[key]), key
    assert doc["visibility"] in VISIBILITY and doc["stdout_visibility"] in VISIBILITY
    assert doc["output_format"] in OUTPUT_FORMATS and doc["test_output_format"] in OUTPUT_FORMATS
    for test in doc["tests"]:
        assert set(test) <= set(GRADESCOPE_TEST) and {"name", "score", "max_score", "status"} <= set(test)
        for key, value in test.items():
            assert isinstance(value, GRADESCOPE_TEST[key]), key
        assert test["status"] in ("passed", "failed") and test["visibility"] in VISIBILITY
        assert test["output_format"] in OUTPUT_FORMATS and all(isinstance(t, str) for t in test["tags"])
        assert 0 <= test["score"] <= test["max_score"] and (test["status"] == "passed") == (test["score"] == 1)
    assert doc["score"] == sum(t["score"] for t in doc["tests"])


def test_gradescope_results_json_has_a_test_per_quantity_tagged_with_its_slips(tmp_path, capsys):
    text = SLIDE.read_text().replace('lr = 0.5', 'lr = 0.5\nvisibility = "after_due_date"')
    (tmp_path / "slide.toml").write_text(text)
    code, _, _ = run(capsys, "grade", tmp_path / "slide.toml", "--format", "gradescope",
                     "--output", tmp_path / "results.json")
    doc = json.loads((tmp_path / "results.json").read_text())
    check_gradescope(doc)
    assert code == 1 and doc["score"] == 13 and len(doc["tests"]) == 17 and doc["execution_time"] >= 0
    tags = {t["name"]: t["tags"] for t in doc["tests"] if t["tags"]}
    assert tags == {"lecture-network-summary-slide: conv.grad_w": ["digits_transposed", "digit_dropped"],
                    "lecture-network-summary-slide: fc1.updated_w": ["digit_dropped"],
                    "lecture-network-summary-slide: fc2.updated_w": ["digits_permuted"],
                    "lecture-network-summary-slide: fc2.updated_b": ["digit_dropped"]}
    assert {t["visibility"] for t in doc["tests"]} == {"after_due_date"}


def test_a_visibility_that_gradescope_does_not_know_is_refused():
    with pytest.raises(CaseFileError, match="key 'visibility': 'later' is not one of visible, hidden"):
        load_cases("c.toml", '[[exercise]]\nid = "c"\nlayer = "relu"\nvisibility = "later"\n'
                             'given.x = [[1]]\nclaimed.out = [[1]]')


# -- JUnit XML ---------------------------------------------------------------------------------------------
def check_junit(text):
    """testsuites / testsuite / testcase / failure|error, with the counts the attributes claim."""
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    total = {"tests": 0, "failures": 0, "errors": 0}
    for suite in root:
        assert suite.tag == "testsuite" and suite.get("name")
        cases = list(suite)
        assert all(c.tag == "testcase" and c.get("name") and c.get("classname") for c in cases)
        assert all(float(c.get("time")) >= 0 for c in cases)
        for c in cases:
            assert all(child.tag in ("failure", "error") and child.get("message") is not None and child.get("type")
                       for child in c)
        counts = {"tests": len(cases), "failures": sum(c.find("failure") is not None for c in cases),
                  "errors": sum(c.find("error") is not None for c in cases)}
        assert {k: int(suite.get(k)) for k in counts} == counts
        total = {k: total[k] + counts[k] for k in total}
    assert {k: int(root.get(k)) for k in total} == total
    return root


def test_grade_junit_has_a_suite_per_exercise_and_a_failing_case_per_wrong_quantity(capsys):
    code, out, _ = run(capsys, "grade", SLIDE, CASES / "conv-backward.toml", "--format", "junit")
    root = check_junit(out)
    assert code == 1 and [s.get("name") for s in root] == ["lecture-network-summary-slide", "conv-backward-3x3"]
    failures = {c.get("name"): c.find("failure").get("type") for c in root.iter("testcase") if c.find("failure") is not None}
    assert failures == {"conv.grad_w": "digits_transposed,digit_dropped", "fc1.updated_w": "digit_dropped",
                        "fc2.updated_w": "digits_permuted", "fc2.updated_b": "digit_dropped"}
    assert root.get("tests") == "19" and root.get("failures") == "4"


def test_sweep_junit_from_rows_marks_failures_and_errors():
    rows = {"a": {"id": "conv2d(stride=1;x=1x1x2x2)", "status": "ok", "seed": 1, "seconds": 0.5},
            "b": {"id": "conv2d(stride=2;x=1x1x3x3)", "status": "failed", "seed": 2, "seconds": 0.25,
                  "verdict": "grad_x: numpy != sympy\x07 at [0, 0]"},
            "c": {"id": "conv2d(stride=3;x=1x1x3x3)", "status": "timeout", "seed": 3, "seconds": 300.0},
            "d": {"id": "conv2d(stride=3;x=1x1x5x5)", "status": "crashed", "seed": 4, "seconds": 1.0,
                  "verdict": "worker exited with -9"}}
    root = check_junit(sweep_xml("conv2d", rows))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases[rows["b"]["id"]].find("failure").get("message") == "grad_x: numpy != sympy? at [0, 0]"
    assert cases[rows["c"]["id"]].find("error").get("type") == "timeout"
    assert cases[rows["d"]["id"]].find("error").get("type") == "crashed"
    assert root.get("time") == "301.750"


def test_sweep_writes_junit_beside_its_results(tmp_path, capsys):
    tiny = ["--max-side", "1", "--max-kernel", "1", "--max-stride", "1", "--max-dilation", "1", "--max-padding", "0"]
    code, out, _ = run(capsys, "sweep", "conv2d", *tiny, "--results", tmp_path / "r.jsonl", "--no-progress",
                       "--oracles", "numpy,sympy", "--junit", tmp_path / "sweep.xml")
    root = check_junit((tmp_path / "sweep.xml").read_text())
    rows = (tmp_path / "r.jsonl").read_text().splitlines()[1:]
    assert code == 0 and int(root.get("tests")) == len(rows) > 0 and root.get("failures") == "0"
    code, _, err = run(capsys, "sweep", "conv2d", *tiny, "--junit", tmp_path / "no" / "such" / "dir.xml")
    assert code == 2 and err.count("\n") == 1


# -- PrairieLearn ------------------------------------------------------------------------------------------
def check_prairielearn(data, asked):
    assert set(data["partial_scores"]) == set(asked)
    for ps in data["partial_scores"].values():
        assert set(ps) == {"score", "weight", "feedback"} and ps["score"] in (0.0, 1.0) and ps["weight"] == 1
        assert isinstance(ps["feedback"], str)
    assert 0 <= data["score"] <= 1 and isinstance(data["feedback"]["gradcheck"], str)
    assert data["score"] == sum(ps["score"] for ps in data["partial_scores"].values()) / len(asked)


def test_prairielearn_grade_reads_submitted_answers_and_sets_partial_scores_and_feedback():
    (ex,) = load_cases(SLIDE)
    data = {"submitted_answers": {"conv.grad_w": [[0.5238, 0.2538], [0.2538, 0.238]], "loss": 1.2213,
                                  "other-element": "ignored"},
            "raw_submitted_answers": {"conv.grad_w": "[[0.5238, 0.2538], [0.2538, 0.238]]", "loss": "1.2213"}}
    prairielearn.grade(data, SLIDE)
    check_prairielearn(data, ex.asked)
    assert data["partial_scores"]["loss"]["score"] == 1.0 and data["partial_scores"]["conv.grad_w"]["score"] == 0.0
    assert data["feedback"]["mistakes"] == {"conv.grad_w": ["digits_transposed", "digit_dropped"]}
    assert "not answered" in data["partial_scores"]["fc1.out"]["feedback"]
    assert data["score"] == 1 / len(ex.asked) and data["format_errors"] == {}


def test_prairielearn_a_malformed_answer_is_a_format_error_not_a_grade():
    data = {"submitted_answers": {"grad_w": "__import__('os')"}}
    prairielearn.grade(data, CASES / "conv-backward.toml")
    assert "is not a number" in data["format_errors"]["grad_w"] and "score" not in data


def test_prairielearn_needs_the_exercise_named_in_a_file_of_several():
    with pytest.raises(ConfigError, match="holds 9 exercises; name one"):
        prairielearn.grade({"submitted_answers": {}}, CASES / "pooling.toml")
    data = prairielearn.grade({"submitted_answers": {"out": [[20, 30], [112, 37]]}}, CASES / "pooling.toml",
                              "max-pool-2x2-forward")
    check_prairielearn(data, ["out"])
    assert data["score"] == 1.0


# -- one option -----------------------------------------------------------------------------------------
def test_json_is_the_same_option_as_format_json(capsys):
    as_alias = run(capsys, "grade", CASES / "conv-backward.toml", "--json")
    as_format = run(capsys, "grade", CASES / "conv-backward.toml", "--format", "json")
    both = run(capsys, "grade", CASES / "conv-backward.toml", "--format", "json", "--json")
    assert as_alias == as_format == both and as_alias[0] == 0
