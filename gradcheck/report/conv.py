"""What a convolution report adds: the default small configuration, the output-size arithmetic, the
receptive field, and the collapse of the chain-rule sums into the two matrix identities

    dL/dF = corr(X̃, G̃)                                  X̃: X zero-padded,  G̃: dO stride-dilated
    dL/dX = crop(corr(pad(G̃, d(k−1)), rot180 F))        (+ the rows no window reached, then the padding cropped)

with every intermediate matrix computed by the layer's own operations (``numpy_ops``, ``Conv`` methods),
once on the symbols — so each entry is seen to be the chain-rule sum derived before — and once on the numbers.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..layers import numpy_ops as ops
from . import figures
from .derivation import UPSTREAM, as_matrix, cell_names, evaluated, invariant, rationals, squeeze2d
from .family import Family, register
from .document import Display, Heading, Para
from .mathprint import Apply, Frac, Minus, Name, Partial, product, total

AXES = {1: ("W",), 2: ("H", "W")}  # not L: that is the loss


def small_shapes(layer, size=None):
    """One image, one channel per group, with bias; kernel s + 1 per axis (so windows overlap); the smallest side ≥ 3
    (or ``size``) with at least two outputs per axis and no leftover rows (else the smallest with two)."""
    nd = layer.spatial
    stride, dilation = layer.params["stride"], layer.params["dilation"]
    kernel = tuple(min(s + 1, 4) for s in stride)
    if size is not None:
        sides = tuple(size) * nd if len(size) == 1 else tuple(size)
        if len(sides) != nd:
            raise size_error(layer, size)
    else:
        sides = []
        for axis in range(nd):
            candidates = []
            for side in range(3, 13):
                x = (1, 1) + tuple(sides) + (side,) * (nd - axis)
                count = layer.window_counts(kernel, x[2:])[axis]
                if count.fits and count.out >= 2:
                    candidates.append((count.unread != 0, side))
            sides.append(min(candidates)[1] if candidates else 3)
    groups = layer.params["groups"]  # one channel per group
    return {"x": (1, groups) + tuple(sides), "w": (groups, 1) + kernel, "b": (groups,)}


def size_error(layer, size):
    from ..errors import ConfigError

    return ConfigError(f"size {'x'.join(map(str, reversed(size)))} does not fit {layer.name}: give "
                       f"{layer.spatial} side(s), e.g. " + ("7" if layer.spatial == 1 else "5x5"))


def geometry_of(d):
    layer = d.layer
    kernel, size = d.shapes["w"][2:], d.shapes["x"][2:]
    return kernel, size, layer.pads(kernel, size), layer.params["stride"], layer.params["dilation"]


def output_size(d) -> list:
    kernel, size, pads, stride, dilation = geometry_of(d)
    rows = []
    for axis, name in enumerate(AXES[d.layer.spatial]):
        n, k, (pb, pa), s, dl = size[axis], kernel[axis], pads[axis], stride[axis], dilation[axis]
        symbols = [sp.Symbol(t) for t in (name, "p_b", "p_a", "d", "k", "s")]

        def formula(S, PB, PA, D, K, Sd):
            return total(sp.floor(Frac(total(S, PB, PA, Minus(product(D, total(K, Minus(1)))), Minus(1)), Sd),
                                  evaluate=False), 1)
        count = d.layer.window_counts(kernel, size)[axis]  # the layer's own arithmetic (layers.geometry)
        room, result = count.room, count.out
        rows.append([sp.Symbol(f"{name}_out"), formula(*symbols),
                     formula(*[sp.Integer(v) for v in (n, pb, pa, dl, k, s)]),
                     total(sp.floor(Frac(room, s), evaluate=False), 1), sp.Integer(result)])
    reads = _read_positions(d)
    padding = d.layer.params["padding"]
    said = (f"padding {padding!r}, which resolves to " if isinstance(padding, str) else "padding ") + pads_text(pads)
    return [Para(f"A window covers d·(k − 1) + 1 input positions; it starts every s positions and the last one "
                 f"must end inside the padded input. With kernel k = {axis_text(kernel)}, stride s = "
                 f"{axis_text(stride)}, dilation d = {axis_text(dilation)} and {said}:"),
            Display(rows),
            Para(f"so {UPSTREAM} and the output have shape {d.out_shape} (N, C_out, "
                 + ", ".join(f"{a}_out" for a in AXES[d.layer.spatial]) + "). The same geometry is in the "
                 "rule's read position: " + ("output position i with filter tap p reads the input at"
                                             if d.layer.spatial == 1 else "output (i, j) with filter tap (p, q) "
                                             "reads the input at row and column")),
            Display(reads)]


def _read_positions(d) -> list:
    """s·(i − 1) + d·(p − 1) + 1 − p_b per axis, checked against the read index of the 1-based rule."""
    from .sections import one_based_rule

    _, rhs, bases, _ = one_based_rule(d)
    term = next(t for t in (rhs.args if type(rhs).__name__ == "Terms" else [rhs]) if isinstance(t, sp.Sum))
    read = next(r for r in sp.sympify(evaluated(term.function)).atoms(sp.Indexed) if r.base == bases["x"])
    kernel, size, pads, stride, dilation = geometry_of(d)
    rows = []
    for axis in range(d.layer.spatial):
        i, tap = d.rule.indices[2 + axis], term.limits[1 + axis][0]
        S, D, PB = sp.symbols("s d p_b")
        general = total(product(S, total(i, Minus(1))), product(D, total(tap, Minus(1))), 1, Minus(PB))
        concrete = stride[axis] * (i - 1) + dilation[axis] * (tap - 1) + 1 - pads[axis][0]
        invariant(sp.expand(concrete - read.indices[2 + axis]) == 0, "read position disagrees with the rule")
        rows.append([general, total(product(stride[axis], total(i, Minus(1))), product(dilation[axis], total(
            tap, Minus(1))), 1, Minus(pads[axis][0])), sp.expand(concrete)])
    return rows


def padding_cells(arr):
    return squeeze2d(np.vectorize(lambda s: not isinstance(s, sp.Symbol), otypes=[bool])(arr).astype(object)) \
        .astype(bool)


def receptive_field(d, symbolic_x_padded, numeric_x_padded):
    """Padded X with the window of one output highlighted (the last one: it shows the stride)."""
    kernel, size, pads, stride, dilation = geometry_of(d)
    last = tuple(n - 1 for n in d.out_shape[2:])
    window = np.zeros(symbolic_x_padded.shape[2:], dtype=bool)
    window[np.ix_(*[[s * i + dl * t for t in range(k)] for i, s, dl, k in zip(last, stride, dilation, kernel)])] = True
    out_mark = np.zeros(d.out_shape[2:], dtype=bool)
    out_mark[last] = True
    o_name = str(d.O[(0, 0) + last]).replace("_", "")
    return figures.grids("receptive-field", f"The receptive field of {o_name}: the cells of the padded X it "
                         "reads (orange); grey cells are zero padding", [
                             figures.Panel("X padded", squeeze2d(numeric_x_padded[0, 0]),
                                           cell_names(symbolic_x_padded[0, 0]), window.reshape(squeeze2d(window).shape),
                                           padding_cells(symbolic_x_padded[0, 0])),
                             figures.Panel("F", squeeze2d(d.inputs["w"][0, 0]), cell_names(d.symbols["w"][0, 0])),
                             figures.Panel("O", squeeze2d(d.forward_values[0, 0]), cell_names(d.O[0, 0]),
                                           squeeze2d(out_mark).astype(bool))])


def equal(a, b) -> bool:
    return all(sp.expand(sp.sympify(x) - sp.sympify(y)) == 0 for x, y in zip(np.ravel(a), np.ravel(b)))


def identity_steps(d, x, w, g):
    """The identities step by step, on any arrays (symbols or numbers), with the layer's own operations."""
    layer = d.layer
    kernel, size, pads, stride, dilation = geometry_of(d)
    s = {"x_padded": ops.pad(x, pads), "g_dilated": ops.dilate_by(g, stride)}
    s["grad_w_full"] = layer.weight_gradient(s["x_padded"], s["g_dilated"], (None,) * len(kernel), dilation)
    s["grad_w"] = layer.weight_gradient(s["x_padded"], s["g_dilated"], kernel, dilation)
    extent = [dl * (k - 1) for k, dl in zip(kernel, dilation)]
    s["g_full_padded"] = ops.pad(s["g_dilated"], tuple((e, e) for e in extent))
    s["w_rotated"] = ops.rot180(w)
    s["full"] = ops.correlate(s["g_full_padded"], ops.swap_in_out(s["w_rotated"], layer.params["groups"]),
                              stride=(1,) * len(kernel), dilation=dilation, groups=layer.params["groups"])
    s["grad_x_padded"] = layer.padded_input_gradient(s["g_dilated"], w, s["x_padded"].shape[2:], dilation)
    s["remainder"] = tuple(a - b for a, b in zip(s["grad_x_padded"].shape[2:], s["full"].shape[2:]))
    s["grad_x"] = ops.pad(s["grad_x_padded"], tuple((-pb, -pa) for pb, pa in pads))
    return s


