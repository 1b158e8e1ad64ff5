"""``gradcheck grade`` and ``gradcheck exercise new``.

    gradcheck grade CASES.toml [CASES2.toml ...] [--answers STUDENT.toml]
                    [--format text|json|gradescope|junit] [--json] [--output FILE] [--expected]
    gradcheck exercise new LAYER [--param VALUE ...] [--seed S] [--output FILE]
    gradcheck exercise new {LAYER | CASES.toml [--exercise ID]} {--student ID | --students IDS.txt}
                           [--seed S] [--output FILE | DIR]

``grade`` exits 0 when every graded answer is right (with ``--expected``: when every outcome is the one
the case file's ``expect`` table declares, so a lecture's known slip must be flagged), 1 otherwise, and 2
with one line naming file, exercise and key on a malformed file.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from .. import _io
from ..errors import ConfigError, GradcheckError
from .casefile import CaseFileError, load_answers, load_cases
from .grade import grade
from .report import gradescope_failure, to_gradescope, to_json, to_junit, to_text

FORMATS = ("text", "json", "gradescope", "junit")


class _FormatAction(argparse.Action):
    """``--format F`` and its alias ``--json`` (= ``--format json``) are one option, ``format``; each use is
    recorded, so that two different formats are one error (not the last one silently winning)."""

    def __call__(self, parser, namespace, values, option_string=None):
        chosen = values if isinstance(values, str) else self.const
        namespace.format = chosen
        namespace.formats = [*namespace.formats, (option_string, chosen)]


def add_parser(subparsers) -> None:
    g = subparsers.add_parser("grade", help="grade the answers to course exercises (case files)")
    g.add_argument("cases", nargs="+", help="case files (TOML)")
    g.add_argument("--answers", help="a student's answers (TOML: [exercise-id] quantity = answer); "
                                     "default: the case files' own `claimed` answers")
    g.set_defaults(format=None, formats=[])
    g.add_argument("--format", choices=FORMATS, action=_FormatAction,
                   help="text (default); json; gradescope: Gradescope's autograder results.json, written even "
                        "when a file is malformed (score 0 and the reason); junit: JUnit XML for CI")
    g.add_argument("--json", nargs=0, action=_FormatAction, const="json", help="the same as --format json")
    g.add_argument("--output", help="write the result to FILE instead of stdout (e.g. /autograder/results/results.json)")
    g.add_argument("--expected", action="store_true",
                   help="exit 0 when every outcome is the one the case files `expect` (CI over cases/)")
    g.set_defaults(run=run)
    e = subparsers.add_parser("exercise", help="write a fresh exercise with its answer key")
    e.add_argument("action", choices=("new",))
    e.add_argument("layer", help="a registered layer, or a case file (.toml) whose exercise (single-layer or "
                                 "network) is drawn anew per student")
    e.add_argument("--exercise", metavar="ID", help="the exercise of the case file (needed when it holds several)")
    e.add_argument("--student", metavar="ID", help="one student's variant (data seeded by the id and --seed)")
    e.add_argument("--students", metavar="IDS.txt", help="a variant per student id (one a line) into "
                                                        "--output DIR: ID.toml to hand out, ID.key.toml to grade")
    e.add_argument("--seed", type=_io.seed, default=0, help="random seed of the data (default 0); with students, "
                                                           "the class's seed, mixed with each id")
    e.add_argument("--output", help="write the case file to FILE instead of stdout (with --students: a folder)")
    e.epilog = "Layer parameters are given as --name VALUE, e.g. --stride 2 --padding 1."
    e.set_defaults(run=run)


def run(args) -> int:
    if args.command == "exercise":
        return _exercise(args)
    if len({f for _, f in args.formats}) > 1:
        (flag, first), (other, second) = args.formats[0], next(f for f in args.formats if f[1] != args.formats[0][1])
        if "--json" in (flag, other):
            shown = second if flag == "--json" else first
            raise ConfigError(f"--json and --format {shown} conflict: --json is --format json; give one")
        raise ConfigError(f"--format {first} and --format {second} conflict; give one")
    fmt = args.format or "text"
    _check_output(args.output)  # before grading: a bad --output is the grader's mistake, reported as such
    try:
        start = time.perf_counter()
        results = _grade(args)
        text = json.dumps(to_json(results), indent=1) if fmt == "json" else \
            json.dumps(to_gradescope(results, time.perf_counter() - start), indent=1) if fmt == "gradescope" else \
            to_junit(results) if fmt == "junit" else to_text(results, args.expected)
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


def _exercise(args) -> int:
    from .exercise import check_student, class_variants, new_exercise, read_students

    held = getattr(args, "held", {})
    args.source = args.layer if args.layer.endswith(".toml") else None
    args.layer = None if args.source else args.layer
    if args.exercise and not args.source:
        raise ConfigError("--exercise names an exercise of a case file: give the case file (.toml), not a layer")
    if args.student and args.students:
        raise ConfigError("give --student ID or --students IDS.txt, not both")
    if not (args.student or args.students):
        if args.source:
            raise ConfigError(f"{args.source}: variants of a case file are drawn per student: give --student ID "
                              "or --students IDS.txt")
        _check_output(args.output)
        return _write(new_exercise(args.layer, seed=args.seed, **held), args.output)
    if args.student:
        _check_output(args.output)
        ((_, key),) = class_variants([check_student(args.student)], layer=args.layer, source=args.source,
                                     exercise=args.exercise, seed=args.seed, **held).values()
        return _write(key.rstrip("\n"), args.output)
    if not args.output:
        raise ConfigError("--students writes two files per student: give --output DIR")
    students = read_students(args.students)
    variants = class_variants(students, layer=args.layer, source=args.source, exercise=args.exercise,
                              seed=args.seed, **held)
    folder = _io.folder(args.output)
    for student, (handout, key) in variants.items():
        _io.write_atomic(_io.safe_path(folder, f"{student}.toml"), handout)
        _io.write_atomic(_io.safe_path(folder, f"{student}.key.toml"), key)
    print(f"{len(variants)} variants in {folder}: ID.toml to hand out, ID.key.toml to grade "
          f"(gradcheck grade {folder}/ID.key.toml --answers ANSWERS.toml)")
    return 0


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
