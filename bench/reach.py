"""What the default strategy bounds reach: for each catalogued backward mistake (and each real bug below), the
smallest example that exposes it, and whether the layer strategy's default bounds can draw one.

    python -m bench.reach                 # every (mistake, layer) pair, a Markdown table; exit 1 if one is missed
    python -m bench.reach --short         # README's table: one row per mistake, its most demanding layer
    python -m bench.reach --only ties_all # one mistake (or real bug)

"Exposes" means a gradient differs from the right one, so that ``check_backward`` fails. Hypothesis ``find``
searches the layer's own example strategy (configuration and data, ties and zeros on purpose) twice:
with wide bounds (``max_side`` 10), where the example it shrinks to is the smallest that exposes the mistake,
smallest in Hypothesis' order (small sides, kernels, strides, batch first); and with the default bounds: found =
the defaults reach the mistake. Parameters a real bug was met with are held in both (the row-skipping max-pool
backward below was met at kernel 3, stride 2, padding 0, no ceil_mode). Predictions only, no oracle: a few
minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import random
import sys

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample

import gradcheck as gc
from gradcheck.layers.numpy_ops import divide
from gradcheck.layers.pool import scatter_add
from gradcheck.mistakes import CATALOGUE
from gradcheck.strategies import examples

WIDE = {"max_side": 10}
REQUIRED = ("kernel_size", "scale_factor")  # parameters without a default: always shown
KINDS = ("backward", "convention")  # the mistakes check_backward names (the others are forward, shape, grading)


def max_pool_backward_skipping_rows(grad_out, x, **params):
    """A real bug: the backward keys each window's argmax by ``i * H_out + j`` where ``i * W_out + j`` belongs.

    Only when W_out > H_out >= 2 do keys collide: the end of window row i takes the key of the start of row
    i + 1, so its gradient goes to the next row's maximum and that part of the row is skipped. At kernel 3,
    stride 2 that takes W_out = 3 > H_out = 2: a 5 x 7 input (a side of 7), past the old pool max_side of 6.
    """
    layer = gc.layer("max_pool2d", **params)
    windows, flat = layer._windows(x)
    h_out, w_out = windows.shape[2:4]
    if params["ties"] == "first":
        selected = np.arange(windows.shape[-1]) == windows.argmax(axis=-1)[..., None]
    else:
        selected = windows == windows.max(axis=-1)[..., None]
    argmax = {}
    for i in range(h_out):
        for j in range(w_out):
            argmax[i * h_out + j] = selected[:, :, i, j]  # the bug: h_out where w_out belongs
    routed = np.stack([np.stack([argmax[i * h_out + j] for j in range(w_out)], axis=2) for i in range(h_out)], axis=2)
    share = grad_out if params["ties"] == "first" else divide(grad_out, routed.sum(axis=-1))
    return (scatter_add(x.shape, flat, share[..., None], routed),)


REAL_BUGS = {  # name: (backward, layer, held parameters it was met with)
    "max_pool_backward_skipping_rows": (max_pool_backward_skipping_rows, "max_pool2d",
                                        {"kernel_size": 3, "stride": 2, "padding": 0, "ceil_mode": False}),
}


def _differs(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape != b.shape or bool(np.any(a != b))


def _correct(example):
    layer = example.layer
    grads = layer.numpy_backward(example.grad_out, *example.inputs)
    return {f"grad_{n}": g for n, g in zip(layer.inputs, grads) if n in layer.differentiable and g is not None}


def _mistake_exposed(mistake):
    def exposed(example):
        layer = example.layer
        arrays = dict(zip(layer.inputs, (np.asarray(a) for a in example.inputs)))
        try:
            predictions = mistake.predict(layer, arrays, example.grad_out)
        except Exception:  # noqa: BLE001  (a mistake that cannot be made on this example)
            return False
        correct = _correct(example)
        return any(_differs(v, correct[q]) for p in predictions for q, v in p.items() if q in correct)
    return exposed


def _bug_exposed(backward):
    def exposed(example):
        given = backward(example.grad_out, *example.inputs, **example.layer.params)
        return any(_differs(g, c) for g, c in zip(given, _correct(example).values()))
    return exposed


def smallest(layer: str, exposed, held: dict, bounds: dict | None):
    """The example Hypothesis shrinks to among those that expose, or None when none is found."""
    quiet = settings(database=None, max_examples=1000, deadline=None, phases=[Phase.generate, Phase.shrink],
                     suppress_health_check=list(HealthCheck))
    try:
        return find(examples(layer, bounds=bounds, **held), exposed, settings=quiet, random=random.Random(0))
    except NoSuchExample:
        return None


def describe(example) -> str:
    """Input shape(s) and the parameters that differ from the layer's defaults, e.g. ``x 1×1×1×2, stride (1, 2)``."""
    layer = example.layer
    shapes = ", ".join(f"{n} {'×'.join(map(str, np.shape(a)))}" for n, a in zip(layer.inputs, example.inputs)
                       if n in ("x", "w", "logits"))
    required = {k: v for k, v in layer.params.items() if k in REQUIRED}
    defaults = gc.layer(layer.name, **required).params
    params = [f"{k} {v}" for k, v in layer.params.items()
              if k in required or (defaults.get(k) != v and not (k == "padding" and v == "valid"))]
    return ", ".join([shapes] + params)


def rows(only: str | None = None):
    """(name, layer, smallest exposing example or None, reached by the default bounds) per mistake and layer."""
    cases = [(m.id, name, _mistake_exposed(m), {}) for m in CATALOGUE.values() if m.kind in KINDS
             for name in m.layers if name in gc.layers()]
    cases += [(bug, name, _bug_exposed(fn), held) for bug, (fn, name, held) in REAL_BUGS.items()]
    for ident, name, exposed, held in cases:
        if only and ident != only:
            continue
        wide = smallest(name, exposed, held, WIDE)
        yield ident, name, wide, wide is not None and smallest(name, exposed, held, None) is not None


def _size(example) -> int:
    return int(np.size(example.inputs[0])) if example is not None else 1 << 30


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reach", description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="one mistake id or real bug")
    parser.add_argument("--short", action="store_true",
                        help="one row per mistake: the layer that needs the largest input (README's table)")
    args = parser.parse_args(argv)
    print("| mistake | layer | smallest exposing example | default bounds reach it |")
    print("| --- | --- | --- | --- |")
    found = list(rows(args.only))
    if args.short:  # per mistake, the layer whose smallest exposing input is largest; reached = on every layer
        groups = {}
        for row in found:
            groups.setdefault(row[0], []).append(row)
        found = [(*max(group, key=lambda row: _size(row[2]))[:3], all(row[3] for row in group))
                 for group in groups.values()]
    for ident, name, example, reached in found:
        shown = describe(example) if example is not None else f"none with {WIDE}"
        print(f"| `{ident}` | {name} | {shown} | {'yes' if reached else '**no**'} |")
    return 0 if all(reached for *_, reached in found) else 1


if __name__ == "__main__":
    sys.exit(main())
