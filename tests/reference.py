"""Literal textbook definitions with explicit loops over every index — a fourth, independent opinion.

Only for tests: slow, obviously correct, shares no code with gradcheck.
"""
import itertools
from fractions import Fraction

import numpy as np


def conv2d_loops(x, w, b, stride, pads, dilation, groups):
    """O[n,o,i,j] = b[o] + Σ_{c,p,q} X_padded[n, g(o)+c, s·i + d·p, s·j + d·q] · W[o,c,p,q]."""
    (n_, c_in, h, wd), (c_out, c_g, kh, kw) = x.shape, w.shape
    (pt, pb), (pl, pr) = pads
    xp = np.zeros((n_, c_in, h + pt + pb, wd + pl + pr), dtype=object)
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    ho = (h + pt + pb - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + pl + pr - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n_, c_out, ho, wo), dtype=object)
    o_g = c_out // groups
    for n, o, i, j in itertools.product(range(n_), range(c_out), range(ho), range(wo)):
        total = 0 if b is None else b[o]
        for c, p, q in itertools.product(range(c_g), range(kh), range(kw)):
            total += xp[n, (o // o_g) * c_g + c, stride[0] * i + dilation[0] * p,
                        stride[1] * j + dilation[1] * q] * w[o, c, p, q]
        out[n, o, i, j] = total
    return out


def conv2d_backward_loops(g, x, w, stride, pads, dilation, groups):
    """The chain rule element by element: every product X·W in O sends G·W to X and G·X to W."""
    (n_, c_in, h, wd), (c_out, c_g, kh, kw) = x.shape, w.shape
    (pt, _), (pl, _) = pads
    gx, gw = np.zeros(x.shape, dtype=object), np.zeros(w.shape, dtype=object)
    o_g = c_out // groups
    for n, o, i, j in itertools.product(*map(range, g.shape)):
        for c, p, q in itertools.product(range(c_g), range(kh), range(kw)):
            r = stride[0] * i + dilation[0] * p - pt
            s = stride[1] * j + dilation[1] * q - pl
            if 0 <= r < h and 0 <= s < wd:
                ch = (o // o_g) * c_g + c
                gx[n, ch, r, s] += g[n, o, i, j] * w[o, c, p, q]
                gw[o, c, p, q] += g[n, o, i, j] * x[n, ch, r, s]
    return gx, gw, g.sum(axis=(0, 2, 3))


def pool_output_size(size, k, s, p, d, ceil_mode):
    """torch's pooling_output_shape, spelled out: floor or ceil division, then drop a last window that would
    start in the right padding."""
    numerator = size + 2 * p - d * (k - 1) - 1
    out = (-(-numerator // s) if ceil_mode else numerator // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def max_pool2d_loops(x, g, kernel, stride, padding, dilation, ceil_mode, ties):
    """Every window visited in row-major order; the first maximum (or all tied maxima, equally) gets G.

    Returns (output, dL/dx, flat indices of the first maxima). Padding never wins: it is −∞.
    """
    n_, c_, h, w = x.shape
    ho, wo = (pool_output_size(sz, k, s, p, d, ceil_mode)
              for sz, k, s, p, d in zip((h, w), kernel, stride, padding, dilation))
    out = np.zeros((n_, c_, ho, wo), dtype=object)
    indices = np.zeros((n_, c_, ho, wo), dtype=np.int64)
    grad = np.zeros(x.shape, dtype=object)
    for n, c, i, j in itertools.product(range(n_), range(c_), range(ho), range(wo)):
        best, where, tied = None, None, []
        for a, b in itertools.product(range(kernel[0]), range(kernel[1])):
            r = stride[0] * i + dilation[0] * a - padding[0]
            s = stride[1] * j + dilation[1] * b - padding[1]
            if not (0 <= r < h and 0 <= s < w):
                continue
            if best is None or x[n, c, r, s] > best:
                best, where, tied = x[n, c, r, s], (r, s), [(r, s)]
            elif x[n, c, r, s] == best:
                tied.append((r, s))
        out[n, c, i, j], indices[n, c, i, j] = best, where[0] * w + where[1]
        if ties == "first":
            grad[(n, c) + where] += g[n, c, i, j]
        else:
            for position in tied:
                grad[(n, c) + position] += Fraction(g[n, c, i, j]) / len(tied)
    return out, grad, indices


def avg_pool2d_loops(x, g, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """torch's avg_pool2d kernel, loop for loop: the window clipped to [−p, size + p) gives the divisor when
    count_include_pad, then clipped to the input gives the elements summed (and the divisor otherwise)."""
    n_, c_, h, w = x.shape
    ho, wo = (pool_output_size(sz, k, s, p, 1, ceil_mode) for sz, k, s, p in zip((h, w), kernel, stride, padding))
    out = np.zeros((n_, c_, ho, wo), dtype=object)
    grad = np.zeros(x.shape, dtype=object)
    for n, c, i, j in itertools.product(range(n_), range(c_), range(ho), range(wo)):
        h0, w0 = stride[0] * i - padding[0], stride[1] * j - padding[1]
        h1, w1 = min(h0 + kernel[0], h + padding[0]), min(w0 + kernel[1], w + padding[1])
        pool_size = (h1 - h0) * (w1 - w0)
        h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
        divisor = divisor_override or (pool_size if count_include_pad else (h1 - h0) * (w1 - w0))
        total = 0
        for r, s in itertools.product(range(h0, h1), range(w0, w1)):
            total += x[n, c, r, s]
            grad[n, c, r, s] += Fraction(g[n, c, i, j]) / divisor
        out[n, c, i, j] = Fraction(total) / divisor
    return out, grad
