"""Never a false OK, never a traceback: one table of bad calls (like PyTorch OpInfo ``error_inputs``), each
with the error class and a fragment of its one message; then what must be computed exactly instead of wrapped."""
import numpy as np
import pytest

import gradcheck as gc
from gradcheck import cli, symbolic
from gradcheck.errors import ConfigError, InputError

X3 = [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]]   # conv2d with a 2×2 filter maps it to (1, 1, 2, 3)
W2 = [[1, 1], [1, 1]]


def backward_of_conv(g, x, w, b=None, **params):
    return gc.layer("conv2d", **params).backward(g, x, w, b)


ERROR_INPUTS = [
    # checks that compare nothing
    ("no oracle", lambda: gc.verify("conv2d", X3, W2, oracles=[]), ConfigError, "at least two different oracles"),
    ("one oracle", lambda: gc.verify("conv2d", X3, W2, oracles=["sympy"]), ConfigError,
     "oracles: sympy: at least two"),
    ("one oracle as a string", lambda: gc.verify("conv2d", X3, W2, oracles="numpy"), ConfigError, "at least two"),
    ("an oracle twice", lambda: gc.verify("conv2d", X3, W2, oracles=["sympy", "sympy"]), ConfigError,
     "'sympy' is given twice"),
    ("a backward twice", lambda: gc.verify("conv2d", X3, W2, oracles=[backward_of_conv, backward_of_conv]),
     ConfigError, "'backward_of_conv' is given twice"),
    ("only a user backward", lambda: gc.verify("conv2d", X3, W2, oracles=[backward_of_conv]), ConfigError,
     "at least two"),
    # grad_out: only leading axes of size 1 may be left out, nothing is reordered to fit
    ("grad_out transposed", lambda: gc.layer("conv2d").backward([[1, 2], [3, 4], [5, 6]], X3, W2), InputError,
     "grad_out has shape (3, 2), but conv2d(stride=1, padding=0, dilation=1, groups=1) maps these inputs to "
     "shape (1, 1, 2, 3); only leading axes of size 1"),
    ("grad_out flattened", lambda: gc.layer("conv2d").backward([1, 2, 3, 4, 5, 6], X3, W2), InputError,
     "grad_out has shape (6,)"),
    ("grad_out axes swapped", lambda: gc.verify("conv2d", np.ones((1, 1, 3, 4), int), np.ones((1, 1, 2, 2), int),
                                                grad_out=np.ones((1, 1, 3, 2), int)), InputError,
     "grad_out has shape (1, 1, 3, 2)"),
    ("grad_out too big", lambda: gc.layer("conv2d").backward(np.ones((2, 1, 2, 3)), X3, W2), InputError,
     "grad_out has shape (2, 1, 2, 3)"),
    # size guard
    # (estimated, not run: without the guard this plan takes all memory; verify's use of it is tested below)
    ("too many terms", lambda: symbolic.check_size(gc.layer("conv2d"), {"x": (4, 64, 64, 64), "w": (64, 64, 3, 3)}),
     ConfigError, "expands to 566,820,864 terms (≈ 62.4 GB for the sympy oracle), more than the limit of "
                  "20,000,000"),
    ("over a lowered limit", lambda: gc.verify("conv2d", X3, W2, max_terms=10), ConfigError,
     "24 terms (≈ 0.0 GB for the sympy oracle), more than the limit of 10: check smaller shapes, leave out the "
     "sympy oracle, or raise the limit (verify(..., max_terms=N), GRADCHECK_MAX_TERMS=N)"),
    ("a chain over the limit", lambda: gc.verify(gc.sequential(["conv2d", "relu"]), X3, W2, [0], max_terms=10),
     ConfigError, "expands to 36 terms"),  # conv 6 outputs × (4 + bias), then relu 6
    ("max_terms not an int", lambda: gc.verify("conv2d", X3, W2, max_terms=1.5), ConfigError,
     "max_terms=1.5 is not allowed"),
    # the rest of the tracebacks
    ("empty batch", lambda: gc.verify("conv2d", np.zeros((0, 1, 3, 3), int), np.zeros((1, 1, 2, 2), int)),
     InputError, "x has shape (0, 1, 3, 3), which holds no elements"),
    ("no channels", lambda: gc.layer("conv2d").forward(np.zeros((1, 0, 3, 3)), np.zeros((1, 0, 2, 2))),
     InputError, "x has shape (1, 0, 3, 3), which holds no elements"),
    ("empty kernel", lambda: gc.verify("conv2d", np.zeros((1, 1, 3, 3), int), np.zeros((1, 1, 0, 2), int)),
     InputError, "w has shape (1, 1, 0, 2), which holds no elements"),
    ("empty grad_out", lambda: gc.layer("relu").backward([], []), InputError, "x has shape (0,)"),
    ("int past float64 in a float layer", lambda: gc.layer("sigmoid").forward([1, 10**400]), InputError,
     "x holds a 401-digit number at flat index 1: sigmoid computes in float64"),
    ("the same, verified", lambda: gc.verify("softmax", [[1, -10**400]]), InputError, "a 401-digit number"),
    ("huge padding", lambda: gc.layer("conv2d", padding=10**6), ConfigError,
     "padding=1000000 is not allowed: padding must be an int or a tuple of 2 ints >= 0 (and at most 4,096)"),
    ("huge stride", lambda: gc.verify(gc.layer("conv2d", stride=10**20), X3, W2), ConfigError,
     "stride=100000000000000000000 is not allowed"),
    ("huge dilation", lambda: gc.layer("conv_transpose1d", dilation=(5000,)), ConfigError, "at most 4,096"),
    ("huge pool kernel", lambda: gc.layer("max_pool2d", kernel_size=10**9), ConfigError, "at most 4,096"),
    ("unhashable layer name", lambda: gc.layer(["conv2d"]), ConfigError, "unknown layer ['conv2d']"),
]


