"""What is special about convolution: the lectures' numbers, the textbook identities, adjointness."""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, strategies as st

import gradcheck as gc
from gradcheck.strategies import conv_configs, arrays
from tests.reference import conv2d_backward_loops, conv2d_loops

F = Fraction


def test_lecture_backward_exercise_exact():
    """lecture-facts §1: dL/dF = corr(X, dL/dO), dL/dX = full-conv(rot180 F, dL/dO)."""
    x = [[1, 0, -1], [1, 0, 1], [0, 1, 1]]
    w = [[-1, 2], [3, 1]]
    g = np.array([[F(-2, 10), F(2, 10)], [F(1, 10), F(-1, 10)]], dtype=object)
    grad_x, grad_w = gc.layer("conv2d").backward(g, x, w)
    assert grad_w.tolist() == [[F(-1, 10), F(-3, 10)], [F(-3, 10), F(2, 10)]]
    assert grad_x.tolist() == [[F(2, 10), F(-6, 10), F(4, 10)], [F(-7, 10), F(7, 10), 0],
                               [F(3, 10), F(-2, 10), F(-1, 10)]]
    assert gc.verify("conv2d", x, w, grad_out=g).ok


def test_lecture_backward_exercise_floats():
    grad_x, grad_w = gc.layer("conv2d").backward([[-0.2, 0.2], [0.1, -0.1]], [[1, 0, -1], [1, 0, 1], [0, 1, 1]],
                                                  [[-1, 2], [3, 1]])
    np.testing.assert_allclose(grad_w, [[-0.1, -0.3], [-0.3, 0.2]], rtol=1e-12)
    np.testing.assert_allclose(grad_x, [[0.2, -0.6, 0.4], [-0.7, 0.7, 0.0], [0.3, -0.2, -0.1]], atol=1e-12)


@pytest.mark.parametrize("x, w, expected", [
    ([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
     [[0, 1, 2], [2, 2, 0], [0, 1, 2]], [[12, 12, 17], [10, 17, 19], [9, 6, 14]]),
    ([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]],
     [[1, 0, 1], [0, 1, 0], [1, 0, 1]], [[4, 3, 4], [2, 4, 3], [2, 3, 4]]),
])
def test_lecture_forward_examples(x, w, expected):
    """lecture-facts §2, single-channel 2-D exercises answered in 2-D."""
    assert gc.layer("conv2d").forward(x, w).tolist() == expected


def test_lecture_1d_correlation_versus_true_convolution():
    """lecture-facts §2: conv1d correlates; the flipped kernel [3, 2, 1] gives the true convolution."""
    signal, kernel = [1, 4, 2, 0, 3], [1, 2, 3]
    conv1d = gc.layer("conv1d")
    assert conv1d.forward(signal, kernel).tolist() == np.correlate(signal, kernel, "valid").tolist()
    assert conv1d.forward(signal, kernel[::-1]).tolist() == np.convolve(signal, kernel, "valid").tolist()


@pytest.mark.parametrize("size, kernel, params, expected", [
    (224, 7, {}, 218), (5, 3, {"padding": 1}, 5), (227, 11, {"stride": 4}, 55), (28, 3, {"padding": "same"}, 28),
    (28, 6, {"padding": "same", "stride": 2}, 14), (14, 6, {"padding": "same", "stride": 2}, 7),
    (160, 3, {"padding": "same", "stride": 2}, 80),
])
def test_lecture_output_sizes(size, kernel, params, expected):
    """lecture-facts §3, including Keras-style 'same' with stride 2 (TensorFlow/XLA rule)."""
    layer = gc.layer("conv2d", **params)
    assert layer.output_shape({"x": (1, 1, size, size), "w": (1, 1, kernel, kernel)}) == (1, 1, expected, expected)


@given(config=conv_configs(max_side=7, extensions=True), data=st.data())
def test_same_padding_matches_xla(config, data):
    from jax import lax
    layer, shapes = config
    if layer.params["padding"] != "same":
        return
    size, kernel = shapes["x"][2:], shapes["w"][2:]
    dilated = tuple(d * (k - 1) + 1 for k, d in zip(kernel, layer.params["dilation"]))
    assert layer.pads(kernel, size) == tuple(lax.padtype_to_pads(size, dilated, layer.params["stride"], "SAME"))


@given(config=conv_configs(max_side=6, max_channels=4, extensions=True), data=st.data())
def test_numpy_forward_and_backward_match_literal_loops(config, data):
    layer, shapes = config
    x, w = data.draw(arrays(shapes["x"])), data.draw(arrays(shapes["w"]))
    b = data.draw(arrays(shapes["b"])) if "b" in shapes else None
    p = layer.params
    pads = layer.pads(shapes["w"][2:], shapes["x"][2:])
    out = layer.forward(x, w, b)
    assert np.array_equal(out, conv2d_loops(x, w, b, p["stride"], pads, p["dilation"], p["groups"]))
    g = data.draw(arrays(out.shape))
    expected = conv2d_backward_loops(g, x, w, p["stride"], pads, p["dilation"], p["groups"])
    for got, want in zip(layer.backward(g, x, w, b), expected):
        assert np.array_equal(got, want)


@given(config=conv_configs(extensions=True), data=st.data())
def test_adjoint_identities(config, data):
    """Convolution is linear in X and in F, so ⟨G, conv(X, F)⟩ = ⟨X, dL/dX⟩ = ⟨F, dL/dF⟩, exactly."""
    layer, shapes = config
    x, w = data.draw(arrays(shapes["x"])), data.draw(arrays(shapes["w"]))
    out = layer.forward(x, w)
    g = data.draw(arrays(out.shape))
    grad_x, grad_w = layer.backward(g, x, w)
    assert np.sum(g * out) == np.sum(x * grad_x) == np.sum(w * grad_w)


