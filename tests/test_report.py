"""Derivation reports: lecture sums, the collapse into the matrix identities, the three formats, a real browser,
pdflatex, byte-identical output, case files, and the committed reports/ staying in step with the code."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gradcheck import cli
from gradcheck.report import FAMILIES, report

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
LECTURE_X = [[1, 0, -1], [1, 0, 1], [0, 1, 1]]      # lecture-facts §1
LECTURE_F = [[-1, 2], [3, 1]]
LECTURE_G = [["-1/5", "1/5"], ["1/10", "-1/10"]]


@pytest.fixture(scope="module")
def lecture():
    from fractions import Fraction
    g = [[Fraction(v) for v in row] for row in LECTURE_G]
    return report("conv2d", LECTURE_X, LECTURE_F, grad_out=g, name="lecture")


@pytest.fixture(scope="module")
def stride2():
    return report("conv2d", stride=2, padding=1)


def test_lecture_chain_rule_sum_and_answers(lecture):
    md = lecture.markdown()
    # "dL/dX22 = dO11·F22 + dO12·F21 + dO21·F12 + dO22·F11", as the lecture derives it by hand
    assert (r"\frac{\partial L}{\partial X_{22}} &= dO_{11} \cdot F_{22} + dO_{12} \cdot F_{21} + "
            r"dO_{21} \cdot F_{12} + dO_{22} \cdot F_{11}") in md
    assert r"\frac{\partial L}{\partial F} &= \left[\begin{matrix}-0.1 & -0.3\\-0.3 & 0.2\end{matrix}\right]" in md
    assert (r"\frac{\partial L}{\partial X} &= \left[\begin{matrix}0.2 & -0.6 & 0.4\\-0.7 & 0.7 & 0\\"
            r"0.3 & -0.2 & -0.1\end{matrix}\right]") in md
    assert r"\operatorname{rot180}\left(F\right) &= \left[\begin{matrix}F_{22} & F_{21}\\F_{12} & F_{11}" in md
    assert "The data was given." in md and "seed 0" not in md


def test_one_based_rule_is_the_lectures_1d_correlation():
    md = report("conv1d").markdown()  # lecture-facts §2: O_i = Σ_j I_{i+j−1} W_j
    assert r"O_{n,o,i} &= \sum_{c=1}^{1} \sum_{p=1}^{2} X_{n,c,i + p - 1} \cdot F_{o,c,p} + b_{o}" in md


def test_stride2_report_walks_from_sums_to_the_identities(stride2):
    md = stride2.markdown()
    order = ["Output size", "Every output element", "Local gradients", "Every gradient by the chain rule",
             "collapse into two matrix identities", r"\tilde{G} &=", r"\operatorname{corr}\left(\tilde{X}, \tilde{G}\right)",
             r"\operatorname{pad}\left(\tilde{G}\right) &=", r"\operatorname{rot180}\left(F\right) &=",
             "crop it", "Verification", "OK: 3 oracles agree"]
    positions = [md.find(s) for s in order]
    assert -1 not in positions and positions == sorted(positions), dict(zip(order, positions))
    # the stride-dilated gradient has s − 1 = 1 zero between dO entries
    assert r"\tilde{G} &= \left[\begin{matrix}dO_{11} & 0 & dO_{12}\\0 & 0 & 0\\dO_{21} & 0 & dO_{22}" in md
    assert r"\left\lfloor{\frac{3 + 1 + 1 - 1 \cdot \left(3 - 1\right) - 1}{2}}\right\rfloor + 1" in md
    assert "[integer data, exact comparison]" in md


@pytest.mark.parametrize("name, params", [("conv2d", {"dilation": 2, "padding": "same"}),
                                          ("conv1d", {"stride": 3}), ("conv2d", {"stride": (2, 1)})])
def test_collapse_holds_for_other_configurations(name, params):
    # building checks that every identity entry equals its chain-rule sum and the oracle's number
    r = report(name, **params)
    assert "collapse into two matrix identities" in r.markdown()


@pytest.mark.parametrize("wrong", ["grad_w", "grad_x"])
def test_a_report_whose_steps_contradict_the_oracle_is_refused(monkeypatch, wrong):
    # ReportError, raised explicitly: a bare assert would vanish under python -O and the wrong report be written
    from gradcheck.errors import ReportError
    from gradcheck.report import conv as conv_report
    steps = conv_report.identity_steps

    def off_by_one(*args):
        s = steps(*args)
        s[wrong] = s[wrong] + 1
        return s
    monkeypatch.setattr(conv_report, "identity_steps", off_by_one)
    with pytest.raises(ReportError, match="the identities on symbols disagree with the derived gradients"):
        report("conv2d")


def test_layer_without_a_family_gets_the_generic_report(monkeypatch):
    monkeypatch.delitem(FAMILIES, "conv1d")
    md = report("conv1d").markdown()
    for section in ["The forward rule", "Every output element", "Local gradients", "Every gradient by the chain rule",
                    "Verification", "OK: 3 oracles agree"]:
        assert section in md
    assert "matrix identities" not in md


def test_html_is_one_offline_file_with_mathml_and_inline_svg(stride2):
    page = stride2.html()
    assert page.count("<math") > 20 and page.count("<mfrac") > 40 and page.count("<svg") == len(stride2.figures()) == 4
    assert not re.search(r"<script|<link|<img|@import|url\((?!#)", page)  # url(#id): a clip path in the page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {"http://www.w3.org/1998/Math/MathML",
                                                              "http://www.w3.org/2000/svg",
                                                              "http://www.w3.org/1999/xlink"}
    assert "$" not in page and "\\frac" not in page and "\\left" not in page


def test_jupyter_reprs(stride2):
    assert "<math" in stride2._repr_html_() and "<html" not in stride2._repr_html_()
    assert stride2._repr_markdown_().count("data:image/svg+xml;base64,") == 4


def test_files_beside_markdown_and_tex(stride2, tmp_path):
    written = stride2.write(tmp_path, ["md", "tex"])
    md = (tmp_path / "conv2d-stride2-padding1.md").read_text()
    for link in re.findall(r"\]\(([^)]+\.svg)\)", md):
        assert (tmp_path / link).is_file()
    assert len(written) == 2 + 2 * 4
    assert "<math" not in md and "$$\n" in md


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium_run(tmp_path, *args):
    browser = _chromium()
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not _chromium(), reason="chromium is not installed (Debian: apt-get install chromium); "
                                            ".ci/run installs it")
def test_headless_chromium_renders_the_math(tmp_path):
    assert cli.main(["report", "conv2d", "--stride", "2", "--padding", "1", "--format", "html",
                     "--out", str(tmp_path)]) == 0
    page = (tmp_path / "conv2d-stride2-padding1.html").as_uri()
    dom = _chromium_run(tmp_path, "--dump-dom", page).stdout
    assert dom.count("<math") > 20 and dom.count("<mfrac") > 40 and dom.count("<svg") == 4
    text = re.sub(r"<[^>]+>", " ", dom)
    assert "$$" not in text and "\\frac" not in text and "\\left" not in text
    shot = tmp_path / "page.png"
    _chromium_run(tmp_path, f"--screenshot={shot}", "--window-size=1000,3000", page)
    from PIL import Image

    import numpy as np

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (3000, 1000)
    inked = int((pixels < 128).any(axis=1).sum())  # rows holding text, formulas or grid lines
    assert inked > 1000, f"the screenshot is nearly blank: {inked} of 3000 rows hold dark pixels"


@pytest.mark.skipif(not shutil.which("pdflatex"), reason="pdflatex is not installed (Debian: texlive-latex-base)")
def test_tex_compiles_with_pdflatex(stride2, tmp_path):
    stride2.write(tmp_path, ["tex"])
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "conv2d-stride2-padding1.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "conv2d-stride2-padding1.pdf").stat().st_size > 10_000


CASES = """
title = "test cases"
[[exercise]]
id = "conv-backward-3x3"
layer = "conv2d"
params = { stride = 1, padding = 0 }
ask = ["grad_w"]
[exercise.given]
x = [[1, 0, -1], [1, 0, 1], [0, 1, 1]]
w = [[-1, 2], [3, 1]]
grad_out = [[-0.2, 0.2], [0.1, -0.1]]
[[exercise]]
id = "chain"
network = [{ layer = "conv2d" }, { layer = "relu" }]
shapes = { x = [4, 4], conv2d.w = [2, 2] }
claimed.out_shape = [3, 3]
[[exercise]]
id = "sizes-only"
layer = "conv2d"
shapes = { x = [220, 220], w = [3, 3] }
[exercise.claimed]
out_shape = [218, 218]
"""


def test_case_file_gives_one_report_per_single_layer_exercise(tmp_path, capsys):
    cases = tmp_path / "c.toml"
    cases.write_text(CASES)
    assert cli.main(["report", str(cases), "--format", "md", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "skipped exercise 'chain' of c.toml: it chains several layers" in out
    assert "skipped exercise 'sizes-only' of c.toml: it gives no input data" in out
    md = (tmp_path / "conv-backward-3x3.md").read_text()
    assert r"\frac{\partial L}{\partial F} &= \left[\begin{matrix}-0.1 & -0.3\\-0.3 & 0.2\end{matrix}\right]" in md


@pytest.mark.parametrize("argv, message", [
    (["report"], "give one layer name, a case file, or --all"),
    (["report", "conv9d"], "unknown layer 'conv9d'"),
    (["report", "conv2d", "--stride", "0"], "stride=0 is not allowed"),
    (["report", "conv2d", "--format", "pdf"], "--format 'pdf' is not allowed"),
    (["report", "conv2d", "--size", "3y3"], "size '3y3' is not allowed"),
    (["report", "conv2d", "--size", "40x40"], "a readable report needs at most"),
    (["report", "conv1d", "--size", "5x5"], "size 5x5 does not fit conv1d"),
    (["report", "missing.toml"], "missing.toml: cannot be read: No such file or directory"),
    (["report", "conv2d", "--out", "/dev/full"], "cannot write into /dev/full: it is not a folder"),
])
def test_bad_arguments_one_line_exit_2(capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


# -- every file lands inside the folder the user named ------------------------------------------------------
@pytest.mark.parametrize("ident", ["../../x", "/tmp/gradcheck-absolute", "a/b", "..", ".hidden", "a.b", "x" * 65, ""])
def test_exercise_ids_that_are_not_safe_file_names_are_refused_at_read_time(ident, tmp_path, capsys):
    out = tmp_path / "deep" / "out"
    cases = tmp_path / "c.toml"
    cases.write_text(CASES.replace('"conv-backward-3x3"', f'"{ident}"'))
    assert cli.main(["report", str(cases), "--format", "md", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "key 'id'" in err and "is not allowed: every exercise needs an id" in err, err
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert written == ["c.toml", "deep", "deep/out"] and not Path("/tmp/gradcheck-absolute.md").exists()


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/tmp/x", "link/x"])
def test_a_report_never_writes_outside_its_folder(name, tmp_path):
    from gradcheck import _io
    from gradcheck.errors import ConfigError
    from gradcheck.report import Report, document

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path)  # a link out of the folder
    with pytest.raises(ConfigError, match="is not allowed as a file name: every file is written inside"):
        _io.safe_path(tmp_path / "out", name)
    with pytest.raises(ConfigError, match="is not allowed as a file name"):
        Report(name, "t", [document.Heading(1, "t")]).write(tmp_path / "out", ["md"])
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["link", "out"]


def test_a_folder_where_a_report_file_goes_is_one_error(tmp_path):
    from gradcheck.errors import ConfigError
    from gradcheck.report import Report, document

    (tmp_path / "r.md").mkdir()
    with pytest.raises(ConfigError, match=r"cannot write .*r.md: it is a folder"):
        Report("r", "t", [document.Heading(1, "t")]).write(tmp_path, ["md"])


def test_same_command_same_bytes_in_another_process(all_reports, tmp_path):
    # conv1d's files written here, against those `report --all` wrote in another process with another hash seed
    # (tests/conftest.py): dict/set order must not leak into the output
    assert cli.main(["report", "conv1d", "--format", "all", "--out", str(tmp_path)]) == 0
    files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    there = sorted(f for f in (p.relative_to(all_reports) for p in all_reports.rglob("*") if p.is_file())
                   if f.parts[0] in ("conv1d.md", "conv1d.html", "conv1d.tex", "conv1d_files"))
    assert files == there and len(files) == 11
    for f in files:
        assert (tmp_path / f).read_bytes() == (all_reports / f).read_bytes(), f"{f} differs between two runs"


def test_committed_reports_match_the_code(all_reports):
    fresh = {p.relative_to(all_reports) for p in all_reports.rglob("*") if p.is_file()}
    # reports/proofs/ is written by `gradcheck prove --all` and checked by tests/test_prove.py
    committed = {p.relative_to(REPORTS) for p in REPORTS.rglob("*") if p.is_file()
                 and p.relative_to(REPORTS).parts[0] != "proofs"}
    refresh = "refresh with: gradcheck report --all --out reports (from the project root), then commit reports/"
    assert not fresh - committed, f"reports/ lacks {sorted(map(str, fresh - committed))}; {refresh}"
    assert not committed - fresh, f"reports/ holds files the code no longer makes: " \
                                  f"{sorted(map(str, committed - fresh))}; {refresh}"
    changed = [str(f) for f in sorted(fresh) if (all_reports / f).read_bytes() != (REPORTS / f).read_bytes()]
    assert not changed, f"reports/ is out of date: {', '.join(changed)} changed; {refresh}"


class _Relu:
    """A piecewise layer no report family knows: the generic report must still build (as pooling will)."""

    @staticmethod
    def make():
        import numpy as np
        import sympy as sp
        from hypothesis import strategies as st

        from gradcheck.layers.base import IndexRule, Layer

        class Relu(Layer):
            name, inputs, required, differentiable, ranks = "relu_for_test", ("x",), 1, ("x",), {"x": 3}

            def validate(self, params):
                return {}

            def output_shape(self, shapes):
                return shapes["x"]

            def sympy_rule(self, shapes):
                n, c, i = sp.symbols("n c i", integer=True, nonnegative=True)
                x = sp.IndexedBase("x")[n, c, i]
                return IndexRule((n, c, i), shapes["x"], sp.Piecewise((x, x > 0), (0, True)), dict(shapes))

            def numpy_forward(self, x):
                return np.where(x > 0, x, 0)

            def numpy_backward(self, grad_out, x):
                return (np.where(x > 0, grad_out, 0),)

            def jax_forward(self, x):
                import jax.numpy as jnp
                return jnp.where(x > 0, x, 0)

            @classmethod
            def configs(cls, **fixed):
                return st.integers(1, 6).map(lambda w: (cls(), {"x": (1, 1, w)}))
        return Relu


def test_piecewise_layer_without_a_family_gets_a_generic_report():
    relu = _Relu.make()()
    md = report(relu).markdown()
    assert "x (1, 1, 4)" in md and "Every gradient by the chain rule" in md and "OK: 3 oracles agree" in md
    assert r"\begin{cases}" in md  # the piecewise rule, printed by SymPy


# -- pooling and transposed convolution --------------------------------------------------------------------
LECTURE_MAX_X = [[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]]   # lecture-facts §5
LECTURE_AVG_X = [[1, 5, 3, 7], [7, 3, 9, 2], [3, 5, 8, 4], [8, 7, 3, 5]]
LECTURE_AVG_DP = [["3/2", "17/8"], ["19/8", "2"]]  # dL/dP of L = mean((P − 1)²)


def _fractions(rows):
    from fractions import Fraction
    return [[Fraction(v) for v in row] for row in rows]


def test_max_pool_routes_each_dO_to_its_window_maximum():
    md = report("max_pool2d", LECTURE_MAX_X, grad_out=[[1, 2], [3, 4]], kernel_size=2, stride=2).markdown()
    assert "Max-pool routing" in md and "piecewise" not in md.lower().replace("piecewise terms", "")
    assert r"O_{11} &= \max\left(X_{11}, X_{12}, X_{21}, X_{22}\right) = \max\left(12, 20, 8, 12\right) = 20" in md
    for routed in [r"\frac{\partial L}{\partial X_{12}} &= dO_{11} = 1",
                   r"\frac{\partial L}{\partial X_{41}} &= dO_{21} = 3",
                   r"\frac{\partial L}{\partial X_{33}} &= dO_{22} = 4"]:
        assert routed in md
    assert "Every other element (12 of 16) is selected by no window" in md


def test_overlapping_windows_add_their_routed_gradients():
    # kernel 2, stride 1: the centre is the maximum of all four windows, so it collects all four dO
    md = report("max_pool2d", [[0, 0, 0], [0, 5, 0], [0, 0, 0]], grad_out=[[1, 2], [3, 4]], kernel_size=2,
                stride=1).markdown()
    assert (r"\frac{\partial L}{\partial X_{22}} &= dO_{11} + dO_{12} + dO_{21} + dO_{22} = 1 + 2 + 3 + 4 = 10") in md
    assert r"(here $X_{22}$)" in md


@pytest.mark.parametrize("ties, shown", [
    ("first", r"\frac{\partial L}{\partial X_{11}} &= dO = 3"),
    ("split", r"\frac{\partial L}{\partial X_{11}} &= \frac{dO}{2} = \frac{3}{2} = 1.5")])
def test_a_tie_follows_the_layers_convention(ties, shown):
    r = report("max_pool2d", [[1, 1], [0, 0]], grad_out=[[3]], kernel_size=2, ties=ties)
    md = r.markdown()
    assert "a tie — the maximum 1 is at $X_{11}$ and $X_{12}$" in md and shown in md
    assert (r"\frac{\partial L}{\partial X_{12}} &= \frac{dO}{2}" in md) == (ties == "split")
    assert "routing" in [f.stem for f in r.figures()]


def test_routing_figure_draws_an_arrow_per_output():
    fig = next(f for f in report("max_pool2d").figures() if f.stem == "routing")
    assert fig.svg.count('id="patch_') > 0 and fig.svg.count("stroke: #1f5fa8") >= 9  # 3×3 outputs, one arrow each


def test_lecture_average_pool_divisors_and_gradient():
    md = report("avg_pool2d", LECTURE_AVG_X, grad_out=_fractions(LECTURE_AVG_DP), kernel_size=2, stride=2).markdown()
    assert "Average-pool divisors" in md and r"D_{11} &= 2 \cdot 2 = 4" in md
    assert r"\frac{\partial L}{\partial X_{13}} &= \frac{dO_{12}}{4} = \frac{2.125}{4} = 0.53125" in md
    # lecture-facts §5: the pooled output and dL/dX
    for element, pooled in [("11", "4"), ("12", "5.25"), ("21", "5.75"), ("22", "5")]:
        assert re.search(re.escape(f"O_{{{element}}} &= ") + rf"[^\n]* = {re.escape(pooled)}( \\\\)?\n", md), element
    assert (r"\frac{\partial L}{\partial X} &= \left[\begin{matrix}0.375 & 0.375 & 0.53125 & 0.53125\\"
            r"0.375 & 0.375 & 0.53125 & 0.53125\\0.59375 & 0.59375 & 0.5 & 0.5\\0.59375 & 0.59375 & 0.5 & 0.5"
            r"\end{matrix}\right]") in md


def test_ceil_mode_clips_the_last_windows_divisor():
    md = report("avg_pool2d", kernel_size=2, stride=2, ceil_mode=True).markdown()  # 5×5: a 1-wide last window
    assert r"\left\lfloor{\frac{5 + 0 + 0 - 1 \cdot \left(2 - 1\right) - 1 + 2 - 1}{2}}\right\rfloor + 1" in md
    assert r"D_{13} &= 2 \cdot 1 = 2" in md and r"D_{33} &= 1 \cdot 1 = 1" in md


def test_pooling_layers_get_a_default_report_without_kernel_size(tmp_path):
    assert cli.main(["report", "max_pool2d", "--format", "md", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "max_pool2d.md").read_text()
    assert "max_pool2d(kernel_size=2, stride=1," in md and "regenerate: gradcheck report max_pool2d" in md


TRANSPOSED_X, TRANSPOSED_W = [[1, -1], [2, 0]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]   # cases/transposed.toml
TRANSPOSED_OUT = [[1, 2, 2, -2, -3], [4, 5, 2, -5, -6], [9, 12, 8, -8, -9], [8, 10, 12, 0, 0], [14, 16, 18, 0, 0]]


def test_transposed_report_shows_the_adjoint_and_the_conv_input_gradient():
    md = report("conv_transpose2d", TRANSPOSED_X, TRANSPOSED_W, stride=2).markdown()
    # lecture-facts §6: 3×3, stride 2 on a 2×2 input gives 5×5
    assert (r"H_{out} &= \left(H - 1\right) \cdot s - 2 \cdot p + d \cdot \left(k - 1\right) + "
            r"\mathit{output\_padding} + 1 = \left(2 - 1\right) \cdot 2 - 2 \cdot 0 + 1 \cdot \left(3 - 1\right) "
            r"+ 0 + 1 = 5") in md
    order = ["The adjoint relation", r"\left\langle \operatorname{conv2d}\left(Z, F\right), Y \right\rangle &= "
             r"\left\langle Z, \operatorname{conv\_transpose2d}\left(Y, F\right) \right\rangle",
             "The forward pass is conv2d's input gradient", r"\tilde{X} &=", r"\operatorname{rot180}\left(F\right) &=",
             r"\frac{\partial L}{\partial Z} &= O = "]
    positions = [md.find(s) for s in order]
    assert -1 not in positions and positions == sorted(positions), dict(zip(order, positions))
    inner = r"\\left\\langle (?:dO|\\operatorname\{conv2d\}\\left\(dO, F\\right\)), "
    sides = re.findall(inner + r".*? = (-?[\d.]+)(?: \\\\)?\n", md)
    assert len(sides) == 2 and sides[0] == sides[1]
    out = r"\\".join(" & ".join(str(v) for v in row) for row in TRANSPOSED_OUT)
    assert out in md  # the case file's hand-worked answer, as the cropped full correlation and as O


def test_transposed_output_padding_appends_zeros_before_the_crop():
    md = report("conv_transpose2d", stride=2, padding=1, output_padding=1).markdown()
    assert "(1, 1) rows/columns of zeros appended after (output_padding)" in md and "cropped (1 on every side)" in md


@pytest.mark.skipif(not _chromium(), reason="chromium is not installed (Debian: apt-get install chromium); "
                                            ".ci/run installs it")
def test_headless_chromium_renders_the_max_pool_report(tmp_path):
    assert cli.main(["report", "max_pool2d", "--format", "html", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "max_pool2d.html").as_uri()
    dom = _chromium_run(tmp_path, "--dump-dom", page).stdout
    assert dom.count("<math") >= 15 and dom.count("<mfrac") > 20 and dom.count("<svg") == 2
    assert "Max-pool routing" in dom
    text = re.sub(r"<[^>]+>", " ", dom)
    assert "$$" not in text and "\\frac" not in text and "piecewise(" not in text.lower()
    shot = tmp_path / "page.png"
    _chromium_run(tmp_path, f"--screenshot={shot}", "--window-size=1000,3000", page)
    from PIL import Image

    import numpy as np

    pixels = np.asarray(Image.open(shot).convert("L"))
    inked = int((pixels < 128).any(axis=1).sum())
    assert inked > 1000, f"the screenshot is nearly blank: {inked} of 3000 rows hold dark pixels"


def test_default_reports_do_not_depend_on_hypothesis_shrinking(monkeypatch):
    # Hypothesis's shrinker may end elsewhere after a release; the committed reports/ must not move with it
    import hypothesis
    import numpy as np

    from gradcheck.layers import layers
    from gradcheck.report import family

    def refuse(*args, **kwargs):
        raise AssertionError("hypothesis.find called for a default report")
    monkeypatch.setattr(hypothesis, "find", refuse)
    for name in layers():
        layer = family.default_layer(name)
        shapes = (family.family_of(layer).small_shapes or family.generic_small_shapes)(layer, None)
        layer.check_shapes(shapes)
        pinned = family.pinned_data(layer, shapes[layer.inputs[0]][-1:])
        non_data = [k for k in shapes if k not in layer.differentiable]
        if non_data:
            assert pinned is not None and pinned[0] == shapes and set(pinned[1]) == set(non_data), name
            g = np.zeros(layer.output_shape(shapes), dtype=np.int64)
            inputs = [np.asarray(pinned[1][k]) if k in pinned[1] else np.zeros(v, dtype=np.int64)
                      for k, v in shapes.items()]
            layer.prepare(inputs, g)  # the pinned targets / indices are valid inputs of the layer
