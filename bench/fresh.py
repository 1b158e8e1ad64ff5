"""Throughput of the full default check on fresh small conv2d configurations, and how JAX should compile.

``configs_per_second``: Hypothesis draws conv2d configurations (sides ≤ 8) as ``gradcheck verify`` does,
and each is checked with the default oracles (sympy + numpy + jax); nothing is cached beforehand, so
every new configuration pays for deriving its plan and compiling its JAX program.

``jax_strategies``: the jax oracle's cost on the same drawn examples, four ways (see gradcheck/oracles/
jax_oracle.py for the conclusion): eager ``jax.vjp``; one ``jit`` per configuration and shape with XLA's
default pipeline; the same with the oracle's fast-compile options (what the oracle does); and how many
programs shape bucketing would leave (zero-padding sides to 8/16, channels per group to 4, batch to 2,
parameters static) — counted, not built, because it is only worth building if it merges many programs.
"""
from __future__ import annotations

import random
import sys
import time
from collections import Counter

import numpy as np

import gradcheck as gc
from gradcheck import symbolic
from gradcheck.oracles import jax_oracle

from .measure import fmt_seconds

BOUNDS = {"max_side": 8}


def _draw(n: int, seed: int):
    from hypothesis import HealthCheck, find, settings
    from hypothesis.errors import NoSuchExample

    from gradcheck.strategies import examples

    drawn = []

    def record(example):
        drawn.append(example)
        return False

    config = settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    try:
        find(examples("conv2d", bounds=BOUNDS), record, settings=config, random=random.Random(seed))
    except NoSuchExample:
        pass
    return drawn


def configs_per_second(n: int, seed: int = 0) -> dict:
    """Draw and check ``n`` configurations with the default oracles; wall and CPU time, per-oracle time."""
    from hypothesis import HealthCheck, find, settings
    from hypothesis.errors import NoSuchExample

    from gradcheck.strategies import examples

    symbolic._PLANS.clear()
    jax_oracle._COMPILED.clear()
    stats = {"checked": 0, "failed": 0, "seconds": Counter()}

    def check(example):
        verdict = gc.verify(example.layer, *example.inputs, grad_out=example.grad_out)
        stats["checked"] += 1
        stats["failed"] += not verdict.ok
        stats["seconds"].update(verdict.seconds)
        return False

    config = settings(max_examples=n, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        find(examples("conv2d", bounds=BOUNDS), check, settings=config, random=random.Random(seed))
    except NoSuchExample:
        pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"checked": stats["checked"], "failed": stats["failed"], "wall": wall, "cpu": cpu,
            "per_oracle": dict(stats["seconds"]), "rate": stats["checked"] / wall}


def _bucket(n: int, sizes) -> int:
    return next((b for b in sizes if n <= b), n)


def _bucketed_program(example) -> tuple:
    layer, (x, w) = example.layer, [np.shape(a) for a in example.inputs[:2]]
    x, w = (1,) * (4 - len(x)) + tuple(x), (1,) * (4 - len(w)) + tuple(w)
    g = layer.params["groups"]
    return (layer.params["stride"], layer.params["dilation"], g, layer.pads(w[2:], x[2:]), _bucket(x[0], (2,)),
            tuple(_bucket(s, (8, 16)) for s in x[2:]), _bucket(x[1] // g, (4,)), _bucket(w[0] // g, (4,)), w[2:])


def jax_strategies(n: int, seed: int = 1, out=sys.stdout) -> dict:
    import jax

    drawn = _draw(n, seed)
    prepared = []
    for ex in drawn:
        arrays, _, g = ex.layer.prepare(ex.inputs, ex.grad_out)
        prepared.append((ex.layer, arrays, g))

    def eager():
        with jax.enable_x64(True):
            for layer, arrays, g in prepared:
                values = jax_oracle.jax_values(layer, arrays)
                _, vjp = jax.vjp(layer.jax_forward, *values.values())
                [np.asarray(r) for r in vjp(np.asarray(g, dtype=np.float64))]

    def jit_default():
        compiled = {}
        with jax.enable_x64(True):
            for layer, arrays, g in prepared:
                values = jax_oracle.jax_values(layer, arrays)
                g = np.asarray(g, dtype=np.float64)
                key = (layer.key, tuple((k, v.shape) for k, v in values.items()))
                if key not in compiled:
                    names = tuple(values)
                    fn = jax_oracle._forward_and_vjp(layer, names, names)
                    compiled[key] = jax.jit(fn).lower(values, g).compile()
                [np.asarray(r) for r in compiled[key](values, g)]

    def jit_fast():
        jax_oracle._COMPILED.clear()
        for layer, arrays, g in prepared:
            jax_oracle.gradients(layer, arrays, g)

    programs = len({(layer.key, tuple((k, v.shape) for k, v in arrays.items())) for layer, arrays, _ in prepared})
    results = {}
    for name, run in [("eager jax.vjp", eager), ("jit per shape, XLA defaults", jit_default),
                      ("jit per shape, fast-compile options (the oracle)", jit_fast)]:
        start = time.perf_counter()
        run()
        results[name] = time.perf_counter() - start
    bucketed = len({_bucketed_program(ex) for ex in drawn})
    print(f"\nJAX oracle strategies on {len(drawn)} drawn conv2d examples ({programs} distinct configuration+shape "
          f"programs, {len({ex.layer.key for ex in drawn})} distinct parameter sets):", file=out)
    for name, seconds in results.items():
        print(f"  {name:52} {fmt_seconds(seconds):>8}  ({len(drawn) / seconds:.0f} configs/s)", file=out)
    print(f"  {'shape bucketing (counted, not built)':52} {programs} → {bucketed} programs to compile "
          f"({100 * (1 - bucketed / programs):.0f} % fewer)", file=out)
    print(f"  {'in-process cache of compiled programs':52} {len(drawn) - programs} of {len(drawn)} examples "
          "reuse a program (all jit rows above use it)", file=out, flush=True)
    return {"results": results, "programs": programs, "bucketed": bucketed, "examples": len(drawn)}
