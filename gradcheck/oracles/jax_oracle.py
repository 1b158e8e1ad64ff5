"""``jax.vjp`` of the layer's JAX forward, in float64, compiled once per configuration and shape, cheaply.

64-bit mode is switched on only inside this call (``jax.enable_x64`` is a context manager), so
importing gradcheck never changes JAX's global state. Arrays go to JAX's default device (the CPU here, a GPU
or TPU where jax is installed for one), or to the device asked for (``verify(..., device="gpu")``:
:func:`resolve_device`, :func:`on_device`). A TPU has no float64: there the oracle computes in float32, the
result says so (``Gradients.precision``), and it is compared within float32's tolerance, never exactly.

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
  emitters (``_FAST_COMPILE``) takes ≈ 30 ms and runs on small check-sized arrays just as fast; generating
  its code in one piece instead of splitting it over threads (``xla_cpu_parallel_codegen_split_count`` 1)
  saves another ≈ 20 % of the compile's CPU and wall time on such small programs
  (the convolutions themselves are library calls, not generated code). That is what is done here, on the
  CPU only; other backends keep their default pipeline. Compiled programs are kept in a bounded cache.

On an accelerator, a program its library rejects is rerun on the CPU (:func:`_on_device`): cuDNN refuses
some float64 grouped transposed convolutions with stride > 1 on small inputs (``CUDNN_STATUS_BAD_PARAM``,
issue 17), and an oracle that gives no result on a valid configuration would make a correct layer FAIL.
Each result says where it was computed (``gradients(...).device``: "cpu", "gpu", "cpu fallback"), and
the verdict shows it (``jax[cpu fallback]``).
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections import OrderedDict, deque
from contextlib import contextmanager

import numpy as np

from ..errors import ConfigError
from ..layers.base import as_float64
from . import jax_cache

# Per-compilation XLA options (not global flags): fast compilation for the small programs a check runs.
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False,
                 "xla_cpu_parallel_codegen_split_count": 1}
_MAX_PROGRAMS = 512
_COMPILED: OrderedDict[tuple, object] = OrderedDict()
# (platform, option) pairs this XLA does not know: XLA renames and removes its flags between releases (jax 0.11
# has no xla_cpu_use_fusion_emitters), and an unknown name fails the whole compilation, so it is dropped.
_UNKNOWN_OPTIONS: set[tuple[str, str]] = set()
_NO_SUCH_OPTION = re.compile(r"No such compile option: '([^']+)'")


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
    """The XLA options this oracle compiles with on the current default device (None: XLA's defaults)."""
    return dict(_FAST_COMPILE) if _platform() == "cpu" else None


def platform() -> str:
    """The platform ("cpu", "gpu", "tpu") this oracle compiles for now; the adapters key their programs by it."""
    return _platform()  # looked up at call time: tests stand in for _platform


def _platform() -> str:
    """The platform ("cpu", "gpu", "tpu") programs compile for here: that of ``jax.default_device(...)``
    when one is in force (the CPU fallback sets it), else JAX's default backend."""
    import jax

    try:
        device = jax.config.jax_default_device
    except AttributeError:  # a jax whose config has no attribute access: its state object
        from jax._src import config
        device = config.default_device.value
    if device is None:
        return jax.default_backend()
    return device if isinstance(device, str) else device.platform


def compiled(cache: OrderedDict, key, function, *example_args, max_size: int = _MAX_PROGRAMS):
    """``jax.jit(function)`` lowered for ``example_args`` and compiled with :func:`compile_options`, kept in
    ``cache`` under ``key`` (least recently used out first past ``max_size``), and on disk across processes
    (:mod:`jax_cache`). The jax oracle and ``adapters.jax`` compile through here, so both get the fast options,
    bounded memory and the persistent cache."""
    import jax

    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    lowered = jax.jit(function).lower(*example_args)
    options, platform = compile_options(), _platform()
    # through the persistent cache (jax_cache): a program compiled by an earlier run is loaded, not compiled
    cache[key] = jax_cache.load_or_compile(lowered, options, lambda: _compile(lowered, options, platform))
    if len(cache) > max_size:
        cache.popitem(last=False)
    return cache[key]


def _compile(lowered, options: dict | None, platform: str):
    """``lowered.compile`` with those of ``options`` this XLA knows: an option it reports as unknown ("No such
    compile option: 'NAME'") is dropped, remembered for ``platform`` (not tried again in this process), and the
    compilation retried. The options only make compiling faster, so without one the result is the same."""
    while True:
        known = {k: v for k, v in (options or {}).items() if (platform, k) not in _UNKNOWN_OPTIONS}
        try:
            return lowered.compile(compiler_options=known) if known else lowered.compile()
        except _rejection_errors() as exc:
            unknown = _NO_SUCH_OPTION.search(str(exc))
            if unknown is None or unknown.group(1) not in known:  # another error, or no progress: not ours
                raise
            _UNKNOWN_OPTIONS.add((platform, unknown.group(1)))


def _program(layer, names, wrt, values, grad_out=None, cache=_COMPILED):
    """The compiled forward-and-vjp for this configuration and these shapes, or the forward alone when
    ``grad_out`` is None (cached, least recent evicted)."""
    key = _key(layer, names, values, grad_out)
    if grad_out is None:
        return compiled(cache, key, lambda v: layer.jax_forward(*(v[n] for n in names)), values)
    return compiled(cache, key, _forward_and_vjp(layer, names, wrt), values, grad_out)


def _key(layer, names, values, grad_out):
    # the platform too: a program compiled for one device is no program for another (jax.default_device)
    return (layer.key, names, tuple((n, v.shape, v.dtype.str) for n, v in values.items()),
            None if grad_out is None else grad_out.shape, _platform())


# -- which device: JAX's default backend, or the one asked for -------------------------------------------------
PLATFORMS = ("cpu", "gpu", "tpu")
# Platforms without float64 arithmetic (XLA on TPU has no f64 convolutions or matrix products): float32 there.
NO_FLOAT64 = frozenset({"tpu"})


def resolve_device(device):
    """The JAX device for ``device=`` ("cpu", "gpu", "tpu"; None: JAX's default backend, returned as None).
    ConfigError when the name is none of those or JAX has no such device here, naming what JAX does see."""
    if device is None:
        return None
    if not isinstance(device, str) or device not in PLATFORMS:
        raise ConfigError(f"device={device!r} is not allowed: give one of {', '.join(PLATFORMS)}, or none for "
                          "JAX's default backend")
    import jax

    try:
        return jax.devices(device)[0]
    except RuntimeError:  # "Unknown backend", "Backend 'tpu' failed to initialize": the same answer to the user
        raise ConfigError(f"device={device!r}: JAX sees no {device} here (it sees {_seen()}); install jax for that "
                          "accelerator (e.g. pip install 'jax[cuda13]' for an NVIDIA GPU, 'jax[tpu]' for a TPU), "
                          "or leave the device out to use JAX's default backend") from None


def _seen() -> str:
    import jax

    seen = []
    for platform in PLATFORMS:
        try:
            devices = jax.devices(platform)
        except RuntimeError:
            continue
        kinds = sorted({getattr(d, "device_kind", platform) for d in devices})
        seen.append(f"{platform}: {len(devices)} device{'s' * (len(devices) > 1)} ({', '.join(kinds)})")
    return "; ".join(seen) + f"; default backend {jax.default_backend()}"


@contextmanager
def on_device(device):
    """JAX computes on ``device`` (a JAX device from :func:`resolve_device`; None: no change) meanwhile: the jax
    oracle, and a user's JAX code (``adapters.jax``) in the same thread. ``jax.default_device`` is thread-local
    and undone on exit, so nothing global changes."""
    if device is None:
        yield
        return
    import jax

    with jax.default_device(device):
        yield


def precision() -> np.dtype:
    """The float dtype the oracle computes in on the current device: float64, float32 where it has no float64."""
    return np.dtype(np.float32 if _platform() in NO_FLOAT64 else np.float64)


# -- where a program runs: the default device, or the CPU when the accelerator's library rejects it --------------
_CPU_FALLBACK: OrderedDict[tuple, object] = OrderedDict()  # programs compiled for the CPU after a rejection
_REJECTED: set[tuple] = set()   # keys the accelerator rejected: not compiled there again (each try costs logs)
XLA_LOG: deque[str] = deque(maxlen=20)  # what XLA wrote to stderr around accelerator programs (not shown)
_STDERR_LOCK = threading.Lock()
_noted = False


class Gradients(dict):
    """Gradients by input name, ``device``: where they were computed ("cpu", "gpu", "tpu", "cpu fallback"), and
    ``precision``: the float dtype computed in ("float64"; "float32" on a device without float64)."""

    device: str = "cpu"
    precision: str = "float64"


def _rejection_errors() -> tuple[type, ...]:
    """What XLA raises when a backend cannot compile or run a program (JaxRuntimeError; XlaRuntimeError in
    older jaxlibs)."""
    import jax

    found = [getattr(jax.errors, "JaxRuntimeError", None)]
    try:
        from jax._src.lib import xla_client
        found.append(getattr(xla_client, "XlaRuntimeError", None))
    except ImportError:
        pass
    return tuple({e for e in found if isinstance(e, type)})


@contextmanager
def _stderr_captured():
    """File descriptor 2 goes to a temporary file for the duration: XLA's C++ logs (absl) write there directly,
    bypassing ``sys.stderr``, and TF_CPP_MIN_LOG_LEVEL is read only once, when jaxlib loads. What was written
    is kept in :data:`XLA_LOG` for whoever needs it. A lock, because fd 2 is one per process."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace")
            if text:
                XLA_LOG.append(text)


def _on_device(layer, key, build, run):
    """``run(build(cache))`` on JAX's default device; where that is an accelerator and its compiler or library
    rejects the program, the same program compiled for the CPU (``jax.devices("cpu")``), and one line on stderr
    the first time in the process. Returns (result as NumPy, device label)."""
    import jax

    platform = _platform()
    if platform == "cpu":
        return run(build(_COMPILED)), "cpu"
    if key not in _REJECTED:
        try:
            with _stderr_captured():
                return jax.tree_util.tree_map(np.asarray, run(build(_COMPILED))), platform
        except _rejection_errors() as exc:
            _REJECTED.add(key)
            _note(layer, platform, exc)
    cpu = jax.devices("cpu")[0]
    with jax.default_device(cpu):
        return jax.tree_util.tree_map(np.asarray, run(build(_CPU_FALLBACK))), "cpu fallback"


def _note(layer, platform, exc):
    """One line, once per process: the user learns that some results come from the CPU, and why."""
    global _noted
    if _noted:
        return
    _noted = True
    reason = " ".join(str(exc).split())
    reason = reason if len(reason) <= 160 else reason[:157] + "..."
    print(f"gradcheck: note: the {platform} rejected the jax oracle's program for {layer!r} "
          f"({type(exc).__name__}: {reason}); such programs run on the CPU, shown as jax[cpu fallback]",
          file=sys.stderr)


def jax_values(layer, arrays, dtype=np.float64) -> dict:
    """Inputs as JAX sees them: differentiable ones float64, the others (class targets, indices) int64
    unless they hold non-whole numbers (probability targets), which stay float64. ``dtype`` float32 (a device
    without float64): float32 and int32 instead.

    Call inside ``jax.enable_x64(True)``.
    """
    dtype = np.dtype(dtype)
    integer = np.int64 if dtype == np.float64 else np.int32

    def whole(a):
        return np.asarray(a).dtype.kind in "iub" or bool(np.all(as_float64(a, "the jax oracle") % 1 == 0))
    return {n: as_float64(a, "the jax oracle").astype(dtype, copy=False) if n in layer.differentiable or not whole(a)
            else np.asarray(a, dtype=integer) for n, a in arrays.items()}


def forward(layer, arrays) -> np.ndarray:
    """The layer's JAX forward in float64 (for tests comparing forward values), compiled as one program like
    the gradients: run eagerly, every primitive compiles on its own with XLA's default pipeline (~0.1 s
    each, about 10× slower for a pooling layer)."""
    import jax

    names = tuple(arrays)
    with jax.enable_x64(True):
        values = jax_values(layer, arrays, precision())
        out, _ = _on_device(layer, _key(layer, names, values, None),
                            lambda cache: _program(layer, names, (), values, cache=cache),
                            lambda program: program(values))
        return np.asarray(out)


def gradients(layer, arrays, grad_out) -> Gradients:
    import jax

    names = tuple(arrays)
    wrt = tuple(n for n in names if n in layer.differentiable)
    with jax.enable_x64(True):
        dtype = precision()
        values, g = jax_values(layer, arrays, dtype), as_float64(grad_out, "the jax oracle").astype(dtype, copy=False)
        grads, device = _on_device(layer, _key(layer, names, values, g),
                                   lambda cache: _program(layer, names, wrt, values, g, cache=cache),
                                   lambda program: program(values, g))
        result = Gradients((n, np.asarray(out)) for n, out in zip(wrt, grads))
        result.device, result.precision = device, dtype.name
        return result
