"""What every layer is: named inputs, validated parameters, and the four views of one forward rule.

A layer file subclasses :class:`Layer` and fills in, side by side:

- ``schema``, the declared parameters (``gradcheck.layers.schema``), from which ``validate(params)`` gives
  normalised parameters or :class:`ConfigError`;
- ``check_shapes(shapes)`` and ``output_shape(shapes)``;
- ``sympy_rule(shapes)``  -> :class:`IndexRule`, the forward rule written once in SymPy index notation;
  the sympy oracle derives every gradient from it (see ``gradcheck.symbolic``);
- ``numpy_forward(*arrays)`` and ``numpy_backward(grad_out, *arrays)``, the hand-coded textbook rule;
- ``jax_forward(*arrays)``, built from ``jax.lax`` ops, differentiated by ``jax.vjp``;
- ``configs(**bounds_and_held)`` (classmethod), the Hypothesis strategy of ``(layer, shapes)`` pairs that
  the tests, ``gradcheck verify`` and ``check_backward`` draw from; ``input_strategy`` for inputs that are
  not plain data (class targets, pooling indices).

The public ``forward``/``backward`` here add what is common: input conversion and validation, the
promotion of single-channel 2-D exercises to (1, 1, H, W), and answers returned in the shape given.
"""
from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from ..errors import ConfigError, InputError
from ..tolerance import term_scale
from ._params import fmt
from .schema import Schema


@dataclass(frozen=True)
class IndexRule:
    """One output element as a SymPy expression: ``output[indices] = expr``.

    ``expr`` is a sum of terms; each term is a ``sympy.Sum`` over reduction indices with constant
    bounds, or an expression without one. Operands appear as ``IndexedBase`` objects whose names are
    the layer's input names; index expressions may leave the operand's range, which reads ``fill[name]``
    (0: zero padding) and receives no gradient.
    """

    indices: tuple[sp.Symbol, ...]
    shape: tuple[int, ...]
    expr: sp.Expr
    operands: dict[str, tuple[int, ...]]
    fill: dict[str, Any] = field(default_factory=dict)

    def equation(self, name: str = "O") -> sp.Eq:
        """The rule as ``Eq(O[i, ...], expr)``, for printing (``sympy.latex``, ``sympy.pretty``)."""
        return sp.Eq(sp.IndexedBase(name)[self.indices], self.expr, evaluate=False)


