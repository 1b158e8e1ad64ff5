"""Bounded-exhaustive sweeps: every configuration within bounds (not a random sample), for nightly runs.

    gradcheck sweep conv2d --max-side 5 [--jobs 2] [--results FILE] [--backward mymod:fn] [--timeout 300]
                           [--stride 2 --padding 0 --padding 1] [--where mymod:in_scope]
                           [--scheduler local|tcp://HOST:8786]

Configurations are enumerated in a fixed order; each gets small-integer data from a seed derived from its
id, runs through the oracles (or a user's backward against them) in a pool of worker processes, and is
appended to a JSON-lines results file as soon as it finishes. Every row carries the *key* of the check
that produced it: the oracles, the backward and a digest of its module's source, the held parameters, the
where-predicate and a digest of its module's source, the data-seed scheme and gradcheck's version. A
re-run of the same check reuses the rows the file holds (an interrupted sweep resumes where it stopped);
a file written by a different check is refused, never reused: a row only ever vouches for the check
that wrote it. The file is locked while a sweep writes it. ``--scheduler`` runs the same cases on a Dask
distributed cluster instead of the local pool (:class:`_DaskPool`); the results file, its rules and the rows are
the same, wherever they ran.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import itertools
import json
import marshal
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

import numpy as np

from ._io import writable
from .errors import ConfigError, GradcheckError
from .layers import REGISTRY, layer as make_layer
from .layers.schema import flag

try:
    import fcntl
except ImportError:  # not POSIX: no lock, one sweep per file is then the user's care
    fcntl = None

BOUNDS = {"max_side": 1, "max_kernel": 1, "max_stride": 1, "max_dilation": 1, "max_padding": 0}  # name: minimum
MAX_BOUND = 64                  # larger sides make arrays SymPy cannot check exactly in any sensible time
MAX_CONFIGURATIONS = 20_000     # candidates, counted before any is built (0.4 s): hours of work already
DEFAULT_TIMEOUT = 300.0         # seconds per configuration; the largest defaults take about 1 s
SEED_SCHEME = "sha256(id)[:4], integers -3..3"  # part of the key: rows hold verdicts on this data only
START_ALLOWANCE = 120           # seconds for a worker to import gradcheck and the backward's module
RERUN = ("timeout", "crashed")  # rows that say nothing about the gradients: resumed sweeps run them again


@dataclass(frozen=True)
class Case:
    """One configuration of a sweep: a stable id, the layer parameters and the input shapes."""

    id: str
    layer: str
    params: dict
    shapes: dict

    @property
    def seed(self) -> int:
        """From the id, not the position: a configuration gets the same data whatever bounds or scope."""
        return int.from_bytes(hashlib.sha256(self.id.encode()).digest()[:4], "big")


@dataclass
class Outcome:
    """What :func:`sweep` found: every configuration in scope with its row, in enumeration order."""

    rows: dict[str, dict]
    ran: int            # rows produced by this run
    seconds: float
    key: str
    check: dict         # what the key is a digest of
    results: Path

    @property
    def earlier(self) -> int:
        return len(self.rows) - self.ran


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep; every finished row is in the results file."""

    def __init__(self, done: int, total: int, results: Path):
        super().__init__(f"{done} of {total} configurations done, kept in {results}")
        self.done, self.total, self.results = done, total, results


