"""Transposed convolution (torch.nn.functional.conv_transpose1d / conv_transpose2d).

Conventions (torch.nn.functional):
- x (N, C_in, *S), w (C_in, C_out/groups, *K), optional b (C_out,).
- stride, padding (ints only, as torch), output_padding < max(stride, dilation), dilation, groups.
- output size per spatial dimension: (S − 1)·s − 2p + d·(k − 1) + output_padding + 1.
- it is the adjoint of the convolution with the same filter: ⟨conv(X, w), Y⟩ = ⟨X, conv_transpose(Y, w)⟩.
  So nothing here is derived anew; every NumPy step is one of the convolution's identities
  (gradcheck.layers.conv) with the roles of its operands swapped:
    forward       = conv's input gradient of the stride-dilated x (full correlation with the rotated filter),
                    the padding cropped off, the output_padding rows/columns after;
    dL/dx         = conv forward of G with the same filter, stride, padding and dilation;
    dL/dw         = conv's weight gradient with x and G swapped (padded G, stride-dilated x).
"""
from __future__ import annotations

import itertools

import sympy as sp
from hypothesis import assume, strategies as st

from ..errors import ConfigError, InputError
from ..drawing import check_bound, held_params, per_axis
from . import numpy_ops as ops
from . import geometry
from .schema import Param, Schema
from .base import Layer
from .conv import DILATION, GROUPS, RULE_SYMBOLS, STRIDE, Conv1d, Conv2d, conv_rule



