"""What is special about transposed convolution: it is conv's input gradient, conv's adjoint, Cᵀ."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import gradcheck as gc
from gradcheck.layers.conv_transpose import ConvTranspose1d, ConvTranspose2d
from gradcheck.strategies import arrays


def _conv_of(transposed):
    """The convolution whose adjoint ``transposed`` is (same stride, padding, dilation, groups)."""
    return transposed.as_conv()


def test_lecture_forward_is_the_input_gradient_of_conv2d():
    """lecture-facts §6: 3×3 kernel, stride 2, 5×5 input; conv2d gives 2×2, its dL/dX is conv_transpose2d of dL/dO."""
    rng = np.random.default_rng(6)
    x, w, g = rng.integers(-3, 4, (5, 5)), rng.integers(-3, 4, (3, 3)), rng.integers(-3, 4, (2, 2))
    grad_x, _ = gc.layer("conv2d", stride=2).backward(g, x, w)
    out = gc.layer("conv_transpose2d", stride=2).forward(g, w)
    assert out.shape == (5, 5)
    assert np.array_equal(out, grad_x)


@given(config=ConvTranspose2d.configs(), data=st.data())
def test_forward_is_the_input_gradient_of_conv(config, data):
    """For every configuration with output_padding < stride (then conv maps the output size back to S)."""
    layer, shapes = config
    assume(all(op < s for op, s in zip(layer.params["output_padding"], layer.params["stride"])))
    x, w = data.draw(arrays(shapes["x"])), data.draw(arrays(shapes["w"]))
    conv_input = np.zeros(layer.output_shape(shapes), dtype=np.int64)
    grad_x, _ = _conv_of(layer).numpy_backward(x, conv_input, w)
    assert np.array_equal(layer.numpy_forward(x, w), grad_x)


@pytest.mark.parametrize("cls", [ConvTranspose1d, ConvTranspose2d])
@given(data=st.data())
def test_adjoint_identity_exact(cls, data):
    """⟨conv(X, F), Y⟩ = ⟨X, conv_transpose(Y, F)⟩, exactly, on integer data (groups and dilation included)."""
    layer, shapes = data.draw(cls.configs(bias=False))
    assume(all(op < s for op, s in zip(layer.params["output_padding"], layer.params["stride"])))
    y, w = data.draw(arrays(shapes["x"])), data.draw(arrays(shapes["w"]))
    x = data.draw(arrays(layer.output_shape(shapes)))
    conv_x = _conv_of(layer).numpy_forward(x, w)
    assert conv_x.shape == y.shape
    assert np.sum(conv_x * y) == np.sum(x * layer.numpy_forward(y, w))


@pytest.mark.parametrize("side, kernel, params, expected", [
    (2, 3, {"stride": 2}, 5),                                     # lecture-facts §6: 2×2 → 5×5
    (2, 3, {"stride": 2, "padding": 1, "output_padding": 1}, 4),  # ... one row/column trimmed: 4×4 ('same')
    (5, 3, {"stride": 2, "padding": 1}, 9),                       # (S−1)s − 2p + d(k−1) + 1
    (3, 2, {"stride": 1, "dilation": 3, "output_padding": 2}, 8),  # output_padding < dilation also allowed
    (1, 1, {"stride": 3, "output_padding": 2}, 3),
])
def test_output_size_formula(side, kernel, params, expected):
    layer = gc.layer("conv_transpose2d", **params)
    shapes = {"x": (1, 1, side, side), "w": (1, 1, kernel, kernel)}
    assert layer.output_shape(shapes) == (1, 1, expected, expected)
    assert layer.forward(np.ones((side, side), int), np.ones((kernel, kernel), int)).shape == (expected, expected)


def _conv_matrix(conv, n, w):
    """C with conv(x) = C·x, built column by column from conv applied to the unit vectors of length n."""
    return np.stack([conv.forward(unit, w) for unit in np.eye(n, dtype=np.int64)], axis=1)


def test_lecture_convolution_as_matrix_stride_1():
    """lecture-facts §6: kernel [x, y, z] as 2, 3, 5; on the padded input (length 6) C is 4×6 banded;
    stride 1, padding 1: the transposed convolution multiplies by Cᵀ, and is again a convolution."""
    w = [2, 3, 5]
    banded = _conv_matrix(gc.layer("conv1d"), 6, w)
    assert banded.tolist() == [[2, 3, 5, 0, 0, 0], [0, 2, 3, 5, 0, 0], [0, 0, 2, 3, 5, 0], [0, 0, 0, 2, 3, 5]]
    c = _conv_matrix(gc.layer("conv1d", padding=1), 4, w)
    assert np.array_equal(c, banded[:, 1:5])  # the padding columns meet zeros
    y = np.array([1, -2, 4, 3])
    transposed = gc.layer("conv_transpose1d", padding=1).forward(y, w)
    assert np.array_equal(transposed, c.T @ y)
    # stride 1: the transpose is the convolution with the flipped kernel and padding k − 1 − p
    assert np.array_equal(transposed, gc.layer("conv1d", padding=1).forward(y, w[::-1]))


@pytest.mark.parametrize("n, output_padding", [(5, 0), (4, 1)])
def test_lecture_convolution_as_matrix_stride_2(n, output_padding):
    """Stride 2, padding 1: the rows of C shift by 2; conv_transpose1d multiplies by Cᵀ, the rows no window
    reached (n + 2p − k) mod s coming back as output_padding."""
    w = [2, 3, 5]
    c = _conv_matrix(gc.layer("conv1d", stride=2, padding=1), n, w)
    padded = _conv_matrix(gc.layer("conv1d", stride=2), n + 2, w)
    for row in range(1, padded.shape[0]):
        assert np.array_equal(padded[row, 2:], padded[row - 1, :-2])
    assert np.array_equal(c, padded[:, 1:n + 1])
    y = np.arange(1, c.shape[0] + 1) * np.array([1, -1, 2])[:c.shape[0]]
    transposed = gc.layer("conv_transpose1d", stride=2, padding=1, output_padding=output_padding).forward(y, w)
    assert np.array_equal(transposed, c.T @ y)


@pytest.mark.parametrize("params, shapes, error, message", [
    ({"output_padding": 1}, None, gc.ConfigError, r"output_padding=1 is not allowed: output_padding must be in 0\.\.0"),
    ({"stride": 2, "dilation": 3, "output_padding": 3}, None, gc.ConfigError, r"must be in 0\.\.2"),
    ({"stride": (2, 1), "output_padding": (1, 1)}, None, gc.ConfigError, r"output_padding=\(1, 1\)"),
    ({"padding": "same"}, None, gc.ConfigError, r"padding='same' is not allowed"),
    ({"stride": 0}, None, gc.ConfigError, r"stride=0 is not allowed"),
    ({"output_padding": -1}, None, gc.ConfigError, r"output_padding=-1 is not allowed"),
    ({"kernel_size": 3}, None, gc.ConfigError, r"no parameter 'kernel_size'"),
    ({"padding": 2}, {"x": (1, 1, 1, 1), "w": (1, 1, 3, 3)}, gc.ConfigError, r"padding=2 is too large"),
    ({"groups": 2}, {"x": (1, 3, 2, 2), "w": (3, 1, 1, 1)}, gc.ConfigError, r"groups=2 does not divide the 3"),
    ({}, {"x": (1, 2, 2, 2), "w": (3, 1, 1, 1)}, gc.InputError, r"first dimension must be C_in = 2"),
    ({"groups": 2}, {"x": (1, 2, 2, 2), "w": (2, 3, 1, 1), "b": (3,)}, gc.InputError, r"it must be \(6,\)"),
])
def test_bad_parameters_and_shapes(params, shapes, error, message):
    with pytest.raises(error, match=message):
        layer = gc.layer("conv_transpose2d", **params)
        layer.forward(*(np.zeros(s, int) for s in shapes.values()))


def _too_small(x, w, b=None, **params):
    try:
        return gc.layer("conv_transpose2d", **{**params, "output_padding": 0}).forward(x, w, b)
    except gc.ConfigError:  # without output_padding there would be no output at all: nothing to forget
        return gc.layer("conv_transpose2d", **params).forward(x, w, b)


def _left_zero(x, w, b=None, **params):
    out = _too_small(x, w, None, **params)
    if out.shape == gc.layer("conv_transpose2d", **params).output_shape({"x": x.shape, "w": w.shape}):
        return _too_small(x, w, b, **params)
    out = np.pad(out, ((0, 0), (0, 0)) + tuple((0, op) for op in gc.layer("conv_transpose2d", **params)
                                               .params["output_padding"]))
    return out if b is None else out + np.asarray(b).reshape(1, -1, 1, 1)


@pytest.mark.parametrize("forward, symptom", [(_too_small, "returned shape"), (_left_zero, "wrong element")])
def test_a_forward_that_forgets_output_padding_is_caught_and_named(forward, symptom):
    with pytest.raises(AssertionError, match="output_padding_missing") as caught:
        gc.check_forward(forward, "conv_transpose2d", max_examples=100)
    assert symptom in str(caught.value)


@pytest.mark.parametrize("name, params, x_shape, w_shape", [
    ("conv_transpose2d", {"stride": 2, "padding": 1, "output_padding": 1}, (2, 3, 4, 5), (3, 2, 3, 3)),
    ("conv_transpose2d", {"stride": (3, 2), "padding": (2, 0), "output_padding": (2, 1), "dilation": (2, 3),
                          "groups": 2}, (2, 4, 3, 4), (4, 3, 3, 2)),
    ("conv_transpose2d", {"stride": 1, "dilation": 3, "output_padding": 2, "groups": 3}, (1, 3, 4, 4), (3, 1, 2, 2)),
    ("conv_transpose1d", {"stride": 3, "padding": 1, "output_padding": 2, "dilation": 2, "groups": 2},
     (2, 4, 6), (4, 3, 3)),
])
def test_matches_torch(name, params, x_shape, w_shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    layer = gc.layer(name, **params)
    b = rng.standard_normal(layer.output_shape({"x": x_shape, "w": w_shape})[1])
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = getattr(torch.nn.functional, name)(xt, wt, bt, **params)
    g = rng.standard_normal(tuple(out.shape))
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x, w, b), out.detach().numpy(), rtol=1e-9, atol=1e-9)
    for ours, theirs in zip(layer.backward(g, x, w, b), (xt, wt, bt)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-9, atol=1e-9)
