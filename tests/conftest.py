"""Hypothesis profiles: 'ci' (the default) is derandomized, so every run draws the same examples.

Broader, random exploration: HYPOTHESIS_PROFILE=explore pytest, or the `gradcheck verify` command.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, deadline=None, database=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                          print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=500,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# -- the `gpu` marker (pyproject.toml): such a test runs only where JAX sees a GPU, and skips in one line elsewhere --
_NO_GPU = pytest.StashKey[object]()


def _why_no_gpu(config):
    """None where JAX sees a GPU, else the reason (asked once per session, and only if a gpu test runs)."""
    if _NO_GPU not in config.stash:
        try:
            import jax
            jax.devices("gpu")
            config.stash[_NO_GPU] = None
        except Exception as exc:  # noqa: BLE001 - "Unknown backend", a plugin that fails to load: no GPU either way
            config.stash[_NO_GPU] = f"no GPU: {' '.join(str(exc).split())[:120]}"
    return config.stash[_NO_GPU]


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") is not None and (why := _why_no_gpu(item.config)):
        pytest.skip(why)


# -- `gradcheck report --all`, in another process from the start ----------------------------------------------
# The costliest single command of the suite (every report, every figure as SVG and PDF). When a collected test
# asks for it (the `all_reports` fixture), it starts as soon as collection ends, in another process: pytest
# itself runs on one core, so on two cores it is done by the time tests/test_report.py needs it.
ROOT = Path(__file__).resolve().parent.parent
_ALL_REPORTS = pytest.StashKey[tuple]()


def _start_all_reports(config):
    out = Path(tempfile.mkdtemp(prefix="gradcheck-all-reports-"))
    # --all reads cases/ relative to the project root, as the refresh command does; another hash seed than this
    # process's, so dict/set order leaking into a report shows up in test_same_command_same_bytes_in_another_process
    proc = subprocess.Popen([sys.executable, "-m", "gradcheck.cli", "report", "--all", "--out", str(out)], cwd=ROOT,
                            env={**os.environ, "PYTHONHASHSEED": "12345"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    config.stash[_ALL_REPORTS] = (proc, out)
    return proc, out


def pytest_collection_finish(session):
    # Under pytest-xdist (-n 2) every worker collects every test, and the cores are busy with tests anyway:
    # there the fixture starts the command when a worker first needs it.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if any("all_reports" in getattr(item, "fixturenames", ()) for item in session.items):
        _start_all_reports(session.config)


def pytest_unconfigure(config):
    proc, out = config.stash.get(_ALL_REPORTS, (None, None))
    if proc is not None:
        if proc.poll() is None:  # the run stopped early (-x, ^C): do not leave it behind
            proc.kill()
        proc.wait()
        shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="session")
def all_reports(pytestconfig):
    """The folder `gradcheck report --all` wrote, in another process (started after collection)."""
    proc, out = pytestconfig.stash.get(_ALL_REPORTS, None) or _start_all_reports(pytestconfig)
    _, err = proc.communicate()
    assert proc.returncode == 0, f"gradcheck report --all failed:\n{err}"
    return out
