"""Validating answers to course exercises: case files (TOML), per-entry grading, named mistakes.

>>> from gradcheck.grading import load_cases, grade
>>> text = '''
... [[exercise]]
... id = "tiny"
... layer = "conv2d"
... given = { x = [[1, 2], [3, 4]], w = [[1]], grad_out = [[1, 0], [0, 1]] }
... claimed = { out = [[1, 2], [3, 4]], grad_w = [[4]] }
... '''
>>> [(q.name, q.correct) for q in grade(load_cases("tiny.toml", text)[0]).quantities]
[('out', True), ('grad_w', False)]
"""
from .casefile import CaseFileError, Exercise, load_answers, load_cases
from .grade import ExerciseResult, QuantityResult, grade
from .report import to_gradescope, to_json, to_junit, to_text
from .slips import SLIPS
from . import prairielearn  # noqa: E402  (prairielearn.grade(data, cases, exercise): PrairieLearn's grade(data))

__all__ = ["SLIPS", "CaseFileError", "Exercise", "ExerciseResult", "QuantityResult", "grade", "load_answers",
           "load_cases", "prairielearn", "to_gradescope", "to_json", "to_junit", "to_text"]
