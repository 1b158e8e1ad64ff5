"""The few array operations the textbook identities are written in: dilate, pad, rot180, correlate.

All work on channel-first arrays (N, C, *spatial) with any number of spatial dimensions and any dtype
NumPy can multiply (float, int, or object arrays of ``fractions.Fraction`` for exact rational data).
``correlate`` is the only place that multiplies: windows come from ``sliding_window_view``; on float
data they are copied once into columns and multiplied by BLAS (im2col), on exact data (int64, object
arrays of Fractions) contracted with ``einsum``, which keeps Python ints and Fractions exact. No Python
loop ever runs over pixels.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import geometry


def dilate_by(a: np.ndarray, factor: tuple[int, ...]) -> np.ndarray:
    """Insert ``factor − 1`` zeros between neighbouring entries along each spatial axis.

    ``dilate_by(G, stride)`` is the stride-dilated upstream gradient of the textbook identities;
    ``dilate_by(F, dilation)`` is the dilated ("à trous") filter.
    """
    spatial = a.shape[2:]
    if all(f == 1 for f in factor):
        return a
    out_shape = a.shape[:2] + tuple(f * (n - 1) + 1 if n else 0 for n, f in zip(spatial, factor))
    out = np.zeros(out_shape, dtype=a.dtype)
    out[(slice(None), slice(None)) + tuple(slice(None, None, f) for f in factor)] = a
    return out


def pad(a: np.ndarray, pads: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Zero padding of the spatial axes by (before, after) pairs; negative amounts crop."""
    grow = [(0, 0), (0, 0)] + [(max(b, 0), max(e, 0)) for b, e in pads]
    out = np.pad(a, grow) if any(b or e for b, e in grow) else a
    if a.dtype == object and out is not a:
        # np.pad fills object arrays with np.int64(0), whose products with Python ints past int64 overflow
        # (OverflowError) instead of growing: the zeros are made Python ints
        out = np.where(np.equal(out, 0), 0, out).astype(object)
    crop = tuple(slice(max(-b, 0), out.shape[2 + i] - max(-e, 0)) for i, (b, e) in enumerate(pads))
    return out[(slice(None), slice(None)) + crop]


def divide(a, divisor):
    """a / divisor, exactly on exact data: ints and Fractions give Fractions (object array), floats floats.

    The one way a NumPy backward divides, so that average pooling or a mean reduction stays exact on
    integer data (int64 / int would silently turn into float64).
    """
    a, divisor = np.asarray(a), np.asarray(divisor)
    if a.dtype.kind == "f" or divisor.dtype.kind == "f":
        return a / divisor
    reciprocal = np.frompyfunc(lambda d: Fraction(1) / d, 1, 1)(divisor.astype(object))
    return a.astype(object) * reciprocal


def rot180(w: np.ndarray) -> np.ndarray:
    """The filter rotated by 180°: every spatial axis reversed."""
    return w[(slice(None), slice(None)) + (slice(None, None, -1),) * (w.ndim - 2)]


