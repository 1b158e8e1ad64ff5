"""The layer registry: every layer gradcheck knows, by its torch.nn.functional name.

Adding a layer means one file in this package and one line in ``REGISTRY``.
"""
from __future__ import annotations

from ..errors import ConfigError
from .activation import Relu, Sigmoid, Softmax, Tanh
from .base import IndexRule, Layer
from .batch_norm import BatchNorm
from .conv import Conv1d, Conv2d
from .conv_transpose import ConvTranspose1d, ConvTranspose2d
from .linear import Flatten, Linear
from .loss import Mse, SoftmaxCrossEntropy
from .pool import AvgPool2d, MaxPool2d
from .resample import MaxUnpool2d, UpsampleNearest2d, UpsampleZeros2d
from .separable import SeparableConv2d

REGISTRY: dict[str, type[Layer]] = {
    "avg_pool2d": AvgPool2d,
    "batch_norm": BatchNorm,
    "conv1d": Conv1d,
    "conv2d": Conv2d,
    "conv_transpose1d": ConvTranspose1d,
    "conv_transpose2d": ConvTranspose2d,
    "flatten": Flatten,
    "linear": Linear,
    "max_pool2d": MaxPool2d,
    "max_unpool2d": MaxUnpool2d,
    "mse": Mse,
    "relu": Relu,
    "separable_conv2d": SeparableConv2d,
    "sigmoid": Sigmoid,
    "softmax": Softmax,
    "softmax_cross_entropy": SoftmaxCrossEntropy,
    "tanh": Tanh,
    "upsample_nearest2d": UpsampleNearest2d,
    "upsample_zeros2d": UpsampleZeros2d,
}


def layers() -> list[str]:
    """Names of the registered layers, sorted."""
    return sorted(REGISTRY)


def layer(name: str, **params) -> Layer:
    """A configured layer, e.g. ``layer("conv2d", stride=2, padding=1)``; ConfigError on bad parameters."""
    if isinstance(name, Layer):
        return name if not params else type(name)(**{**name.params, **params})
    if not isinstance(name, str) or name not in REGISTRY:
        raise ConfigError(f"unknown layer {name!r}; registered layers: {', '.join(layers())}")
    return REGISTRY[name](**params)


__all__ = ["REGISTRY", "IndexRule", "Layer", "layer", "layers"]
