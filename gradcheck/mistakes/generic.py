"""Mistakes any layer's answers can show, and backward mistakes of several layer families: the right gradients
with one twist that does not depend on the layer's own identities."""
import numpy as np

from ..layers import numpy_ops as ops
from . import mistake


def _correct(layer, arrays, grad_out):
    grads = layer.numpy_backward(grad_out, *arrays.values())
    return {f"grad_{n}": g for n, g in zip(arrays, grads) if g is not None}


@mistake("transposed_result", ("*",), "the right numbers, but the matrix is transposed (rows and columns swapped)",
         kind="answer")
def transposed_result(layer, arrays, grad_out):
    out = {"out": layer.numpy_forward(*arrays.values()), **_correct(layer, arrays, grad_out)}
    return [{q: np.swapaxes(v, -1, -2) for q, v in out.items() if np.ndim(v) >= 2}]


WEIGHTED = ("conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "linear")


@mistake("batch_mean_instead_of_sum", WEIGHTED,
         "dL/dW and dL/db were divided by the batch size N (the mean over the batch) instead of summed over it")
def batch_mean_instead_of_sum(layer, arrays, grad_out):
    correct = _correct(layer, arrays, grad_out)
    n = np.shape(arrays["x"])[0]
    return [{**correct, **{q: ops.divide(v, n) for q, v in correct.items() if q in ("grad_w", "grad_b")}}]


@mistake("weight_gradient_not_flipped_back", ("conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"),
         "dL/dW came out rotated by 180°: computed for the flipped kernel the forward was run with (or with "
         "convolve where correlate belongs) and not flipped back")
def weight_gradient_not_flipped_back(layer, arrays, grad_out):
    correct = _correct(layer, arrays, grad_out)
    return [{**correct, "grad_w": ops.rot180(correct["grad_w"])}]


@mistake("crop_empty_without_padding", ("conv1d", "conv2d", "max_pool2d", "avg_pool2d"),
         "the padding was cropped off dL/dX with g[:, :, p:-p], which is empty when p = 0 (-0 is 0), so dL/dX "
         "came back all zeros")
def crop_empty_without_padding(layer, arrays, grad_out):
    """What code with that crop returns, where some axis has no padding after: copied into a zero-initialised
    dL/dX (a loop over the empty slice copies nothing), all zeros. Code that returns the empty slice itself
    gives dL/dX of shape (N, C, 0, ...): check_backward reports that wrong shape as such, and an answer of
    that shape cannot be written down, so it is not a prediction here."""
    correct = _correct(layer, arrays, grad_out)
    size = np.shape(arrays["x"])[2:]
    pads = layer.pads(np.shape(arrays["w"])[2:], size) if "w" in arrays else layer.pads(size)
    if all(after for _, after in pads):  # padded after on every axis: the slice is not empty, the crop right
        return [correct]
    return [{**correct, "grad_x": np.zeros_like(correct["grad_x"])}]
