"""Issue 14's table: the exact check on float64 data (gradcheck.dyadic) against the same check on integer data
and against torch's slow gradcheck; and the full default check on fresh configurations, with an empty
persistent JAX cache and again from it (gradcheck.oracles.jax_cache).

Every gradcheck cell is the best of ``REPEATS`` cold runs (the sympy plan cleared before each), the rows taking
turns: on shared cores one run can be several times off. torch's slow mode runs once on the large case (≈ 20 s), best of
``REPEATS`` on the medium one.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

import gradcheck as gc
from gradcheck import symbolic
from gradcheck.oracles import jax_cache, jax_oracle

from . import fresh
from . import peers as P
from .measure import fmt_seconds, measure
from .table import CONV, markdown_row

REPEATS = 3
MEDIUM, LARGE = CONV[1], CONV[2]
ROWS = [  # (label, case, data)
    ("conv2d x (1,3,16,16) w (4,3,3,3) s1 p1, integer data", MEDIUM, "integer"),
    ("same shapes, the same integer values as float64 arrays", MEDIUM, "integer-valued float64"),
    ("same shapes, float64 data (standard normal)", MEDIUM, "float64"),
    ("conv2d x (2,8,32,32) w (8,8,3,3) s2 p1, float64 data (standard normal)", LARGE, "float64"),
]


def data(case, kind: str):
    inputs, g = case.data("float" if kind == "float64" else "integer")
    if kind == "integer-valued float64":
        inputs, g = [a.astype(np.float64) for a in inputs], g.astype(np.float64)
    return inputs, g


def exact_check(case, kind: str, repeats: int = REPEATS):
    """sympy = numpy on this data, the plan derived inside the timed call; best of ``repeats``."""
    layer = case.configured()
    inputs, g = data(case, kind)
    cells = []
    for _ in range(repeats):
        symbolic._PLANS.clear()
        cells.append(measure(gc.verify, layer, *inputs, grad_out=g, oracles=("sympy", "numpy")))
    cell = min(cells, key=lambda c: c.seconds)
    verdict = cell.result
    cell.note = ("" if verdict.ok and verdict.tolerances == {("sympy", "numpy"): 0.0} else
                 "DISAGREE" if not verdict.ok else "NOT EXACT")
    return cell


def torch_slow(case, repeats: int):
    cells = [P.torch_slow(case) for _ in range(repeats)]
    return cells[0] if isinstance(cells[0], str) else min(cells, key=lambda c: c.seconds)


def float_table(out=sys.stdout, reuse: dict | None = None) -> dict:
    """Print issue 14's rows 1–3 (and float64 data on the medium shapes) with torch's slow mode side by side.
    ``reuse``: torch slow cells already measured by the main table, by case label."""
    reuse = reuse or {}
    print("\nExact check (sympy = numpy, ==) on float64 data vs integer data and torch.autograd.gradcheck (slow):",
          file=out)
    print(markdown_row(["check", "gradcheck exact", "÷ integer data", "torch slow", "torch slow ÷ gradcheck"]),
          file=out)
    print(markdown_row(["---"] * 5), file=out, flush=True)
    torch_cells, results = {}, {}
    # The rows of one case are measured in turns (best of REPEATS turns each), so that a burst of load from
    # other jobs does not land on one row only and skew the ratio between them.
    turns = {}
    for _ in range(REPEATS):
        for label, case, kind in ROWS:
            cell = exact_check(case, kind, repeats=1)
            if label not in turns or cell.seconds < turns[label].seconds:
                turns[label] = cell
    for label, case, kind in ROWS:
        cell = turns[label]
        if case.label not in torch_cells:
            torch_cells[case.label] = reuse.get(case.label) or torch_slow(case, 1 if case is LARGE else REPEATS)
        slow = torch_cells[case.label]
        base = results.get((case.label, "integer"))
        results[(case.label, kind)] = cell
        ratio = slow.seconds / cell.seconds if not isinstance(slow, str) else None
        print(markdown_row([label, f"{fmt_seconds(cell.seconds)} {cell.note}".strip(),
                            f"{cell.seconds / base.seconds:.1f}×" if base else "—",
                            slow if isinstance(slow, str) else fmt_seconds(slow.seconds),
                            f"{ratio:.0f}×" if ratio else "—"]), file=out, flush=True)
    return {"cells": results, "torch": torch_cells}


def distinct_configs(n: int, seed: int = 0):
    """``n`` drawn conv2d examples (sides ≤ 8) that each need a JAX program of their own."""
    seen, chosen = set(), []
    for draws in (4 * n, 16 * n):
        for example in fresh._draw(draws, seed):
            arrays, _, g = example.layer.prepare(example.inputs, example.grad_out)
            key = (example.layer.key, tuple((k, v.shape) for k, v in arrays.items()))
            if key not in seen:
                seen.add(key)
                chosen.append(example)
        if len(chosen) >= n:
            return chosen[:n]
    return chosen


def _run_distinct(examples) -> dict:
    symbolic._PLANS.clear()
    jax_oracle._COMPILED.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    failed = sum(not gc.verify(e.layer, *e.inputs, grad_out=e.grad_out).ok for e in examples)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"checked": len(examples), "failed": failed, "wall": wall, "cpu": cpu, "rate": len(examples) / wall}


def fresh_rates(n: int = 60, out=sys.stdout) -> dict:
    """The full default check on fresh configurations: Hypothesis's draws as ``gradcheck verify`` makes them
    (``fresh.configs_per_second``) and ``n`` distinct configurations, each a new JAX program; first with an
    empty persistent JAX cache, then again as a second process would (in-memory plans and programs dropped,
    the persistent cache kept)."""
    saved = os.environ.get("GRADCHECK_CACHE_DIR")
    examples = distinct_configs(n)
    results = {}
    for what, check in [("drawn", lambda: fresh.configs_per_second(n)), ("distinct", lambda: _run_distinct(examples))]:
        with tempfile.TemporaryDirectory() as folder:
            os.environ["GRADCHECK_CACHE_DIR"] = folder  # never the user's own cache: the first run must be cold
            try:
                for run in ("empty cache", "second run"):
                    before = dict(jax_cache.stats)
                    results[(what, run)] = check()
                    results[(what, run)]["cache"] = {k: jax_cache.stats[k] - before[k] for k in before}
            finally:
                if saved is None:
                    os.environ.pop("GRADCHECK_CACHE_DIR", None)
                else:
                    os.environ["GRADCHECK_CACHE_DIR"] = saved
    print(f"\nFull default check (sympy + numpy + jax), fresh conv2d configurations (sides ≤ 8), JAX compilation "
          f"included:", file=out)
    for what, text in [("drawn", f"{n} Hypothesis draws"), ("distinct", f"{len(examples)} distinct configurations")]:
        cells = []
        for run in ("empty cache", "second run"):
            r = results[(what, run)]
            cells.append(f"{run}: {r['rate']:.0f}/s wall ({r['checked'] / r['cpu']:.0f}/s of CPU time)"
                         + (f", {r['failed']} DISAGREED" if r["failed"] else ""))
        first, second = (results[(what, run)]["cache"] for run in ("empty cache", "second run"))
        print(f"  {text:32} " + "; ".join(cells) + f"  [JAX programs compiled {first['misses']}, then loaded "
              f"{second['hits']} and compiled {second['misses']}]", file=out, flush=True)
    return results
