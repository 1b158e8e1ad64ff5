"""The README's first screen is runnable: its Python snippet prints exactly the output shown."""
import contextlib
import io
import re
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_snippet_prints_what_the_readme_says():
    text = README.read_text()
    code = re.search(r"```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", text, re.S)
    assert code, "README lost its snippet + output pair"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), "README.md", "exec"), {})  # our own README, not user input
    assert out.getvalue() == code.group(2)


def test_quick_start_has_exactly_two_commands():
    block = re.search(r"## Quick start\n\n```bash\n(.*?)```", README.read_text(), re.S).group(1)
    commands = block.strip().splitlines()
    assert len(commands) == 2 and commands[1].endswith("pytest")


pytest_plugins = ["pytester"]


def test_readme_ci_example_fails_as_shown_and_passes_once_fixed(pytester):
    text = README.read_text()
    example = re.search(r"`tests/test_my_conv.py`.*?```python\n(.*?)```", text, re.S).group(1)
    shown = re.search(r"fails with \(abridged\):\n```text\n(.*?)```", text, re.S).group(1)
    pytester.makepyfile(test_my_conv=example)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    for line in shown.strip().splitlines():  # which of the two 1x2 minimal shapes comes up depends on the seed
        assert line.strip() in output or "[" in line or "shapes" in line
    fixed = example.replace("sliding_window_view(padded, w.shape[2:], axis=(2, 3)),\n                       w)",
                            "sliding_window_view(padded, w.shape[2:], axis=(2, 3)),\n                       "
                            "w[..., ::-1, ::-1])")
    assert fixed != example
    assert "this is the mistake: filter_not_rotated" in output
    pytester.makepyfile(test_my_conv=fixed)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_readme_lists_every_catalogued_mistake():
    from gradcheck.mistakes import CATALOGUE

    text = README.read_text()
    assert [m for m in CATALOGUE if f"`{m}`" not in text] == []


def _adapter_blocks():
    section = re.search(r"### Adapters\n(.*?)\n## ", README.read_text(), re.S).group(1)
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_adapter_examples_run(monkeypatch):
    """The "Adapters" examples run as written, with fewer examples per check; a check the README shows failing
    (a comment "# AssertionError: ... the mistake: NAME") must fail naming that mistake. The cs231n.layers the
    README imports are the CS231n-style fixtures of tests/cs231n_style.py."""
    import types

    import gradcheck as gc
    from tests import cs231n_style

    blocks = _adapter_blocks()
    assert len(blocks) == 3, "README's Adapters section lost an example (cs231n, torch, jax)"
    package = types.ModuleType("cs231n")
    package.layers = cs231n_style
    monkeypatch.setitem(sys.modules, "cs231n", package)
    monkeypatch.setitem(sys.modules, "cs231n.layers", cs231n_style)
    for name in ("check_backward", "check_forward"):
        original = getattr(gc, name)
        monkeypatch.setattr(gc, name, lambda *a, _f=original, **k: _f(*a, **{**k, "max_examples": 8}))
    namespace = {}
    for code in blocks:
        if "torch" in code:
            pytest.importorskip("torch")
        shown = re.search(r"# AssertionError: .*the mistake: (\w+)", code)
        if shown:
            with pytest.raises(AssertionError, match=f"the mistake: {shown.group(1)}"):
                exec(compile(code, "README.md", "exec"), namespace)  # our own README, not user input
        else:
            exec(compile(code, "README.md", "exec"), namespace)
