"""``gradcheck exercise new``: a fresh exercise with small integer data and its answer key, as a case file.

The configuration is the smallest one of the layer's Hypothesis ``configs`` (parameters given are held)
whose data input has at least 9 entries and whose output has at least 4 (or is a scalar loss): small
enough to work by hand, large enough to show every rule. The data are integers in [-3, 3] drawn with
``--seed``; the answer key (``claimed``) is computed with the layer's exact NumPy forward and backward.

For a class, every student gets a variant of their own (:func:`student_seed`: a seed per student id, so the
same id always gets the same numbers): ``new_exercise(layer, student=ID)`` for a fresh single-layer
exercise, :func:`variant` for any exercise of a case file, single-layer or network, whose given data are
redrawn in the same shapes and at the same decimal places (labels such as targets and indices are kept),
with the answer key computed by the grader itself and checked to grade right before it is written.
"""
from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, find, settings

from ..errors import ConfigError, GradcheckError
from ..layers import REGISTRY, layer as make_layer
from ..layers.schema import command_args


def _interesting(config) -> bool:
    layer, shapes = config
    try:
        out_shape = tuple(layer.output_shape(shapes))
    except Exception:  # noqa: BLE001  (a configuration outside the layer's domain)
        return False
    first = shapes[layer.inputs[0]]
    square = all(len(set(s[2:])) <= 1 for n, s in shapes.items() if n in layer.differentiable)
    one_sample = len(first) < 3 or first[0] == 1
    return square and one_sample and int(np.prod(first)) >= 9 and (int(np.prod(out_shape)) >= 4 or out_shape == ()) and all(
        int(np.prod(s)) >= 2 for n, s in shapes.items() if n in layer.differentiable)


_STUDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")


def check_student(student) -> str:
    """A student id names the student's files and ends the exercise id: 1 to 48 letters, digits, '_' or '-',
    starting with a letter or digit, so no path or TOML can be smuggled in."""
    if not isinstance(student, str) or not _STUDENT.fullmatch(student):
        raise ConfigError(f"student id {student!r} is not allowed: 1 to 48 letters, digits, '_' or '-', "
                          "starting with a letter or digit")
    return student


def read_students(path) -> list[str]:
    """Student ids, one a line ('#' starts a comment, blank lines are skipped); each id once."""
    from .. import _io
    ids = [line.split("#", 1)[0].strip() for line in _io.read_text(path).splitlines()]
    ids = [check_student(i) for i in ids if i]
    seen = set()
    for i in ids:
        if i in seen:
            raise ConfigError(f"{path}: student id {i!r} is listed twice")
        seen.add(i)
    if not ids:
        raise ConfigError(f"{path}: no student ids (one a line)")
    return ids


