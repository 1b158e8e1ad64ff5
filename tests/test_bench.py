"""The bench's table code on the tiny conv2d case, so that ``python -m bench`` cannot rot.

torch is a benchmark-only extra: here it is reported missing on purpose, and its cells must say so.
"""
import io
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is a top-level folder, not installed

from bench import peers, table  # noqa: E402


def test_tiny_row_runs_every_available_peer_and_skips_unregistered_layers(monkeypatch):
    monkeypatch.setattr(peers, "installed", lambda module: module != "torch")
    tiny = table.CONV[0]
    unregistered = replace(tiny, label="not_a_layer tiny", layer="not_a_layer")
    out = io.StringIO()
    rows = table.run_table([tiny, unregistered], out=out)
    text = out.getvalue()

    assert [r["case"] for r in rows] == ["conv2d tiny"]
    row = rows[0]
    assert row["raw"]["exact"].result.ok and row["raw"]["numpy=jax"].result.ok
    assert row["torch slow"] == row["torch fast"] == "not installed"
    assert row["raw"]["check_grads"].seconds > 0
    numpy_cell, xla_cell = row["raw"]["numpy÷xla"]
    assert numpy_cell.seconds > 0 and xla_cell.seconds > 0
    table_lines = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table_lines) == 3 and all(line.count("|") == len(table.COLUMNS) + 1 for line in table_lines)
    assert "skipped not_a_layer (tiny): not registered" in text


def test_issue14_cells_run_on_the_tiny_case():
    from bench import issue14
    cell = issue14.exact_check(table.CONV[0], "float64")
    assert cell.note == "" and cell.result.kind == "float"   # exact (==) on float64 data
    examples = issue14.distinct_configs(3)
    assert len({(e.layer.key, tuple(map(lambda a: a.shape if hasattr(a, "shape") else None, e.inputs)))
                for e in examples}) == 3
