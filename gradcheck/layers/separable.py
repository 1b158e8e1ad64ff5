"""Depthwise-separable convolution: a depthwise conv2d (groups = C_in) then a 1×1 pointwise conv2d.

Conventions (Keras SeparableConv2D, written with torch.nn.functional.conv2d as two calls):
- x (N, C_in, H, W); w_depthwise (C_in·m, 1, kH, kW) with depth multiplier m; w_pointwise (C_out, C_in·m, 1, 1);
  optional b (C_out,), added after the pointwise step (the depthwise step has no bias).
- stride, padding (int, pair, 'same', 'valid') and dilation belong to the depthwise step; the pointwise
  step is a 1×1 convolution with stride 1 and no padding.
- parameters: kH·kW·C_in·m + C_in·m·C_out + C_out (lecture: 3·3·32 + 32·64 + 64 = 2,400).
A plain depthwise convolution is conv2d with groups = C_in (conv2d's strategy draws it).
Everything is the convolution's: forward, backward (chain rule through the two convolutions) and the
JAX forward are Conv2d's, called twice; the SymPy rule is the composition of Conv2d's rule with the 1×1 sum.
"""
from __future__ import annotations

import sympy as sp
from hypothesis import strategies as st

from ..errors import InputError
from ..drawing import check_bound, held_params, per_axis
from . import geometry
from .base import IndexRule, Layer
from .conv import DILATION, PADDING, STRIDE, Conv2d
from .schema import Schema


class SeparableConv2d(Layer):
    """Depthwise-separable 2-D convolution: x (N, C_in, H, W), w_depthwise (C_in·m, 1, kH, kW),
    w_pointwise (C_out, C_in·m, 1, 1), b (C_out,)."""

    name = "separable_conv2d"
    inputs = ("x", "w_depthwise", "w_pointwise", "b")
    required = 3
    differentiable = ("x", "w_depthwise", "w_pointwise", "b")
    degree = 3  # x·w_depthwise·w_pointwise
    multiaffine = True  # affine in each of x, w_depthwise, w_pointwise, b
    ranks = {"x": 4, "w_depthwise": 4, "w_pointwise": 4, "b": 1}
    promotable = {"x": 2, "w_depthwise": 2, "b": 0}

    @classmethod
    def configs(cls, *, extensions: bool = False, **bounds_and_held):
        return separable_configs(extensions=extensions, **bounds_and_held)

    schema = Schema(STRIDE, PADDING, DILATION)  # of the depthwise step (the pointwise one is 1×1)

    def depthwise(self, c_in: int) -> Conv2d:
        return Conv2d(**self.params, groups=c_in)

    pointwise = Conv2d()

    # -- shapes ------------------------------------------------------------------------------------
    def check_shapes(self, shapes):
        c_in, (depth, one, *_), (c_out, pw_in, *pw_kernel) = shapes["x"][1], shapes["w_depthwise"], \
            shapes["w_pointwise"]
        if one != 1 or depth % c_in:
            raise InputError(f"w_depthwise has shape {shapes['w_depthwise']}: it must be (C_in·m, 1, kH, kW) "
                             f"with C_in = {c_in} and a depth multiplier m >= 1")
        self.depthwise(c_in).check_shapes({"x": shapes["x"], "w": shapes["w_depthwise"]})
        if pw_in != depth or pw_kernel != [1, 1]:
            raise InputError(f"w_pointwise has shape {shapes['w_pointwise']}: it must be (C_out, {depth}, 1, 1)")
        if "b" in shapes and shapes["b"] != (c_out,):
            raise InputError(f"b has shape {shapes['b']}: it must be ({c_out},), one bias per output channel")

    def output_shape(self, shapes):
        n, _, h, w = self.depthwise(shapes["x"][1]).output_shape({"x": shapes["x"], "w": shapes["w_depthwise"]})
        return (n, shapes["w_pointwise"][0], h, w)

    # -- the forward rule: Conv2d's depthwise rule inside the pointwise sum ---------------------------
    def sympy_rule(self, shapes):
        """O[n,o,i,j] = Σ_k w_pointwise[o,k,0,0] · (Σ_{p,q} x[n, ⌊k/m⌋, s·i + d·p − pad, ...] · w_depthwise[k,0,p,q])
        + b[o]."""
        depth = shapes["w_depthwise"][0]
        inner = self.depthwise(shapes["x"][1]).sympy_rule({"x": shapes["x"], "w": shapes["w_depthwise"]})
        n, o, i, j = inner.indices
        k = sp.Symbol("k", integer=True, nonnegative=True)
        depthwise = inner.expr.xreplace({o: k, sp.IndexedBase("w"): sp.IndexedBase("w_depthwise")})
        expr = sp.Sum(sp.IndexedBase("w_pointwise")[o, k, 0, 0] * depthwise, (k, 0, depth - 1))
        if "b" in shapes:
            expr = expr + sp.IndexedBase("b")[o]
        return IndexRule(indices=(n, o, i, j), shape=self.output_shape(shapes), expr=expr, operands=dict(shapes))

    # -- NumPy: two convolutions, and the chain rule through them ---------------------------------
    def numpy_forward(self, x, w_depthwise, w_pointwise, b=None):
        return self.pointwise.numpy_forward(self.depthwise(x.shape[1]).numpy_forward(x, w_depthwise), w_pointwise, b)

    def numpy_backward(self, grad_out, x, w_depthwise, w_pointwise, b=None):
        depthwise = self.depthwise(x.shape[1])
        hidden = depthwise.numpy_forward(x, w_depthwise)
        grad_hidden, grad_pointwise, *grad_b = self.pointwise.numpy_backward(grad_out, hidden, w_pointwise, b)
        grad_x, grad_depthwise = depthwise.numpy_backward(grad_hidden, x, w_depthwise)
        return (grad_x, grad_depthwise, grad_pointwise, *grad_b)

    def jax_forward(self, x, w_depthwise, w_pointwise, b=None):
        return self.pointwise.jax_forward(self.depthwise(x.shape[1]).jax_forward(x, w_depthwise), w_pointwise, b)


