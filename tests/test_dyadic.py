"""Exact checks on float data through integers and powers of two (gradcheck.dyadic)."""
from fractions import Fraction

import numpy as np
import pytest

import gradcheck as gc
from gradcheck import dyadic, symbolic

TINY = 5e-324                 # the smallest subnormal, 2^-1074
RNG = np.random.default_rng(7)


def _exact(a):
    return np.array([Fraction(float(v)) for v in np.ravel(a)], dtype=object).reshape(np.shape(a))


@pytest.mark.parametrize("values, dtype", [
    ([2.0, -3.0, 0.0, 6.0], np.int64),                   # integer-valued floats stay the small ints they hold
    ([0.5, 0.25, -0.125], np.int64),
    ([1.5, -0.0, 0.0], np.int64),                        # -0.0 is 0
    ([TINY, 3 * TINY, 2.2e-310], np.int64),              # subnormals: whole multiples of 2^-1074
    ([1.0, 2.0 ** -20, 1.0 + 2.0 ** -52], np.int64),     # 53 bits wide
    ([1e300, 1e-300, -7.25], object),                    # 2,000 bits apart: Python ints, never wrapped
    ([2.0 ** 62, 1.0], object),                          # 63 bits: past the int64-safe width
    (np.float32([0.1, -3.5]), np.int64),
])
def test_split_is_exact(values, dtype):
    arr = np.asarray(values) if not isinstance(values, np.ndarray) else values
    ints, e = dyadic.split(arr)
    assert ints.dtype == dtype
    assert all(Fraction(int(m)) * Fraction(2) ** e == Fraction(float(v)) for m, v in zip(ints.ravel(), arr.ravel()))
    assert any(int(m) % 2 for m in ints.ravel())        # e is as large as it can be


CONV = gc.layer("conv2d", stride=2, padding=1)
SHAPES = {"x": (1, 2, 5, 5), "w": (3, 2, 3, 3), "b": (3,)}
G_SHAPE = CONV.output_shape(SHAPES)


def _data(scale_of):
    return {n: RNG.standard_normal(s) * scale_of(n, s) for n, s in {**SHAPES, "g": G_SHAPE}.items()}


@pytest.mark.parametrize("case, scale_of", [
    ("normal", lambda n, s: 1.0),
    ("wide exponents", lambda n, s: 2.0 ** RNG.integers(-200, 200, s)),
    ("subnormal x", lambda n, s: TINY * 2.0 ** 40 if n == "x" else 1.0),
    ("huge and tiny", lambda n, s: 1e150 if n == "w" else 1e-150),
    ("negative zero", lambda n, s: np.where(RNG.random(s) < 0.5, -0.0, 1.0)),
])
def test_float_data_are_checked_exactly(case, scale_of):
    d = _data(scale_of)
    verdict = gc.verify(CONV, d["x"], d["w"], d["b"], grad_out=d["g"], oracles=("sympy", "numpy"))
    assert verdict.ok and verdict.tolerances == {("sympy", "numpy"): 0.0}
    assert "[float data, exact comparison]" in str(verdict)
    # the rational path (every float a Fraction) gives the very same values
    arrays = {n: _exact(d[n]) for n in SHAPES}
    expected = symbolic.gradients(CONV, arrays, _exact(d["g"]))
    for name in SHAPES:
        assert np.all(verdict.gradients["numpy"][name] == expected[name]), name
        assert np.all(verdict.gradients["sympy"][name] == expected[name]), name


def test_values_past_64_bits_use_python_ints():
    d = _data(lambda n, s: 2.0 ** RNG.integers(-40, 40, s))
    scaled = dyadic.to_integers(CONV, {n: d[n] for n in SHAPES}, d["g"])
    assert scaled.arrays["x"].dtype == object and scaled.grad_out.dtype == object
    assert max(abs(v) for v in scaled.arrays["x"].flat).bit_length() > 64


def test_integer_valued_floats_take_the_int64_path():
    d = {n: RNG.integers(-3, 4, s).astype(np.float64) for n, s in {**SHAPES, "g": G_SHAPE}.items()}
    scaled = dyadic.to_integers(CONV, {n: d[n] for n in SHAPES}, d["g"])
    assert all(a.dtype == np.int64 for a in scaled.arrays.values()) and scaled.grad_out.dtype == np.int64


