"""Activations: relu, sigmoid, tanh (elementwise, any shape) and softmax along one axis.

Conventions (torch.nn.functional):
- every activation takes x of any rank >= 1 and returns the same shape.
- relu'(0) = 0 (PyTorch's and JAX's subgradient): an input of exactly 0 passes no gradient. The integer and
  rational strategies produce zeros on purpose; the float strategy keeps clear of 0, where central
  finite differences would see the average slope 1/2.
- sigmoid' = σ(1 − σ), tanh' = 1 − tanh² (written from the forward value, as the lectures do).
- softmax(x, dim): s = exp(x) / Σ_dim exp(x); dim=None means 1, or 0 for a 1-D input (torch's implicit
  choice for 1-, 2- and 4-D inputs). Backward: s ⊙ (G − Σ_dim G ⊙ s).
relu is exact on integer and rational data; sigmoid, tanh and softmax use exp (``exact = False``): every
oracle computes in floats or mpmath and they are compared within the float tolerance.
"""
from __future__ import annotations

from abc import abstractmethod

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from ..errors import InputError
from ..drawing import arrays, check_bound, held_params
from .base import IndexRule, Layer
from .schema import Param, Schema


def _float(a):
    return np.asarray(a, dtype=np.float64)


class Elementwise(Layer):
    """y = f(x) elementwise: x of any shape -> the same shape."""

    inputs = ("x",)
    required = 1
    differentiable = ("x",)
    ranks = {"x": None}

    def output_shape(self, shapes):
        return shapes["x"]

    @abstractmethod
    def element(self, u: sp.Expr) -> sp.Expr:
        """The rule for one element, in SymPy."""

    def sympy_rule(self, shapes):
        indices = sp.symbols(f"i0:{len(shapes['x'])}", integer=True, nonnegative=True)
        return IndexRule(indices=indices, shape=shapes["x"], expr=self.element(sp.IndexedBase("x")[indices]),
                         operands=dict(shapes))

    @classmethod
    def configs(cls, *, max_rank: int = 4, max_side: int = 3, **held):
        """``(layer, shapes)``: rank 1–``max_rank`` (4), sides 1–``max_side`` (3). Shrinks towards one element."""
        check_bound("max_rank", max_rank, 1)
        check_bound("max_side", max_side, 1)
        held = held_params(cls, held)
        return _shape_configs(cls, held, max_rank, max_side)


@st.composite
def _shape_configs(draw, cls, held, max_rank, max_side):
    rank = draw(st.integers(1, max_rank))
    return cls(**held), {"x": tuple(draw(st.integers(1, max_side)) for _ in range(rank))}


class Relu(Elementwise):
    """ReLU: max(x, 0) elementwise, relu'(0) = 0; x any shape."""

    name = "relu"
    degree = 1  # g·[x > 0]: no products of inputs (value_bound)

    def element(self, u):
        return sp.Piecewise((u, u > 0), (0, True))

    def numpy_forward(self, x):
        return np.where(x > 0, x, 0 * x)

    def numpy_backward(self, grad_out, x):
        return (np.where(x > 0, grad_out, 0 * grad_out),)  # x = 0 passes nothing: relu'(0) = 0

    def jax_forward(self, x):
        import jax.numpy as jnp
        return jnp.where(x > 0, x, 0.0)

    def input_strategy(self, name, shapes, kind):
        if kind != "float":
            return arrays(shapes[name], kind=kind)
        # Finite differences cannot resolve the kink: float data stays at least 2**-10 away from 0.
        return arrays(shapes[name], kind=kind).map(lambda a: np.where(a == 0, 0.5, a))


class Sigmoid(Elementwise):
    """Logistic sigmoid σ(x) = 1 / (1 + exp(−x)) elementwise; x any shape."""

    name = "sigmoid"
    exact = False

    def element(self, u):
        return 1 / (1 + sp.exp(-u))

    def numpy_forward(self, x):
        return 1 / (1 + np.exp(-_float(x)))

    def numpy_backward(self, grad_out, x):
        s = self.numpy_forward(x)
        return (_float(grad_out) * s * (1 - s),)  # σ' = σ(1 − σ)

    def jax_forward(self, x):
        import jax.numpy as jnp
        return 1 / (1 + jnp.exp(-x))


