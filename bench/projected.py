"""The projected check (gc.verify_projected) at VGG16 conv1_2 size, side by side with torch's fast mode.

Rows: the exact check (integer data held as float64: exact mode, BLAS forward and backward) at 8 and 2 trials,
the float-data check, torch.autograd.gradcheck(fast_mode=True) on the same layer and float data, and the two
catalogued mistakes the issue names, each made by a backward at that size (gradient_not_dilated needs a
stride: conv1_2's shapes at stride 2).
"""
from __future__ import annotations

import numpy as np

import gradcheck as gc
from gradcheck.mistakes import CATALOGUE

from . import peers as P
from .measure import fmt_seconds, measure
from .peers import Case

CONV1_2 = Case("VGG16 conv1_2", "conv2d", {"stride": 1, "padding": 1},
               {"x": (1, 64, 224, 224), "w": (64, 64, 3, 3), "b": (64,)})
CONV1_2_S2 = Case("VGG16 conv1_2, stride 2", "conv2d", {"stride": 2, "padding": 1}, CONV1_2.shapes)


def _mistake(name):
    def backward(g, *inputs, **params):
        layer = gc.layer("conv2d", **params)
        wrong = CATALOGUE[name].predict(layer, dict(zip(layer.inputs, inputs)), g)[0]
        return tuple(wrong[f"grad_{n}"] for n in layer.inputs[:len(inputs)])
    return backward


def _integer_data(case):
    inputs, g = case.data("integer")
    return [a.astype(np.float64) for a in inputs], g.astype(np.float64)  # integer-valued float64: exact mode


def _row(label, cell, expect_ok):
    verdict = cell.result
    ok = bool(verdict)
    seen = "OK" if ok else "FAILED"
    if hasattr(verdict, "failed_trial") and not ok and verdict.failed_trial() is not None:
        seen += f" in trial {verdict.failed_trial().number} (wrong: {', '.join(verdict.failed_trial().wrong_inputs)})"
    flag = "" if ok == expect_ok else "  <-- UNEXPECTED"
    bound = getattr(verdict, "failure_bound", None)
    extra = f", wrong gradient passes with p ≤ {bound:.2g}" if ok and bound else ""
    print(f"| {label} | {fmt_seconds(cell.seconds)} | {seen}{extra}{flag} |", flush=True)
    return {"label": label, "seconds": cell.seconds, "ok": ok}


def run(quick: bool = False, case: Case = CONV1_2, strided: Case = CONV1_2_S2) -> list[dict]:
    """Print the table; ``case`` (stride 1) and ``strided`` (stride 2) are VGG16 conv1_2 unless a test asks."""
    layer = case.configured()
    print(f"\nProjected check, {case.label}: x {case.shapes['x']}, w {case.shapes['w']}, stride 1, padding 1 "
          "(time includes the backward being checked)")
    print("| check | time | verdict |\n| --- | --- | --- |")
    rows = []
    inputs, g = _integer_data(case)
    for trials in ((2,) if quick else (8, 2)):
        cell = measure(gc.verify_projected, layer, *inputs, grad_out=g, trials=trials, seed=0)
        rows.append(_row(f"gc.verify_projected, integer data, exact, {trials} trials", cell, True))
    floats, g_float = case.data("float")
    cell = measure(gc.verify_projected, layer, *floats, grad_out=g_float, trials=2 if quick else 8, seed=0)
    rows.append(_row(f"gc.verify_projected, float data, {2 if quick else 8} trials", cell, True))
    torch_cell = P.torch_fast(case)
    if isinstance(torch_cell, str):
        print(f"| torch.autograd.gradcheck(fast_mode=True), float data | {torch_cell} | — |")
    else:
        rows.append(_row("torch.autograd.gradcheck(fast_mode=True), float data", torch_cell, True))
    cell = measure(gc.verify_projected, layer, *inputs, grad_out=g, backward=_mistake("filter_not_rotated"), seed=0)
    rows.append(_row("filter_not_rotated backward, integer data", cell, False))
    s2 = strided.configured()
    inputs2, g2 = _integer_data(strided)
    cell = measure(gc.verify_projected, s2, *inputs2, grad_out=g2, backward=_mistake("gradient_not_dilated"), seed=0)
    rows.append(_row("gradient_not_dilated backward, stride 2, integer data", cell, False))
    return rows