def student_seed(student: str, seed: int = 0) -> int:
    """The data seed of ``student``'s variant: a hash of the id and the class's ``seed`` (a 32-bit int), so a
    variant can be drawn again from the id alone and two students share numbers only by chance."""
    digest = hashlib.sha256(f"{seed}:{check_student(student)}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


@functools.lru_cache(maxsize=16)
def _configuration(name: str, params: tuple):
    """The exercise's configuration: the same for every seed (a fixed search), so found once per class."""
    quiet = settings(database=None, max_examples=2000, suppress_health_check=list(HealthCheck))
    return find(REGISTRY[name].configs(**dict(params)), _interesting, settings=quiet, random=random.Random(0))


def new_exercise(name: str, *, seed: int = 0, student: str | None = None, **params) -> str:
    """TOML text of one exercise for layer ``name`` with ``params`` held, answers in ``claimed``; with
    ``student``, that student's variant (data drawn with ``student_seed(student, seed)``)."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown layer {name!r}; registered layers: {', '.join(sorted(REGISTRY))}")
    make_layer(name, **params)  # parameters are validated before anything is drawn
    quiet = settings(database=None, max_examples=2000, suppress_health_check=list(HealthCheck))
    layer, shapes = _configuration(name, tuple(params.items()))
    class_seed, seed = seed, seed if student is None else student_seed(student, seed)
    rng = np.random.default_rng(seed)
    inputs = {}
    for input_name, shape in shapes.items():
        if input_name in layer.differentiable:
            inputs[input_name] = rng.integers(-3, 4, size=shape)
        else:  # targets, indices: the layer's own strategy keeps them valid
            strategy = layer.input_strategy(input_name, shapes, "integer")
            varied = (lambda a: np.size(a) == 1 or len(set(np.ravel(a).tolist())) > 1)  # not all class 0
            inputs[input_name] = np.asarray(find(strategy, varied, settings=quiet, random=random.Random(seed)))
    out = layer.numpy_forward(*inputs.values())
    grad_out = rng.integers(-3, 4, size=out.shape) if out.size > 1 else None
    grads = layer.numpy_backward(np.ones_like(out) if grad_out is None else grad_out, *inputs.values())
    claimed = {"out": out, **{f"grad_{n}": g for n, g in zip(inputs, grads) if g is not None
                              and n in layer.differentiable}}
    source = " ".join(p for p in [f"gradcheck exercise new {name}", command_args(params)] if p)
    if student is not None:
        return exercise_toml(f"{name}-{student}"[:64], layer, inputs, grad_out, claimed, ask=list(claimed),
                             title=f"{name} exercise for {student}",
                             source=source + f" --seed {class_seed} --student {student}")
    return exercise_toml(f"{name}-seed{seed}", layer, inputs, grad_out, claimed, ask=list(claimed),
                         title=f"{name} exercise (seed {seed})", source=source + f" --seed {seed}")


def exercise_toml(ident: str, layer, inputs: dict, grad_out, claimed: dict, *, ask=None, title="", source="",
                  single_channel: bool = True) -> str:
    """A case file with one single-layer exercise: full-rank ``inputs`` (written in 2-D when they are one
    sample of one channel), ``grad_out`` (None: the output is a scalar loss), and the answer key ``claimed``."""
    dropped = 0
    if single_channel:
        first = inputs[layer.inputs[0]]
        dropped = first.ndim - _single_channel(layer, layer.inputs[0], first).ndim
    lines = [f'title = "{title or ident}"'] + ([f'source = "{source}"'] if source else [])
    lines += ["", "[[exercise]]", f'id = "{ident}"', f'layer = "{layer.name}"',
              "params = { " + ", ".join(f"{k} = {_toml(_collapse(v))}" for k, v in layer.params.items()
                                 if v is not None) + " }"]  # None: the default, which TOML cannot write
    if ask:
        lines.append("ask = [" + ", ".join(f'"{q}"' for q in ask) + "]")
    if not layer.exact:  # exp/log answers are written rounded
        lines.append("tolerance = { decimals = 4 }")
    lines += ["", "[exercise.given]"]
    lines += [f"{n} = {_toml(_single_channel(layer, n, a) if single_channel else a)}" for n, a in inputs.items()]
    if grad_out is not None:
        lines.append(f"grad_out = {_toml(_drop(np.asarray(grad_out), dropped))}")
    if claimed:
        lines += ["", "# the answer key: delete [exercise.claimed] to hand the exercise out (`ask` keeps the questions)",
                  "[exercise.claimed]"]
        for q, v in claimed.items():
            name = q[5:] if q.startswith("grad_") else None
            if name in inputs and single_channel:
                v = np.asarray(v).reshape(_single_channel(layer, name, inputs[name]).shape)
            elif q == "out":
                v = _drop(np.asarray(v), dropped)
            lines.append(f"{q} = {_toml(v)}")
    return "\n".join(lines)


def _drop(a: np.ndarray, axes: int) -> np.ndarray:
    """Drop ``axes`` leading axes when they have size 1 (the output of a 2-D single-channel exercise)."""
    return a.reshape(a.shape[axes:]) if axes and all(s == 1 for s in a.shape[:axes]) else a


def _single_channel(layer, name, a):
    """Single-sample, single-channel data are written in the rank a hand exercise uses (2-D for conv2d)."""
    rank = layer.promotable.get(name)
    if rank is not None and a.ndim > rank and all(s == 1 for s in a.shape[:a.ndim - rank]):
        return a.reshape(a.shape[a.ndim - rank:])
    return a


def _collapse(v):
    """(2, 2) -> 2, as a user writes it."""
    return v[0] if isinstance(v, tuple) and len(set(v)) == 1 else v


def _toml(v) -> str:
    if isinstance(v, np.ndarray):
        return _toml(v.tolist()) if v.ndim else _toml(v[()])
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table, keys quoted unless bare
        return "{ " + ", ".join(f"{_key(k)} = {_toml(x)}" for k, x in v.items()) + " }"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, Fraction):
        return str(v.numerator) if v.denominator == 1 else f'"{v.numerator}/{v.denominator}"'
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(int(v))


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


# -- variants of any exercise of a case file ----------------------------------------------------------------
def variant(path, exercise: str | None, student: str, seed: int = 0) -> tuple[str, str]:
    """(hand-out, answer key): case-file texts of ``student``'s variant of ``exercise`` in case file ``path``
    (the only one when None). The hand-out asks the exercise's questions (``ask``); the key also holds the
    answers (``claimed``), computed by the grader and graded right before they are returned."""
    from .casefile import load_cases, read_toml
    from .grade import grade

    check_student(student)
    exercises = load_cases(path)
    if exercise is None and len(exercises) != 1:
        raise ConfigError(f"{path} holds {len(exercises)} exercises; choose one with --exercise: "
                          f"{', '.join(e.id for e in exercises)}")
    ex = next((e for e in exercises if exercise in (None, e.id)), None)
    if ex is None:
        raise ConfigError(f"{path} has no exercise {exercise!r}; it has {', '.join(e.id for e in exercises)}")
    doc = read_toml(path)
    table = next(t for t in doc["exercise"] if t.get("id") == ex.id)
    rng = np.random.default_rng(student_seed(student, seed))
    given = {key: _redraw(ex, key, value, rng) for key, value in _given_raw(table).items()}
    ident = f"{ex.id}-{student}"[:64]
    # notes go: they speak of the original numbers
    keep = {k: v for k, v in table.items() if k not in ("id", "given", "claimed", "expect", "ask", "title", "notes")}
    command = f"gradcheck exercise new {path} --exercise {ex.id} --seed {seed} --student {student}"
    lines = [f"title = {_toml(str(doc.get('title', ex.id)) + f' (variant for {student})')}",
             f"source = {_toml(command)}",
             "", "[[exercise]]", f"id = {_toml(ident)}"]
    lines += [f"{_key(k)} = {_toml(v)}" for k, v in keep.items()]
    lines.append(f"ask = {_toml(ex.asked)}")
    lines += ["", "[exercise.given]"] + [f"{k} = {_toml(v)}" for k, v in given.items()]
    handout = "\n".join(lines)
    (drawn,) = load_cases(f"{student}'s variant of {ex.id}", handout)
    claimed = {a: _answer(drawn, a, np.shape(np.asarray(ex.claimed[a], dtype=object)) if a in ex.claimed else None)
               for a in drawn.asked}
    key = handout + "\n\n# the answer key\n[exercise.claimed]\n" + "\n".join(f"{a} = {_toml(v)}" for a, v in claimed.items())
    (keyed,) = load_cases(f"{student}'s answer key", key)
    result = grade(keyed)
    if not all(q.correct for q in result.quantities):  # never hand out a key the grader marks wrong
        raise GradcheckError(f"the answer key of {ident} does not grade right: "
                             f"{', '.join(q.name for q in result.quantities if not q.correct)}")
    return handout + "\n", key + "\n"


def _given_raw(table: dict) -> dict:
    from .casefile import flatten
    return flatten(table.get("given", {}))


def _redraw(ex, key: str, raw, rng) -> object:
    """New numbers for given array ``key``, in its written shape and decimal places; labels are kept (a
    class target, a one-hot row, unpooling indices: inputs no gradient flows to)."""
    stage, _, name = key.rpartition(".")
    layer = next((s.layer for s in ex.chain.stages if s.name == stage), ex.chain.stages[0].layer)
    local = layer.inputs[0] if key == "x" else name
    if key != "grad_out" and (local not in layer.differentiable or local == "target"):
        return raw
    values_ = np.asarray(ex.data[key], dtype=object)
    places = max((_places(Fraction(v)) for v in values_.ravel()), default=0)
    if places is None:  # a fraction such as 1/3: drawn as small integers
        places = 0
    bound = max(3, int(max(abs(Fraction(v)) for v in values_.ravel()) * 10 ** places))
    drawn = rng.integers(-bound, bound + 1, size=np.shape(np.asarray(raw, dtype=object)))
    out = [Decimal(int(k)).scaleb(-places) if places else int(k) for k in np.ravel(drawn)]
    return np.asarray(out, dtype=object).reshape(drawn.shape).tolist() if drawn.ndim else out[0]


def _places(f: Fraction, most: int = 6):
    """Decimal places ``f`` is written with (0.25: 2), None beyond ``most`` (1/3)."""
    for p in range(most + 1):
        if (f * 10 ** p).denominator == 1:
            return p
    return None


def _answer(ex, address: str, shape) -> object:
    """The right answer of ``address`` written for a key: exact numbers exactly (a terminating decimal as a
    decimal, else "a/b"), floats to one place beyond a ``decimals`` tolerance (else in full); in ``shape``
    when given."""
    from .network import align
    from ..number_text import rounded_decimal
    from .values import round_half_up

    value = ex.expected[address]
    quantity = address.rpartition(".")[2]
    if quantity == "out_shape":
        return list(value)
    if quantity == "n_params":
        return int(value)
    arr = np.asarray(value)
    if shape is not None:
        arr = align(arr, shape) if align(arr, shape) is not None else arr
    tol = ex.tolerance(address)
    digits = tol.shown_digits(0)

    def entry(v):
        if isinstance(v, (float, np.floating)):
            if digits and digits[0] == "decimals":
                return Decimal(repr(round_half_up(float(v), digits[1])))  # one place beyond the tolerance
            return float(v)
        f = Fraction(v)
        p = _places(f, 40)
        return int(f) if f.denominator == 1 else f if p is None else rounded_decimal(f, p)

    out = np.empty(arr.shape, dtype=object)
    for index in np.ndindex(arr.shape):
        out[index] = entry(arr[index])
    return out.tolist() if out.ndim else out[()]


def class_variants(students: list[str], *, layer: str | None = None, source=None, exercise: str | None = None,
                   seed: int = 0, **params) -> dict[str, tuple[str, str]]:
    """{student: (hand-out, answer key)}: a fresh ``layer`` exercise (``params`` held) or a variant of
    ``exercise`` of case file ``source``, one per student id."""
    if (layer is None) == (source is None):
        raise ConfigError("give a layer (a fresh exercise) or a case file (variants of its exercise), not both")
    if source is not None and params:
        raise ConfigError(f"--{next(iter(params)).replace('_', '-')}: the layer parameters are {source}'s; "
                          "give them with a layer only")
    out = {}
    for student in students:
        if layer is not None:
            key = new_exercise(layer, seed=seed, student=student, **params)
            out[student] = (key.split("\n\n# the answer key")[0] + "\n", key + "\n")
        else:
            out[student] = variant(source, exercise, student, seed)
    return out
