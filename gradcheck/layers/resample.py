"""Unpooling and upsampling: max_unpool2d, upsample_nearest2d, upsample_zeros2d, x (N, C, H, W) -> (N, C, H', W').

- max_unpool2d(x, indices) (torch.nn.functional.max_unpool2d): every x[n, c, i, j] is placed at the flat position
  indices[n, c, i, j] of an H'·W' plane of zeros; default H' = (H − 1)·s − 2p + k, or output_size within
  (default − s, default + s). indices are not differentiable; they must lie in [0, H'·W') and be distinct per
  channel (torch leaves repeated positions undefined). dL/dx is dL/dO gathered at the indices.
- upsample_nearest2d (torch's upsample_nearest2d / interpolate(mode='nearest') with an integer scale_factor):
  each element becomes an s_h × s_w block; dL/dx sums dL/dO over the block.
- upsample_zeros2d ("bed of nails"; torch has no name for it): the element goes to the top-left of its block,
  zeros elsewhere — stride-dilation, the transpose of a strided subsampling; dL/dx reads dL/dO[s·i, s·j].
All three are linear: every oracle is exact on integer and rational data.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from ..errors import ConfigError, InputError
from ..drawing import arrays, check_bound, held_params
from . import numpy_ops as ops
from . import geometry
from .schema import REQUIRED, Param, Schema
from .base import IndexRule, Layer


class MaxUnpool2d(Layer):
    """Max unpooling: x (N, C, H, W) and indices (N, C, H, W) from max_pool2d -> (N, C, H', W')."""

    name = "max_unpool2d"
    inputs, required, differentiable = ("x", "indices"), 2, ("x",)
    multiaffine = True  # linear in x (the indices are held)
    ranks, promotable = {"x": 4, "indices": 4}, {"x": 2, "indices": 2}

    schema = Schema(Param("kernel_size", "ints", REQUIRED, "the window size of the max_pool2d undone", minimum=1),
                    Param("stride", "ints", None, "the stride of the max_pool2d undone", minimum=1, optional=True,
                          shown_default="None: kernel_size"),
                    Param("padding", "ints", 0, "the padding of the max_pool2d undone", minimum=0),
                    Param("output_size", "ints", None, "the output's spatial size (H, W), within the default ± "
                          "stride; (N, C, H, W) also taken", minimum=1, optional=True,
                          shown_default="None: (S − 1)·s − 2p + k"))

    def validate(self, params):
        size = params.get("output_size")
        if isinstance(size, (tuple, list)) and len(size) == 4:  # torch also takes the full (N, C, H, W)
            params = {**params, "output_size": tuple(size)[-2:]}
        out = super().validate(params)
        if out["stride"] is None:
            out["stride"] = out["kernel_size"]
        return out

    def default_size(self, size):
        p = self.params
        return tuple(geometry.unpool_output_size(n, k, stride=s, padding=q)
                     for n, s, q, k in zip(size, p["stride"], p["padding"], p["kernel_size"]))

    def check_shapes(self, shapes):
        if shapes["indices"] != shapes["x"]:
            raise InputError(f"indices has shape {shapes['indices']}: it must be the shape of x, {shapes['x']}")
        default = self.default_size(shapes["x"][2:])
        wanted = self.params["output_size"]
        for axis, (d, s) in enumerate(zip(default, self.params["stride"])):
            if wanted is not None and not d - s < wanted[axis] < d + s:
                raise ConfigError(f"output_size={wanted} is not allowed for input {shapes['x'][2:]}: along axis {axis} "
                                  f"it must lie strictly between {d - s} and {d + s} (torch's rule)")
            if (wanted or default)[axis] < 1:
                raise ConfigError(f"{self!r} maps input {shapes['x'][2:]} to size {default}: sides must be >= 1")

    def output_shape(self, shapes):
        return shapes["x"][:2] + (self.params["output_size"] or self.default_size(shapes["x"][2:]))

    def prepare(self, inputs, grad_out=None):
        arrays_, given, g = super().prepare(inputs, grad_out)
        idx = arrays_["indices"]
        plane = int(np.prod(self.output_shape({k: v.shape for k, v in arrays_.items()})[2:]))
        if idx.dtype.kind not in "iu":
            raise InputError(f"indices has dtype {idx.dtype}: indices must be integers (flat positions in H'·W')")
        if idx.size and (idx.min() < 0 or idx.max() >= plane):
            raise InputError(f"indices holds {idx.min() if idx.min() < 0 else idx.max()}: indices must lie in "
                             f"[0, {plane}) (flat positions in the {plane}-element output plane)")
        flat = np.sort(idx.reshape(idx.shape[:2] + (-1,)), axis=-1)
        if (flat[..., 1:] == flat[..., :-1]).any():
            raise InputError("indices repeats a position within a channel: positions must be distinct per channel "
                             "(torch leaves repeated positions undefined)")
        return arrays_, given, g

    def sympy_rule(self, shapes):
        (_, _, h, w), (_, _, _, w_out) = shapes["x"], self.output_shape(shapes)
        X, I = sp.IndexedBase("x"), sp.IndexedBase("indices")
        n, c, i, j, a, b = sp.symbols("n c i j a b", integer=True, nonnegative=True)
        summand = sp.Piecewise((X[n, c, a, b], sp.Eq(I[n, c, a, b], w_out * i + j)), (0, True))
        return IndexRule((n, c, i, j), self.output_shape(shapes), sp.Sum(summand, (a, 0, h - 1), (b, 0, w - 1)),
                         dict(shapes))

    def numpy_forward(self, x, indices):
        out = np.zeros(x.shape[:2] + (int(np.prod(self.output_shape({"x": x.shape, "indices": x.shape})[2:])),),
                       dtype=x.dtype)
        np.put_along_axis(out, indices.reshape(x.shape[:2] + (-1,)), x.reshape(x.shape[:2] + (-1,)), axis=-1)
        return out.reshape(self.output_shape({"x": x.shape, "indices": x.shape}))

    def numpy_backward(self, grad_out, x, indices):
        flat = grad_out.reshape(grad_out.shape[:2] + (-1,))
        return np.take_along_axis(flat, indices.reshape(x.shape[:2] + (-1,)), axis=-1).reshape(x.shape), None

    def jax_forward(self, x, indices):
        import jax.numpy as jnp

        shape = self.output_shape({"x": x.shape, "indices": x.shape})
        n, c = np.indices(x.shape[:2], sparse=True)
        out = jnp.zeros(shape[:2] + (shape[2] * shape[3],), x.dtype)
        out = out.at[n[..., None], c[..., None], indices.reshape(x.shape[:2] + (-1,))].add(
            x.reshape(x.shape[:2] + (-1,)))
        return out.reshape(shape)

    def input_strategy(self, name, shapes, kind):
        if name != "indices":
            return arrays(shapes[name], kind=kind)
        # Distinct positions per channel, anywhere in the output plane (torch accepts any): a permutation's prefix.
        plane = int(np.prod(self.output_shape(shapes)[2:]))
        count, channels = int(np.prod(shapes[name][2:])), int(np.prod(shapes[name][:2]))
        prefix = st.permutations(range(plane)).map(lambda p: p[:count])
        return st.lists(prefix, min_size=channels, max_size=channels).map(
            lambda rows: np.array(rows, dtype=np.int64).reshape(shapes[name]))

    @classmethod
    def configs(cls, *, max_batch: int = 2, max_channels: int = 2, max_side: int = 3, max_kernel: int = 3,
                max_stride: int = 3, max_padding: int = 1, **held):
        """(layer, shapes): input sides 1–``max_side`` (3), kernel 1–``max_kernel``, stride 1–``max_stride`` or
        = kernel, padding 0–min(``max_padding``, (k−1)/2), output_size default or drawn in torch's range, never
        smaller than the input (room for distinct indices). Shrinks towards 1×1, kernel 1, no padding, the default
        size."""
        for name, value in [("max_batch", max_batch), ("max_channels", max_channels), ("max_side", max_side),
                            ("max_kernel", max_kernel), ("max_stride", max_stride)]:
            check_bound(name, value, 1)
        check_bound("max_padding", max_padding, 0)
        held = held_params(cls, held, kernel_size=1)  # kernel_size is required: 1 stands in

        @st.composite
        def draw_config(draw):
            def pick(name, strategy):
                return held[name] if name in held else draw(strategy)
            kernel = pick("kernel_size", st.tuples(*[st.integers(1, max_kernel)] * 2))
            stride = pick("stride", st.none() | st.tuples(*[st.integers(1, max_stride)] * 2))
            # padding <= (k − 1)/2 keeps the default output at least as large as the input (room for distinct indices)
            padding = pick("padding", st.tuples(*[st.integers(0, min(max_padding, (k - 1) // 2)) for k in kernel]))
            layer = cls(kernel_size=kernel, stride=stride, padding=padding)
            sides = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
            ranges = [(max(d - t + 1, n), d + t - 1) for d, t, n in zip(layer.default_size(sides),
                                                                        layer.params["stride"], sides)]
            size = pick("output_size", st.none() | st.tuples(*[st.integers(lo, hi) for lo, hi in ranges]))
            layer = cls(kernel_size=kernel, stride=stride, padding=padding, output_size=size)
            shapes = {"x": (draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels))) + sides}
            shapes["indices"] = shapes["x"]
            layer.check_shapes(shapes)
            return layer, shapes
        return draw_config()


class _Upsample(Layer):
    inputs, required, differentiable = ("x",), 1, ("x",)
    multiaffine = True  # linear in x
    ranks, promotable = {"x": 4}, {"x": 2}

    schema = Schema(Param("scale_factor", "ints", REQUIRED, "the integer factor each spatial axis grows by",
                          minimum=1))

    def output_shape(self, shapes):
        (n, c, *size), scale = shapes["x"], self.params["scale_factor"]
        return (n, c) + tuple(geometry.upsample_output_size(h, f) for h, f in zip(size, scale))

    @classmethod
    def configs(cls, *, max_batch: int = 2, max_channels: int = 2, max_side: int = 4, max_scale: int = 3, **held):
        """(layer, shapes): sides 1–``max_side`` (4), scale 1–``max_scale`` (3) per axis; shrinks towards 1."""
        for name, value in [("max_batch", max_batch), ("max_channels", max_channels), ("max_side", max_side),
                            ("max_scale", max_scale)]:
            check_bound(name, value, 1)
        held = held_params(cls, held)
        scale = st.just(held["scale_factor"]) if "scale_factor" in held else st.tuples(*[st.integers(1, max_scale)] * 2)
        sides = st.tuples(st.integers(1, max_batch), st.integers(1, max_channels), st.integers(1, max_side),
                          st.integers(1, max_side))
        return st.tuples(scale.map(lambda s: cls(scale_factor=s)), sides.map(lambda x: {"x": x}))

    def _symbols(self):
        n, c, i, j = sp.symbols("n c i j", integer=True, nonnegative=True)
        return sp.IndexedBase("x"), (n, c, i, j), self.params["scale_factor"]


class UpsampleNearest2d(_Upsample):
    """Nearest-neighbour upsampling by integer factors: x (N, C, H, W) -> (N, C, s_h·H, s_w·W)."""

    name = "upsample_nearest2d"

    def sympy_rule(self, shapes):
        X, (n, c, i, j), (sh, sw) = self._symbols()
        return IndexRule((n, c, i, j), self.output_shape(shapes), X[n, c, sp.floor(i / sh), sp.floor(j / sw)],
                         dict(shapes))

    def numpy_forward(self, x):
        sh, sw = self.params["scale_factor"]
        return np.repeat(np.repeat(x, sh, axis=2), sw, axis=3)

    def numpy_backward(self, grad_out, x):
        (n, c, h, w), (sh, sw) = x.shape, self.params["scale_factor"]
        return (grad_out.reshape(n, c, h, sh, w, sw).sum(axis=(3, 5)),)  # the copy gate adds: sum each block

    def jax_forward(self, x):
        import jax.numpy as jnp
        sh, sw = self.params["scale_factor"]
        return jnp.repeat(jnp.repeat(x, sh, axis=2), sw, axis=3)


class UpsampleZeros2d(_Upsample):
    """Bed-of-nails upsampling: x (N, C, H, W) -> (N, C, s_h·H, s_w·W); x at each block's top-left, 0 elsewhere."""

    name = "upsample_zeros2d"

    def sympy_rule(self, shapes):
        X, (n, c, i, j), (sh, sw) = self._symbols()
        # a fractional index reads outside (0): only i, j divisible by the scale read x
        return IndexRule((n, c, i, j), self.output_shape(shapes), X[n, c, i / sh, j / sw], dict(shapes))

    def numpy_forward(self, x):
        scale = self.params["scale_factor"]
        # dilate, then fill the last block; a copy, never x itself (scale 1), which callers may perturb in place
        return ops.pad(ops.dilate_by(x, scale), tuple((0, s - 1) for s in scale)).copy()

    def numpy_backward(self, grad_out, x):
        sh, sw = self.params["scale_factor"]
        return (grad_out[:, :, ::sh, ::sw],)

    def jax_forward(self, x):
        from jax import lax
        sh, sw = self.params["scale_factor"]
        return lax.pad(x, 0.0, ((0, 0, 0), (0, 0, 0), (0, sh - 1, sh - 1), (0, sw - 1, sw - 1)))
