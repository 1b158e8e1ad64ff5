"""Losses: softmax_cross_entropy and mse. Each maps its inputs to a scalar (shape ()).

Conventions (torch.nn.functional.cross_entropy / mse_loss):
- softmax_cross_entropy(logits, target, reduction="mean"|"sum"): logits (N, C). The target's rank selects
  its form: (N,) integer class indices in [0, C), or (N, C) one-hot rows / class probabilities.
  L = Σ_n Σ_c y[n,c]·(log Σ_j exp z[n,j] − z[n,c]), divided by N for "mean".
  dL/dz = softmax(z)·Σ_c y − y, i.e. the lectures' o − y for one-hot or probability rows (÷N for "mean").
  The target is not differentiable; its strategy draws valid class indices (or one-hot rows) whatever the
  data kind. Uses exp/log: ``exact = False``.
- mse(pred, target, reduction="mean"|"sum"): pred and target of the same shape (any rank >= 1),
  L = Σ (pred − target)², divided by the number of elements for "mean". Both inputs are differentiable
  (dL/dpred = 2(pred − target)·G, dL/dtarget = −dL/dpred, ÷size for "mean"), as in torch. Exact on
  rationals; "mean" divides, so it is not closed on integers.
A scalar output takes a scalar grad_out; ``gc.verify`` uses 1 when none is given (the loss's own gradients).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..errors import InputError
from ..drawing import check_bound, held_params
from . import numpy_ops as ops
from .base import IndexRule, Layer
from .schema import Param, Schema

REDUCTIONS = ("mean", "sum")


REDUCTION = Schema(Param("reduction", "choice", REDUCTIONS[0], "how the per-element losses are combined",
                         choices={"mean": "", "sum": ""}))


def _float(a):
    return np.asarray(a, dtype=np.float64)


class SoftmaxCrossEntropy(Layer):
    """Softmax cross-entropy: logits (N, C), target (N,) class indices or (N, C) one-hot/probabilities -> ()."""

    name = "softmax_cross_entropy"
    inputs = ("logits", "target")
    required = 2
    differentiable = ("logits",)
    ranks = {"logits": 2, "target": None}
    exact = False
    closed_on_integers = False

    schema = REDUCTION

    def check_shapes(self, shapes):
        n, c = shapes["logits"]
        if shapes["target"] not in ((n,), (n, c)):
            raise InputError(f"target has shape {shapes['target']}: with logits of shape {(n, c)} it must be "
                             f"({n},) class indices or ({n}, {c}) one-hot rows / class probabilities")

    def prepare(self, inputs, grad_out=None):
        arrays, given, g = super().prepare(inputs, grad_out)
        target, classes = arrays["target"], arrays["logits"].shape[1]
        if target.ndim == 1:
            for i, v in enumerate(target.tolist()):
                if Fraction(v).denominator != 1 or not 0 <= v < classes:
                    raise InputError(f"target holds {v!r} at index {i}: class indices must be integers in "
                                     f"[0, {classes - 1}]")
        return arrays, given, g

    def output_shape(self, shapes):
        return ()

    def reduction_scale(self, n):
        """The factor the reduction puts on each of the n samples' losses: 1/n for 'mean', 1 for 'sum'."""
        return Fraction(1, n) if self.params["reduction"] == "mean" else 1

    def sympy_rule(self, shapes):
        n_samples, classes = shapes["logits"]
        Z, T = sp.IndexedBase("logits"), sp.IndexedBase("target")
        n, c, j = sp.symbols("n c j", integer=True, nonnegative=True)
        log_sum_exp = sp.log(sp.Sum(sp.exp(Z[n, j]), (j, 0, classes - 1)))
        weight = sp.Piecewise((1, sp.Eq(T[n], c)), (0, True)) if len(shapes["target"]) == 1 else T[n, c]
        summand = sp.Rational(self.reduction_scale(n_samples)) * weight * (log_sum_exp - Z[n, c])
        expr = sp.Sum(summand, (n, 0, n_samples - 1), (c, 0, classes - 1))
        return IndexRule(indices=(), shape=(), expr=expr, operands=dict(shapes))

    @staticmethod
    def target_rows(target, classes):
        """The target as (N, C) rows: one-hot for class indices, as given otherwise (float64)."""
        target = np.asarray(target)
        if target.ndim == 1:
            return np.eye(classes)[np.asarray(target, dtype=np.int64)]
        return _float(target)

    def numpy_forward(self, logits, target):
        z = _float(logits)
        y = self.target_rows(target, z.shape[1])
        top = z.max(axis=1, keepdims=True)
        log_sum_exp = top + np.log(np.exp(z - top).sum(axis=1, keepdims=True))
        return np.asarray((y * (log_sum_exp - z)).sum() * float(self.reduction_scale(z.shape[0])))

    def numpy_backward(self, grad_out, logits, target):
        z = _float(logits)
        y = self.target_rows(target, z.shape[1])
        e = np.exp(z - z.max(axis=1, keepdims=True))
        softmax = e / e.sum(axis=1, keepdims=True)
        # o − y, with o scaled by Σ_c y (= 1 for one-hot and probability rows) so any target is right.
        grad = (softmax * y.sum(axis=1, keepdims=True) - y) * _float(grad_out) * float(self.reduction_scale(z.shape[0]))
        return grad, None

    def jax_forward(self, logits, target):
        import jax
        import jax.numpy as jnp

        classes = logits.shape[1]
        y = jax.nn.one_hot(target, classes, dtype=logits.dtype) if target.ndim == 1 else target.astype(logits.dtype)
        log_sum_exp = jax.scipy.special.logsumexp(logits, axis=1, keepdims=True)
        return jnp.sum(y * (log_sum_exp - logits)) * float(self.reduction_scale(logits.shape[0]))

    def input_strategy(self, name, shapes, kind):
        if name != "target":
            return super().input_strategy(name, shapes, kind)
        n, classes = shapes["logits"]
        indices = hnp.arrays(np.int64, (n,), elements=st.integers(0, classes - 1))
        return indices if shapes["target"] == (n,) else indices.map(lambda t: np.eye(classes, dtype=np.int64)[t])

    @classmethod
    def configs(cls, *, max_batch: int = 3, max_side: int = 4, one_hot: bool | None = None, **held):
        """``(softmax_cross_entropy, shapes)``: batch 1–``max_batch`` (3), classes 1–``max_side`` (4), target
        as class indices or one-hot rows (``one_hot`` True/False to hold, None to draw), reduction drawn unless
        held. Shrinks towards one sample, one class, class-index targets and reduction 'mean'."""
        check_bound("max_batch", max_batch, 1)
        check_bound("max_side", max_side, 1)
        return _loss_configs(cls, held_params(cls, held), max_batch, max_side, one_hot)


