"""Wall time and peak memory of one benchmark cell, measured in this process.

Peak memory is the growth of the process's peak resident set (Linux ``VmHWM``) over its resident set
just before the cell: the peak is reset with ``/proc/self/clear_refs`` and freed heap memory is handed
back to the system with glibc's ``malloc_trim`` first. Being RSS, it sees every allocation a cell
touches — Python objects, NumPy arrays, and the native buffers of XLA and torch that ``tracemalloc``
cannot see — and it does not count memory that was already resident (imported modules, caches filled by
earlier cells). Where ``/proc`` cannot be written, it falls back to ``tracemalloc`` (Python and NumPy
allocations only; the cell's time then includes tracemalloc's overhead) and says so in ``METHOD``.
"""
from __future__ import annotations

import ctypes
import gc
import re
import time
import tracemalloc
from dataclasses import dataclass


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return int(re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.M).group(1))


def _can_reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _status_kib("VmHWM")
        return True
    except (OSError, AttributeError):
        return False


_RSS = _can_reset_peak()
METHOD = ("peak RSS growth (VmHWM reset per cell; sees native XLA/torch buffers too)" if _RSS else
          "tracemalloc peak (Python and NumPy allocations only; not XLA's or torch's native buffers)")
try:
    _trim = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _trim = None


@dataclass
class Cell:
    seconds: float
    peak_bytes: int
    result: object = None
    note: str = ""


def measure(fn, *args, **kwargs) -> Cell:
    """Run ``fn`` once; its wall time and peak extra memory."""
    gc.collect()
    if _trim is not None:
        _trim(0)
    if _RSS:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status_kib("VmRSS")
    else:
        tracemalloc.start()
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - start
    if _RSS:
        peak = max(0, _status_kib("VmHWM") - before) * 1024
    else:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return Cell(seconds, peak, result)


def fmt_seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.0f} ms" if s >= 0.01 else f"{s * 1e3:.1f} ms"
    return f"{s:.1f} s" if s < 100 else f"{s:.0f} s"


def fmt_bytes(b: int) -> str:
    if b < 1 << 20:
        return f"{b / 1024:.0f} KB"
    if b < 1 << 30:
        return f"{b / (1 << 20):.0f} MB"
    return f"{b / (1 << 30):.1f} GB"
