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
    named = [line.split("this is the mistake: ")[1] for line in message.splitlines() if "this is the mistake: " in line]
    assert named, message
    # on every gradient it is named on, it is named alone (no other mistake, none on another gradient)
    assert all(n.startswith(f"{mistake_id} (") and "; " not in n for n in named), named
    assert "minimal failing example:" in message and "expected" in message and "got" in message


@pytest.mark.parametrize("layer_name", ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d"])
def test_a_correct_backward_passes(layer_name):
    """No false alarms: the layer's own (independently tested) backward, handed in as a user's (the layer tests
    compare it with the SymPy and JAX oracles on many more configurations)."""
    def correct_backward(grad_out, *inputs, **params):
        return gc.layer(layer_name, **params).backward(grad_out, *inputs)
    gc.check_backward(correct_backward, layer_name, max_examples=100)


def test_a_correct_real_float_backward_passes():
    def float_backward(grad_out, x, w, b=None, **params):
        return correct_conv2d_backward(np.asarray(grad_out, float), np.asarray(x, float), np.asarray(w, float),
                                       None if b is None else np.asarray(b, float), **params)
    gc.check_backward(float_backward, "conv2d", max_examples=50, kind="float")


@pytest.mark.parametrize("layer_name", ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool2d",
                                        "avg_pool2d"])
