"""The value checks behind the parameter schema (gradcheck.layers.schema) that several kinds share.

Every function returns a normalised value (a tuple with one entry per spatial dimension) or raises
:class:`ConfigError` naming the parameter, the offending value and what is allowed.
"""
from __future__ import annotations

import numbers

from ..errors import ConfigError


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# The largest stride, padding, dilation, kernel size, output padding or scale factor accepted. Beyond it no
# input a check can hold fits (padding 10**6 is a 2,000,001-wide zero image; stride 10**20 leaves int64), so a
# larger value is a slip, refused at once rather than failing deep inside an oracle.
MAX_GEOMETRY = 4096


def int_tuple(name: str, value, ndim: int, *, minimum: int, maximum: int = MAX_GEOMETRY) -> tuple[int, ...]:
    """An int, or a tuple/list of `ndim` ints, each in `minimum`..`maximum`."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * ndim
    if len(items) != ndim or not all(_is_int(v) and minimum <= v <= maximum for v in items):
        shape = "an int" if ndim == 1 else f"an int or a tuple of {ndim} ints"
        raise ConfigError(f"{name}={value!r} is not allowed: {name} must be {shape} >= {minimum} "
                          f"(and at most {maximum:,})")
    return tuple(int(v) for v in items)


def padding_spec(value, ndim: int) -> str | tuple[int, ...]:
    """'same', 'valid', an int >= 0 or a tuple of `ndim` ints >= 0 (torch.nn.functional semantics)."""
    if isinstance(value, str):
        if value.lower() in ("same", "valid"):
            return value.lower()
        raise ConfigError(f"padding={value!r} is not allowed: padding must be 'same', 'valid' or ints >= 0")
    return int_tuple("padding", value, ndim, minimum=0)


def fmt(value) -> str:
    """A parameter value as the user wrote it, for messages and summaries: (2, 2) -> 2."""
    if isinstance(value, tuple) and len(set(value)) == 1:
        return repr(value[0])
    return repr(value)
