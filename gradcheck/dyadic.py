"""Exact checks on float data at the speed of integer data.

A float is a dyadic rational m·2^e (m a whole number of at most 53 bits for float64), so an array of floats
is one integer array M times one power of two 2^e, e the smallest exponent in the array (:func:`split`).
The wider the array's exponent range, the wider M: past int64 it is an object array of Python ints, never
a wrapped int64.

When a layer's rule is a sum of integer multiples of products of operand reads (convolutions, linear,
transposed and separable convolutions; also relu, max pooling, flatten and upsampling, whose conditions
compare like-scaled values), every gradient is a sum of products of grad_out and fixed operands:
dL/dx = Σ G·w for a convolution (``symbolic.gradient_factors`` reads this off the SymPy rule). Computed on
the integers M, it is the exact gradient times 2^-(e_G + e_w). So the oracles that are exact on integers at
any size (sympy and numpy: Python ints past int64, see ``layers.base.value_bound``) compute on the integers,
as fast as on integer data, and their results are scaled back exactly into ints and Fractions and compared
with ``==``. Layers not of that form (average pooling, means, exp/log, chains) keep the rational path: their
float data become Fractions. The user's backward, jax and fd always run on the data as given.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import symbolic


def split(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """(M, e) with ``arr == M·2^e`` exactly and e as large as possible: M int64 when every entry fits in 62
    bits, else an object array of Python ints. Integer arrays are returned as they are, with e = 0.

    Subnormals are whole multiples of 2^-1074 like any other float64; -0.0 becomes 0.
    """
    arr = np.asarray(arr)
    if arr.dtype.kind != "f":
        return arr, 0
    bits = np.finfo(arr.dtype).nmant + 1
    fraction, exponent = np.frexp(arr)                     # arr = fraction·2^exponent, 1/2 <= |fraction| < 1
    m = np.ldexp(fraction.astype(np.float64), bits).astype(np.int64)    # whole, at most `bits` bits: exact
    e = exponent.astype(np.int64) - bits
    nonzero = m != 0
    if not nonzero.any():
        return np.zeros(arr.shape, dtype=np.int64), 0
    # Strip trailing zero bits, so that integer-valued floats (2.0, -3.0) become the small ints they hold.
    zeros = np.where(nonzero, np.frexp((m & -m).astype(np.float64))[1] - 1, 0)
    m, e = m >> zeros, e + zeros
    base = int(e[nonzero].min())
    shift = np.where(nonzero, e - base, 0)
    width = np.frexp(np.abs(m).astype(np.float64))[1] + shift     # bit length of |m|·2^shift (m < 2^53: exact)
    if int(width.max()) <= 62:
        return m << shift, base
    out = np.array([int(v) << int(s) for v, s in zip(m.ravel(), shift.ravel())], dtype=object)
    return out.reshape(arr.shape), base


def scale_back(result: np.ndarray, exponent: int) -> np.ndarray:
    """``result``·2^exponent, exactly: Python ints (exponent >= 0) or Fractions, in an object array. A float
    result (an oracle that left the integers) is scaled with ``ldexp`` and stays a float, compared within
    tolerance like any float result."""
    r = np.asarray(result)
    if r.dtype.kind == "f":
        return np.ldexp(r, exponent)
    if exponent >= 0:
        scale = 1 << exponent
        values = [int(v) << exponent if isinstance(v, (int, np.integer)) else v * scale for v in r.ravel()]
    else:
        denominator = 1 << -exponent
        values = [Fraction(int(v), denominator) if isinstance(v, (int, np.integer)) else Fraction(v) / denominator
                  for v in r.ravel()]
    out = np.empty(r.shape, dtype=object)
    out.ravel()[:] = values
    return out


@dataclass
class Scaled:
    """The data as integers (``arrays``, ``grad_out``) and each gradient's power of two (``exponents``)."""

    arrays: dict[str, np.ndarray]
    grad_out: np.ndarray
    exponents: dict[str, int]

    def back(self, gradients: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Gradients computed on the integers, scaled back to the gradients of the data as given."""
        return {name: scale_back(g, self.exponents[name]) for name, g in gradients.items()}


def to_integers(layer, arrays: dict[str, np.ndarray], grad_out: np.ndarray) -> Scaled | None:
    """The float data of ``layer`` as integers and powers of two (see the module's docstring), or None where
    that cannot be exact: a layer with divisions or exp/log, a rule not of the scaling form, Fractions among
    the data (no single power of two makes them whole), or a float input that is not differentiable (class
    targets, pooling indices are used as values, not scaled)."""
    if not (layer.exact and layer.closed_on_integers is True):
        return None
    every = {**arrays, "grad_out": grad_out}
    if not any(a.dtype.kind == "f" for a in every.values()):
        return None
    for name, a in every.items():
        whole = a.dtype.kind in "iu" or a.dtype == object and all(type(v) is int for v in a.flat)
        scalable = a.dtype.kind == "f" and a.dtype.itemsize <= 8 and (name in layer.differentiable or name == "grad_out")
        if not (whole or scalable):
            return None
    factors = symbolic.gradient_factors(layer, {k: v.shape for k, v in arrays.items()})
    if factors is None:
        return None
    split_arrays = {name: split(a) for name, a in every.items()}
    exponent = {name: e for name, (_, e) in split_arrays.items()}
    ints = {name: m for name, (m, _) in split_arrays.items()}
    g = ints.pop("grad_out")
    # Products of wide integers could pass int64: then every differentiable input becomes Python ints.
    ints, _, g = layer.python_ints_if_large(ints, g, {})
    exponents = {name: exponent["grad_out"] + sum(exponent[f] for f in factors[name])
                 for name in arrays if name in layer.differentiable}
    return Scaled(ints, g, exponents)
