"""What max_pool2d and avg_pool2d share: parameters, torch's output-size rule, where each window tap reads, the
adjoint of that read (scatter_add), the SymPy window reads, the JAX taps, and their Hypothesis strategy."""
from __future__ import annotations

import itertools

import numpy as np
import sympy as sp
from hypothesis import assume, strategies as st

from ..errors import ConfigError, GradcheckError
from ..drawing import arrays, check_bound, held_params
from . import geometry
from .schema import REQUIRED, Param
from .base import Layer

TIES = ("first", "split")


class Pool2d(Layer):
    degree = 1  # a selected or averaged input, a routed g: no products of inputs (value_bound)
    inputs, required, differentiable = ("x",), 1, ("x",)
    ranks, promotable = {"x": 4}, {"x": 2}

    # -- parameters: the schema (each pool's own, in pool.py) and the rules that tie them together ---------
    def validate(self, params):
        out = super().validate(params)
        kernel = out["kernel_size"]
        if out["stride"] is None:
            out["stride"] = kernel
        out["padding"] = _padding(out["padding"], params.get("padding", 0), kernel)
        if out["ceil_mode"] and out["padding"] == "same":
            raise ConfigError("ceil_mode=True is not allowed with padding='same' ('same' fixes ⌈S/s⌉ outputs)")
        return out

    @property
    def dilation(self):
        return self.params.get("dilation", (1, 1))

    # -- shapes ------------------------------------------------------------------------------------
    def pads(self, size):
        p = self.params
        if p["padding"] == "same":
            return geometry.resolve_padding("same", p["kernel_size"], self.dilation, p["stride"], size)
        return tuple((q, q) for q in p["padding"])

    def window_counts(self, size) -> tuple[geometry.WindowCount, ...]:
        """The output-size arithmetic per spatial axis (gradcheck.layers.geometry), ceil_mode's rule included."""
        p = self.params
        return geometry.window_counts(size, p["kernel_size"], p["stride"], self.dilation, self.pads(size),
                                      p["ceil_mode"])

    def out_sizes(self, size):
        return tuple(count.out for count in self.window_counts(size))

    def check_shapes(self, shapes):
        size = shapes["x"][2:]
        for axis, count in enumerate(self.window_counts(size)):
            if count.out < 1:
                raise ConfigError(f"kernel size {count.kernel} (dilation {count.dilation}: extent {count.extent}) is "
                                  f"larger than the padded input ({count.size} + {count.pad_before} + "
                                  f"{count.pad_after} = {count.padded}) along spatial axis {axis}")
        if not self.taps(size)[2].any(axis=(2, 3)).all():
            raise ConfigError(f"{self!r} on input {size}: a window reads padding only (dilation skips the input); "
                              "every window must cover an input element")

    def output_shape(self, shapes):
        return shapes["x"][:2] + self.out_sizes(shapes["x"][2:])

    def taps(self, size):
        """Where tap (a, b) of window (i, j) reads: rows, cols clipped into the input, and where it is inside.

        Each of shape (H_out, W_out, kH, kW); position s·i + d·a − p_before per axis.
        """
        # out_sizes separately: the mistake catalogue moves the stride but keeps the layer's window count
        per_axis = [geometry.taps(out, c.kernel, stride=c.stride, dilation=c.dilation, pad_before=c.pad_before)
                    for out, c in zip(self.out_sizes(size), self.window_counts(size))]
        rows, cols = per_axis[0][:, None, :, None], per_axis[1][None, :, None, :]
        inside = (rows >= 0) & (rows < size[0]) & (cols >= 0) & (cols < size[1])
        rows, cols, inside = np.broadcast_arrays(np.clip(rows, 0, size[0] - 1), np.clip(cols, 0, size[1] - 1),
                                                 inside)
        return rows, cols, inside

    def gather(self, x):
        """The windows of x, (N, C, H_out, W_out, kH·kW), their flat input index (H_out, W_out, kH·kW), inside."""
        rows, cols, inside = self.taps(x.shape[2:])
        lead = rows.shape[:2] + (-1,)
        return (x[:, :, rows, cols].reshape(x.shape[:2] + lead), (rows * x.shape[3] + cols).reshape(lead),
                inside.reshape(lead))

    def jax_windows(self, x, fill):
        """The kH·kW taps of every window, each (N, C, H_out, W_out): one strided slice of the input padded with
        ``fill`` (far enough for ceil_mode's last window); cheaper to compile than a gather of index arrays."""
        import jax.numpy as jnp

        p, counts = self.params, self.window_counts(x.shape[2:])
        outs, pads = [c.out for c in counts], self.pads(x.shape[2:])
        # how far the last window reaches past the input and its padding before (ceil_mode)
        after = [max(geometry.reach(c.out, c.kernel, stride=c.stride, dilation=c.dilation) - c.size - c.pad_before, 0)
                 for c in counts]
        padded = jnp.pad(x, ((0, 0), (0, 0), (pads[0][0], after[0]), (pads[1][0], after[1])), constant_values=fill)
        (kh, kw), (sh, sw), (dh, dw) = p["kernel_size"], p["stride"], self.dilation
        return [padded[:, :, dh * a:dh * a + sh * (outs[0] - 1) + 1:sh, dw * b:dw * b + sw * (outs[1] - 1) + 1:sw]
                for a in range(kh) for b in range(kw)]

    # -- the SymPy rule: one window read per reduction index (a, b), the other reads concrete ----
    def window_reads(self, shapes):
        p = self.params
        (pt, _), (pl, _) = self.pads(shapes["x"][2:])
        X = sp.IndexedBase("x")
        n, c, i, j, a, b = sp.symbols("n c i j a b", integer=True, nonnegative=True)

        def read(ta, tb):
            return X[n, c, geometry.tap_position(i, ta, stride=p["stride"][0], dilation=self.dilation[0], pad_before=pt),
                     geometry.tap_position(j, tb, stride=p["stride"][1], dilation=self.dilation[1], pad_before=pl)]
        kh, kw = p["kernel_size"]
        others = [read(ta, tb) for ta, tb in itertools.product(range(kh), range(kw))]
        return (n, c, i, j), (a, b), read(a, b), others

    # -- Hypothesis strategy and sweep space -------------------------------------------------------
    @classmethod
    def configs(cls, *, extensions: bool = False, **bounds_and_held):
        return pool_configs(cls, extensions=extensions, **bounds_and_held)

    @classmethod
    def sweep_space(cls, **bounds):
        return pool_sweep_space(cls, **bounds)

    def input_strategy(self, name, shapes, kind):
        if kind == "float" and "ties" in self.params:
            # Finite differences at a tie see the mean of the one-sided slopes, which is neither convention:
            # float data are drawn tie-free, well apart (ties are tested on integer and rational data).
            count = int(np.prod(shapes[name]))
            return st.lists(st.integers(-4 * count, 4 * count), min_size=count, max_size=count, unique=True).map(
                lambda v: np.array(v, dtype=np.float64).reshape(shapes[name]) / 4)
        # Half the examples use only -1 and 0: ties everywhere, constant windows, maxima below the padding's 0.
        return st.one_of(arrays(shapes[name], kind=kind),
                         arrays(shapes[name], kind=kind, min_value=-1, max_value=0))


