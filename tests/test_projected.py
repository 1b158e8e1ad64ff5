"""gc.verify_projected: random projections of a backward against the layer's own forward, exact at any size.

The conv cases are past the SymPy plan's reach (symbolic.MAX_TERMS = 20M terms) yet cheap in BLAS; the VGG16
conv1_2 size itself runs in ``python -m bench --only projected``.
"""
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

import gradcheck as gc
from gradcheck import symbolic
from gradcheck.errors import ConfigError
from gradcheck.mistakes import CATALOGUE
from gradcheck.projected import _exact_dot, stencil

# (label, layer params, shapes): 37.9M and 24M terms, past the plan's 20M (symbolic.MAX_TERMS).
BIG = [
    ("s1", {"stride": 1, "padding": 1}, {"x": (1, 32, 64, 64), "w": (32, 32, 3, 3), "b": (32,)}),
    ("s2", {"stride": 2, "padding": 1}, {"x": (1, 96, 34, 34), "w": (96, 96, 3, 3), "b": (96,)}),  # 24M
]


def _data(layer, shapes, kind, seed=0):
    rng = np.random.default_rng(seed)
    draw = (lambda s: rng.integers(-3, 4, s).astype(np.float64)) if kind == "integer" else rng.standard_normal
    return [draw(s) for s in shapes.values()], draw(layer.output_shape(shapes))


def _mistake(name):
    """A backward that makes the catalogued mistake ``name``."""
    def backward(g, *inputs, **params):
        layer = gc.layer("conv2d", **params)
        wrong = CATALOGUE[name].predict(layer, dict(zip(layer.inputs, inputs)), g)[0]
        return tuple(wrong[f"grad_{n}"] for n in layer.inputs[:len(inputs)])
    backward.__name__ = name
    return backward


# (size, backward, wrong inputs or None for a correct one)
CONV_CASES = [
    ("s1", None, None),
    ("s1", "filter_not_rotated", ("x",)),
    ("s2", None, None),
    ("s2", "gradient_not_dilated", ("x", "w")),
]


@pytest.mark.parametrize("kind", ["integer", "float"])
@pytest.mark.parametrize("size, mistake, wrong", CONV_CASES)
def test_conv_past_the_plan_reach(size, mistake, wrong, kind):
    _, params, shapes = next(c for c in BIG if c[0] == size)
    layer = gc.layer("conv2d", **params)
    with pytest.raises(ConfigError):  # past the plan's reach: gc.verify with the sympy oracle refuses it
        symbolic.check_size(layer, shapes)
    inputs, g = _data(layer, shapes, kind)
    v = gc.verify_projected(layer, *inputs, grad_out=g, backward=_mistake(mistake) if mistake else None,
                            trials=3, seed=1)
    assert v.exact == (kind == "integer")
    assert v.ok == (wrong is None), str(v)
    if wrong:
        bad = v.failed_trial()
        assert bad.number == 1 and bad.wrong_inputs == wrong
        assert "FAILED: trial 1 of 1" in str(v) and "wrong: " + ", ".join(f"grad_{w}" for w in wrong) in str(v)
    else:
        assert len(v.trials) == 3 and "OK: backward and forward agree in 3 random projection(s)" in str(v)
        if kind == "integer":
            assert all(t.tolerance == 0 and t.backward_total == t.forward_total for t in v.trials)
            assert v.failure_bound == v.set_size ** -3 and v.set_size >= 2 ** 16


