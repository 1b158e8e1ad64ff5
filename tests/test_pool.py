"""What is special about pooling: the lectures' numbers, torch's edge cases, and the tie conventions."""
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, strategies as st

import gradcheck as gc
from gradcheck import cli, symbolic, sweep
from gradcheck.oracles import jax_oracle, numpy_oracle, sympy_oracle
from gradcheck.strategies import arrays, configs
from tests.reference import avg_pool2d_loops, max_pool2d_loops

ORACLES = {"sympy": sympy_oracle.gradients, "numpy": numpy_oracle.gradients, "jax": jax_oracle.gradients}


def test_lecture_max_pool_forward_and_backward():
    """lecture-facts §5: 2×2/2 max pool, and the gradient goes to each window's maximum."""
    x = [[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]]
    pool = gc.layer("max_pool2d", kernel_size=2)
    assert pool.forward(x).tolist() == [[20, 30], [112, 37]]
    (grad_x,) = pool.backward([[1, 2], [3, 4]], x)
    assert grad_x.tolist() == [[0, 1, 2, 0], [0, 0, 0, 0], [0, 0, 4, 0], [3, 0, 0, 0]]


def test_lecture_average_pool_forward_and_backward_with_mean_squared_loss():
    """lecture-facts §5: P = avg_pool(X), L = mean((P − 1)²) = 16.40625, dL/dP = (P − 1)/2, dL/dX = dL/dP / 4."""
    x = [[1, 5, 3, 7], [7, 3, 9, 2], [3, 5, 8, 4], [8, 7, 3, 5]]
    pool = gc.layer("avg_pool2d", kernel_size=2, stride=2)
    p = pool.forward(x)
    assert p.tolist() == [[4, F(21, 4)], [F(23, 4), 5]]
    assert np.mean((p - 1) ** 2) == F(1050, 64) == 16.40625
    grad_p = 2 * (p - 1) / p.size
    assert grad_p.tolist() == [[F(3, 2), F(17, 8)], [F(19, 8), 2]]
    (grad_x,) = pool.backward(grad_p, x)
    assert grad_x.tolist() == [[F(3, 8)] * 2 + [F(17, 32)] * 2] * 2 + [[F(19, 32)] * 2 + [F(1, 2)] * 2] * 2
    assert gc.verify(pool, x, grad_out=grad_p).ok


@pytest.mark.parametrize("name, size, params, expected", [
    ("max_pool2d", 10, {"kernel_size": 2, "stride": 2}, 5),
    ("max_pool2d", 80, {"kernel_size": 3, "stride": 2, "padding": "same"}, 40),
    ("avg_pool2d", 80, {"kernel_size": 3, "stride": 2, "padding": "same"}, 40),
])
def test_lecture_output_sizes(name, size, params, expected):
    """lecture-facts §3: 10×10×3 max pool 2×2/2 → 5×5×3; 80×80×64 max pool 3×3/2 'same' → 40×40×64."""
    channels = 3 if size == 10 else 64
    assert gc.layer(name, **params).output_shape({"x": (1, channels, size, size)}) == (1, channels, expected, expected)


