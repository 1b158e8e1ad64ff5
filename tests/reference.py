"""Literal textbook definitions with explicit loops over every index — a fourth, independent opinion.

Only for tests: slow, obviously correct, shares no code with gradcheck.
"""
import itertools

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