def matrix_of(arr):
    return as_matrix(np.vectorize(lambda v: v if isinstance(v, sp.Basic) else sp.Rational(v),
                                  otypes=[object])(np.asarray(arr, dtype=object)))


def axis_text(values) -> str:
    """A per-axis tuple as text: (2,) -> '2', (2, 1) -> '(2, 1)'."""
    return str(values[0]) if len(values) == 1 else str(tuple(values))


def pads_text(pads) -> str:
    if len(set(pads)) == 1 and pads[0][0] == pads[0][1]:
        return f"{pads[0][0]} on every side"
    return "(before, after) = " + ", ".join(f"{a}" for a in pads) + " per axis"


def _correlation_rule(a_name, b_name, dilation, shape_b):
    """corr(A, B) at (p, q): Σ_u Σ_v A[d(p − 1) + u, d(q − 1) + v] · B[u, v] (1-based), as in ops.correlate."""
    nd = len(dilation)
    out = sp.symbols("p q" if nd == 2 else "p", integer=True, seq=True)
    taps = sp.symbols("u v" if nd == 2 else "u", integer=True, seq=True)
    A, B = sp.IndexedBase(a_name), sp.IndexedBase(b_name)
    read = tuple(dl * (o - 1) + t if dl != 1 else o + t - 1 for o, t, dl in zip(out, taps, dilation))
    body = product(A[read], B[taps])
    return sp.Indexed(sp.IndexedBase(Apply(Name(r"\operatorname{corr}", "corr"), a_name, b_name)), *out), \
        sp.Sum(body, *[(t, 1, n) for t, n in zip(taps, shape_b)])


