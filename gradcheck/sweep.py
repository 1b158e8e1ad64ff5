"""Bounded-exhaustive sweeps: every configuration within bounds (not a random sample), for nightly runs.

    gradcheck sweep conv2d --max-side 5 [--jobs 2] [--results sweep-conv2d.jsonl] [--backward mymod:fn]

Configurations are enumerated in a fixed order; each gets small-integer data from a seed derived from its
position, runs through the oracles (or a user's backward against the exact SymPy oracle) in a pool of
worker processes, and is appended to a JSON-lines results file as soon as it finishes. Re-running the
same command skips what the file already holds, so an interrupted sweep resumes where it stopped.
"""
from __future__ import annotations

import importlib
import itertools
import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConfigError, GradcheckError
from .layers import layer as make_layer


@dataclass(frozen=True)
class Case:
    """One configuration of a sweep: a stable id, the layer parameters and the input shapes."""

    id: str
    layer: str
    params: dict
    shapes: dict


def conv_space(name: str, *, max_side: int, max_kernel: int = 3, max_stride: int = 3, max_dilation: int = 2,
               max_padding: int = 2):
    """Square conv configurations: sides 1..max_side, kernels, strides, dilations, paddings (ints,
    'same', 'valid'), channel layouts (C_in, C_out, groups) in (1,1,1), (2,3,1), (2,2,2); batch 2 with bias."""
    spatial = {"conv1d": 1, "conv2d": 2}[name]
    paddings = list(range(max_padding + 1)) + ["same", "valid"]
    for side, kernel, stride, dilation, padding, (c_in, c_out, groups) in itertools.product(
            range(1, max_side + 1), range(1, max_kernel + 1), range(1, max_stride + 1),
            range(1, max_dilation + 1), paddings, [(1, 1, 1), (2, 3, 1), (2, 2, 2)]):
        params = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        shapes = {"x": (2, c_in) + (side,) * spatial, "w": (c_out, c_in // groups) + (kernel,) * spatial,
                  "b": (c_out,)}
        try:
            make_layer(name, **params).check_shapes(shapes)
        except GradcheckError:
            continue  # outside the layer's domain (kernel larger than the padded input, ...)
        yield params, shapes


SPACES = {"conv1d": conv_space, "conv2d": conv_space}


def cases(name: str, **bounds) -> list[Case]:
    if name not in SPACES:
        raise ConfigError(f"no sweep space for layer {name!r}; layers with one: {', '.join(sorted(SPACES))}")
    found = []
    for params, shapes in SPACES[name](name, **bounds):
        key = ",".join(f"{k}={v}" for k, v in params.items()) + ";" + ",".join(
            f"{k}={'x'.join(map(str, v))}" for k, v in shapes.items())
        found.append(Case(f"{name}({key})", name, params, shapes))
    return found


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
