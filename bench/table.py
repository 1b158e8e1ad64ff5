"""The main table: every case, every peer side by side, with ratios, printed row by row as Markdown."""
from __future__ import annotations

import sys

import numpy as np

import gradcheck as gc
from gradcheck import symbolic

from . import peers as P
from .measure import fmt_bytes, fmt_seconds
from .peers import Case

CONV = [
    Case("conv2d tiny", "conv2d", {"stride": 2, "padding": 1}, {"x": (1, 2, 8, 8), "w": (2, 2, 3, 3), "b": (2,)}),
    Case("conv2d medium", "conv2d", {"stride": 1, "padding": 1},
         {"x": (1, 3, 16, 16), "w": (4, 3, 3, 3), "b": (4,)}),
    Case("conv2d large", "conv2d", {"stride": 2, "padding": 1},
         {"x": (2, 8, 32, 32), "w": (8, 8, 3, 3), "b": (8,)}),
]
# The pooling and transposed-convolution rows mirror the conv sizes (the transposed ones are the adjoints of
# the conv cases); each runs only when its layer is registered (gc.layers()).
OTHERS = [
    Case(f"{name} {size}", name, params, {"x": x})
    for name in ("max_pool2d", "avg_pool2d")
    for size, x, params in [("tiny", (1, 2, 8, 8), {"kernel_size": 2, "stride": 2}),
                            ("medium", (1, 3, 16, 16), {"kernel_size": 3, "stride": 1, "padding": 1}),
                            ("large", (2, 8, 32, 32), {"kernel_size": 3, "stride": 2, "padding": 1})]
] + [
    Case("conv_transpose2d tiny", "conv_transpose2d", {"stride": 2, "padding": 1, "output_padding": 1},
         {"x": (1, 2, 4, 4), "w": (2, 2, 3, 3), "b": (2,)}),
    Case("conv_transpose2d medium", "conv_transpose2d", {"stride": 1, "padding": 1},
         {"x": (1, 4, 16, 16), "w": (4, 3, 3, 3), "b": (3,)}),
    Case("conv_transpose2d large", "conv_transpose2d", {"stride": 2, "padding": 1, "output_padding": 1},
         {"x": (2, 8, 16, 16), "w": (8, 8, 3, 3), "b": (8,)}),
]
# VGG16's 13 conv layers (3×3, stride 1, pad 1) at batch 1 on 224×224 images: 9 distinct shapes.
VGG16 = [
    Case(f"VGG16 {names}", "conv2d", {"stride": 1, "padding": 1},
         {"x": (1, c, s, s), "w": (o, c, 3, 3), "b": (o,)}, peers=("numpy=jax", "numpy÷xla"))
    for names, c, o, s in [("conv1_1", 3, 64, 224), ("conv1_2", 64, 64, 224), ("conv2_1", 64, 128, 112),
                           ("conv2_2", 128, 128, 112), ("conv3_1", 128, 256, 56),
                           ("conv3_2,3_3", 256, 256, 56), ("conv4_1", 256, 512, 28),
                           ("conv4_2,4_3", 512, 512, 28), ("conv5_1,5_2,5_3", 512, 512, 14)]
]
ALL = CONV + OTHERS + VGG16

COLUMNS = ["case", "inputs", "terms", "exact (sympy = numpy)", "numpy = jax", "torch slow", "torch fast",
           "jax check_grads", "torch slow ÷ exact", "NumPy bwd ÷ XLA bwd"]


def shapes_text(case: Case) -> str:
    params = ",".join(f"{k[0] if k != 'output_padding' else 'op'}{v}" for k, v in case.params.items()
                      if k in ("stride", "padding", "output_padding", "kernel_size"))
    return " ".join(f"{n} {tuple(s)}".replace(" ", "") for n, s in case.shapes.items() if n != "b") + f" {params}"