def _window(a, b, entry, out_step, tap_step, skip_zero_b=True):
    """The products corr(a, b)[entry] adds up, a read at out_step·entry + tap_step·tap (0-based) as in
    ops.correlate(a, b, stride=out_step, dilation=tap_step); as display factors, zero entries of b skipped."""
    terms = []
    for tap in np.ndindex(*b.shape[2:]):
        bv = b[(0, 0) + tap]
        if skip_zero_b and not isinstance(bv, sp.Symbol):
            continue
        av = a[(0, 0) + tuple(o * e + g * t for e, t, o, g in zip(entry, tap, out_step, tap_step))]
        terms.append(product(bv, av) if isinstance(bv, sp.Symbol) and bv.name.startswith(UPSTREAM) else product(av, bv))
    return total(*terms)


def collapse(d) -> list:
    kernel, size, pads, stride, dilation = geometry_of(d)
    if d.shapes["x"][:2] != (1, 1) or d.shapes["w"][:2] != (1, 1):
        return [Heading(2, "The sums collapse into two matrix identities"),
                Para("The step-by-step collapse is drawn for one image and one channel (N = C_in = C_out = 1); "
                     "with several channels the same identities hold per channel pair, summed over the batch "
                     "and the input channels of each group (see the single-channel reports).")]
    sym = identity_steps(d, d.symbols["x"], d.symbols["w"], d.dO)
    num = identity_steps(d, rationals(d.inputs["x"]), rationals(d.inputs["w"]), rationals(d.grad_out))
    # The identities reproduce the chain-rule sums term by term, and the numbers of the oracle.
    invariant(equal(sym["grad_w"], d.gradients["w"]) and equal(sym["grad_x"], d.gradients["x"]),
              "the identities on symbols disagree with the derived gradients")
    invariant(equal(num["grad_w"], d.gradient_values["w"]) and equal(num["grad_x"], d.gradient_values["x"]),
              "the identities on the numbers disagree with the sympy oracle")
    L, X, F = sp.Symbol("L"), sp.Symbol("X"), sp.Symbol("F")
    Xt, Gt = Name(r"\tilde{X}", "X", "~"), Name(r"\tilde{G}", "G", "~")
    corr, pad, rot = (Name(rf"\operatorname{{{n}}}", n) for n in ("corr", "pad", "rot180"))
    s_text = "×".join(map(str, stride))
    blocks = [Heading(2, "The sums collapse into two matrix identities"),
              Para("Look at the chain-rule sums as arrays. Two ingredients appear in both identities:"),
              Para(f"X̃, the input with its zero padding ({pads_text(pads)}):" if any(map(any, pads)) else
                   "X̃, the input with its zero padding — none here, so X̃ = X:"),
              Display([[Xt, matrix_of(sym["x_padded"]), matrix_of(num["x_padded"])]]),
              Para(f"G̃, the upstream gradient dilated by the stride {s_text}: s − 1 zeros between neighbouring "
                   "entries (output positions are s apart in the input, so dO is spread back onto that grid):"),
              Display([[Gt, matrix_of(sym["g_dilated"]), matrix_of(num["g_dilated"])]]),
              receptive_field(d, sym["x_padded"], num["x_padded"]),
              Heading(3, "dL/dF = corr(X̃, G̃)")]
    wide = sym["grad_w_full"].shape[2:] != sym["grad_w"].shape[2:]
    first = (0,) * len(kernel)
    lhs, rule = _correlation_rule(Xt, Gt, dilation, sym["g_dilated"].shape[2:])
    first_window = _window(sym["x_padded"], sym["g_dilated"], first, dilation, (1,) * len(first))
    invariant(equal([evaluated(first_window)], [d.gradients["w"][(0, 0) + first]]),
              "worked window disagrees with the chain rule")
    blocks += [Para("Slide G̃ over X̃ — a valid cross-correlation, with X̃ read at the filter's dilation "
                    f"{axis_text(dilation)}:"),
               Display([[lhs, rule]]),
               Para("Only the entries of G̃ that hold a dO contribute; at the first filter position, for example, "
                    + ("the window of X̃ may still lie partly on the padding:" if any(map(any, pads)) else
                       "with no padding every read is an element of X:")),
               Display([[Partial(L, d.symbols["w"][(0, 0) + first]), first_window,
                         d.ordered(sym["grad_w"][(0, 0) + first])]]),
               Para("Entry by entry this is exactly the chain-rule sum derived above (checked with SymPy, term by "
                    "term):"),
               Display([[Partial(L, d.symbols["w"][ix]), d.ordered(sym["grad_w"][ix]), d.gradient_values["w"][ix]]
                        for ix in np.ndindex(*d.shapes["w"])])]
    if wide:
        blocks.append(Para(f"The correlation itself is {squeeze2d(sym['grad_w_full']).shape} — larger than F "
                           "because the last rows/columns of X̃ are read by no window; dL/dF is its first "
                           f"{axis_text(kernel)} block."))
    blocks += [Display([[Partial(L, F), Apply(corr, Xt, Gt), matrix_of(num["grad_w"])]]),
               _figure_w(d, sym, num)]
    e = tuple(dl * (k - 1) for k, dl in zip(kernel, dilation))
    remainder = sym["remainder"]
    blocks += [Heading(3, "dL/dX = full-conv(rot180 F, G̃), cropped"),
               Para(f"Every X̃ position is reached by the taps of the outputs around it, taken in reverse order. "
                    f"So pad G̃ with d·(k − 1) = {axis_text(e)} zeros on each side (a 'full' correlation) …"),
               Display([[Apply(pad, Gt), matrix_of(sym["g_full_padded"]),
                         matrix_of(num["g_full_padded"])]]),
               Para("… and slide the filter rotated by 180° (every spatial axis reversed) over it:"),
               Display([[Apply(rot, F), matrix_of(sym["w_rotated"]), matrix_of(num["w_rotated"])]]),
               Display([[Apply(corr, Apply(pad, Gt), Apply(rot, F)), matrix_of(num["full"])]])]
    if any(remainder):
        blocks.append(Para(f"It is {axis_text(remainder)} short of X̃'s shape: the last rows/columns of X̃ are read "
                           "by no output window ((size + 2p − d(k − 1) − 1) mod s of them), so their gradient is 0 — "
                           "append them after (bottom/right):"))
    blocks += [Para("That is dL/dX̃, the gradient of the padded input. The padding is not part of X: crop it "
                    f"({pads_text(pads)}) to get dL/dX:"),
               Display([[Partial(L, Xt), matrix_of(num["grad_x_padded"])], [Partial(L, X), matrix_of(num["grad_x"])]]),
               Para("Entry by entry (the same correlation rule, now with pad(G̃) and rot180 F) each X̃ position "
                    "collects the dO of every window over it times the filter tap lying on it — the zeros of "
                    "pad(G̃) drop out, as in the first row — and that is exactly the chain-rule sum derived above "
                    "(checked with SymPy for every entry), e.g.:"),
               Display([_worked_x(d, sym, ix, Xt, full=k == 0) for k, ix in enumerate(_interesting(d))]),
               _figure_x(d, sym, num),
               Para("Both are what the layer's hand-coded NumPy backward computes (Conv.weight_gradient and "
                    "Conv.padded_input_gradient)" + (", and the bias collects every dO: dL/db = Σ dO." if "b" in d.shapes
                                                     else "."))]
    return blocks


