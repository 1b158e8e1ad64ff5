"""Pooling: max_pool2d and avg_pool2d, x (N, C, H, W) -> (N, C, H_out, W_out), torch.nn.functional semantics.

- Output size per axis: ⌊(S + 2p − d(k−1) − 1 + (s − 1 if ceil_mode)) / s⌋ + 1, and under ceil_mode a last window
  that would start in the right padding is dropped (torch's rule). padding ≤ k/2 (torch's rule), or 'same'
  (TensorFlow 'SAME': ⌈S/s⌉ outputs, the odd padding after) or 'valid'. stride defaults to kernel_size.
- max_pool2d pads with −∞. Ties (a non-differentiable point): ``ties="first"`` (default, PyTorch) routes the
  whole gradient to the first maximum in row-major window order; ``ties="split"`` (TensorFlow reduce_max,
  jnp.max) divides it equally among the tied maxima. Overlapping windows add their gradients.
- avg_pool2d divides by (torch) the window clipped to input + padding when count_include_pad, else the number
  of real elements; ``divisor_override`` replaces both. ``padding="same"`` divides by the real elements (TF).

Why the JAX forward cuts out the windows itself instead of ``lax.reduce_window(max)``: jax.vjp of reduce_window max
is XLA's select_and_scatter with a ``>=`` select. On XLA:CPU (jax 0.10) that happens to send a tie to the first
element in window order, but XLA only asks the select to be an order and leaves which equal element wins to the
backend; it has no equal-split mode, and jax raises NotImplementedError for its vjp with window dilation (jnp.max,
a reduce, splits ties equally). So the taps are cut out by explicit index arithmetic (strided slices) and folded
with ``where(tap > best, tap, best)``, whose vjp follows the branch taken — a later tap wins only when strictly
greater, so ties route to the first maximum — or split by a tie mask: the declared convention, on every backend.
"""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import sympy as sp
from hypothesis import assume, strategies as st

from ..errors import ConfigError, GradcheckError
from ..strategies import arrays, check_bound
from . import _numpy_ops as ops
from ._params import int_tuple, resolve_padding
from .base import IndexRule, Layer

TIES = ("first", "split")


class Pool2d(Layer):
    inputs, required, differentiable = ("x",), 1, ("x",)
    ranks, promotable = {"x": 4}, {"x": 2}
    parameters: tuple[str, ...]

    # -- parameters --------------------------------------------------------------------------------
    def validate(self, params):
        unknown = set(params) - set(self.parameters)
        if unknown:
            raise ConfigError(f"{self.name} has no parameter {sorted(unknown)[0]!r}; its parameters are "
                              + ", ".join(self.parameters))
        if params.get("kernel_size") is None:
            raise ConfigError(f"{self.name} needs kernel_size (an int or a pair of ints >= 1)")
        kernel = int_tuple("kernel_size", params["kernel_size"], 2, minimum=1)
        stride = params.get("stride")
        out = {"kernel_size": kernel,
               "stride": kernel if stride is None else int_tuple("stride", stride, 2, minimum=1),
               "padding": _padding(params.get("padding", 0), kernel)}
        if "dilation" in self.parameters:
            out["dilation"] = int_tuple("dilation", params.get("dilation", 1), 2, minimum=1)
        out["ceil_mode"] = _flag("ceil_mode", params.get("ceil_mode", False))
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
            return resolve_padding("same", p["kernel_size"], self.dilation, p["stride"], size)
        return tuple((q, q) for q in p["padding"])

    def out_sizes(self, size):
        p = self.params
        sizes = []
        for n, k, s, d, (pb, pa) in zip(size, p["kernel_size"], p["stride"], self.dilation, self.pads(size)):
            out = (n + pb + pa - d * (k - 1) - 1 + (s - 1 if p["ceil_mode"] else 0)) // s + 1
            if p["ceil_mode"] and (out - 1) * s >= n + pb:
                out -= 1  # torch: the last window must start inside the input or the left padding
            sizes.append(out)
        return tuple(sizes)

    def check_shapes(self, shapes):
        size = shapes["x"][2:]
        for axis, (n, out, k, d, (pb, pa)) in enumerate(zip(size, self.out_sizes(size), self.params["kernel_size"],
                                                              self.dilation, self.pads(size))):
            if out < 1:
                raise ConfigError(f"kernel size {k} (dilation {d}: extent {d * (k - 1) + 1}) is larger than the "
                                  f"padded input ({n} + {pb} + {pa} = {n + pb + pa}) along spatial axis {axis}")
        if not self.taps(size)[2].any(axis=(2, 3)).all():
            raise ConfigError(f"{self!r} on input {size}: a window reads padding only (dilation skips the input); "
                              "every window must cover an input element")

    def output_shape(self, shapes):
        return shapes["x"][:2] + self.out_sizes(shapes["x"][2:])

    def taps(self, size):
        """Where tap (a, b) of window (i, j) reads: rows, cols clipped into the input, and where it is inside.

        Each of shape (H_out, W_out, kH, kW); position s·i + d·a − p_before per axis.
        """
        per_axis = []
        for n, out, k, s, d, (pb, _) in zip(size, self.out_sizes(size), self.params["kernel_size"],
                                            self.params["stride"], self.dilation, self.pads(size)):
            per_axis.append(s * np.arange(out)[:, None] + d * np.arange(k)[None, :] - pb)
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

        p, size = self.params, x.shape[2:]
        outs, pads = self.out_sizes(size), self.pads(size)
        after = [max(s * (o - 1) + d * (k - 1) + 1 - n - pb, 0) for n, o, k, s, d, (pb, _) in
                 zip(size, outs, p["kernel_size"], p["stride"], self.dilation, pads)]
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
            return X[n, c, p["stride"][0] * i + self.dilation[0] * ta - pt,
                     p["stride"][1] * j + self.dilation[1] * tb - pl]
        kh, kw = p["kernel_size"]
        others = [read(ta, tb) for ta, tb in itertools.product(range(kh), range(kw))]
        return (n, c, i, j), (a, b), read(a, b), others

    # -- Hypothesis strategy -----------------------------------------------------------------------
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


