"""Chains of layers (gc.sequential): the lectures' full network end to end, exact chains of convolutions,
short drawn chains through every oracle, and the exercise helpers trace / backward_trace / sgd_step."""
import math
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings

import gradcheck as gc
from gradcheck import symbolic
from gradcheck.sequential import Intervention, Sequential
from gradcheck.strategies import Example, _examples

LECTURE_STAGES = ["conv2d", "relu", "flatten", "linear", "linear", "softmax_cross_entropy"]


def _lecture_network():
    """lecture-facts §7: conv(3×3 input, 2×2 filter, bias 0.1) → ReLU → flatten → dense(2) (weights 0.1…0.8,
    bias 0.2) → dense(2) (weights 0.1…0.4, bias 0.3) → softmax cross-entropy with the one-hot label [1, 0]."""
    x = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    filt = [[F(9, 10), F(1, 10)], [F(1, 10), F(9, 10)]]
    w1 = [[F(k, 10) for k in range(1, 5)], [F(k, 10) for k in range(5, 9)]]
    w2 = [[F(1, 10), F(2, 10)], [F(3, 10), F(4, 10)]]
    return gc.sequential(LECTURE_STAGES), (x, filt, F(1, 10), w1, [F(2, 10)] * 2, w2, [F(3, 10)] * 2, [[1, 0]])


def _dense(w, a, b):
    return [sum(wi * ai for wi, ai in zip(row, a)) + bi for row, bi in zip(w, b)]


def test_lecture_network_forward_is_exact_where_the_layers_are_rational():
    net, (x, filt, b0, w1, b1, w2, b2, y) = _lecture_network()
    conv, relu, flat, dense1, dense2, loss = net.trace(x, filt, b0, w1, b1, w2, b2, y)
    # Each conv output: the filter's diagonal 0.9s meet X's diagonal 1s (or the 0.1s do) plus the bias.
    expected_conv = [[sum(x[i + p][j + q] * filt[p][q] for p in range(2) for q in range(2)) + b0 for j in range(2)]
                     for i in range(2)]
    assert expected_conv == [[F(19, 10), F(3, 10)], [F(3, 10), F(19, 10)]]
    assert conv.tolist() == relu.tolist() == [[expected_conv]]  # all positive: ReLU keeps them
    a0 = [v for row in expected_conv for v in row]
    assert flat.tolist() == [a0]
    z1 = _dense(w1, a0, b1)
    assert dense1.tolist() == [z1] == [[F(13, 10), F(153, 50)]]
    z2 = _dense(w2, z1, b2)
    assert dense2.tolist() == [z2] == [[F(521, 500), F(957, 500)]]
    assert all(type(v) is F for v in dense2.ravel())  # Fractions all the way to the logits
    assert math.isclose(loss, math.log(1 + math.exp(z2[1] - z2[0])), rel_tol=1e-15)  # −log softmax(z)[0]


def test_lecture_network_backward_and_sgd_step_by_the_chain_rule():
    net, inputs = _lecture_network()
    x, filt, b0, w1, b1, w2, b2, y = (np.asarray(a, dtype=float) for a in inputs)
    conv, _, a0, z1, z2, _ = (np.asarray(a, dtype=float) for a in net.trace(*inputs))
    o = np.exp(z2) / np.exp(z2).sum()
    d2 = o - y                                   # softmax + cross-entropy: dL/dz = o − y (N = 1)
    d1 = d2 @ w2                                 # dense: dL/da = Wᵀ·dL/dz
    d0 = (d1 @ w1).reshape(conv.shape) * (conv > 0)   # flatten back, ReLU mask
    grad_filt = sum(d0[0, 0][i, j] * x[i:i + 2, j:j + 2] for i in range(2) for j in range(2))
    steps = net.backward_trace(None, *inputs)    # a chain ending in a loss: grad_out 1
    expected = [{"grad_out": d0, "grad_w": grad_filt, "grad_b": d0.sum()}, {"grad_out": d0, "grad_x": d0},
                {"grad_out": d1 @ w1, "grad_x": d0}, {"grad_out": d1, "grad_x": d1 @ w1, "grad_w": d1.T @ a0, "grad_b": d1[0]},
                {"grad_out": d2, "grad_x": d1, "grad_w": d2.T @ z1, "grad_b": d2[0]}, {"grad_out": 1, "grad_logits": d2}]
    for k, (got, want) in enumerate(zip(steps, expected)):
        assert set(want) <= set(got), k
        for name, value in want.items():
            np.testing.assert_allclose(np.asarray(got[name], dtype=float), value, rtol=1e-13, atol=1e-15,
                                       err_msg=f"stage {k} {name}")
    updated = net.sgd_step(F(1, 2), *inputs)     # w ← w − η·dL/dw, η = 0.5
    assert list(updated) == ["0.w", "0.b", "3.w", "3.b", "4.w", "4.b"]
    for name, before, grad in [("0.w", filt, grad_filt), ("0.b", b0, d0.sum()), ("3.w", w1, d1.T @ a0),
                               ("3.b", b1, d1[0]), ("4.w", w2, d2.T @ z1), ("4.b", b2, d2[0])]:
        np.testing.assert_allclose(updated[name], before - 0.5 * grad, rtol=1e-13, atol=1e-15, err_msg=name)
        assert updated[name].shape == np.shape(before)  # the shape given: a 2-D filter, a scalar bias