def _worked_x(d, sym, ix, Xt, full=False):
    """∂L/∂X_ix = ∂L/∂X̃_(ix + pad) = the window of pad(G̃) under rot180 F (``full``: its zeros shown too)."""
    kernel, size, pads, stride, dilation = geometry_of(d)
    L = sp.Symbol("L")
    padded = tuple(i + pb for i, (pb, _) in zip(ix[2:], pads))
    full_shape = sym["full"].shape[2:]
    if any(p >= n for p, n in zip(padded, full_shape)):  # a row no window reached: its gradient is 0
        return [Partial(L, d.symbols["x"][ix]), sp.Integer(0)]
    window = _window(sym["g_full_padded"], sym["w_rotated"], padded, (1,) * len(padded), dilation,
                     skip_zero_b=False)
    kept = total(*[t for t in (window.args if type(window).__name__ == "Terms" else [window])
                   if isinstance(t.args[0], sp.Symbol) and t.args[0].name.startswith(UPSTREAM)])
    invariant(equal([evaluated(window)], [d.gradients["x"][ix]]), "worked window disagrees with the chain rule")
    xt = sp.Indexed(sp.IndexedBase(Xt), *[p + 1 for p in padded])
    return [Partial(L, d.symbols["x"][ix]), Partial(L, xt)] + ([window] if full else []) + [
        kept, d.gradient_values["x"][ix]]