def terms(case: Case) -> int | None:
    """Summand instances of the exact check: from the plan when it was built, by formula for big convs."""
    key = (case.configured().key, tuple(sorted(case.shapes.items())))
    if key in symbolic._PLANS:
        return symbolic._PLANS[key].n_terms
    if case.layer == "conv2d":
        out = case.out_shape()
        return int(np.prod(out)) * (int(np.prod(case.shapes["w"][1:])) + ("b" in case.shapes))
    return None


def _cell_text(cell) -> str:
    if isinstance(cell, str):
        return cell
    text = f"{fmt_seconds(cell.seconds)} · {fmt_bytes(cell.peak_bytes)}"
    return f"{text} {cell.note}" if cell.note else text


def run_case(case: Case, only_peers=None) -> dict:
    """Run every peer of ``case``; returns {column: cell text} plus the raw cells under 'raw'."""
    row = {"case": case.label, "inputs": shapes_text(case), "raw": {}}
    for column, peer in zip(COLUMNS[3:8], P.PEERS):
        if peer not in case.peers or (only_peers and peer not in only_peers):
            row[column] = "—"
            continue
        try:
            cell = P.PEERS[peer](case)
        except Exception as exc:  # a peer that crashes is reported in its cell, not fatal to the table
            cell = f"error: {type(exc).__name__}: {str(exc)[:60]}"
        row["raw"][peer] = cell
        row[column] = _cell_text(cell)
    n = terms(case)
    row["terms"] = f"{n:,}" if n else "—"
    slow, exact = row["raw"].get("torch slow"), row["raw"].get("exact")
    row["torch slow ÷ exact"] = (_ratio(slow.seconds / exact.seconds) if not isinstance(slow, (str, type(None)))
                                 and not isinstance(exact, (str, type(None))) else "—")
    if "numpy÷xla" in case.peers and (not only_peers or "numpy÷xla" in only_peers):
        numpy_cell, xla_cell = P.numpy_vs_xla_backward(case)
        row["raw"]["numpy÷xla"] = (numpy_cell, xla_cell)
        row["NumPy bwd ÷ XLA bwd"] = (f"{numpy_cell.seconds / xla_cell.seconds:.2f}× "
                                      f"({fmt_seconds(numpy_cell.seconds)} / {fmt_seconds(xla_cell.seconds)})")
    else:
        row["NumPy bwd ÷ XLA bwd"] = "—"
    return row


def markdown_row(values) -> str:
    return "| " + " | ".join(values) + " |"


def warm_up(out=sys.stdout):
    """Load every library once on a shape no case uses, so that no row pays for imports or JIT start-up."""
    case = Case("warm-up", "conv2d", {"stride": 1, "padding": 0}, {"x": (1, 1, 3, 3), "w": (1, 1, 2, 2), "b": (1,)})
    for peer in P.PEERS.values():
        try:
            peer(case)
        except Exception:  # a missing peer shows in its own cells
            pass
    P.numpy_vs_xla_backward(case)


def run_table(cases, only_peers=None, out=sys.stdout) -> list[dict]:
    """Print the table (Markdown) row by row; rows of layers that are not registered are skipped with a note."""
    registered = set(gc.layers())
    print(markdown_row(COLUMNS), file=out)
    print(markdown_row(["---"] * len(COLUMNS)), file=out, flush=True)
    rows, skipped = [], []
    for case in cases:
        if case.layer not in registered:
            skipped.append(case)
            continue
        row = run_case(case, only_peers)
        rows.append(row)
        print(markdown_row([row[c] for c in COLUMNS]), file=out, flush=True)
    for name in dict.fromkeys(c.layer for c in skipped):
        labels = ", ".join(c.label.split()[-1] for c in skipped if c.layer == name)
        print(f"\nskipped {name} ({labels}): not registered on this branch (gc.layers() = "
              f"{', '.join(sorted(registered))}); its rows run once the layer is merged", file=out)
    return rows


def _ratio(r: float) -> str:
    """3 significant-enough digits either side of 1: 214×, 6×, 0.4× (a peer faster than gradcheck)."""
    return f"{r:.0f}×" if r >= 9.5 else f"{r:.1f}×"
