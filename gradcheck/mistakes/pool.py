"""Pooling, unpooling and upsampling mistakes, each the layer's own backward (gradcheck.layers.pool/resample) with
one twist. Every prediction is total: where the twist changes nothing it returns the right answer."""
from __future__ import annotations

import copy

import numpy as np

from ..layers import numpy_ops as ops
from ..layers import layer as make_layer
from ..layers.pool import scatter_add
from . import mistake


def _route(layer, x, g, windows, flat, selected, *, overwrite=False, inside=None):
    """G (or G / number selected, for ties='split') sent to the selected taps; added, or overwritten."""
    share = g if layer.params["ties"] == "first" else ops.divide(g, np.maximum(selected.sum(axis=-1), 1))
    where = selected if inside is None else selected & inside
    return scatter_add(x.shape, flat, share[..., None], where) if not overwrite else _assign(x.shape, flat,
                                                                                             share[..., None], where)


def _assign(shape, flat, values, where):
    """Like scatter_add, but a later window's value replaces an earlier one's at a shared input element."""
    values = np.broadcast_to(values, where.shape)
    n, c = np.indices(where.shape[:2], sparse=True)
    index = np.broadcast_arrays(n[..., None, None, None], c[..., None, None, None], flat)
    grad = np.zeros((shape[0], shape[1], shape[2] * shape[3]), dtype=np.result_type(values, np.int64))
    grad[tuple(ix[where] for ix in index)] = values[where]
    return grad.reshape(shape)


def _max_selection(layer, windows):
    if layer.params["ties"] == "first":
        return np.arange(windows.shape[-1]) == windows.argmax(axis=-1)[..., None]
    return windows == windows.max(axis=-1)[..., None]


@mistake("ties_split", ("max_pool2d",), "at a tie the gradient was split equally among the tied maxima, where the "
                                         "layer (PyTorch's convention) sends all of it to the first maximum")
def ties_split(layer, arrays, g):
    split = make_layer("max_pool2d", **{**layer.params, "ties": "split"})
    return [{"grad_x": split.numpy_backward(g, arrays["x"])[0]}]


@mistake("ties_last", ("max_pool2d",), "at a tie the gradient went to the last maximum of the window, not the first")
def ties_last(layer, arrays, g):
    windows, flat = layer._windows(arrays["x"])
    k = windows.shape[-1]
    last = k - 1 - windows[..., ::-1].argmax(axis=-1)
    return [{"grad_x": scatter_add(arrays["x"].shape, flat, g[..., None], np.arange(k) == last[..., None])}]


@mistake("overlap_overwritten", ("max_pool2d", "avg_pool2d"),
         "where windows overlap, one window's gradient overwrote another's instead of adding to it")
def overlap_overwritten(layer, arrays, g):
    x = arrays["x"]
    if layer.name == "max_pool2d":
        windows, flat = layer._windows(x)
        return [{"grad_x": _route(layer, x, g, windows, flat, _max_selection(layer, windows), overwrite=True)}]
    _, flat, inside = layer.gather(x)
    share = ops.divide(g, layer.divisor(x.shape[2:]))[..., None]
    return [{"grad_x": _assign(x.shape, flat, share, np.broadcast_to(inside, share.shape[:-1] + inside.shape[-1:]))}]


@mistake("max_pool_padding_as_zero", ("max_pool2d",),
         "the padding was taken as 0 instead of −∞, so a window of negative numbers picked the padding "
         "(and its gradient was lost)")
def max_pool_padding_as_zero(layer, arrays, g):
    x = arrays["x"]
    windows, flat, inside = layer.gather(x)
    zero_padded = np.where(inside, windows, 0)
    return [{"grad_x": _route(layer, x, g, zero_padded, flat, _max_selection(layer, zero_padded), inside=inside)}]


@mistake("avg_divisor_wrong", ("avg_pool2d",),
         "the divisor of a window that overlaps the padding (or runs past the edge under ceil_mode) was wrong: the "
         "other count_include_pad convention, or the full kernel area")