# -- bounds, scope and enumeration ---------------------------------------------------------------------
def check_bounds(bounds: dict) -> dict:
    unknown = set(bounds) - set(BOUNDS)
    if unknown:
        raise ConfigError(f"sweep has no bound {sorted(unknown)[0]!r}; bounds are {', '.join(BOUNDS)}")
    for name, value in bounds.items():
        option = flag(name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ConfigError(f"{option} {value!r} is not allowed: it must be an int")
        if not BOUNDS[name] <= value <= MAX_BOUND:
            raise ConfigError(f"{option} {value} is not allowed: it must be {BOUNDS[name]}..{MAX_BOUND}")
    return bounds


def _space(name: str, bounds: dict) -> list:
    """The raw candidates, counted before any layer is built so that huge bounds are refused at once."""
    with_space = sorted(n for n, cls in REGISTRY.items() if cls.sweep_space is not None)
    if name not in with_space:
        raise ConfigError(f"no sweep space for layer {name!r}; layers with one: {', '.join(with_space)}")
    space = list(itertools.islice(REGISTRY[name].sweep_space(**check_bounds(bounds)), MAX_CONFIGURATIONS + 1))
    if len(space) > MAX_CONFIGURATIONS:
        given = ", ".join(f"{flag(k)} {v}" for k, v in bounds.items())
        raise ConfigError(f"{given} give more than {MAX_CONFIGURATIONS:,} {name} configurations; lower the bounds")
    return space


def _apply_held(name, space, held, errors):
    """Held parameters narrow the space: a value (or a set of allowed values) compared after the layer's own
    normalisation, so --stride 2 matches stride (2, 2) and --padding valid matches padding 0. A parameter the
    space does not enumerate (a pool's divisor_override) is set instead, once per allowed value."""
    for params, shapes in space:
        variants = [dict(params)]
        for key, value in held.items():
            allowed = sorted(value, key=repr) if isinstance(value, frozenset) else [value]
            if key in params:
                variants = [p for p in variants if _matches(name, p, key, allowed, errors)]
            else:
                variants = [{**p, key: v} for p in variants for v in allowed]
        for p in variants:
            yield p, shapes


def _matches(name, params, key, allowed, errors) -> bool:
    try:
        current = make_layer(name, **params).params[key]
    except GradcheckError:
        return False  # outside the layer's domain anyway
    for value in allowed:
        try:
            if make_layer(name, **{**params, key: value}).params[key] == current:
                return True
        except GradcheckError as exc:  # a value the layer refuses here (padding > kernel/2) matches nothing here
            errors.append(str(exc))
    return False


def cases(name: str, *, held: dict | None = None, where=None, **bounds) -> list[Case]:
    """Every configuration in scope, in a fixed order: within ``bounds``, in the layer's domain, with the
    ``held`` parameters (a value or a frozenset of allowed values) and accepted by ``where(layer, shapes)``."""
    held = dict(held or {})
    space = _space(name, bounds)
    found, refused = [], []
    for params, shapes in _apply_held(name, space, held, refused):
        try:
            layer = make_layer(name, **params)
            layer.check_shapes(shapes)
        except GradcheckError as exc:  # outside the layer's domain: a kernel larger than the padded input, ...
            if set(held) - set(space[0][0]):
                refused.append(str(exc))  # a held value the space does not enumerate may be the reason
            continue
        if where is not None and not _in_scope(where, layer, shapes):
            continue
        key = ",".join(f"{k}={v}" for k, v in params.items()) + ";" + ",".join(
            f"{k}={'x'.join(map(str, v))}" for k, v in shapes.items())
        found.append(Case(f"{name}({key})", name, params, shapes))
    if not found:
        scope = ", ".join([f"{k} {_show(v)}" for k, v in held.items()] + ([f"--where {_label(where)}"] if where
                                                                            else []))
        why = f"; {name} says: {refused[0]}" if refused and len(set(refused)) == 1 else ""
        raise ConfigError(f"no {name} configuration within the bounds is in scope "
                          f"({scope or 'no parameter held'}){why}")
    return found


def _show(value) -> str:
    return "in {" + ", ".join(sorted(map(repr, value))) + "}" if isinstance(value, frozenset) else f"= {value!r}"


def _in_scope(where, layer, shapes) -> bool:
    try:
        answer = where(layer, {k: tuple(v) for k, v in shapes.items()})
    except Exception as exc:
        raise ConfigError(f"--where {_label(where)} raised {type(exc).__name__}: {exc} "
                          f"(on {layer!r} with shapes {shapes})") from None
    if not isinstance(answer, (bool, np.bool_)):
        raise ConfigError(f"--where {_label(where)} returned {answer!r} on {layer!r}; it must return True or False")
    return bool(answer)


def _label(fn) -> str:
    return SPECS.get(id(fn)) or getattr(fn, "__qualname__", repr(fn))


SPECS: dict[int, str] = {}  # id(function loaded from a module:function spec) -> the spec, to name it as given


# -- loading a user's function: --backward and --where ----------------------------------------------
def load_function(spec: str, flag: str = "--backward"):
    """``module:function`` -> the function (the module is imported from the current directory or sys.path).
    Whatever importing it raises (SyntaxError, SystemExit, ...) becomes one ConfigError."""
    module_name, _, attr = str(spec).partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{flag} {spec!r} is not allowed: give it as module:function")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (Exception, SystemExit) as exc:
        raise ConfigError(f"{flag} {spec!r} could not be loaded: {type(exc).__name__}: {exc}") from None
    if not callable(fn):
        raise ConfigError(f"{flag} {spec!r} is not a function: it is {type(fn).__name__}")
    return fn


def load_backward(spec: str):
    return load_function(spec, "--backward")


def source_digest(fn) -> str | None:
    """sha256 of the file the function's module was loaded from, and of its own code and closure: an edited
    backward or predicate is a different check (code it imports from other modules is not covered)."""
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    path = getattr(module, "__file__", None)
    digest = hashlib.sha256()
    try:
        digest.update(Path(path).read_bytes() if path else b"")
    except OSError:
        pass
    code = getattr(fn, "__code__", None)
    if code is not None:  # a lambda typed at a prompt has no file; its bytecode and captured values tell it apart
        digest.update(marshal.dumps(code))
        try:
            digest.update(repr([c.cell_contents for c in fn.__closure__ or ()]).encode())
        except ValueError:  # a cell not yet filled
            digest.update(b"empty cell")
    elif not path:
        return None
    return digest.hexdigest()


def _jsonable(value):
    if isinstance(value, frozenset):
        return {"any of": sorted((_jsonable(v) for v in value), key=repr)}
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def check_key(name, oracles, backward, held, where, device=None) -> tuple[dict, str]:
    """Everything that decides a row's verdict, and its digest (the device where one is asked for: a row from
    the CPU does not vouch for the GPU; without one the key is what it was before --device existed)."""
    from . import __version__

    backward_fn = load_backward(backward) if backward else None
    check = {"layer": name, "oracles": sorted(oracles), "backward": backward,  # their order decides no verdict
             "backward_sha256": source_digest(backward_fn) if backward_fn else None,
             "held": {k: _jsonable(v) for k, v in sorted(held.items())},
             "where": _label(where) if where else None, "where_sha256": source_digest(where) if where else None,
             "seeds": SEED_SCHEME, "gradcheck": __version__, **({"device": device} if device else {})}
    return check, hashlib.sha256(json.dumps(check, sort_keys=True).encode()).hexdigest()


def default_results(name: str, key: str) -> Path:
    """The default file name carries the key: another check writes another file."""
    return Path(f"sweep-{name}-{key[:12]}.jsonl")


# -- running one configuration (in a worker process) ---------------------------------------------------
def _data(case: Case):
    layer = make_layer(case.layer, **case.params)
    rng = np.random.default_rng(case.seed)
    inputs = [rng.integers(-3, 4, shape) for shape in case.shapes.values()]
    return layer, inputs, rng.integers(-3, 4, layer.output_shape(case.shapes))


def _named(fn, spec):
    """The user's backward labelled by its spec (module:function) in the rows' verdicts."""
    def backward(*args, **kwargs):
        return fn(*args, **kwargs)
    backward.__name__ = spec
    return backward


def run_case(case: Case, key: str, oracles, backward=None, device=None) -> dict:
    """Verify one case; the row written for it. OK only when every result ran and >= 2 were compared."""
    from .verify import verify

    start = time.perf_counter()
    row = {"key": key, "id": case.id, "seed": case.seed}
    try:
        layer, inputs, grad_out = _data(case)
        chosen = list(oracles) + ([backward] if backward else [])
        verdict = verify(layer, *inputs, grad_out=grad_out, oracles=chosen, device=device)
        ok = verdict.ok and len(verdict.gradients) >= 2
        row.update(status="ok" if ok else "failed", compared=len(verdict.gradients),
                   exact=not any(verdict.tolerances.values()))
        if any(d != "cpu" for d in verdict.devices.values()):  # which device computed (gpu, cpu fallback)
            row["devices"] = verdict.devices
        if not ok:
            row["verdict"] = str(verdict)
    except (Exception, SystemExit) as exc:  # a backward calling sys.exit is a failure of this row, not the sweep's
        row.update(status="failed", compared=0, exact=False, verdict=f"{type(exc).__name__}: {exc}")
    row["seconds"] = round(time.perf_counter() - start, 4)
    return row


def _worker(conn, key, oracles, backward, device):
    """A worker process: load once, then one case per message; ``None`` ends it."""
    # JAX on a GPU takes 75% of its memory per process by default: the second worker would find none left.
    # Set before JAX is imported here (spawned: nothing imported it yet); a user's own setting wins.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    try:
        fn = _named(load_backward(backward), backward) if backward else None
        from . import verify  # noqa: F401  (imported before 'ready', so the first case's clock is fair)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as one line
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            case = conn.recv()
        except EOFError:
            return
        if case is None:
            return
        conn.send(("row", run_case(case, key, oracles, fn, device)))


class _Pool:
    """Worker processes that can each be killed: a configuration past its timeout takes its worker with it
    (a thread or a pool's task cannot be stopped), and a worker that dies is noticed by its sentinel."""

    def __init__(self, jobs, key, oracles, backward, device=None):
        self.context = multiprocessing.get_context("spawn")  # JAX is not fork-safe
        self.args = (key, tuple(oracles), backward, device)
        self.workers = [self._start() for _ in range(jobs)]

    def _start(self):
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker, args=(child, *self.args), daemon=True)
        in_main = self._in_main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
        try:
            process.start()  # started with SIGINT ignored: Ctrl-C is the parent's to handle, in one line
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)
        child.close()
        # starting (importing gradcheck, the backward's module) gets its own allowance, beyond --timeout
        return {"process": process, "conn": parent, "ready": False, "case": None,
                "deadline": time.monotonic() + START_ALLOWANCE}

    @staticmethod
    def _in_main_thread():
        import threading
        return threading.current_thread() is threading.main_thread()

    def run(self, todo, timeout):
        """Yield one row per case, as they finish."""
        pending = deque(todo)
        while pending or any(w["case"] for w in self.workers):
            if pending and not self.workers:
                self.workers.append(self._start())
            for w in self.workers:
                if w["ready"] and w["case"] is None and pending:
                    w["case"], w["deadline"] = pending.popleft(), time.monotonic() + timeout
                    w["conn"].send(w["case"])
            deadlines = [w["deadline"] for w in self.workers if w["case"] or not w["ready"]]
            ready = wait([w["conn"] for w in self.workers] + [w["process"].sentinel for w in self.workers],
                         timeout=max(0.0, min(deadlines) - time.monotonic()) if deadlines else None)
            for i, w in enumerate(self.workers):
                lost = None
                if w["conn"] in ready:
                    try:
                        kind, payload = w["conn"].recv()
                    except (EOFError, OSError):  # the worker is gone; its exit code says how
                        kind, payload = "dead", None
                    if kind == "ready":
                        w["ready"] = True
                    elif kind == "error":
                        raise ConfigError(f"a sweep worker could not start: {payload}")
                    elif kind == "row":
                        w["case"] = None
                        yield payload
                    if kind != "dead":
                        continue
                if w["process"].sentinel in ready or not w["process"].is_alive():
                    code = self._exit_code(w["process"])
                    if not w["ready"]:
                        raise ConfigError(f"a sweep worker died while starting (exit code {code})")
                    if w["case"] is None:
                        self.workers[i] = self._start()
                        break
                    lost = self._lost(w, "crashed", f"the worker process died (exit code {code}) on this "
                                                    "configuration")
                elif not w["ready"] and time.monotonic() >= w["deadline"]:
                    raise ConfigError(f"a sweep worker did not start within {START_ALLOWANCE} s")
                elif w["case"] and time.monotonic() >= w["deadline"]:
                    lost = self._lost(w, "timeout", f"ran past the timeout of {timeout:g} s")
                if lost:  # a replacement only while work is left: starting one costs seconds
                    if pending:
                        self.workers[i] = self._start()
                    else:
                        del self.workers[i]
                    yield lost
                    break  # the list changed: look again

    @staticmethod
    def _exit_code(process):
        """A dying process closes its pipes before the kernel can report its exit code: wait a moment."""
        give_up = time.monotonic() + 5
        while process.exitcode is None and time.monotonic() < give_up:
            time.sleep(0.01)
        return process.exitcode

    def _lost(self, w, status, why):
        case = w["case"]
        self._stop(w)
        return _lost_row(self.args[0], case, status, why)

    @staticmethod
    def _stop(w):
        w["process"].kill()
        w["process"].join()
        w["conn"].close()

    def close(self):
        """Idle workers are asked to end; busy ones (Ctrl-C, an error) are killed: their rows are not needed."""
        for w in self.workers:
            if w["case"] is None and w["ready"]:
                try:
                    w["conn"].send(None)
                except OSError:
                    pass
        for w in self.workers:
            if w["case"] is None and w["ready"]:
                w["process"].join(timeout=5)
            self._stop(w)


