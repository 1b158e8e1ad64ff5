"""The engine that derives gradients from SymPy rules, checked against plain sympy.diff."""
from fractions import Fraction as F

import pytest
import numpy as np
import sympy as sp
from hypothesis import given, settings, strategies as st

import gradcheck as gc
from gradcheck import symbolic
from gradcheck.layers import IndexRule
from gradcheck.strategies import arrays, conv_configs


@settings(max_examples=25)
@given(config=conv_configs(max_side=4, max_channels=2, max_kernel=3, max_batch=1, extensions=True), data=st.data())
def test_engine_equals_sympy_diff_of_the_expanded_loss(config, data):
    """Reverse accumulation over the element rule == differentiating L = Σ G·O symbol by symbol."""
    layer, shapes = config
    outputs = symbolic.expand(layer, shapes)
    g = data.draw(arrays(outputs.shape))
    loss = sp.Add(*[int(gi) * oi for gi, oi in zip(g.ravel(), outputs.ravel())])
    values = {name: data.draw(arrays(shape)) for name, shape in shapes.items()}
    substitution = {sp.Symbol(f"{name}[{', '.join(map(str, ix))}]"): int(values[name][ix])
                    for name in shapes for ix in np.ndindex(*shapes[name])}
    engine = symbolic.gradients(layer, values, g)
    for name, shape in shapes.items():
        for ix in np.ndindex(*shape):
            symbol = sp.Symbol(f"{name}[{', '.join(map(str, ix))}]")
            assert sp.diff(loss, symbol).xreplace(substitution) == engine[name][ix]


def test_plans_are_cached_per_configuration():
    layer = gc.layer("conv2d", stride=2)
    shapes = {"x": (1, 2, 5, 5), "w": (3, 2, 3, 3)}
    assert symbolic.plan(layer, shapes) is symbolic.plan(gc.layer("conv2d", stride=2), shapes)
    assert symbolic.plan(layer, shapes) is not symbolic.plan(gc.layer("conv2d"), shapes)


def test_plan_counts_one_term_per_product():
    plan = symbolic.plan(gc.layer("conv2d", padding=1), {"x": (1, 3, 16, 16), "w": (4, 3, 3, 3), "b": (4,)})
    assert plan.n_terms == 1 * 4 * 16 * 16 * (3 * 3 * 3) + 1 * 4 * 16 * 16


def test_rule_prints_as_index_notation():
    rule = gc.layer("conv2d", stride=2, padding=1).sympy_rule({"x": (1, 1, 5, 5), "w": (1, 1, 3, 3)})
    text = sp.latex(rule.equation())
    assert r"\sum" in text and "2 i + p - 1" in text


class _ToyRule(gc.Layer):
    """A one-input layer whose SymPy rule is given directly: exercises the engine's features alone."""

    name, inputs, required, differentiable, ranks = "toy", ("x",), 1, ("x",), {"x": 2}

    def __init__(self, expr, fill=None):
        self.expr, self.fill, self.params = expr, fill or {}, {"expr": str(expr)}

    def validate(self, params):
        return params

    def output_shape(self, shapes):
        return shapes["x"]

    def sympy_rule(self, shapes):
        return IndexRule((N, I), shapes["x"], self.expr(shapes["x"][1]), dict(shapes), self.fill)

    numpy_forward = numpy_backward = jax_forward = configs = None


X = sp.IndexedBase("x")
N, I, J = sp.symbols("n i j", integer=True)
DATA = np.array([[1, -2, 0, 3], [2, 2, -1, 0]])
G = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])


def _first_max_of_three(k):
    reads = [X[N, I - 1], X[N, I], X[N, I + 1]]
    return sum(sp.Piecewise((r, sp.And(*[r > q for q in reads[:m]], *[r >= q for q in reads[m + 1:]])), (0, True))
               for m, r in enumerate(reads))


@pytest.mark.parametrize("what, expr, fill, out, grad", [
    ("Piecewise: relu'(0) = 0", lambda k: sp.Piecewise((X[N, I], X[N, I] > 0), (0, True)), None,
     [[1, 0, 0, 3], [2, 2, 0, 0]], [[1, 0, 0, 4], [5, 6, 0, 0]]),
    ("−∞ padding, first maximum wins ties", _first_max_of_three, {"x": float("-inf")},
     [[1, 1, 3, 3], [2, 2, 2, 0]], [[3, 0, 0, 7], [11, 7, 0, 8]]),
    ("a fractional index reads nothing (bed of nails)", lambda k: X[N, I / 2], None,
     [[1, 0, -2, 0], [2, 0, 2, 0]], [[1, 3, 0, 0], [5, 7, 0, 0]]),
    ("grid indices in the summand stay exact", lambda k: X[N, I] / (I + 1), None,
     [[1, -1, 0, F(3, 4)], [2, 1, F(-1, 3), 0]], [[1, 1, 1, 1], [5, 3, F(7, 3), 2]]),
])
def test_engine_features(what, expr, fill, out, grad):
    layer = _ToyRule(expr, fill)
    assert symbolic.forward(layer, {"x": DATA}).tolist() == out
    assert symbolic.gradients(layer, {"x": DATA}, G)["x"].tolist() == grad
    assert symbolic.plan(layer, {"x": DATA.shape}).exact


def test_transcendental_rules_are_evaluated_in_high_precision():
    softmax = _ToyRule(lambda k: sp.exp(X[N, I]) / sp.Sum(sp.exp(X[N, J]), (J, 0, k - 1)))
    assert not symbolic.plan(softmax, {"x": DATA.shape}).exact
    z = DATA.astype(float)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(symbolic.forward(softmax, {"x": DATA}), p, rtol=1e-15)
    expected = p * (G - (G * p).sum(axis=1, keepdims=True))  # the softmax vjp
    np.testing.assert_allclose(symbolic.gradients(softmax, {"x": DATA}, G)["x"], expected, rtol=1e-14)
