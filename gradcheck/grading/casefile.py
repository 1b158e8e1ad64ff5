"""Case files (exercises with the right answers computed) and answer files, read with tomllib.

Every problem in a file raises one :class:`CaseFileError` naming the file, the exercise and the key;
nothing read is ever evaluated. The format is documented in README.md ("Grading course exercises").
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from .. import _io
from ..errors import GradcheckError
from ..layers import REGISTRY, layer as make_layer
from . import values
from .network import Chain, Stage

FILE_KEYS = {"title", "source", "notes", "exercise"}
EXERCISE_KEYS = {"id", "title", "source", "notes", "layer", "params", "network", "given", "shapes", "lr",
                 "claimed", "ask", "tolerance", "expect", "accept_rounded_intermediates",
                 "visibility"}
VISIBILITY = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's, for an exercise's tests
STAGE_KEYS = {"layer", "name", "params"}
NETWORK_QUANTITIES = ("out", "loss", "out_shape", "n_params")
SHAPE_QUANTITIES = ("out_shape", "n_params")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # ids name report files: no '/', '.', or '..' ever


class CaseFileError(GradcheckError):
    """A malformed case or answer file: names the file, the exercise and the key."""

    def __init__(self, path, exercise, key, message):
        # ids and keys may come from a hostile file: shown as short reprs, so the error stays one short line
        where = str(path) + (f": exercise {values.brief(exercise)}" if exercise is not None else "")
        where += f", key {values.brief(key)}" if key is not None else ""
        super().__init__(f"{where}: {message}")


@dataclass
class Exercise:
    id: str
    path: str
    chain: Chain
    data: dict = field(default_factory=dict)        # key -> exact object array
    shapes: dict = field(default_factory=dict)      # key -> shape (given arrays included)
    lr: object = None
    claimed: dict = field(default_factory=dict)     # address -> raw TOML value
    asked: list = field(default_factory=list)       # addresses graded, in order
    tolerances: dict = field(default_factory=dict)  # "" | layer | quantity | address -> values.Tolerance
    expect: dict = field(default_factory=dict)      # address -> "wrong" | catalogue or slip id | list of ids
    accept_rounded: bool = False                    # an answer that rounded intermediates explain is right
    visibility: str = "visible"                     # when Gradescope shows the exercise's tests to students
    expected: dict = field(default_factory=dict)    # address -> the right value, computed

    def tolerance(self, address: str) -> values.Tolerance:
        layer, _, quantity = address.rpartition(".")
        for key in (address, layer, quantity, ""):
            if key in self.tolerances:
                return self.tolerances[key]
        return values.Tolerance() if self.chain.exact else values.Tolerance("float")


def read_toml(path) -> dict:
    try:
        text = _io.read_text(path)
    except GradcheckError as exc:
        raise CaseFileError(path, None, None, str(exc).removeprefix(f"{path}: ")) from None
    return parse_toml(text, path)


def parse_toml(text: str, path="<text>") -> dict:
    """tomllib, with its failures on hostile input made one error: nesting deeper than Python's recursion
    limit (RecursionError) and integers of more than 4,300 digits (ValueError from int())."""
    if len(text) > _io.MAX_READ:
        raise CaseFileError(path, None, None, f"is larger than {_io.MAX_READ:,} characters, the most a case or "
                                              "answer file may be")
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise CaseFileError(path, None, None, f"is not valid TOML: {exc}") from None
    except RecursionError:
        raise CaseFileError(path, None, None, "nests arrays or tables too deeply to be read") from None
    except ValueError as exc:  # int(): the only ValueError tomllib lets through
        reason = "an integer has more than 4,300 digits" if "digits" in str(exc) else str(exc)
        raise CaseFileError(path, None, None, f"is not valid TOML: {reason}") from None


def flatten(table: dict, prefix: str = "", keep=()) -> dict:
    """Nested tables to dotted keys: {conv: {w: ..}} -> {"conv.w": ..} (TOML's `conv.w = ..` is nested)."""
    out = {}
    for key, value in table.items():
        address = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and not set(value) & set(keep):
            out.update(flatten(value, address, keep))
        else:
            out[address] = value
    return out


def load_cases(path, text: str | None = None) -> list[Exercise]:
    """Every exercise of a case file, validated and with its right answers computed."""
    doc = read_toml(path) if text is None else parse_toml(text, path)
    unknown = set(doc) - FILE_KEYS
    if unknown:
        raise CaseFileError(path, None, sorted(unknown)[0], f"unknown key; a case file has {', '.join(sorted(FILE_KEYS))}")
    tables = doc.get("exercise")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise CaseFileError(path, None, "exercise", "a case file needs one or more [[exercise]] tables")
    exercises, seen = [], set()
    for index, table in enumerate(tables):
        ex = _exercise(path, index, table)
        if ex.id in seen:
            raise CaseFileError(path, ex.id, "id", "two exercises have this id")
        seen.add(ex.id)
        exercises.append(ex)
    return exercises


def _exercise(path, index: int, table: dict) -> Exercise:
    ident = table.get("id")
    if not isinstance(ident, str) or not _ID.fullmatch(ident):
        raise CaseFileError(path, f"#{index + 1}", "id", f"{values.brief(ident)} is not allowed: every exercise needs "
                            "an id of 1 to 64 letters, digits, '-' or '_', starting with a letter or digit "
                            "(it names the exercise's report files)")

    def fail(key, message):
        return CaseFileError(path, ident, key, message)

    unknown = set(table) - EXERCISE_KEYS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown key; an exercise has {', '.join(sorted(EXERCISE_KEYS))}")
    chain = _chain(table, fail)
    ex = Exercise(ident, str(path), chain)
    data_keys = _data_keys(chain)
    for section in ("given", "shapes"):
        raw = table.get(section, {})
        if not isinstance(raw, dict):
            raise fail(section, "must be a table")
        for key, value in flatten(raw).items():
            allowed = data_keys if section == "given" else data_keys | _branch_keys(chain)
            if key not in allowed:
                raise fail(f"{section}.{key}", f"not an input of this exercise; inputs are {', '.join(sorted(allowed))}")
            try:
                if section == "given":
                    ex.data[key] = values.array(value)
                    ex.shapes[key] = ex.data[key].shape
                else:
                    ex.shapes[key] = values.shape(value)
            except values.NotANumber as exc:
                raise fail(f"{section}.{key}", str(exc)) from None
    if "lr" in table:
        try:
            ex.lr = values.number(table["lr"])
        except values.NotANumber as exc:
            raise fail("lr", str(exc)) from None
        if ex.lr <= 0:
            raise fail("lr", f"the learning rate must be > 0, got {values.show(ex.lr)}")
    valid = quantities(chain)
    claimed = table.get("claimed", {})
    ask = table.get("ask", [])
    if not isinstance(claimed, dict):
        raise fail("claimed", "must be a table of quantity = answer")
    if not isinstance(ask, list) or not all(isinstance(a, str) for a in ask):
        raise fail("ask", "must be a list of quantity names")
    ex.claimed = flatten(claimed)
    for address in list(ex.claimed) + ask:
        if address not in valid:
            raise fail(f"claimed.{address}" if address in ex.claimed else "ask",
                       f"{values.brief(address)} is not a quantity of this exercise; quantities are {', '.join(valid)}")
    ex.asked = list(dict.fromkeys(ask + list(ex.claimed)))
    if not ex.asked:
        raise fail("claimed", "the exercise asks nothing: give `claimed` answers or an `ask` list")
    for address, value in ex.claimed.items():
        check_answer(address, value, lambda message, a=address: fail(f"claimed.{a}", message))
    ex.tolerances = _tolerances(table.get("tolerance", {}), valid, chain, fail)
    ex.expect = _expect(table.get("expect", {}), ex.asked, fail)
    ex.accept_rounded = table.get("accept_rounded_intermediates", False)
    if not isinstance(ex.accept_rounded, bool):
        raise fail("accept_rounded_intermediates", f"{values.brief(ex.accept_rounded)} is not true or false")
    ex.visibility = table.get("visibility", "visible")
    if ex.visibility not in VISIBILITY:
        raise fail("visibility", f"{values.brief(ex.visibility)} is not one of {', '.join(VISIBILITY)}")
    _compute(ex, fail)
    return ex


def _chain(table, fail) -> Chain:
    if ("layer" in table) == ("network" in table):
        raise fail("layer", "give either `layer` (one layer) or `network` (a list of layers)")
    if "layer" in table:
        if "params" in table and not isinstance(table["params"], dict):
            raise fail("params", "must be a table of layer parameters")
        return Chain([Stage("", _layer(table["layer"], table.get("params", {}), "layer", "params", fail))], False)
    stages_raw = table["network"]
    if not isinstance(stages_raw, list) or not stages_raw or not all(isinstance(s, dict) for s in stages_raw):
        raise fail("network", "must be a list of layer tables {layer = ..., name = ..., params = {...}}")
    kinds = [s.get("layer") for s in stages_raw]
    for i, kind in enumerate(kinds):
        if not isinstance(kind, str) or kind not in REGISTRY:
            raise fail(f"network[{i}].layer", f"unknown layer {values.brief(kind)}; registered layers: {', '.join(sorted(REGISTRY))}")
    stages, counts = [], {}
    for i, raw in enumerate(stages_raw):
        unknown = set(raw) - STAGE_KEYS
        if unknown:
            raise fail(f"network[{i}].{sorted(unknown)[0]}", f"unknown key; a layer has {', '.join(sorted(STAGE_KEYS))}")
        kind = raw.get("layer")
        counts[kind] = counts.get(kind, 0) + 1
        name = raw.get("name", kind if kinds.count(kind) == 1 else f"{kind}{counts[kind]}")
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name in NETWORK_QUANTITIES or name == "x":
            raise fail(f"network[{i}].name", f"{values.brief(name)} is not allowed: a layer name is a word (letters, digits, "
                                             "'_', '-'), not x or a quantity name")
        if any(s.name == name for s in stages):
            raise fail(f"network[{i}].name", f"two layers are named {values.brief(name)}")
        if not isinstance(raw.get("params", {}), dict):
            raise fail(f"network[{i}].params", "must be a table of layer parameters")
        stages.append(Stage(name, _layer(kind, raw.get("params", {}), f"network[{i}].layer",
                                         f"network[{i}].params", fail)))
    return Chain(stages, True)


def _layer(name, params, key, params_key, fail):
    if not isinstance(name, str) or name not in REGISTRY:
        raise fail(key, f"unknown layer {values.brief(name)}; registered layers: {', '.join(sorted(REGISTRY))}")
    params = REGISTRY[name].schema.coerce(params)  # TOML arrays as tuples, decimals as floats
    try:
        return make_layer(name, **params)
    except GradcheckError as exc:
        raise fail(params_key, str(exc)) from None


def _data_keys(chain: Chain) -> set[str]:
    keys = {"grad_out"}
    for k in range(len(chain.stages)):
        keys.update(chain.input_keys(k)[1 if k > 0 else 0:])
    return keys


def _branch_keys(chain: Chain) -> set[str]:
    """Shapes only: a layer's first input given explicitly instead of the previous output (parallel branches)."""
    return {s.address(s.layer.inputs[0]) for s in chain.stages[1:]}


def quantities(chain: Chain) -> list[str]:
    """Every quantity address of an exercise, in a readable order."""
    out = list(NETWORK_QUANTITIES) if chain.network else ["out", "loss", "out_shape", "n_params"]
    for stage in chain.stages:
        layer = stage.layer
        local = ["out", "out_shape", "n_params"] + (["grad_out"] if chain.network else [])
        local += [f"grad_{n}" for n in layer.differentiable] + [f"updated_{p}" for p in stage.parameters]
        out += [stage.address(q) for q in local if stage.address(q) not in out]
    return out


def check_answer(address: str, value, fail) -> object:
    """An answer parsed for its quantity: shapes are lists of ints, counts ints, the rest arrays of numbers."""
    quantity = address.rpartition(".")[2]
    try:
        if quantity == "out_shape":
            return values.shape(value, minimum=0)
        if quantity == "n_params":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < values.LIMIT:
                raise values.NotANumber(f"{values.brief(value)} is not a count (an int >= 0)")
            return value
        return values.array(value)
    except values.NotANumber as exc:
        raise fail(str(exc)) from None


def _tolerances(raw, valid, chain, fail) -> dict:
    if not isinstance(raw, dict):
        raise fail("tolerance", "must be a table like { decimals = 2 } or { atol = 1e-3 }")
    groups: dict[str, dict] = {}
    for address, value in flatten(raw, keep=values.RULE_KEYS).items():
        where, _, rule = address.rpartition(".")
        if rule in values.RULE_KEYS:
            groups.setdefault(where, {})[rule] = value
        elif isinstance(value, dict):
            groups.setdefault(address, {}).update(value)
        else:
            raise fail(f"tolerance.{address}", f"not a tolerance; use {', '.join(values.RULE_KEYS)}")
    layers = {s.name for s in chain.stages if s.name}
    local = {a.rpartition(".")[2] for a in valid}
    out = {}
    for where, rule in groups.items():
        if where and where not in valid and where not in layers and where not in local:
            raise fail(f"tolerance.{where}", "names no quantity or layer of this exercise")
        unknown = set(rule) - set(values.RULE_KEYS)
        if unknown:
            raise fail(f"tolerance.{where}.{sorted(unknown)[0]}", f"not a tolerance; use {', '.join(values.RULE_KEYS)}")
        try:
            out[where] = values.Tolerance.from_table(rule)
        except values.NotANumber as exc:
            raise fail("tolerance" + (f".{where}" if where else ""), str(exc)) from None
    return out


def _expect(raw, asked, fail) -> dict:
    from ..mistakes import CATALOGUE
    from .slips import SLIPS

    if not isinstance(raw, dict):
        raise fail("expect", 'must be a table: quantity = "wrong", a catalogue mistake or slip id, or a list of ids')
    out = {}
    for address, value in flatten(raw).items():
        if address not in asked:
            raise fail(f"expect.{address}", "is not a quantity this exercise asks for")
        def known(v):
            return isinstance(v, str) and (v in CATALOGUE or v in SLIPS)
        # a list names every mistake and slip the answer shows (a matrix with two slipped entries)
        if not (value == "wrong" or known(value) or (isinstance(value, list) and value and all(map(known, value)))):
            raise fail(f"expect.{address}", f'{values.brief(value)} is neither "wrong" nor a catalogued mistake or '
                                            f"slip id ({', '.join(SLIPS)}), nor a list of such ids")
        out[address] = value
    return out


MAX_ENTRIES = 10 ** 6  # of a computed output: a hand exercise has hundreds


def _bounded_outputs(chain: Chain, data: dict) -> None:
    """Refuse, from the shapes alone, an exercise whose outputs would be huge (``scale_factor = 100000`` on a
    2×2 input): a case file must not make the grader allocate gigabytes."""
    shapes = chain.shapes({k: v.shape for k, v in data.items()})
    for stage in chain.stages:
        out_shape = shapes[stage.address("out_shape")]
        if math.prod(out_shape) > MAX_ENTRIES:
            raise GradcheckError(f"{stage.layer!r} would output {math.prod(out_shape):,} entries "
                                 f"{tuple(out_shape)}; an exercise output has at most {MAX_ENTRIES:,}")


def _compute(ex: Exercise, fail) -> None:
    """The right value of every asked quantity, or one error naming what the exercise lacks."""
    shape_asked = [a for a in ex.asked if a.rpartition(".")[2] in SHAPE_QUANTITIES]
    value_asked = [a for a in ex.asked if a not in shape_asked]
    if shape_asked:
        try:
            ex.expected.update(ex.chain.shapes(ex.shapes))
        except GradcheckError as exc:
            raise fail("shapes" if not ex.data else "given", str(exc)) from None
    if value_asked:
        first = ex.chain.first_key()
        if first not in ex.data:
            raise fail(f"given.{first}", f"{value_asked[0]} is asked, so the input data {first} must be given")
        try:
            _bounded_outputs(ex.chain, ex.data)
            ex.expected.update(ex.chain.run(ex.data, ex.lr))
        except GradcheckError as exc:
            raise fail("given", str(exc)) from None
    for address in ex.asked:
        if address not in ex.expected:
            quantity = address.rpartition(".")[2]
            need = ("lr (the learning rate)" if quantity.startswith("updated_") else
                    "grad_out (dL/d output), unless the output is a scalar loss" if quantity.startswith("grad_")
                    else "the data or shapes it depends on")
            raise fail(f"claimed.{address}" if address in ex.claimed else "ask", f"cannot be computed: give {need}")


def load_answers(path, text: str | None = None) -> dict[str, dict]:
    """A student's answers: {exercise id: {quantity address: raw value}}."""
    doc = read_toml(path) if text is None else parse_toml(text, path)
    out = {}
    for ident, table in doc.items():
        if not isinstance(table, dict):
            raise CaseFileError(path, ident, None, "answers are given per exercise: [exercise-id] then quantity = answer")
        out[ident] = flatten(table)
    return out
