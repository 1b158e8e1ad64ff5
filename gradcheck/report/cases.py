"""A thin reader of course-exercise case files (TOML, format in DESIGN.md) for single-layer reports.

Only what a report needs: each ``[[exercise]]`` with a ``layer``, its ``params`` and ``given`` data. Numbers
may be ints, floats (read as the decimal written: 0.1 -> 1/10) or strings holding a fraction ("1/3"),
parsed with ``fractions.Fraction`` — nothing is evaluated. Kept small on purpose: once the grading package
reads case files, ``exercises`` can delegate to it.
"""
from __future__ import annotations

import numbers
import tomllib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError


@dataclass
class Exercise:
    id: str
    layer: str
    params: dict
    inputs: dict          # forward inputs by name, as arrays
    grad_out: np.ndarray | None


def _number(value, where: str):
    if isinstance(value, bool):
        raise InputError(f"{where}: {value!r} is not a number")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float):
        return Fraction(str(value))  # the decimal as written, exactly
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise InputError(f"{where}: {value!r} is not a number or a fraction like \"1/3\"") from None
    raise InputError(f"{where}: {value!r} is not a number")


def _array(value, where: str) -> np.ndarray:
    def convert(v, path):
        if isinstance(v, list):
            return [convert(item, f"{path}[{k}]") for k, item in enumerate(v)]
        return _number(v, f"{where}{path}")
    data = convert(value, "")
    try:
        arr = np.array(data, dtype=object)
    except ValueError:
        raise InputError(f"{where} is not a rectangular array of numbers") from None
    if arr.dtype != object or any(isinstance(v, list) for v in arr.ravel()):
        raise InputError(f"{where} is not a rectangular array of numbers")
    if all(isinstance(v, int) or (isinstance(v, Fraction) and v.denominator == 1) for v in arr.ravel()):
        return np.array([int(v) for v in arr.ravel()], dtype=np.int64).reshape(arr.shape)
    return arr


def _params(value, where):
    if not isinstance(value, dict):
        raise InputError(f"{where}: params must be a table, got {value!r}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}


def exercises(path) -> tuple[list[Exercise], list[tuple[str, str]]]:
    """(single-layer exercises, (id, reason) of those skipped: several layers, or a layer not registered)."""
    from ..layers import REGISTRY

    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read case file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from None
    found, skipped = [], []
    for k, ex in enumerate(doc.get("exercise", [])):
        where = f"{path.name}: exercise {ex.get('id', k + 1)!r}"
        if "id" not in ex:
            raise InputError(f"{path.name}: exercise {k + 1} has no id")
        if "layer" not in ex:
            skipped.append((str(ex["id"]), "chains several layers"))
            continue
        if ex["layer"] not in REGISTRY:
            skipped.append((str(ex["id"]), f"layer {ex['layer']!r} is not registered"))
            continue
        given = ex.get("given", {})
        layer_cls = REGISTRY[ex["layer"]]
        inputs = {name: _array(given[name], f"{where}, given.{name}") for name in layer_cls.inputs if name in given}
        grad_out = _array(given["grad_out"], f"{where}, given.grad_out") if "grad_out" in given else None
        if not inputs:
            skipped.append((str(ex["id"]), "gives no input data"))
            continue
        found.append(Exercise(str(ex["id"]), ex["layer"], _params(ex.get("params", {}), where), inputs, grad_out))
    return found, skipped
