"""The mistake catalogue meets real code: each entry reproduces its own bug and only it, on fresh data.

tests/test_check.py runs every backward mistake through check_backward; here: the mistakes real code makes that
once got another name (relu'(0) = 1, a transposed conv's dL/dW not flipped back), the convention entries, what
an empty crop really returns, and a real bug that only the default bounds' largest side exposes.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.mistakes import CATALOGUE, diagnose

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is a top-level folder, not installed

from bench import reach  # noqa: E402


def _grads(layer, inputs, answers):
    return {f"grad_{n}": np.asarray(a) for n, a in zip(layer.inputs, answers) if n in layer.differentiable}


def _named(layer_name, params, shapes, buggy, seed=0):
    """The catalogue ids that reproduce ``buggy`` on fresh, non-degenerate random data (every name, no early exit)."""
    layer = gc.layer(layer_name, **params)
    rng = np.random.default_rng(seed)
    inputs = [rng.integers(-3, 4, s) for s in shapes]
    g = rng.integers(-3, 4, layer.output_shape(dict(zip(layer.inputs, shapes))))
    arrays = dict(zip(layer.inputs, inputs))
    given = _grads(layer, inputs, buggy(g, *inputs, **layer.params))
    correct = _grads(layer, inputs, layer.numpy_backward(g, *inputs))
    return diagnose(layer, arrays, g, given, correct)


def _relu_at_zero_one(g, x):
    return (np.where(x >= 0, g, 0),)


def _relu_no_mask(g, x):
    return (g,)


def _transposed_dw_not_flipped(g, x, w, b=None, **params):
    gx, gw, *gb = gc.layer("conv_transpose2d", **params).backward(g, x, w, b)
    return (gx, gw[..., ::-1, ::-1], *gb)


def _conv_dw_convolved(g, x, w, b=None, **params):
    gx, gw, *gb = gc.layer("conv2d", **params).backward(g, x, w, b)
    return (gx, gw[..., ::-1, ::-1], *gb)


def _conv_batch_mean(g, x, w, b=None, **params):
    gx, gw, gb = gc.layer("conv2d", **params).backward(g, x, w, b)
    return gx, gw / len(x), gb / len(x)


def _maxpool_every_tie(g, x, **params):
    """Real code: mask = (window == window.max()); dx[window] += mask * g — every tied maximum gets all of g."""
    layer = gc.layer("max_pool2d", **params)
    windows, flat = layer._windows(x)
    return (reach.scatter_add(x.shape, flat, g[..., None], windows == windows.max(axis=-1)[..., None]),)


def _conv_stride_rows_for_both(g, x, w, b=None, **params):
    """A loop conv backward that reads stride[0] for both axes; a tap past the input is skipped."""
    (sh, _), (kh, kw) = params["stride"], w.shape[2:]
    gx, gw = np.zeros(x.shape, dtype=np.int64), np.zeros(w.shape, dtype=np.int64)
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            for a in range(kh):
                for c in range(kw):
                    r, q = sh * i + a, sh * j + c
                    if r < x.shape[2] and q < x.shape[3]:
                        gx[:, :, r, q] += np.einsum("no,oc->nc", g[:, :, i, j], w[:, :, a, c])
                        gw[:, :, a, c] += np.einsum("no,nc->oc", g[:, :, i, j], x[:, :, r, q])
    return gx, gw, g.sum(axis=(0, 2, 3))


def _conv_crop_empty(g, x, w, b=None, **params):
    """Pads x by p, computes dL/d(padded x), crops with [p:-p] and returns it: empty when p = 0."""
    p = params["padding"][0]
    gxp, gw, *gb = gc.layer("conv2d", **{**params, "padding": 0}).backward(
        g, np.pad(x, [(0, 0)] * 2 + [(p, p)] * 2), w, b)
    return (gxp[:, :, p:-p, p:-p], gw, *gb)


def _conv_crop_empty_copied(g, x, w, b=None, **params):
    """The same crop, copied element by element into a zero-initialised dL/dX: nothing to copy when p = 0."""
    inner, *rest = _conv_crop_empty(g, x, w, b, **params)
    gx = np.zeros(x.shape, dtype=inner.dtype)
    for index in np.ndindex(inner.shape):
        gx[index] = inner[index]
    return (gx, *rest)


# (hand-written buggy backward, layer, params, input shapes, the one id that must be named on fresh data)
REAL = [
    (_relu_at_zero_one, "relu", {}, [(40,)], "relu_grad_at_zero_one"),
    (_relu_no_mask, "relu", {}, [(40,)], "relu_mask_missing"),
    (_transposed_dw_not_flipped, "conv_transpose2d", {"stride": 2}, [(2, 2, 3, 3), (2, 2, 3, 3), (2,)],
     "weight_gradient_not_flipped_back"),
    (_conv_dw_convolved, "conv2d", {}, [(2, 2, 4, 4), (2, 2, 2, 3), (2,)], "weight_gradient_not_flipped_back"),
    (_conv_batch_mean, "conv2d", {}, [(2, 1, 3, 3), (1, 1, 2, 2), (1,)], "batch_mean_instead_of_sum"),
    (_maxpool_every_tie, "max_pool2d", {"kernel_size": 2, "stride": 1}, [(2, 2, 5, 5)], "ties_all"),
    (_conv_stride_rows_for_both, "conv2d", {"stride": (2, 3)}, [(1, 2, 6, 8), (2, 2, 2, 2), (2,)],
     "stride_axis_swapped"),
    (_conv_crop_empty_copied, "conv2d", {"padding": 0}, [(1, 1, 4, 4), (1, 1, 2, 2), (1,)],
     "crop_empty_without_padding"),
]


@pytest.mark.parametrize("buggy, layer_name, params, shapes, expected", REAL, ids=[r[-1] + "-" + r[1] for r in REAL])
def test_real_buggy_code_gets_its_own_name_alone_on_fresh_data(buggy, layer_name, params, shapes, expected):
    for seed in range(3):  # random data with zeros, negatives and ties, but not shrunk to near-nothing
        assert _named(layer_name, params, shapes, buggy, seed) == [expected]


def test_relu_grad_at_zero_one_is_a_convention_not_a_missing_mask():
    """With a negative input, relu'(0) = 1 and a missing mask differ; at x = 0 alone only fresh data tell them apart."""
    layer = gc.layer("relu")
    x, g = np.array([-1, 0, 2]), np.array([1, 1, 1])
    right = {"grad_x": np.array([0, 0, 1])}
    assert diagnose(layer, {"x": x}, g, {"grad_x": np.array([0, 1, 1])}, right) == ["relu_grad_at_zero_one"]
    assert diagnose(layer, {"x": x}, g, {"grad_x": np.array([1, 1, 1])}, right) == ["relu_mask_missing"]
    assert CATALOGUE["relu_grad_at_zero_one"].kind == "convention"
    assert "convention" in CATALOGUE["relu_grad_at_zero_one"].description