def _padding(value, kernel):
    if isinstance(value, str):
        if value.lower() in ("same", "valid"):
            return "same" if value.lower() == "same" else (0, 0)
        raise ConfigError(f"padding={value!r} is not allowed: padding must be 'same', 'valid' or ints >= 0")
    pads = int_tuple("padding", value, 2, minimum=0)
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise ConfigError(f"padding={value!r} is not allowed with kernel_size={kernel}: padding must be at most "
                          f"half the kernel size, 0..{kernel[0] // 2} x 0..{kernel[1] // 2} (torch's rule)")
    return pads


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name}={value!r} is not allowed: {name} must be True or False")
    return bool(value)


class MaxPool2d(Pool2d):
    """2-D max pooling: x (N, C, H, W); −∞ padding; ties to the first maximum (or split)."""

    name = "max_pool2d"
    parameters = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "ties")

    def validate(self, params):
        out = super().validate(params)
        ties = params.get("ties", "first")
        if ties not in TIES:
            raise ConfigError(f"ties={ties!r} is not allowed: ties must be 'first' (PyTorch: the first maximum "
                              "in row-major window order) or 'split' (TensorFlow: shared equally)")
        return {**out, "ties": ties}

    @property
    def closed_on_integers(self):  # splitting divides: G/2 is not an integer
        return self.params["ties"] == "first"

    def sympy_rule(self, shapes):
        out, (a, b), read, others = self.window_reads(shapes)
        kw = self.params["kernel_size"][1]
        if self.params["ties"] == "first":
            # read (a, b) is the output when it beats every earlier read and equals-or-beats every later one
            order = a * kw + b
            wins = sp.And(*[sp.Or(read > q, sp.And(read >= q, order <= m)) for m, q in enumerate(others)])
            summand = sp.Piecewise((read, wins), (0, True))
        else:
            tied = sp.Add(*[sp.Piecewise((1, sp.Eq(read, q)), (0, True)) for q in others])
            summand = sp.Piecewise((read, sp.And(*[read >= q for q in others])), (0, True)) / tied
        kh, _ = self.params["kernel_size"]
        # sp.Sum(...) would piecewise_fold the summand: the count of ties would become 2^K pieces. Built as is:
        limits = (sp.Tuple(a, 0, kh - 1), sp.Tuple(b, 0, kw - 1))
        return IndexRule(out, self.output_shape(shapes), sp.Basic.__new__(sp.Sum, summand, *limits),
                         dict(shapes), fill={"x": -math.inf})

    def _windows(self, x):
        windows, flat, inside = self.gather(x)
        lowest = x.min() - 1  # below every real value: what −∞ padding is, in the data's own dtype
        return np.where(inside, windows, lowest), flat

    def forward_with_indices(self, x):
        """(output, indices): like torch's return_indices=True, the flat index into H·W of each window's first
        maximum, per channel (what max_unpool2d takes)."""
        arrays_, given, _ = self.prepare((x,))
        out, indices = self._forward_indices(arrays_["x"])
        if len(given["x"]) < 4:
            return out.reshape(out.shape[2:]), indices.reshape(indices.shape[2:])
        return out, indices

    def _forward_indices(self, x):
        windows, flat = self._windows(x)
        first = windows.argmax(axis=-1)[..., None]  # argmax returns the first occurrence: PyTorch's tie rule
        return (np.take_along_axis(windows, first, -1)[..., 0],
                np.take_along_axis(np.broadcast_to(flat, windows.shape), first, -1)[..., 0])

    def numpy_forward(self, x):
        return self._forward_indices(x)[0]

    def numpy_backward(self, grad_out, x):
        windows, flat = self._windows(x)
        if self.params["ties"] == "first":
            selected = np.arange(windows.shape[-1]) == windows.argmax(axis=-1)[..., None]
        else:
            selected = windows == windows.max(axis=-1)[..., None]
        share = grad_out if self.params["ties"] == "first" else ops.divide(grad_out, selected.sum(axis=-1))
        return (scatter_add(x.shape, flat, share[..., None], selected),)

    def jax_forward(self, x):
        import jax.numpy as jnp
        from jax import lax

        taps = self.jax_windows(x, -jnp.inf)  # strided slices of the −∞-padded input: their vjp adds overlaps
        if self.params["ties"] == "first":
            best = taps[0]
            for tap in taps[1:]:  # a later tap takes over only when strictly greater: the first maximum wins
                best = jnp.where(tap > best, tap, best)
            return best
        top = lax.stop_gradient(functools.reduce(jnp.maximum, taps))
        tied = [tap == top for tap in taps]
        return sum(jnp.where(t, tap, 0.0) for t, tap in zip(tied, taps)) / sum(t.astype(x.dtype) for t in tied)

    @classmethod
    def configs(cls, **bounds_and_fixed):
        return pool_configs(cls, **bounds_and_fixed)

    @classmethod
    def sweep_space(cls, **bounds):
        return pool_sweep_space(cls, **bounds)


