"""Verdicts: exact agreement, the odd one out, readable explanations, broken oracles."""
from fractions import Fraction

import numpy as np
import pytest

import gradcheck as gc

X = np.arange(16).reshape(1, 1, 4, 4) % 5 - 2
W = np.array([[[[1, -1], [2, 0]]]])


def correct_backward(grad_out, x, w, b=None, **params):
    return gc.layer("conv2d", **params).backward(grad_out, x, w, b)


def off_by_one_backward(grad_out, x, w, b=None, **params):
    grad_x, grad_w = gc.layer("conv2d", **params).backward(grad_out, x, w, b)
    grad_w = grad_w.copy()
    grad_w[0, 0, 1, 0] += 1
    return grad_x, grad_w


def test_all_default_oracles_agree():
    verdict = gc.verify("conv2d", X, W, stride=2)
    assert verdict.ok and bool(verdict)
    assert verdict.oracles == ("sympy", "numpy", "jax")
    assert set(verdict.gradients["sympy"]) == {"x", "w"}
    assert "OK: 3 oracles agree" in str(verdict)


def test_the_odd_one_out_is_named_with_its_wrong_elements():
    verdict = gc.verify("conv2d", X, W, oracles=("sympy", "numpy", "jax", off_by_one_backward))
    assert not verdict.ok
    [mismatch] = verdict.mismatches
    assert (mismatch.gradient, mismatch.odd_one_out, mismatch.n_wrong) == ("w", "off_by_one_backward", 1)
    index, values = mismatch.first_wrong[0]
    assert index == (0, 0, 1, 0)
    assert values["off_by_one_backward"] == values["sympy"] + 1
    text = str(verdict)
    assert "grad_w: DISAGREE, off_by_one_backward is the odd one out (sympy = numpy = jax)" in text
    assert "[0, 0, 1, 0]" in text and "FAILED" in text


def test_with_two_oracles_the_exact_derivation_is_trusted():
    verdict = gc.verify("conv2d", X, W, oracles=("sympy", off_by_one_backward))
    assert verdict.mismatches[0].odd_one_out == "off_by_one_backward"


def test_a_user_backward_that_agrees_passes():
    assert gc.verify("conv2d", X, W, stride=2, oracles=("sympy", correct_backward)).ok


@pytest.mark.parametrize("backward, message", [
    (lambda g, x, w, **p: 1 / 0, "ZeroDivisionError"),
    (lambda g, x, w, **p: (np.zeros((1, 1, 4, 4)),), "returned 1 gradients for the 2 inputs (x, w)"),
    (lambda g, x, w, **p: (np.zeros((4, 4)), np.zeros((1, 1, 2, 2))), "gradient for x has shape (4, 4)"),
])
def test_a_broken_oracle_is_reported_not_raised(backward, message):
    verdict = gc.verify("conv2d", X, W, oracles=("sympy", backward))
    assert not verdict.ok
    assert message in str(verdict)


def test_exact_data_is_compared_without_tolerance():
    g = np.array([[[[Fraction(1, 3)] * 3] * 3]], dtype=object)
    verdict = gc.verify("conv2d", X, W, grad_out=g, oracles=("sympy", "numpy", "jax"))
    assert verdict.ok and verdict.kind == "rational"
    assert verdict.tolerances[("sympy", "numpy")] == 0.0
    assert verdict.tolerances[("sympy", "jax")] > 0  # 1/3 is not a float64: jax can only be close

    def one_ulp_off(grad_out, x, w, **params):
        grad_x, grad_w = correct_backward(grad_out, x, w, **params)
        return grad_x, grad_w + Fraction(1, 10**30)
    assert not gc.verify("conv2d", X, W, grad_out=g, oracles=("sympy", one_ulp_off)).ok


def test_default_grad_out_is_deterministic_small_integers():
    first = gc.verify("conv2d", X, W).gradients["sympy"]["w"]
    assert np.array_equal(first, gc.verify("conv2d", X, W).gradients["sympy"]["w"])


def test_unknown_layer_and_oracle_are_config_errors():
    with pytest.raises(gc.ConfigError, match="unknown layer 'conv3x3'; registered layers: " + ", ".join(gc.layers())):
        gc.verify("conv3x3", X, W)
    with pytest.raises(gc.ConfigError, match="unknown oracle 'torch'"):
        gc.verify("conv2d", X, W, oracles=("sympy", "torch"))


def test_public_api_is_exactly_the_contract():
    assert set(gc.__all__) >= {"layers", "layer", "verify", "ConfigError", "Verdict"}
    assert issubclass(gc.ConfigError, ValueError)
    assert "conv2d" in gc.layers()
