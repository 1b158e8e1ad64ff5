"""Layer parameters, declared once per layer: name, type, default, allowed values and torch meaning.

Each layer file declares ``schema = Schema(Param(...), ...)`` in the order its parameters are shown. From that one
declaration come: validation and its messages (``Layer.validate``; a layer adds only the rules that tie two
parameters together), the layer flags of ``gradcheck verify LAYER`` and their ``--help``, ``gradcheck list``,
case-file coercion, the command strings that turn parameters back into flags, and held parameters in
``gradcheck.strategies``.

>>> from gradcheck.layers import REGISTRY
>>> REGISTRY["conv2d"].schema.names
('stride', 'padding', 'dilation', 'groups')
>>> REGISTRY["conv2d"].schema.validate("conv2d", {"stride": 2}, ndim=2)
{'stride': (2, 2), 'padding': (0, 0), 'dilation': (1, 1), 'groups': 1}
>>> command_args({"stride": (2, 1), "padding": "same", "ceil_mode": True})
'--stride 2,1 --padding same --ceil-mode True'
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from ..errors import ConfigError
from ._params import MAX_GEOMETRY, _is_int, fmt, int_tuple, padding_spec


class _Required:
    def __repr__(self):
        return "required"


REQUIRED = _Required()  # the default of a parameter that must be given (a pool's kernel_size)

KINDS = ("ints", "int", "padding", "flag", "choice", "number", "nonzero_int")


@dataclass(frozen=True)
class Param:
    """One layer parameter.

    ``kind``: "ints" (an int, or one per spatial axis, in ``minimum``..``maximum``), "int" (one int, ``minimum``
    None: any, negative counting from the end), "padding" ('same', 'valid' or "ints" >= 0), "flag" (True or
    False), "choice" (one of ``choices``, a dict value -> what it means), "number" (a real number > ``minimum``),
    "nonzero_int". ``optional``: None is allowed too (its meaning then in ``shown_default``). ``default`` is
    what an omitted parameter is (REQUIRED: it must be given); ``meaning``: one line, torch's meaning.
    """

    name: str
    kind: str
    default: Any
    meaning: str
    minimum: int | float | None = None
    maximum: int | None = None
    choices: dict | None = None
    optional: bool = False
    shown_default: str | None = None  # the default as a user reads it, where the value alone does not say it

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Param {self.name}: kind {self.kind!r} is not one of {', '.join(KINDS)}")

    # -- what is allowed, in words (messages and --help) ---------------------------------------------
    def allowed(self, ndim: int = 2) -> str:
        if self.kind == "ints":
            shape = "an int" if ndim == 1 else f"an int or a tuple of {ndim} ints"
            top = self.maximum if self.maximum is not None else MAX_GEOMETRY
            text = f"{shape} >= {self.minimum} (and at most {top:,})"
        elif self.kind == "int":
            text = ("an int (negative counts from the end)" if self.minimum is None else
                    f"an int >= {self.minimum}" + (f" (and at most {self.maximum:,})" if self.maximum else ""))
        elif self.kind == "padding":
            text = "'same', 'valid' or ints >= 0"
        elif self.kind == "flag":
            text = "True or False"
        elif self.kind == "choice":
            options = [f"{v!r}" + (f" ({about})" if about else "") for v, about in self.choices.items()]
            text = " or ".join([", ".join(options[:-1]), options[-1]]) if len(options) > 1 else options[0]
        elif self.kind == "number":
            text = f"a number > {self.minimum:g}"
        else:
            text = "a nonzero int"
        return ("None or " + text) if self.optional else text

    def default_text(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        return "required" if self.default is REQUIRED else fmt(self.default)

    def refuse(self, value, ndim: int = 2) -> ConfigError:
        return ConfigError(f"{self.name}={value!r} is not allowed: {self.name} must be {self.allowed(ndim)}")

    # -- validation ---------------------------------------------------------------------------------
    def check(self, value, ndim: int = 2):
        """The normalised value (a tuple per spatial axis for "ints"), or ConfigError naming it and what is allowed."""
        if value is None and self.optional:
            return None
        kind = self.kind
        if kind == "ints":
            if isinstance(value, str):  # 'same' where only a pool or a convolution takes it
                raise ConfigError(f"{self.name}={value!r} is not allowed: {self.name} takes ints >= {self.minimum} "
                                  "here, not a word (as torch.nn.functional)")
            try:
                return int_tuple(self.name, value, ndim, minimum=self.minimum,
                                 maximum=self.maximum if self.maximum is not None else MAX_GEOMETRY)
            except ConfigError:
                raise self.refuse(value, ndim) from None  # the same words as --help (None too, where optional)
        if kind == "padding":
            return padding_spec(value, ndim)
        if kind == "flag":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
        elif kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
        elif kind == "number":
            if (not isinstance(value, bool) and isinstance(value, numbers.Real)
                    and self.minimum < value < float("inf")):
                return float(value)
        elif _is_int(value):
            if kind == "nonzero_int" and value != 0:
                return int(value)
            if kind == "int" and (self.minimum is None or self.minimum <= value) and (
                    self.maximum is None or value <= self.maximum):
                return int(value)
        raise self.refuse(value, ndim)

    def coerce(self, value):
        """A value read from a case file (TOML) as the layer takes it: arrays become tuples, decimals floats."""
        return _plain(value)


def _plain(value):
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return float(value) if isinstance(value, Decimal) else value


class Schema:
    """The parameters of one layer, in the order they are shown (``repr``, reports, ``gradcheck list``)."""

    def __init__(self, *params: Param):
        self.params = params
        self.by_name = {p.name: p for p in params}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.by_name)

    def __iter__(self):
        return iter(self.params)

    def __len__(self):
        return len(self.params)

    def validate(self, layer: str, given: dict, ndim: int = 2) -> dict:
        """Every parameter normalised, defaults filled in; ConfigError on an unknown, missing or bad one."""
        unknown = sorted(set(given) - set(self.by_name))
        if unknown:
            names = self.names
            has = ("it has no parameters" if not names else f"its parameter is {names[0]}" if len(names) == 1
                   else f"its parameters are {', '.join(names)}")
            raise ConfigError(f"{layer} has no parameter {unknown[0]!r}; {has}")
        out = {}
        for p in self.params:
            value = given.get(p.name, p.default)
            if value is REQUIRED or (p.default is REQUIRED and value is None):
                raise ConfigError(f"{layer} needs {p.name} ({p.allowed(ndim)})")
            out[p.name] = p.check(value, ndim)
        return out

    def coerce(self, given: dict) -> dict:
        """Parameters read from a case file, each as its layer takes it (an unknown one as it is: validation names it)."""
        return {k: self.by_name[k].coerce(v) if k in self.by_name else _plain(v) for k, v in given.items()}

    def describe(self, ndim: int = 2) -> list[tuple[str, str]]:
        """(flag, text) per parameter: what it means, what is allowed, its default (``--help``, ``gradcheck list``)."""
        return [(flag(p.name), f"{p.meaning}; {p.allowed(ndim)}; default {p.default_text()}") for p in self.params]

    def summary(self) -> str:
        """One line: ``stride=1, padding=0, ...`` (required ones bare), or 'no parameters'."""
        if not self.params:
            return "no parameters"
        return ", ".join(p.name if p.default is REQUIRED else f"{p.name}={p.default_text()}" for p in self.params)


def flag(name: str, *, dashes: bool = True) -> str:
    """The command-line flag of a parameter or bound: kernel_size -> --kernel-size (the CLI also takes --kernel_size)."""
    return "--" + (name.replace("_", "-") if dashes else name)


def flag_value(value) -> str:
    """A parameter value as the CLI reads it back: 2, 2,1 (one per axis), same, True."""
    if isinstance(value, (tuple, list)):
        return fmt(tuple(value)) if len(set(value)) == 1 else ",".join(map(str, value))
    return str(value)


def command_args(params: dict, *, dashes: bool = True) -> str:
    """Layer parameters as command-line flags, in order: ``--stride 2,1 --padding same``; a set of allowed values
    (a held set) as the flag repeated, smallest first. The one place parameters are turned back into a command
    (reports, exercises, sweeps, the CLI's own hints)."""
    parts = []
    for name, value in params.items():
        if value is None:  # an optional parameter's None is its default (a pool's stride: the kernel size)
            continue
        values = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else [value]
        parts += [f"{flag(name, dashes=dashes)} {flag_value(v)}" for v in values]
    return " ".join(parts)


__all__ = ["KINDS", "REQUIRED", "Param", "Schema", "command_args", "flag", "flag_value"]
