"""Annotated grids like the lecture slides: each cell shows its value and its name (X11, dO12, …).

Figures are drawn with matplotlib's object API (no pyplot, no global backend) and saved as SVG (text kept
as text) and PDF, both deterministic: a fixed ``svg.hashsalt`` and no dates in the metadata.
"""
from __future__ import annotations

import copy
import functools
import io
from dataclasses import dataclass

import numpy as np

from .document import Figure

HIGHLIGHT = "#f4a259"   # the cells one output reads (receptive field) or one gradient collects
SHADE = "#d9d9d9"       # zero padding, inserted zeros
CELL = "#ffffff"


@dataclass
class Panel:
    """One grid: ``values`` 1-D or 2-D; ``names`` (same shape, str or '') printed small in each cell."""

    title: str
    values: np.ndarray
    names: np.ndarray | None = None
    highlight: np.ndarray | None = None   # bool mask
    shade: np.ndarray | None = None       # bool mask


def _as_2d(a):
    a = np.asarray(a, dtype=object)
    return a.reshape(1, -1) if a.ndim == 1 else a


def number_text(v) -> str:
    """A cell's value as the math displays write it (mathprint.decimal: at most 6 places, else a/b), with a true
    minus sign."""
    from fractions import Fraction

    import sympy as sp

    from ..number_text import format_number

    r = sp.nsimplify(v) if not isinstance(v, (int, np.integer)) else sp.Integer(int(v))
    text = format_number(Fraction(int(r.p), int(r.q)), max_places=6) if isinstance(r, sp.Rational) else str(r)
    return text.replace("-", "\u2212")


def _draw(ax, panel: Panel):
    values = _as_2d(panel.values)
    rows, cols = values.shape
    names = _as_2d(panel.names) if panel.names is not None else None
    hi = _as_2d(panel.highlight) if panel.highlight is not None else np.zeros(values.shape, bool)
    sh = _as_2d(panel.shade) if panel.shade is not None else np.zeros(values.shape, bool)
    for r in range(rows):
        for c in range(cols):
            color = HIGHLIGHT if hi[r, c] else SHADE if sh[r, c] else CELL
            ax.add_patch(_rect(c, rows - 1 - r, color))
            text = number_text(values[r, c])
            ax.text(c + 0.5, rows - 1 - r + 0.45, text, ha="center", va="center",
                    fontsize=min(11, 11 * 5.5 / len(text)))  # 0.53125 still fits its cell
            if names is not None and names[r, c]:
                ax.text(c + 0.06, rows - 1 - r + 0.9, names[r, c], ha="left", va="top", fontsize=6.5,
                        color="#555555")
    ax.set_xlim(-0.05, cols + 0.05)
    ax.set_ylim(-0.05, rows + 0.05)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(panel.title, fontsize=10)


def _rect(x, y, color):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 1, 1, facecolor=color, edgecolor="#333333", linewidth=0.8)


def _arrow(axes, panels, start, end):
    from matplotlib.patches import ConnectionPatch

    def point(panel, cell, dx, dy):
        rows = _as_2d(panels[panel].values).shape[0]
        return cell[1] + dx, rows - 1 - cell[0] + dy
    (pa, ca), (pb, cb) = start, end
    # from the lower left of the first cell (clear of its number) to the centre of the second
    return ConnectionPatch(point(pa, ca, 0.18, 0.2), point(pb, cb, 0.5, 0.5), "data", "data", axesA=axes[pa],
                           axesB=axes[pb], arrowstyle="-|>", color="#1f5fa8", alpha=0.75, linewidth=0.9,
                           mutation_scale=9, connectionstyle="arc3,rad=0.12", shrinkA=0, shrinkB=7)


def grids(stem: str, caption: str, panels: list[Panel], arrows=()) -> Figure:
    """Panels side by side, widths in proportion to their columns; an SVG and a PDF rendering, each drawn when
    first needed (from a copy of the panels, so later changes to the caller's arrays cannot leak in).

    ``arrows``: ((panel, (row, col)), (panel, (row, col))) pairs, an arrow from the first cell to the second
    (e.g. from each max-pool output to the input element it selected)."""
    return Figure(stem, caption, functools.partial(_render, copy.deepcopy(panels), copy.deepcopy(tuple(arrows))))


def _render(panels: list[Panel], arrows, fmt: str) -> str | bytes:
    import matplotlib
    from matplotlib.backends.backend_pdf import FigureCanvasPdf
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure as MplFigure

    widths = [_as_2d(p.values).shape[1] for p in panels]
    height = max(_as_2d(p.values).shape[0] for p in panels)
    settings = {"svg.hashsalt": "gradcheck", "svg.fonttype": "none", "font.family": "DejaVu Sans",
                "pdf.fonttype": 42}
    with matplotlib.rc_context(settings):
        fig = MplFigure(figsize=(0.55 * (sum(widths) + 1.2 * len(panels)) + 0.3, 0.55 * height + 0.7))
        axes = fig.subplots(1, len(panels), width_ratios=[w + 1 for w in widths], squeeze=False)[0]
        for ax, panel in zip(axes, panels):
            _draw(ax, panel)
        for start, end in arrows:
            fig.add_artist(_arrow(axes, panels, start, end))
        fig.subplots_adjust(left=0.02, right=0.98, bottom=0.03, top=0.85, wspace=0.25)
        out = io.BytesIO()
        if fmt == "svg":
            FigureCanvasSVG(fig).print_svg(out, metadata={"Date": None, "Creator": None})
            return out.getvalue().decode()
        FigureCanvasPdf(fig).print_pdf(out, metadata={"CreationDate": None, "ModDate": None, "Creator": None,
                                                      "Producer": None})
        return out.getvalue()