def test_torch_semantics_pass_with_the_default_draws(layer_name):
    """No false alarms from out-of-domain draws (pool padding 'same', conv 'same' with a stride, split ties): torch's
    own backward, through the adapter, with nothing held. 1,000 examples a layer: python -m bench.torch_domain."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from gradcheck import adapters
    gc.check_backward(adapters.torch(getattr(torch.nn.functional, layer_name)), layer_name, max_examples=40)


def _student_relu_backward(grad_out, x):
    dx = np.zeros_like(x)  # the dtype of x: int64 data would make dx integer and crash the float += below
    dx += grad_out * (x > 0) * 1.0
    return (dx,)


def test_data_types():
    seen = []

    def recording(grad_out, x, w, b=None, **params):
        seen.append((x.dtype, grad_out.dtype))
        return correct_conv2d_backward(grad_out, x, w, b, **params)
    gc.check_backward(recording, "conv2d", max_examples=5)
    assert set(seen) == {(np.dtype(np.float64), np.dtype(np.float64))}  # the default: integer-valued float64
    gc.check_backward(_student_relu_backward, "relu", max_examples=30)
    for options, dtype in [({"dtype": "int64"}, np.int64), ({"kind": "integer"}, np.int64),
                           ({"dtype": "fraction"}, object)]:
        seen.clear()
        gc.check_backward(recording, "conv2d", max_examples=3, **options)
        assert {d for pair in seen for d in pair} == {np.dtype(dtype)}
    with pytest.raises(gc.ConfigError, match="give one of them"):
        gc.check_backward(recording, "conv2d", dtype="float64", kind="integer")


def test_float64_on_integer_valued_data_is_compared_exactly():
    """A last-bit error is a wrong gradient where every exact result is an integer below 2**53."""
    def almost(grad_out, x, w, b=None, **params):
        gx, gw, *gb = correct_conv2d_backward(grad_out, x, w, b, **params)
        return (gx, gw * (1 + 2.0**-50), *gb)
    with pytest.raises(AssertionError, match="grad_w: .* wrong element"):
        gc.check_backward(almost, "conv2d", max_examples=30)


def _divides_by_zero(g, x, w, b=None, **p):
    return 1 / 0  # the line the report must point at


@pytest.mark.parametrize("backward, message", [
    (lambda g, x, w, b=None, **p: (x,), "returned 1 gradients for the"),
    (lambda g, x, w, b=None, **p: (np.zeros(x.shape + (1,)), w) + ((b,) if b is not None else ()),
     "gradient for x has shape"),
])
def test_a_backward_with_wrong_count_or_shapes_gets_a_clear_message(backward, message):
    with pytest.raises(AssertionError, match="it must return one gradient per input") as caught:
        gc.check_backward(backward, "conv2d", max_examples=50)
    assert message in str(caught.value)


def test_an_exception_in_user_code_is_reported_as_one():
    with pytest.raises(AssertionError) as caught:
        gc.check_backward(_divides_by_zero, "conv2d", max_examples=50)
    message = str(caught.value)
    assert "_divides_by_zero raised ZeroDivisionError: division by zero" in message
    assert f"at {__file__}:" in message and "return 1 / 0" in message
    assert "on the configuration conv2d(stride=1, padding=0" in message and "where=" in message
    assert "one gradient per input" not in message


def test_out_of_scope_tells_which_parameter_to_hold():
    def no_groups(grad_out, x, w, b=None, **params):
        if params["groups"] != 1:
            raise gc.OutOfScope("this convention has no groups", parameter="groups")
        return correct_conv2d_backward(grad_out, x, w, b, **params)
    with pytest.raises(gc.ConfigError, match=r"no_groups cannot express conv2d\(.*groups=2.*hold groups"):
        gc.check_backward(no_groups, "conv2d", max_examples=100)
    gc.check_backward(no_groups, "conv2d", max_examples=20, groups=1)


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
    for bad in (0, -1, 2.5):
        with pytest.raises(gc.ConfigError, match=f"max_examples={bad} is not allowed"):
            gc.check_backward(recording, "conv2d", max_examples=bad)


def test_a_declared_scope_is_respected():
    """Sets of allowed values, where=, bounds and Layer instances: fn sees nothing outside its scope."""
    seen = []

    def square_only(grad_out, x, w, b=None, **params):
        seen.append((params["padding"], params["stride"], w.shape[2:], x.shape[2:]))
        assert w.shape[2] == w.shape[3] and params["groups"] == 1
        return correct_conv2d_backward(grad_out, x, w, b, **params)

    def fits(layer, shapes):
        (_, _, h, wd), (_, _, k, _) = shapes["x"], shapes["w"]
        p, s = layer.params["padding"][0], layer.params["stride"][0]
        return k == shapes["w"][3] and h == wd and (h + 2 * p - k) % s == 0 and p <= k - 1
    gc.check_backward(square_only, "conv2d", max_examples=40, groups=1, dilation=1, padding={0, 1, 2},
                      stride=frozenset({1, 2, 3}), where=fits, max_side=6)
    assert {p for p, *_ in seen} <= {(0, 0), (1, 1), (2, 2)} and max(max(x) for *_, x in seen) <= 6
    assert len({s for _, s, *_ in seen}) > 1
    seen.clear()
    gc.check_backward(square_only, gc.layer("conv2d", stride=2, padding=1), max_examples=10,
                      where=lambda layer, shapes: shapes["w"][2] == shapes["w"][3])
    assert {(p, s) for p, s, *_ in seen} == {((1, 1), (2, 2))}
    chain = gc.sequential([("conv2d", {"stride": 2}), "relu", ("conv2d", {"padding": 1})])
    shapes = []

    def chain_backward(grad_out, *inputs, **params):
        shapes.append(inputs[0].shape)
        return chain.backward(grad_out, *inputs)
    gc.check_backward(chain_backward, chain, max_examples=10)  # a chain: its stages held, shapes drawn to fit
    assert len(set(shapes)) > 1
    with pytest.raises(gc.ConfigError, match="no configuration is inside the declared scope"):
        gc.check_backward(square_only, "conv2d", max_examples=10, where=lambda layer, shapes: False)


def test_mistakes_are_named_only_when_fresh_data_confirm_them():
    """relu'(0) = 1 keeps its mask; an unflipped dW of a transposed convolution is no true convolution;
    a dW-only batch bug is named on grad_w alone."""
    def relu_one_at_zero(grad_out, x):
        return (grad_out * (x >= 0),)
    with pytest.raises(AssertionError) as caught:
        gc.check_backward(relu_one_at_zero, "relu", max_examples=100)
    assert "relu_mask_missing" not in str(caught.value)

    def dw_not_flipped(grad_out, x, w, b=None, **params):
        gx, gw, *gb = gc.layer("conv_transpose2d", **params).backward(grad_out, x, w, b)
        return (gx, gw[..., ::-1, ::-1], *gb)
    with pytest.raises(AssertionError, match="grad_w: .* wrong element") as caught:
        gc.check_backward(dw_not_flipped, "conv_transpose2d", max_examples=100, max_side=3, max_channels=2)
    assert "convolution_not_correlation" not in str(caught.value)

    def dw_from_one_sample(grad_out, x, w, b=None, **params):
        layer = gc.layer("conv2d", **params)
        gx, gw, *gb = layer.backward(grad_out, x, w, b)
        arrays = dict(zip(layer.inputs, (x, w) if b is None else (x, w, b)))
        wrong = [p["grad_w"] for p in CATALOGUE["batch_not_summed"].predict(layer, arrays, grad_out)]
        return (gx, wrong[-1], *gb)
    with pytest.raises(AssertionError, match="grad_w: this is the mistake: batch_not_summed"):
        gc.check_backward(dw_from_one_sample, "conv2d", max_examples=100, max_side=3, max_channels=2)


def test_each_check_has_its_own_database_key():
    """Saved examples replay only on the check they belong to (layer, held parameters, scope, fn)."""
    from hypothesis import settings
    from hypothesis.database import InMemoryExampleDatabase

    def wrong(grad_out, *inputs, **params):
        return tuple(2 * np.asarray(a) for a in inputs)
    database = InMemoryExampleDatabase()
    settings.register_profile("check-database", parent=settings.get_profile("ci"), derandomize=False,
                              database=database)
    previous = settings._current_profile
    settings.load_profile("check-database")
    try:
        for layer_name, held in [("relu", {}), ("tanh", {}), ("linear", {}), ("linear", {"bias": True})]:
            with pytest.raises(AssertionError):
                gc.check_backward(wrong, layer_name, max_examples=10, **held)
    finally:
        settings.load_profile(previous)
    primary = [k for k in database.data if not k.endswith((b".secondary", b".pareto"))]
    assert len(primary) == 4


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


def test_a_failure_the_shrink_comparator_does_not_see_is_still_explained_against_the_reference(monkeypatch):
    """Shrink steps compare with the NumPy backward, the minimal example with the SymPy reference. Were the two
    ever to differ, the first failure the reference confirmed is explained: never a message without one."""
    from gradcheck.layers.linear import Linear

    right = Linear.numpy_backward

    def doubled(self, g, x, w, b=None):
        return tuple(2 * a for a in right(self, g, x, w, b))

    def fn(g, x, w, b=None, **params):
        return doubled(gc.layer("linear", **params), g, x, w, b)

    monkeypatch.setattr(Linear, "numpy_backward", doubled)  # numpy now agrees with fn; sympy does not
    with pytest.raises(AssertionError, match=r"(?s)fn is wrong for linear.*grad_x: \d+ wrong element.*expected"):
        gc.check_backward(fn, "linear", max_examples=20)
