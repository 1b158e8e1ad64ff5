"""PrairieLearn: grade a question's submission from the same case files, PrairieLearn's way.

A PrairieLearn question's ``server.py`` defines ``grade(data)``; with gradcheck it is::

    from pathlib import Path
    from gradcheck.grading import prairielearn

    def grade(data):
        prairielearn.grade(data, Path(__file__).parent / "network.toml", "lecture-network-sgd-step")

The answer of each quantity is read from ``data["submitted_answers"][address]`` (the element's
``answers-name`` is the quantity's address: ``grad_w``, ``fc2.updated_w``); where
``data["raw_submitted_answers"]`` holds the text the student typed (``0.2538``, ``[[0.1, 0.2], [0.3, 0.4]]``),
that text is read instead, as a TOML value — never evaluated — so digits are kept as written and slips can
be named. Set on ``data``, PrairieLearn's convention:

- ``data["partial_scores"][address] = {"score": 0 or 1, "weight": 1, "feedback": the quantity's report}``
  for every quantity the exercise asks (one not submitted scores 0, "not answered");
- ``data["score"]``: the fraction of quantities right (0 to 1);
- ``data["feedback"][address]``: the quantity's report, ``data["feedback"]["gradcheck"]``: the whole report,
  ``data["feedback"]["mistakes"]``: {address: [mistake and slip ids]};
- ``data["format_errors"][address]``: an answer that is not a number or an array of numbers (one line, as
  ``gradcheck grade`` says it); PrairieLearn then asks the student to fix it instead of grading.
"""
from __future__ import annotations

from ..errors import ConfigError
from .casefile import CaseFileError, check_answer, load_cases, parse_toml
from .grade import grade as grade_exercise
from .report import _quantity_lines, to_text


def grade(data: dict, cases, exercise: str | None = None) -> dict:
    """Grade ``data["submitted_answers"]`` against exercise ``exercise`` of case file ``cases`` (the only
    exercise when None); sets and returns ``data`` (see the module docstring)."""
    exercises = load_cases(cases)
    if exercise is None and len(exercises) != 1:
        raise ConfigError(f"{cases} holds {len(exercises)} exercises; name one: "
                          f"{', '.join(e.id for e in exercises)}")
    ex = next((e for e in exercises if exercise in (None, e.id)), None)
    if ex is None:
        raise ConfigError(f"{cases} has no exercise {exercise!r}; it has {', '.join(e.id for e in exercises)}")
    submitted = data.get("submitted_answers") or {}
    raw = data.get("raw_submitted_answers") or {}
    answers, errors = {}, data.setdefault("format_errors", {})
    for address in ex.asked:
        if address not in submitted and address not in raw:
            continue
        value = _read(raw.get(address), submitted.get(address))
        try:
            check_answer(address, value, lambda message: CaseFileError("the submission", ex.id, address, message))
        except CaseFileError as exc:
            errors[address] = str(exc).split(": ", 2)[-1]
            continue
        answers[address] = value
    if errors:  # PrairieLearn does not grade a submission with format errors; the student fixes them
        return data
    result = grade_exercise(ex, answers, "the submission")
    scores, feedback = data.setdefault("partial_scores", {}), data.setdefault("feedback", {})
    for q in result.quantities:
        text = "\n".join(line.strip() for line in _quantity_lines(q))
        scores[q.name] = {"score": float(q.correct), "weight": 1, "feedback": text}
        feedback[q.name] = text
    feedback["gradcheck"] = to_text([result])
    feedback["mistakes"] = {q.name: q.names for q in result.quantities if q.names}
    data["score"] = result.score / len(result.quantities)
    return data


def _read(text, parsed):
    """The answer as typed, read as a TOML value (decimals kept as written), or PrairieLearn's parsed value."""
    if isinstance(text, str) and text.strip():
        try:
            return parse_toml(f"answer = {text.strip()}\n", "the submission")["answer"]
        except CaseFileError:
            pass
    return parsed


__all__ = ["grade"]
