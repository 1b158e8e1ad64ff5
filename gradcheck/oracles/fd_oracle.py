"""Central finite differences of L = Σ grad_out · forward(inputs), float64 — a cheap sanity oracle.

The difference is taken of the forward *outputs* before contracting with grad_out, so rounding error
scales with the outputs one element touches, not with the whole loss.
"""
import numpy as np

from ..layers.base import as_float64
from ..tolerance import fd_step


def gradients(layer, arrays, grad_out):
    # Copies, perturbed in place; inputs that are not data (class targets, indices) stay as they are.
    values = {n: np.array(as_float64(a, "the fd oracle")) if n in layer.differentiable else a
              for n, a in arrays.items()}
    g = as_float64(grad_out, "the fd oracle")
    grads = {}
    for name in (n for n in values if n in layer.differentiable):
        grad = np.zeros_like(values[name])
        for index in np.ndindex(*grad.shape):
            original = values[name][index]
            h = fd_step(original)
            values[name][index] = original + h
            # Copies: a forward may return a view of its input (flatten), which the next step perturbs.
            plus = np.array(layer.numpy_forward(*values.values()))
            values[name][index] = original - h
            minus = np.array(layer.numpy_forward(*values.values()))
            values[name][index] = original
            grad[index] = np.sum(g * (plus - minus)) / (2 * h)
        grads[name] = grad
    return grads
