"""Batch normalisation in training mode (torch.nn.functional.batch_norm(..., training=True)).

Conventions (torch.nn.functional.batch_norm):
- x (N, C, *S) with any number of spatial axes (0, 1, 2, ...); optional weight γ (C,) and bias β (C,)
  (given in that order: a bias needs a weight); eps (default 1e-5).
- per channel c, over the M = N·ΠS elements of the batch: μ_c = mean, σ²_c = the *biased* variance
  (divided by M, as torch normalises with), x̂ = (x − μ_c)/√(σ²_c + eps), out = γ_c·x̂ + β_c.
- not piecewise linear (a square root): ``exact = False``; the SymPy oracle evaluates in mpmath.
- only the training-mode forward is modelled. torch would also update running_mean and running_var
  (momentum 0.1, and running_var with the *unbiased* variance M/(M−1)·σ²) as a side effect that no gradient
  flows through; in eval mode it normalises with those running statistics instead, which makes the layer an
  affine map per channel (not modelled here).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from ..errors import InputError
from ..drawing import check_bound
from .base import IndexRule, Layer
from .schema import Param, Schema


class BatchNorm(Layer):
    """Batch normalisation, training mode: x (N, C, *S), weight (C,), bias (C,)."""

    name = "batch_norm"
    inputs = ("x", "weight", "bias")
    required = 1
    differentiable = ("x", "weight", "bias")
    ranks = {"x": 4, "weight": 1, "bias": 1}
    exact = False
    closed_on_integers = False

    @classmethod
    def configs(cls, **bounds_and_held):
        return batch_norm_configs(**bounds_and_held)

    # training mode only: batch statistics, no running averages (so no momentum, no training flag)
    schema = Schema(Param("eps", "number", 1e-5, "added to the variance before its square root", minimum=0))

    def _promote(self, name, arr):
        if name != "x":
            return super()._promote(name, arr)
        if arr.ndim < 2:
            raise InputError(f"{self.name}: input x has shape {arr.shape}; it must be (N, C, *S), at least 2-D")
        return arr

    def check_shapes(self, shapes):
        channels = shapes["x"][1]
        for name in ("weight", "bias"):
            if name in shapes and shapes[name] != (channels,):
                raise InputError(f"{name} has shape {shapes[name]}: it must be ({channels},), one per channel of x "
                                 f"{shapes['x']}")

    def output_shape(self, shapes):
        return tuple(shapes["x"])

    # -- the forward rule, written once in SymPy ---------------------------------------------------
    def sympy_rule(self, shapes):
        """O[n,c,*i] = γ[c]·(x[n,c,*i] − μ_c)/√(σ²_c + eps) + β[c], μ_c and σ²_c nested Sums over the batch.

        σ²_c is written as the mean of squares minus the squared mean: the same number, with M reads of x per
        output element instead of M² (Σ(x − μ)² repeats μ's M reads M times), so the oracle stays fast."""
        n_batch, channels, *size = shapes["x"]
        X = sp.IndexedBase("x")
        n, c = sp.symbols("n c", integer=True, nonnegative=True)
        pos = sp.symbols(f"i0:{len(size)}", integer=True, nonnegative=True)
        batch = sp.symbols(f"m0:{len(size) + 1}", integer=True, nonnegative=True)
        limits = [(batch[0], 0, n_batch - 1)] + [(b, 0, s - 1) for b, s in zip(batch[1:], size)]
        count = sp.Integer(n_batch * int(np.prod(size, dtype=np.int64)))
        read = X[(batch[0], c, *batch[1:])]
        mean = sp.Sum(read, *limits) / count
        variance = sp.Sum(read ** 2, *limits) / count - mean ** 2
        eps = sp.Rational(*Fraction(self.params["eps"]).as_integer_ratio())
        expr = (X[(n, c, *pos)] - mean) / sp.sqrt(variance + eps)
        if "weight" in shapes:
            expr = sp.IndexedBase("weight")[c] * expr
        if "bias" in shapes:
            expr = expr + sp.IndexedBase("bias")[c]
        return IndexRule(indices=(n, c, *pos), shape=self.output_shape(shapes), expr=expr, operands=dict(shapes))

    # -- NumPy forward and the textbook backward ---------------------------------------------------
    def _normalised(self, x):
        """(x̂, 1/σ, M) in float64: x̂ = (x − μ)/σ, σ = √(biased variance + eps), per channel."""
        x = np.asarray(x, dtype=np.float64)
        axes = (0,) + tuple(range(2, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        inv_std = 1 / np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + self.params["eps"])
        return (x - mean) * inv_std, inv_std, x.size // x.shape[1]

    @staticmethod
    def _per_channel(v, ndim):
        return np.asarray(v, dtype=np.float64).reshape((1, -1) + (1,) * (ndim - 2))

    def numpy_forward(self, x, weight=None, bias=None):
        out, _, _ = self._normalised(x)
        if weight is not None:
            out = out * self._per_channel(weight, out.ndim)
        return out if bias is None else out + self._per_channel(bias, out.ndim)

    def numpy_backward(self, grad_out, x, weight=None, bias=None):
        """dx = (γ/σ)/M · (M·G − ΣG − x̂·Σ(G·x̂)), dγ = Σ G·x̂, dβ = ΣG (sums per channel over batch and space)."""
        x_hat, inv_std, m = self._normalised(x)
        g = np.asarray(grad_out, dtype=np.float64)
        axes = (0,) + tuple(range(2, g.ndim))
        sum_g = g.sum(axis=axes, keepdims=True)
        sum_g_xhat = (g * x_hat).sum(axis=axes, keepdims=True)
        gamma = 1.0 if weight is None else self._per_channel(weight, g.ndim)
        grad_x = gamma * inv_std / m * (m * g - sum_g - x_hat * sum_g_xhat)
        grads = [grad_x]
        if weight is not None:
            grads.append(sum_g_xhat.reshape(-1))
        if bias is not None:
            grads.append(sum_g.reshape(-1))
        return tuple(grads)

    def gradient_scale(self, arrays, grad_out):
        """dx sums M·G, ΣG and x̂·Σ(G·x̂) scaled by γ/σ/M; a constant G (per channel) makes them cancel to 0."""
        x_hat, inv_std, m = self._normalised(arrays["x"])
        g = np.abs(np.asarray(grad_out, dtype=np.float64))
        axes = (0,) + tuple(range(2, g.ndim))
        g_max = g.max(axis=axes, keepdims=True)
        gamma = np.abs(self._per_channel(arrays["weight"], g.ndim)) if "weight" in arrays else 1.0
        terms = g_max * (1 + np.abs(x_hat).max(axis=axes, keepdims=True) ** 2)
        return {"x": float(np.max(gamma * inv_std * terms)),
                "weight": float(np.max(m * g_max * np.abs(x_hat).max(axis=axes, keepdims=True))),
                "bias": float(np.max(m * g_max))}

    def jax_forward(self, x, weight=None, bias=None):
        import jax.numpy as jnp
        from jax import lax

        axes = (0,) + tuple(range(2, x.ndim))
        mean = jnp.mean(x, axis=axes, keepdims=True)
        variance = jnp.mean((x - mean) ** 2, axis=axes, keepdims=True)
        out = (x - mean) * lax.rsqrt(variance + self.params["eps"])
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if weight is not None:
            out = out * weight.reshape(shape)
        return out if bias is None else out + bias.reshape(shape)

    def input_strategy(self, name, shapes, kind):
        """Float x: channels whose spread is tiny next to their values are spread out (a ramp added), since
        central differences cannot resolve the 1/σ³ curvature there; integer and rational data keep constant
        and near-constant channels (variance 0 is fine with eps)."""
        drawn = super().input_strategy(name, shapes, kind)
        return drawn.map(_spread_flat_channels) if name == "x" and kind == "float" else drawn


def _spread_flat_channels(x):
    x = np.array(x, dtype=np.float64)
    channels = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1).copy()
    for values in channels:
        scale = 1 + np.abs(values).max()
        if values.size > 1 and values.std() < 0.2 * scale:
            values += scale * (np.arange(values.size) - (values.size - 1) / 2)
    return np.moveaxis(channels.reshape((x.shape[1], x.shape[0]) + x.shape[2:]), 0, 1)


def batch_norm_configs(*, max_batch: int = 3, max_channels: int = 3, max_spatial_axes: int = 2, max_side: int = 4,
                       max_elements: int = 12, affine: bool | None = None, **held):
    """A batch-norm layer and input shapes: ``(layer, shapes)``.

    Defaults: batch 1–``max_batch`` (3), channels 1–``max_channels`` (3), 0–``max_spatial_axes`` (2) spatial
    axes of sides 1–``max_side`` (4), at most ``max_elements`` (12) elements per channel (N·ΠS: the SymPy
    rule reads all of them for every output element), with weight and bias, weight only, or neither
    (``affine``: True holds both, False neither). Shrinks towards one channel, batch 1, no spatial axes and
    no weight or bias.
    """
    for name, value in [("max_batch", max_batch), ("max_channels", max_channels), ("max_side", max_side),
                        ("max_elements", max_elements)]:
        check_bound(name, value, 1)
    check_bound("max_spatial_axes", max_spatial_axes, 0)
    layer = BatchNorm(**held)
    return _configs(layer, max_batch, max_channels, max_spatial_axes, max_side, max_elements, affine)


@st.composite
def _configs(draw, layer, max_batch, max_channels, max_spatial_axes, max_side, max_elements, affine):
    batch = draw(st.integers(1, min(max_batch, max_elements)))
    budget, size = max_elements // batch, []
    for _ in range(draw(st.integers(0, max_spatial_axes))):
        size.append(draw(st.integers(1, max(1, min(max_side, budget)))))
        budget = max(1, budget // size[-1])
    channels = draw(st.integers(1, max_channels))
    shapes = {"x": (batch, channels, *size)}
    n_affine = {True: 2, False: 0}.get(affine) if affine is not None else draw(st.integers(0, 2))
    for name in ("weight", "bias")[:n_affine]:
        shapes[name] = (channels,)
    return layer, shapes