def test_lecture_network_all_oracles_agree_on_the_whole_chain():
    net, inputs = _lecture_network()
    verdict = gc.verify(net, *inputs, oracles=("sympy", "numpy", "jax", "fd"))
    assert verdict.ok, str(verdict)
    assert list(verdict.gradients["sympy"]) == list(net.differentiable)


def test_chains_of_convolutions_are_exact_on_integer_data():
    net = gc.sequential([("conv2d", {"stride": 2, "padding": 1}), "relu", ("conv2d", {"dilation": 2}), "relu",
                         ("conv2d", {"padding": "same"})])
    rng = np.random.default_rng(0)
    shapes = {"x": (2, 2, 7, 7), "0.w": (3, 2, 3, 3), "0.b": (3,), "2.w": (2, 3, 2, 2), "2.b": (2,),
              "4.w": (1, 2, 3, 3), "4.b": (1,)}
    inputs = [rng.integers(-3, 4, shapes[n]) for n in net.inputs]
    verdict = gc.verify(net, *inputs)
    assert verdict.ok, str(verdict)
    assert not any(verdict.tolerances.values())  # sympy, numpy and jax compared with ==
    assert all(g.dtype.kind in "iO" for g in verdict.gradients["numpy"].values())


def test_sympy_oracle_chains_each_stage_derivation():
    """The chain's sympy gradients are the stage-by-stage derivations with the upstream gradient handed back."""
    net = gc.sequential(["linear", "relu", "linear"])
    rng = np.random.default_rng(1)
    x, w0, b0, w2, b2 = (rng.integers(-3, 4, s) for s in ((2, 3), (4, 3), (4,), (2, 4), (2,)))
    g = rng.integers(-3, 4, (2, 2))
    lin, relu = gc.layer("linear"), gc.layer("relu")
    h = symbolic.forward(lin, {"x": x, "w": w0, "b": b0})
    a = symbolic.forward(relu, {"x": h})
    top = symbolic.gradients(lin, {"x": a, "w": w2, "b": b2}, g)
    mid = symbolic.gradients(relu, {"x": h}, top["x"])
    bottom = symbolic.gradients(lin, {"x": x, "w": w0, "b": b0}, mid["x"])
    chained = symbolic.gradients(net, {"x": x, "0.w": w0, "0.b": b0, "2.w": w2, "2.b": b2}, g)
    for name, want in [("x", bottom["x"]), ("0.w", bottom["w"]), ("0.b", bottom["b"]), ("2.w", top["w"]),
                       ("2.b", top["b"])]:
        assert chained[name].tolist() == want.tolist()
    assert symbolic.forward(net, {"x": x, "0.w": w0, "0.b": b0, "2.w": w2, "2.b": b2}).tolist() == \
        symbolic.forward(lin, {"x": a, "w": w2, "b": b2}).tolist()


def test_sgd_step_is_exact_on_an_exact_chain():
    net = gc.sequential(["linear", "relu", "linear", ("mse", {"reduction": "sum"})])
    x, w0, b0, w2, b2, t = [[1, -2]], [[1, 0], [2, 1]], [0, 1], [[1, -1]], [2], [[1]]
    grads = dict(zip(net.inputs, net.backward(1, x, w0, b0, w2, b2, t)))
    updated = net.sgd_step(F(1, 4), x, w0, b0, w2, b2, t)
    assert set(updated) == {"0.w", "0.b", "2.w", "2.b"}  # in a network mse's target is a label, not a parameter
    assert updated["2.w"].tolist() == (np.asarray(w2) - F(1, 4) * grads["2.w"]).tolist()
    assert all(isinstance(v, (int, F)) for v in updated["0.w"].ravel())