def as_array(name: str, value) -> np.ndarray:
    """An input as an array of int64, float, or object (Python ints and Fractions: exact rationals)."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise InputError(f"{name} is not a rectangular array of numbers: {exc}") from None
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if arr.dtype.kind in "iu":
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            # uint64 past 2**63 (also what NumPy makes of a Python int in [2**63, 2**64)): as int64 it would
            # wrap to a negative number; kept as exact Python ints instead.
            return arr.astype(object)
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and not isinstance(value, np.ndarray) and arr.size:
        exact = np.asarray(value, dtype=object)
        if all(isinstance(v, numbers.Integral) for v in exact.flat):
            # NumPy reads a list of ints with one past int64 ([2**63, -1]) as float64, which rounds 2**63 + 1;
            # kept as Python ints instead.
            return as_array(name, exact)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise InputError(f"{name} holds {arr[bad]} at index {bad}: inputs must be finite numbers")
        return arr
    if arr.dtype == object:
        flat = arr.ravel()
        for i, v in enumerate(flat):
            if isinstance(v, bool) or not isinstance(v, (numbers.Rational, float)):
                raise InputError(f"{name} holds {v!r} at flat index {i}: inputs must be numbers "
                                 "(int, float or fractions.Fraction)")
        if any(isinstance(v, float) for v in flat):
            return as_array(name, arr.astype(np.float64))
        return np.array([v if isinstance(v, int) else Fraction(v) for v in flat], dtype=object).reshape(arr.shape)
    raise InputError(f"{name} has dtype {arr.dtype}: inputs must be real numbers (int, float or Fraction)")


# Integer data whose sums of products could reach this are computed in Python ints (object arrays), not int64:
# exact at any size instead of wrapping around. 2**62 leaves a factor 2 of headroom under int64's 2**63 − 1.
INT64_SAFE = 2 ** 62
# The largest integer float64 (the jax and fd oracles) holds exactly: integer results beyond it are rounded.
FLOAT64_EXACT = 2 ** 53


def value_bound(layer, arrays) -> int:
    """An upper bound on |any value| the layer's forward or backward computes from these integer arrays
    (grad_out among them): M^d · S^(d−1), M the largest |entry| (at least 1), S the number of entries of all
    arrays together (no reduction sums more terms than that) and d ``layer.degree`` (how many inputs one term
    multiplies: x·w for a convolution; a chain multiplies its stages'). Float and Fraction data give 0."""
    ints = [a for a in arrays if a.dtype.kind in "iu" or (a.dtype == object and a.size and
                                                        all(type(v) is int for v in a.flat))]
    if not ints:
        return 0
    biggest = max(max(int(a.max()), -int(a.min())) if a.size else 0 for a in ints)
    degree = _degree(layer)
    return max(biggest, 1) ** degree * sum(a.size for a in arrays) ** (degree - 1)


def _degree(layer) -> int:
    """The degree of a layer, or of a chain (gc.sequential): a stage of degree d and of degree e in its first
    input turns a degree-D input into degree e·D + d − e (a convolution adds 1, mse doubles)."""
    stages = getattr(layer, "stages", None)
    if not stages:
        return layer.degree
    total = 1
    for stage in stages:
        e = getattr(stage, "input_degree", 1)
        total = e * total + _degree(stage) - e
    return total


def promote_to_shape(name: str, arr: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``arr`` in ``shape``: as it is, or with the leading axes of size 1 it leaves out added (a 2-D grad_out of
    a single-sample, single-channel output). That is the only promotion: an array that merely has the right
    number of elements (a transposed grad_out) is an InputError naming both shapes, not silently reordered."""
    shape = tuple(shape)
    if arr.shape == shape:
        return arr
    lead = len(shape) - arr.ndim
    if lead > 0 and arr.shape == shape[lead:] and all(n == 1 for n in shape[:lead]):
        return arr.reshape(shape)
    hint = ("; only leading axes of size 1 may be left out, an array is never reordered to fit"
            if arr.size == int(np.prod(shape)) else "")
    raise InputError(f"{name} has shape {arr.shape}, but {what} shape {shape}{hint}")


def _check_not_empty(name: str, arr: np.ndarray) -> None:
    if arr.size == 0:
        raise InputError(f"{name} has shape {arr.shape}, which holds no elements: every axis must be at least 1 "
                         "(a check on no elements compares nothing)")


def _check_float_range(layer_name: str, name: str, arr) -> None:
    """A layer with exp/log/sqrt computes in float64: a Python int or Fraction beyond its range is refused."""
    if arr is None or arr.dtype != object:
        return
    for i, v in enumerate(arr.flat):
        try:
            float(v)
        except OverflowError:
            size = f"a {len(str(abs(int(v))))}-digit number" if abs(v) >= 1 else repr(v)
            raise InputError(f"{name} holds {size} at flat index {i}: {layer_name} computes in float64 "
                             f"(exp, log or sqrt in its rule), whose largest value is about 1.8e308") from None


def as_float64(arr, who: str) -> np.ndarray:
    """``arr`` in float64 for an oracle that computes in it, or an InputError if it holds Python ints past
    float64's range (about 1.8e308), which only the exact oracles (sympy, numpy) can take."""
    try:
        return np.asarray(arr, dtype=np.float64)
    except OverflowError:
        raise InputError(f"the data hold integers beyond float64's range (about 1.8e308), where {who} computes; "
                         "compare exact oracles (sympy, numpy) on such data") from None


def is_rational_data(arr: np.ndarray) -> bool:
    """Integer or rational data, on which linear and piecewise-linear layers must agree exactly."""
    return arr.dtype.kind in "iu" or arr.dtype == object


class Layer(ABC):
    """A configured layer: ``gc.layer("conv2d", stride=2)`` returns one."""

    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]            # call order, e.g. ("x", "w", "b")
    required: ClassVar[int]                      # how many leading inputs must be given
    differentiable: ClassVar[tuple[str, ...]]    # inputs that receive a gradient
    ranks: ClassVar[dict[str, int | None]]       # full rank of each input; None: any rank >= 1 (elementwise)
    promotable: ClassVar[dict[str, int]] = {}    # rank a single-channel exercise may use instead
    # True when the output is a rational (or piecewise rational) function of the inputs, so oracles must
    # agree exactly on integer/rational data; False for exp/log/sqrt layers (float tolerance throughout).
    exact: ClassVar[bool] = True
    # True when integer inputs give integer outputs and gradients (no division anywhere), so a float64
    # oracle (jax) computes them without rounding and is compared with ==. False for average pooling,
    # mean reductions, ...: there float64 rounds 1/9, and only the rational oracles are held to ==.
    closed_on_integers: ClassVar[bool] = True
    # How many inputs (grad_out counted) one term of the output or of a gradient multiplies: 2 for x·w and
    # g·w. Bounds the growth of integer data (``value_bound``); 3 for a depthwise-then-pointwise product,
    # 1 where nothing multiplies (relu, pooling). ``input_degree``: the degree in the first input (1; mse 2).
    degree: ClassVar[int] = 2
    input_degree: ClassVar[int] = 1
    # True when the forward is affine in each differentiable input while the others are held (convolutions,
    # linear, average pooling, ...): then ⟨g, f(inputs + t·u)⟩ is a polynomial in t of degree ≤ ``degree``,
    # which gc.verify_projected differentiates exactly with a finite stencil (gradcheck/projected.py).
    multiaffine: ClassVar[bool] = False

    def __init__(self, **params):
        self.params: dict[str, Any] = self.validate(dict(params))

    # The layer's parameters (gradcheck.layers.schema), declared in its own file: validation, CLI flags, help,
    # `gradcheck list`, case-file coercion and command strings all come from it.
    schema: ClassVar[Schema] = Schema()

    # -- to be provided by each layer file -------------------------------------------------------
    def validate(self, params: dict) -> dict:
        """Normalised parameters, from the schema; a layer extends this only with rules that tie parameters
        together (a pool's padding at most half its kernel)."""
        return self.schema.validate(self.name, params, getattr(self, "spatial", 2))

    def check_shapes(self, shapes: dict[str, tuple[int, ...]]) -> None:
        """Raise ConfigError/InputError when the shapes do not fit together or with the parameters."""

    @abstractmethod
    def output_shape(self, shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
        ...

    @abstractmethod
    def sympy_rule(self, shapes: dict[str, tuple[int, ...]]) -> IndexRule:
        ...

    @abstractmethod
    def numpy_forward(self, *arrays):
        ...

    @abstractmethod
    def numpy_backward(self, grad_out, *arrays):
        ...

    @abstractmethod
    def jax_forward(self, *arrays):
        ...

    @classmethod
    @abstractmethod
    def configs(cls, **bounds_and_held):
        """Hypothesis strategy of ``(configured layer, {input name: shape})``; bounds keyword-only,
        held parameters validated at once (see gradcheck.strategies)."""

    # Optional: a classmethod ``sweep_space(**bounds)`` yielding every (params, shapes) within bounds, in a
    # fixed order, for ``gradcheck sweep`` (bounds: max_side, max_kernel, max_stride, max_dilation,
    # max_padding). None: the layer cannot be swept.
    sweep_space: ClassVar = None

    def gradient_scale(self, arrays: dict[str, np.ndarray], grad_out) -> dict[str, float]:
        """Per gradient, the magnitude of the terms summed into it: the floor of the ``scale`` in
        ``tolerance.within``, for gradients that cancel to zero where float oracles leave rounding residue
        (softmax under a constant upstream gradient). Default: ``tolerance.term_scale``; a layer that
        amplifies its terms (batch norm's 1/σ) says so by overriding this."""
        scale = term_scale(grad_out, [a for n, a in arrays.items() if n in self.differentiable])
        return {n: scale for n in arrays if n in self.differentiable}

    def input_strategy(self, name: str, shapes: dict[str, tuple[int, ...]], kind: str):
        """Strategy for input ``name``: small numbers of ``kind`` by default; layers override it for inputs
        that are not data (class targets, indices), which must stay integers whatever the kind."""
        from ..drawing import arrays
        return arrays(shapes[name], kind=kind)

    # -- common machinery --------------------------------------------------------------------------
    def n_params(self, shapes: dict[str, tuple[int, ...]]) -> int:
        """Trainable parameters for these input shapes: the sizes of the differentiable inputs after the
        first (the data), e.g. (kH·kW·C_in/groups + 1)·C_out for a convolution with bias."""
        return sum(int(np.prod(shapes[name])) for name in self.inputs[1:]
                   if name in self.differentiable and name in shapes)

    @property
    def key(self) -> tuple:
        """Hashable identity of the configuration (for caches)."""
        return (self.name,) + tuple(sorted(self.params.items()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={fmt(v)}" for k, v in self.params.items())
        return f"{self.name}({args})"

    def prepare(self, inputs, grad_out=None):
        """Validate and promote inputs: returns (dict name -> full-rank array, given shapes, grad_out).

        Integer data large enough that a sum of products could pass int64 (:func:`value_bound`) comes back
        as object arrays of Python ints, so no oracle wraps around; see ``INT64_SAFE``.
        """
        if not self.required <= len(inputs) <= len(self.inputs):
            expected = ", ".join(self.inputs[:self.required])
            optional = ", ".join(self.inputs[self.required:])
            raise InputError(f"{self.name} takes inputs ({expected}" + (f"[, {optional}]" if optional else "")
                             + f"), got {len(inputs)} arrays")
        arrays, given = {}, {}
        for name, value in zip(self.inputs, inputs):
            if value is None:
                if self.inputs.index(name) < self.required:
                    raise InputError(f"{self.name}: input {name} is required, got None")
                continue
            arr = as_array(name, value)
            _check_not_empty(name, arr)
            given[name] = arr.shape
            arrays[name] = self._promote(name, arr)
        shapes = {k: v.shape for k, v in arrays.items()}
        self.check_shapes(shapes)
        g = None
        if grad_out is not None:
            g = promote_to_shape("grad_out", as_array("grad_out", grad_out), self.output_shape(shapes),
                                 f"{self!r} maps these inputs to")
        if not self.exact:
            for name, arr in [*arrays.items(), ("grad_out", g)]:
                _check_float_range(self.name, name, arr)
        return self.python_ints_if_large(arrays, g, given)

    def python_ints_if_large(self, arrays, g, given):
        """Integer inputs whose products could pass int64 become object arrays of Python ints (exact, never
        wrapped); small ones stay int64, the fast path."""
        if value_bound(self, list(arrays.values()) + ([] if g is None else [g])) < INT64_SAFE:
            return arrays, given, g
        def big(a):
            return a.astype(object) if a.dtype.kind in "iu" else a
        # Only what is differentiated: class targets and pooling indices index arrays, and an int64 array
        # meeting an object one in NumPy arithmetic is computed in Python ints anyway.
        return ({k: big(v) if k in self.differentiable else v for k, v in arrays.items()}, given,
                None if g is None else big(g))

    def promoted_shape(self, name: str, shape) -> tuple[int, ...]:
        """The shape input ``name`` of shape ``shape`` takes inside the layer (a single-channel 2-D exercise is
        (1, 1, H, W)), or the InputError :meth:`prepare` would raise for it; nothing of that size is allocated."""
        return self._promote(name, np.broadcast_to(np.int8(0), tuple(shape))).shape

    def _promote(self, name: str, arr: np.ndarray) -> np.ndarray:
        rank = self.ranks[name]
        if rank is None:  # any rank: the layer works elementwise or along axes it is given
            if arr.ndim >= 1:
                return arr
            raise InputError(f"{self.name}: input {name} is a scalar (0-D); it must be at least 1-D")
        if arr.ndim == rank:
            return arr
        if arr.ndim == self.promotable.get(name, -1):
            return arr.reshape((1,) * (rank - arr.ndim) + arr.shape)
        allowed = f"{rank}" + (f" (or {self.promotable[name]} for one channel)" if name in self.promotable else "")
        raise InputError(f"{self.name}: input {name} has shape {arr.shape} ({arr.ndim}-D); "
                         f"it must be {allowed}-D")

    def forward(self, *inputs):
        """NumPy forward pass. Single-channel 2-D exercises give a 2-D answer."""
        arrays, given, _ = self.prepare(inputs)
        out = self.numpy_forward(*arrays.values())
        first = self.inputs[0]
        promoted = self.ranks[first] is not None and len(given[first]) < self.ranks[first]
        return out.reshape(out.shape[-len(given[first]):]) if promoted else out

    def backward(self, grad_out, *inputs):
        """Hand-coded NumPy backward: one gradient per given input, in order, each in the shape given."""
        arrays, given, g = self.prepare(inputs, grad_out)
        grads = self.numpy_backward(g, *arrays.values())
        return self.restore_shapes(grads, given)

    def restore_shapes(self, grads, given):
        """Reshape full-rank gradients (one per given input, differentiable or None) to the shapes given."""
        return tuple(None if gr is None else np.asarray(gr).reshape(given[name])
                     for name, gr in zip(given, grads))


__all__ = ["IndexRule", "Layer", "ConfigError", "InputError", "as_array", "is_rational_data", "promote_to_shape",
           "value_bound"]
