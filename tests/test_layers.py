"""One parametrized test per property, over every registered layer: adding a layer needs no new test code."""
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import gradcheck as gc
from gradcheck import symbolic
from gradcheck.oracles import jax_oracle
from gradcheck.tolerance import rtol_for, within
from gradcheck.strategies import examples

LAYERS = gc.layers()


def _verify(example, oracles=("sympy", "numpy", "jax")):
    return gc.verify(example.layer, *example.inputs, grad_out=example.grad_out, oracles=oracles)


@pytest.mark.parametrize("name", LAYERS)
@given(data=st.data())
def test_oracles_agree_exactly_on_integer_data(name, data):
    example = data.draw(examples(name, kind="integer"))
    verdict = _verify(example)
    assert verdict.ok, str(verdict)
    assert verdict.kind == "integer"
    if example.layer.exact:  # compared with ==; jax too unless the layer divides (1/9 rounds in float64)
        assert verdict.tolerances[("sympy", "numpy")] == 0.0
        assert not any(verdict.tolerances.values()) or not example.layer.closed_on_integers


@pytest.mark.parametrize("name", LAYERS)
@given(data=st.data())
def test_sympy_and_numpy_agree_exactly_on_rational_data(name, data):
    verdict = _verify(data.draw(examples(name, kind="rational")))
    assert verdict.ok, str(verdict)
    if verdict.layer.exact:
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
    arrays = dict(zip(names, example.inputs))
    numpy_out = layer.numpy_forward(*example.inputs)
    jax_out = jax_oracle.forward(layer, arrays)
    sympy_out = symbolic.forward(layer, arrays)
    assert numpy_out.shape == jax_out.shape == sympy_out.shape == layer.output_shape(shapes)
    float64 = rtol_for(np.float64)
    assert within(numpy_out, sympy_out, 0.0 if layer.exact else float64).all()
    assert within(jax_out, sympy_out, 0.0 if layer.exact and layer.closed_on_integers else float64).all()


@pytest.mark.parametrize("name", LAYERS)
@given(data=st.data())
def test_verifying_leaves_jax_in_its_default_32_bit_mode(name, data):
    _verify(data.draw(examples(name)))
    assert jnp.asarray(np.ones(1)).dtype == jnp.float32