# Pooling parameters that both pools have, in the order they are shown.
KERNEL_SIZE = Param("kernel_size", "ints", REQUIRED, "window size per spatial axis", minimum=1)
STRIDE = Param("stride", "ints", None, "step between windows per axis", minimum=1, optional=True,
               shown_default="None: kernel_size")
PADDING = Param("padding", "padding", 0, "padding per axis (at most kernel_size/2, torch's rule); 'same': ⌈S/s⌉ "
                "outputs (TensorFlow 'SAME'), 'valid': none")
CEIL_MODE = Param("ceil_mode", "flag", False, "round the output size up (a last window starting in the right "
                  "padding is dropped)")


def _padding(spec, value, kernel):
    """A pool's padding spec ('same', 'valid' or ints, from the schema) with 'valid' as 0 and torch's ≤ k/2 rule."""
    if spec == "valid":
        return (0, 0)
    if spec == "same":
        return spec
    pads = spec
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise ConfigError(f"padding={value!r} is not allowed with kernel_size={kernel}: padding must be at most "
                          f"half the kernel size, 0..{kernel[0] // 2} x 0..{kernel[1] // 2} (torch's rule)")
    return pads


def scatter_add(shape, flat, values, where):
    """dL/dx (N, C, H, W): each value (N, C, H_out, W_out, K) added at its tap's flat input index where ``where``
    holds — the adjoint of the window gather. Overlapping windows add up (np.add.at, no Python loop)."""
    where = np.broadcast_to(where, where.shape)
    values = np.broadcast_to(values, where.shape)
    n, c = np.indices(where.shape[:2], sparse=True)
    index = np.broadcast_arrays(n[..., None, None, None], c[..., None, None, None], flat)
    grad = np.zeros((shape[0], shape[1], shape[2] * shape[3]), dtype=np.result_type(values, np.int64))
    np.add.at(grad, tuple(ix[where] for ix in index), values[where])
    return grad.reshape(shape)