def _off_by(name, which, amount):
    """The NumPy backward of layer ``name`` with ``amount`` added to one element of gradient ``which``."""
    def backward(g, *inputs, **params):
        layer = gc.layer(name, **params)
        grads = [None if a is None else np.array(a) for a in layer.numpy_backward(g, *inputs)]
        i = layer.inputs.index(which)
        grads[i].flat[grads[i].size // 2] += amount
        return tuple(grads)
    return backward


# (layer, params, shapes, data kind, backward's wrong input or None, exact?) — one per multiaffine family
OTHERS = [
    ("linear", {}, {"x": (4, 6), "w": (5, 6), "b": (5,)}, "integer", None, True),
    ("linear", {}, {"x": (4, 6), "w": (5, 6), "b": (5,)}, "integer", "b", True),
    ("conv_transpose2d", {"stride": 2}, {"x": (1, 3, 5, 5), "w": (3, 2, 3, 3)}, "integer", "w", True),
    ("conv_transpose2d", {"stride": 2}, {"x": (1, 3, 5, 5), "w": (3, 2, 3, 3)}, "float", None, False),
    ("separable_conv2d", {}, {"x": (1, 2, 6, 6), "w_depthwise": (2, 1, 3, 3), "w_pointwise": (3, 2, 1, 1)},
     "integer", None, True),   # degree 3: the stencil over t = ±1, ±2
    ("separable_conv2d", {}, {"x": (1, 2, 6, 6), "w_depthwise": (2, 1, 3, 3), "w_pointwise": (3, 2, 1, 1)},
     "integer", "w_pointwise", True),
    ("avg_pool2d", {"kernel_size": 3, "stride": 2}, {"x": (1, 2, 7, 7)}, "integer", None, True),  # Fractions
    ("avg_pool2d", {"kernel_size": 3, "stride": 2}, {"x": (1, 2, 7, 7)}, "integer", "x", True),
    ("avg_pool2d", {"kernel_size": 3, "stride": 2}, {"x": (1, 2, 7, 7)}, "float", "x", False),
    ("conv2d", {"stride": 2}, {"x": (1, 2, 6, 6), "w": (3, 2, 3, 3)}, "rational", None, True),
    ("conv2d", {"stride": 2}, {"x": (1, 2, 6, 6), "w": (3, 2, 3, 3)}, "rational", "w", True),
]


@pytest.mark.parametrize("name, params, shapes, kind, wrong, exact", OTHERS)
def test_every_multiaffine_family(name, params, shapes, kind, wrong, exact):
    layer = gc.layer(name, **params)
    inputs, g = _data(layer, shapes, kind, seed=2)
    if kind == "integer":
        inputs, g = [a.astype(np.int64) for a in inputs], g.astype(np.int64)
    if kind == "rational":  # a third of each integer: exact rationals, not closed under the layer's own ints
        inputs, g = [a.astype(np.int64).astype(object) * Fraction(1, 3) for a in inputs], g.astype(np.int64)
    off = Fraction(1, 7) if kind == "rational" else 1
    v = gc.verify_projected(layer, *inputs, grad_out=g, backward=_off_by(name, wrong, off) if wrong else None, seed=3)
    assert v.exact == exact and v.ok == (wrong is None), str(v)
    if wrong:
        assert v.failed_trial().wrong_inputs == (wrong,)
    if name == "avg_pool2d":
        assert ("avg_pool2d divides, exact in Fractions" if exact else "avg_pool2d divides, float data") in str(v)
    if kind == "rational":
        assert "rational data, exact in Fractions" in str(v)


def test_one_unit_off_in_a_million_is_caught_exactly():
    """On integer data nothing is forgiven: +1 on one of 131,072 elements of grad_x fails every trial."""
    _, params, shapes = BIG[0]
    layer = gc.layer("conv2d", **params)
    inputs, g = _data(layer, shapes, "integer", seed=4)
    for seed in range(3):
        v = gc.verify_projected(layer, *inputs, grad_out=g, backward=_off_by("conv2d", "x", 1), trials=1, seed=seed)
        assert not v.ok and v.failed_trial().wrong_inputs == ("x",)


# (what is wrong, backward, data kind, text of the failure)
BROKEN = [
    ("crashes", lambda g, *a, **p: 1 / 0, "integer", "ZeroDivisionError"),
    ("half on integer data", lambda g, x, w, **p: (np.zeros(x.shape) + 0.5, np.zeros(w.shape)), "integer",
     "grad_x holds 0.5 at [0, 0, 0, 0]: on integer data the gradients of conv2d are integers"),
    ("nan", lambda g, x, w, **p: (np.full(x.shape, np.nan), np.zeros(w.shape)), "float", "grad_x holds nan"),
    ("one gradient short", lambda g, x, w, **p: (np.zeros(x.shape),), "float", "returned 1 gradients"),
]


@pytest.mark.parametrize("what, backward, kind, text", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_backward_is_a_failure_not_an_ok(what, backward, kind, text):
    layer = gc.layer("conv2d")
    inputs, g = _data(layer, {"x": (1, 2, 5, 5), "w": (3, 2, 3, 3)}, kind)
    v = gc.verify_projected(layer, *inputs, grad_out=g, backward=backward, seed=0)
    assert not v.ok and not v.trials and text in str(v) and "FAILED: the check could not run" in str(v)


@pytest.mark.parametrize("call, message", [
    (lambda: gc.verify_projected("relu", [1, -1]), "relu is not affine in each of its inputs"),
    (lambda: gc.verify_projected("conv2d", [[1, 2], [3, 4]], [[1]], trials=0), "trials=0 is not allowed"),
    (lambda: gc.verify_projected("conv2d", [[1, 2], [3, 4]], [[1]], trials=True), "trials=True is not allowed"),
])
def test_bad_arguments_are_one_config_error(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_exact_dot_splits_into_limbs_and_stays_exact():
    rng = np.random.default_rng(0)
    a = rng.integers(-3, 4, 50_000)
    for big in (10, 2 ** 40, 2 ** 52):
        b = rng.integers(-big, big, 50_000)
        want = sum(int(p) * int(q) for p, q in zip(a, b))
        assert _exact_dot(a, b) == _exact_dot(a.astype(float), b.astype(float)) == want
    huge = np.array([2 ** 62, -(2 ** 61)], dtype=np.int64)
    assert _exact_dot(huge, huge) == 2 ** 124 + 2 ** 122          # not even one bit fits: Python ints
    assert _exact_dot(np.array([Fraction(1, 2)], dtype=object), np.array([4])) == 2


@pytest.mark.parametrize("degree", [1, 2, 3, 4, 5, 6])
def test_stencil_differentiates_polynomials_exactly(degree):
    coefficients = [Fraction(k + 3, k + 1) for k in range(degree + 1)]
    p = lambda t: sum(c * t ** k for k, c in enumerate(coefficients))  # noqa: E731
    assert sum(c * (p(j) - p(-j)) for j, c in stencil(degree)) == coefficients[1]


@pytest.mark.parametrize("argv, code, text", [
    (["verify", "conv2d", "--projected", "--examples", "3", "--seed", "1", "--max-side", "12", "--trials", "2"], 0,
     "OK: the NumPy backward agrees exactly with the forward"),
    (["verify", "linear", "--projected", "--examples", "2", "--seed", "1", "--kind", "float"], 0,
     "agrees within float tolerance"),
    (["verify", "relu", "--projected"], 2, "gradcheck: error: --projected cannot check relu"),
    (["verify", "--all", "--projected"], 2, "gradcheck: error: --projected checks one layer at a time"),
    (["verify", "conv2d", "--trials", "2"], 2, "gradcheck: error: --trials counts the random projections"),
    (["verify", "conv2d", "--projected", "--trials", "0"], 2, "gradcheck: error: --trials 0 is not allowed"),
    (["verify", "conv2d", "--projected", "--oracles", "numpy,jax"], 2, "--oracles does not apply to --projected"),
])
def test_cli(argv, code, text):
    run = subprocess.run([sys.executable, "-m", "gradcheck", *argv], capture_output=True, text=True, timeout=120)
    assert run.returncode == code, run.stderr
    out = run.stdout + run.stderr
    assert text in out and "Traceback" not in out
    if code == 2:
        assert run.stderr.count("\n") == 1


def test_a_backward_that_overwrites_its_inputs_does_not_change_the_forward():
    """Zeroing x and w in place and returning zeros would make every projection 0 = 0 if the forward read them."""
    def vandal(g, x, w, **params):
        x[...] = 0
        w[...] = 0
        return np.zeros(x.shape), np.zeros(w.shape)
    layer = gc.layer("conv2d")
    inputs, g = _data(layer, {"x": (1, 2, 5, 5), "w": (3, 2, 3, 3)}, "integer")
    assert not gc.verify_projected(layer, *inputs, grad_out=g, backward=vandal, seed=0).ok


def test_integers_past_int64_sums_are_checked_in_python_ints():
    """Entries near 2**40: sums of products pass int64 and float64, so the forward runs on Python ints."""
    layer = gc.layer("conv2d", stride=2)
    rng = np.random.default_rng(5)
    x, w = rng.integers(-2 ** 40, 2 ** 40, (1, 2, 6, 6)), rng.integers(-2 ** 40, 2 ** 40, (3, 2, 3, 3))
    g = rng.integers(-2 ** 40, 2 ** 40, (1, 3, 2, 2))
    v = gc.verify_projected(layer, x, w, grad_out=g, seed=0, trials=2)
    assert v.ok and v.exact and v.set_size == 2 ** 20, str(v)
    assert isinstance(v.trials[0].forward_total, int) and abs(v.trials[0].forward_total) > 2 ** 100
    assert not gc.verify_projected(layer, x, w, grad_out=g, backward=_off_by("conv2d", "w", 1), seed=0).ok
    # the same integers as float64: a float64 backward rounds them, so they are compared as floats, not ==
    floats = gc.verify_projected(layer, x.astype(float), w.astype(float), grad_out=g.astype(float), seed=0)
    assert floats.ok and not floats.exact and "sums pass 2**53" in str(floats)


@pytest.mark.parametrize("kind", ["integer", "float"])
@pytest.mark.parametrize("name", __import__("gradcheck.projected", fromlist=["x"]).multiaffine_layers())
def test_every_layer_declared_multiaffine_passes_with_its_own_backward(name, kind):
    """A layer wrongly declared multiaffine (its forward not a polynomial of degree ≤ layer.degree) fails here."""
    from hypothesis import given, settings

    from gradcheck.strategies import examples

    @settings(max_examples=15)
    @given(examples(name, kind=kind))
    def check(example):
        v = gc.verify_projected(example.layer, *example.inputs, grad_out=example.grad_out, trials=2, seed=0)
        assert v.ok, str(v)
    check()
