"""Convolution mistakes, each the correct identity (gradcheck.layers.conv) with one twist."""
from __future__ import annotations

import numpy as np

from ..layers import numpy_ops as ops, geometry
from ..layers import layer as make_layer
from . import mistake

CONV = ("conv1d", "conv2d")


def _backward(layer, x, w, g, *, stride=None, dilation=None, rotate=True, crop_after=False,
              remainder_after=True):
    """The conv backward of gradcheck.layers.conv with the given twists; returns grad_x, grad_w, grad_b."""
    p = layer.params
    stride, dilation = stride or p["stride"], dilation or p["dilation"]
    pads = layer.pads(w.shape[2:], x.shape[2:])
    x_padded = ops.pad(x, pads)
    g_dilated = ops.dilate_by(g, stride)
    grad_w = layer.weight_gradient(x_padded, g_dilated, w.shape[2:], dilation)
    filt = w if rotate else ops.rot180(w)  # rot180 twice = not rotated at all
    padded = layer.padded_input_gradient(g_dilated, filt, x_padded.shape[2:], dilation, remainder_after)
    crop = tuple((0, -(pb + pa)) if crop_after else (-pb, -pa) for pb, pa in pads)
    return {"grad_x": ops.pad(padded, crop), "grad_w": grad_w,
            "grad_b": g.sum(axis=(0,) + tuple(range(2, g.ndim)))}


def backward_with_stride(layer, arrays, g, stride):
    """The conv backward with window i at stride·i (the right number of windows: the shape of g, the right
    padding); taps that fall past the padded input are dropped (slicing truncates them)."""
    x, w = _unpack(arrays)
    p = layer.params
    pads = layer.pads(w.shape[2:], x.shape[2:])
    x_padded = ops.pad(x, pads)
    reach = [geometry.reach(n, k, stride=s, dilation=d) for s, n, d, k in zip(stride, g.shape[2:], p["dilation"],
                                                                              w.shape[2:])]
    fitted = tuple((0, r - n) for r, n in zip(reach, x_padded.shape[2:]))  # cut or zero-extend to the windows' reach
    g_dilated = ops.dilate_by(g, stride)
    grad_w = layer.weight_gradient(ops.pad(x_padded, fitted), g_dilated, w.shape[2:], p["dilation"])
    grad_padded = layer.padded_input_gradient(g_dilated, w, reach, p["dilation"])
    grad_padded = ops.pad(grad_padded, tuple((0, -after) for _, after in fitted))
    return {"grad_x": ops.pad(grad_padded, tuple((-pb, -pa) for pb, pa in pads)), "grad_w": grad_w,
            "grad_b": g.sum(axis=(0,) + tuple(range(2, g.ndim)))}


def _unpack(arrays):
    return arrays["x"], arrays["w"]


@mistake("filter_not_rotated", CONV, "dL/dX used the filter as it is instead of rotated by 180°")
def filter_not_rotated(layer, arrays, g):
    x, w = _unpack(arrays)
    return [_backward(layer, x, w, g, rotate=False)]


@mistake("convolution_not_correlation", CONV,
         "computed a true convolution (flipped kernel) where the layer cross-correlates")
def convolution_not_correlation(layer, arrays, g):
    x, w = _unpack(arrays)
    flipped = ops.rot180(w)
    result = _backward(layer, x, flipped, g)
    result["grad_w"] = ops.rot180(result["grad_w"])
    result["out"] = layer.numpy_forward(x, flipped, *([arrays["b"]] if "b" in arrays else []))
    return [result]


@mistake("gradient_not_dilated", CONV,
         "with stride > 1, dL/dO was not dilated by the stride (s − 1 zeros between its entries)")
def gradient_not_dilated(layer, arrays, g):
    x, w = _unpack(arrays)
    return [_backward(layer, x, w, g, stride=(1,) * (x.ndim - 2))]


@mistake("dilation_ignored", CONV, "the filter's dilation was ignored in the backward pass")
def dilation_ignored(layer, arrays, g):
    x, w = _unpack(arrays)
    return [_backward(layer, x, w, g, dilation=(1,) * (x.ndim - 2))]


@mistake("padding_cropped_wrong_side", CONV,
         "the padding was cropped off one side only (the end) instead of p from each side")
def padding_cropped_wrong_side(layer, arrays, g):
    x, w = _unpack(arrays)
    return [_backward(layer, x, w, g, crop_after=True)]


@mistake("output_padding_misplaced", CONV,
         "the a = (S + 2p − d(k−1) − 1) mod s rows/columns no window reached were added at the start, not the end")
def output_padding_misplaced(layer, arrays, g):
    x, w = _unpack(arrays)
    return [_backward(layer, x, w, g, remainder_after=False)]


@mistake("batch_not_summed", CONV, "dL/dF (and dL/db) were taken from the first sample only instead of summed "
                                   "over the batch")
def batch_not_summed(layer, arrays, g):
    # (divided by the batch size instead: batch_mean_instead_of_sum, in mistakes/generic.py)
    x, w = _unpack(arrays)
    full, first = _backward(layer, x, w, g), _backward(layer, x[:1], w, g[:1])
    return [{**full, "grad_w": first["grad_w"], "grad_b": first["grad_b"]}]


@mistake("groups_mixed", CONV, "with groups > 1, every output channel was connected to the first group's "
                               "input channels (the group offset was forgotten)")
def groups_mixed(layer, arrays, g):
    x, w = _unpack(arrays)
    groups = layer.params["groups"]
    c_g = x.shape[1] // groups
    dense = np.zeros((w.shape[0], x.shape[1]) + w.shape[2:], dtype=np.result_type(w, x))
    dense[:, :c_g] = w
    ungrouped = make_layer(layer.name, **{**layer.params, "groups": 1})
    result = _backward(ungrouped, x, dense, g)
    result["grad_w"] = result["grad_w"][:, :c_g]
    return [result]
