"""Dense layers: linear (fully connected) and flatten.

Conventions (torch.nn.functional.linear / torch.flatten):
- linear: x (N, in), w (out, in), optional b (out,) -> (N, out), y = x·Wᵀ + b. A 1-D x (in,) is one
  sample and gives a 1-D answer (out,). dL/dx = G·W, dL/dW = Gᵀ·x (summed over the batch), dL/db = Σ_n G.
- flatten: x of any rank >= 1; dimensions start_dim..end_dim (default 1..−1, negative counts from the end)
  merged into one, row-major (C order). Its backward is the reshape back.
Both are linear, so every oracle is exact on integer and rational data.
"""
from __future__ import annotations

import math

import sympy as sp
from hypothesis import strategies as st

from ..errors import ConfigError, InputError
from ..drawing import check_bound, held_params
from .base import IndexRule, Layer
from .schema import Param, Schema


class Linear(Layer):
    """Fully connected layer: x (N, in), w (out, in), b (out,) -> (N, out)."""

    name = "linear"
    inputs = ("x", "w", "b")
    required = 2
    differentiable = ("x", "w", "b")
    multiaffine = True  # affine in x, in w and in b (gc.verify_projected)
    ranks = {"x": 2, "w": 2, "b": 1}
    promotable = {"x": 1}

    def check_shapes(self, shapes):
        (_, n_in), (n_out, w_in) = shapes["x"], shapes["w"]
        if w_in != n_in:
            raise InputError(f"w has shape {shapes['w']}: with x of shape {shapes['x']} ({n_in} features) "
                             f"it must be (out_features, {n_in})")
        if "b" in shapes and shapes["b"] != (n_out,):
            raise InputError(f"b has shape {shapes['b']}: it must be ({n_out},), one bias per output feature")

    def output_shape(self, shapes):
        return (shapes["x"][0], shapes["w"][0])

    def sympy_rule(self, shapes):
        X, W, B = sp.IndexedBase("x"), sp.IndexedBase("w"), sp.IndexedBase("b")
        n, o, k = sp.symbols("n o k", integer=True, nonnegative=True)
        expr = sp.Sum(X[n, k] * W[o, k], (k, 0, shapes["x"][1] - 1))
        if "b" in shapes:
            expr = expr + B[o]
        return IndexRule(indices=(n, o), shape=self.output_shape(shapes), expr=expr, operands=dict(shapes))

    def numpy_forward(self, x, w, b=None):
        out = x @ w.T
        return out if b is None else out + b

    def numpy_backward(self, grad_out, x, w, b=None):
        grad_x = grad_out @ w            # each input feature collects Σ_o G[n, o]·W[o, k]
        grad_w = grad_out.T @ x          # Σ over the batch of the outer products G[n]ᵀ·x[n]
        return (grad_x, grad_w) if b is None else (grad_x, grad_w, grad_out.sum(axis=0))

    def jax_forward(self, x, w, b=None):
        import jax.numpy as jnp
        from jax import lax

        out = jnp.matmul(x, w.T, precision=lax.Precision.HIGHEST)
        return out if b is None else out + b

    @classmethod
    def configs(cls, *, max_batch: int = 3, max_side: int = 5, bias: bool | None = None, **held):
        """``(linear, shapes)``: batch 1–``max_batch`` (3), in and out features 1–``max_side`` (5); ``bias``
        True/False to hold, None to draw. Shrinks towards one feature, batch 1 and no bias."""
        check_bound("max_batch", max_batch, 1)
        check_bound("max_side", max_side, 1)
        held_params(cls, held)
        return _linear_configs(max_batch, max_side, bias)


@st.composite
def _linear_configs(draw, max_batch, max_side, bias):
    n, n_in, n_out = draw(st.integers(1, max_batch)), draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    shapes = {"x": (n, n_in), "w": (n_out, n_in)}
    if bias if bias is not None else draw(st.booleans()):
        shapes["b"] = (n_out,)
    return Linear(), shapes


