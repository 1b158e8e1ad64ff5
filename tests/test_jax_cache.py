"""The persistent cache of the jax oracle's compiled programs (gradcheck.oracles.jax_cache)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.oracles import jax_cache, jax_oracle

pytest.importorskip("jax")


def _check(side: int):
    """A verify whose JAX program no other test compiles (its own side), with the in-memory cache bypassed."""
    layer = gc.layer("conv2d", stride=3, dilation=2, padding=1)
    x, w = np.arange(side * 7).reshape(1, 1, side, 7) % 5 - 2, np.array([[[[1, -1], [2, 0]]]])
    for key in [k for k in jax_oracle._COMPILED if k[0] == layer.key]:
        del jax_oracle._COMPILED[key]
    return gc.verify(layer, x, w, oracles=("numpy", "jax"))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADCHECK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("GRADCHECK_JAX_CACHE", raising=False)
    return tmp_path / "jax"


def _entries(folder):
    return sorted(folder.glob("*.bin")) if folder.exists() else []


def test_a_fresh_process_loads_what_an_earlier_one_compiled(cache_dir):
    import jax

    before = dict(jax_cache.stats)
    assert _check(11).ok
    assert jax_cache.stats["stored"] == before["stored"] + 1 and len(_entries(cache_dir)) == 1
    assert oct(cache_dir.stat().st_mode & 0o777) == "0o700"
    script = ("import json, numpy as np, gradcheck as gc; from gradcheck.oracles import jax_cache; "
              "import tests.test_jax_cache as t; v = t._check(11); "
              "print(json.dumps({'ok': v.ok, **jax_cache.stats}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), cwd=os.getcwd())
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"ok": True, "hits": 1, "misses": 0, "stored": 0, "corrupt": 0}, done.stderr[-2000:]
    # nothing of JAX's own global state was touched: its process-wide persistent cache stays off
    assert jax.config.jax_compilation_cache_dir is None


def test_opting_out_writes_nothing(cache_dir, monkeypatch):
    monkeypatch.setenv("GRADCHECK_JAX_CACHE", "0")
    before = dict(jax_cache.stats)
    assert _check(12).ok
    assert _entries(cache_dir) == [] and jax_cache.stats == before


@pytest.mark.parametrize("damage", [
    lambda data: data[: len(data) // 2],                         # truncated
    lambda data: data[:-10] + bytes(10),                         # bytes overwritten
    lambda data: b"not an entry at all",
])
def test_a_corrupt_entry_is_ignored_and_replaced(cache_dir, damage):
    assert _check(13).ok
    [entry] = _entries(cache_dir)
    entry.write_bytes(damage(entry.read_bytes()))
    before = dict(jax_cache.stats)
    assert _check(13).ok                                         # compiled again, the same verdict
    assert jax_cache.stats["corrupt"] == before["corrupt"] + 1 and jax_cache.stats["stored"] == before["stored"] + 1
    assert _check(13).ok and jax_cache.stats["hits"] == before["hits"] + 1   # the rewritten entry loads


def test_the_folder_is_bounded(cache_dir, monkeypatch):
    monkeypatch.setenv("GRADCHECK_JAX_CACHE_BYTES", "1")
    assert _check(14).ok and _check(15).ok
    assert len(_entries(cache_dir)) <= 1
