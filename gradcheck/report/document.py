"""A report as a list of blocks, and its three renderings: Markdown (GitHub math), HTML (MathML, inline SVG,
one self-contained file) and LaTeX (pdflatex).

Blocks: :class:`Heading`, :class:`Para` (text and inline :class:`Math`), :class:`Display` (rows of
``lhs = rhs = …`` chains of SymPy expressions), :class:`Figure` (a matplotlib figure, SVG for Markdown and
HTML, PDF for LaTeX) and :class:`Code`. Nothing here knows about layers.
"""
from __future__ import annotations

import base64
import functools
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from . import mathprint


@dataclass
class Math:
    """Inline math: a SymPy expression (or a LaTeX string, rendered as text in HTML)."""

    expr: object


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    parts: tuple  # str and Math, in reading order

    def __init__(self, *parts):
        self.parts = parts


@dataclass
class Display:
    """Display math: each row is a chain e0 = e1 = e2 …, rows aligned at the first '='."""

    rows: list[list]


@dataclass
class Code:
    text: str


@dataclass
class Figure:
    """A figure, rendered only when a format needs it: ``render("svg")`` gives deterministic SVG text (Markdown
    files, HTML), ``render("pdf")`` PDF bytes (LaTeX). Rendering is most of a report's cost, and Markdown text
    (which only links the figures) and HTML (SVG only) need less of it."""

    stem: str                      # file name without extension, unique within the report
    caption: str
    render: Callable[[str], str | bytes] = field(repr=False, compare=False)

    @functools.cached_property
    def svg(self) -> str:
        return self.render("svg")

    @functools.cached_property
    def pdf(self) -> bytes:
        return self.render("pdf")


@dataclass
class Items:
    """A bullet list; each item is a tuple of str / Math parts."""

    items: list[tuple]


# -- Markdown (GitHub: $…$ inline, $$…$$ display; figures as SVG files beside the .md) ----------------
def _md_parts(parts) -> str:
    return "".join(f"${mathprint.latex(p.expr)}$" if isinstance(p, Math) else p for p in parts)


def _latex_rows(rows, env: str) -> str:
    lines = []
    for chain in rows:
        first, *rest = [mathprint.latex(e) for e in chain]
        lines.append(first + ("".join(f" &= {r}" if k == 0 else f" = {r}" for k, r in enumerate(rest))
                              if rest else " &"))
    return f"\\begin{{{env}}}\n" + " \\\\\n".join(lines) + f"\n\\end{{{env}}}"


def markdown(blocks, figure_link=None) -> str:
    """GitHub Markdown. ``figure_link(fig)`` gives the image address (default: an embedded data URI)."""
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            out.append(_md_parts(b.parts))
        elif isinstance(b, Items):
            out.append("\n".join("- " + _md_parts(item) for item in b.items))
        elif isinstance(b, Display):
            body = (mathprint.latex(b.rows[0][0]) if len(b.rows) == 1 and len(b.rows[0]) == 1
                    else _latex_rows(b.rows, "aligned"))
            out.append(f"$$\n{body}\n$$")
        elif isinstance(b, Code):
            out.append(f"```text\n{b.text}\n```")
        elif isinstance(b, Figure):
            link = figure_link(b) if figure_link else (
                "data:image/svg+xml;base64," + base64.b64encode(b.svg.encode()).decode())
            out.append(f"![{b.caption}]({link})\n\n*{b.caption}*")
    return "\n\n".join(out) + "\n"


# -- HTML (MathML Core, inline SVG, inline style: opens offline) ---------------------------------------
_STYLE = """body{font-family:Georgia,'DejaVu Serif',serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
line-height:1.5;color:#111}
math[display=block]{margin:.8rem 0;overflow-x:auto;overflow-y:hidden}
figure{margin:1rem 0}figcaption{font-style:italic;font-size:.9rem}
pre{background:#f4f4f4;padding:.6rem;overflow-x:auto;font-size:.85rem}
h1{font-size:1.6rem}h2{font-size:1.3rem;border-bottom:1px solid #ccc}h3{font-size:1.1rem}
mtd{padding:.15rem .2rem}"""
# Needed wherever the fragment is shown (a Jupyter cell too): matrix brackets and figure sizes, scoped.
_FRAGMENT_STYLE = """.gradcheck-report mtable.matrix{border-left:1.5px solid;border-right:1.5px solid;border-radius:3px;
padding:0 .15rem;margin:0 .2rem}
.gradcheck-report mtable.matrix mtd{padding:.12rem .35rem}
.gradcheck-report figure svg{max-width:100%;height:auto}"""


def _mathml(expr, display=False) -> str:
    mode = ' display="block"' if display else ""
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML"{mode}>{mathprint.mathml(expr)}</math>'


def _code_spans(text: str, plain, code) -> str:
    """Text with `code` spans: odd pieces of a split on backticks are code."""
    return "".join(code(piece) if k % 2 else plain(piece) for k, piece in enumerate(text.split("`")))


def _html_parts(parts) -> str:
    return "".join(_mathml(p.expr) if isinstance(p, Math) else _code_spans(
        p, lambda t: html.escape(t, quote=False), lambda t: f"<code>{html.escape(t, quote=False)}</code>")
        for p in parts)