@st.composite
def _loss_configs(draw, cls, held, max_batch, max_side, one_hot):
    reduction = held.get("reduction") or draw(st.sampled_from(REDUCTIONS))
    n, c = draw(st.integers(1, max_batch)), draw(st.integers(1, max_side))
    rows = one_hot if one_hot is not None else draw(st.booleans())
    return cls(reduction=reduction), {"logits": (n, c), "target": (n, c) if rows else (n,)}


class Mse(Layer):
    """Mean squared error: pred and target of one shape (any rank >= 1) -> ()."""

    name = "mse"
    input_degree = 2  # (pred − target)²: squares what a chain feeds it (value_bound)
    inputs = ("pred", "target")
    required = 2
    differentiable = ("pred", "target")
    ranks = {"pred": None, "target": None}

    @property
    def closed_on_integers(self):  # "mean" divides by the number of elements
        return self.params["reduction"] == "sum"

    schema = REDUCTION

    def check_shapes(self, shapes):
        if shapes["pred"] != shapes["target"]:
            raise InputError(f"target has shape {shapes['target']}: it must have the shape of pred, {shapes['pred']}")

    def output_shape(self, shapes):
        return ()

    def _reduce(self, total, size):
        return np.asarray(ops.divide(total, size) if self.params["reduction"] == "mean" else total)

    def sympy_rule(self, shapes):
        shape = shapes["pred"]
        indices = sp.symbols(f"i0:{len(shape)}", integer=True, nonnegative=True)
        P, T = sp.IndexedBase("pred"), sp.IndexedBase("target")
        scale = sp.Rational(1, int(np.prod(shape))) if self.params["reduction"] == "mean" else 1
        expr = sp.Sum(scale * (P[indices] - T[indices]) ** 2, *[(i, 0, n - 1) for i, n in zip(indices, shape)])
        return IndexRule(indices=(), shape=(), expr=expr, operands=dict(shapes))

    def numpy_forward(self, pred, target):
        diff = pred - target
        return self._reduce((diff * diff).sum(), diff.size)

    def numpy_backward(self, grad_out, pred, target):
        grad_pred = self._reduce(2 * (pred - target) * grad_out, pred.size)
        return grad_pred, -grad_pred

    def jax_forward(self, pred, target):
        import jax.numpy as jnp
        total = jnp.sum((pred - target) ** 2)
        return total / pred.size if self.params["reduction"] == "mean" else total

    @classmethod
    def configs(cls, *, max_rank: int = 3, max_side: int = 3, **held):
        """``(mse, shapes)``: rank 1–``max_rank`` (3), sides 1–``max_side`` (3), reduction drawn unless held.
        Shrinks towards one element and reduction 'mean'."""
        check_bound("max_rank", max_rank, 1)
        check_bound("max_side", max_side, 1)
        return _mse_configs(held_params(cls, held), max_rank, max_side)


@st.composite
def _mse_configs(draw, held, max_rank, max_side):
    reduction = held.get("reduction") or draw(st.sampled_from(REDUCTIONS))
    shape = tuple(draw(st.integers(1, max_side)) for _ in range(draw(st.integers(1, max_rank))))
    return Mse(reduction=reduction), {"pred": shape, "target": shape}