def swap_in_out(w: np.ndarray, groups: int) -> np.ndarray:
    """(O, C/g, *K) -> (C, O/g, *K): the same filter bank read with input and output channels swapped."""
    out_ch, in_per_group = w.shape[:2]
    per_group = w.reshape((groups, out_ch // groups, in_per_group) + w.shape[2:])
    return np.swapaxes(per_group, 1, 2).reshape((groups * in_per_group, out_ch // groups) + w.shape[2:])


def correlate(x: np.ndarray, w: np.ndarray, *, stride: tuple[int, ...], dilation: tuple[int, ...],
              groups: int = 1) -> np.ndarray:
    """Valid cross-correlation: out[n,o,i] = Σ_{c,a} x[n, g(o)·C/g + c, s·i + d·a] · w[o, c, a].

    x (N, C, *S), w (O, C/groups, *K) -> (N, O, *S_out) with S_out = ⌊(S − d(K−1) − 1)/s⌋ + 1.
    """
    nsp = x.ndim - 2
    extents = tuple(geometry.extent(k, d) for k, d in zip(w.shape[2:], dilation))
    windows = sliding_window_view(x, extents, axis=tuple(range(2, 2 + nsp)))
    # windows: (N, C, *S_full, *extent); keep every s-th window and every d-th tap inside it.
    windows = windows[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)
                      + tuple(slice(None, None, d) for d in dilation)]
    n, c = x.shape[:2]
    o = w.shape[0]
    if x.dtype.kind == "f" and w.dtype.kind == "f":
        positions, taps = np.prod(windows.shape[2:2 + nsp]), np.prod(w.shape[2:])
        if all(st == 1 for st in stride) and o // groups < c // groups and positions > taps:
            return _correlate_shifted(x, w, dilation, groups, windows.shape[2:2 + nsp])
        return _correlate_blas(windows, w, groups)
    grouped_windows = windows.reshape((n, groups, c // groups) + windows.shape[2:])
    grouped_w = w.reshape((groups, o // groups) + w.shape[1:])
    s_ix, k_ix = "xyz"[:nsp], "uvw"[:nsp]
    out = np.einsum(f"ngc{s_ix}{k_ix},goc{k_ix}->ngo{s_ix}", grouped_windows, grouped_w,
                    optimize=object not in (x.dtype, w.dtype))  # BLAS paths would cast Python ints to C longs
    return out.reshape((n, o) + windows.shape[2:2 + nsp])


def _correlate_shifted(x: np.ndarray, w: np.ndarray, dilation, groups: int, out_size) -> np.ndarray:
    """``correlate`` at stride 1 on float data without im2col: one GEMM for all taps, then shifted sums.

    With x's spatial axes flattened, tap a reads x at a constant offset Σ d·a·(row stride) from the output
    position. So (all taps' filters stacked, T·O × C) @ x_flat (C × grid) gives every tap's contribution
    at every grid point in one GEMM that reads x once, and the output is the sum over taps of that
    product shifted by the tap's offset (columns past the output's width are discarded). It holds T·O·grid
    numbers where im2col holds T·C·grid, so it is used when there are fewer output than input channels
    (dL/dX of a layer that widens its channels, e.g. VGG16's first layer).
    """
    nsp = x.ndim - 2
    n, c = x.shape[:2]
    o, c_g = w.shape[0], c // groups
    o_g, kernel, grid = o // groups, w.shape[2:], x.shape[2:]
    row_strides = [int(np.prod(grid[i + 1:])) for i in range(nsp)]
    span = sum((so - 1) * rs for so, rs in zip(out_size, row_strides)) + 1
    offsets = [sum(d * a * rs for d, a, rs in zip(dilation, tap, row_strides)) for tap in np.ndindex(*kernel)]
    flat = x.reshape(n, groups, c_g, -1)
    # (g, T·O/g, C/g): the filters of every tap stacked, so one product covers all taps.
    stacked = np.moveaxis(w.reshape((groups, o_g, c_g, -1)), 3, 1).reshape(groups, -1, c_g)
    wide = np.zeros((n, groups, o_g, int(np.prod(grid))), dtype=np.result_type(x, w))
    for b in range(n):
        for k in range(groups):
            per_tap = (stacked[k] @ flat[b, k]).reshape(len(offsets), o_g, -1)
            for t, offset in enumerate(offsets):
                wide[b, k, :, :span] += per_tap[t, :, offset:offset + span]
    index = (slice(None), slice(None)) + tuple(slice(0, so) for so in out_size)
    return wide.reshape((n, o) + grid)[index]


def _correlate_blas(windows: np.ndarray, w: np.ndarray, groups: int) -> np.ndarray:
    """``correlate`` on float data as one batched matrix product (im2col + BLAS).

    windows (N, C, *S_out, *K) is a strided view; it is copied once into columns with the longer of
    (output positions, taps) innermost, so the copy moves contiguous runs and the product is a plain GEMM.
    The forward and dL/dX have many positions and few taps; dL/dW (taps = the output map) the reverse.
    """
    nsp = w.ndim - 2
    n, c = windows.shape[:2]
    o, c_g = w.shape[0], c // groups
    positions, taps = windows.shape[2:2 + nsp], windows.shape[2 + nsp:]
    n_pos, n_taps = int(np.prod(positions)), int(np.prod(taps))
    pos_axes, tap_axes = tuple(range(2, 2 + nsp)), tuple(range(2 + nsp, 2 + 2 * nsp))
    filters = w.reshape(groups, o // groups, c_g * n_taps)                        # (g, O/g, C/g·T)
    if n_pos >= n_taps:
        columns = np.ascontiguousarray(windows.transpose((0, 1) + tap_axes + pos_axes))
        columns = columns.reshape(n, groups, c_g * n_taps, n_pos)                 # (N, g, C/g·T, P)
        out = np.matmul(filters, columns)                                         # (N, g, O/g, P)
    else:  # one 2-D GEMM per group with the batch folded into the rows (a stacked matmul would not use BLAS)
        columns = np.ascontiguousarray(windows.transpose((0,) + pos_axes + (1,) + tap_axes))
        columns = columns.reshape(n * n_pos, groups, c_g * n_taps)                # (N·P, g, C/g·T)
        out = np.stack([columns[:, k] @ filters[k].T for k in range(groups)], axis=1)  # (N·P, g, O/g)
        out = out.reshape(n, n_pos, o).transpose(0, 2, 1)
    return out.reshape((n, o) + positions)