def test_two_dimensional_exercise_answers_come_back_in_the_shape_given():
    layer = gc.layer("conv2d", padding=1)
    gx, gw, gb = layer.backward(np.ones((3, 3)), np.ones((3, 3)), np.ones((3, 3)), 0.5)
    assert gx.shape == (3, 3) and gw.shape == (3, 3) and gb.shape == ()
    gx, gw = layer.backward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)))
    assert gx.shape == (1, 1, 3, 3)


@pytest.mark.parametrize("params, match", [
    ({"stride": 0}, r"stride=0 is not allowed: stride must be an int or a tuple of 2 ints >= 1"),
    ({"stride": -1}, r"stride=-1"),
    ({"stride": (1, 2, 3)}, r"stride=\(1, 2, 3\)"),
    ({"stride": 1.5}, r"stride=1.5"),
    ({"padding": -1}, r"padding=-1 .* >= 0"),
    ({"padding": "full"}, r"padding='full' is not allowed: padding must be 'same', 'valid' or ints >= 0"),
    ({"dilation": 0}, r"dilation=0"),
    ({"groups": 0}, r"groups=0 is not allowed: groups must be an int >= 1"),
    ({"groups": True}, r"groups=True"),
    ({"strides": 2}, r"conv2d has no parameter 'strides'"),
])
def test_bad_parameters_raise_config_error(params, match):
    with pytest.raises(gc.ConfigError, match=match):
        gc.layer("conv2d", **params)


@pytest.mark.parametrize("params, x, w, error, match", [
    ({}, (1, 1, 2, 2), (1, 1, 3, 3), gc.ConfigError, r"kernel size 3 .* larger than the padded input \(2 \+ 0 \+ 0"),
    ({"dilation": 2}, (1, 1, 4, 4), (1, 1, 3, 3), gc.ConfigError, r"dilation 2: extent 5"),
    ({"groups": 2}, (1, 3, 4, 4), (2, 1, 1, 1), gc.ConfigError, r"groups=2 does not divide the 3 input channels"),
    ({"groups": 2}, (1, 4, 4, 4), (3, 2, 1, 1), gc.ConfigError, r"does not divide the 3 output channels"),
    ({}, (1, 2, 4, 4), (1, 3, 1, 1), gc.InputError, r"second dimension must be 2"),
    ({}, (1, 4, 4), (1, 1, 1, 1), gc.InputError, r"input x has shape \(1, 4, 4\) \(3-D\); it must be 4 \(or 2"),
])
def test_bad_shapes_raise_one_clear_error(params, x, w, error, match):
    with pytest.raises(error, match=match):
        gc.layer("conv2d", **params).forward(np.zeros(x), np.zeros(w))


@pytest.mark.parametrize("x, match", [
    ([[1, float("nan")], [0, 0]], r"x holds nan at index \(0, 1\): inputs must be finite"),
    ([[1, "a"], [0, 0]], r"dtype <U21|must be real numbers"),
    ([[1, 2], [3]], r"x is not a rectangular array"),
    ([[1, 2j], [3, 4]], r"complex"),
])
def test_bad_data_raises_input_error(x, match):
    with pytest.raises(gc.InputError, match=match):
        gc.layer("conv2d").forward(x, [[1]])


def test_bias_and_grad_out_shapes_are_checked():
    layer = gc.layer("conv2d")
    with pytest.raises(gc.InputError, match=r"b has shape \(2,\): it must be \(1,\)"):
        layer.forward(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 2, 2)), np.zeros(2))
    with pytest.raises(gc.InputError, match=r"grad_out has shape \(3, 3\), but conv2d\(.*\) maps these inputs to"):
        layer.backward(np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((2, 2)))


@pytest.mark.parametrize("spatial", [1, 2])
@given(data=st.data())
def test_backward_agrees_with_torch_autograd_on_floats(spatial, data):
    """An independent framework's autograd: torch.nn.functional.conv1d/conv2d, float64, to 1e-9."""
    torch = pytest.importorskip("torch")
    layer, shapes = data.draw(conv_configs(spatial=spatial, max_side=8, extensions=True))
    if layer.params["padding"] == "same" and max(layer.params["stride"]) > 1:
        return  # torch refuses 'same' with stride > 1 (gradcheck follows TensorFlow/XLA there)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    inputs = [rng.standard_normal(shape) for shape in shapes.values()]
    grad_out = rng.standard_normal(layer.output_shape(shapes))
    p = layer.params
    leaves = [torch.tensor(a, requires_grad=True) for a in inputs]
    torch_conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d}[spatial]
    out = torch_conv(*leaves, stride=p["stride"], padding=p["padding"], dilation=p["dilation"], groups=p["groups"])
    out.backward(torch.tensor(grad_out))
    np.testing.assert_allclose(layer.forward(*inputs), out.detach().numpy(), rtol=1e-9, atol=1e-9)
    for ours, leaf in zip(layer.backward(grad_out, *inputs), leaves):
        np.testing.assert_allclose(ours, leaf.grad.numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("groups", [1, 4])
def test_jax_oracle_survives_strides_that_leave_rows_unread(groups):
    """jaxlib 0.10's CPU compiler aborted the process (not an exception: the interpreter died) on the
    weight gradient of this configuration; conv's JAX forward now crops what the windows never read."""
    rng = np.random.default_rng(0)
    x, w = rng.integers(-3, 4, (2, 4, 6, 1)), rng.integers(-3, 4, (4, 4 // groups, 2, 2))
    assert gc.verify("conv2d", x, w, stride=(2, 3), padding=1, groups=groups, oracles="numpy,jax").ok
