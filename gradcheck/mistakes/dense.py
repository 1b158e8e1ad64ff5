"""Mistakes in the backward passes of dense layers, activations and losses: the right rule with one twist."""
from __future__ import annotations

import numpy as np

from ..layers import _numpy_ops as ops
from . import mistake


@mistake("relu_mask_missing", ("relu",), "the ReLU gradient was passed through unchanged, also where the input "
                                         "was ≤ 0 (the mask x > 0 was forgotten)")
def relu_mask_missing(layer, arrays, g):
    return [{"grad_x": np.asarray(g)}]


@mistake("activation_derivative_from_input", ("sigmoid", "tanh"),
         "the derivative was written in the input x instead of the output: x(1 − x) for σ' = σ(1 − σ), "
         "1 − x² for tanh' = 1 − tanh²")
def activation_derivative_from_input(layer, arrays, g):
    x = np.asarray(arrays["x"], dtype=np.float64)
    slope = x * (1 - x) if layer.name == "sigmoid" else 1 - x * x
    return [{"grad_x": np.asarray(g, dtype=np.float64) * slope}]


@mistake("softmax_label_not_subtracted", ("softmax_cross_entropy",),
         "dL/dz was taken as softmax(z) without subtracting the one-hot label: o instead of o − y")
def softmax_label_not_subtracted(layer, arrays, g):
    correct, _ = layer.numpy_backward(g, arrays["logits"], arrays["target"])
    y = layer.target_rows(arrays["target"], np.shape(arrays["logits"])[1])
    scale = float(np.asarray(g, dtype=np.float64)) * float(layer._scale(y.shape[0]))
    return [{"grad_logits": correct + y * scale, "grad_target": None}]


@mistake("linear_batch_not_summed", ("linear",), "dL/dW and dL/db were averaged over the batch or taken from "
                                                 "one sample instead of summed over the batch")
def linear_batch_not_summed(layer, arrays, g):
    x, w, b = arrays["x"], arrays["w"], arrays.get("b")
    grads = layer.numpy_backward(g, x, w, b)
    full = dict(zip(("grad_x", "grad_w", "grad_b"), grads))
    first = dict(zip(("grad_x", "grad_w", "grad_b"), layer.numpy_backward(g[:1], x[:1], w, b)))
    n = x.shape[0]
    average = {k: ops.divide(v, n) if v.dtype.kind != "f" else v / n for k, v in full.items() if k != "grad_x"}
    return [{**full, **average}, {**full, **{k: v for k, v in first.items() if k != "grad_x"}}]
