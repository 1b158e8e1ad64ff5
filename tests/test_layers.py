"""One parametrized test per property, over every registered layer: adding a layer needs no new test code."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import gradcheck as gc
from gradcheck import symbolic
from gradcheck.strategies import examples

LAYERS = gc.layers()


def _verify(example, oracles=("sympy", "numpy", "jax")):
    return gc.verify(example.layer, *example.inputs, grad_out=example.grad_out, oracles=oracles)


@pytest.mark.parametrize("name", LAYERS)
@given(data=st.data())
def test_oracles_agree_exactly_on_integer_data(name, data):
    verdict = _verify(data.draw(examples(name, kind="integer")))
    assert verdict.ok, str(verdict)
    assert verdict.kind == "integer" and not any(verdict.tolerances.values())  # compared with ==


@pytest.mark.parametrize("name", LAYERS)
@given(data=st.data())
def test_sympy_and_numpy_agree_exactly_on_rational_data(name, data):
    verdict = _verify(data.draw(examples(name, kind="rational")))
    assert verdict.ok, str(verdict)
    assert verdict.tolerances[("sympy", "numpy")] == 0.0
    for grad in verdict.gradients["numpy"].values():
        assert grad.dtype == object  # Fractions all the way: no float crept in


@pytest.mark.parametrize("name", LAYERS)
@given(data=st.data())
def test_finite_differences_agree_on_float_data(name, data):
    verdict = _verify(data.draw(examples(name, kind="float", bounds={"max_side": 6})),
                      oracles=("sympy", "numpy", "jax", "fd"))
    assert verdict.ok, str(verdict)


@pytest.mark.parametrize("name", LAYERS)
@given(data=st.data())
def test_forward_and_output_shape_agree(name, data):
    example = data.draw(examples(name, kind="integer"))
    layer, names = example.layer, example.layer.inputs
    shapes = example.shapes
    numpy_out = layer.numpy_forward(*example.inputs)
    with jax.enable_x64(True):
        jax_out = np.asarray(layer.jax_forward(*(jnp.asarray(a, dtype=jnp.float64) for a in example.inputs)))
    sympy_out = symbolic.forward(layer, dict(zip(names, example.inputs)))
    assert numpy_out.shape == jax_out.shape == sympy_out.shape == layer.output_shape(shapes)
    assert np.array_equal(numpy_out, sympy_out) and np.array_equal(numpy_out, jax_out)


@pytest.mark.parametrize("name", LAYERS)
@given(data=st.data())
def test_verifying_leaves_jax_in_its_default_32_bit_mode(name, data):
    _verify(data.draw(examples(name)))
    assert jnp.asarray(np.ones(1)).dtype == jnp.float32
