"""The catalogue of textbook mistakes, shared by ``check_backward`` and grading.

Each :class:`Mistake` recomputes the quantities of a layer the way someone who made that mistake would:
``predict(layer, arrays, grad_out)`` returns one or more alternative wrong results, each a dict
quantity -> array, with quantities named ``out``, ``out_shape`` and ``grad_<input>``. :func:`diagnose`
names the mistakes that reproduce a wrong answer exactly. Adding a mistake = one decorated function in the
module of its layer family (``mistakes/conv.py``, ...).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..tolerance import rtol_for, within


@dataclass(frozen=True)
class Mistake:
    id: str                   # snake_case catalogue id, stable: graders and users match on it
    layers: tuple[str, ...]   # layer names it applies to ("*" = all)
    description: str          # what was done wrong, in a sentence a student understands
    predict: Callable         # (layer, arrays, grad_out) -> list of {quantity: wrong value}
    kind: str = "backward"    # "backward": predicts wrong gradients (check_backward catches it);
                              # "convention": gradients of another valid convention (relu'(0) = 1), named the
                              # same way but not a mistake in itself;
                              # "forward": wrong outputs; "shape": wrong output shapes or counts;
                              # "answer": how an answer is written down (grading only)


CATALOGUE: dict[str, Mistake] = {}


def mistake(id: str, layers: tuple[str, ...], description: str, kind: str = "backward"):
    """Decorator registering ``predict(layer, arrays, grad_out)`` under catalogue ``id``."""
    def register(predict):
        if id in CATALOGUE:
            raise ValueError(f"mistake {id!r} is registered twice")
        CATALOGUE[id] = Mistake(id, layers, description, predict, kind)
        return predict
    return register


def for_layer(name: str) -> list[Mistake]:
    return [m for m in CATALOGUE.values() if name in m.layers or "*" in m.layers]


def same_values(a, b) -> bool:
    """Equal values: exactly for ints/Fractions, within the float64 tolerance when a float is involved."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    exact = a.dtype.kind in "iuO" and b.dtype.kind in "iuO"
    return bool(np.all(within(a, b, 0.0 if exact else rtol_for(np.float64))))


def diagnose(layer, arrays: dict, grad_out, answers: dict, correct: dict) -> list[str]:
    """Ids of the catalogued mistakes that reproduce every wrong answer and leave the right ones right.

    ``answers`` and ``correct`` map quantity names to the answer given and the right value. A mistake
    that predicts a quantity it was not asked about is not held to it; one whose prediction equals the
    right answer on a wrong quantity (the example cannot tell them apart) does not match.
    """
    wrong = {q for q in answers if q in correct and not same_values(answers[q], correct[q])}
    if not wrong:
        return []
    found = []
    for m in for_layer(layer.name):
        try:
            predictions = m.predict(layer, arrays, grad_out)
        except Exception:  # a mistake that cannot be made on this configuration does not match
            continue
        for prediction in predictions:
            asked = [q for q in answers if q in prediction]
            if wrong <= set(asked) and all(same_values(answers[q], prediction[q]) for q in asked):
                found.append(m.id)
                break
    return found


def describe(ids: list[str]) -> str:
    return "; ".join(f"{i} ({CATALOGUE[i].description})" for i in ids)


from . import conv  # noqa: E402,F401  (registers the convolution mistakes)
from . import dense  # noqa: E402,F401  (dense layers, activations, losses)
from . import conv_transpose  # noqa: E402,F401
from . import pool  # noqa: E402,F401  (pooling, unpooling and upsampling mistakes)
from . import generic  # noqa: E402,F401
from . import network  # noqa: E402,F401  (the SGD step of multi-layer exercises)
from . import shape  # noqa: E402,F401  (output sizes, any layer)

__all__ = ["CATALOGUE", "Mistake", "describe", "diagnose", "for_layer", "mistake", "same_values"]
