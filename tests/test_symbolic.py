"""The engine that derives gradients from SymPy rules, checked against plain sympy.diff."""
import numpy as np
import sympy as sp
from hypothesis import given, settings, strategies as st

import gradcheck as gc
from gradcheck import symbolic
from gradcheck.strategies import arrays, conv_configs


@settings(max_examples=25)
@given(config=conv_configs(max_side=4, max_channels=2, max_kernel=3, max_batch=1), data=st.data())
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
