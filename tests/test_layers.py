"""One parametrized test per property, over every registered layer: adding a layer needs no new test code."""
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

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
    example = data.draw(examples(name, kind="integer", extensions=True))
    verdict = _verify(example)
    assert verdict.ok, str(verdict)
    assert verdict.kind == "integer"
    if example.layer.exact:  # compared with ==; jax too unless the layer divides (1/9 rounds in float64)
        assert verdict.tolerances[("sympy", "numpy")] == 0.0
        assert not any(verdict.tolerances.values()) or not example.layer.closed_on_integers


@pytest.mark.parametrize("name", LAYERS)
@given(data=st.data())
def test_sympy_and_numpy_agree_exactly_on_rational_data(name, data):
    # sympy and numpy only: jax computes in float64, which the float-data property already compares, and
    # compiling a JAX program per drawn shape was most of this property's time
    verdict = _verify(data.draw(examples(name, kind="rational", extensions=True)), oracles=("sympy", "numpy"))
    assert verdict.ok, str(verdict)
    if verdict.layer.exact:
        assert verdict.tolerances[("sympy", "numpy")] == 0.0
        for grad in verdict.gradients["numpy"].values():
            assert grad.dtype == object  # Fractions all the way: no float crept in


@pytest.mark.parametrize("name", LAYERS)
@given(data=st.data())
def test_finite_differences_agree_on_float_data(name, data):
    verdict = _verify(data.draw(examples(name, kind="float", bounds={"max_side": 6}, extensions=True)),
                      oracles=("sympy", "numpy", "jax", "fd"))
    assert verdict.ok, str(verdict)


@pytest.mark.parametrize("name", LAYERS)
@settings(max_examples=30)  # each new shape compiles a JAX forward; the gradient properties above draw 60
@given(data=st.data())
def test_forward_and_output_shape_agree(name, data):
    example = data.draw(examples(name, kind="integer", extensions=True))
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
@settings(max_examples=3)  # a property of the jax oracle's context, not of the data
@given(data=st.data())
def test_verifying_leaves_jax_in_its_default_32_bit_mode(name, data):
    _verify(data.draw(examples(name)))
    assert jnp.asarray(np.ones(1)).dtype == jnp.float32


# One table of bad parameters across the registry (layer-specific corners live in the family test files):
# each raises ConfigError naming the parameter, its value and what is allowed.
BAD_PARAMETERS = [
    ("conv2d", {"stride": 0}, None, r"stride=0 is not allowed: stride must be an int or a tuple of 2 ints >= 1"),
    ("conv2d", {}, {"x": (1, 1, 2, 2), "w": (1, 1, 3, 3)}, r"kernel size 3 .* larger than the padded input \(2 \+ 0"),
    ("conv1d", {"dilation": 0}, None, r"dilation=0 is not allowed: dilation must be an int >= 1"),
    ("conv_transpose2d", {"stride": 2, "output_padding": 2}, None,
     r"output_padding=2 is not allowed: output_padding must be in 0..1 \(smaller than stride 2 or dilation 1\)"),
    ("conv_transpose1d", {"padding": "same"}, None, r"padding='same' is not allowed: .* ints >= 0"),
    ("separable_conv2d", {"padding": -1}, None, r"padding=-1 is not allowed"),
    ("max_pool2d", {"kernel_size": 2, "padding": 2}, None, r"padding=2 is not allowed .* at most half the kernel"),
    ("max_pool2d", {"kernel_size": 3}, {"x": (1, 1, 2, 2)}, r"kernel size 3 .* larger than the padded input"),
    ("max_pool2d", {"kernel_size": 2, "ties": "last"}, None, r"ties='last' is not allowed: ties must be 'first'"),
    ("avg_pool2d", {"kernel_size": 2, "divisor_override": 0}, None, r"divisor_override=0 is not allowed"),
    ("avg_pool2d", {"kernel_size": 3, "padding": "same", "count_include_pad": True}, None,
     r"count_include_pad=True is not allowed with padding='same'"),
    ("max_unpool2d", {"kernel_size": 0}, None, r"kernel_size=0 is not allowed"),
    ("upsample_nearest2d", {"scale_factor": 0}, None, r"scale_factor=0 is not allowed"),
    ("upsample_zeros2d", {"scale_factor": 1.5}, None, r"scale_factor=1.5 is not allowed"),
    ("linear", {"bias": True}, None, r"linear has no parameter 'bias'"),
    ("flatten", {"start_dim": 1.5}, None, r"start_dim=1.5 is not allowed"),
    ("relu", {"inplace": True}, None, r"relu has no parameter 'inplace'"),
    ("sigmoid", {"beta": 1}, None, r"sigmoid has no parameter 'beta'"),
    ("tanh", {"x": 1}, None, r"tanh has no parameter 'x'"),
    ("softmax", {"dim": "last"}, None, r"dim='last' is not allowed"),
    ("softmax_cross_entropy", {"reduction": "none"}, None, r"reduction='none' is not allowed: .* 'mean' or 'sum'"),
    ("mse", {"reduction": "max"}, None, r"reduction='max' is not allowed"),
    ("batch_norm", {"eps": 0}, None, r"eps=0 is not allowed: eps must be a number > 0"),
]


@pytest.mark.parametrize("name, params, shapes, match", BAD_PARAMETERS)
def test_bad_parameters_raise_one_config_error(name, params, shapes, match):
    with pytest.raises(gc.ConfigError, match=match):
        layer = gc.layer(name, **params)
        if shapes:  # a parameter/shape combination outside the layer's domain
            layer.check_shapes(shapes)


def test_the_bad_parameter_table_covers_every_layer():
    assert sorted({row[0] for row in BAD_PARAMETERS}) == LAYERS
