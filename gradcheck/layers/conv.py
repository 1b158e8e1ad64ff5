"""Convolution (cross-correlation, as deep-learning layers compute it): conv1d and conv2d.

Conventions (torch.nn.functional.conv2d / jax.lax.conv_general_dilated):
- x (N, C_in, *S), w (C_out, C_in/groups, *K), optional b (C_out,); NCHW / OIHW.
- padding: int, tuple, 'valid' (none) or 'same': ⌈S/s⌉ outputs, the TensorFlow/XLA 'SAME' rule (PyTorch
  allows 'same' only with stride 1, where the rules coincide); an odd total puts the extra zero after.
- output size per spatial dimension: ⌊(S + p_before + p_after − d·(k−1) − 1) / s⌋ + 1.
- convolution is linear in x and in w, so every oracle is exact on integer and rational data.
"""
from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from ..errors import ConfigError, InputError
from ..drawing import check_bound, held_params, per_axis
from . import numpy_ops as ops
from . import geometry
from .schema import Param, Schema
from .base import IndexRule, Layer


def _rule_symbols(spatial: int):
    """Operands x, w and the index symbols of a convolution rule: (n, o, c), output positions, taps."""
    names = {1: ("i", "p"), 2: ("i j", "p q")}[spatial]
    return (sp.IndexedBase("x"), sp.IndexedBase("w"), sp.symbols("n o c", integer=True, nonnegative=True),
            sp.symbols(names[0], integer=True, nonnegative=True, seq=True),
            sp.symbols(names[1], integer=True, nonnegative=True, seq=True))


RULE_SYMBOLS = {spatial: _rule_symbols(spatial) for spatial in (1, 2)}


def conv_rule(layer, summand, c_per_group, kernel, shapes) -> IndexRule:
    """O[n,o,*out] = Σ over the group's channels c and the taps of ``summand`` (+ b[o]): the frame that a
    convolution's rule and its transpose's share; only their summands differ."""
    _, _, (n, o, c), out_pos, taps = RULE_SYMBOLS[layer.spatial]
    expr = sp.Sum(summand, (c, 0, c_per_group - 1), *[(a, 0, k - 1) for a, k in zip(taps, kernel)])
    if "b" in shapes:
        expr = expr + sp.IndexedBase("b")[o]
    return IndexRule(indices=(n, o, *out_pos), shape=layer.output_shape(shapes), expr=expr, operands=dict(shapes))


# The parameters, shared with the layers built on a convolution (separable_conv2d, conv_transpose*).
STRIDE = Param("stride", "ints", 1, "step between windows, per spatial axis", minimum=1)
PADDING = Param("padding", "padding", 0, "zeros added on both sides per axis; 'same': ⌈S/s⌉ outputs (TensorFlow/XLA "
                "'SAME', the odd zero after), 'valid': none")
DILATION = Param("dilation", "ints", 1, "spacing between kernel taps (d − 1 skipped), per spatial axis", minimum=1)
GROUPS = Param("groups", "int", 1, "channel groups: C_in and C_out split into groups convolved separately", minimum=1)


