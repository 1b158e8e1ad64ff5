"""Grading: every asked quantity compared entry by entry, wrong ones traced to a catalogued mistake.

Diagnosis recomputes the exercise under each mistake of the shared catalogue (``gradcheck.mistakes``): a
mistake's ``predict`` replaces what one layer computes (its output, shape or gradients; the pseudo-layer
``sgd`` replaces the update rule), the chain is rerun from there, and a wrong answer that the mistaken
run reproduces within the exercise's tolerance is named by that mistake's id. Where several explain it,
the one explaining most of the wrong answers (and spoiling fewest right ones) wins: a student who
forgot the ReLU mask gets every downstream gradient named ``relu_mask_missing``.

Conceptual mistakes take precedence; a wrong quantity none explains has each wrong entry checked for an
arithmetic slip (``gradcheck.grading.slips``: digits swapped, a digit dropped, rounded intermediates, ...),
named only when it reproduces the number exactly as written.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import mistakes
from ..errors import GradcheckError
from . import values
from . import slips as slip_rules
from .casefile import SHAPE_QUANTITIES, CaseFileError, Exercise, check_answer
from .network import Injection, SGDStep, align, strip_ones


@dataclass
class QuantityResult:
    name: str
    correct: bool
    tolerance: str
    wrong_entries: list = field(default_factory=list)   # {"index", "expected", "given", "tolerance"}
    mistake: str | None = None
    n_entries: int = 1
    note: str = ""                                     # "not answered", a shape mismatch, ...
    expect: str | list | None = None                   # what the case file expects: None (right), "wrong", id(s)
    shown: list = field(default_factory=list)          # per wrong entry: the expected value as printed
    accepted: list = field(default_factory=list)       # entries right only with rounded intermediates (allowed)

    @property
    def names(self) -> list[str]:
        """The catalogued mistake, or the slips of its entries (ids, in order, once each)."""
        found = [self.mistake] if self.mistake else []
        return list(dict.fromkeys(found + [e["slip"]["id"] for e in self.wrong_entries + self.accepted
                                           if "slip" in e]))

    @property
    def as_expected(self) -> bool:
        if self.expect is None:
            return self.correct
        if self.correct:
            return False
        wanted = self.expect if isinstance(self.expect, list) else [self.expect]
        return wanted == ["wrong"] or set(wanted) == set(self.names)


@dataclass
class ExerciseResult:
    id: str
    path: str
    quantities: list
    visibility: str = "visible"   # Gradescope's, for this exercise's tests (the case file's `visibility`)

    @property
    def score(self) -> int:
        return sum(q.correct for q in self.quantities)


def grade(exercise: Exercise, answers: dict | None = None, answers_path=None) -> ExerciseResult:
    """Grade the case file's own ``claimed`` answers, or a student's ``answers`` ({address: raw value})."""
    given_raw = exercise.claimed if answers is None else answers
    if answers is not None:
        extra = [a for a in answers if a not in exercise.asked]
        if extra:
            raise CaseFileError(answers_path, exercise.id, extra[0],
                                f"this exercise does not ask for it; it asks for {', '.join(exercise.asked)}")
    given = {a: check_answer(a, v, lambda m, a=a: CaseFileError(answers_path or exercise.path, exercise.id, a, m))
             for a, v in given_raw.items() if a in exercise.asked}
    results = []
    for address in exercise.asked:
        tol = exercise.tolerance(address)
        if address not in given:
            result = QuantityResult(address, False, str(tol), note="not answered")
        else:
            result = compare(address, given[address], exercise.expected[address], tol)
        result.expect = exercise.expect.get(address) if answers is None else None
        results.append(result)
    wrong = {r.name: given[r.name] for r in results if not r.correct and r.name in given}
    if wrong:
        right = [r.name for r in results if r.correct]
        for address, mistake_id in diagnose(exercise, wrong, right).items():
            next(r for r in results if r.name == address).mistake = mistake_id
        name_slips(exercise, [r for r in results if r.name in wrong and not r.mistake], given_raw)
    return ExerciseResult(exercise.id, exercise.path, results, exercise.visibility)


def name_slips(exercise: Exercise, results: list, raw: dict) -> None:
    """Each wrong entry of ``results`` (quantities no conceptual mistake explains) that is a slip gets
    ``entry["slip"]``; with ``accept_rounded_intermediates`` an entry rounded intermediates explain is
    moved to ``accepted``, and a quantity left with no wrong entry is right."""
    runs: dict = {}

    def rounded_run(places):
        if places not in runs:
            try:
                runs[places] = exercise.chain.run_rounded(exercise.data, exercise.lr, places)
            except Exception:  # noqa: BLE001  (nothing to recompute, e.g. a shapes-only exercise)
                runs[places] = {}
        return runs[places]

    for r in results:
        quantity = r.name.rpartition(".")[2]
        if quantity == "out_shape" or any(e["index"] is None for e in r.wrong_entries):
            continue  # a shape mismatch has no entries to read
        answer_shape = np.shape(np.asarray(raw[r.name], dtype=object))
        aligned = align(np.asarray(exercise.expected[r.name]), answer_shape)
        for e in list(r.wrong_entries):
            index = tuple(e["index"])

            def rounded(places, index=index):
                value = rounded_run(places).get(r.name)
                value = None if value is None else align(np.asarray(value), answer_shape)
                return None if value is None else value[index]

            counting = quantity == "n_params"  # a count is exact and has no chain to round
            slip = slip_rules.explain(_at(raw[r.name], index), aligned[index],
                                      values.Tolerance() if counting else exercise.tolerance(r.name),
                                      None if counting else rounded)
            if slip is None:
                continue
            e["slip"] = {"id": slip.kind, "intended": slip.intended, "written": slip.written}
            if slip.kind == "rounded_intermediates" and exercise.accept_rounded:
                i = r.wrong_entries.index(e)
                r.accepted.append(r.wrong_entries.pop(i))
                if r.shown:
                    r.shown.pop(i)
        if r.accepted and not r.wrong_entries:
            r.correct = True


def _at(raw, index):
    """The answer's entry at ``index`` (in the answer's own shape), as read from the file."""
    for i in index:
        raw = raw[i]
    return raw


def compare(address: str, given, expected, tol: values.Tolerance) -> QuantityResult:
    quantity = address.rpartition(".")[2]
    if quantity == "n_params":
        ok = given == expected
        entries = [] if ok else [{"index": [], "expected": expected, "given": given, "tolerance": "exact"}]
        return QuantityResult(address, ok, "exact", entries)
    if quantity == "out_shape":
        e, g = strip_ones(expected), strip_ones(given)
        if len(e) != len(g):
            return QuantityResult(address, False, "exact", [{"index": None, "expected": list(expected),
                                                             "given": list(given), "tolerance": "exact"}],
                                  n_entries=len(expected), note=f"shape {tuple(expected)}, given {tuple(given)}")
        entries = [{"index": [i], "expected": a, "given": b, "tolerance": "exact"}
                   for i, (a, b) in enumerate(zip(e, g)) if a != b]
        return QuantityResult(address, not entries, "exact", entries, n_entries=len(e))
    expected = np.asarray(expected)
    aligned = align(expected, given.shape)
    if aligned is None:
        return QuantityResult(address, False, str(tol), [{"index": None, "expected": f"shape {expected.shape}",
                                                          "given": f"shape {given.shape}", "tolerance": str(tol)}],
                              n_entries=expected.size,
                              note=f"the answer has shape {given.shape}, the quantity {expected.shape}")
    ok = tol.close(given, aligned)
    wrong = list(zip(*np.nonzero(~ok)) if ok.ndim else [()] * (not ok))
    entries = [{"index": [int(i) for i in index], "expected": values.as_json(aligned[index]),
                "given": values.as_json(given[index]), "tolerance": str(tol)} for index in wrong]
    return QuantityResult(address, bool(ok.all()), str(tol), entries, n_entries=int(aligned.size),
                          shown=[values.show(aligned[index], tol) for index in wrong])


def _matches(address, given, value, tol) -> bool:
    try:
        return compare(address, given, value, tol).correct
    except (GradcheckError, ValueError, TypeError, ArithmeticError):
        return False


def _candidate_runs(exercise: Exercise, want_shapes: bool, want_values: bool):
    """(mistake id, quantities) for every catalogued mistake that can be made somewhere in the exercise."""
    chain, expected = exercise.chain, exercise.expected
    for k, stage in enumerate(chain.stages):
        layer = stage.layer
        for m in mistakes.for_layer(layer.name):
            shape_kind = m.kind == "shape"
            if (shape_kind and not want_shapes) or (not shape_kind and not want_values):
                continue
            try:
                if shape_kind:  # shape mistakes read shapes only: zero-strided stand-ins, no memory
                    shapes = expected["_shapes"][k]
                    arrays = {n: np.broadcast_to(np.zeros((), np.int64), s) for n, s in shapes.items()}
                    predictions = m.predict(layer, arrays, None)
                else:
                    arrays, g = expected["_arrays"][k], expected["_upstream"][k]
                    out = expected[stage.address("out")]
                    predictions = m.predict(layer, arrays, g if g is not None else np.zeros_like(out))
            except Exception:  # noqa: BLE001  (a mistake that cannot be made on this configuration)
                continue
            for prediction in predictions:
                local = {stage.address(n): v for n, v in prediction.items() if v is not None}
                if m.kind == "answer":  # how an answer was written down: nothing downstream changes
                    yield m.id, {**expected, **local}
                    continue
                try:
                    inject = Injection(k, dict(prediction))
                    run = chain.shapes(exercise.shapes, inject) if shape_kind else chain.run(
                        exercise.data, exercise.lr, inject)
                except Exception:  # noqa: BLE001  (e.g. an output of the wrong shape cannot be run on)
                    run = expected
                yield m.id, {**run, **local}
    if want_values and exercise.lr is not None:
        step = SGDStep(chain.rate(exercise.lr))
        for m in (m for m in mistakes.for_layer(step.name) if m.kind == "update"):  # not the "*" ones
            def update(w, grad, m=m):
                return m.predict(step, {"w": w, "grad_w": grad}, None)[0]["updated_w"]
            try:
                yield m.id, chain.run(exercise.data, exercise.lr, Injection(None, update=update))
            except Exception:  # noqa: BLE001
                continue


def diagnose(exercise: Exercise, wrong: dict, right: list) -> dict:
    """{wrong address: id of the catalogued mistake that reproduces it}."""
    shape_wrong = any(a.rpartition(".")[2] in SHAPE_QUANTITIES for a in wrong)
    value_wrong = any(a.rpartition(".")[2] not in SHAPE_QUANTITIES for a in wrong)
    scored = []
    for mistake_id, run in _candidate_runs(exercise, shape_wrong, value_wrong):
        explained = {a for a, v in wrong.items() if a in run and _matches(a, v, run[a], exercise.tolerance(a))}
        if not explained:
            continue
        spoiled = sum(1 for a in right if a in run and not _matches(a, _answer_like(exercise.expected[a]), run[a],
                                                                    exercise.tolerance(a)))
        scored.append((len(explained), -spoiled, mistake_id, explained))
    found = {}
    for _, _, mistake_id, explained in sorted(scored, key=lambda s: (-s[0], -s[1])):
        for address in explained:
            found.setdefault(address, mistake_id)
    return found


def _answer_like(value):
    return value if isinstance(value, (int, tuple)) else np.asarray(value)
