"""Bounded-exhaustive sweeps: every configuration within bounds (not a random sample), for nightly runs.

    gradcheck sweep conv2d --max-side 5 [--jobs 2] [--results sweep-conv2d.jsonl] [--backward mymod:fn]

Configurations are enumerated in a fixed order; each gets small-integer data from a seed derived from its
position, runs through the oracles (or a user's backward against the exact SymPy oracle) in a pool of
worker processes, and is appended to a JSON-lines results file as soon as it finishes. Re-running the
same command skips what the file already holds, so an interrupted sweep resumes where it stopped.
"""
from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, GradcheckError
from .layers import REGISTRY, layer as make_layer


@dataclass(frozen=True)
class Case:
    """One configuration of a sweep: a stable id, the layer parameters and the input shapes."""

    id: str
    layer: str
    params: dict
    shapes: dict


def cases(name: str, **bounds) -> list[Case]:
    with_space = sorted(n for n, cls in REGISTRY.items() if cls.sweep_space is not None)
    if name not in with_space:
        raise ConfigError(f"no sweep space for layer {name!r}; layers with one: {', '.join(with_space)}")
    found = []
    for params, shapes in _in_domain(name, REGISTRY[name].sweep_space(**bounds)):
        key = ",".join(f"{k}={v}" for k, v in params.items()) + ";" + ",".join(
            f"{k}={'x'.join(map(str, v))}" for k, v in shapes.items())
        found.append(Case(f"{name}({key})", name, params, shapes))
    return found


def _in_domain(name, candidates):
    """The candidates the layer accepts; the rest (a kernel larger than the padded input, ...) are skipped."""
    for params, shapes in candidates:
        try:
            make_layer(name, **params).check_shapes(shapes)
        except GradcheckError:
            continue
        yield params, shapes


def load_backward(spec: str):
    """``module:function`` -> the function (the module is imported from the current directory or sys.path)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"--backward {spec!r} is not allowed: give it as module:function")
    sys.path.insert(0, os.getcwd())
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"--backward {spec!r} could not be loaded: {exc}") from None


def _data(case: Case, seed: int):
    layer = make_layer(case.layer, **case.params)
    rng = np.random.default_rng(seed)
    inputs = [rng.integers(-3, 4, shape) for shape in case.shapes.values()]
    return layer, inputs, rng.integers(-3, 4, layer.output_shape(case.shapes))


def run_case(job) -> dict:
    """Worker: verify one case and return its JSON-serialisable result."""
    from .verify import verify

    case, seed, oracles, backward = job
    start = time.perf_counter()
    layer, inputs, grad_out = _data(case, seed)
    chosen = list(oracles) + ([load_backward(backward)] if backward else [])
    verdict = verify(layer, *inputs, grad_out=grad_out, oracles=chosen)
    result = {"id": case.id, "ok": verdict.ok, "seconds": round(time.perf_counter() - start, 4), "seed": seed}
    if not verdict.ok:
        result["verdict"] = str(verdict)
    return result


def _read_results(path: Path) -> dict[str, dict]:
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
                done[row["id"]] = row
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut short by an interrupted run: that case runs again
    return done


def sweep(name: str, *, results: Path, jobs: int, oracles, backward: str | None = None, progress=True, **bounds):
    """Run every case not yet in ``results``; returns (all results by id, number run now, seconds)."""
    if backward:
        load_backward(backward)  # fail now, with one clear message, not in every worker
    all_cases = cases(name, **bounds)
    done = _read_results(results)
    todo = [(c, i, tuple(oracles), backward) for i, c in enumerate(all_cases) if c.id not in done]
    start = time.perf_counter()
    with results.open("a") as out:
        bar = _progress(len(all_cases), len(all_cases) - len(todo), progress)
        if jobs > 1 and len(todo) > 1:
            context = multiprocessing.get_context("spawn")  # JAX is not fork-safe
            with context.Pool(jobs) as pool:
                _collect(pool.imap_unordered(run_case, todo, chunksize=4), out, done, bar)
        else:
            _collect(map(run_case, todo), out, done, bar)
        bar.close()
    ordered = {c.id: done[c.id] for c in all_cases if c.id in done}
    return ordered, len(todo), time.perf_counter() - start


def _collect(rows, out, done, bar):
    for row in rows:
        out.write(json.dumps(row) + "\n")
        out.flush()
        done[row["id"]] = row
        bar.update(1)
        if not row["ok"]:
            bar.set_postfix_str(f"FAILED {row['id']}", refresh=False)


def _progress(total, already, enabled):
    from tqdm import tqdm
    return tqdm(total=total, initial=already, unit="config", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True)
