"""What is special about batch normalisation: torch's training-mode numbers, cancellation, its parameters."""
import numpy as np
import pytest

import gradcheck as gc


@pytest.mark.parametrize("x_shape, affine, eps", [
    ((4, 3, 2, 3), 2, 1e-5), ((5, 2), 2, 1e-5), ((3, 2, 4), 1, 1e-3), ((2, 3, 2, 2), 0, 1e-5),
    ((2, 2, 2, 2, 2), 2, 0.1),
])
def test_matches_torch_training_mode(x_shape, affine, eps):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal(x_shape), rng.standard_normal(x_shape)
    params = [rng.standard_normal(x_shape[1]) for _ in range(affine)]
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, *params)]
    out = torch.nn.functional.batch_norm(tensors[0], None, None, *tensors[1:], training=True, eps=eps)
    out.backward(torch.tensor(g))
    layer = gc.layer("batch_norm", eps=eps)
    np.testing.assert_allclose(layer.forward(x, *params), out.detach().numpy(), rtol=1e-9, atol=1e-9)
    for ours, theirs in zip(layer.backward(g, x, *params), tensors):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-9, atol=1e-9)


def test_constant_channel_and_constant_upstream_gradient():
    """Variance 0 is fine with eps (x̂ = 0); a per-channel constant dL/dO gives dL/dx = 0 exactly in theory,
    which the float oracles reach only up to rounding: compared on the scale of the summed terms."""
    x = np.array([[[2, 2], [2, 2]], [[0, 1], [1, 3]]]).reshape(2, 2, 2, 1).transpose(1, 0, 2, 3)  # channel 0 flat
    weight, bias = np.array([3, -2]), np.array([1, 0])
    out = gc.layer("batch_norm").forward(x, weight, bias)
    np.testing.assert_array_equal(out[:, 0], 1.0)  # x̂ = 0: only the bias is left
    verdict = gc.verify("batch_norm", x, weight, bias, grad_out=np.ones(x.shape, dtype=int))
    assert verdict.ok, str(verdict)
    np.testing.assert_allclose(verdict.gradients["numpy"]["x"], 0.0, atol=1e-12)


def test_parameter_count():
    """lecture-facts §4: batch norm keeps 4 numbers per channel, 2 of them trainable (γ, β)."""
    assert gc.layer("batch_norm").n_params({"x": (8, 64, 5, 5), "weight": (64,), "bias": (64,)}) == 128


@pytest.mark.parametrize("params, inputs, error, message", [
    ({"eps": 0}, None, gc.ConfigError, r"eps=0 is not allowed: eps must be a number > 0"),
    ({"eps": "small"}, None, gc.ConfigError, r"eps='small' is not allowed"),
    ({"momentum": 0.1}, None, gc.ConfigError, r"no parameter 'momentum'"),
    ({}, [(3,)], gc.InputError, r"must be \(N, C, \*S\), at least 2-D"),
    ({}, [(2, 3, 4), (2,)], gc.InputError, r"weight has shape \(2,\): it must be \(3,\)"),
    ({}, [(2, 3), (3,), (1,)], gc.InputError, r"bias has shape \(1,\): it must be \(3,\)"),
])
def test_bad_parameters_and_shapes(params, inputs, error, message):
    with pytest.raises(error, match=message):
        gc.layer("batch_norm", **params).forward(*(np.zeros(s) for s in inputs))
