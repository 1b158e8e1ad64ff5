"""gradcheck sweep --scheduler: the same cases, rows and results-file rules on a Dask distributed cluster."""
import json
import sys

import pytest

distributed = pytest.importorskip("distributed")

from gradcheck import cli  # noqa: E402
from gradcheck.errors import ConfigError  # noqa: E402
from gradcheck.sweep import sweep  # noqa: E402

TINY = dict(max_side=1, max_kernel=1, max_stride=1, max_dilation=1, max_padding=0)  # 9 configurations
ORACLES = ("numpy", "jax")


@pytest.fixture(scope="module")
def client():
    """Two single-threaded workers in this process: cheap to start, the same scheduling as a real cluster."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as lc, \
            distributed.Client(lc, set_as_default=False) as c:
        yield c


def _rows(path):
    lines = path.read_text().splitlines()
    return json.loads(lines[0]), {r["id"]: {k: v for k, v in r.items() if k != "seconds"}
                                  for r in map(json.loads, lines[1:])}


def test_dask_rows_equal_the_local_pool_rows_and_resume_each_other(tmp_path, client):
    local, dask = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    by_pool = sweep("conv2d", oracles=ORACLES, results=local, jobs=1, progress=False, **TINY)
    by_dask = sweep("conv2d", oracles=ORACLES, results=dask, scheduler=client, progress=False, **TINY)
    assert by_dask.ran == by_pool.ran == 9 and by_dask.key == by_pool.key
    assert _rows(local) == _rows(dask)  # the same header (key) and the same rows, but for their timings
    assert all(r["status"] == "ok" and r["compared"] == 2 for r in _rows(dask)[1].values())
    # a file the local pool started is finished on the cluster, and nothing it holds runs again
    lines = local.read_text().splitlines()
    local.write_text("\n".join(lines[:5]) + "\n")
    resumed = sweep("conv2d", oracles=ORACLES, results=local, scheduler=client, progress=False, **TINY)
    assert (resumed.earlier, resumed.ran) == (4, 5) and _rows(local) == _rows(dask)


SLOW = "import time\nfrom gradcheck import layer\ndef backward(g, *a, **p):\n    time.sleep(1)\n" \
       "    return layer('conv2d', **p).backward(g, *a)\n"


def test_a_case_past_the_timeout_is_a_timeout_row_rerun_on_resume(tmp_path, client, monkeypatch):
    (tmp_path / "slow_dask_backward.py").write_text(SLOW)
    monkeypatch.syspath_prepend(str(tmp_path))  # the workers are threads of this process: the same sys.path
    results = tmp_path / "r.jsonl"
    outcome = sweep("conv2d", oracles=("numpy",), backward="slow_dask_backward:backward", results=results,
                    scheduler=client, timeout=0.3, progress=False, max_side=1, max_kernel=1, max_stride=1,
                    max_dilation=1, max_padding=0, held={"groups": 1, "padding": 0})
    rows = list(outcome.rows.values())
    assert len(rows) == 2 and all(r["status"] == "timeout" and r["compared"] == 0 for r in rows)
    assert "TIMEOUT: ran past the timeout of 0.3 s" in rows[0]["verdict"]
    # the same check, given time: TIMEOUT rows say nothing about the gradients and run again
    again = sweep("conv2d", oracles=("numpy",), backward="slow_dask_backward:backward", results=results,
                  scheduler=client, timeout=60, progress=False, max_side=1, max_kernel=1, max_stride=1,
                  max_dilation=1, max_padding=0, held={"groups": 1, "padding": 0})
    assert again.ran == 2 and all(r["status"] == "ok" for r in again.rows.values())


@pytest.mark.parametrize("argv, message", [
    (["--scheduler", "not-an-address"], "--scheduler 'not-an-address' is not allowed (missing port number"),
    (["--scheduler", "tcp://127.0.0.1:8786", "--jobs", "2"], "--jobs does not apply to --scheduler"),
])
def test_bad_scheduler_arguments_are_one_line(tmp_path, capsys, argv, message):
    code = cli.main(["sweep", "conv2d", "--max-side", "1", "--results", str(tmp_path / "r.jsonl"), "--no-progress",
                     *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err


def test_without_distributed_the_error_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ConfigError, match=r"--scheduler needs the 'distributed' package \(pip install "
                                          r"'gradcheck\[dask\]'\)"):
        sweep("conv2d", oracles=ORACLES, results=tmp_path / "r.jsonl", scheduler="local", progress=False, **TINY)