class Tanh(Elementwise):
    """Hyperbolic tangent elementwise; x any shape."""

    name = "tanh"
    exact = False

    def element(self, u):
        return sp.tanh(u)

    def numpy_forward(self, x):
        return np.tanh(_float(x))

    def numpy_backward(self, grad_out, x):
        t = np.tanh(_float(x))
        return (_float(grad_out) * (1 - t * t),)  # tanh' = 1 − tanh²

    def jax_forward(self, x):
        import jax.numpy as jnp
        return jnp.tanh(x)


class Softmax(Layer):
    """Softmax along ``dim``: x any shape (rank >= 1) -> the same shape, each slice along dim sums to 1."""

    name = "softmax"
    inputs = ("x",)
    required = 1
    differentiable = ("x",)
    ranks = {"x": None}
    exact = False

    schema = Schema(Param("dim", "int", None, "the axis each slice that sums to 1 runs along", optional=True,
                          shown_default="None: 1 (0 for a 1-D input)"))

    def axis(self, rank: int) -> int:
        dim = self.params["dim"]
        if dim is None:
            return 1 if rank >= 2 else 0
        if not -rank <= dim < rank:
            raise InputError(f"dim={dim} is out of range for a {rank}-D input: it must be in [{-rank}, {rank - 1}]")
        return dim % rank

    def check_shapes(self, shapes):
        self.axis(len(shapes["x"]))

    def output_shape(self, shapes):
        return shapes["x"]

    def sympy_rule(self, shapes):
        shape = shapes["x"]
        axis = self.axis(len(shape))
        indices = sp.symbols(f"i0:{len(shape)}", integer=True, nonnegative=True)
        j = sp.Symbol("j", integer=True, nonnegative=True)
        X = sp.IndexedBase("x")
        along = indices[:axis] + (j,) + indices[axis + 1:]
        expr = sp.exp(X[indices]) / sp.Sum(sp.exp(X[along]), (j, 0, shape[axis] - 1))
        return IndexRule(indices=indices, shape=shape, expr=expr, operands=dict(shapes))

    def numpy_forward(self, x):
        axis = self.axis(x.ndim)
        z = _float(x)
        e = np.exp(z - z.max(axis=axis, keepdims=True))  # shifting by the max changes nothing but overflow
        return e / e.sum(axis=axis, keepdims=True)

    def numpy_backward(self, grad_out, x):
        s = self.numpy_forward(x)
        g = _float(grad_out)
        return (s * (g - (g * s).sum(axis=self.axis(x.ndim), keepdims=True)),)

    def jax_forward(self, x):
        import jax
        return jax.nn.softmax(x, axis=self.axis(x.ndim))

    @classmethod
    def configs(cls, *, max_rank: int = 3, max_side: int = 3, **held):
        """``(softmax, shapes)``: rank 1–``max_rank`` (3), sides 1–``max_side`` (3), dim None or drawn
        (negative too) unless held. Shrinks towards one element and dim None."""
        check_bound("max_rank", max_rank, 1)
        check_bound("max_side", max_side, 1)
        held = held_params(cls, held)
        return _softmax_configs(held, max_rank, max_side)


@st.composite
def _softmax_configs(draw, held, max_rank, max_side):
    dim = held.get("dim")
    least = 1 if dim is None else (dim + 1 if dim >= 0 else -dim)
    rank = draw(st.integers(least, max(least, max_rank)))
    if "dim" not in held and draw(st.booleans()):
        dim = draw(st.integers(-rank, rank - 1))
    return Softmax(dim=dim), {"x": tuple(draw(st.integers(1, max_side)) for _ in range(rank))}
