"""Mistakes in the backward passes of dense layers, activations and losses: the right rule with one twist."""
from __future__ import annotations

import numpy as np

from . import mistake


@mistake("relu_mask_missing", ("relu",), "the ReLU gradient was passed through unchanged, also where the input "
                                         "was < 0 (the mask x > 0 was forgotten)")
def relu_mask_missing(layer, arrays, g):
    # Where no input is negative, passing g also matches relu'(0) = 1 (below): the example cannot tell them
    # apart, fresh data can (check_backward confirms a name on fresh data; on those g ≠ g·[x ≥ 0]).
    return [{"grad_x": np.asarray(g)}]


@mistake("relu_grad_at_zero_one", ("relu",),
         "relu'(0) = 1 (the mask x ≥ 0): a subgradient convention choice, not a missing mask — any value in [0, 1] "
         "is a valid subgradient at 0, but the layer follows PyTorch and JAX, relu'(0) = 0 (mask x > 0)",
         kind="convention")
def relu_grad_at_zero_one(layer, arrays, g):
    g = np.asarray(g)
    return [{"grad_x": np.where(np.asarray(arrays["x"]) >= 0, g, 0 * g)}]


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
    scale = float(np.asarray(g, dtype=np.float64)) * float(layer.reduction_scale(y.shape[0]))
    return [{"grad_logits": correct + y * scale, "grad_target": None}]


@mistake("linear_batch_not_summed", ("linear",), "dL/dW and dL/db were taken from the first sample only instead "
                                                 "of summed over the batch")
def linear_batch_not_summed(layer, arrays, g):
    # (divided by the batch size instead: batch_mean_instead_of_sum, in mistakes/generic.py)
    x, w, b = arrays["x"], arrays["w"], arrays.get("b")
    full = dict(zip(("grad_x", "grad_w", "grad_b"), layer.numpy_backward(g, x, w, b)))
    first = dict(zip(("grad_x", "grad_w", "grad_b"), layer.numpy_backward(g[:1], x[:1], w, b)))
    return [{**full, **{k: v for k, v in first.items() if k != "grad_x"}}]