def _chains(kind, **bounds):
    """Examples of drawn chains: Sequential.configs, data from each stage's own input strategy."""
    return _examples(Sequential.configs(**bounds), kind)


def _verify(example: Example, oracles):
    return gc.verify(example.layer, *example.inputs, grad_out=example.grad_out, oracles=oracles)


@settings(max_examples=25)
@given(example=_chains("integer"))
def test_drawn_chains_agree_exactly_on_integer_data(example):
    verdict = _verify(example, ("sympy", "numpy", "jax"))
    assert verdict.ok, str(verdict)
    if example.layer.exact:
        assert verdict.tolerances[("sympy", "numpy")] == 0.0
        assert not any(verdict.tolerances.values()) or not example.layer.closed_on_integers


@settings(max_examples=25)
@given(example=_chains("rational"))
def test_drawn_chains_agree_exactly_on_rational_data(example):
    verdict = _verify(example, ("sympy", "numpy"))
    assert verdict.ok, str(verdict)
    assert not example.layer.exact or verdict.tolerances[("sympy", "numpy")] == 0.0


@settings(max_examples=15)
@given(example=_chains("float", smooth=True))
def test_drawn_smooth_chains_agree_with_finite_differences_on_floats(example):
    assert _verify(example, ("sympy", "numpy", "jax", "fd")).ok


def test_inputs_names_and_without():
    net = gc.sequential([("conv2d", {"padding": 1}), "relu", "flatten", "linear", "softmax_cross_entropy"],
                        without=["0.b"])
    assert net.inputs == ("x", "0.w", "3.w", "3.b", "4.target")
    assert net.differentiable == ("x", "0.w", "3.w", "3.b")
    assert gc.layer(net) is net and repr(net).startswith("sequential([conv2d(")


@pytest.mark.parametrize("stages, without, error, match", [
    ([], (), gc.ConfigError, r"a chain needs at least one stage"),
    ([42], (), gc.ConfigError, r"stage 0 is 42: a stage must be a Layer, a registered layer name or a \(name, params\)"),
    (["conv7d"], (), gc.ConfigError, r"unknown layer 'conv7d'"),
    ([("conv2d", {"stride": 0})], (), gc.ConfigError, r"stride=0"),
    (["conv2d"], ("0.w",), gc.ConfigError, r"only its optional trailing inputs \(b\) may be left out"),
    (["conv2d"], ("1.b",), gc.ConfigError, r"without='1.b': no stage has an input of that name"),
])
def test_bad_chains_raise_config_error(stages, without, error, match):
    with pytest.raises(error, match=match):
        gc.sequential(stages, without=without)


def test_shapes_are_checked_stage_by_stage():
    net = gc.sequential(["conv2d", "linear"], without=["0.b", "1.b"])
    with pytest.raises(gc.InputError, match=r"stage 1 \(linear\) takes a 2-D x, but stage 0 \(conv2d\) gives shape "
                                             r"\(1, 1, 2, 2\); put a flatten before it"):
        net.forward(np.ones((3, 3)), np.ones((2, 2)), np.ones((2, 4)))
    net = gc.sequential(["linear", "linear"], without=["0.b", "1.b"])
    with pytest.raises(gc.InputError, match=r"stage 1 \(linear\): w has shape \(2, 5\)"):
        net.forward(np.ones((1, 3)), np.ones((4, 3)), np.ones((2, 5)))
    with pytest.raises(gc.InputError, match=r"grad_out is required"):
        net.backward_trace(None, np.ones((1, 3)), np.ones((4, 3)), np.ones((2, 4)))
    with pytest.raises(gc.ConfigError, match=r"lr='0.5' is not allowed"):
        net.sgd_step("0.5", np.ones((1, 3)), np.ones((4, 3)), np.ones((2, 4)), grad_out=np.ones((1, 2)))


