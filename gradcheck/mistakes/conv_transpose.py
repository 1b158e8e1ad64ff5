"""Transposed-convolution mistakes: its own (output_padding_missing), and the convolution mistakes that a
transposed convolution's backward can make too, each predicted with the identities of
gradcheck.layers.conv_transpose with one twist."""
from __future__ import annotations

import dataclasses

from ..layers import numpy_ops as ops
from ..layers import layer as make_layer
from . import CATALOGUE, mistake

TRANSPOSED = ("conv_transpose1d", "conv_transpose2d")


def _bias(arrays):
    return [arrays["b"]] if "b" in arrays else []


@mistake("output_padding_missing", TRANSPOSED,
         "the output_padding rows/columns were forgotten: the output is too small, or they were left zero",
         kind="forward")
def output_padding_missing(layer, arrays, g):
    x, w = arrays["x"], arrays["w"]
    p = layer.params
    if not any(p["output_padding"]):
        raise ValueError("no output_padding: the mistake cannot be made")
    without = make_layer(layer.name, **{**p, "output_padding": 0})
    short = without.numpy_forward(x, w, *_bias(arrays))
    zero_rows = without.numpy_forward(x, w)
    zero_rows = ops.pad(zero_rows, tuple((0, op) for op in p["output_padding"]))
    if "b" in arrays:
        zero_rows = zero_rows + arrays["b"].reshape((1, -1) + (1,) * (x.ndim - 2))
    return [{"out": short, "out_shape": short.shape}, {"out": zero_rows}]


@mistake("filter_rotated_in_transposed_backward", TRANSPOSED,
         "dL/dX rotated the filter by 180° as a convolution's input gradient does, but for a "
         "transposed convolution it is the plain convolution of dL/dO with the filter as it is")
def filter_rotated_in_transposed_backward(layer, arrays, g):
    rotated = {**arrays, "w": ops.rot180(arrays["w"])}
    return [{**_gradients(layer, arrays, g), "grad_x": _gradients(layer, rotated, g)["grad_x"]}]


# -- convolution mistakes that apply to conv_transpose2d's backward ----------------------------------
def _dilation_ignored(layer, arrays, g):
    undilated = make_layer(layer.name, **{**layer.params, "dilation": 1, "output_padding": 0})
    x, w = arrays["x"], arrays["w"]
    conv = undilated.as_conv()
    grad_x = conv.numpy_forward(g, w)[(slice(None), slice(None)) + tuple(slice(0, h) for h in x.shape[2:])]
    grad_w = conv.weight_gradient(ops.pad(g, tuple((pad, pad) for pad in layer.params["padding"])),
                                  ops.dilate_by(x, layer.params["stride"]), w.shape[2:], (1,) * (x.ndim - 2))
    return [{"grad_x": grad_x, "grad_w": grad_w, "grad_b": g.sum(axis=(0,) + tuple(range(2, g.ndim)))}]


def _gradients(layer, arrays, g):
    return dict(zip((f"grad_{n}" for n in arrays), layer.numpy_backward(g, *arrays.values())))


def _batch_not_summed(layer, arrays, g):
    first = _gradients(layer, {k: v[:1] if k == "x" else v for k, v in arrays.items()}, g[:1])
    return [{**_gradients(layer, arrays, g), **{k: first[k] for k in ("grad_w", "grad_b") if k in first}}]


def _convolution_not_correlation(layer, arrays, g):
    flipped = {**arrays, "w": ops.rot180(arrays["w"])}
    result = _gradients(layer, flipped, g)
    result["grad_w"] = ops.rot180(result["grad_w"])
    result["out"] = layer.numpy_forward(*flipped.values())
    return [result]


def _extend(mistake_id: str, transposed_predict, layers=("conv_transpose2d",)):
    """Make a catalogued convolution mistake apply to transposed convolutions too."""
    original = CATALOGUE[mistake_id]

    def predict(layer, arrays, g):
        return (transposed_predict if layer.name in layers else original.predict)(layer, arrays, g)
    CATALOGUE[mistake_id] = dataclasses.replace(original, layers=original.layers + layers, predict=predict)


_extend("dilation_ignored", _dilation_ignored)
_extend("batch_not_summed", _batch_not_summed)
_extend("convolution_not_correlation", _convolution_not_correlation)