@pytest.mark.parametrize("call, error, message", [row[1:] for row in ERROR_INPUTS],
                         ids=[row[0] for row in ERROR_INPUTS])
def test_bad_input_raises_one_clear_error(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


def test_a_size_limit_is_overridable_per_call_and_by_environment(monkeypatch):
    assert gc.verify("conv2d", X3, W2, max_terms=24, oracles=("sympy", "numpy")).ok
    monkeypatch.setattr(symbolic, "MAX_TERMS", 23)  # the default, for verify, check_backward and sweep
    with pytest.raises(ConfigError, match="more than the limit of 23"):
        gc.verify("conv2d", X3, W2)
    monkeypatch.setattr(symbolic, "MAX_TERMS", 24)
    monkeypatch.setenv("GRADCHECK_MAX_TERMS", "23")
    with pytest.raises(ConfigError, match="more than the limit of 23"):
        gc.verify("conv2d", X3, W2)
    assert gc.verify("conv2d", X3, W2, oracles=("numpy", "fd")).ok  # no sympy oracle, nothing planned
    monkeypatch.setenv("GRADCHECK_MAX_TERMS", "many")
    with pytest.raises(ConfigError, match="GRADCHECK_MAX_TERMS='many' is not allowed"):
        gc.verify("conv2d", X3, W2)


def test_estimated_terms_are_the_plans_terms():
    for layer, shapes in [(gc.layer("conv2d", padding=1), {"x": (1, 3, 6, 6), "w": (4, 3, 3, 3), "b": (4,)}),
                          (gc.layer("max_pool2d", kernel_size=3, stride=1), {"x": (2, 1, 5, 5)}),
                          (gc.layer("softmax"), {"x": (2, 3)})]:
        assert symbolic.estimated_terms(layer, shapes) == symbolic.plan(layer, shapes).n_terms


def test_the_plan_cache_is_bounded_in_bytes(monkeypatch):
    monkeypatch.setattr(symbolic, "_PLANS", type(symbolic._PLANS)())
    first = symbolic.plan(gc.layer("conv2d"), {"x": (1, 1, 6, 6), "w": (1, 1, 3, 3)})
    monkeypatch.setattr(symbolic, "PLAN_CACHE_BYTES", first.nbytes + 1)
    symbolic.plan(gc.layer("conv2d"), {"x": (1, 1, 7, 7), "w": (1, 1, 3, 3)})  # the least recent plan goes
    assert len(symbolic._PLANS) == 1 and first not in symbolic._PLANS.values()


def user_strings(g, x, w, **params):
    return np.full(np.shape(x), "a"), np.full(np.shape(w), "b")


def test_a_backward_returning_strings_is_a_failed_oracle_not_a_crash():
    verdict = gc.verify("conv2d", X3, W2, oracles=("sympy", "numpy", user_strings))
    assert not verdict.ok
    assert "oracle user_strings FAILED: ValueError: gradient for x holds 'a' (str): gradients must be numbers" \
        in str(verdict)


def test_finite_differences_are_never_labelled_exact():
    text = str(gc.verify("conv2d", X3, W2, oracles=("sympy", "fd")))
    assert "[integer data, float tolerance]" in text and "exact" not in text
    assert cli._comparison("conv2d", "integer", ["sympy", "fd"]) == "float tol"
    assert cli._comparison("conv2d", "integer", ["sympy", "numpy", "fd"]) == "exact + float tol"
    assert cli._comparison("conv2d", "integer", ["sympy", "numpy", "jax"]) == "exact"


@pytest.mark.parametrize("argv, message", [
    (["verify", "conv2d", "--oracles", "sympy"], "oracles: sympy: at least two different oracles are needed"),
    (["verify", "conv2d", "--oracles", "sympy,sympy"], "oracle 'sympy' is given twice"),
    (["verify", "conv2d", "--stride", "100000000000000000000"], "stride=100000000000000000000 is not allowed"),
])
def test_cli_verify_refuses_checks_that_compare_nothing(capsys, argv, message):
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err


# -- integers are never wrapped: what int64 cannot hold is computed in Python ints ----------------------
BIG_X = [[2**40, 3, 1], [1, 2**40, 1], [1, 1, 1]]
BIG_W = [[2**30, 1], [1, 2**30]]


def conv_by_hand(x, w):
    """2-D cross-correlation in Python ints: the reference no dtype can wrap."""
    kh, kw = len(w), len(w[0])
    return [[sum(x[i + a][j + b] * w[a][b] for a in range(kh) for b in range(kw))
             for j in range(len(x[0]) - kw + 1)] for i in range(len(x) - kh + 1)]


@pytest.mark.parametrize("x, w", [
    (BIG_X, BIG_W),                                              # products past 2**63
    ([[2**70, 3], [1, 2]], [[1]]),                               # a Python int past int64
    ([[2**63, 5], [1, 2]], [[3]]),                               # NumPy reads 2**63 as uint64
    (np.array([[2**64 - 1, 3], [1, 2]], dtype=np.uint64), [[1]]),  # uint64 near 2**64
    ([[-2**62, 2**62], [2**62, -2**62]], [[2, 2], [2, 2]]),        # sums past int64, both signs
])
def test_integer_data_is_never_wrapped(x, w):
    expected = conv_by_hand(np.asarray(x).tolist(), np.asarray(w).tolist())
    assert gc.layer("conv2d").forward(x, w).tolist() == expected
    verdict = gc.verify("conv2d", x, w, grad_out=np.ones(np.shape(expected), dtype=int) * 2**40)
    assert verdict.ok and verdict.kind == "integer", str(verdict)
    assert verdict.tolerances[("sympy", "numpy")] == 0.0          # the exact oracles: ==
    assert verdict.tolerances[("sympy", "jax")] > 0               # float64 past 2**53: within rtol only


def test_integers_beyond_float64_are_compared_exactly_by_the_exact_oracles():
    x = [[10**400, 3], [1, 2]]
    assert gc.verify("conv2d", x, [[1]], oracles=("sympy", "numpy")).ok
    verdict = gc.verify("conv2d", x, [[1]])
    assert not verdict.ok and "oracle jax FAILED: InputError: the data hold integers beyond float64's range" \
        in str(verdict)


# -- large max-pool windows -----------------------------------------------------------------------------
@pytest.mark.parametrize("kernel, shape", [((8, 8), (1, 1, 8, 8)), ((1, 64), (1, 1, 1, 64)), ((9, 9), (1, 2, 9, 9))])
def test_max_pool_windows_of_64_taps_and_more_verify(kernel, shape):
    x = np.arange(int(np.prod(shape))).reshape(shape) % 7  # ties: the first maximum wins
    verdict = gc.verify("max_pool2d", x, kernel_size=kernel, oracles=("sympy", "numpy"))
    assert verdict.ok, str(verdict)
    grad = verdict.gradients["sympy"]["x"].reshape(shape[1], -1)
    assert [int(np.flatnonzero(row)[0]) for row in grad] == [int(np.argmax(row)) for row in x.reshape(shape[1], -1)]


def test_a_max_pool_plan_differentiates_only_the_selected_read():
    """Planning stays linear in the terms: of a window's K + 1 reads only the tap read has a nonzero local
    derivative (the others appear only in the conditions), so K derivatives are not built and evaluated."""
    plan = symbolic.plan(gc.layer("max_pool2d", kernel_size=8), {"x": (1, 1, 8, 8)})
    [term] = plan.terms
    assert len(term.reads) == 65 and sum(r.local_derivative is not None for r in term.reads) == 1
    assert sum(r.flat_index.size for r in term.reads) < 3 * plan.n_terms  # the window reads are not tiled
