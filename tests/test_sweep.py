"""gradcheck sweep: exhaustive within bounds, resumable only by the same check, parallel, bounded in time,
and able to sweep a user's backward over a declared scope."""
import fcntl
import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gradcheck as gc
from gradcheck import cli
from gradcheck.errors import ConfigError
from gradcheck.sweep import cases

SMALL = ["--max-side", "3", "--max-kernel", "2", "--max-stride", "2", "--max-dilation", "1", "--max-padding", "1"]
TINY = ["--max-side", "1", "--max-kernel", "1", "--max-stride", "1", "--max-dilation", "1", "--max-padding", "0"]
ORACLES = ["--oracles", "numpy,sympy"]


def run(capsys, *argv):
    code = cli.main(["sweep", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def module(tmp_path, name, source):
    (tmp_path / f"{name}.py").write_text(source)
    return name


ZEROS = "import numpy as np\ndef backward(g, *inputs, **p):\n    return tuple(np.zeros_like(a) for a in inputs)\n"
RIGHT = ("import gradcheck as gc\ndef backward(g, *inputs, **p):\n"
         "    return gc.layer('conv2d', **p).backward(g, *inputs)  # the textbook rule, a longer source\n")


def test_enumeration_is_exhaustive_and_stable():
    found = cases("conv2d", max_side=3, max_kernel=2, max_stride=2, max_dilation=1, max_padding=1)
    ids = [c.id for c in found]
    assert len(ids) == len(set(ids))
    # 3 sides x 2 kernels x 2 strides x 4 paddings (0, 1, same, valid) x 3 channel layouts, minus kernels
    # that do not fit (side 1, kernel 2, padding 0/valid: 2 strides x 2 paddings x 3 layouts)
    assert len(found) == 3 * 2 * 2 * 4 * 3 - 2 * 2 * 3
    assert ids == [c.id for c in cases("conv2d", max_side=3, max_kernel=2, max_stride=2, max_dilation=1,
                                       max_padding=1)]
    # a configuration's data depend on its id only, not on the bounds that enumerated it
    assert {c.id: c.seed for c in found}.items() >= {c.id: c.seed for c in cases("conv2d", max_side=1)
                                                     if c.id in ids}.items()


def test_sweep_reports_resumes_and_repairs_a_torn_line(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    argv = ["conv2d", *TINY, "--max-stride", "2", "--results", str(results), "--no-progress", *ORACLES]
    code, out, _ = run(capsys, *argv, "--jobs", "64")
    assert code == 0, out
    assert "gradcheck sweep conv2d: 18 configurations" in out and "0 from earlier runs, 18 run now" in out
    assert f"(--jobs 64 capped at the {len(os.sched_getaffinity(0))} cores)" in out
    assert "stride=2" in out and "OK: all oracles agree exactly on all 18 configurations" in out
    lines = results.read_text().splitlines()  # a header, then one row per configuration
    results.write_text("\n".join(lines[:13]) + "\n" + lines[13][:10])  # as if interrupted mid-write
    code, out, _ = run(capsys, *argv, "--jobs", "1")
    assert code == 0 and "12 from earlier runs, 6 run now" in out
    assert "(12 of them from earlier runs of this same check)" in out
    rows = [json.loads(line) for line in results.read_text().splitlines()[1:]]
    assert len(rows) == 18 and all(r["status"] == "ok" and r["compared"] == 2 for r in rows)


def test_a_different_backward_is_a_different_check(tmp_path, capsys, monkeypatch):
    """Issue 11: a zeros backward resumed from the oracles' rows printed OK without running anything."""
    monkeypatch.chdir(tmp_path)
    module(tmp_path, "zeros_at_resume", ZEROS)
    argv = ["conv2d", *TINY, "--jobs", "1", "--no-progress", *ORACLES]
    assert run(capsys, *argv, "--results", "r.jsonl")[0] == 0
    code, _, err = run(capsys, *argv, "--results", "r.jsonl", "--backward", "zeros_at_resume:backward")
    assert code == 2 and err.count("\n") == 1
    assert "holds the results of a different check (backward: None there, 'zeros_at_resume:backward' here)" in err
    code, out, _ = run(capsys, *argv, "--backward", "zeros_at_resume:backward")  # default file: its own
    assert code == 1 and "0 from earlier runs, 9 run now" in out and "FAILED: 9 of 9 configurations" in out


def test_a_fixed_backward_does_not_inherit_stale_failures(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = module(tmp_path, "fixed_later", ZEROS)
    argv = ["conv2d", *TINY, "--jobs", "1", "--no-progress", "--oracles", "numpy", "--backward", f"{name}:backward"]
    code, out, _ = run(capsys, *argv)
    assert code == 1 and "FAILED: 9 of 9" in out
    module(tmp_path, name, RIGHT)  # the fix: another source, so another key and another default file
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "0 from earlier runs, 9 run now" in out and "OK: all oracles agree exactly on all 9" in out
    assert len(list(tmp_path.glob("sweep-conv2d-*.jsonl"))) == 2


def test_rows_that_say_nothing_are_reported_and_run_again(tmp_path, capsys, monkeypatch):
    """A hung backward is a TIMEOUT row, one that kills its process a CRASHED row, one that calls sys.exit a
    FAILED row; none is OK, and the first two run again on resume (they are no verdict on the gradients)."""
    monkeypatch.chdir(tmp_path)
    module(tmp_path, "misbehaves", "import os, sys, time\nimport gradcheck as gc\n"
                                   "def backward(g, x, w, b, **p):\n    if x.shape[1] == 1:\n"
                                   "        if p['padding'] == 'same':\n            time.sleep(60)\n"
                                   "        if p['padding'] == 'valid':\n            os._exit(3)\n"
                                   "        sys.exit('no')\n"
                                   "    return gc.layer('conv2d', **p).backward(g, x, w, b)\n")
    argv = ["conv2d", *TINY, "--jobs", "2", "--no-progress", "--oracles", "numpy", "--backward",  # numpy: ms
            "misbehaves:backward", "--groups", "1", "--timeout", "2", "--results", "r.jsonl"]
    start = time.perf_counter()
    code, out, _ = run(capsys, *argv)
    assert time.perf_counter() - start < 45  # the hung backward sleeps 60 s; a loaded machine starts workers slowly
    assert code == 1
    assert "CRASHED: 1 of 6 configurations killed their worker" in out and "exit code 3" in out
    assert "FAILED: 1 of 6 configurations disagree" in out and "SystemExit: no" in out
    assert "TIMEOUT: 1 of 6 configurations ran past --timeout" in out and "timeout of 2 s" in out
    code, out, _ = run(capsys, *argv)
    assert code == 1 and "4 from earlier runs, 2 run now" in out


def test_bad_rows_and_a_second_sweep_on_one_file_are_refused(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    argv = ["conv2d", *TINY, "--jobs", "1", "--no-progress", *ORACLES, "--results", str(results)]
    assert run(capsys, *argv)[0] == 0
    lines = results.read_text().splitlines()
    with open(results, "a") as other:  # another sweep holds the lock
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        code, _, err = run(capsys, *argv)
    assert code == 2 and "is in use by another gradcheck sweep (it is locked)" in err
    for bad, message in [(lines[:3] + ["{not json"] + lines[3:], "line 4 is not a row of this sweep (not JSON)"),
                         (lines[:2] + [lines[2].replace('"ok"', '"great"')],
                          "line 3 is not a row of this sweep (unknown status 'great')"),
                         (lines[:2] + [json.dumps({**json.loads(lines[2]), "seed": "7"})], "(bad seed)"),
                         (lines[:2] + [json.dumps({**json.loads(lines[2]), "compared": 1})], "fewer than two"),
                         (lines[:2] + ["[1]"], "(not a JSON object)"),
                         (["a user's notes, no newline at the end"], "is not a gradcheck sweep results file"),
                         (lines[1:], "is not a gradcheck sweep results file (line 1)")]:
        text = "\n".join(bad) + ("\n" if len(bad) > 1 else "")
        results.write_text(text)
        code, _, err = run(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and message in err, err
        assert results.read_text() == text  # a refused file is left as it was


BAD = [  # (arguments after 'sweep', the message); each: exit 2, one line, before anything runs
    (["conv2d", "--oracles", "numpy"], "a sweep compares at least two results; --oracles and --backward give numpy"),
    (["conv2d", "--oracles", ",", "--backward", "mod_ok:backward"], "--backward give mod_ok:backward"),
    (["conv2d", "--oracles", "numpy,numpy"], "--oracles names numpy twice"),
    (["conv2d", "--oracles", "numpy,torch"], "unknown oracle 'torch' in --oracles"),
    (["conv2d", "--max-side", "1000000"], "--max-side 1000000 is not allowed: it must be 1..64"),
    (["conv2d", "--max-side", "64", "--max-kernel", "64", "--max-stride", "64"],
     "give more than 20,000 conv2d configurations; lower the bounds"),
    (["conv2d", "--max-side", "0"], "--max-side 0 is not allowed"),
    (["conv2d", "--max-padding", "-1"], "--max-padding -1 is not allowed: it must be 0..64"),
    (["conv2d", "--jobs", "0"], "--jobs 0 is not allowed"),
    (["conv2d", "--timeout", "0"], "--timeout 0.0 is not allowed"),
    (["conv2d", "--timeout", "nan"], "--timeout nan is not allowed"),
    (["relu6"], "no sweep space for layer 'relu6'"),
    (["conv2d", "--results", "/dev/zero"], "cannot write /dev/zero: it is not a regular file"),
    (["conv2d", "--results", "/dev/full"], "cannot write /dev/full: it is not a regular file"),
    (["conv2d", "--results", "."], "cannot write .: it is a folder"),
    (["conv2d", "--results", "missing/r.jsonl"], "the folder missing does not exist"),
    (["conv2d", "--results", "mod_ok.py/r.jsonl"], "cannot write mod_ok.py/r.jsonl: Not a directory"),
    (["conv2d", "--results", "/proc/r.jsonl"], "--results '/proc/r.jsonl' cannot be written"),
    (["conv2d", "--backward", "nomodule"], "give it as module:function"),
    (["conv2d", "--backward", "no_such_module:f"], "could not be loaded: ModuleNotFoundError"),
    (["conv2d", "--backward", "mod_exits:backward"], "could not be loaded: SystemExit: 3"),
    (["conv2d", "--backward", "mod_syntax:backward"], "could not be loaded: SyntaxError"),
    (["conv2d", "--backward", "mod_ok:VALUE"], "is not a function: it is int"),
    (["conv2d", "--where", "mod_ok:raises"], "--where mod_ok:raises raised ZeroDivisionError"),
    (["conv2d", "--where", "mod_ok:says_yes"], "returned 'yes'"),
    (["conv2d", "--where", "mod_ok:never"], "no conv2d configuration within the bounds is in scope (--where"),
    (["conv2d", "--stride", "0"], "no conv2d configuration within the bounds is in scope (stride = 0); conv2d says:"
                                  " stride=0 is not allowed"),
    (["conv2d", "--stride", "5", "--stride", "4"], "is in scope (stride in {4, 5})"),
    (["conv2d", "--kernel-size", "2"], "conv2d has no parameter 'kernel_size'"),
    (["conv2d", "--stride"], "layer parameter --stride needs a value"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_sweeps_are_one_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module(tmp_path, "mod_ok", "VALUE = 3\ndef backward(g, *inputs, **p):\n    return inputs\n"
                               "def raises(layer, shapes):\n    return 1 / 0\n"
                               "def says_yes(layer, shapes):\n    return 'yes'\n"
                               "def never(layer, shapes):\n    return False\n")
    module(tmp_path, "mod_exits", "raise SystemExit(3)\n")
    module(tmp_path, "mod_syntax", "def backward(:\n")
    start = time.perf_counter()
    code, out, err = run(capsys, *argv, "--no-progress")
    assert time.perf_counter() - start < 3
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("gradcheck: error: "), err
    assert message in err, err
    assert not list(tmp_path.glob("*.jsonl"))


def test_held_parameters_and_sets_are_compared_after_normalisation():
    bounds = dict(max_side=3, max_kernel=2, max_stride=2, max_dilation=2, max_padding=1)
    every = cases("conv2d", **bounds)
    layers = {c.id: gc.layer("conv2d", **c.params) for c in every}
    held = cases("conv2d", held={"stride": 2, "padding": frozenset({0, "same"})}, **bounds)
    assert {c.id for c in held} == {i for i, l in layers.items() if l.params["stride"] == (2, 2)
                                    and l.params["padding"] in ((0, 0), "same")}
    assert {c.params["padding"] for c in held} == {0, "same"}
    # (2, 2) is the layer's own form of dilation 2, (0, 0) of padding 0
    assert {c.params["dilation"] for c in cases("conv2d", held={"dilation": (2, 2)}, **bounds)} == {2}
    assert {c.params["padding"] for c in cases("conv2d", held={"padding": (0, 0)}, **bounds)} == {0}
    # a parameter the space does not enumerate is set, once per allowed value
    pools = cases("avg_pool2d", max_side=2, held={"divisor_override": frozenset({1, 3})})
    assert {c.params["divisor_override"] for c in pools} == {1, 3}
    assert len(pools) == 2 * len(cases("avg_pool2d", max_side=2))
    with pytest.raises(ConfigError, match="in scope"):
        cases("conv2d", held={"stride": 3}, **bounds)


def test_held_flags_repeated_are_a_set():
    assert cli._held_params(["--padding", "0", "--padding", "1", "--dilation", "2,1", "--stride=2"]) == {
        "padding": frozenset({0, 1}), "dilation": (2, 1), "stride": 2}
    assert cli._held_params(["--dilation", "2,1", "--dilation", "1"]) == {"dilation": frozenset({(2, 1), 1})}


def test_scope_from_the_command_line_and_in_the_key(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module(tmp_path, "scope_bias", "def single_channel(layer, shapes):\n    return shapes['x'][1] == 1\n")
    argv = ["conv2d", "--max-side", "2", "--max-kernel", "1", "--max-dilation", "1", "--max-padding", "0",
            "--jobs", "1", "--no-progress", *ORACLES, "--stride", "2", "--stride", "1", "--padding", "valid",
            "--where", "scope_bias:single_channel"]
    code, out, _ = run(capsys, *argv, "--results", "r.jsonl")
    assert code == 0 and "OK: all oracles agree exactly on all 4 configurations" in out  # 2 sides x 2 strides
    ids = [json.loads(line).get("id") for line in Path("r.jsonl").read_text().splitlines()[1:]]
    assert all("padding=valid" in i and "x=2x1" in i for i in ids)
    header = json.loads(Path("r.jsonl").read_text().splitlines()[0])["gradcheck sweep"]
    assert header["held"] == {"padding": "valid", "stride": {"any of": [1, 2]}}
    assert header["where"] == "scope_bias:single_channel" and len(header["where_sha256"]) == 64
    code, _, err = run(capsys, *argv[:-6], "--results", "r.jsonl")  # other scope: other key
    assert code == 2 and "different check (held:" in err


def test_ctrl_c_keeps_finished_rows(tmp_path):
    (tmp_path / "slow_conv.py").write_text(
        "import time\nimport gradcheck as gc\ndef backward(g, *inputs, **p):\n"
        "    time.sleep(0.3)\n    return gc.layer('conv2d', **p).backward(g, *inputs)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    sweep = subprocess.Popen(
        [sys.executable, "-c", "import sys; from gradcheck.cli import main; sys.exit(main())", "sweep", "conv2d",
         "--max-side", "2", "--jobs", "1", "--oracles", "numpy", "--backward", "slow_conv:backward",
         "--results", "r.jsonl", "--no-progress"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a background job ignores SIGINT
    results = tmp_path / "r.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not results.exists() or results.read_text().count("\n") < 3):
        time.sleep(0.1)
    sweep.send_signal(signal.SIGINT)
    out, err = sweep.communicate(timeout=30)
    rows = results.read_text().splitlines()[1:]
    assert sweep.returncode == 130 and err.count("\n") == 1, err
    assert f"gradcheck: interrupted: {len(rows)} of 396 configurations done and kept in r.jsonl" in err
    assert len(rows) >= 2 and all(json.loads(r)["status"] == "ok" for r in rows)


def test_sweep_of_a_users_backward_finds_the_bug(tmp_path, capsys, monkeypatch):
    module(tmp_path, "mybackward", "import gradcheck as gc\n"
                                   "def backward(g, x, w, b=None, **p):\n"
                                   "    gx, gw, gb = gc.layer('conv2d', **p).backward(g, x, w, b)\n"
                                   "    return gx, gw, gb * (2 if p['groups'] == 2 else 1)\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "conv2d", *SMALL, "--jobs", "1", "--no-progress", "--oracles", "sympy",
                       "--backward", "mybackward:backward", "--groups", "2", "--padding", "1", "--padding", "same")
    assert code == 1
    assert "mybackward:backward against sympy" in out and "FAILED: 24 of 24 configurations disagree" in out
    assert re.search(r"^groups=2 +24 +0$", out, re.M) and "padding=0" not in out


def test_a_backward_named_like_an_oracle_is_still_compared(tmp_path, capsys, monkeypatch):
    """verify keys results by name: a backward called 'numpy' would replace numpy's result, leaving one."""
    module(tmp_path, "named_numpy", ZEROS.replace("def backward", "def numpy"))
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "conv2d", *TINY, "--jobs", "1", "--no-progress", "--oracles", "numpy",
                       "--backward", "named_numpy:numpy")
    assert code == 1 and "FAILED: 9 of 9" in out


def test_python_api_with_a_predicate_and_a_set(tmp_path):
    from gradcheck.sweep import check_key, sweep

    tiny = dict(max_side=1, max_kernel=1, max_stride=1, max_dilation=1, max_padding=0)
    outcome = sweep("conv2d", oracles=["numpy", "sympy"], results=tmp_path / "r.jsonl", progress=False,
                    held={"padding": frozenset({0, "same"})}, where=lambda layer, shapes: shapes["x"][1] == 2, **tiny)
    assert outcome.ran == 4 and all(r["status"] == "ok" for r in outcome.rows.values())  # 2 paddings x 2 layouts
    # the predicate is part of the key, even one without a file of its own
    one, two = (check_key("conv2d", ["numpy"], None, {}, fn)[1] for fn in (lambda l, s: True, lambda l, s: False))
    assert one != two
