"""What a transposed-convolution report adds: the output-size arithmetic, and the adjoint relation with numbers

    ⟨conv(Z, F), Y⟩ = ⟨Z, conv_transpose(Y, F)⟩        (same F, stride, padding, dilation, groups)

for the report's data (Y = X, Z = dO: so dL/dX = conv(dO, F)), and the lecture's fact that the forward pass of
a transposed convolution is the input gradient of that convolution (upstream gradient X): X stride-dilated,
padded for the full correlation, correlated with the rotated filter, the padding cropped — each matrix made
by the conv family's own step function (``gradcheck.report.conv.identity_steps``), on the symbols and on the numbers,
and checked against the expanded rule and the sympy oracle.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import sympy as sp

from . import figures
from .conv import (AXES, axis_text, geometry_of, identity_steps, matrix_of, padding_cells, pads_text, size_error,
                   equal)
from .derivation import UPSTREAM, as_matrix, cell_names, display_array, invariant, rationals, squeeze2d
from .family import Family, register
from .document import Display, Heading, Para
from ..layers.geometry import transposed_output_size
from .mathprint import Apply, Minus, Name, Pair, Partial, product, total

OUTPUT_PADDING = Name(r"\mathit{output\_padding}", "output_padding")


def small_shapes(layer, size=None):
    """One image, one channel, no bias: a 2-long input per axis (or ``size``) and a 3-tap filter."""
    nd = layer.spatial
    if size is not None:
        sides = tuple(size) * nd if len(size) == 1 else tuple(size)
        if len(sides) != nd:
            raise size_error(layer, size)
    else:
        sides = (3,) if nd == 1 else (2, 2)
    return {"x": (1, 1) + sides, "w": (1, 1) + (3,) * nd}


def output_size(d) -> list:
    p, size, kernel = d.layer.params, d.shapes["x"][2:], d.shapes["w"][2:]
    rows = []
    for axis, name in enumerate(AXES[d.layer.spatial]):
        values = (size[axis], p["stride"][axis], p["padding"][axis], p["dilation"][axis], kernel[axis],
                  p["output_padding"][axis])

        def formula(S, Sd, P, D, K, OP):
            return total(product(total(S, Minus(1)), Sd), Minus(product(2, P)), product(D, total(K, Minus(1))),
                         OP, 1)
        n, s, pad, dl, k, op = values
        result = transposed_output_size(n, k, stride=s, padding=pad, output_padding=op, dilation=dl)
        general = formula(*[sp.Symbol(t) for t in (name, "s", "p", "d", "k")] + [OUTPUT_PADDING])
        rows.append([sp.Symbol(f"{name}_out"), general,
                     formula(*[sp.Integer(v) for v in values]), sp.Integer(result)])
    return [Para("Each input element places a d·(k − 1) + 1 long copy of the filter, s apart; the padding p is "
                 "cropped from both ends and output_padding added at the end. With kernel k = "
                 f"{axis_text(kernel)}, stride s = {axis_text(p['stride'])}, padding p = "
                 f"{axis_text(p['padding'])}, dilation d = {axis_text(p['dilation'])} and output_padding "
                 f"{axis_text(p['output_padding'])}:"),
            Display(rows),
            Para(f"so {UPSTREAM} and the output have shape {d.out_shape} (N, C_out, "
                 + ", ".join(f"{a}_out" for a in AXES[d.layer.spatial]) + ").")]


def _inner(a, b) -> sp.Expr:
    return sum((sp.sympify(u) * sp.sympify(v) for u, v in zip(np.ravel(a), np.ravel(b))), sp.Integer(0))


def _shown_inner(a, b):
    """Σ a·b written out, the products with a zero factor left out."""
    return total(*[product(u, v) for u, v in zip(np.ravel(a), np.ravel(b)) if u != 0 and v != 0])


def adjoint(d) -> list:
    layer, nd = d.layer, d.layer.spatial
    conv = layer.as_conv()
    op = {1: ("conv1d", "conv_transpose1d"), 2: ("conv2d", "conv_transpose2d")}[nd]
    conv_name, t_name = (Name(rf"\operatorname{{{n.replace('_', chr(92) + '_')}}}", n) for n in op)
    X, F, Z, Y = (sp.Symbol(s) for s in "XFZY")
    x, w, g = rationals(d.inputs["x"]), rationals(d.inputs["w"]), rationals(d.grad_out)
    out_no_bias = d.forward_values - (rationals(d.inputs["b"]).reshape((1, -1) + (1,) * nd) if "b" in d.inputs else 0)
    # conv(dO, F): the convolution's forward on the transposed layer's output shape, cut to X's shape (only
    # output_padding ≥ stride makes it longer)
    conv_g = conv.numpy_forward(g, w)[(slice(None),) * 2 + tuple(slice(0, n) for n in d.shapes["x"][2:])]
    left, right = _inner(conv_g, x), _inner(g, out_no_bias)
    invariant(left == right, "the adjoint relation fails on the report's data")
    invariant(all(a == b for a, b in zip(conv_g.ravel(), d.gradient_values["x"].ravel())),
              "conv(dO, F) disagrees with the sympy oracle's dL/dX")
    # the identity for all Z and Y: both sides the same bilinear polynomial (SymPy)
    z_sym, y_sym = display_array("Z", d.out_shape), display_array("Y", d.shapes["x"])
    t_of_y = layer.numpy_forward(y_sym, d.symbols["w"])
    cut = (slice(None),) * 2 + tuple(slice(0, n) for n in d.shapes["x"][2:])
    conv_z = conv.numpy_forward(z_sym, d.symbols["w"])[cut]
    invariant(sp.expand(_inner(conv_z, y_sym) - _inner(z_sym, t_of_y)) == 0, "the adjoint identity fails symbolically")
    n_terms = len(sp.Add.make_args(sp.expand(_inner(z_sym, t_of_y))))
    blocks = [Heading(2, "The adjoint relation"),
              Para(f"{op[1]} is the adjoint (the transpose) of {op[0]} with the same filter, stride "
                   f"{axis_text(layer.params['stride'])}, padding {axis_text(layer.params['padding'])} and "
                   f"dilation {axis_text(layer.params['dilation'])}: written as matrices, the convolution is "
                   "y = C·x and the transposed convolution multiplies by Cᵀ. For every Z (the shape of this "
                   "layer's output) and Y (the shape of its input):"),
              Display([[Pair(Apply(conv_name, Z, F), Y), Pair(Z, Apply(t_name, Y, F))]]),
              Para(f"— checked with SymPy for these shapes: both sides expand to the same {n_terms} products "
                   "Z·Y·F. With Y = X and Z = dO, the report's data (products with a zero factor left out):"),
              Display([[Apply(conv_name, sp.Symbol(UPSTREAM), F), as_matrix(conv_g)],
                       [Pair(Apply(conv_name, sp.Symbol(UPSTREAM), F), X), _shown_inner(conv_g, x), left],
                       [Pair(sp.Symbol(UPSTREAM), Apply(t_name, X, F)), _shown_inner(g, out_no_bias), right]]),
              Para(f"Both are L = Σ dO·O" + (" (without the bias term)" if "b" in d.inputs else "")
                   + f". Since L = ⟨conv(dO, F), X⟩ is linear in X, dL/dX = {op[0]}(dO, F): the backward pass of a "
                   f"transposed convolution is the ordinary convolution of dO — the matrix above is the dL/dX "
                   "derived element by element before.")]
    return blocks + _forward_is_input_gradient(d, op, conv)


def _forward_is_input_gradient(d, op, conv) -> list:
    if d.shapes["x"][:2] != (1, 1) or d.shapes["w"][:2] != (1, 1):
        return [Heading(2, "The forward pass is a convolution's input gradient"),
                Para("The step-by-step comparison is drawn for one image and one channel; with several channels "
                     "the same steps hold per channel pair.")]
    # The convolution whose input gradient this is: input of this layer's output shape, filter F, G = X.
    conv_d = SimpleNamespace(layer=conv, shapes={"x": d.out_shape, "w": d.shapes["w"]})
    zeros = np.zeros(d.out_shape, dtype=object)
    sym = identity_steps(conv_d, zeros, d.symbols["w"], d.symbols["x"])
    num = identity_steps(conv_d, zeros, rationals(d.inputs["w"]), rationals(d.inputs["x"]))
    bias = (lambda arr: arr) if "b" not in d.inputs else (
        lambda arr: arr + np.asarray(d.symbols["b"]).reshape((1, -1) + (1,) * d.layer.spatial))
    invariant(equal(bias(sym["grad_x"]), d.outputs), "the steps disagree with the expanded rule")
    invariant(equal(num["grad_x"], d.forward_values - (0 if "b" not in d.inputs else rationals(
        d.inputs["b"]).reshape((1, -1) + (1,) * d.layer.spatial))), "the steps disagree with the sympy oracle")
    Xt = Name(r"\tilde{X}", "X", "~")
    pad, rot, corr, crop = (Name(rf"\operatorname{{{n}}}", n) for n in ("pad", "rot180", "corr", "crop"))
    F, L = sp.Symbol("F"), sp.Symbol("L")
    kernel, _, pads, stride, dilation = geometry_of(conv_d)
    e = tuple(dl * (k - 1) for k, dl in zip(kernel, dilation))
    remainder = sym["remainder"]
    blocks = [Heading(2, f"The forward pass is {op[0]}'s input gradient"),
              Para(f"Lecture fact: the forward pass of a transposed convolution equals the input gradient of the "
                   f"corresponding convolution. Take {op[0]} with stride {axis_text(stride)}, padding "
                   f"{axis_text(d.layer.params['padding'])} and the filter F on an input Z of this layer's output "
                   f"shape {d.out_shape[2:]}; its output has X's shape, so let X be its upstream gradient. Its "
                   "dL/d(input), computed exactly as in the conv2d report, step by step (symbols, then numbers):"),
              Para(f"X̃: X dilated by the stride — s − 1 zeros between neighbouring entries:"),
              Display([[Xt, matrix_of(sym["g_dilated"]), matrix_of(num["g_dilated"])]]),
              Para(f"padded with d·(k − 1) = {axis_text(e)} zeros on each side for the full correlation:"),
              Display([[Apply(pad, Xt), matrix_of(sym["g_full_padded"]),
                        matrix_of(num["g_full_padded"])]]),
              Para("the filter rotated by 180°:"),
              Display([[Apply(rot, F), matrix_of(sym["w_rotated"]), matrix_of(num["w_rotated"])]]),
              Para("their correlation"
                   + (f", {axis_text(remainder)} rows/columns of zeros appended after (output_padding)"
                      if any(remainder) else "") + (f", and the padding p cropped ({pads_text(pads)}):"
                                                    if any(map(any, pads)) else " (no padding to crop):")),
              Display([[Apply(corr, Apply(pad, Xt), Apply(rot, F)), matrix_of(num["grad_x_padded"])]] + (
                  [[Apply(crop, Apply(corr, Apply(pad, Xt), Apply(rot, F))), matrix_of(num["grad_x"])]]
                  if any(map(any, pads)) else [])),
              Para(f"Side by side, {op[0]}'s input gradient (upstream gradient X) and this layer's output "
                   f"(input X) are the same matrix: on the symbols, each entry of the steps above is the expanded "
                   f"output element derived before (checked with SymPy)"
                   + (" (the bias added after)" if "b" in d.inputs else "") + ". Z is the convolution's input:"),
              Display([[Partial(L, sp.Symbol("Z")), sp.Symbol("O"), as_matrix(d.forward_values)]]),
              _figure(d, sym, num)]
    return blocks


def _figure(d, sym, num):
    names = cell_names
    return figures.grids("transposed-forward", "The transposed convolution's forward pass as a convolution's input "
                         "gradient: X stride-dilated and padded (grey: zeros), the rotated filter, the output",
                         [figures.Panel("pad(X̃)", squeeze2d(num["g_full_padded"]), names(sym["g_full_padded"]),
                                        shade=padding_cells(sym["g_full_padded"])),
                          figures.Panel("rot180 F", squeeze2d(num["w_rotated"]), names(sym["w_rotated"])),
                          figures.Panel("O", squeeze2d(d.forward_values), names(d.O))])


CONV_TRANSPOSE = register(Family(names={"x": "X", "w": "F", "b": "b"}, small_shapes=small_shapes,
                                 output_size=output_size, sections=adjoint, params={"stride": 2},
                                 examples=[("conv_transpose2d", {"stride": 2, "padding": 1, "output_padding": 1})]),
                          "conv_transpose1d", "conv_transpose2d")
