"""check_backward / check_forward: wrong implementations are caught and named; right ones pass."""
import numpy as np
import pytest

import gradcheck as gc
from gradcheck.mistakes import CATALOGUE

pytest_plugins = ["pytester"]


def _as_backward(mistake_id, layer_name):
    """A user backward that makes exactly this catalogued mistake."""
    def backward(grad_out, *inputs, **params):
        layer = gc.layer(layer_name, **params)
        arrays = dict(zip(layer.inputs, inputs))
        prediction = CATALOGUE[mistake_id].predict(layer, arrays, grad_out)[0]
        return tuple(prediction[f"grad_{n}"] for n in arrays)
    backward.__name__ = f"backward_with_{mistake_id}"
    return backward


def correct_conv2d_backward(grad_out, x, w, b=None, **params):
    return gc.layer("conv2d", **params).backward(grad_out, x, w, b)


def _backward_mistakes():
    """(mistake, layer) for every catalogued backward mistake and each registered layer it applies to.

    A layer family's mistakes are tested here as soon as they are catalogued: no new test code.
    """
    found = []
    for m in CATALOGUE.values():
        for name in m.layers:
            if name in gc.layers() and m.kind == "backward":
                found.append(pytest.param(m.id, name, id=f"{name}-{m.id}"))
    return found


@pytest.mark.parametrize("mistake_id, layer_name", _backward_mistakes())
def test_each_wrong_backward_is_caught_and_named(mistake_id, layer_name):
    """check_backward with its default settings catches the mistake and names it alone."""
    with pytest.raises(AssertionError) as caught:
        gc.check_backward(_as_backward(mistake_id, layer_name), layer_name)
    message = str(caught.value)
    assert f"this is the mistake: {mistake_id} (" in message
    assert "; " not in message.split("this is the mistake: ")[1].splitlines()[0]  # named alone
    assert "minimal failing example:" in message and "expected" in message and "got" in message


@pytest.mark.parametrize("layer_name", ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d"])
def test_a_correct_backward_passes_1000_examples(layer_name):
    """No false alarms: the layer's own (independently tested) backward, handed in as a user's."""
    def correct_backward(grad_out, *inputs, **params):
        return gc.layer(layer_name, **params).backward(grad_out, *inputs)
    gc.check_backward(correct_backward, layer_name, max_examples=1000)


def test_a_correct_float_backward_passes():
    def float_backward(grad_out, x, w, b=None, **params):
        return correct_conv2d_backward(np.asarray(grad_out, float), np.asarray(x, float), np.asarray(w, float),
                                       None if b is None else np.asarray(b, float), **params)
    gc.check_backward(float_backward, "conv2d", max_examples=50, kind="float")


@pytest.mark.parametrize("backward, message", [
    (lambda g, x, w, b=None, **p: 1 / 0, "failed: ZeroDivisionError: division by zero"),
    (lambda g, x, w, b=None, **p: (x,), "returned 1 gradients for the"),
    (lambda g, x, w, b=None, **p: (np.zeros(x.shape + (1,)), w) + ((b,) if b is not None else ()),
     "gradient for x has shape"),
])
def test_a_backward_that_raises_or_has_wrong_shapes_gets_a_clear_message(backward, message):
    with pytest.raises(AssertionError, match="it must return one gradient per input") as caught:
        gc.check_backward(backward, "conv2d", max_examples=50)
    assert message in str(caught.value)


def test_held_parameters_are_held_and_validated():
    seen = set()

    def recording(grad_out, x, w, b=None, **params):
        seen.add(params["stride"])
        return correct_conv2d_backward(grad_out, x, w, b, **params)
    gc.check_backward(recording, "conv2d", max_examples=20, stride=2)
    assert seen == {(2, 2)}
    with pytest.raises(gc.ConfigError, match="stride=0"):
        gc.check_backward(recording, "conv2d", stride=0)
    with pytest.raises(gc.ConfigError, match="unknown layer 'conv7d'"):
        gc.check_backward(recording, "conv7d")


def test_check_forward_catches_a_flipped_kernel_and_names_it():
    def true_convolution(x, w, b=None, **params):
        return gc.layer("conv2d", **params).forward(x, w[..., ::-1, ::-1], b)
    with pytest.raises(AssertionError, match="convolution_not_correlation"):
        gc.check_forward(true_convolution, "conv2d", max_examples=100)
    gc.check_forward(lambda x, w, b=None, **p: gc.layer("conv2d", **p).forward(x, w, b), "conv2d", max_examples=50)


def test_the_pytest_fixture_reports_through_pytest(pytester):
    pytester.makepyfile("""
        import gradcheck as gc

        def right(g, x, w, b=None, **p):
            return gc.layer("conv2d", **p).backward(g, x, w, b)

        def wrong(g, x, w, b=None, **p):
            grads = list(right(g, x, w, b, **p))
            grads[1] = grads[1] * 2
            return tuple(grads)

        def test_right(gradcheck):
            gradcheck.check_backward(right, "conv2d", max_examples=20)

        def test_wrong(gradcheck):
            gradcheck.check_backward(wrong, "conv2d", max_examples=20)
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*wrong is wrong for conv2d*", "*grad_w:*wrong element*", "*minimal failing example*"])
