"""The gradcheck command: list, verify, one-line errors with exit 2, counterexamples with exit 1."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gradcheck as gc
from gradcheck import cli
from gradcheck.layers.conv import Conv

CASE = str(Path(__file__).resolve().parent.parent / "cases" / "conv-backward.toml")


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_every_layer(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0 and "conv2d" in out and "conv1d" in out


def test_verify_prints_a_summary_and_exits_0(capsys):
    code, out, _ = run(capsys, "verify", "conv2d", "--examples", "15", "--seed", "1", "--stride", "2")
    assert code == 0, out
    assert "15 drawn configurations" in out and "seed 1" in out and "held {'stride': 2}" in out
    assert "15/15" in out and "OK: every oracle agrees exactly" in out


def test_verify_all_prints_one_row_per_layer(capsys):
    code, out, _ = run(capsys, "verify", "--all", "--examples", "5", "--seed", "2", "--kind", "float",
                       "--oracles", "sympy,numpy,fd")
    assert code == 0, out
    rows = [line.split()[0] for line in out.splitlines()[2:-1]]
    assert rows == gc.layers()


@pytest.mark.parametrize("argv, message", [
    (["verify", "conv9d"], f"unknown layer 'conv9d'; registered layers: {', '.join(gc.layers())}"),
    (["verify", "conv2d", "--stride", "0"], "stride=0 is not allowed"),
    (["verify", "conv2d", "--padding", "full"], "padding='full' is not allowed"),
    (["verify", "conv2d", "--examples", "0"], "--examples 0 is not allowed"),
    (["verify", "conv2d", "--examples", "many"], "argument --examples: invalid int value: 'many'"),
    (["verify", "conv2d", "--stride", "2;import os"], "argument --stride: '2;import os' is not an int"),
    (["verify", "conv2d", "--oracles", "sympy,torch"], "unknown oracle 'torch'"),
    (["verify"], "give one layer name or --all"),
    (["verify", "conv2d", "--kernel-size", "3"], "conv2d has no parameter 'kernel_size'"),
    (["verify", "conv2d", "--stride"], "layer parameter --stride needs a value"),
    (["verify", "conv2d", "stray"], "unexpected argument 'stray'"),
    (["list", "--stride", "2"], "unrecognized arguments: --stride 2"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["--bogus"], "(see 'gradcheck --help')"),                       # not 'gradcheck gradcheck --help'
    (["verify", "--examples"], "(see 'gradcheck verify --help')"),
    (["verify", "conv2d", "--seed", "-5"], "argument --seed: -5 is not a seed: a seed is an int from 0 to"),
    (["report", "conv2d", "--seed", "-5"], "argument --seed: -5 is not a seed"),
    (["exercise", "new", "conv2d", "--seed", "-5"], "argument --seed: -5 is not a seed"),
    (["verify", "conv2d", "--seed", "4294967296"], "4294967296 is not a seed"),
    (["report", "conv2d", "--format", ""], "--format '' is not allowed"),
    (["report", "conv2d", "--format", ","], "--format ',' is not allowed"),
    (["grade", CASE, "--json", "--format", "gradescope"], "--json and --format gradescope conflict"),
    (["grade", CASE, "--json", "--format", "text"], "--json and --format text conflict"),
    # a held parameter some layers lack: refused, naming them, rather than "OK" over a part of --all
    # (the value 3 is not taken for the layer name either)
    (["verify", "--all", "--kernel-size", "3"], "layers have no parameter 'kernel_size': only avg_pool2d"),
    (["verify", "--all", "--frobnicate", "3"], "have no parameter 'frobnicate': no registered layer has it"),
])
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and message in err and err.startswith("gradcheck: error: ")


def test_a_wrong_backward_is_shrunk_to_a_minimal_counterexample(capsys, monkeypatch):
    original = Conv.numpy_backward

    def forgets_the_stride(self, grad_out, x, w, b=None):
        grads = list(original(self, grad_out, x, w, b))
        if max(self.params["stride"]) > 1:
            grads[1] = grads[1] + 1
        return tuple(grads)

    monkeypatch.setattr(Conv, "numpy_backward", forgets_the_stride)
    code, out, _ = run(capsys, "verify", "conv2d", "--examples", "50", "--seed", "0")
    assert code == 1
    assert "minimal counterexample for conv2d" in out
    assert "numpy is the odd one out (sympy = jax)" in out
    assert "x (1, 1, 1, 1)" in out  # shrunk to the smallest input
    assert "FAILED: 1 layer(s) disagree (reproduce with --seed 0)" in out


def test_console_script_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "gradcheck.cli", "list"], capture_output=True, text=True)
    assert done.returncode == 0 and "conv2d" in done.stdout


# -- where outputs go: one line and exit 2 for every command that writes, nothing half-written --------------
@pytest.mark.parametrize("argv", [
    ["grade", CASE, "--output", "{folder}"],                          # a folder where a file is expected
    ["grade", CASE, "--output", "{folder}/missing/results.json"],     # a missing folder
    ["grade", CASE, "--output", "/dev/full"],                         # a device: refused, never replaced
    ["grade", CASE, "--format", "gradescope", "--output", "/proc/gradcheck-results.json"],  # unwritable
    ["exercise", "new", "relu", "--output", "{folder}"],
    ["exercise", "new", "relu", "--output", "{folder}/missing/case.toml"],
    ["exercise", "new", "relu", "--output", "/dev/full"],
    ["exercise", "new", "relu", "--output", "/proc/gradcheck-case.toml"],
    ["report", "relu", "--out", "{folder}/a-file"],                   # a file where a folder is expected
    ["report", "relu", "--out", "/dev/full"],
    ["report", "relu", "--out", "/proc/gradcheck-reports"],
])
def test_unwritable_outputs_are_one_line_and_exit_2(argv, tmp_path, capsys):
    (tmp_path / "a-file").write_text("kept")
    code, out, err = run(capsys, *[a.format(folder=tmp_path) for a in argv])
    assert code == 2 and err.count("\n") == 1 and err.startswith("gradcheck: error: "), err
    assert "cannot write" in err or "cannot create" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"] and (tmp_path / "a-file").read_text() == "kept"


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary(tmp_path, monkeypatch):
    from gradcheck import _io
    from gradcheck.errors import ConfigError

    target = tmp_path / "results.json"
    target.write_text("old")
    os.chmod(target, 0o640)

    def disk_full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_io.os, "replace", disk_full)
    with pytest.raises(ConfigError, match=r"cannot write .*results.json: No space left on device"):
        _io.write_atomic(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
    monkeypatch.undo()
    _io.write_atomic(target, "new")
    assert target.read_text() == "new" and oct(target.stat().st_mode & 0o777) == "0o640"  # its mode kept
