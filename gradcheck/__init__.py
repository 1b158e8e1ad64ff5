"""gradcheck: exact, symbolic and numeric verification of the gradients of convolutional-network layers.

>>> import gradcheck as gc
>>> layer = gc.layer("conv2d")
>>> gx, gw = layer.backward([[-2, 2], [1, -1]], [[1, 0, -1], [1, 0, 1], [0, 1, 1]], [[-1, 2], [3, 1]])
>>> gw.tolist()
[[-1, -3], [-3, 2]]
>>> gc.verify(layer, [[1, 0, -1], [1, 0, 1], [0, 1, 1]], [[-1, 2], [3, 1]]).ok
True
"""
from . import adapters  # cheap: torch and jax are imported only when an adapter is used
from .check import check_backward, check_forward
from .errors import ConfigError, GradcheckError, InputError, OutOfScope
from .layers import Layer, layer, layers
from .sequential import Sequential, sequential
from .verify import Verdict, verify

__all__ = ["ConfigError", "GradcheckError", "InputError", "Layer", "OutOfScope", "Sequential", "Verdict", "adapters",
           "check_backward", "check_forward", "layer", "layers", "prove", "sequential", "verify"]
__version__ = "0.1.0"


def __getattr__(name):
    if name == "prove":  # gc.prove("conv2d"): imported on first use (SymPy proofs, report printers)
        import importlib

        return importlib.import_module(".prove", __name__)
    raise AttributeError(f"module 'gradcheck' has no attribute {name!r}")
