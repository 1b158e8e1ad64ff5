"""The gradcheck command: list, verify, one-line errors with exit 2, counterexamples with exit 1."""
import subprocess
import sys

import pytest

import gradcheck as gc
from gradcheck import cli
from gradcheck.layers.conv import Conv


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