def avg_divisor_wrong(layer, arrays, g):
    x = arrays["x"]
    if layer.params["divisor_override"] is not None:
        correct = layer.numpy_backward(g, x)[0]
        return [{"grad_x": correct}]
    # The other convention; for 'same' (padding excluded) counting the padding is the full kernel area below.
    other = None if layer.params["padding"] == "same" else {
        **layer.params, "count_include_pad": not layer.params["count_include_pad"]}
    predictions = []
    kernel = layer.params["kernel_size"]
    if other is not None:
        predictions.append(_spread(layer, x, g, make_layer("avg_pool2d", **other).divisor(x.shape[2:])))
    predictions.append(_spread(layer, x, g, np.asarray(kernel[0] * kernel[1])))
    return predictions


def _spread(layer, x, g, divisor):
    _, flat, inside = layer.gather(x)
    share = ops.divide(g, divisor)[..., None]
    return {"grad_x": scatter_add(x.shape, flat, share, np.broadcast_to(inside, share.shape[:-1] + inside.shape[-1:]))}


@mistake("unpool_indices_ignored", ("max_unpool2d",),
         "the remembered positions were ignored: dL/dx was read at the top-left of each window, not at its index")
def unpool_indices_ignored(layer, arrays, g):
    x = arrays["x"]
    (sh, sw), (ph, pw) = layer.params["stride"], layer.params["padding"]
    rows = np.clip(sh * np.arange(x.shape[2]) - ph, 0, g.shape[2] - 1)
    cols = np.clip(sw * np.arange(x.shape[3]) - pw, 0, g.shape[3] - 1)
    return [{"grad_x": g[:, :, rows[:, None], cols[None, :]], "grad_indices": None}]


@mistake("upsample_not_summed", ("upsample_nearest2d",),
         "the backward of nearest upsampling took one element of each block instead of summing the block")
def upsample_not_summed(layer, arrays, g):
    sh, sw = layer.params["scale_factor"]
    return [{"grad_x": g[:, :, ::sh, ::sw]}]


@mistake("bed_of_nails_block_summed", ("upsample_zeros2d",),
         "the backward of bed-of-nails upsampling summed each block, as for nearest upsampling, instead of reading "
         "only the top-left element (the one the forward wrote)")
def bed_of_nails_block_summed(layer, arrays, g):
    return [{"grad_x": make_layer("upsample_nearest2d", **layer.params).numpy_backward(g, arrays["x"])[0]}]


@mistake("ties_all", ("max_pool2d",),
         "at a tie every tied maximum got the whole gradient (a mask x == max of the window), where the layer sends "
         "all of it to the first maximum (or, with ties='split', an equal share to each)")
def ties_all(layer, arrays, g):
    x = arrays["x"]
    windows, flat = layer._windows(x)
    return [{"grad_x": scatter_add(x.shape, flat, g[..., None], windows == windows.max(axis=-1)[..., None])}]


@mistake("stride_axis_swapped", ("conv2d", "max_pool2d", "avg_pool2d"),
         "one axis's stride was used for both axes (stride[0] for the columns too, or stride[1] for the rows): "
         "the backward read and wrote the wrong windows")
def stride_axis_swapped(layer, arrays, g):
    from .conv import backward_with_stride

    strides = dict.fromkeys((s, s) for s in layer.params["stride"])  # equal strides: one, the right answer
    if layer.name == "conv2d":
        # stride 1 for both axes is a conv backward that forgot to dilate G: gradient_not_dilated
        return [backward_with_stride(layer, arrays, g, s) for s in strides if s != (1, 1) or len(strides) == 1]
    return [_pool_backward_with_stride(layer, arrays["x"], g, s) for s in strides]


def _pool_backward_with_stride(layer, x, g, stride):
    """The pool's backward with window (i, j) at stride·(i, j): the right number of windows (the shape of g), the
    right padding and divisor, taps that fall past the input dropped (slicing truncates them)."""
    moved = copy.copy(layer)
    moved.params = {**layer.params, "stride": stride}
    moved.out_sizes, moved.pads = layer.out_sizes, layer.pads  # as many windows as g has, the layer's padding
    windows, flat, inside = moved.gather(x)
    if layer.name == "max_pool2d":
        values = np.where(inside, windows, x.min() - 1)  # padding and what lies past the input never win
        return {"grad_x": _route(layer, x, g, values, flat, _max_selection(layer, values) & inside)}
    share = ops.divide(g, layer.divisor(x.shape[2:]))[..., None]
    return {"grad_x": scatter_add(x.shape, flat, share, np.broadcast_to(inside, share.shape[:-1] + inside.shape[-1:]))}