class Conv(Layer):
    spatial: int
    inputs = ("x", "w", "b")
    required = 2
    differentiable = ("x", "w", "b")
    multiaffine = True  # affine in x, in w and in b (gc.verify_projected)

    @classmethod
    def configs(cls, *, extensions: bool = False, **bounds_and_held):
        return conv_configs(spatial=cls.spatial, extensions=extensions, **bounds_and_held)

    @classmethod
    def sweep_space(cls, **bounds):
        return conv_sweep_space(cls, **bounds)

    schema = Schema(STRIDE, PADDING, DILATION, GROUPS)

    # -- shapes ------------------------------------------------------------------------------------
    def pads(self, kernel, size) -> tuple[tuple[int, int], ...]:
        p = self.params
        return geometry.resolve_padding(p["padding"], kernel, p["dilation"], p["stride"], size)

    def window_counts(self, kernel, size) -> tuple[geometry.WindowCount, ...]:
        """The output-size arithmetic per spatial axis (gradcheck.layers.geometry)."""
        p = self.params
        return geometry.window_counts(size, kernel, p["stride"], p["dilation"], self.pads(kernel, size))

    def check_shapes(self, shapes):
        (n, c, *size), (o, c_per_group, *kernel) = shapes["x"], shapes["w"]
        g = self.params["groups"]
        if c % g or o % g:
            which, count = ("input", c) if c % g else ("output", o)
            raise ConfigError(f"groups={g} does not divide the {count} {which} channels "
                              f"(x {shapes['x']}, w {shapes['w']}); groups must divide C_in and C_out")
        if c_per_group != c // g:
            raise InputError(f"w has shape {shapes['w']}: with {c} input channels and groups={g} its second "
                             f"dimension must be {c // g} (C_in/groups)")
        for axis, count in enumerate(self.window_counts(kernel, size)):
            if not count.fits:
                raise ConfigError(
                    f"kernel size {count.kernel} (dilation {count.dilation}: extent {count.extent}) is larger than the "
                    f"padded input ({count.size} + {count.pad_before} + {count.pad_after} = {count.padded}) along "
                    f"spatial axis {axis}; the kernel extent must fit")
        if "b" in shapes and shapes["b"] != (o,):
            raise InputError(f"b has shape {shapes['b']}: it must be ({o},), one bias per output channel")

    def output_shape(self, shapes):
        (n, _, *size), (o, _, *kernel) = shapes["x"], shapes["w"]
        return (n, o) + tuple(count.out for count in self.window_counts(kernel, size))

    # -- the forward rule, written once in SymPy ---------------------------------------------------
    def sympy_rule(self, shapes):
        (_, c_in, *size), (c_out, c_per_group, *kernel) = shapes["x"], shapes["w"]
        groups = self.params["groups"]
        X, W, (n, o, c), out_pos, taps = RULE_SYMBOLS[self.spatial]
        # Input channel of tap c for output channel o: o's group offset plus c.
        channel = c if groups == 1 else sp.floor(o / (c_out // groups)) * c_per_group + c
        positions = [geometry.tap_position(i, a, stride=s, dilation=d, pad_before=pb) for i, a, s, d, (pb, _) in zip(
            out_pos, taps, self.params["stride"], self.params["dilation"], self.pads(kernel, size))]
        return conv_rule(self, X[(n, channel, *positions)] * W[(o, c, *taps)], c_per_group, kernel, shapes)

    # -- NumPy forward and the hand-coded backward (textbook identities) ---------------------------
    def numpy_forward(self, x, w, b=None):
        p = self.params
        out = ops.correlate(ops.pad(x, self.pads(w.shape[2:], x.shape[2:])), w, stride=p["stride"],
                            dilation=p["dilation"], groups=p["groups"])
        return out if b is None else out + b.reshape((1, -1) + (1,) * self.spatial)

    def numpy_backward(self, grad_out, x, w, b=None):
        p = self.params
        pads = self.pads(w.shape[2:], x.shape[2:])
        x_padded = ops.pad(x, pads)
        grad_dilated = ops.dilate_by(grad_out, p["stride"])  # s−1 zeros between the entries of G
        grad_w = self.weight_gradient(x_padded, grad_dilated, w.shape[2:], p["dilation"])
        grad_x_padded = self.padded_input_gradient(grad_dilated, w, x_padded.shape[2:], p["dilation"])
        grad_x = ops.pad(grad_x_padded, tuple((-pb, -pa) for pb, pa in pads))  # crop the padding off
        grad_b = grad_out.sum(axis=(0,) + tuple(range(2, 2 + self.spatial)))
        return (grad_x, grad_w) if b is None else (grad_x, grad_w, grad_b)

    # The two identities, as separate steps so that the mistake catalogue can reuse them with one twist.
    def weight_gradient(self, x_padded, grad_dilated, kernel, dilation):
        """dL/dF = corr(padded X, stride-dilated G), read at the filter's dilation, summed over the batch.

        Swapping the batch and channel axes turns "sum over the batch" into the correlation's channel sum.
        """
        groups = self.params["groups"]
        c_g, o_g = x_padded.shape[1] // groups, grad_dilated.shape[1] // groups
        # Only the rows taps 0..k−1 read: a G smaller than the input (a mistake undilated by the stride) would
        # otherwise correlate at every offset and keep k of them (VGG16 conv1_2 at stride 2: 680 GFLOP, not 0.5).
        # (kernel None: every offset, uncropped; the reports show that full correlation before reading taps off)
        reach = tuple(slice(None) if k is None else slice(0, geometry.reach(k, n, stride=d))
                      for k, d, n in zip(kernel, dilation, grad_dilated.shape[2:]))
        x_padded = x_padded[(slice(None), slice(None)) + reach]
        grad_w = np.concatenate([
            ops.correlate(x_padded[:, g * c_g:(g + 1) * c_g].swapaxes(0, 1),
                          grad_dilated[:, g * o_g:(g + 1) * o_g].swapaxes(0, 1),
                          stride=dilation, dilation=(1,) * self.spatial)
            for g in range(groups)], axis=1).swapaxes(0, 1)
        return grad_w[(slice(None), slice(None)) + tuple(slice(0, k) for k in kernel)]

    def padded_input_gradient(self, grad_dilated, w, padded_size, dilation, remainder_after=True):
        """dL/d(padded X) = full-conv(rot180 F, G): pad the dilated G by the filter extent − 1 and correlate
        with the rotated (dilated) filter read with in/out channels swapped; then add the
        a = (S + 2p − d(k−1) − 1) mod s rows/columns that no output window reached (after, i.e. bottom/right).
        """
        extent = [d * (k - 1) for k, d in zip(w.shape[2:], dilation)]
        full = ops.correlate(ops.pad(grad_dilated, tuple((e, e) for e in extent)),
                             ops.swap_in_out(ops.rot180(w), self.params["groups"]),
                             stride=(1,) * self.spatial, dilation=dilation, groups=self.params["groups"])
        remainder = [xp - f for xp, f in zip(padded_size, full.shape[2:])]
        return ops.pad(full, tuple((0, r) if remainder_after else (r, 0) for r in remainder))

    # -- JAX forward (differentiated by jax.vjp in the jax oracle) ---------------------------------
    def jax_forward(self, x, w, b=None):
        import jax.numpy as jnp
        from jax import lax

        p = self.params
        layout = {1: ("NCH", "OIH", "NCH"), 2: ("NCHW", "OIHW", "NCHW")}[self.spatial]
        pads = self.pads(w.shape[2:], x.shape[2:])
        counts = self.window_counts(w.shape[2:], x.shape[2:])
        read = [count.padded - count.unread for count in counts]
        if any(count.unread for count in counts):
            # Rows a stride leaves unread at the end reach XLA's weight-gradient convolution as negative
            # padding, and jaxlib 0.10's CPU compiler aborts the whole process on some of those (x (2,4,6,1),
            # w (4,4,2,2), stride (2, 3), padding 1: "Window dimensions do not match RHS shape"). Then pad here
            # and keep only what the windows read (exact: unread rows get a zero gradient either way). Not
            # always: XLA's backward of an explicit pad is up to 40× slower (VGG16 conv5_1: 1.7 s vs 42 ms).
            x = jnp.pad(x, ((0, 0), (0, 0)) + tuple(pads))[(slice(None), slice(None)) +
                                                            tuple(slice(0, r) for r in read)]
            pads = "VALID"
        out = lax.conv_general_dilated(x, w, window_strides=p["stride"], padding=pads,
                                       rhs_dilation=p["dilation"], dimension_numbers=layout,
                                       feature_group_count=p["groups"], precision=lax.Precision.HIGHEST)
        return out if b is None else out + b.reshape((1, -1) + (1,) * self.spatial)


class Conv2d(Conv):
    """2-D convolution: x (N, C, H, W), w (O, C/groups, kH, kW), b (O,)."""

    name = "conv2d"
    spatial = 2
    ranks = {"x": 4, "w": 4, "b": 1}
    promotable = {"x": 2, "w": 2, "b": 0}


class Conv1d(Conv):
    """1-D convolution: x (N, C, L), w (O, C/groups, K), b (O,)."""

    name = "conv1d"
    spatial = 1
    ranks = {"x": 3, "w": 3, "b": 1}
    promotable = {"x": 1, "w": 1, "b": 0}


# -- Hypothesis strategy (public as gradcheck.strategies.conv_configs) ---------------------------
def conv_configs(*, spatial: int = 2, max_batch: int = 2, max_channels: int = 4, max_side: int = 10,
                 max_kernel: int = 5, max_stride: int = 3, max_padding: int = 2, max_dilation: int = 3,
                 bias: bool | None = None, extensions: bool = False, **held):
    """A convolution layer and input shapes that fit it: ``(layer, shapes)``.

    Defaults: batch 1–``max_batch`` (2), channels 1–``max_channels`` (4) with groups dividing C_in and
    C_out, spatial sides 1–``max_side`` (10), kernel 1–``max_kernel`` (5) with its dilated extent fitting
    the padded input, stride 1–``max_stride`` (3), padding 0–``max_padding`` (2) per side, 'valid' or
    'same', dilation 1–``max_dilation`` (3). ``bias``: True/False to hold, None to draw. Drawn configurations
    stay inside torch.nn.functional's domain ('same' only with stride 1) unless ``extensions=True`` (then
    'same' with a stride too: TensorFlow/XLA 'SAME'); held values are used as given.
    """
    for name, value in [("max_batch", max_batch), ("max_channels", max_channels), ("max_side", max_side),
                        ("max_kernel", max_kernel), ("max_stride", max_stride), ("max_dilation", max_dilation)]:
        check_bound(name, value, 1)
    check_bound("max_padding", max_padding, 0)
    name = {1: "conv1d", 2: "conv2d"}.get(spatial)
    if name is None:
        raise InvalidArgument(f"spatial={spatial!r} is not allowed: spatial must be 1 or 2")
    held = held_params({1: Conv1d, 2: Conv2d}[spatial], held)
    return _conv_configs(name, spatial, max_batch, max_channels, max_side, max_kernel, max_stride, max_padding,
                         max_dilation, bias, held, extensions)


@st.composite
def _conv_configs(draw, name, spatial, max_batch, max_channels, max_side, max_kernel, max_stride, max_padding,
                  max_dilation, bias, held, extensions=False):
    groups = held.get("groups") or draw(st.integers(1, max_channels))
    c_in = groups * draw(st.integers(1, max(1, max_channels // groups)))
    c_out = groups * draw(st.integers(1, max(1, max_channels // groups)))
    if held.get("padding") == "same" and "stride" not in held and not extensions:
        stride = (1,) * spatial  # torch allows 'same' with stride 1 only
    else:
        stride = per_axis(draw, "stride", held, st.integers(1, max_stride), spatial)
    dilation = per_axis(draw, "dilation", held, st.integers(1, max_dilation), spatial)
    if "padding" in held:
        padding = held["padding"]
    else:
        same = [st.just("same")] if extensions or max(stride) == 1 else []
        padding = draw(st.one_of(st.tuples(*[st.integers(0, max_padding)] * spatial), st.just("valid"), *same))
    sides, kernel = [], []
    for axis in range(spatial):
        side = draw(st.integers(1, max_side))
        pads = 0 if padding in ("valid", "same") else 2 * padding[axis]
        room = side + pads if padding != "same" else side + (max_kernel - 1) * dilation[axis]  # 'same' always fits
        kernel.append(draw(st.integers(1, min(max_kernel, geometry.largest_kernel(room, dilation[axis])))))
        sides.append(side)
    layer = {1: Conv1d, 2: Conv2d}[spatial](stride=stride, padding=padding, dilation=dilation, groups=groups)
    batch = draw(st.integers(1, max_batch))
    shapes = {"x": (batch, c_in, *sides), "w": (c_out, c_in // groups, *kernel)}
    if bias if bias is not None else draw(st.booleans()):
        shapes["b"] = (c_out,)
    return layer, shapes


def conv_sweep_space(cls, *, max_side: int, max_kernel: int = 3, max_stride: int = 3, max_dilation: int = 2,
                     max_padding: int = 2):
    """Every square configuration within bounds, for ``gradcheck sweep``: sides 1..max_side, kernels,
    strides, dilations, paddings (ints, 'same', 'valid'), channel layouts (C_in, C_out, groups) in
    (1,1,1), (2,3,1), (2,2,2); batch 2 with bias."""
    spatial = cls.spatial
    paddings = list(range(max_padding + 1)) + ["same", "valid"]
    for side, kernel, stride, dilation, padding, (c_in, c_out, groups) in itertools.product(
            range(1, max_side + 1), range(1, max_kernel + 1), range(1, max_stride + 1),
            range(1, max_dilation + 1), paddings, [(1, 1, 1), (2, 3, 1), (2, 2, 2)]):
        params = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        shapes = {"x": (2, c_in) + (side,) * spatial, "w": (c_out, c_in // groups) + (kernel,) * spatial,
                  "b": (c_out,)}
        yield params, shapes  # gradcheck.sweep skips those outside the layer's domain