def _lost_row(key, case, status, why) -> dict:
    """The row of a case that produced none: TIMEOUT or CRASHED (run again by a resumed sweep)."""
    return {"key": key, "id": case.id, "seed": case.seed, "status": status, "compared": 0,
            "exact": False, "verdict": f"{status.upper()}: {why}", "seconds": None}


# -- the same cases on a Dask distributed cluster (--scheduler) ---------------------------------------------
CONNECT_TIMEOUT = 10  # seconds to reach a Dask scheduler


def _check_address(scheduler) -> None:
    """A scheduler address is checked before a Client is made from it: a half-made Client stalls the
    interpreter's exit for a minute."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        parse_host_port(parse_address(str(scheduler))[1])
    except ValueError as exc:
        raise ConfigError(f"--scheduler {scheduler!r} is not allowed ({exc}): give 'local' or a running Dask "
                          "scheduler's address, e.g. tcp://10.0.0.5:8786") from None


def _dask_case(case, key, oracles, backward, device):
    """One case on a Dask worker; the backward is imported once per worker process (cached)."""
    return run_case(case, key, oracles, _dask_backward(backward) if backward else None, device)


@functools.lru_cache(maxsize=None)
def _dask_backward(spec):
    return _named(load_backward(spec), spec)


def _dask_warm(ignore_sigint: bool):
    from . import verify  # noqa: F401  (imported before the first case, so that its clock is fair)
    import threading
    if ignore_sigint and threading.current_thread() is threading.main_thread():
        # a LocalCluster's worker processes share the terminal: Ctrl-C is the sweep's to handle, in one line
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class _DaskPool:
    """Cases run as Dask tasks, no more in flight than the cluster has worker threads, so that a case's clock
    (from submission) is its own. ``scheduler``: "local" (a LocalCluster in this process, ``jobs`` worker
    processes of one thread), a scheduler address, or a ``distributed.Client``. A case past the timeout is a
    TIMEOUT row and its worker is restarted (where the cluster has nannies; otherwise that thread is left to it);
    a case whose workers died (Dask's KilledWorker, after its retries) is a CRASHED row."""

    def __init__(self, scheduler, jobs, key, oracles, backward, device=None):
        try:
            import distributed
        except ImportError:
            raise ConfigError("--scheduler needs the 'distributed' package (pip install 'gradcheck[dask]')") from None
        self.args, self.cluster, self.own_client = (key, tuple(oracles), backward, device), None, False
        if isinstance(scheduler, distributed.Client):
            self.client = scheduler
        else:
            import logging
            if scheduler != "local":
                _check_address(scheduler)
            try:
                if scheduler == "local":
                    self.cluster = distributed.LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                            dashboard_address=None, silence_logs=logging.ERROR)
                self.client = distributed.Client(self.cluster or scheduler, timeout=CONNECT_TIMEOUT,
                                                 set_as_default=False)
                self.own_client = True
            except (OSError, TimeoutError, ValueError, TypeError) as exc:
                self.close()
                raise ConfigError(f"--scheduler {scheduler!r}: no Dask scheduler could be reached there "
                                  f"({type(exc).__name__}: {exc}); give 'local' or a running scheduler's address, "
                                  "e.g. tcp://10.0.0.5:8786") from None
        self.local = scheduler == "local"
        try:
            self.client.run(_dask_warm, self.local)
        except Exception as exc:
            self.close()
            raise ConfigError(f"a Dask worker could not import gradcheck: {type(exc).__name__}: {exc}") from None
        self.slots = sum(self.client.nthreads().values())
        if self.slots < 1:
            self.close()
            raise ConfigError(f"--scheduler {scheduler!r}: the cluster has no workers; start some with "
                              "'dask worker ADDRESS'")
        self.running, self.stuck, self.looked = {}, 0, 0.0

    def run(self, todo, timeout):
        """Yield one row per case, as they finish (the same rows as _Pool.run)."""
        from distributed import KilledWorker

        pending = deque(todo)
        while pending or self.running:
            self._count_stuck()
            while pending and len(self.running) < self.slots - self.stuck:
                case = pending.popleft()
                future = self.client.submit(_dask_case, case, *self.args, pure=False)
                self.running[future] = (case, time.monotonic() + timeout)
            finished = [f for f in self.running if f.done()]
            if not finished:
                time.sleep(0.02)
            for future in finished:
                case, _ = self.running.pop(future)
                if future.status == "finished":
                    yield future.result()
                    continue
                exc = future.exception() if future.status == "error" else None
                if isinstance(exc, KilledWorker):
                    yield _lost_row(self.args[0], case, "crashed", "its Dask workers died on this configuration")
                    continue
                raise ConfigError(f"a Dask worker could not run {case.id}: {type(exc).__name__}: {exc}")
            now = time.monotonic()
            for future, (case, deadline) in list(self.running.items()):
                if now >= deadline:
                    del self.running[future]
                    self._abandon(future)
                    yield _lost_row(self.args[0], case, "timeout", f"ran past the timeout of {timeout:g} s")

    def _abandon(self, future):
        """Cancel a case past its timeout; a running task cannot be interrupted, so its worker is restarted."""
        busy = [w for w, keys in self.client.processing().items() if future.key in keys]
        future.cancel()
        try:
            self.client.restart_workers(busy)
        except Exception:  # no nanny (worker threads in this process): the thread stays with the case until it ends
            self.stuck += len(busy)
            return
        self.client.run(_dask_warm, self.local)  # the restarted worker has a new address; the others import nothing new

    def _count_stuck(self):
        """Threads still running abandoned cases: none are handed new cases (whose clocks would run while they
        wait) until the workers say those threads are free again (looked up at most twice a second)."""
        if not self.stuck or time.monotonic() - self.looked < 0.5:
            return
        self.looked = time.monotonic()
        executing = sum(self.client.run(lambda dask_worker: len(dask_worker.state.executing)).values())
        self.stuck = min(self.stuck, max(0, executing - len(self.running)))

    def close(self):
        """Cases still in flight (Ctrl-C, an error) are cancelled; a client and cluster started here end."""
        client = getattr(self, "client", None)
        if client is not None and getattr(self, "running", None):
            client.cancel(list(self.running))
        if client is not None and self.own_client:
            client.close()
        if self.cluster is not None:
            self.cluster.close()