class Flatten(Layer):
    """Flatten: x (d_0, ..., d_{r−1}) -> dimensions start_dim..end_dim merged (row-major)."""

    name = "flatten"
    degree = 1  # a reshape (value_bound)
    multiaffine = True  # linear in x
    inputs = ("x",)
    required = 1
    differentiable = ("x",)
    ranks = {"x": None}

    schema = Schema(Param("start_dim", "int", 1, "the first axis flattened"),
                    Param("end_dim", "int", -1, "the last axis flattened"))

    def dims(self, rank: int) -> tuple[int, int]:
        """(start, end) as non-negative axes of an input of this rank, or InputError."""
        start, end = (self.params[k] for k in ("start_dim", "end_dim"))
        for key, value in (("start_dim", start), ("end_dim", end)):
            if not -rank <= value < rank:
                raise InputError(f"{key}={value} is out of range for a {rank}-D input: it must be in "
                                 f"[{-rank}, {rank - 1}]")
        start, end = start % rank, end % rank
        if start > end:
            raise ConfigError(f"start_dim={self.params['start_dim']} comes after end_dim={self.params['end_dim']} "
                              f"for a {rank}-D input: start_dim must not come after end_dim")
        return start, end

    def check_shapes(self, shapes):
        self.dims(len(shapes["x"]))

    def output_shape(self, shapes):
        shape = shapes["x"]
        start, end = self.dims(len(shape))
        return shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]

    def sympy_rule(self, shapes):
        shape = shapes["x"]
        start, end = self.dims(len(shape))
        out_shape = self.output_shape(shapes)
        indices = sp.symbols(f"i0:{len(out_shape)}", integer=True, nonnegative=True)
        merged = indices[start]
        # Row-major unravelling of the merged index f: axis k reads ⌊f / (product of the later merged sides)⌋ mod side.
        reads = [sp.Mod(sp.floor(merged / math.prod(shape[k + 1:end + 1])), shape[k]) for k in range(start, end + 1)]
        x_index = indices[:start] + tuple(reads) + indices[start + 1:]
        return IndexRule(indices=indices, shape=out_shape, expr=sp.IndexedBase("x")[x_index], operands=dict(shapes))

    def numpy_forward(self, x):
        return x.reshape(self.output_shape({"x": x.shape}))

    def numpy_backward(self, grad_out, x):
        return (grad_out.reshape(x.shape),)

    def jax_forward(self, x):
        return x.reshape(self.output_shape({"x": x.shape}))

    @classmethod
    def configs(cls, *, max_rank: int = 4, max_side: int = 3, **held):
        """``(flatten, shapes)``: rank 1–``max_rank`` (4), sides 1–``max_side`` (3), start_dim and end_dim
        drawn valid (negative ones too) unless held. Shrinks towards rank 1 and the default dims."""
        check_bound("max_rank", max_rank, 1)
        check_bound("max_side", max_side, 1)
        held = held_params(cls, held)
        return _flatten_configs(max_rank, max_side, held)


@st.composite
def _flatten_configs(draw, max_rank, max_side, held):
    if held:  # the held dims fix which ranks fit: draw among those
        layer = Flatten(**held)
        ranks = [r for r in range(1, max_rank + 3) if _fits(layer, r)]
        if not ranks:
            raise ConfigError(f"start_dim={layer.params['start_dim']}, end_dim={layer.params['end_dim']} fit no "
                              f"input rank up to {max_rank + 2}")
        rank = draw(st.sampled_from(ranks))
    else:
        rank = draw(st.integers(1, max_rank))
        layer = Flatten(start_dim=0 if rank == 1 else 1)
        if draw(st.booleans()):  # other dims, written positive or negative
            start = draw(st.integers(0, rank - 1))
            end = draw(st.integers(start, rank - 1))
            layer = Flatten(start_dim=start - rank * draw(st.booleans()), end_dim=end - rank * draw(st.booleans()))
    return layer, {"x": tuple(draw(st.integers(1, max_side)) for _ in range(rank))}


def _fits(layer, rank):
    try:
        layer.dims(rank)
        return True
    except (ConfigError, InputError):
        return False