class AvgPool2d(Pool2d):
    """2-D average pooling: x (N, C, H, W); torch's divisor (count_include_pad, divisor_override, ceil_mode)."""

    name = "avg_pool2d"
    parameters = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
    closed_on_integers = False  # it divides

    def validate(self, params):
        out = super().validate(params)
        same = out["padding"] == "same"
        include = params.get("count_include_pad")
        if include is None:
            include = not same
        elif _flag("count_include_pad", include) and same:
            raise ConfigError("count_include_pad=True is not allowed with padding='same': TensorFlow's 'SAME' "
                              "average divides by the real elements only")
        divisor = params.get("divisor_override")
        if divisor is not None and (not isinstance(divisor, int) or isinstance(divisor, bool) or divisor == 0):
            raise ConfigError(f"divisor_override={divisor!r} is not allowed: it must be None or a nonzero int")
        return {**out, "count_include_pad": bool(include), "divisor_override": divisor}

    def divisor_parts(self, size):
        """Per axis, the divisor's factor for each window: torch clips the window to [−p, S + p) when
        count_include_pad, else to the input [0, S)."""
        p = self.params
        parts = []
        for n, out, k, s, (pb, pa) in zip(size, self.out_sizes(size), p["kernel_size"], p["stride"],
                                          self.pads(size)):
            start = s * np.arange(out) - pb
            end = np.minimum(start + k, n + pa)
            parts.append(end - start if p["count_include_pad"] else np.minimum(end, n) - np.maximum(start, 0))
        return parts

    def divisor(self, size):
        if self.params["divisor_override"] is not None:
            return np.asarray(self.params["divisor_override"])
        rows, cols = self.divisor_parts(size)
        return rows[:, None] * cols[None, :]

    def sympy_rule(self, shapes):
        (n, c, i, j), (a, b), read, _ = self.window_reads(shapes)
        p, size = self.params, shapes["x"][2:]
        divisor = p["divisor_override"]
        if divisor is None:
            factors = []
            for ix, L, k, s, (pb, pa) in zip((i, j), size, p["kernel_size"], p["stride"], self.pads(size)):
                start, end = s * ix - pb, sp.Min(s * ix - pb + k, L + pa)
                factors.append(end - start if p["count_include_pad"] else sp.Min(end, L) - sp.Max(start, 0))
            divisor = factors[0] * factors[1]
        kh, kw = p["kernel_size"]
        expr = sp.Sum(read / divisor, (a, 0, kh - 1), (b, 0, kw - 1))
        return IndexRule((n, c, i, j), self.output_shape(shapes), expr, dict(shapes))

    def numpy_forward(self, x):
        windows, _, inside = self.gather(x)
        return ops.divide(np.where(inside, windows, 0).sum(axis=-1), self.divisor(x.shape[2:]))

    def numpy_backward(self, grad_out, x):
        _, flat, inside = self.gather(x)
        share = ops.divide(grad_out, self.divisor(x.shape[2:]))  # G / divisor, spread over the window
        return (scatter_add(x.shape, flat, share[..., None], np.broadcast_to(inside, share.shape + inside.shape[-1:])),)

    def jax_forward(self, x):
        return sum(self.jax_windows(x, 0.0)) / self.divisor(x.shape[2:])

    @classmethod
    def configs(cls, **bounds_and_fixed):
        return pool_configs(cls, **bounds_and_fixed)

    @classmethod
    def sweep_space(cls, **bounds):
        return pool_sweep_space(cls, **bounds)


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
def pool_configs(cls, *, max_batch: int = 2, max_channels: int = 2, max_side: int = 6, max_kernel: int = 3,
                 max_stride: int = 3, max_padding: int = 1, max_dilation: int = 2, **fixed):
    """A pooling layer and an input shape that fit it: ``(layer, {"x": shape})``.

    Defaults: batch and channels 1–2, sides up to ``max_side`` (6, at least the kernel's extent less the padding),
    kernel 1–``max_kernel`` (3) per axis, stride = kernel (non-overlapping) or 1–``max_stride`` (3), drawn below the
    kernel on purpose (overlapping windows), padding 0–min(``max_padding``, k/2) or 'same', dilation
    1–``max_dilation`` (2, max pool), ceil_mode, ties 'first'/'split' (max), count_include_pad and now and then a
    divisor_override (avg). Shrinks towards small sides, kernel 1, stride = kernel, no padding, ties 'first'.
    """
    for name, value in [("max_batch", max_batch), ("max_channels", max_channels), ("max_side", max_side),
                        ("max_kernel", max_kernel), ("max_stride", max_stride), ("max_dilation", max_dilation)]:
        check_bound(name, value, 1)
    check_bound("max_padding", max_padding, 0)
    held = {}
    if fixed:  # validated at once; kernel_size is required, so a missing one is stood in by max_kernel
        params = cls(**{"kernel_size": max_kernel, **fixed}).params
        held = {k: params[k] for k in fixed}
    return _pool_configs(cls, max_batch, max_channels, max_side, max_kernel, max_stride, max_padding, max_dilation,
                         held)


