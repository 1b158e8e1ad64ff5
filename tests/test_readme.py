"""The README's first screen is runnable: its Python snippet prints exactly the output shown."""
import contextlib
import io
import re
from pathlib import Path

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
