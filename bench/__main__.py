"""``python -m bench``: gradcheck against its peers, one table, ratios from the same run.

    python -m bench                 # everything (< 5 minutes on 2 cores)
    python -m bench --quick         # tiny and medium cases, one VGG16 shape, short throughput runs
    python -m bench --only NAME     # one section: conv, pool, transpose, vgg16, fresh, jax-strategies,
                                    # growth, issue14; or a case label, e.g. --only "conv2d large"

The plot of the exact check's growth goes to bench/out/exact_growth.png (git-ignored); README shows a
committed copy, bench/exact_growth.png.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from . import fresh, growth, issue14, table
from .measure import METHOD

SECTIONS = {
    "conv": table.CONV,
    "pool": [c for c in table.OTHERS if "pool" in c.layer],
    "transpose": [c for c in table.OTHERS if c.layer == "conv_transpose2d"],
    "vgg16": table.VGG16,
}
OTHER_SECTIONS = ("fresh", "jax-strategies", "growth", "issue14")
OUT = os.path.join(os.path.dirname(__file__), "out")


def _selected(args):
    cases = table.ALL
    if args.quick:
        cases = [c for c in cases if not c.label.endswith("large") and
                 (c not in table.VGG16 or c is table.VGG16[-1])]
    if args.only in SECTIONS:
        cases = [c for c in cases if c in SECTIONS[args.only]]
    elif args.only in OTHER_SECTIONS:
        cases = []
    elif args.only:
        cases = [c for c in cases if c.label == args.only]
    return cases


def targets(rows, fresh_result) -> list[str]:
    """The issue's targets, each with the measured ratio and met/missed."""
    lines = []
    by_label = {r["case"]: r["raw"] for r in rows}

    def ratio(label):
        raw = by_label.get(label, {})
        slow, exact = raw.get("torch slow"), raw.get("exact")
        if slow is None or exact is None or isinstance(slow, str) or isinstance(exact, str):
            return None, None
        return slow.seconds / exact.seconds, exact.seconds

    r, _ = ratio("conv2d medium")
    if r is not None:
        lines.append(f"exact check, medium, ≥ 5× faster than torch slow mode: {r:.0f}× — "
                     f"{'met' if r >= 5 else 'MISSED'}")
    r, seconds = ratio("conv2d large")
    if r is not None:
        lines.append(f"exact check, large, < 10 s and ≥ 3× faster than torch slow mode: {seconds:.2f} s, {r:.0f}× — "
                     f"{'met' if seconds < 10 and r >= 3 else 'MISSED'}")
    if fresh_result:
        rate = fresh_result["rate"]
        lines.append(f"full default check, fresh conv2d configurations (sides ≤ 8), ≥ 20/s: {rate:.0f}/s wall "
                     f"({fresh_result['checked'] / fresh_result['cpu']:.0f}/s of CPU time) — "
                     f"{'met' if rate >= 20 else 'MISSED'}")
    vgg = [r["raw"]["numpy÷xla"] for r in rows if r["case"].startswith("VGG16") and "numpy÷xla" in r["raw"]]
    if vgg:
        ratios = [n.seconds / x.seconds for n, x in vgg]
        total = sum(n.seconds for n, _ in vgg) / sum(x.seconds for _, x in vgg)
        lines.append(f"NumPy backward of VGG16 conv layers within 2× of XLA's: worst {max(ratios):.2f}×, "
                     f"all layers together {total:.2f}× — {'met' if max(ratios) <= 2 else 'MISSED'}")
    return lines


