"""Grading results as text, as one JSON document, or as Gradescope's results.json."""
from __future__ import annotations

from .. import mistakes
from ..number_text import format_number


def _score(results):
    return sum(r.score for r in results), sum(len(r.quantities) for r in results)


def to_json(results) -> dict:
    """{"exercises": [{"id", "quantities": [{"name", "correct", "wrong_entries", "mistake"}]}], "score", "max_score"}"""
    score, max_score = _score(results)
    return {"exercises": [{"id": r.id, "quantities": [
        {"name": q.name, "correct": q.correct, "wrong_entries": q.wrong_entries, "mistake": q.mistake}
        for q in r.quantities]} for r in results], "score": score, "max_score": max_score}


def to_gradescope(results) -> dict:
    """Gradescope autograder results.json: one test per exercise, a point per quantity."""
    score, max_score = _score(results)
    tests = [{"name": r.id, "score": r.score, "max_score": len(r.quantities),
              "status": "passed" if r.score == len(r.quantities) else "failed",
              "output": "\n".join(line for q in r.quantities for line in _quantity_lines(q)), "visibility": "visible"} for r in results]
    return {"score": score, "output": f"{score}/{max_score} answers right", "visibility": "visible",
            "tests": tests}


def gradescope_failure(reason: str) -> dict:
    """Gradescope's results.json for a submission that could not be graded: score 0 and the reason, one line."""
    return {"score": 0, "output": " ".join(reason.split()), "visibility": "visible", "tests": []}


def _entry(e) -> str:
    where = "" if e["index"] is None else f"[{', '.join(map(str, e['index']))}]  " if e["index"] else ""
    return f"    {where}expected {format_number(e['expected'])}  given {format_number(e['given'])}"


def _quantity_lines(q) -> list[str]:
    if q.correct:
        head = f"  {q.name}: right ({q.tolerance})"
    else:
        detail = q.note or f"{len(q.wrong_entries)} of {q.n_entries} entries wrong"
        head = f"  {q.name}: WRONG ({q.tolerance}): {detail}"
    lines = [head]
    for e in q.wrong_entries[:20]:
        lines.append(_entry(e))
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
                lines.append(f"    expected outcome: {q.expect} ({verdict})")
    score, max_score = _score(results)
    lines.append(f"score {score}/{max_score}")
    if check_expected:
        unmet = [f"{r.id} {q.name}" for r in results for q in r.quantities if not q.as_expected]
        lines.append(f"expected outcomes: {'all met' if not unmet else 'NOT met for ' + ', '.join(unmet)}")
    return "\n".join(lines)
