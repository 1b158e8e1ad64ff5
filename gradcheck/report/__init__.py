"""Derivation reports: the lecture's hand derivation of a layer's backward pass, generated from its SymPy rule.

>>> from gradcheck.report import report
>>> r = report("conv2d")                     # default small configuration, integer data from seed 0
>>> r.stem, sorted(f.stem for f in r.figures())
('conv2d', ['collapse-w', 'collapse-x', 'receptive-field', 'values'])
>>> "MathML" in r.html() and "$$" in r.markdown()
True

``Report`` shows itself in Jupyter (``_repr_html_``, ``_repr_markdown_``) and writes Markdown (GitHub math,
SVG figures beside it), one self-contained HTML file (MathML, inline SVG) or LaTeX (PDF figures beside it).
Sections per layer family are registered in ``family.FAMILIES`` (one small module per family, see ``conv.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _io
from ..errors import ConfigError
from ..layers import layer as make_layer
from ..layers._params import fmt
from ..layers.schema import command_args
from . import document
from .derivation import Derivation
from .family import FAMILIES, Family, default_layer, family_of, generic_small_shapes, pinned_data, register
from .sections import generic_sections
from . import conv  # noqa: F401  (registers the conv1d/conv2d sections; a new family: one import line)
from . import pool  # noqa: F401  (max_pool2d routing, avg_pool2d divisors)
from . import conv_transpose  # noqa: F401  (the adjoint relation)
from . import resample  # noqa: F401  (unpooling and upsampling at ×2)

FORMATS = ("md", "html", "tex")


@dataclass
class Report:
    """A derivation report: ``stem`` (file name), ``title`` and its document blocks."""

    stem: str
    title: str
    blocks: list

    def figures(self) -> list[document.Figure]:
        return [b for b in self.blocks if isinstance(b, document.Figure)]

    def markdown(self) -> str:
        return document.markdown(self.blocks, lambda f: f"{self.stem}_files/{f.stem}.svg")

    def html(self) -> str:
        return document.html_page(self.title, self.blocks)

    def tex(self) -> str:
        return document.tex_document(self.title, self.blocks, lambda f: f"{self.stem}_files/{f.stem}.pdf")

    def write(self, out_dir=".", formats=("html",)) -> list[Path]:
        """Write the report in each format; figures go to ``<stem>_files/`` (SVG for md, PDF for tex).

        Every file lands inside ``out_dir`` (a stem such as ``../x`` is refused) and is written whole or not at all."""
        for fmt_ in formats:
            if fmt_ not in FORMATS:
                raise ConfigError(f"format {fmt_!r} is not allowed: formats are {', '.join(FORMATS)}")
        out = _io.folder(out_dir)
        written = []
        for fmt_ in formats:
            text = getattr(self, {"md": "markdown", "html": "html", "tex": "tex"}[fmt_])()
            written.append(_io.write_atomic(_io.safe_path(out, f"{self.stem}.{fmt_}"), text))
            if fmt_ in ("md", "tex") and self.figures():
                _io.folder(_io.safe_path(out, f"{self.stem}_files"))
            for fig in self.figures() if fmt_ in ("md", "tex") else []:
                ext = "svg" if fmt_ == "md" else "pdf"
                target = _io.safe_path(out, f"{self.stem}_files/{fig.stem}.{ext}")
                written.append(_io.write_atomic(target, fig.svg if fmt_ == "md" else fig.pdf))
        return written

    def _repr_html_(self) -> str:
        return document.html_body(self.blocks)

    def _repr_markdown_(self) -> str:
        return document.markdown(self.blocks)  # figures embedded as data URIs


def parse_size(size) -> tuple[int, ...] | None:
    """'small' -> None; '5x4' (W×H) -> (4, 5) in array order (H, W); '7' -> (7,)."""
    if size is None or size == "small":
        return None
    if isinstance(size, (tuple, list)):
        return tuple(int(s) for s in size)
    parts = str(size).lower().split("x")
    if not all(p.isdigit() and int(p) >= 1 for p in parts) or len(parts) > 3:
        raise ConfigError(f"size {size!r} is not allowed: size must be 'small', W (1-D) or WxH with sides >= 1")
    return tuple(int(p) for p in reversed(parts))


def _stem(layer, size, seed, name=None) -> str:
    if name:
        return name
    defaults = default_layer(type(layer)).params
    parts = [layer.name] + [f"{k}{fmt(v).strip(chr(39)).replace(', ', 'x').strip('()')}"
                            for k, v in layer.params.items() if v != defaults.get(k)]
    if size is not None:
        parts.append("x".join(map(str, reversed(size))))
    if seed:
        parts.append(f"seed{seed}")
    return "-".join(parts)


def report(layer, *inputs, grad_out=None, size="small", seed: int = 0, name: str | None = None,
           command: str | None = None, **params) -> Report:
    """The derivation report of ``layer`` (a Layer or a registered name configured by ``params``).

    With ``inputs`` (and optionally ``grad_out``) the report works through that data; without, through the
    layer's default small configuration (or spatial ``size``, e.g. '5x5') with integers in [-3, 3] drawn
    from ``seed``. ``name``: the file stem; ``command``: how to regenerate it (printed in the report).
    """
    layer = default_layer(layer) if isinstance(layer, str) and not params and not inputs else \
        make_layer(layer, **params)
    family = family_of(layer)
    rng = np.random.default_rng(seed)
    sides = parse_size(size)
    if inputs:
        arrays, _, g = layer.prepare(inputs, grad_out)
        shapes = {k: v.shape for k, v in arrays.items()}
        origin, seed_shown = "The data was given.", None
        if g is None:
            g = rng.integers(-3, 4, size=layer.output_shape(shapes))
            origin, seed_shown = f"The data was given; dO is drawn from seed {seed}.", seed
    else:
        shapes = (family.small_shapes or generic_small_shapes)(layer, sides)
        layer.check_shapes(shapes)
        pinned = pinned_data(layer, sides)
        given = pinned[1] if pinned and pinned[0] == shapes else {}
        arrays = {k: np.asarray(given[k], dtype=np.int64) if k in given else _draw(layer, k, shapes, rng)
                  for k in shapes}
        g = rng.integers(-3, 4, size=layer.output_shape(shapes))
        origin, seed_shown = f"Small integers drawn from seed {seed}.", seed
    stem = _stem(layer, sides if not inputs else None, seed if not inputs else 0, name)
    if command is None:
        # spelled as the parameters are named (--output_padding, which the CLI takes too), as the committed reports are
        held = command_args({k: v for k, v in layer.params.items() if v != default_layer(type(layer)).params.get(k)},
                            dashes=False)
        command = " ".join(p for p in ["gradcheck report", layer.name, held,
                                       f"--size {size}" if sides else "", f"--seed {seed}" if seed else ""] if p)
    d = Derivation(layer, shapes, arrays, g, origin=origin, command=command, seed=seed_shown)
    shapes_text = ", ".join(f"{d.letter(k)} {v}" for k, v in shapes.items())
    title = f"Derivation: {layer!r}, {shapes_text}"
    intro = document.Para(
        f"The backward pass of {layer!r} worked out by hand, as in the lectures — generated by gradcheck from "
        "the layer's SymPy forward rule, so every formula below is derived, not typed.")
    blocks = generic_sections(d)
    numbered = [b for b in blocks if isinstance(b, document.Heading) and b.level == 2]
    for k, heading in enumerate(numbered, start=1):
        heading.text = f"{k}. {heading.text}"
    return Report(stem, title, [document.Heading(1, title), intro] + blocks)


def _draw(layer, name, shapes, rng):
    if name in layer.differentiable:
        return rng.integers(-3, 4, size=shapes[name])
    from hypothesis import find, settings

    # the minimal valid non-data input (targets, indices) of a configuration that has none pinned (DEFAULT_DATA)
    return find(layer.input_strategy(name, shapes, "integer"), lambda _: True,
                settings=settings(database=None, derandomize=True))


__all__ = ["FAMILIES", "FORMATS", "Family", "Report", "parse_size", "register", "report"]