def _interesting(d):
    """The input elements with the most terms (overlapping windows), at most four."""
    counts = sorted(((-len(sp.Add.make_args(sp.expand(g))), ix) for ix, g in np.ndenumerate(d.gradients["x"])))
    return [ix for _, ix in counts[:4]]


def _figure_w(d, sym, num):
    return figures.grids("collapse-w", "dL/dF = corr(X̃, G̃): padded X, stride-dilated dO (grey: zeros), result",
                         [figures.Panel("X̃ (padded X)", squeeze2d(num["x_padded"]), cell_names(sym["x_padded"]),
                                        shade=padding_cells(sym["x_padded"])),
                          figures.Panel("G̃ (dO dilated)", squeeze2d(num["g_dilated"]), cell_names(sym["g_dilated"]),
                                        shade=padding_cells(sym["g_dilated"])),
                          figures.Panel("dL/dF", squeeze2d(num["grad_w"]), cell_names(d.symbols["w"], "d"))])


def _figure_x(d, sym, num):
    cropped = np.ones(num["grad_x_padded"].shape[2:], dtype=bool)
    kernel, size, pads, *_ = geometry_of(d)
    cropped[tuple(slice(pb, pb + n) for (pb, _), n in zip(pads, size))] = False
    return figures.grids("collapse-x", "dL/dX: dilated dO padded for the full correlation, the rotated filter, "
                         "dL/dX̃ (grey: cropped padding), dL/dX",
                         [figures.Panel("pad(G̃)", squeeze2d(num["g_full_padded"]), cell_names(sym["g_full_padded"]),
                                        shade=padding_cells(sym["g_full_padded"])),
                          figures.Panel("rot180 F", squeeze2d(num["w_rotated"]), cell_names(sym["w_rotated"])),
                          figures.Panel("dL/dX̃", squeeze2d(num["grad_x_padded"]), shade=squeeze2d(cropped).astype(bool)),
                          figures.Panel("dL/dX", squeeze2d(num["grad_x"]), cell_names(d.symbols["x"], "d"))])


CONV = register(Family(names={"x": "X", "w": "F", "b": "b"}, small_shapes=small_shapes, output_size=output_size,
                       sections=collapse, examples=[("conv2d", {"stride": 2, "padding": 1})]),
                "conv1d", "conv2d")