def test_a_wrong_stage_backward_is_found_by_verifying_the_chain():
    """A ReLU whose mask was forgotten, deep inside a network: numpy is the odd one out, at the right input."""
    from gradcheck.layers.activation import Relu

    class MasklessRelu(Relu):
        def numpy_backward(self, grad_out, x):
            return (grad_out,)

    net = gc.sequential(["linear", MasklessRelu(), "linear", "softmax_cross_entropy"])
    x, w0, b0, w2, b2, t = [[1, 2]], [[1, -1], [-1, 1]], [0, 0], [[1, 2], [3, 4]], [0, 0], [1]
    verdict = gc.verify(net, x, w0, b0, w2, b2, t)
    assert not verdict.ok
    wrong = {m.gradient: m.odd_one_out for m in verdict.mismatches}
    assert wrong == {"x": "numpy", "0.w": "numpy", "0.b": "numpy"}  # below the ReLU only


def test_readme_networks_snippet_prints_what_the_readme_says():
    import contextlib
    import io
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    code, shown = re.search(r"### Networks\n.*?```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", text, re.S).groups()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})  # our own README, not user input
    assert out.getvalue() == shown


def test_walk_overrides_one_stage_and_recomputes_everything_downstream():
    """Stage 0's output replaced: stage 1 runs on it; stage 1's dL/dx replaced: stage 0's gradients follow."""
    net = gc.sequential(["linear", "linear"], without=["0.b", "1.b"])
    x, w0, w1, g = np.array([[1, 2]]), np.array([[1, 0], [2, -1]]), np.array([[3, 1]]), np.array([[1]])
    h = np.array([[5, -2]])
    walk = net.walk(x, w0, w1, grad_out=g, intervention=Intervention({0: {"out": h}}))
    assert walk.outputs[0].tolist() == [[5, -2]] and walk.outputs[1].tolist() == [[13]]  # 3·5 + 1·(−2)
    assert walk.grads[1]["grad_w"].tolist() == [[5, -2]]
    wrong = np.array([[7, 0]])
    walk = net.walk(x, w0, w1, grad_out=g, lr=F(1, 2), intervention=Intervention({1: {"grad_x": wrong}}))
    assert walk.grads[0]["grad_out"].tolist() == [[7, 0]] and walk.grads[0]["grad_w"].tolist() == [[7, 14], [0, 0]]
    assert walk.updated["0.w"].tolist() == [[F(-5, 2), -7], [2, -1]]  # w0 − ½·(wrong upstream)ᵀx
    plus = net.walk(x, w0, w1, grad_out=g, intervention=Intervention(update=lambda w, grad: w + grad)).updated
    assert plus["1.w"].tolist() == (w1 + net.backward_trace(g, x, w0, w1)[1]["grad_w"]).tolist()
    assert net.walk(x, w0, w1).grads is None  # no grad_out: the forward only


def test_stages_promote_and_check_their_own_inputs():
    """batch_norm takes a 2-D (N, C) x; a class target out of range is refused by its loss."""
    out = gc.sequential(["batch_norm"]).forward(np.array([[1, 2], [3, 5]]), np.ones(2), np.zeros(2))
    assert out.shape == (2, 2)
    net = gc.sequential(["linear", "softmax_cross_entropy"], without=["0.b"])
    with pytest.raises(gc.InputError, match=r"target holds 5 at index 0: class indices must be integers in \[0, 1\]"):
        net.forward(np.ones((1, 2)), np.ones((2, 2)), np.array([5]))


def test_walk_keeps_its_older_override_and_update_keywords():
    """walk(override=, update=), the keywords before Intervention, give what the Intervention gives."""
    net = gc.sequential(["linear", "linear"], without=["0.b", "1.b"])
    x, w0, w1, g = np.array([[1, 2]]), np.array([[1, 0], [2, -1]]), np.array([[3, 1]]), np.array([[1]])
    old = net.walk(x, w0, w1, grad_out=g, lr=1, override={0: {"out": np.array([[5, -2]])}},
                   update=lambda w, grad: w + grad)
    new = net.walk(x, w0, w1, grad_out=g, lr=1, intervention=Intervention({0: {"out": np.array([[5, -2]])}},
                                                                          update=lambda w, grad: w + grad))
    assert old.outputs[1].tolist() == new.outputs[1].tolist() == [[13]]
    assert all(old.updated[k].tolist() == new.updated[k].tolist() for k in new.updated)
