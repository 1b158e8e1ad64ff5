"""Pooling: max_pool2d and avg_pool2d, x (N, C, H, W) -> (N, C, H_out, W_out), torch.nn.functional semantics.

- Output size per axis: ⌊(S + 2p − d(k−1) − 1 + (s − 1 if ceil_mode)) / s⌋ + 1, and under ceil_mode a last
  window that would start in the right padding is dropped (torch's rule). padding ≤ k/2 (torch's rule), or 'same'
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
import math

import numpy as np
import sympy as sp

from ..errors import ConfigError
from . import numpy_ops as ops
from . import geometry
from ._pooling import CEIL_MODE, KERNEL_SIZE, PADDING, STRIDE, TIES, Pool2d, scatter_add
from .base import IndexRule
from .schema import Param, Schema

__all__ = ["AvgPool2d", "MaxPool2d", "scatter_add"]


class MaxPool2d(Pool2d):
    """2-D max pooling: x (N, C, H, W); −∞ padding; ties to the first maximum (or split)."""

    name = "max_pool2d"
    schema = Schema(KERNEL_SIZE, STRIDE, PADDING,
                    Param("dilation", "ints", 1, "spacing between window taps per axis", minimum=1), CEIL_MODE,
                    Param("ties", "choice", TIES[0], "which maximum of a tied window gets the gradient",
                          choices={TIES[0]: "PyTorch: the first maximum in row-major window order",
                                   TIES[1]: "TensorFlow: shared equally"}))

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


class AvgPool2d(Pool2d):
    """2-D average pooling: x (N, C, H, W); torch's divisor (count_include_pad, divisor_override, ceil_mode)."""

    name = "avg_pool2d"
    schema = Schema(KERNEL_SIZE, STRIDE, PADDING, CEIL_MODE,
                    Param("count_include_pad", "flag", None, "count the zero padding in the divisor", optional=True,
                          shown_default="None: True (False with padding 'same')"),
                    Param("divisor_override", "nonzero_int", None, "divide every window by this instead",
                          optional=True))
    closed_on_integers = False  # it divides
    multiaffine = True  # linear in x: the divisors depend on positions only

    def validate(self, params):
        out = super().validate(params)
        same = out["padding"] == "same"
        include = out["count_include_pad"]
        if include is None:
            include = not same
        elif include and same:
            raise ConfigError("count_include_pad=True is not allowed with padding='same': TensorFlow's 'SAME' "
                              "average divides by the real elements only")
        return {**out, "count_include_pad": include}

    def divisor_parts(self, size):
        """Per axis, the divisor's factor for each window: torch clips the window to [−p, S + p) when
        count_include_pad, else to the input [0, S)."""
        p = self.params
        parts = []
        for n, out, k, s, (pb, pa) in zip(size, self.out_sizes(size), p["kernel_size"], p["stride"],
                                          self.pads(size)):
            start = geometry.window_starts(out, stride=s, pad_before=pb)
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
