"""Grading results as text, as one JSON document, as Gradescope's results.json or as JUnit XML."""
from __future__ import annotations

from pathlib import Path

from .. import mistakes
from ..number_text import format_number
from . import slips


def _score(results):
    return sum(r.score for r in results), sum(len(r.quantities) for r in results)


def to_json(results) -> dict:
    """{"exercises": [{"id", "quantities": [{"name", "correct", "wrong_entries", "mistake"}]}], "score", "max_score"}"""
    score, max_score = _score(results)
    return {"exercises": [{"id": r.id, "quantities": [
        {"name": q.name, "correct": q.correct, "wrong_entries": q.wrong_entries, "mistake": q.mistake}
        for q in r.quantities]} for r in results], "score": score, "max_score": max_score}


GRADESCOPE_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "visibility",
                   "stdout_visibility", "tests"}
GRADESCOPE_TEST_KEYS = {"name", "number", "score", "max_score", "status", "output", "output_format", "tags",
                        "visibility"}


def to_gradescope(results, execution_time: float | None = None) -> dict:
    """Gradescope autograder results.json: a test per quantity ("<exercise id>: <quantity>", a point each)
    with the exercise's ``visibility``, its text in ``output`` and the ids of the mistake and slips it shows
    in ``tags``; ``execution_time`` in seconds (Gradescope's keys: GRADESCOPE_KEYS, GRADESCOPE_TEST_KEYS)."""
    score, max_score = _score(results)
    tests = []
    for r in results:
        for q in r.quantities:
            tests.append({"name": f"{r.id}: {q.name}", "number": f"{len(tests) + 1}", "score": int(q.correct),
                          "max_score": 1, "status": "passed" if q.correct else "failed",
                          "output": "\n".join(_quantity_lines(q)).strip(), "output_format": "text",
                          "tags": q.names, "visibility": r.visibility})
    doc = {"score": score, "output": f"{score}/{max_score} answers right", "output_format": "text",
           "test_output_format": "text", "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}
    if execution_time is not None:
        doc["execution_time"] = max(0, round(execution_time))  # Gradescope's is whole seconds
    return doc


def to_junit(results) -> str:
    """JUnit XML: a test suite per exercise, a test case per quantity; a wrong quantity is a failure whose
    type is the mistake or slip ids it shows ("wrong" when none is named) and whose text is the report's."""
    from ..junit import Case, Suite, to_xml

    suites = []
    for r in results:
        suite = Suite(r.id)
        for q in r.quantities:
            case = Case(q.name, f"{Path(r.path).stem}.{r.id}")
            if not q.correct:
                lines = _quantity_lines(q)
                case.failure = (",".join(q.names) or "wrong", lines[0].strip(), "\n".join(lines))
            suite.cases.append(case)
        suites.append(suite)
    score, max_score = _score(results)
    return to_xml(f"gradcheck grade: {score}/{max_score} answers right", suites)


def gradescope_failure(reason: str) -> dict:
    """Gradescope's results.json for a submission that could not be graded: score 0 and the reason, one line."""
    return {"score": 0, "output": " ".join(reason.split()), "visibility": "visible", "tests": []}


def _entry(e, shown=None) -> str:
    where = "" if e["index"] is None else f"[{', '.join(map(str, e['index']))}]  " if e["index"] else ""
    line = (f"    {where}expected {shown if shown is not None else format_number(e['expected'])}  "
            f"given {format_number(e['given'])}")
    if "slip" in e:
        line += f"  ({slip_text(e['slip'])})"
    return line


def slip_text(slip: dict) -> str:
    """One line naming a slip: 'digits_transposed: 0.5238 is 0.2538 with two adjacent digits swapped'."""
    return str(slips.Slip(slip["id"], slip["intended"], slip["written"]))


def _quantity_lines(q) -> list[str]:
    if q.correct:
        head = f"  {q.name}: right ({q.tolerance})"
    else:
        detail = q.note or f"{len(q.wrong_entries)} of {q.n_entries} entries wrong"
        head = f"  {q.name}: WRONG ({q.tolerance}): {detail}"
    if q.accepted:
        head += (f"; {len(q.accepted)} of {q.n_entries} entries agree only when every intermediate is rounded to "
                 "the precision written, which the case file accepts")
    lines = [head]
    for i, e in enumerate(q.wrong_entries[:20]):
        lines.append(_entry(e, q.shown[i] if i < len(q.shown) else None))
    if len(q.wrong_entries) > 20:
        lines.append(f"    ... and {len(q.wrong_entries) - 20} more")
    if q.mistake:
        lines.append(f"    this is the mistake: {mistakes.describe([q.mistake])}")
    return lines


def to_text(results, check_expected: bool = False) -> str:
    lines, path = [], None
    for r in results:
        if r.path != path:
            lines.append(f"{r.path}")
            path = r.path
        lines.append(f" {r.id}: {r.score}/{len(r.quantities)}")
        for q in r.quantities:
            lines += _quantity_lines(q)
            if q.expect is not None:
                verdict = "flagged, as the case file expects" if q.as_expected else "NOT as the case file expects"
                expect = ", ".join(q.expect) if isinstance(q.expect, list) else q.expect
                lines.append(f"    expected outcome: {expect} ({verdict})")
    score, max_score = _score(results)
    lines.append(f"score {score}/{max_score}")
    if check_expected:
        unmet = [f"{r.id} {q.name}" for r in results for q in r.quantities if not q.as_expected]
        lines.append(f"expected outcomes: {'all met' if not unmet else 'NOT met for ' + ', '.join(unmet)}")
    return "\n".join(lines)