def _last_place_off(g, x, w, b=None, **params):
    """The textbook backward with one gradient element off by one unit of its last integer place: exactly
    wrong, far below any float tolerance."""
    grad_x, grad_w, grad_b = type(CONV).numpy_backward(CONV, g, x, w, b)
    grad_w = grad_w.copy()
    grad_w[0, 0, 0, 0] += 1 if grad_w.dtype.kind in "iuO" else 0.0
    return grad_x, grad_w, grad_b


def _filter_not_rotated(g, x, w, b=None, **params):
    from gradcheck.mistakes import CATALOGUE
    [wrong] = CATALOGUE["filter_not_rotated"].predict(CONV, {"x": x, "w": w, "b": b}, g)
    grad_x, grad_w, grad_b = type(CONV).numpy_backward(CONV, g, x, w, b)
    return wrong["grad_x"], grad_w, grad_b


@pytest.mark.parametrize("wrong", [_last_place_off, _filter_not_rotated])
def test_a_wrong_backward_on_float_data_is_caught_exactly(monkeypatch, wrong):
    d = _data(lambda n, s: 2.0 ** 30)     # large floats: one unit of the integers is ~2^-52 of a value
    layer = gc.layer("conv2d", stride=2, padding=1)
    monkeypatch.setattr(layer, "numpy_backward", wrong)
    verdict = gc.verify(layer, d["x"], d["w"], d["b"], grad_out=d["g"], oracles=("sympy", "numpy"))
    assert not verdict.ok and verdict.tolerances == {("sympy", "numpy"): 0.0}
    assert verdict.mismatches[0].odd_one_out == "numpy"


def test_a_users_backward_gets_the_float_data_as_given():
    seen = []

    def backward(g, x, w, b=None, **params):
        seen.append((x.dtype, np.array_equal(x, d["x"])))
        return CONV.backward(g, x, w, b)
    d = _data(lambda n, s: 1.0)
    verdict = gc.verify(CONV, d["x"], d["w"], d["b"], grad_out=d["g"], oracles=("sympy", "numpy", backward))
    assert verdict.ok and seen == [(np.float64, True)]
    assert verdict.tolerances[("sympy", "backward")] > 0  # a float result: within tolerance


@pytest.mark.parametrize("name, params, shapes, exact", [
    ("relu", {}, {"x": (2, 5)}, True),
    ("max_pool2d", {"kernel_size": 2}, {"x": (1, 1, 4, 4)}, True),
    ("linear", {}, {"x": (2, 3), "w": (4, 3)}, True),
    ("separable_conv2d", {}, {"x": (1, 2, 4, 4), "w_depthwise": (2, 1, 2, 2), "w_pointwise": (3, 2, 1, 1)}, True),
    ("avg_pool2d", {"kernel_size": 2}, {"x": (1, 1, 4, 4)}, False),      # divides: the rational path, as before
    ("mse", {"reduction": "sum"}, {"pred": (3,), "target": (3,)}, False),  # (p − t)²: no single power of two
])
def test_which_layers_check_float_data_exactly(name, params, shapes, exact):
    layer = gc.layer(name, **params)
    inputs = [RNG.standard_normal(s) for s in shapes.values()]
    verdict = gc.verify(layer, *inputs, oracles=("sympy", "numpy"))
    assert verdict.ok
    assert (verdict.tolerances[("sympy", "numpy")] == 0) == exact


def test_the_cli_labels_what_was_compared(capsys):
    from gradcheck import cli
    assert cli.main(["verify", "conv2d", "--kind", "float", "--examples", "3", "--seed", "1",
                     "--oracles", "sympy,numpy"]) == 0
    assert "sympy,numpy  exact " in capsys.readouterr().out
    assert cli._comparison("conv2d", "float", ["sympy", "numpy", "jax"], frozenset(),
                           {("sympy", "numpy"): 0.0, ("sympy", "jax"): 1.8e-12}) == "exact + float tol"
