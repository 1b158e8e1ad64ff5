"""Depthwise and depthwise-separable convolution: the lectures' parameter counts, and what they factorise."""
import numpy as np
import pytest
from hypothesis import find, given, strategies as st

import gradcheck as gc
from gradcheck.layers.separable import separable_configs
from gradcheck.strategies import arrays, conv_configs


@pytest.mark.parametrize("c_in, c_out, expected", [(32, 64, 2_400), (64, 64, 4_736)])
def test_lecture_separable_parameter_counts(c_in, c_out, expected):
    """lecture-facts §4: depthwise 3×3 then pointwise, 3·3·C_in + C_in·C_out + C_out."""
    shapes = {"x": (1, c_in, 8, 8), "w_depthwise": (c_in, 1, 3, 3), "w_pointwise": (c_out, c_in, 1, 1),
              "b": (c_out,)}
    assert gc.layer("separable_conv2d").n_params(shapes) == expected


@pytest.mark.parametrize("c_in, c_out, kernel, expected", [(1, 32, 7, 1_600), (32, 64, 7, 100_416),
                                                           (64, 128, 7, 401_536)])
def test_lecture_conv_parameter_counts(c_in, c_out, kernel, expected):
    """lecture-facts §4: (kH·kW·C_in + 1)·C_out."""
    shapes = {"x": (1, c_in, 28, 28), "w": (c_out, c_in, kernel, kernel), "b": (c_out,)}
    assert gc.layer("conv2d").n_params(shapes) == expected


def test_conv2d_strategy_draws_depthwise_convolutions():
    """Depthwise = conv2d with groups = C_in > 1 (and a depth multiplier): the registry tests reach it."""
    layer, shapes = find(conv_configs(), lambda c: c[0].params["groups"] == c[1]["x"][1] > 1
                         and c[1]["w"][0] == 2 * c[1]["x"][1])
    assert shapes["w"][1] == 1


@given(config=separable_configs(extensions=True), data=st.data())
def test_separable_is_a_conv2d_with_the_factorised_kernel(config, data):
    """W[o, c, p, q] = Σ_j w_pointwise[o, c·m + j] · w_depthwise[c·m + j, 0, p, q]: one dense convolution."""
    layer, shapes = config
    x, wd, wp = (data.draw(arrays(shapes[n])) for n in ("x", "w_depthwise", "w_pointwise"))
    c_in, depth = x.shape[1], wd.shape[0]
    m = depth // c_in
    dense = np.einsum("ocj,cjpq->ocpq", wp[:, :, 0, 0].reshape(-1, c_in, m), wd[:, 0].reshape((c_in, m) + wd.shape[2:]))
    expected = gc.layer("conv2d", **layer.params).numpy_forward(x, dense)
    assert np.array_equal(layer.numpy_forward(x, wd, wp), expected)


@pytest.mark.parametrize("shapes, message", [
    ({"x": (1, 2, 4, 4), "w_depthwise": (3, 1, 3, 3), "w_pointwise": (1, 3, 1, 1)}, r"C_in = 2"),
    ({"x": (1, 2, 4, 4), "w_depthwise": (2, 2, 3, 3), "w_pointwise": (1, 2, 1, 1)}, r"\(C_in·m, 1, kH, kW\)"),
    ({"x": (1, 2, 4, 4), "w_depthwise": (2, 1, 3, 3), "w_pointwise": (1, 2, 3, 3)}, r"must be \(C_out, 2, 1, 1\)"),
    ({"x": (1, 2, 4, 4), "w_depthwise": (2, 1, 3, 3), "w_pointwise": (5, 2, 1, 1), "b": (2,)}, r"must be \(5,\)"),
])
def test_bad_shapes(shapes, message):
    with pytest.raises(gc.InputError, match=message):
        gc.layer("separable_conv2d").forward(*(np.zeros(s, int) for s in shapes.values()))


def test_bad_parameters():
    with pytest.raises(gc.ConfigError, match="no parameter 'groups'"):
        gc.layer("separable_conv2d", groups=2)
    with pytest.raises(gc.ConfigError, match="stride=0"):
        gc.layer("separable_conv2d", stride=0)


@given(config=separable_configs(extensions=True), data=st.data())
def test_backward_agrees_with_torch_autograd_on_floats(config, data):
    """torch: a depthwise conv2d (groups = C_in) then a 1×1 conv2d, float64, to 1e-9."""
    torch = pytest.importorskip("torch")
    layer, shapes = config
    p = layer.params
    if p["padding"] == "same" and max(p["stride"]) > 1:
        return  # torch refuses 'same' with stride > 1 (gradcheck follows TensorFlow/XLA there)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    inputs = [rng.standard_normal(shape) for shape in shapes.values()]
    grad_out = rng.standard_normal(layer.output_shape(shapes))
    x, wd, wp, *b = leaves = [torch.tensor(a, requires_grad=True) for a in inputs]
    F = torch.nn.functional
    depthwise = F.conv2d(x, wd, stride=p["stride"], padding=p["padding"], dilation=p["dilation"], groups=x.shape[1])
    out = F.conv2d(depthwise, wp, *b)
    out.backward(torch.tensor(grad_out))
    np.testing.assert_allclose(layer.forward(*inputs), out.detach().numpy(), rtol=1e-9, atol=1e-9)
    for ours, leaf in zip(layer.backward(grad_out, *inputs), leaves):
        np.testing.assert_allclose(ours, leaf.grad.numpy(), rtol=1e-9, atol=1e-9)
