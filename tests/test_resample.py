"""What is special about unpooling and upsampling: the lectures' numbers, torch's output_size rule, index checks."""
import numpy as np
import pytest

import gradcheck as gc


def test_lecture_max_unpooling_with_remembered_positions():
    """lecture-facts §5: pool 2×2/2 remembering positions, then unpool [[1, 2], [3, 4]] to them."""
    x = [[1, 2, 6, 3], [3, 5, 2, 1], [1, 2, 2, 1], [7, 3, 4, 8]]
    pooled, indices = gc.layer("max_pool2d", kernel_size=2).forward_with_indices(x)
    assert pooled.tolist() == [[5, 6], [7, 8]] and indices.tolist() == [[5, 2], [12, 15]]
    unpool = gc.layer("max_unpool2d", kernel_size=2)
    assert unpool.forward([[1, 2], [3, 4]], indices).tolist() == [[0, 0, 2, 0], [0, 1, 0, 0], [0, 0, 0, 0],
                                                                  [3, 0, 0, 4]]
    grad_x, grad_indices = unpool.backward(np.arange(16).reshape(4, 4), [[1, 2], [3, 4]], indices)
    assert grad_x.tolist() == [[5, 2], [12, 15]] and grad_indices is None  # dL/dO read at the positions


def test_lecture_nearest_and_bed_of_nails_upsampling():
    """lecture-facts §5, forward; backward: nearest sums each block, bed of nails reads its top-left."""
    x = [[1, 2], [3, 4]]
    nearest, nails = gc.layer("upsample_nearest2d", scale_factor=2), gc.layer("upsample_zeros2d", scale_factor=2)
    assert nearest.forward(x).tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert nails.forward(x).tolist() == [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    g = np.arange(16).reshape(4, 4)
    assert nearest.backward(g, x)[0].tolist() == [[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]]
    assert nails.backward(g, x)[0].tolist() == [[0, 2], [8, 10]]


def test_scale_factor_may_differ_per_axis():
    layer = gc.layer("upsample_zeros2d", scale_factor=(1, 3))
    assert layer.forward([[1, 2]]).tolist() == [[1, 0, 0, 2, 0, 0]]
    assert gc.verify(layer, [[1, 2]]).ok


@pytest.mark.parametrize("params, shape, expected", [
    ({"kernel_size": 2}, (2, 3), (4, 6)),
    ({"kernel_size": 3, "stride": 2, "padding": 1}, (3, 3), (5, 5)),
    ({"kernel_size": 3, "stride": 2, "padding": 1, "output_size": (6, 4)}, (3, 3), (6, 4)),
    ({"kernel_size": 2, "output_size": (1, 1, 5, 7)}, (3, 4), (5, 7)),  # torch also takes (N, C, H, W)
])
def test_unpool_output_size(params, shape, expected):
    layer = gc.layer("max_unpool2d", **params)
    assert layer.output_shape({"x": (1, 1) + shape, "indices": (1, 1) + shape})[2:] == expected


@pytest.mark.parametrize("params, x, indices, error, match", [
    ({"kernel_size": 2, "output_size": (6, 4)}, (2, 2), [[0, 1], [2, 3]], gc.ConfigError,
     r"output_size=\(6, 4\) is not allowed .* strictly between 2 and 6"),
    ({"kernel_size": 2}, (2, 2), [[0, 1], [2, 16]], gc.InputError, r"indices holds 16: indices must lie in \[0, 16\)"),
    ({"kernel_size": 2}, (2, 2), [[0, 1], [2, -1]], gc.InputError, r"indices holds -1"),
    ({"kernel_size": 2}, (2, 2), [[0, 1], [1, 3]], gc.InputError, r"indices repeats a position within a channel"),
    ({"kernel_size": 2}, (2, 2), [[0.0, 1], [2, 3]], gc.InputError, r"indices must be integers"),
    ({"kernel_size": 2}, (2, 2), [[0, 1, 2]], gc.InputError, r"indices has shape \(1, 1, 1, 3\): it must be the shape"),
])
def test_bad_unpool_inputs_raise_one_clear_error(params, x, indices, error, match):
    with pytest.raises(error, match=match):
        gc.layer("max_unpool2d", **params).forward(np.zeros(x), indices)


@pytest.mark.parametrize("name, params, match", [
    ("upsample_nearest2d", {"scale_factor": 0}, r"scale_factor=0 is not allowed"),
    ("upsample_zeros2d", {}, r"upsample_zeros2d needs scale_factor"),
    ("upsample_nearest2d", {"scale_factor": 2, "mode": "bilinear"}, r"has no parameter 'mode'"),
    ("max_unpool2d", {"stride": 2}, r"max_unpool2d needs kernel_size"),
    ("max_unpool2d", {"kernel_size": 2, "output_size": (0, 3)}, r"output_size=\(0, 3\) is not allowed"),
])
def test_bad_parameters_raise_config_error(name, params, match):
    with pytest.raises(gc.ConfigError, match=match):
        gc.layer(name, **params)


@pytest.mark.parametrize("params, shape", [
    ({"kernel_size": 2}, (2, 3, 3, 4)),
    ({"kernel_size": 3, "stride": 2, "padding": 1}, (1, 2, 4, 3)),
    ({"kernel_size": 3, "stride": 2, "padding": 1, "output_size": (8, 6)}, (1, 2, 4, 3)),
])
def test_max_unpool_matches_torch(params, shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    layer = gc.layer("max_unpool2d", **params)
    plane = int(np.prod(layer.output_shape({"x": shape, "indices": shape})[2:]))
    count = shape[2] * shape[3]
    indices = np.stack([rng.permutation(plane)[:count] for _ in range(shape[0] * shape[1])]).reshape(shape)
    g = rng.standard_normal(layer.output_shape({"x": shape, "indices": shape}))
    tx = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.max_unpool2d(tx, torch.tensor(indices), **params)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x, indices), out.detach().numpy(), rtol=1e-9)
    np.testing.assert_allclose(layer.backward(g, x, indices)[0], tx.grad.numpy(), rtol=1e-9)


@pytest.mark.parametrize("scale", [2, (3, 1), (2, 3)])
def test_nearest_upsampling_matches_torch(scale):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 3, 4))
    layer = gc.layer("upsample_nearest2d", scale_factor=scale)
    g = rng.standard_normal(layer.output_shape({"x": x.shape}))
    tx = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.interpolate(tx, scale_factor=scale, mode="nearest")
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x), out.detach().numpy(), rtol=1e-9)
    np.testing.assert_allclose(layer.backward(g, x)[0], tx.grad.numpy(), rtol=1e-9)


@pytest.mark.parametrize("scale", [2, (3, 1), (2, 3)])
def test_bed_of_nails_matches_torch(scale):
    """torch has no bed-of-nails op: it is a transposed convolution, stride = scale, with a one-hot kernel
    at the block's top-left — an independent route to the same forward and backward."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 3, 4))
    layer = gc.layer("upsample_zeros2d", scale_factor=scale)
    sh, sw = (scale, scale) if isinstance(scale, int) else scale
    g = rng.standard_normal(layer.output_shape({"x": x.shape}))
    nail = torch.zeros((3, 1, sh, sw), dtype=torch.float64)
    nail[:, :, 0, 0] = 1
    tx = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.conv_transpose2d(tx, nail, stride=(sh, sw), groups=3)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x), out.detach().numpy(), rtol=1e-9)
    np.testing.assert_allclose(layer.backward(g, x)[0], tx.grad.numpy(), rtol=1e-9)
