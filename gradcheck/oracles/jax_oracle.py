"""``jax.vjp`` of the layer's JAX forward, in float64, compiled once per configuration and shape, cheaply.

64-bit mode is switched on only inside this call (``jax.enable_x64`` is a context manager), so
importing gradcheck never changes JAX's global state. Arrays go to JAX's default device: the CPU here,
a GPU or TPU where jax is installed for one (TPUs have no float64; there the check is float32-accurate).

Why it is compiled the way it is (measured by ``python -m bench --only jax-strategies``, 2 shared cores):
a Hypothesis run draws a new layer configuration almost every time (200 drawn conv2d examples hold 56
distinct parameter sets and 79 distinct configurations+shapes), so what matters is the cost of one
compilation, not how often a shape repeats.
- eager ``jax.vjp`` compiles every primitive separately: about 3× slower than one jit per shape;
- bucketing shapes (zero-padding inputs up to bucket sizes, parameters static) would merge only
  79 → 62 programs even with coarse buckets, because the parameters differ, and needs a per-layer proof
  that padding preserves the result;
- one ``jit`` per shape with XLA's default pipeline spends ≈ 190 ms CPU per program compiling a tiny
  convolution and its transposes; the same program compiled with LLVM at -O0 and XLA's classic loop
  emitters (``_FAST_COMPILE``) takes ≈ 30 ms and runs on small check-sized arrays just as fast
  (the convolutions themselves are library calls, not generated code). That is what is done here, on the
  CPU only; other backends keep their default pipeline. Compiled programs are kept in a bounded cache.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..layers.base import as_float64

# Per-compilation XLA options (not global flags): fast compilation for the small programs a check runs.
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
_MAX_PROGRAMS = 512
_COMPILED: OrderedDict[tuple, object] = OrderedDict()


def _forward_and_vjp(layer, names: tuple[str, ...], wrt: tuple[str, ...]):
    import jax

    def forward_and_vjp(values, grad_out):
        def forward(*differentiable):
            given = dict(values, **dict(zip(wrt, differentiable)))
            return layer.jax_forward(*(given[n] for n in names))

        _, vjp = jax.vjp(forward, *(values[n] for n in wrt))
        return vjp(grad_out)

    return forward_and_vjp


def compile_options() -> dict | None:
    """The XLA options this oracle compiles with on the current default backend (None: XLA's defaults)."""
    import jax

    return dict(_FAST_COMPILE) if jax.default_backend() == "cpu" else None


def compiled(cache: OrderedDict, key, function, *example_args, max_size: int = _MAX_PROGRAMS):
    """``jax.jit(function)`` lowered for ``example_args`` and compiled with :func:`compile_options`, kept in
    ``cache`` under ``key`` (least recently used out first past ``max_size``). The jax oracle and
    ``adapters.jax`` compile through here, so both get the fast options and bounded memory."""
    import jax

    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    lowered = jax.jit(function).lower(*example_args)
    options = compile_options()
    cache[key] = lowered.compile(compiler_options=options) if options else lowered.compile()
    if len(cache) > max_size:
        cache.popitem(last=False)
    return cache[key]


def _program(layer, names, wrt, values, grad_out=None):
    """The compiled forward-and-vjp for this configuration and these shapes, or the forward alone when
    ``grad_out`` is None (cached, least recent evicted)."""
    key = (layer.key, names, tuple((n, v.shape, v.dtype.str) for n, v in values.items()),
           None if grad_out is None else grad_out.shape)
    if grad_out is None:
        return compiled(_COMPILED, key, lambda v: layer.jax_forward(*(v[n] for n in names)), values)
    return compiled(_COMPILED, key, _forward_and_vjp(layer, names, wrt), values, grad_out)


def jax_values(layer, arrays) -> dict:
    """Inputs as JAX sees them: differentiable ones float64, the others (class targets, indices) int64
    unless they hold non-whole numbers (probability targets), which stay float64.

    Call inside ``jax.enable_x64(True)``.
    """
    def whole(a):
        return np.asarray(a).dtype.kind in "iub" or bool(np.all(as_float64(a, "the jax oracle") % 1 == 0))
    return {n: as_float64(a, "the jax oracle") if n in layer.differentiable or not whole(a) else
            np.asarray(a, dtype=np.int64) for n, a in arrays.items()}


def forward(layer, arrays) -> np.ndarray:
    """The layer's JAX forward in float64 (for tests comparing forward values), compiled as one program like
    the gradients: run eagerly, every primitive compiles on its own with XLA's default pipeline (~0.1 s
    each, about 10× slower for a pooling layer)."""
    import jax

    with jax.enable_x64(True):
        values = jax_values(layer, arrays)
        return np.asarray(_program(layer, tuple(arrays), (), values)(values))


def gradients(layer, arrays, grad_out):
    import jax

    names = tuple(arrays)
    wrt = tuple(n for n in names if n in layer.differentiable)
    with jax.enable_x64(True):
        values, g = jax_values(layer, arrays), as_float64(grad_out, "the jax oracle")
        grads = _program(layer, names, wrt, values, g)(values, g)
        return {n: np.asarray(out) for n, out in zip(wrt, grads)}
