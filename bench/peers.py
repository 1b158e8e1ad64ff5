"""The checks compared side by side, each run on one case: gradcheck's own and its peers'.

Every peer is a function ``peer(case) -> Cell | str``; a string is printed in the cell instead of a time
('not installed', 'not run: ...'). Data: small integers for the exact check (so sympy and numpy must agree
with ==), standard-normal float64 for everything else (what a framework developer checks on).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import numpy as np

import gradcheck as gc
from gradcheck import symbolic
from gradcheck.oracles import jax_oracle

from .measure import Cell, fmt_seconds, measure


@dataclass(frozen=True)
class Case:
    """One benchmarked layer configuration. ``params`` use torch.nn.functional's names and values."""

    label: str
    layer: str
    params: dict
    shapes: dict            # input name -> shape, in the layer's input order
    peers: tuple = ("exact", "numpy=jax", "torch slow", "torch fast", "check_grads", "numpy÷xla")
    note: str = field(default="", compare=False)

    def configured(self):
        return gc.layer(self.layer, **self.params)

    def out_shape(self):
        return self.configured().output_shape(self.shapes)

    def data(self, kind: str, seed: int = 0):
        rng = np.random.default_rng(seed)
        if kind == "integer":
            draw = lambda shape: rng.integers(-3, 4, shape)  # noqa: E731
        else:
            draw = rng.standard_normal
        return [draw(s) for s in self.shapes.values()], draw(self.out_shape())


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def gradcheck_exact(case: Case):
    """gradcheck's exact check: gradients derived from the SymPy rule (a fresh plan) == the NumPy backward."""
    layer = case.configured()
    inputs, g = case.data("integer")
    symbolic._PLANS.clear()  # cold: the plan is derived from the rule inside the timed call
    cell = measure(gc.verify, layer, *inputs, grad_out=g, oracles=("sympy", "numpy"))
    cell.note = "" if cell.result.ok else "DISAGREE"
    return cell


def gradcheck_numpy_jax(case: Case):
    """gradcheck's numpy-vs-jax check on float64 data, the JAX program compiled inside the timed call."""
    layer = case.configured()
    inputs, g = case.data("float")
    jax_oracle._COMPILED.clear()
    cell = measure(gc.verify, layer, *inputs, grad_out=g, oracles=("numpy", "jax"))
    cell.note = "" if cell.result.ok else "DISAGREE"
    return cell


def _torch(case: Case, fast: bool):
    if not installed("torch"):
        return "not installed"
    import torch
    import torch.nn.functional as F

    # One intra-op thread: these are thousands of tiny kernels, and on 2 shared cores torch's two spinning
    # threads made slow mode 18× slower (medium: 9.5 s vs 0.53 s), so one thread is torch at its best here.
    torch.set_num_threads(1)
    inputs, _ = case.data("float")
    tensors = tuple(torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs)
    function = getattr(F, case.layer)
    cell = measure(torch.autograd.gradcheck, lambda *t: function(*t, **case.params), tensors,
                   fast_mode=fast, raise_exception=False)
    cell.note = "" if cell.result else "FAILED"
    return cell


def torch_slow(case: Case):
    """torch.autograd.gradcheck, slow mode: the full numerical Jacobian by central differences."""
    return _torch(case, fast=False)


def torch_fast(case: Case):
    """torch.autograd.gradcheck, fast mode: one random projection of the Jacobian."""
    return _torch(case, fast=True)


def jax_check_grads(case: Case):
    """jax.test_util.check_grads, reverse mode, order 1, float64, on a shape new to the process (its eager
    primitives compile); the note gives a second, warm call."""
    import jax
    from jax.test_util import check_grads

    layer = case.configured()
    inputs, _ = case.data("float")
    with jax.enable_x64(True):
        args = tuple(jax.numpy.asarray(a) for a in inputs)
        cell = measure(check_grads, layer.jax_forward, args, order=1, modes=("rev",))
        warm = measure(check_grads, layer.jax_forward, args, order=1, modes=("rev",))
    cell.note = f"(warm {fmt_seconds(warm.seconds)})"
    return cell


def numpy_vs_xla_backward(case: Case, repeats: int = 3):
    """The NumPy backward vs XLA's (jax.vjp, jitted with XLA's default options), float64, both warm:
    the best of ``repeats`` runs each, because on shared cores a single run of either can be 5× off."""
    import jax

    layer = case.configured()
    inputs, g = case.data("float")
    layer.numpy_backward(g, *inputs)
    numpy_cell = min((measure(layer.numpy_backward, g, *inputs) for _ in range(repeats)), key=lambda c: c.seconds)
    with jax.enable_x64(True):
        xla_backward = jax.jit(lambda g, *a: jax.vjp(layer.jax_forward, *a)[1](g))
        args = [jax.device_put(a) for a in (g, *inputs)]
        jax.block_until_ready(xla_backward(*args))  # compile, then time warm runs
        xla_cell = min((measure(lambda: jax.block_until_ready(xla_backward(*args))) for _ in range(repeats)),
                       key=lambda c: c.seconds)
    return numpy_cell, xla_cell


PEERS = {
    "exact": gradcheck_exact,
    "numpy=jax": gradcheck_numpy_jax,
    "torch slow": torch_slow,
    "torch fast": torch_fast,
    "check_grads": jax_check_grads,
}