# -- the results file ----------------------------------------------------------------------------------
ROW_FIELDS = {"key": str, "id": str, "seed": int, "status": str, "compared": int, "exact": bool}


def _open_results(path: Path):
    """Open for reading and appending, locked; every way it can fail is one ConfigError."""
    writable(path)
    where = f"--results {str(path)!r}"
    try:
        handle = open(path, "a+b")
    except OSError as exc:
        raise ConfigError(f"{where} cannot be written: {exc.strerror or exc}") from None
    if fcntl is not None:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise ConfigError(f"{where} is in use by another gradcheck sweep (it is locked); wait for that one "
                              "or give another --results") from None
    return handle


def _read_results(handle, path: Path, check: dict, key: str) -> dict[str, dict]:
    """The rows of this check. A line cut short at the end (an interrupted write) is cut off and its
    configuration runs again; anything else that is not a row of this check is refused, and a file that is
    not this check's is refused before anything in it is touched."""
    where = f"--results {str(path)!r}"
    handle.seek(0)
    data = handle.read()
    complete = data[:data.rfind(b"\n") + 1]
    lines = complete.decode("utf-8", errors="replace").splitlines()
    if not lines:
        if data and not data.startswith(b'{"gradcheck sweep": '):
            raise ConfigError(f"{where} is not a gradcheck sweep results file (line 1); give another --results "
                              "or remove it")
        handle.truncate(0)  # empty, or our own header cut short
        handle.write((json.dumps({"gradcheck sweep": check, "key": key}) + "\n").encode())
        handle.flush()
        return {}
    try:
        header = json.loads(lines[0])
        theirs = header["gradcheck sweep"]
        if not isinstance(theirs, dict) or not isinstance(header["key"], str):
            raise TypeError  # the same refusal as unparsable JSON, below
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{where} is not a gradcheck sweep results file (line 1); give another --results "
                          "or remove it") from None
    if header["key"] != key:
        differ = [k for k in sorted(set(check) | set(theirs)) if check.get(k) != theirs.get(k)] or ["key"]
        first = differ[0]
        raise ConfigError(f"{where} holds the results of a different check ({first}: {theirs.get(first)!r} there, "
                          f"{check.get(first)!r} here); give another --results or remove it")
    done = {}
    for number, line in enumerate(lines[1:], start=2):
        why = _bad_row(line, key)
        if why:
            raise ConfigError(f"{where} line {number} is not a row of this sweep ({why}); it was edited or "
                              "written by something else: remove it or give another --results")
        row = json.loads(line)
        done[row["id"]] = row
    if len(complete) < len(data):
        handle.truncate(len(complete))
    return done