def _html_display(rows) -> str:
    if len(rows) == 1 and len(rows[0]) == 1:
        return _mathml(rows[0][0], display=True)
    table = []
    for chain in rows:
        first, *rest = [mathprint.mathml(e) for e in chain]
        right = "".join(f"<mo>=</mo>{r}" for r in rest)
        table.append(f'<mtr><mtd style="text-align:right"><mrow displaystyle="true">{first}</mrow></mtd>'
                     f'<mtd style="text-align:left"><mrow displaystyle="true">{right}</mrow></mtd></mtr>')
    return ('<math xmlns="http://www.w3.org/1998/Math/MathML" display="block"><mtable>'
            + "".join(table) + "</mtable></math>")


def html_body(blocks) -> str:
    """The report as an HTML fragment (what a Jupyter cell shows): one div with its own scoped style."""
    out = [f'<div class="gradcheck-report">\n<style>{_FRAGMENT_STYLE}</style>']
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p>{_html_parts(b.parts)}</p>")
        elif isinstance(b, Items):
            out.append("<ul>" + "".join(f"<li>{_html_parts(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Display):
            out.append(_html_display(b.rows))
        elif isinstance(b, Code):
            out.append(f"<pre>{html.escape(b.text)}</pre>")
        elif isinstance(b, Figure):
            svg = b.svg[b.svg.index("<svg"):]  # drop the XML prolog and doctype: inline SVG
            svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)  # RDF: namespaces, no content
            # ids are unique per SVG file only: prefix them so that several figures share one page
            svg = re.sub(r'(\bid="|url\(#|href="#)', rf"\g<1>{b.stem}-", svg)
            out.append(f"<figure>{svg}<figcaption>{html.escape(b.caption)}</figcaption></figure>")
    out.append("</div>")
    return "\n".join(out)


def html_page(title: str, blocks) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            + html_body(blocks) + "\n</body>\n</html>\n")


# -- LaTeX (pdflatex; figures as PDF files beside the .tex) -------------------------------------------
_TEX_TEXT = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
             "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
             "×": r"$\times$", "−": "-", "∂": r"$\partial$", "·": r"$\cdot$", "≤": r"$\le$", "→": r"$\to$",
             "…": r"\dots{}", "—": "---", "–": "--", "°": r"$^\circ$", "⌊": r"$\lfloor$", "⌋": r"$\rfloor$",
             "⋆": r"$\star$", "Σ": r"$\Sigma$", "≠": r"$\neq$", "✓": "OK", "’": "'",
             "ᵀ": r"$^\top$", "⟨": r"$\langle$", "⟩": r"$\rangle$", "∞": r"$\infty$", "≥": r"$\ge$"}


def tex_escape(text: str) -> str:
    out = []
    for k, ch in enumerate(text):
        if ch == "\u0303":  # combining tilde: X̃ -> $\tilde{X}$
            continue
        if k + 1 < len(text) and text[k + 1] == "\u0303":
            out.append(rf"$\tilde{{{ch}}}$")
        else:
            out.append(_TEX_TEXT.get(ch, ch))
    return "".join(out)


def _tex_parts(parts) -> str:
    return "".join(f"${mathprint.latex(p.expr)}$" if isinstance(p, Math) else _code_spans(
        p, tex_escape, lambda t: rf"\texttt{{{tex_escape(t)}}}") for p in parts)


def tex_document(title: str, blocks, figure_path) -> str:
    out = [r"\documentclass[10pt]{article}", r"\usepackage[T1]{fontenc}", r"\usepackage{amsmath,amssymb}",
           r"\usepackage{graphicx}", r"\usepackage[margin=2cm]{geometry}", r"\allowdisplaybreaks",
           r"\setcounter{MaxMatrixCols}{20}", r"\begin{document}"]
    for b in blocks:
        if isinstance(b, Heading):
            command = {1: "section*", 2: "subsection*", 3: "subsubsection*"}[min(b.level, 3)]
            out.append(f"\\{command}{{{tex_escape(b.text)}}}")
        elif isinstance(b, Para):
            out.append(_tex_parts(b.parts) + "\n")
        elif isinstance(b, Items):
            out.append("\\begin{itemize}\n" + "\n".join(f"\\item {_tex_parts(i)}" for i in b.items)
                       + "\n\\end{itemize}")
        elif isinstance(b, Display):
            out.append(_latex_rows(b.rows, "align*") if len(b.rows) > 1 or len(b.rows[0]) > 1
                       else f"\\[\n{mathprint.latex(b.rows[0][0])}\n\\]")
        elif isinstance(b, Code):
            out.append("{\\footnotesize\n\\begin{verbatim}\n" + b.text + "\n\\end{verbatim}\n}")
        elif isinstance(b, Figure):
            out.append("\\begin{center}\n\\includegraphics[width=0.9\\linewidth,height=0.3\\textheight,"
                       f"keepaspectratio]{{{figure_path(b)}}}\\\\\n\\emph{{{tex_escape(b.caption)}}}\n\\end{{center}}")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"