def issue14_targets(float_result, fresh14) -> list[str]:
    """Issue 14's targets for the exact check on float64 data and the fresh-configuration rate."""
    lines = []
    if float_result:
        cells, torch = float_result["cells"], float_result["torch"]
        medium, large = issue14.MEDIUM.label, issue14.LARGE.label
        r = cells[(medium, "integer-valued float64")].seconds / cells[(medium, "integer")].seconds
        lines.append(f"exact check on float64 data ≤ 2× its time on the same integer data: {r:.1f}× — "
                     f"{'met' if r <= 2 else 'MISSED'} (standard-normal float64: "
                     f"{cells[(medium, 'float64')].seconds / cells[(medium, 'integer')].seconds:.1f}×)")
        for label, kind, target in [(medium, "integer-valued float64", 10), (large, "float64", 30)]:
            if not isinstance(torch[label], str):
                r = torch[label].seconds / cells[(label, kind)].seconds
                lines.append(f"{label}, {kind} data, ≥ {target}× faster than torch slow mode: {r:.0f}× — "
                             f"{'met' if r >= target else 'MISSED'}")
    if fresh14:
        for what in ("drawn", "distinct"):
            cold, warm = fresh14[(what, "empty cache")], fresh14[(what, "second run")]
            lines.append(f"full default check, {cold['checked']} {what} fresh configurations ≥ 25/s: {cold['rate']:.0f}/s "
                         f"wall, {cold['checked'] / cold['cpu']:.0f}/s of CPU — {'met' if cold['rate'] >= 25 else 'MISSED'}; "
                         f"second run {warm['rate']:.0f}/s — {'faster' if warm['rate'] > cold['rate'] else 'NOT faster'}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a subset for smoke use")
    parser.add_argument("--only", metavar="NAME", help="one section or case label")
    parser.add_argument("--growth-sides", metavar="S,S,...", help="sides S of the growth cases "
                        f"(default {','.join(map(str, growth.SIDES))})")
    args = parser.parse_args(argv)
    known = set(SECTIONS) | set(OTHER_SECTIONS) | {c.label for c in table.ALL}
    if args.only and args.only not in known:
        parser.error(f"--only {args.only!r}: choose one of {', '.join(sorted(SECTIONS) + list(OTHER_SECTIONS))} "
                     "or a case label")
    start = time.perf_counter()
    print(f"gradcheck bench — {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at start; memory column: {METHOD}")
    table.warm_up()
    cases = _selected(args)
    rows = table.run_table(cases) if cases else []
    fresh_result = None
    if args.only in (None, "fresh"):
        fresh_result = fresh.configs_per_second(60 if args.quick else 200)
        per_oracle = ", ".join(f"{o} {s:.1f} s" for o, s in fresh_result["per_oracle"].items())
        print(f"\nFull default check (sympy + numpy + jax) on {fresh_result['checked']} fresh conv2d configurations "
              f"drawn by Hypothesis (sides ≤ 8, JAX compilation included): {fresh_result['wall']:.1f} s wall, "
              f"{fresh_result['cpu']:.1f} s CPU, {fresh_result['rate']:.0f} configurations/s ({per_oracle})"
              + (f"; {fresh_result['failed']} DISAGREED" if fresh_result["failed"] else ""), flush=True)
    float_result = fresh14 = None
    if args.only == "issue14" or (args.only is None and not args.quick):
        reuse = {r["case"]: r["raw"]["torch slow"] for r in rows if not isinstance(r["raw"].get("torch slow", ""), str)}
        float_result = issue14.float_table(reuse=reuse)
        fresh14 = issue14.fresh_rates(60)
    if args.only == "jax-strategies" or (args.only is None and not args.quick):
        fresh.jax_strategies(40)
    if args.only in (None, "growth"):
        sides = (tuple(int(s) for s in args.growth_sides.split(",")) if args.growth_sides else
                 growth.QUICK_SIDES if args.quick else growth.SIDES)
        result = growth.measure_growth(sides)
        path = growth.plot(result, os.path.join(OUT, "exact_growth.png"))
        print(f"  plot: {path}" if path else "  plot: matplotlib not installed")
    lines = targets(rows, fresh_result) + issue14_targets(float_result, fresh14)
    if lines:
        print("\nTargets (ratios from this run):")
        for line in lines:
            print(f"  {line}")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end; total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
