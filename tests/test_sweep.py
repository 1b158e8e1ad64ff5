"""gradcheck sweep: exhaustive within bounds, resumable, parallel, and able to sweep a user's backward."""
import json

from gradcheck import cli
from gradcheck.sweep import cases

SMALL = ["--max-side", "3", "--max-kernel", "2", "--max-stride", "2", "--max-dilation", "1", "--max-padding", "1"]


def test_enumeration_is_exhaustive_and_stable():
    found = cases("conv2d", max_side=3, max_kernel=2, max_stride=2, max_dilation=1, max_padding=1)
    ids = [c.id for c in found]
    assert len(ids) == len(set(ids))
    # 3 sides x 2 kernels x 2 strides x 4 paddings (0, 1, same, valid) x 3 channel layouts, minus kernels
    # that do not fit (side 1, kernel 2, padding 0/valid: 2 strides x 2 paddings x 3 layouts)
    assert len(found) == 3 * 2 * 2 * 4 * 3 - 2 * 2 * 3
    assert ids == [c.id for c in cases("conv2d", max_side=3, max_kernel=2, max_stride=2, max_dilation=1,
                                       max_padding=1)]


def test_sweep_reports_and_resumes(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    argv = ["sweep", "conv2d", *SMALL, "--jobs", "2", "--results", str(results), "--no-progress",
            "--oracles", "sympy,numpy"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "gradcheck sweep conv2d: 132 configurations" in out and "0 from earlier runs, 132 run now" in out
    assert "stride=2" in out and "OK: all oracles agree exactly on all 132 configurations" in out
    lines = results.read_text().splitlines()
    results.write_text("\n".join(lines[:100]) + "\n" + lines[100][:10])  # as if interrupted mid-write
    assert cli.main(argv[:-2] + ["--jobs", "1", "--oracles", "sympy,numpy"]) == 0
    assert "100 from earlier runs, 32 run now" in capsys.readouterr().out
    assert all(json.loads(line)["ok"] for line in results.read_text().splitlines()[101:])


def test_sweep_of_a_users_backward_finds_the_bug(tmp_path, capsys, monkeypatch):
    (tmp_path / "mybackward.py").write_text(
        "import gradcheck as gc\n"
        "def backward(g, x, w, b=None, **p):\n"
        "    gx, gw, gb = gc.layer('conv2d', **p).backward(g, x, w, b)\n"
        "    return gx, gw, gb * (2 if p['groups'] == 2 else 1)\n")
    monkeypatch.chdir(tmp_path)
    code = cli.main(["sweep", "conv2d", *SMALL, "--jobs", "1", "--no-progress", "--oracles", "sympy",
                     "--backward", "mybackward:backward"])
    out = capsys.readouterr().out
    assert code == 1
    assert "mybackward:backward against sympy" in out and "FAILED: 44 of 132 configurations disagree" in out
    assert "groups=2       44              0" in out


def test_bad_sweep_arguments(capsys):
    assert cli.main(["sweep", "conv2d", "--max-side", "0"]) == 2
    assert cli.main(["sweep", "conv2d", "--backward", "nomodule"]) == 2
    assert cli.main(["sweep", "relu6"]) == 2
    err = capsys.readouterr().err
    assert "--max-side 0 is not allowed" in err and "give it as module:function" in err
    assert "no sweep space for layer 'relu6'" in err
