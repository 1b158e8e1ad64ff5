"""``gradcheck grade`` and ``gradcheck exercise new``.

    gradcheck grade CASES.toml [CASES2.toml ...] [--answers STUDENT.toml] [--json | --format gradescope]
                    [--output FILE] [--expected]
    gradcheck exercise new LAYER [--param VALUE ...] [--seed S] [--output FILE]

``grade`` exits 0 when every graded answer is right (with ``--expected``: when every outcome is the one
the case file's ``expect`` table declares, so a lecture's known slip must be flagged), 1 otherwise, and 2
with one line naming file, exercise and key on a malformed file.
"""
from __future__ import annotations

import json
import sys

from .. import _io
from ..errors import ConfigError, GradcheckError
from .casefile import CaseFileError, load_answers, load_cases
from .grade import grade
from .report import gradescope_failure, to_gradescope, to_json, to_text


def add_parser(subparsers) -> None:
    g = subparsers.add_parser("grade", help="grade the answers to course exercises (case files)")
    g.add_argument("cases", nargs="+", help="case files (TOML)")
    g.add_argument("--answers", help="a student's answers (TOML: [exercise-id] quantity = answer); "
                                     "default: the case files' own `claimed` answers")
    g.add_argument("--json", action="store_true", help="print one JSON document (the same as --format json)")
    g.add_argument("--format", choices=("text", "json", "gradescope"),
                   help="text (default), json, or gradescope: Gradescope's autograder results.json, written "
                        "even when a file is malformed (score 0 and the reason)")
    g.add_argument("--output", help="write the result to FILE instead of stdout (e.g. /autograder/results/results.json)")
    g.add_argument("--expected", action="store_true",
                   help="exit 0 when every outcome is the one the case files `expect` (CI over cases/)")
    g.set_defaults(run=run)
    e = subparsers.add_parser("exercise", help="write a fresh exercise with its answer key")
    e.add_argument("action", choices=("new",))
    e.add_argument("layer", help="a registered layer")
    e.add_argument("--seed", type=_io.seed, default=0, help="random seed of the data (default 0)")
    e.add_argument("--output", help="write the case file to FILE instead of stdout")
    e.epilog = "Layer parameters are given as --name VALUE, e.g. --stride 2 --padding 1."
    e.set_defaults(run=run)


def run(args) -> int:
    if args.command == "exercise":
        from .exercise import new_exercise
        _check_output(args.output)
        return _write(new_exercise(args.layer, seed=args.seed, **getattr(args, "held", {})), args.output)
    if args.json and args.format not in (None, "json"):
        raise ConfigError(f"--json and --format {args.format} conflict: --json is --format json; give one")
    fmt = "json" if args.json else args.format or "text"
    _check_output(args.output)  # before grading: a bad --output is the grader's mistake, reported as such
    try:
        results = _grade(args)
        text = json.dumps(to_json(results), indent=1) if fmt == "json" else \
            json.dumps(to_gradescope(results), indent=1) if fmt == "gradescope" else to_text(results, args.expected)
    except Exception as exc:  # noqa: BLE001  (an autograder must never end without results)
        if fmt == "gradescope":  # the student still sees why: results.json with the one-line reason
            reason = str(exc) if isinstance(exc, GradcheckError) else \
                f"internal error while grading ({type(exc).__name__}: {exc}); please tell the course staff"
            _write(json.dumps(gradescope_failure(reason), indent=1), args.output)
        raise
    _write(text, args.output)
    if args.expected:
        return 0 if all(q.as_expected for r in results for q in r.quantities) else 1
    return 0 if all(q.correct for r in results for q in r.quantities) else 1


def _grade(args):
    answers = load_answers(args.answers) if args.answers else None
    exercises = [ex for path in args.cases for ex in load_cases(path)]
    if answers is not None:
        seen = {}
        for ex in exercises:
            if ex.id in seen:
                raise CaseFileError(ex.path, ex.id, "id", f"also in {seen[ex.id]}: answers are keyed by exercise id, "
                                                          "so ids must be unique across the case files")
            seen[ex.id] = ex.path
        for ident in answers:
            if ident not in seen:
                raise CaseFileError(args.answers, ident, None, f"no such exercise in {', '.join(args.cases)}")
    return [grade(ex, None if answers is None else answers.get(ex.id, {}), args.answers) for ex in exercises]


def _check_output(output) -> None:
    """Refuse an --output that cannot be written (a folder, a device, a missing folder) before any work."""
    if output:
        _io.writable(output)


def _write(text: str, output) -> int:
    if output:
        _io.write_atomic(output, text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0