def test_the_convention_entry_is_caught_and_named_by_check_backward():
    """kind "convention" is outside tests/test_check.py's backward table: checked here. Shrunk to x = [0], a
    missing mask gives the same answer; the fresh draws of check_backward's confirmation tell them apart."""
    with pytest.raises(AssertionError, match=r"grad_x: a convention difference, not a mistake: ") as caught:
        gc.check_backward(lambda g, x: (np.where(x >= 0, g, 0 * g),), "relu")
    named = str(caught.value).split("not a mistake: ")[1].splitlines()[0]
    assert named.startswith("relu_grad_at_zero_one (") and "; " not in named


def test_an_empty_crop_left_zero_is_named_and_one_returned_empty_is_a_shape_error():
    layer = gc.layer("max_pool2d", kernel_size=2, padding=0)
    x, g = np.arange(16).reshape(1, 1, 4, 4), np.ones((1, 1, 2, 2), dtype=int)
    right = layer.backward(g, x)[0]
    [zeros] = CATALOGUE["crop_empty_without_padding"].predict(layer, {"x": x}, g)
    assert np.array_equal(zeros["grad_x"], np.zeros_like(right))
    named = diagnose(layer, {"x": x}, g, {"grad_x": zeros["grad_x"]}, {"grad_x": right})
    assert named == ["crop_empty_without_padding"]
    padded, g = gc.layer("max_pool2d", kernel_size=2, padding=1), np.ones((1, 1, 3, 3), dtype=int)
    [same] = CATALOGUE["crop_empty_without_padding"].predict(padded, {"x": x}, g)  # padded: the slice is not empty
    assert np.array_equal(same["grad_x"], padded.backward(g, x)[0])
    conv, x, w = gc.layer("conv2d"), np.ones((1, 1, 3, 3), dtype=int), np.ones((1, 1, 2, 2), dtype=int)
    verdict = gc.verify(conv, x, w, grad_out=np.ones((1, 1, 2, 2), dtype=int), oracles=("numpy", _conv_crop_empty))
    assert not verdict.ok and "gradient for x has shape (1, 1, 0, 0)" in str(verdict)


ROW_SKIPPING = dict(kernel_size=3, stride=2, padding=0, ceil_mode=False)


def test_the_row_skipping_max_pool_backward_needs_a_side_of_7():
    """At kernel 3, stride 2, no padding it is wrong exactly where W_out > H_out >= 2: first on a 5 x 7 input."""
    rng = np.random.default_rng(0)
    exposing = set()
    for h in range(3, 8):
        for w in range(3, 8):
            for dilation in (1, 2):
                layer = gc.layer("max_pool2d", dilation=dilation, **ROW_SKIPPING)
                if dilation * 2 + 1 > min(h, w):
                    continue
                x = rng.permutation(2 * h * w).reshape(2, 1, h, w)  # no ties: every window has one maximum
                g = rng.integers(1, 4, layer.output_shape({"x": x.shape}))
                given = reach.max_pool_backward_skipping_rows(g, x, **layer.params)[0]
                if not np.array_equal(given, layer.backward(g, x)[0]):
                    exposing.add((h, w, dilation))
    assert exposing == {(5, 7, 1), (6, 7, 1)}  # none within the old pool max_side of 6


def test_a_row_skipping_max_pool_backward_is_caught_at_the_default_bounds():
    """Few draws expose it (dilation 1, H_out = 2, W_out = 3 and data without ties): the bound lets the strategy
    reach it, 300 examples find it; the layer's NumPy backward is the reference, to keep that cheap."""
    with pytest.raises(AssertionError, match="max_pool_backward_skipping_rows is wrong") as caught:
        gc.check_backward(reach.max_pool_backward_skipping_rows, "max_pool2d", max_examples=300, oracles=("numpy",),
                          **ROW_SKIPPING)
    assert "7)}" in str(caught.value).splitlines()[0]  # found on a side of 7
