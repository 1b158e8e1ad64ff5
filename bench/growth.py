"""How the exact check's cost grows: time and peak memory vs the number of terms, conv2d, plotted to a PNG.

Cases x (1, 8, S, S) / w (8, 8, 3, 3), stride 1, pad 1, for growing S: the terms (summand instances of
the rule, N·O·H_out·W_out·(C·kH·kW + 1)) grow as S². Each point is a cold exact check (fresh plan, sympy
vs numpy, integer data). Memory, not time, ends it: the plan holds index arrays over the grid and the
evaluation object arrays of Python ints, so bytes per term is what bounds the largest case.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from . import peers as P
from .measure import fmt_bytes, fmt_seconds
from .peers import Case

SIDES = (8, 16, 24, 32, 48, 64)
QUICK_SIDES = (4, 8, 12)


def growth_case(side: int) -> Case:
    return Case(f"conv2d S={side}", "conv2d", {"stride": 1, "padding": 1},
                {"x": (1, 8, side, side), "w": (8, 8, 3, 3), "b": (8,)})


def _memory_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0


def measure_growth(sides=SIDES, out=sys.stdout) -> dict:
    from .table import terms

    points = []
    for side in sides:
        case = growth_case(side)
        cell = P.gradcheck_exact(case)
        points.append((terms(case), cell.seconds, cell.peak_bytes, side))
    n, t, m = (np.array([p[i] for p in points], dtype=float) for i in range(3))
    seconds_per_term = float(np.polyfit(n, t, 1)[0])
    bytes_per_term = float(np.polyfit(n, m, 1)[0])
    budget = _memory_total() // 2
    fits = int(budget / bytes_per_term) if bytes_per_term > 0 else 0
    side_fits = int(np.sqrt(fits / (64 * 73))) if fits else 0
    print(f"\nExact-check growth, conv2d x (1,8,S,S) / w (8,8,3,3) s1 p1, S = {', '.join(map(str, sides))}:", file=out)
    for terms_, seconds, peak, side in points:
        print(f"  S={side:<3} {terms_:>11,} terms  {fmt_seconds(seconds):>8}  peak {fmt_bytes(peak):>7}", file=out)
    print(f"  fit: {seconds_per_term * 1e9:.0f} ns and {bytes_per_term:.0f} bytes per term; half of this machine's "
          f"{fmt_bytes(2 * budget)} holds ≈ {fits / 1e6:.0f} M terms (S ≈ {side_fits}), "
          f"≈ {fmt_seconds(fits * seconds_per_term)} of checking", file=out, flush=True)
    return {"points": points, "seconds_per_term": seconds_per_term, "bytes_per_term": bytes_per_term,
            "fits_terms": fits}


def plot(growth: dict, path: str) -> str | None:
    """Two panels (time, peak memory vs terms) with the linear fits; None when matplotlib is missing."""
    if not P.installed("matplotlib"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = np.array([p[0] for p in growth["points"]], dtype=float)
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.5, 2.8), dpi=90)
    for ax, column, per_term, scale, label in [
            (left, 1, growth["seconds_per_term"], 1.0, "exact check time (s)"),
            (right, 2, growth["bytes_per_term"], 2.0 ** -20, "peak memory (MB)")]:
        values = np.array([p[column] for p in growth["points"]], dtype=float) * scale
        ax.plot(n / 1e6, values, "o", color="tab:blue")
        ax.plot(n / 1e6, values[0] + (n - n[0]) * per_term * scale, "-", color="tab:gray", lw=1,
                label=f"linear fit, {per_term * (1e9 if column == 1 else 1):.0f} {'ns' if column == 1 else 'B'}/term")
        ax.set_xlabel("terms (millions)")
        ax.set_ylabel(label)
        ax.legend(fontsize=8, frameon=False)
        ax.grid(alpha=0.3)
    fig.suptitle("gradcheck exact check (sympy = numpy), conv2d x (1,8,S,S) / w (8,8,3,3)", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
