"""A persistent cache of the programs the jax oracle compiles, so that a second run of the same checks (a test
suite in CI, a resumed sweep, ``gradcheck verify`` again) skips XLA's compilation.

An entry is one compiled executable (``jax.experimental.serialize_executable``), one file, named by the SHA-256
of everything the executable depends on: the lowered program's text, the jax and jaxlib versions, the backend
(platform, its version, the devices), the compile options, ``XLA_FLAGS`` and the host processor's features.
Nothing global in JAX is changed: JAX's own persistent cache is a process-wide setting
(``jax_compilation_cache_dir``) that would also cache, and change the behaviour of, the user's own programs.

- Folder: ``$GRADCHECK_CACHE_DIR/jax``, else ``$XDG_CACHE_HOME/gradcheck/jax``, else ``~/.cache/gradcheck/jax``;
  created private (0700), and used only while it is the user's own and not writable by others.
- Opt out: ``GRADCHECK_JAX_CACHE=0`` (or ``off``, ``false``, ``no``).
- Writes are atomic (a temporary file, then a rename); each entry starts with the SHA-256 of its payload, checked
  before it is loaded, so a truncated or corrupted entry is ignored, removed and compiled again.
- Bounded: past ``GRADCHECK_JAX_CACHE_BYTES`` (default 256 MiB) the least recently used entries are removed.
- Any failure of the cache (a read-only folder, a full disk, an entry from another build) falls back to
  compiling, as without it: the cache can make a check faster, never different.
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import stat
import tempfile
from pathlib import Path

MAGIC = b"gradcheck jax executable 1\n"
DEFAULT_BYTES = 256 << 20
stats = {"hits": 0, "misses": 0, "stored": 0, "corrupt": 0}   # this process's, for tests and the benchmark


def enabled() -> bool:
    return os.environ.get("GRADCHECK_JAX_CACHE", "1").strip().lower() not in {"0", "off", "false", "no"}


def folder() -> Path:
    base = os.environ.get("GRADCHECK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "gradcheck")
    return Path(base) / "jax"


def _limit() -> int:
    try:
        return max(0, int(os.environ.get("GRADCHECK_JAX_CACHE_BYTES", DEFAULT_BYTES)))
    except ValueError:
        return DEFAULT_BYTES


def load_or_compile(lowered, options: dict | None, now):
    """``now()`` (which compiles ``lowered`` with ``options``), through the persistent cache when it is enabled:
    an entry for the same program, versions, backend and options is loaded instead, and what ``now()``
    compiles is stored."""
    if not enabled():
        return now()
    try:
        backend, devices, key = _identity(lowered, options)
        where = _usable_folder()
    except Exception:  # an internal JAX detail changed, or no usable folder: compile as without a cache
        return now()
    if where is None:
        return now()
    path = where / f"{key}.bin"
    loaded = _load(path, lowered, backend, devices)
    if loaded is not None:
        stats["hits"] += 1
        return loaded
    stats["misses"] += 1
    executable = now()
    _store(path, executable)
    return executable


def _identity(lowered, options):
    """(backend client, devices, key) of the executable ``lowered`` compiles to."""
    import jax
    import jaxlib

    lowering = lowered._lowering  # the backend and devices compile() uses; no public accessor in jax 0.10
    backend = lowering.compile_args["backend"]
    devices = list(lowering._device_list) if lowering._device_list is not None else [backend.devices()[0]]
    parts = [lowered.as_text(), jax.__version__, jaxlib.__version__, backend.platform, backend.platform_version,
             repr([(d.id, d.device_kind) for d in devices]), repr(sorted((options or {}).items())),
             repr(lowered.args_info), repr(lowered.out_tree), os.environ.get("XLA_FLAGS", ""), _host()]
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8") + b"\0")
    return backend, devices, digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _host() -> str:
    """The processor code is generated for: a CPU executable may use instructions (AVX-512) that another machine
    sharing the folder (a CI cache restored on another runner) lacks, so its features are part of the key."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as info:
            flags = next((line for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor()} {flags.strip()}"


def _usable_folder() -> Path | None:
    """The cache folder, created private; None when it is someone else's or writable by others (an entry is
    unpickled when loaded, so only the user may have written it)."""
    path = folder()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    return path


def _load(path: Path, lowered, backend, devices):
    import jax
    from jax.experimental import serialize_executable

    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(MAGIC) + 32
    if data[:len(MAGIC)] != MAGIC or hashlib.sha256(data[head:]).digest() != data[len(MAGIC):head]:
        stats["corrupt"] += 1
        _remove(path)
        return None
    try:
        in_tree = jax.tree_util.tree_flatten(lowered.args_info)[1]
        loaded = serialize_executable.deserialize_and_load(data[head:], in_tree, lowered.out_tree,
                                                           backend=backend, execution_devices=devices)
    except Exception:  # an entry this jax cannot load: compile again (and overwrite it)
        stats["corrupt"] += 1
        _remove(path)
        return None
    try:
        os.utime(path)  # most recently used: the last to be trimmed
    except OSError:
        pass
    return loaded


def _store(path: Path, executable) -> None:
    from jax.experimental import serialize_executable

    tmp = None
    try:
        payload = serialize_executable.serialize(executable)[0]
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + hashlib.sha256(payload).digest() + payload)
        os.replace(tmp, path)
        tmp = None
        stats["stored"] += 1
        _trim(path.parent, _limit())
    except Exception:  # not serializable, read-only or full folder: the check goes on without the cache
        pass
    finally:
        if tmp is not None:
            _remove(Path(tmp))


def _trim(where: Path, limit: int) -> None:
    """Remove least recently used entries until the folder holds at most ``limit`` bytes."""
    entries = []
    for entry in os.scandir(where):
        if entry.name.endswith(".bin"):
            try:
                info = entry.stat()
            except OSError:
                continue
            entries.append((info.st_mtime, info.st_size, entry.path))
    total = sum(size for _, size, _ in entries)
    for _, size, name in sorted(entries):
        if total <= limit:
            break
        _remove(Path(name))
        total -= size


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