def separable_configs(*, max_batch: int = 2, max_channels: int = 3, max_multiplier: int = 2, max_side: int = 6,
                      max_kernel: int = 3, max_stride: int = 2, max_padding: int = 1, max_dilation: int = 2,
                      bias: bool | None = None, extensions: bool = False, **held):
    """A separable convolution and shapes that fit it: ``(layer, shapes)``.

    Defaults: batch 1–``max_batch`` (2), C_in and C_out 1–``max_channels`` (3), depth multiplier
    1–``max_multiplier`` (2), sides 1–``max_side`` (6), kernel 1–``max_kernel`` (3) fitting the padded input,
    stride 1–``max_stride`` (2), padding 0–``max_padding`` (1), 'valid' or 'same', dilation 1–``max_dilation``
    (2). Shrinks towards one channel, multiplier 1, side 1, kernel 1, stride and dilation 1, no padding, no bias.
    'same' is drawn with stride 1 only (as torch's conv2d allows), with any stride under ``extensions=True``.
    """
    for name, value in [("max_batch", max_batch), ("max_channels", max_channels), ("max_multiplier", max_multiplier),
                        ("max_side", max_side), ("max_kernel", max_kernel), ("max_stride", max_stride),
                        ("max_dilation", max_dilation)]:
        check_bound(name, value, 1)
    check_bound("max_padding", max_padding, 0)
    return _separable_configs(max_batch, max_channels, max_multiplier, max_side, max_kernel, max_stride, max_padding,
                              max_dilation, bias, held_params(SeparableConv2d, held), extensions)


@st.composite
def _separable_configs(draw, max_batch, max_channels, max_multiplier, max_side, max_kernel, max_stride, max_padding,
                       max_dilation, bias, held, extensions=False):
    c_in, c_out = draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    depth = c_in * draw(st.integers(1, max_multiplier))
    if held.get("padding") == "same" and "stride" not in held and not extensions:
        stride = (1, 1)  # torch allows 'same' with stride 1 only
    else:
        stride = per_axis(draw, "stride", held, st.integers(1, max_stride), 2)
    dilation = per_axis(draw, "dilation", held, st.integers(1, max_dilation), 2)
    same = [st.just("same")] if extensions or max(stride) == 1 else []
    padding = held["padding"] if "padding" in held else draw(st.one_of(
        st.tuples(*[st.integers(0, max_padding)] * 2), st.just("valid"), *same))
    sides, kernel = [], []
    for axis in range(2):
        side = draw(st.integers(1, max_side))
        room = side + (2 * padding[axis] if isinstance(padding, tuple) else 0)
        if padding == "same":
            room = side + (max_kernel - 1) * dilation[axis]
        kernel.append(draw(st.integers(1, min(max_kernel, geometry.largest_kernel(room, dilation[axis])))))
        sides.append(side)
    shapes = {"x": (draw(st.integers(1, max_batch)), c_in, *sides), "w_depthwise": (depth, 1, *kernel),
              "w_pointwise": (c_out, depth, 1, 1)}
    if bias if bias is not None else draw(st.booleans()):
        shapes["b"] = (c_out,)
    return SeparableConv2d(stride=stride, padding=padding, dilation=dilation), shapes
