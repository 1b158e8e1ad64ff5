"""Mistakes any layer's answers can show."""
import numpy as np

from . import mistake


def _correct(layer, arrays, grad_out):
    grads = layer.numpy_backward(grad_out, *arrays.values())
    return {f"grad_{n}": g for n, g in zip(arrays, grads) if g is not None}


@mistake("transposed_result", ("*",), "the right numbers, but the matrix is transposed (rows and columns swapped)",
         kind="answer")
def transposed_result(layer, arrays, grad_out):
    out = {"out": layer.numpy_forward(*arrays.values()), **_correct(layer, arrays, grad_out)}
    return [{q: np.swapaxes(v, -1, -2) for q, v in out.items() if np.ndim(v) >= 2}]