class ConvTranspose(Layer):
    spatial: int
    conv: type  # the convolution this layer is the adjoint of
    inputs = ("x", "w", "b")
    required = 2
    differentiable = ("x", "w", "b")
    multiaffine = True  # affine in x, in w and in b (gc.verify_projected)

    @classmethod
    def configs(cls, **bounds_and_held):
        return conv_transpose_configs(cls, **bounds_and_held)

    @classmethod
    def sweep_space(cls, **bounds):
        return conv_transpose_sweep_space(cls, **bounds)

    schema = Schema(STRIDE,
                    Param("padding", "ints", 0, "d·(k − 1) − p zeros of implicit padding: p cropped from both ends "
                          "of the output (ints only, as torch)", minimum=0),
                    Param("output_padding", "ints", 0, "positions added at the end of the output (smaller than "
                          "stride or dilation)", minimum=0),
                    DILATION, GROUPS)

    def validate(self, params):
        out = super().validate(params)
        for op, s, d in zip(out["output_padding"], out["stride"], out["dilation"]):
            if op >= max(s, d):
                raise ConfigError(f"output_padding={params['output_padding']!r} is not allowed: output_padding "
                                  f"must be in 0..{max(s, d) - 1} (smaller than stride {s} or dilation {d})")
        return out

    def as_conv(self):
        """The convolution whose input gradient this layer computes (same stride, padding, dilation, groups)."""
        p = self.params
        return self.conv(stride=p["stride"], padding=p["padding"], dilation=p["dilation"], groups=p["groups"])

    # -- shapes ------------------------------------------------------------------------------------
    def check_shapes(self, shapes):
        (n, c_in, *size), (w_in, o_per_group, *kernel) = shapes["x"], shapes["w"]
        g = self.params["groups"]
        if c_in % g:
            raise ConfigError(f"groups={g} does not divide the {c_in} input channels (x {shapes['x']}); "
                              "groups must divide C_in")
        if w_in != c_in:
            raise InputError(f"w has shape {shapes['w']}: its first dimension must be C_in = {c_in} "
                             "(conv_transpose weights are (C_in, C_out/groups, *K))")
        for axis, (s, out) in enumerate(zip(size, self.output_shape(shapes)[2:])):
            if out < 1:
                raise ConfigError(f"padding={self.params['padding'][axis]} is too large along spatial "
                                  f"axis {axis}: the output size (S−1)·s − 2p + d(k−1) + output_padding + 1 "
                                  f"would be {out}; it must be >= 1")
        if "b" in shapes and shapes["b"] != (g * o_per_group,):
            raise InputError(f"b has shape {shapes['b']}: it must be ({g * o_per_group},), one bias per output "
                             "channel (C_out = groups · w.shape[1])")

    def output_shape(self, shapes):
        (n, _, *size), (_, o_per_group, *kernel) = shapes["x"], shapes["w"]
        p = self.params
        return (n, p["groups"] * o_per_group) + tuple(
            geometry.transposed_output_size(h, k, stride=s, padding=pad, output_padding=op, dilation=d)
            for h, k, s, pad, op, d in zip(size, kernel, p["stride"], p["padding"], p["output_padding"], p["dilation"]))

    # -- the forward rule, written once in SymPy ---------------------------------------------------
    def sympy_rule(self, shapes):
        """O[n,o,i] = Σ_{c,a} x[n, g·C_in/g + c, (i + p − d·a)/s] · w[g·C_in/g + c, o − g·C_out/g, a] (+ b[o]),
        g = ⌊o / (C_out/groups)⌋ the group of o; a non-whole (i + p − d·a)/s reads as outside (zero)."""
        (_, c_in, *size), (_, o_per_group, *kernel) = shapes["x"], shapes["w"]
        groups = self.params["groups"]
        c_per_group = c_in // groups
        X, W, (n, o, c), out_pos, taps = RULE_SYMBOLS[self.spatial]
        group = sp.floor(o / o_per_group) if groups != 1 else sp.Integer(0)  # != : also a symbol (gradcheck.prove)
        channel, out_channel = group * c_per_group + c, o - group * o_per_group
        p = self.params
        positions = [(i + pad - d * a) / sp.sympify(s) for i, a, s, pad, d in zip(
            out_pos, taps, p["stride"], p["padding"], p["dilation"])]
        summand = X[(n, channel, *positions)] * W[(channel, out_channel, *taps)]
        return conv_rule(self, summand, c_per_group, kernel, shapes)

    # -- NumPy forward and backward: the convolution's identities, operands swapped ---------------
    def numpy_forward(self, x, w, b=None):
        p = self.params
        out_size = self.output_shape({"x": x.shape, "w": w.shape})[2:]
        padded = tuple(h + 2 * pad for h, pad in zip(out_size, p["padding"]))
        # conv's dL/d(padded input), G = x: the output_padding rows are its remainder, added after.
        full = self.as_conv().padded_input_gradient(ops.dilate_by(x, p["stride"]), w, padded, p["dilation"])
        out = ops.pad(full, tuple((-pad, -pad) for pad in p["padding"]))
        return out if b is None else out + b.reshape((1, -1) + (1,) * self.spatial)

    def numpy_backward(self, grad_out, x, w, b=None):
        p = self.params
        conv = self.as_conv()
        # ⟨T(x), G⟩ = ⟨x, conv(G)⟩: dL/dx is the convolution of G. With output_padding >= stride (allowed
        # when dilation > stride) conv(G) is longer than x: those positions are not inputs of this layer.
        grad_x = conv.numpy_forward(grad_out, w)
        grad_x = grad_x[(slice(None), slice(None)) + tuple(slice(0, h) for h in x.shape[2:])]
        grad_w = conv.weight_gradient(ops.pad(grad_out, tuple((pad, pad) for pad in p["padding"])),
                                      ops.dilate_by(x, p["stride"]), w.shape[2:], p["dilation"])
        grad_b = grad_out.sum(axis=(0,) + tuple(range(2, 2 + self.spatial)))
        return (grad_x, grad_w) if b is None else (grad_x, grad_w, grad_b)

    # -- JAX forward -------------------------------------------------------------------------------
    def jax_forward(self, x, w, b=None):
        """conv_general_dilated with lhs_dilation = stride (x spread out by s − 1 zeros), the rotated filter
        read as (C_out, C_in/groups) and padding d(k−1) − p before, d(k−1) − p + output_padding after.

        Chosen over lax.conv_transpose because that has no feature_group_count (groups); this is also how
        JAX transposes a convolution itself (the lhs rule of conv_general_dilated's vjp).
        """
        import jax.numpy as jnp
        from jax import lax

        p, nd = self.params, self.spatial
        groups, (c_in, o_per_group, *kernel) = p["groups"], w.shape
        rotated = jnp.flip(w, axis=tuple(range(2, 2 + nd)))
        grouped = rotated.reshape((groups, c_in // groups, o_per_group, *kernel))
        oihw = jnp.swapaxes(grouped, 1, 2).reshape((groups * o_per_group, c_in // groups, *kernel))
        pads = [(d * (k - 1) - pad, d * (k - 1) - pad + op) for k, d, pad, op in zip(
            kernel, p["dilation"], p["padding"], p["output_padding"])]
        layout = {1: ("NCH", "OIH", "NCH"), 2: ("NCHW", "OIHW", "NCHW")}[nd]
        out = lax.conv_general_dilated(x, oihw, window_strides=(1,) * nd, padding=pads, lhs_dilation=p["stride"],
                                       rhs_dilation=p["dilation"], dimension_numbers=layout,
                                       feature_group_count=groups, precision=lax.Precision.HIGHEST)
        return out if b is None else out + b.reshape((1, -1) + (1,) * nd)


class ConvTranspose2d(ConvTranspose):
    """2-D transposed convolution: x (N, C_in, H, W), w (C_in, C_out/groups, kH, kW), b (C_out,)."""

    name = "conv_transpose2d"
    spatial = 2
    conv = Conv2d
    ranks = {"x": 4, "w": 4, "b": 1}
    promotable = {"x": 2, "w": 2, "b": 0}


class ConvTranspose1d(ConvTranspose):
    """1-D transposed convolution: x (N, C_in, L), w (C_in, C_out/groups, K), b (C_out,)."""

    name = "conv_transpose1d"
    spatial = 1
    conv = Conv1d
    ranks = {"x": 3, "w": 3, "b": 1}
    promotable = {"x": 1, "w": 1, "b": 0}


# -- Hypothesis strategy and sweep space ---------------------------------------------------------
def conv_transpose_configs(cls, *, max_batch: int = 2, max_channels: int = 4, max_side: int = 5,
                           max_kernel: int = 3, max_stride: int = 3, max_padding: int = 2, max_dilation: int = 2,
                           bias: bool | None = None, **held):
    """A transposed convolution and input shapes that fit it: ``(layer, shapes)``.

    Defaults: batch 1–``max_batch`` (2), channels 1–``max_channels`` (4) with groups dividing both, input
    sides 1–``max_side`` (5), kernel 1–``max_kernel`` (3), stride 1–``max_stride`` (3), dilation
    1–``max_dilation`` (2), padding 0–``max_padding`` (2) as far as the output keeps at least one element,
    output_padding 0..max(stride, dilation) − 1 (drawn wherever it is allowed). Shrinks towards one
    channel, side 1, kernel 1, stride, dilation and groups 1, no padding and no bias.
    """
    for name, value in [("max_batch", max_batch), ("max_channels", max_channels), ("max_side", max_side),
                        ("max_kernel", max_kernel), ("max_stride", max_stride), ("max_dilation", max_dilation)]:
        check_bound(name, value, 1)
    check_bound("max_padding", max_padding, 0)
    # a held output_padding alone must fit the largest stride drawn
    alone = "output_padding" in held and "stride" not in held and "dilation" not in held
    held = held_params(cls, held, **({"stride": max_stride} if alone else {}))
    return _configs(cls, max_batch, max_channels, max_side, max_kernel, max_stride, max_padding, max_dilation,
                    bias, held)


@st.composite
def _configs(draw, cls, max_batch, max_channels, max_side, max_kernel, max_stride, max_padding, max_dilation,
             bias, held):
    nd = cls.spatial
    groups = held.get("groups") or draw(st.integers(1, max_channels))
    c_in = groups * draw(st.integers(1, max(1, max_channels // groups)))
    c_out = groups * draw(st.integers(1, max(1, max_channels // groups)))
    stride = per_axis(draw, "stride", held, st.integers(1, max_stride), nd)
    dilation = per_axis(draw, "dilation", held, st.integers(1, max_dilation), nd)
    sides = [draw(st.integers(1, max_side)) for _ in range(nd)]
    kernel = [draw(st.integers(1, max_kernel)) for _ in range(nd)]
    output_padding = held.get("output_padding") or tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    assume(all(op < max(s, d) for op, s, d in zip(output_padding, stride, dilation)))  # a held output_padding
    # The padding must leave at least one output element: 2p <= (S−1)s + d(k−1) + output_padding, the size at p = 0
    # less 1.
    unpadded = [geometry.transposed_output_size(h, k, stride=s, output_padding=op, dilation=d) - 1
                for h, s, d, k, op in zip(sides, stride, dilation, kernel, output_padding)]
    padding = held.get("padding") or tuple(draw(st.integers(0, min(max_padding, room // 2))) for room in unpadded)
    assume(all(2 * p <= room for p, room in zip(padding, unpadded)))  # a held padding
    layer = cls(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    shapes = {"x": (draw(st.integers(1, max_batch)), c_in, *sides), "w": (c_in, c_out // groups, *kernel)}
    if bias if bias is not None else draw(st.booleans()):
        shapes["b"] = (c_out,)
    return layer, shapes


def conv_transpose_sweep_space(cls, *, max_side: int, max_kernel: int = 3, max_stride: int = 3,
                               max_dilation: int = 2, max_padding: int = 2):
    """Every square configuration within bounds: sides, kernels, strides, dilations, paddings, every allowed
    output_padding, channel layouts (C_in, C_out, groups) in (1,1,1), (2,3,1), (2,2,2); batch 2 with bias."""
    for side, kernel, stride, dilation, padding, (c_in, c_out, groups) in itertools.product(
            range(1, max_side + 1), range(1, max_kernel + 1), range(1, max_stride + 1),
            range(1, max_dilation + 1), range(max_padding + 1), [(1, 1, 1), (2, 3, 1), (2, 2, 2)]):
        for output_padding in range(max(stride, dilation)):
            params = {"stride": stride, "padding": padding, "output_padding": output_padding,
                      "dilation": dilation, "groups": groups}
            shapes = {"x": (2, c_in) + (side,) * cls.spatial, "w": (c_in, c_out // groups) + (kernel,) * cls.spatial,
                      "b": (c_out,)}
            yield params, shapes  # gradcheck.sweep skips those outside the layer's domain
