"""What a pooling report adds: the default small configuration, torch's output-size rule with the numbers
(ceil_mode included), and

- max_pool2d: the routing — which element of every window is selected under the layer's tie convention
  (``MaxPool2d.forward_with_indices`` for 'first', the tied maxima for 'split') — and dL/dX as the sum of the
  dO routed to each element, overlapping windows adding up; a figure with an arrow from each output to its
  selected input;
- avg_pool2d: the divisor of every window (``AvgPool2d.divisor``: count_include_pad, ceil_mode clipping,
  divisor_override) and dL/dX = Σ dO/divisor spread over the windows.

The windows are the layer's own (``Pool2d.taps``); every number shown is asserted equal to the sympy oracle's.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp

from . import figures
from .conv import pads_text
from .derivation import UPSTREAM, as_matrix, cell_names, invariant, rationals, squeeze2d
from .family import Family, register
from .document import Display, Heading, Items, Math, Para
from .mathprint import Apply, Frac, Minus, Name, Partial, product, total

AXES = ("H", "W")
MAX = Name(r"\max", "max")


def small_shapes(layer, size=None):
    """One image, one channel, 4×4 — 5×5 under ceil_mode, so a last window runs past the input — (or ``size``;
    one side: square)."""
    if size is None:
        sides = (5, 5) if layer.params["ceil_mode"] else (4, 4)
    else:
        sides = tuple(size) * 2 if len(size) == 1 else tuple(size)
    if len(sides) != 2:
        from ..errors import ConfigError
        raise ConfigError(f"size {'x'.join(map(str, reversed(size)))} does not fit {layer.name}: give WxH, e.g. 5x5")
    return {"x": (1, 1) + sides}


def output_size(d) -> list:
    layer, size = d.layer, d.shapes["x"][2:]
    p, pads = layer.params, layer.pads(size)
    ceil, dilated = p["ceil_mode"], "dilation" in p
    rows, dropped = [], []
    for axis, name in enumerate(AXES):
        n, k, s, dl, (pb, pa) = size[axis], p["kernel_size"][axis], p["stride"][axis], layer.dilation[axis], pads[axis]
        symbols = [sp.Symbol(t) for t in (name, "p_b", "p_a", "d", "k", "s")]

        def formula(S, PB, PA, D, K, Sd):
            extent = product(D, total(K, Minus(1)))
            room = total(S, PB, PA, Minus(extent), Minus(1), *([total(Sd, Minus(1))] if ceil else []))
            return total(sp.floor(Frac(room, Sd), evaluate=False), 1)
        count = layer.window_counts(size)[axis]  # the layer's own arithmetic (layers.geometry)
        room, result = count.room, count.out
        if count.dropped:
            dropped.append((name, count.counted, count.last_start))
        rows.append([sp.Symbol(f"{name}_out"), formula(*symbols),
                     formula(*[sp.Integer(v) for v in (n, pb, pa, dl, k, s)]),
                     total(sp.floor(Frac(room, s), evaluate=False), 1)] + ([] if dropped and dropped[-1][0] == name
                                                                          else [sp.Integer(result)]))
    padding = p["padding"]
    padding_said = (f"padding {padding!r}, which resolves to " if isinstance(padding, str) else "padding ") + \
        pads_text(pads)
    no_dilation = "" if dilated else " (d = 1: average pooling has no dilation)"
    rounding = ("under ceil_mode the division rounds up (the + s − 1)" if ceil else
                "the last one must end inside the padded input (the division rounds down)")
    blocks = [Para(f"torch's rule: a window covers d·(k − 1) + 1 input positions{no_dilation}, starts every "
                   f"s positions, and {rounding}. "
                   f"With kernel k = {p['kernel_size']}, stride s = {p['stride']}"
                   + f", dilation d = {layer.dilation} and {padding_said}:"),
              Display(rows)]
    for name, before, start in dropped:
        blocks.append(Para(f"Along {name} that gives {before} windows, but the last would start at position "
                           f"{start + 1} "
                           f"(1-based), in the right padding: torch drops it, so {name}_out = {before - 1}."))
    if ceil:
        blocks.append(Para("Under ceil_mode the last window may run past the input (and its padding): the part "
                           "outside reads nothing."))
    blocks.append(Para(f"so {UPSTREAM} and the output have shape {d.out_shape} (N, C, H_out, W_out)."))
    return blocks


def _windows(d):
    """{output index: [input index, …]}: the input elements each window reads, in row-major window order
    (the layer's own ``taps``; taps on the padding are left out)."""
    rows, cols, inside = d.layer.taps(d.shapes["x"][2:])
    out = {}
    for ix in np.ndindex(*d.out_shape):
        n, c, i, j = ix
        cells = [(n, c, int(r), int(q)) for r, q, ok in zip(rows[i, j].ravel(), cols[i, j].ravel(),
                                                            inside[i, j].ravel()) if ok]
        out[ix] = cells
    return out


def _cell(ix):
    return tuple(ix[2:])


def _gradient_rows(d, received, term):
    """∂L/∂X = Σ of what each element received (term(output index) each), checked against the oracle."""
    L, rows, zero = sp.Symbol("L"), [], []
    for ix, x_sym in np.ndenumerate(d.symbols["x"]):
        value = d.gradient_values["x"][ix]
        outs = received.get(ix, [])
        shown = [term(o) for o in outs]
        numbers = sum((sp.sympify(t).xreplace(d.values) if not isinstance(t, Frac) else
                       d.values[t.args[0]] / t.args[1] for t in shown), sp.Integer(0))
        invariant(numbers == value, f"routed gradient of {x_sym} disagrees with the sympy oracle")
        if not outs:
            zero.append(x_sym)
            continue
        numeric = total(*[(Frac(d.values[t.args[0]], t.args[1]) if isinstance(t, Frac) else t.xreplace(d.values))
                          for t in shown])
        rows.append([Partial(L, x_sym), total(*shown)] + ([numeric] if len(shown) > 1 or numeric != value else [])
                    + [value])
    return rows, zero


def _selection(d):
    """{output index: (window cells, tied maxima, selected cells)} under the layer's tie convention: the first
    maximum from ``MaxPool2d.forward_with_indices`` (checked to be the first tied maximum in row-major window
    order), or every tied maximum under ties='split'."""
    x = rationals(d.inputs["x"])
    _, indices = d.layer.forward_with_indices(d.given[0]["x"])
    width, split = d.shapes["x"][3], d.layer.params["ties"] == "split"
    out = {}
    for ix, cells in _windows(d).items():
        top = max(x[c] for c in cells)
        invariant(top == d.forward_values[ix], "window maximum disagrees with the sympy oracle")
        tied = [c for c in cells if x[c] == top]
        first = ix[:2] + divmod(int(indices[ix]), width)
        invariant(first == tied[0], "forward_with_indices disagrees with the first maximum in row-major order")
        out[ix] = (cells, tied, tied if split else [first])
    return out


def _local(selection, o, cell):
    """∂O_o/∂X_cell: 1 for the selected maximum (1/m each of m split ones), else 0."""
    _, _, chosen = selection[o]
    return sp.Rational(1, len(chosen)) if cell in chosen else sp.Integer(0)


def max_rule(d) -> list:
    (n, c, i, j), (a, b), read, _ = d.layer.window_reads(d.shapes)
    shift = {v: v - 1 for v in (n, c, i, j, a, b)}  # 1-based, as in the lectures
    one_based = sp.IndexedBase("X")[tuple(sp.expand(e.xreplace(shift) + 1) for e in read.indices)]
    kh, kw = d.layer.params["kernel_size"]
    padded = any(map(any, d.layer.pads(d.shapes["x"][2:])))
    return [Heading(2, "The forward rule"),
            Para("Every output is the maximum of its window (the read position is the layer's own, "
                 "MaxPool2d.window_reads, counted from 1 as in the lectures):"),
            Display([[sp.IndexedBase("O")[n, c, i, j], Apply(MAX, one_based)]]),
            Para(f"over the taps a = 1…{kh}, b = 1…{kw}, for " + ", ".join(
                f"{v} = 1…{m}" for v, m in zip((n, c, i, j), d.out_shape)) + "."
                 + (" Positions outside X are padding and read −∞, so they never win." if padded else "")
                 + f" The SymPy rule (MaxPool2d.sympy_rule) writes this maximum as a sum over the taps of "
                 f"Piecewise terms: tap (a, b) counts when it beats every earlier tap and equals or beats every "
                 f"later one — which builds the tie convention ties='{d.layer.params['ties']}' into the rule. "
                 "Its expanded terms are what the engine differentiates; below they are shown as max(…).")]


def max_outputs(d) -> list:
    x = rationals(d.inputs["x"])
    rows = [[d.O[ix], Apply(MAX, *[d.symbols["x"][c] for c in cells]), Apply(MAX, *[x[c] for c in cells]),
             d.forward_values[ix]] for ix, (cells, _, _) in _selection(d).items()]
    return [Heading(2, "Every output element"),
            Para("Each window (the layer's own taps, MaxPool2d.taps, in row-major order; taps on the padding "
                 "left out) and its maximum — the sympy oracle's value:"),
            Display(rows)]


def max_local_gradients(d) -> list:
    selection = _selection(d)
    rows = [[Partial(d.O[o], d.symbols["x"][c]), _local(selection, o, c)]
            for o, (_, _, chosen) in selection.items() for c in chosen]
    split = d.layer.params["ties"] == "split"
    return [Heading(2, "Local gradients"),
            Para("The derivative of a maximum with respect to an element of its window is 1 for the element that "
                 "is the maximum and 0 for every other one (the derivative of the rule's Piecewise terms). At a tie "
                 + ("the m tied maxima get 1/m each (ties='split')." if split else
                    "the first maximum in row-major window order gets the 1 (ties='first', PyTorch).")
                 + " Here the nonzero ones are:"),
            Display(rows),
            Para("and every other local gradient ∂O/∂X is 0.")]


def max_chain_rule(d) -> list:
    selection = _selection(d)
    readers = {}
    for o, (cells, _, _) in selection.items():
        for c in cells:
            readers.setdefault(c, []).append(o)
    L = sp.Symbol("L")
    rows, unread = [], []
    for cell, x_sym in np.ndenumerate(d.symbols["x"]):
        outs = readers.get(cell, [])
        value = d.gradient_values["x"][cell]
        if not outs:
            invariant(value == 0, "an element no window reads has a nonzero gradient in the sympy oracle")
            unread.append(x_sym)
            continue
        local = [_local(selection, o, cell) for o in outs]
        numbers = sum((d.values[d.dO[o]] * g for o, g in zip(outs, local)), sp.Integer(0))
        invariant(numbers == value, f"chain-rule sum of {x_sym} disagrees with the sympy oracle")
        routed = [product(d.values[d.dO[o]], g) if g != 1 else d.values[d.dO[o]] for o, g in zip(outs, local) if g]
        rows.append([Partial(L, x_sym), total(*[product(d.dO[o], Partial(d.O[o], x_sym)) for o in outs]),
                     total(*[product(d.dO[o], g) for o, g in zip(outs, local)])]
                    + ([total(*routed)] if len(routed) > 1 or (routed and routed[0] != value) else []) + [value])
    loss = total(*[product(g, o) for g, o in zip(d.dO.ravel(), d.O.ravel())])
    blocks = [Heading(2, "Every gradient by the chain rule"),
              Para("Take L = Σ dO·O, whose gradient with respect to the output is the given dO:"),
              Display([[L, loss]]),
              Para("Each input element collects dO times its local gradient from every window that reads it — "
                   "overlapping windows each contribute a term; then the numbers of the terms that are not 0:"),
              Heading(3, "Gradient with respect to X"), Display(rows)]
    if unread:
        blocks.append(Para(f"{len(unread)} element(s) lie in no window (the stride skips them): gradient 0."))
    return blocks


def routing(d) -> list:
    split = d.layer.params["ties"] == "split"
    selection = _selection(d)
    notes, received, selected_of = [], {}, {}
    for ix, (cells, tied, chosen) in selection.items():
        selected_of[ix] = chosen
        for c in chosen:
            received.setdefault(c, []).append(ix)
        if len(tied) > 1:
            top = d.forward_values[ix]
            names = [Math(d.symbols["x"][c]) for c in tied]
            listed = sum(([n, ", "] for n in names[:-1]), [])[:-1] + [" and ", names[-1]]
            notes.append((Math(d.O[ix]), f": a tie — the maximum {top} is at ", *listed, ". " + (
                f"Under ties='split' each gets {UPSTREAM}/{len(tied)}." if split else
                "Under ties='first' (PyTorch) the first in row-major window order, "), *([] if split else [
                    Math(d.symbols["x"][tied[0]]), ", gets all of ", Math(d.dO[ix]), "; the others get 0."])))
    share = lambda o: Frac(d.dO[o], len(selected_of[o])) if len(selected_of[o]) > 1 else d.dO[o]  # noqa: E731
    grad_rows, zero = _gradient_rows(d, received, share)
    shared = [c for c, outs in received.items() if len(outs) > 1]
    blocks = [Heading(2, "Max-pool routing"),
              Para("The chain-rule sums above collapse: each output passes its whole upstream gradient back to the "
                   "one element of its window it selected — the gradient is routed, not spread (an average pool "
                   "spreads it).")]
    convention = ("ties='split' (TensorFlow), tied maxima share the gradient equally." if split else
                  "ties='first' (PyTorch, the default), the first maximum in row-major window order takes the "
                  "whole gradient — the index torch's return_indices reports (MaxPool2d.forward_with_indices).")
    blocks.append(Para("At a tie the maximum is not differentiable, and the layer's convention decides: under "
                       + convention))
    if notes:
        blocks.append(Items(notes))
    listed = sum(([Math(d.symbols["x"][c]), ", "] for c in sorted(shared)), [])[:-1]
    blocks += [Para("dL/dX collects, for each element, the dO of every window that selected it — ",
                    *(["overlapping windows that select the same element add up (here "] + listed + ["):"] if shared
                      else ["no element is selected by two windows here:"])),
               Display(grad_rows)]
    if zero:
        blocks.append(Para(f"Every other element ({len(zero)} of {d.symbols['x'].size}) is selected by no window: "
                           "its gradient is 0."))
    blocks.append(_routing_figure(d, selected_of, _windows(d), rationals(d.inputs["x"])))
    return blocks


def _routing_figure(d, selected_of, windows, x):

    n_c = (0, 0)
    shape = d.shapes["x"][2:]
    chosen = np.zeros(shape, dtype=bool)
    tied = np.zeros(shape, dtype=bool)
    arrows = []
    for ix, cells in windows.items():
        if ix[:2] != n_c:
            continue
        top = max(x[c] for c in cells)
        for c in cells:
            tied[_cell(c)] |= x[c] == top
        for c in selected_of[ix]:
            chosen[_cell(c)] = True
            arrows.append(((1, _cell(ix)), (0, _cell(c))))
    sl = (0, 0)
    panels = [figures.Panel("X (selected: orange)", squeeze2d(d.inputs["x"][sl]), cell_names(d.symbols["x"][sl]),
                            chosen, tied & ~chosen),
              figures.Panel("O", squeeze2d(d.forward_values[sl]), cell_names(d.O[sl])),
              figures.Panel(UPSTREAM, squeeze2d(d.grad_out[sl]), cell_names(d.dO[sl])),
              figures.Panel("dL/dX", squeeze2d(d.gradient_values["x"][sl]), cell_names(d.symbols["x"][sl], "d"),
                            chosen)]
    return figures.grids("routing", "Max-pool routing: an arrow from each output to the element of its window it "
                         "selected (orange; grey: a tied maximum not selected); dL/dX adds the dO routed to each "
                         "element", panels, arrows)


def divisors(d) -> list:
    layer, size = d.layer, d.shapes["x"][2:]
    p = layer.params
    divisor = np.broadcast_to(layer.divisor(size), d.out_shape[2:])
    windows = _windows(d)
    if p["divisor_override"] is not None:
        why = f"divisor_override = {p['divisor_override']} replaces the window size for every window."
    elif not any(map(any, layer.pads(size))) and (divisor == np.prod(p["kernel_size"])).all():
        why = (f"No padding, and no window runs past the input: every divisor is the whole window, "
               f"{p['kernel_size'][0]} × {p['kernel_size'][1]} (count_include_pad makes no difference here).")
    elif p["count_include_pad"]:
        why = ("count_include_pad=True: each window is counted with its padding, clipped to the padded input "
               "[−p, S + p) (a ceil_mode window running past it counts only what it covers).")
    else:
        why = ("count_include_pad=False: each window counts only the input elements it covers (padding and a "
               "ceil_mode overhang are not counted).")
    rows_f, cols_f = layer.divisor_parts(size)
    D = sp.Symbol("D")
    table = [[sp.Symbol(f"D_{i + 1}{j + 1}"), product(int(rows_f[i]), int(cols_f[j])), int(divisor[i, j])]
             if p["divisor_override"] is None else [sp.Symbol(f"D_{i + 1}{j + 1}"), int(divisor[i, j])]
             for i, j in np.ndindex(*divisor.shape)]
    for (n, c, i, j), cells in windows.items():
        # what the sympy rule divides by is what the layer's divisor says: the outputs' sums over their windows
        window_sum = sum((rationals(d.inputs["x"])[cell] for cell in cells), sp.Integer(0))
        invariant(window_sum / int(divisor[i, j]) == d.forward_values[n, c, i, j], "divisor disagrees with the oracle")
    received = {}
    for ix, cells in windows.items():
        for c in cells:
            received.setdefault(c, []).append(ix)
    grad_rows, zero = _gradient_rows(d, received, lambda o: Frac(d.dO[o], int(divisor[o[2:]])))
    share = np.vectorize(lambda g, q: sp.Rational(g) / int(q), otypes=[object])(rationals(d.grad_out),
                                                                                  divisor[None, None])
    blocks = [Heading(2, "Average-pool divisors"),
              Para("Each output is the sum of its window divided by the window's divisor D (rows × columns counted "
                   "per axis, the layer's AvgPool2d.divisor). " + why),
              Display(table),
              Display([[D, as_matrix(divisor.astype(object))]]),
              Para("The derivative of a sum divided by D is 1/D for every element in the window: each output spreads "
                   f"{UPSTREAM}/D evenly over its window, and where windows overlap the shares add up. The share of "
                   "each window:"),
              Display([[Frac(sp.Symbol(UPSTREAM), D), as_matrix(share)]]),
              Para("so every input element collects the shares of the windows that cover it:"),
              Display(grad_rows)]
    if zero:
        blocks.append(Para(f"The other {len(zero)} elements lie in no window (rows/columns the stride skips): "
                           "their gradient is 0."))
    sl = (0, 0)
    blocks.append(figures.grids("divisors", "Average pooling: dO, the divisor of each window, the share dO/D, "
                                "and dL/dX (each element: the sum of the shares of its windows)", [
                                    figures.Panel(UPSTREAM, squeeze2d(d.grad_out[sl]), cell_names(d.dO[sl])),
                                    figures.Panel("D", squeeze2d(divisor)),
                                    figures.Panel(f"{UPSTREAM}/D", squeeze2d(share[sl])),
                                    figures.Panel("dL/dX", squeeze2d(d.gradient_values["x"][sl]),
                                                  cell_names(d.symbols["x"][sl], "d"))]))
    return blocks


LECTURE_AVG_X = [[1, 5, 3, 7], [7, 3, 9, 2], [3, 5, 8, 4], [8, 7, 3, 5]]   # lecture-facts §5
LECTURE_AVG_G = [[Fraction(3, 2), Fraction(17, 8)], [Fraction(19, 8), 2]]  # dL/dP of L = mean((P − 1)²)

MAX_POOL = register(Family(small_shapes=small_shapes, output_size=output_size, sections=routing,
                           replaces={"rule": max_rule, "outputs": max_outputs, "local_gradients": max_local_gradients,
                                     "chain_rule": max_chain_rule},
                           params={"kernel_size": 2, "stride": 1},
                           examples=[("max_pool2d", {"kernel_size": 2, "stride": 2, "ceil_mode": True})]),
                    "max_pool2d")
AVG_POOL = register(Family(small_shapes=small_shapes, output_size=output_size, sections=divisors,
                           params={"kernel_size": 2, "stride": 2},
                           examples=[("avg_pool2d", {"kernel_size": 2, "stride": 2},
                                      {"inputs": [LECTURE_AVG_X], "grad_out": LECTURE_AVG_G,
                                       "name": "avg_pool2d-lecture",
                                       "command": "gradcheck report --all (the lecture example of "
                                                  "gradcheck/report/pool.py)"}),
                                     ("avg_pool2d", {"kernel_size": 2, "stride": 2, "ceil_mode": True})]),
                    "avg_pool2d")
