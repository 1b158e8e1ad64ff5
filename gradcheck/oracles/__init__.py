"""Oracles: independent ways of computing a layer's gradients. Each turns (layer, data) into gradients.

An oracle takes full-rank input arrays (dict name -> array, in the layer's input order) and the upstream
gradient, and returns dict name -> dL/d(name) for the differentiable inputs given. ``exact_on`` says
on which data its results are exact (compared with ``==``) rather than floats within a tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import ConfigError
from . import fd_oracle, jax_oracle, numpy_oracle, sympy_oracle


@dataclass(frozen=True)
class Oracle:
    name: str
    gradients: Callable
    exact_on: frozenset  # data kinds: "integer", "rational"
    about: str


ORACLES: dict[str, Oracle] = {
    "sympy": Oracle("sympy", sympy_oracle.gradients, frozenset({"integer", "rational", "float"}),
                    "derived from the SymPy rule, evaluated exactly in rationals"),
    "numpy": Oracle("numpy", numpy_oracle.gradients, frozenset({"integer", "rational"}),
                    "hand-coded NumPy backward (textbook identities)"),
    "jax": Oracle("jax", jax_oracle.gradients, frozenset({"integer"}),
                  "jax.vjp of the JAX forward, float64"),
    "fd": Oracle("fd", fd_oracle.gradients, frozenset(),
                 "central finite differences, float64"),
}
DEFAULT_ORACLES = ("sympy", "numpy", "jax")


def get(name_or_fn) -> Oracle:
    """An oracle by name, or a user's backward ``fn(grad_out, *inputs, **params) -> tuple`` wrapped as one."""
    if callable(name_or_fn):
        return Oracle(getattr(name_or_fn, "__name__", "user"), _user_oracle(name_or_fn), frozenset(),
                      "a user-supplied backward")
    if name_or_fn not in ORACLES:
        raise ConfigError(f"unknown oracle {name_or_fn!r}; oracles are {', '.join(ORACLES)} "
                          "or a callable backward(grad_out, *inputs, **params)")
    return ORACLES[name_or_fn]


def _user_oracle(fn):
    def gradients(layer, arrays, grad_out):
        result = fn(grad_out, *arrays.values(), **layer.params)
        result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        if len(result) != len(arrays):
            raise ValueError(f"returned {len(result)} gradients for the {len(arrays)} inputs "
                             f"({', '.join(arrays)}); return one per input, in that order")
        return {name: g for name, g in zip(arrays, result) if name in layer.differentiable}
    return gradients
