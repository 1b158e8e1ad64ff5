"""What the commands take from and give to the outside world: seeds, files read, files written.

Every file a command writes goes through :func:`write_atomic` (a temporary file in the same folder, then
``os.replace``: a reader never sees half a file, and a failed write leaves the old file as it was), and every
name that comes from data rather than from the user (an exercise id, a report's stem, a figure) is joined to
the folder the user named with :func:`safe_path`, which refuses any name that would land outside it. Problems
are one :class:`~gradcheck.errors.ConfigError` naming the path and the reason, which the CLI prints on one line.
"""
from __future__ import annotations

import argparse
import os
import stat
import tempfile
from pathlib import Path

from .errors import ConfigError, InputError

MAX_SEED = 2 ** 32 - 1   # the range of the fresh seeds verify draws; numpy and Hypothesis take them all
MAX_READ = 1 << 20       # bytes of a case or answer file (1 MiB: a 100×100 exercise is about 50 kB)


def seed(text: str) -> int:
    """argparse type of every ``--seed``: an int from 0 to MAX_SEED (numpy refuses negative seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed: a seed is an int from 0 to {MAX_SEED}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} is not a seed: a seed is an int from 0 to {MAX_SEED}")
    return value


def read_text(path, limit: int = MAX_READ) -> str:
    """A UTF-8 text file of at most ``limit`` bytes; reads at most limit + 1 bytes, so /dev/zero cannot hang it."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{path}: larger than {limit:,} bytes, the most a case or answer file may be")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: is not UTF-8 text (byte {exc.start})") from None


def folder(path) -> Path:
    """The output folder the user named, created (with its parents) when missing."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"cannot write into {path}: it is not a folder") from None
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder {path}: {exc.strerror or exc}") from None
    return path


def safe_path(base, name: str) -> Path:
    """``base / name``, refusing a name that leads outside ``base`` (``..``, an absolute path, a link out)."""
    root = Path(base).resolve()
    target = (root / name).resolve()
    if name != Path(name).as_posix() or Path(name).is_absolute() or not target.is_relative_to(root) or target == root:
        raise ConfigError(f"{name!r} is not allowed as a file name: every file is written inside {base}")
    return Path(base) / name


def writable(path):
    """(the file to replace, its stat or None) for ``path``; ConfigError when it cannot be written there:
    the target must be a regular file or missing (a device such as /dev/full, a folder or a pipe is refused
    rather than replaced) in a folder that exists."""
    path = Path(path)
    target = Path(os.path.realpath(path))  # a link to a file: the file is replaced, the link kept
    try:
        info = target.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"cannot write {path}: it is {'a folder' if stat.S_ISDIR(info.st_mode) else 'not a regular file'}")
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write {path}: the folder {path.parent} does not exist")
    return target, info


def write_atomic(path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all; ConfigError naming the path otherwise.

    See :func:`writable` for what may be written. A new file gets the usual mode (0666 less the umask)."""
    path = Path(path)
    target, info = writable(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(payload)  # no fsync: whole-or-nothing against failures, not against power cuts (fast)
        os.chmod(tmp, stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
