"""What is special about dense layers, activations and losses: the lectures' chain-rule pieces, the
conventions (relu'(0) = 0, target forms, default dims), exact rationals, bad input, and torch itself."""
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import find, given, strategies as st

import gradcheck as gc
from gradcheck import symbolic
from gradcheck.oracles import jax_oracle
from gradcheck.strategies import arrays, examples


def _sympy_grad(name, x, g, **params):
    layer = gc.layer(name, **params)
    return symbolic.gradients(layer, {"x": np.asarray(x)}, np.asarray(g))["x"]


@given(x=arrays((2, 3), kind="float"), g=arrays((2, 3), kind="float"))
def test_sigmoid_and_tanh_derivatives_derived_from_the_rules_are_the_lecture_formulas(x, g):
    """lecture-facts §7: sigmoid' = σ(1 − σ), tanh' = 1 − tanh², here derived by SymPy from σ = 1/(1 + e^−x)."""
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(_sympy_grad("sigmoid", x, g), g * s * (1 - s), rtol=1e-14, atol=1e-15)
    t = np.tanh(x)
    np.testing.assert_allclose(_sympy_grad("tanh", x, g), g * (1 - t * t), rtol=1e-14, atol=1e-15)


@given(data=st.data())
def test_softmax_cross_entropy_gradient_is_output_minus_label(data):
    """lecture-facts §7: dL/dz_k = o_k − y_k (÷N for the mean), derived from the SymPy rule of the loss."""
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    z = data.draw(arrays((n, c), kind="float"))
    t = np.asarray(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    y = np.eye(c)[t]
    o = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    for reduction, divisor in (("sum", 1), ("mean", n)):
        loss = gc.layer("softmax_cross_entropy", reduction=reduction)
        for target in (t, y):  # class indices (N,) or one-hot rows (N, C): the same loss
            derived = symbolic.gradients(loss, {"logits": z, "target": target}, np.asarray(1))["logits"]
            np.testing.assert_allclose(derived, (o - y) / divisor, rtol=1e-13, atol=1e-15)
            assert np.isclose(loss.forward(z, target), -np.log(o[np.arange(n), t]).sum() / divisor, rtol=1e-13)


def test_relu_passes_no_gradient_at_zero_in_every_oracle():
    """relu'(0) = 0 (PyTorch's and JAX's subgradient), exactly, from the rule, NumPy and JAX."""
    x, g = np.array([[-2, 0, 3, 0]]), np.array([[5, 7, 11, 13]])
    verdict = gc.verify("relu", x, grad_out=g)
    assert verdict.ok, str(verdict)
    for oracle in ("sympy", "numpy", "jax"):
        assert verdict.gradients[oracle]["x"].tolist() == [[0, 0, 11, 0]]
    assert not any(verdict.tolerances.values())


def test_relu_strategy_draws_the_kink_on_purpose():
    """Integer and rational examples hold inputs of exactly 0 with a nonzero upstream gradient."""
    for kind in ("integer", "rational"):
        example = find(examples("relu", kind=kind), lambda e: bool(((e.inputs[0] == 0) & (e.grad_out != 0)).any()))
        assert gc.layer("relu").backward(example.grad_out, *example.inputs)[0][example.inputs[0] == 0].tolist() == [0]


def test_linear_one_sample_and_shapes():
    """x (in,) is one sample: the answer comes back 1-D, the gradients in the shapes given."""
    lin = gc.layer("linear")
    w, b = [[1, 2, 3], [4, 5, 6]], [1, -1]
    assert lin.forward([1, 0, -1], w, b).tolist() == [-1, -3]
    gx, gw, gb = lin.backward([1, 2], [1, 0, -1], w, b)
    assert gx.tolist() == [9, 12, 15] and gw.tolist() == [[1, 0, -1], [2, 0, -2]] and gb.tolist() == [1, 2]


@pytest.mark.parametrize("shape, params, expected", [
    ((2, 3, 4, 5), {}, (2, 60)), ((2, 3, 4, 5), {"start_dim": 0}, (120,)), ((2, 3, 4, 5), {"end_dim": 2}, (2, 12, 5)),
    ((2, 3, 4, 5), {"start_dim": -2}, (2, 3, 20)), ((2, 3, 4, 5), {"start_dim": 2, "end_dim": 2}, (2, 3, 4, 5)),
    ((7,), {"start_dim": 0}, (7,)),
])
def test_flatten_follows_torch(shape, params, expected):
    x = np.arange(int(np.prod(shape))).reshape(shape)
    out = gc.layer("flatten", **params).forward(x)
    assert out.shape == expected and out.ravel().tolist() == x.ravel().tolist()  # row-major order kept
    assert gc.verify("flatten", x, **params).ok


def test_softmax_default_dim_is_1_or_the_only_axis():
    x = np.arange(24.0).reshape(2, 3, 2, 2) / 10
    assert np.allclose(gc.layer("softmax").forward(x).sum(axis=1), 1)
    assert np.allclose(gc.layer("softmax").forward([1.0, 2.0, 3.0]).sum(), 1)
    assert np.allclose(gc.layer("softmax", dim=-1).forward(x).sum(axis=-1), 1)


def test_probability_targets_are_soft_labels():
    """(N, C) targets may be class probabilities: dL/dz = o − y still, and every oracle (jax too) agrees."""
    z = [[1.0, 2.0, 0.5], [0.0, -1.0, 1.0]]
    y = [[F(1, 2), F(1, 2), 0], [F(1, 3), 0, F(2, 3)]]
    loss = gc.layer("softmax_cross_entropy", reduction="sum")
    (grad_z, grad_t) = loss.backward(1, z, y)
    o = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(grad_z, o - np.asarray(y, float), rtol=1e-14, atol=1e-15)
    assert grad_t is None
    assert gc.verify(loss, z, y, oracles=("sympy", "numpy", "jax", "fd")).ok


def test_mse_lecture_average_pool_loss_exact():
    """lecture-facts §5: P = avgpool(X) = [[4, 5.25], [5.75, 5]], L = mean((P − 1)²) = 16.40625,
    dL/dP = [[1.5, 2.125], [2.375, 2.0]], in exact rationals."""
    p = np.array([[4, F(21, 4)], [F(23, 4), 5]], dtype=object)
    mse = gc.layer("mse")
    assert mse.forward(p, np.ones((2, 2), dtype=int)) == F(1640625, 100000)
    grad_p, grad_t = mse.backward(1, p, np.ones((2, 2), dtype=int))
    assert grad_p.tolist() == [[F(3, 2), F(17, 8)], [F(19, 8), 2]] and (grad_t == -grad_p).all()
    verdict = gc.verify(mse, p, np.ones((2, 2), dtype=int))
    assert verdict.ok and verdict.tolerances[("sympy", "numpy")] == 0.0


def test_losses_are_scalars_with_default_grad_out_one():
    z, t = [[1, 2], [0, 3]], [1, 0]
    loss = gc.layer("softmax_cross_entropy")
    assert loss.forward(z, t).shape == ()
    verdict = gc.verify(loss, z, t)  # no grad_out: 1, the gradients of the loss itself
    assert verdict.ok and verdict.shapes["grad_out"] == ()
    np.testing.assert_allclose(verdict.gradients["numpy"]["logits"], loss.backward(1, z, t)[0], rtol=1e-15)


def test_lecture_mlp_parameter_count():
    """lecture-facts §4: dense MLP 784 → 16 → 16 → 10 has 12,560 + 272 + 170 = 13,002 parameters."""
    lin = gc.layer("linear")
    counts = [lin.n_params({"x": (1, i), "w": (o, i), "b": (o,)}) for i, o in ((784, 16), (16, 16), (16, 10))]
    assert counts == [12_560, 272, 170]
    net = gc.sequential(["linear", "relu", "linear", "relu", "linear"])
    shapes = {"x": (1, 784), "0.w": (16, 784), "0.b": (16,), "2.w": (16, 16), "2.b": (16,), "4.w": (10, 16),
              "4.b": (10,)}
    assert net.n_params(shapes) == 13_002


@pytest.mark.parametrize("name, params, match", [
    ("linear", {"bias": False}, r"linear has no parameter 'bias'; it has no parameters"),
    ("flatten", {"start_dim": 1.5}, r"start_dim=1.5 is not allowed"),
    ("softmax", {"dim": True}, r"dim=True is not allowed"),
    ("softmax_cross_entropy", {"reduction": "avg"}, r"reduction='avg' is not allowed: reduction must be 'mean' or 'sum'"),
    ("mse", {"reduction": None}, r"reduction=None is not allowed"),
])
def test_bad_parameters_raise_config_error(name, params, match):
    with pytest.raises(gc.ConfigError, match=match):
        gc.layer(name, **params)


@pytest.mark.parametrize("name, params, inputs, error, match", [
    ("linear", {}, ([[1, 2]], [[1, 2, 3]]), gc.InputError, r"w has shape \(1, 3\).*\(out_features, 2\)"),
    ("linear", {}, ([[1, 2]], [[1, 2]], [1, 2]), gc.InputError, r"b has shape \(2,\): it must be \(1,\)"),
    ("flatten", {"start_dim": 2, "end_dim": 1}, (np.zeros((2, 2, 2)),), gc.ConfigError, r"start_dim=2 comes after"),
    ("flatten", {}, ([1, 2],), gc.InputError, r"start_dim=1 is out of range for a 1-D input"),
    ("softmax", {"dim": 2}, ([[1, 2]],), gc.InputError, r"dim=2 is out of range for a 2-D input"),
    ("relu", {}, (3,), gc.InputError, r"relu: input x is a scalar \(0-D\); it must be at least 1-D"),
    ("softmax_cross_entropy", {}, ([[1, 2]], [2]), gc.InputError, r"target holds 2 at index 0: class indices must be"),
    ("softmax_cross_entropy", {}, ([[1, 2]], [0.5]), gc.InputError, r"target holds 0.5"),
    ("softmax_cross_entropy", {}, ([[1, 2]], [[1, 0, 0]]), gc.InputError, r"target has shape \(1, 3\)"),
    ("mse", {}, ([1, 2], [1, 2, 3]), gc.InputError, r"target has shape \(3,\): it must have the shape of pred"),
])
def test_bad_inputs_raise_one_clear_error(name, params, inputs, error, match):
    with pytest.raises(error, match=match):
        gc.layer(name, **params).forward(*inputs)


# -- torch itself, float64 -----------------------------------------------------------------------------
TORCH_CASES = [
    ("linear", {}, [(3, 4), (2, 4), (2,)]),
    ("flatten", {"start_dim": 1, "end_dim": 2}, [(2, 3, 2, 2)]),
    ("relu", {}, [(2, 3, 2)]),
    ("sigmoid", {}, [(2, 5)]),
    ("tanh", {}, [(4,)]),
    ("softmax", {"dim": 1}, [(2, 3, 2)]),
    ("softmax", {"dim": -1}, [(3, 4)]),
    ("softmax_cross_entropy", {"reduction": "mean"}, [(3, 4), "index"]),
    ("softmax_cross_entropy", {"reduction": "sum"}, [(3, 4), "probabilities"]),
    ("mse", {"reduction": "mean"}, [(2, 3), (2, 3)]),
    ("mse", {"reduction": "sum"}, [(4,), (4,)]),
]


def _torch_call(torch, name, params, tensors):
    fn = torch.nn.functional
    if name == "linear":
        return fn.linear(*tensors)
    if name == "flatten":
        return torch.flatten(tensors[0], **params)
    if name in ("relu", "sigmoid", "tanh"):
        return getattr(torch, name)(tensors[0])
    if name == "softmax":
        return fn.softmax(tensors[0], dim=params["dim"])
    if name == "softmax_cross_entropy":
        return fn.cross_entropy(*tensors, reduction=params["reduction"])
    return fn.mse_loss(*tensors, reduction=params["reduction"])


@pytest.mark.parametrize("name, params, specs", TORCH_CASES)
def test_matches_torch_float64(name, params, specs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    inputs = []
    for spec in specs:
        if spec == "index":
            inputs.append(rng.integers(0, inputs[0].shape[1], inputs[0].shape[0]))
        elif spec == "probabilities":
            p = rng.random(inputs[0].shape)
            inputs.append(p / p.sum(axis=1, keepdims=True))
        else:
            inputs.append(rng.normal(size=spec))
    inputs[0][..., 0] = 0.0 if name == "relu" else inputs[0][..., 0]  # relu'(0) = 0 in torch too
    layer = gc.layer(name, **params)
    differentiable = [n in layer.differentiable for n in layer.inputs]
    tensors = [torch.tensor(a, requires_grad=d and a.dtype.kind == "f") for a, d in zip(inputs, differentiable)]
    out = _torch_call(torch, name, params, tensors)
    g = rng.normal(size=tuple(out.shape))
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(*inputs), out.detach().numpy(), rtol=1e-9, atol=1e-12)
    for mine, t, d in zip(layer.backward(g, *inputs), tensors, differentiable):
        if d:
            np.testing.assert_allclose(mine, t.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert gc.verify(layer, *inputs, grad_out=g).ok


def test_jax_forward_keeps_probability_targets_as_floats():
    loss = gc.layer("softmax_cross_entropy", reduction="sum")
    z, y = np.array([[0.0, 0.0]]), np.array([[0.25, 0.75]])
    assert np.isclose(jax_oracle.forward(loss, {"logits": z, "target": y}), np.log(2))