def _bad_row(line: str, key: str) -> str | None:
    try:
        row = json.loads(line)
    except ValueError:
        return "not JSON"
    if not isinstance(row, dict):
        return "not a JSON object"
    bad = [f for f, t in ROW_FIELDS.items() if not isinstance(row.get(f), t)]
    if bad:
        return f"bad {bad[0]}"
    if row["key"] != key:
        return "another key"
    if row["status"] not in ("ok", "failed", *RERUN):
        return f"unknown status {row['status']!r}"
    if row["status"] == "ok" and row["compared"] < 2:  # an OK vouches for at least two results compared
        return "ok with fewer than two results compared"
    return None


def _append(handle, path, row):
    try:
        handle.write((json.dumps(row) + "\n").encode())
        handle.flush()
    except OSError as exc:
        raise ConfigError(f"--results {str(path)!r} could not be written: {exc.strerror or exc}") from None


# -- the sweep ---------------------------------------------------------------------------------------
def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def sweep(name: str, *, oracles, results: Path | str | None = None, jobs: int = 1, backward: str | None = None,
          held: dict | None = None, where=None, timeout: float = DEFAULT_TIMEOUT, progress: bool = True,
          device: str | None = None, scheduler=None, **bounds) -> Outcome:
    """Run every configuration in scope that ``results`` does not already hold for this check.

    ``oracles`` are names; ``backward`` a ``module:function`` (imported in each worker); ``held`` maps
    parameters to a value or a frozenset of allowed values; ``where`` is ``fn(layer, shapes) -> bool`` or a
    ``module:function``. ``device`` ("cpu", "gpu", "tpu"; None: JAX's default backend) is where the jax oracle
    computes, in every worker. ``jobs`` is capped at the cores. ``scheduler``: None (the local process pool),
    "local" (a Dask LocalCluster of ``jobs`` workers), a Dask scheduler's address or a ``distributed.Client``;
    the backward's module must be importable where the workers run. Raises ConfigError on anything wrong before a
    configuration runs, and :class:`Interrupted` on Ctrl-C (finished rows stay in the file).
    """
    oracles = list(oracles)
    duplicated = sorted({o for o in oracles if oracles.count(o) > 1})
    if duplicated:
        raise ConfigError(f"--oracles names {duplicated[0]} twice: a result compared with itself proves nothing")
    if len(oracles) + bool(backward) < 2:
        given = ", ".join(oracles + ([backward] if backward else [])) or "nothing"
        raise ConfigError(f"a sweep compares at least two results; --oracles and --backward give {given}")
    from . import oracles as oracle_registry
    for o in oracles:
        oracle_registry.get(o)
    if device is not None:  # JAX lacks it, or no oracle uses JAX: refused here, not once per worker
        from .oracles.jax_oracle import resolve_device as jax_device
        from .verify import resolve_device
        if backward:  # the user's backward may be JAX code
            jax_device(device)
        else:
            resolve_device(device, [oracle_registry.get(o) for o in oracles])
    if not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
        raise ConfigError(f"--timeout {timeout!r} is not allowed: it must be a number of seconds > 0")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs {jobs!r} is not allowed: it must be >= 1")
    if isinstance(where, str):
        spec, where = where, load_function(where, "--where")
        SPECS[id(where)] = spec
    held = dict(held or {})
    check, key = check_key(name, oracles, backward, held, where, device)
    results = Path(results) if results is not None else default_results(name, key)
    writable(results)  # a folder, a device (/dev/zero), a missing folder: refused before anything is enumerated
    all_cases = cases(name, held=held, where=where, **bounds)
    handle = _open_results(results)
    try:
        done = _read_results(handle, results, check, key)
        todo = [c for c in all_cases if c.id not in done or done[c.id]["status"] in RERUN]
        start = time.perf_counter()
        bar = _progress(len(all_cases), len(all_cases) - len(todo), progress)
        ran = 0
        try:
            if todo:
                workers = min(jobs, cores(), len(todo))
                pool = (_Pool(workers, key, oracles, backward, device) if scheduler is None else
                        _DaskPool(scheduler, workers, key, oracles, backward, device))
                try:
                    for row in pool.run(todo, timeout):
                        _append(handle, results, row)
                        done[row["id"]] = row
                        ran += 1
                        bar.update(1)
                        if row["status"] != "ok":
                            bar.set_postfix_str(f"{row['status'].upper()} {row['id']}", refresh=False)
                finally:
                    pool.close()
        except KeyboardInterrupt:
            finished = sum(c.id in done and done[c.id]["status"] not in RERUN for c in all_cases)
            raise Interrupted(finished, len(all_cases), results) from None
        finally:
            bar.close()
    finally:
        handle.close()  # releases the lock
    ordered = {c.id: done[c.id] for c in all_cases}
    return Outcome(ordered, ran, time.perf_counter() - start, key, check, results)


def _progress(total, already, enabled):
    from tqdm import tqdm
    return tqdm(total=total, initial=already, unit="config", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True)