# -- Hypothesis strategy and sweep space (shared by both pools) ----------------------------------
def pool_configs(cls, *, max_batch: int = 2, max_channels: int = 2, max_side: int = 7, max_kernel: int = 3,
                 max_stride: int = 3, max_padding: int = 1, max_dilation: int = 2, extensions: bool = False, **held):
    """A pooling layer and an input shape that fit it: ``(layer, {"x": shape})``.

    Defaults: batch and channels 1–2, sides up to ``max_side`` (7, at least the kernel's extent less the padding),
    kernel 1–``max_kernel`` (3) per axis, stride = kernel (non-overlapping) or 1–``max_stride`` (3), drawn below the
    kernel on purpose (overlapping windows), padding 0–min(``max_padding``, k/2), dilation 1–``max_dilation`` (2,
    max pool), ceil_mode, count_include_pad and now and then a divisor_override (avg): torch.nn.functional's domain.
    ``extensions=True`` also draws TensorFlow's padding 'same' and (max) ties 'split'; held values are used as given.
    Shrinks towards small sides, kernel 1, stride = kernel, no padding, ties 'first'.
    """
    for name, value in [("max_batch", max_batch), ("max_channels", max_channels), ("max_side", max_side),
                        ("max_kernel", max_kernel), ("max_stride", max_stride), ("max_dilation", max_dilation)]:
        check_bound(name, value, 1)
    check_bound("max_padding", max_padding, 0)
    held = held_params(cls, held, kernel_size=max_kernel)  # kernel_size is required: max_kernel stands in
    return _pool_configs(cls, max_batch, max_channels, max_side, max_kernel, max_stride, max_padding, max_dilation,
                         held, extensions)


@st.composite
def _pool_configs(draw, cls, max_batch, max_channels, max_side, max_kernel, max_stride, max_padding, max_dilation,
                  held, extensions=False):
    def pick(name, strategy):
        return held[name] if name in held else draw(strategy)

    pad_floor = held["padding"] if isinstance(held.get("padding"), tuple) else (0, 0)
    kernel = pick("kernel_size", st.tuples(*[st.integers(max(1, 2 * p), max(max_kernel, 2 * p)) for p in pad_floor]))
    params = {"kernel_size": kernel, "stride": pick("stride", st.none() | st.tuples(*[st.integers(1, max_stride)] * 2))}
    explicit = st.tuples(*[st.integers(0, min(max_padding, k // 2)) for k in kernel])
    same = extensions and not held.get("ceil_mode")  # TensorFlow's 'SAME': an extension, and not with ceil_mode
    params["padding"] = pick("padding", explicit | st.just("same") if same else explicit)
    params["ceil_mode"] = False if params["padding"] == "same" else pick("ceil_mode", st.booleans())
    if "ties" in cls.schema.names:
        params["dilation"] = pick("dilation", st.tuples(*[st.integers(1, max_dilation)] * 2))
        params["ties"] = pick("ties", st.sampled_from(TIES) if extensions else st.just(TIES[0]))
    else:
        if params["padding"] != "same":
            params["count_include_pad"] = pick("count_include_pad", st.booleans())
        rarely = draw(st.integers(0, 3)) == 0
        params["divisor_override"] = pick("divisor_override", st.none() | st.integers(1, 4) if rarely else st.none())
    layer = cls(**params)
    sides = []
    for k, d, p in zip(kernel, layer.dilation, layer.params["padding"] if params["padding"] != "same" else (0, 0)):
        low = 1 if params["padding"] == "same" else max(1, geometry.extent(k, d) - 2 * p)
        sides.append(draw(st.integers(low, max(low, max_side))))
    shapes = {"x": (draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)), *sides)}
    try:
        layer.check_shapes(shapes)
    except GradcheckError:
        assume(False)  # a dilated window reading padding only: rare
    return layer, shapes


def pool_sweep_space(cls, *, max_side: int, max_kernel: int = 3, max_stride: int = 3, max_dilation: int = 2,
                     max_padding: int = 2):
    """Every square configuration within bounds, for ``gradcheck sweep``: sides 1..max_side, kernels, strides,
    paddings 0..min(max_padding, k/2) and 'same', ceil_mode; max pool: dilations and both tie rules; avg pool:
    count_include_pad both ways. Input (2, 2, side, side)."""
    is_max = "ties" in cls.schema.names
    for side, k, s in itertools.product(range(1, max_side + 1), range(1, max_kernel + 1), range(1, max_stride + 1)):
        for padding, ceil_mode in [(p, c) for p in range(min(max_padding, k // 2) + 1) for c in (False, True)] + [
                ("same", False)]:
            variants = (itertools.product(range(1, max_dilation + 1), TIES) if is_max else
                        [(None, include) for include in ((False,) if padding == "same" else (True, False))])
            for extra, rule in variants:
                params = {"kernel_size": k, "stride": s, "padding": padding, "ceil_mode": ceil_mode}
                params.update({"dilation": extra, "ties": rule} if is_max else {"count_include_pad": rule})
                yield params, {"x": (2, 2, side, side)}