@st.composite
def _pool_configs(draw, cls, max_batch, max_channels, max_side, max_kernel, max_stride, max_padding, max_dilation,
                  held):
    def pick(name, strategy):
        return held[name] if name in held else draw(strategy)

    pad_floor = held["padding"] if isinstance(held.get("padding"), tuple) else (0, 0)
    kernel = pick("kernel_size", st.tuples(*[st.integers(max(1, 2 * p), max(max_kernel, 2 * p)) for p in pad_floor]))
    params = {"kernel_size": kernel, "stride": pick("stride", st.none() | st.tuples(*[st.integers(1, max_stride)] * 2))}
    explicit = st.tuples(*[st.integers(0, min(max_padding, k // 2)) for k in kernel])
    params["padding"] = pick("padding", explicit if held.get("ceil_mode") else explicit | st.just("same"))
    params["ceil_mode"] = False if params["padding"] == "same" else pick("ceil_mode", st.booleans())
    if cls is MaxPool2d:
        params["dilation"] = pick("dilation", st.tuples(*[st.integers(1, max_dilation)] * 2))
        params["ties"] = pick("ties", st.sampled_from(TIES))
    else:
        if params["padding"] != "same":
            params["count_include_pad"] = pick("count_include_pad", st.booleans())
        rarely = draw(st.integers(0, 3)) == 0
        params["divisor_override"] = pick("divisor_override", st.none() | st.integers(1, 4) if rarely else st.none())
    layer = cls(**params)
    sides = []
    for k, d, p in zip(kernel, layer.dilation, layer.params["padding"] if params["padding"] != "same" else (0, 0)):
        low = 1 if params["padding"] == "same" else max(1, d * (k - 1) + 1 - 2 * p)
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
    is_max = cls is MaxPool2d
    for side, k, s in itertools.product(range(1, max_side + 1), range(1, max_kernel + 1), range(1, max_stride + 1)):
        for padding, ceil_mode in [(p, c) for p in range(min(max_padding, k // 2) + 1) for c in (False, True)] + [
                ("same", False)]:
            variants = (itertools.product(range(1, max_dilation + 1), TIES) if is_max else
                        [(None, include) for include in ((False,) if padding == "same" else (True, False))])
            for extra, rule in variants:
                params = {"kernel_size": k, "stride": s, "padding": padding, "ceil_mode": ceil_mode}
                params.update({"dilation": extra, "ties": rule} if is_max else {"count_include_pad": rule})
                yield params, {"x": (2, 2, side, side)}