@pytest.mark.parametrize("params, size, expected", [
    ({"kernel_size": 2, "stride": 2, "ceil_mode": True}, 5, 3),              # last window half outside: kept
    ({"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}, 4, 3),  # would start in right padding: dropped
    ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, 6, 4),
    ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": False}, 6, 3),
    ({"kernel_size": 2, "stride": 1, "dilation": 2}, 5, 3),
])
def test_torch_output_size_rule(params, size, expected):
    assert gc.layer("max_pool2d", **params).output_shape({"x": (1, 1, size, size)})[2:] == (expected, expected)


@given(config=configs("max_pool2d", max_side=6, extensions=True), data=st.data())
def test_max_pool_matches_literal_loops(config, data):
    layer, shapes = config
    p = layer.params
    if p["padding"] == "same":
        return
    x = data.draw(arrays(shapes["x"]))
    g = data.draw(arrays(layer.output_shape(shapes)))
    out, grad, indices = max_pool2d_loops(x, g, p["kernel_size"], p["stride"], p["padding"], p["dilation"],
                                          p["ceil_mode"], p["ties"])
    assert layer.forward(x).tolist() == out.tolist()
    assert layer.backward(g, x)[0].tolist() == grad.tolist()
    assert layer.forward_with_indices(x)[1].tolist() == indices.tolist()


@given(config=configs("avg_pool2d", max_side=6, extensions=True), data=st.data())
def test_avg_pool_matches_literal_loops(config, data):
    layer, shapes = config
    p = layer.params
    if p["padding"] == "same":
        return
    x = data.draw(arrays(shapes["x"]))
    g = data.draw(arrays(layer.output_shape(shapes)))
    out, grad = avg_pool2d_loops(x, g, p["kernel_size"], p["stride"], p["padding"], p["ceil_mode"],
                                 p["count_include_pad"], p["divisor_override"])
    assert layer.forward(x).tolist() == out.tolist()
    assert layer.backward(g, x)[0].tolist() == grad.tolist()


def test_same_padding_average_excludes_the_padding():
    """TensorFlow 'SAME' on 5×5, 3×3 stride 2: padding 1 each side, corners divide by 4, edges by 6, the middle by 9."""
    layer = gc.layer("avg_pool2d", kernel_size=3, stride=2, padding="same")
    assert layer.pads((5, 5)) == ((1, 1), (1, 1)) and layer.params["count_include_pad"] is False
    assert layer.forward(np.ones((5, 5), dtype=np.int64)).tolist() == [[1] * 3] * 3
    torch_style = gc.layer("avg_pool2d", kernel_size=3, stride=2, padding=1, count_include_pad=False)
    x = np.arange(25).reshape(5, 5)
    assert layer.forward(x).tolist() == torch_style.forward(x).tolist()
    # 4×4, 2×2 stride 2... and 4×4, 3×3 stride 1: padding 1 before and after, TF divides the corners by 4
    assert gc.layer("avg_pool2d", kernel_size=3, stride=1, padding="same").forward(np.ones((4, 4), int))[0, 0] == 1


@pytest.mark.parametrize("ties, x, expected", [
    ("first", [[2, 2, 2, 1]], [[1, 2, 0, 0]]),                      # overlapping windows, each routes to its first 2
    ("split", [[2, 2, 2, 1]], [[F(1, 2), F(3, 2), 1, 0]]),          # window 1 shares 1 over two, window 2 shares 2
    ("first", [[-1, -1], [-1, -1]], [[3, 0], [0, 0]]),               # constant window, padding −∞ never wins
    ("split", [[-1, -1], [-1, -1]], [[F(3, 4)] * 2] * 2),
])
def test_tie_conventions_hold_in_every_oracle(ties, x, expected):
    """The declared convention, in the SymPy rule, the NumPy backward and the JAX forward's vjp alike."""
    if len(x) == 1:
        layer, g = gc.layer("max_pool2d", kernel_size=(1, 2), stride=1, ties=ties), np.array([[[[1, 2, 0]]]])
    else:
        layer, g = gc.layer("max_pool2d", kernel_size=3, stride=2, padding=1, ties=ties), np.array([[[[3]]]])
    arrays_ = {"x": np.array(x).reshape((1, 1) + np.shape(x))}
    for name, gradients in ORACLES.items():
        assert gradients(layer, arrays_, g)["x"].reshape(np.shape(x)).tolist() == expected, name


def test_padding_is_minus_infinity_for_max_and_zero_for_average():
    x = np.array([[-3, -2], [-2, -1]])
    assert gc.layer("max_pool2d", kernel_size=3, stride=1, padding=1).forward(x).tolist() == [[-1, -1], [-1, -1]]
    assert gc.layer("avg_pool2d", kernel_size=3, stride=1, padding=1).forward(x).tolist() == [[F(-8, 9)] * 2] * 2
    assert gc.layer("avg_pool2d", kernel_size=3, stride=1, padding=1, count_include_pad=False).forward(x)[0, 0] == -2
    assert gc.layer("avg_pool2d", kernel_size=3, stride=1, padding=1, divisor_override=2).forward(x)[0, 0] == -4


def test_split_ties_are_not_closed_on_integers():
    assert gc.layer("max_pool2d", kernel_size=2).closed_on_integers
    assert not gc.layer("max_pool2d", kernel_size=2, ties="split").closed_on_integers
    assert not gc.layer("avg_pool2d", kernel_size=2).closed_on_integers


@pytest.mark.parametrize("name, params, match", [
    ("max_pool2d", {"kernel_size": 3, "padding": 2}, r"padding=2 is not allowed with kernel_size=\(3, 3\): .* half"),
    ("avg_pool2d", {"kernel_size": 2, "padding": (0, 2)}, r"padding=\(0, 2\) is not allowed"),
    ("max_pool2d", {"kernel_size": 2, "stride": 0}, r"stride=0 is not allowed"),
    ("max_pool2d", {"kernel_size": 0}, r"kernel_size=0 is not allowed"),
    ("max_pool2d", {}, r"max_pool2d needs kernel_size"),
    ("max_pool2d", {"kernel_size": 2, "ties": "last"}, r"ties='last' is not allowed: ties must be 'first'"),
    ("max_pool2d", {"kernel_size": 2, "dilation": 0}, r"dilation=0"),
    ("max_pool2d", {"kernel_size": 2, "ceil_mode": 1}, r"ceil_mode=1 is not allowed: ceil_mode must be True or False"),
    ("max_pool2d", {"kernel_size": 2, "padding": "same", "ceil_mode": True}, r"ceil_mode=True is not allowed with"),
    ("max_pool2d", {"kernel_size": 2, "padding": "full"}, r"padding='full' is not allowed"),
    ("avg_pool2d", {"kernel_size": 2, "padding": "same", "count_include_pad": True}, r"count_include_pad=True is not"),
    ("avg_pool2d", {"kernel_size": 2, "divisor_override": 0}, r"divisor_override=0 is not allowed"),
    ("avg_pool2d", {"kernel_size": 2, "dilation": 2}, r"avg_pool2d has no parameter 'dilation'"),
    ("max_pool2d", {"kernel_size": 2, "return_indices": True}, r"has no parameter 'return_indices'"),
])
def test_bad_parameters_raise_config_error(name, params, match):
    with pytest.raises(gc.ConfigError, match=match):
        gc.layer(name, **params)


@pytest.mark.parametrize("params, x, match", [
    ({"kernel_size": 3}, (1, 1, 2, 5), r"kernel size 3 .* larger than the padded input \(2 \+ 0 \+ 0 = 2\)"),
    ({"kernel_size": 2, "dilation": 3, "padding": 1}, (1, 1, 2, 2), r"a window reads padding only"),
    ({"kernel_size": 2}, (1, 4, 4), r"input x has shape \(1, 4, 4\) \(3-D\)"),
])
def test_bad_shapes_raise_one_clear_error(params, x, match):
    with pytest.raises(gc.GradcheckError, match=match):
        gc.layer("max_pool2d", **params).forward(np.zeros(x))


def test_jax_reduce_window_vjp_happens_to_route_ties_first_on_cpu_but_cannot_split_or_dilate():
    """Why the JAX oracle cuts out its own windows (see gradcheck.layers.pool)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def pool(x, dilation=(1, 1)):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 1, 1), "VALID",
                                 window_dilation=(1, 1) + dilation)
    x = jnp.ones((1, 1, 2, 2))
    assert jax.vjp(pool, x)[1](jnp.ones((1, 1, 1, 1)))[0].ravel().tolist() == [1, 0, 0, 0]
    with pytest.raises(NotImplementedError):
        jax.vjp(lambda x: pool(x, (2, 2)), jnp.ones((1, 1, 3, 3)))[1](jnp.ones((1, 1, 1, 1)))
    assert jax.grad(jnp.max)(jnp.ones(4)).tolist() == [0.25] * 4  # a plain reduce splits


def test_sweep_spaces_cover_ceil_mode_same_padding_and_both_tie_rules():
    cases = sweep.cases("max_pool2d", max_side=3, max_kernel=2, max_stride=2, max_dilation=2, max_padding=1)
    params = [c.params for c in cases]
    assert {p["ties"] for p in params} == {"first", "split"} and {p["ceil_mode"] for p in params} == {False, True}
    assert any(p["padding"] == "same" for p in params) and any(p["dilation"] == 2 for p in params)
    avg = sweep.cases("avg_pool2d", max_side=3, max_kernel=3, max_stride=2, max_padding=1)
    assert {c.params["count_include_pad"] for c in avg} == {False, True}
    row = sweep.run_case(cases[-1], "key", ("sympy", "numpy", "jax"))
    assert row["status"] == "ok" and row["compared"] == 3, row


def test_cli_verifies_max_pool_with_split_ties(capsys):
    code = cli.main(["verify", "max_pool2d", "--ties", "split", "--examples", "10", "--seed", "3"])
    out, _ = capsys.readouterr()
    assert code == 0, out
    assert "held {'ties': 'split'}" in out and "10/10" in out


def test_engine_derivative_of_the_first_max_rule_is_one_piecewise():
    """The SymPy rule states the convention: the read at (a, b) wins when strictly above every earlier read."""
    rule = gc.layer("max_pool2d", kernel_size=2).sympy_rule({"x": (1, 1, 2, 2)})
    assert "Piecewise" in str(rule.expr) and rule.fill["x"] == float("-inf")
    assert symbolic.plan(gc.layer("max_pool2d", kernel_size=2), {"x": (1, 1, 2, 2)}).exact


TORCH_CASES = [
    ("max_pool2d", {"kernel_size": 2}, (2, 3, 6, 7)),
    ("max_pool2d", {"kernel_size": 3, "stride": 1, "padding": 1}, (1, 2, 5, 5)),
    ("max_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 2, 6, 7)),
    ("max_pool2d", {"kernel_size": (2, 3), "stride": (1, 2), "dilation": (2, 1), "padding": (1, 1)}, (2, 1, 7, 6)),
    ("max_pool2d", {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True, "dilation": 2}, (1, 1, 6, 6)),
    ("avg_pool2d", {"kernel_size": 2}, (2, 3, 6, 7)),
    ("avg_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, (1, 2, 6, 5)),
    ("avg_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}, (1, 2, 6, 5)),
    ("avg_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 2, 6, 6)),
    ("avg_pool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
     (1, 2, 6, 6)),
    ("avg_pool2d", {"kernel_size": 2, "stride": 2, "ceil_mode": True}, (1, 1, 5, 5)),
    ("avg_pool2d", {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0), "divisor_override": 5}, (2, 1, 5, 4)),
]


@pytest.mark.parametrize("name, params, shape", TORCH_CASES)
def test_forward_and_backward_match_torch(name, params, shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    layer = gc.layer(name, **params)
    g = rng.standard_normal(layer.output_shape({"x": shape}))
    tx = torch.tensor(x, requires_grad=True)
    out = getattr(torch.nn.functional, name)(tx, **params)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x), out.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.backward(g, x)[0], tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    if name == "max_pool2d":
        _, indices = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **params)
        assert layer.forward_with_indices(x)[1].tolist() == indices.tolist()


def test_torch_routes_ties_to_the_first_maximum_like_the_default():
    torch = pytest.importorskip("torch")
    x = np.array([[[[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]]]])
    params = {"kernel_size": 2, "stride": 1}
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, **params).sum().backward()
    assert gc.layer("max_pool2d", **params).backward(np.ones((1, 1, 2, 2)), x)[0].tolist() == tx.grad.tolist()


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
@given(data=st.data())
def test_drawn_configurations_match_torch(name, data):
    """Every drawn configuration (except TensorFlow's 'same' and split ties, which torch lacks) is torch's."""
    torch = pytest.importorskip("torch")
    layer, shapes = data.draw(configs(name, max_side=7, max_padding=2, max_kernel=4, extensions=True))
    params = {k: v for k, v in layer.params.items() if k != "ties"}
    if params["padding"] == "same" or layer.params.get("ties") == "split":
        return
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shapes["x"])
    g = rng.standard_normal(layer.output_shape(shapes))
    tx = torch.tensor(x, requires_grad=True)
    out = getattr(torch.nn.functional, name)(tx, **params)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.forward(x), out.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.backward(g, x)[0], tx.grad.numpy(), rtol=1e-9, atol=1e-12)
