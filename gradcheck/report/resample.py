"""Unpooling and upsampling: the generic report, at the lectures' ×2 on a 2×2 input (lecture facts §5).

These layers require their parameters (no torch default), and the smallest configuration their strategies
shrink to (kernel 1, factor 1, a 1×1 input) is the identity, which teaches nothing.
"""
from .family import Family, generic_small_shapes, register


def two_by_two(layer, size=None):
    """The lectures' 2×2 input (or the sides asked for), drawn like any other configuration."""
    return generic_small_shapes(layer, size or (2, 2))


register(Family(params={"kernel_size": 2}, small_shapes=two_by_two), "max_unpool2d")
register(Family(params={"scale_factor": 2}, small_shapes=two_by_two), "upsample_nearest2d", "upsample_zeros2d")
