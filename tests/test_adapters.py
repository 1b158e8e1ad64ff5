"""Adapters (gradcheck.adapters): CS231n-style, torch and JAX backward passes checked by check_backward.

Every correct implementation must pass and a broken variant of each must be caught; configurations a convention
cannot express raise OutOfScope naming the parameter. Tests written against check_backward features that arrive
with the "check" branch (sets of allowed values, skipping OutOfScope examples) probe for them and are skipped,
with that reason, until they exist.
"""
import subprocess
import sys

import numpy as np
import pytest

import gradcheck as gc
from gradcheck import adapters
from gradcheck.errors import ConfigError, GradcheckError, OutOfScope
from tests import cs231n_style as cs

FEW = 12  # examples per property: enough to reach strides, paddings, ties and batches > 1 under the ci profile


# layer, (forward, backward) correct, the broken backward, params held so every draw is in scope today.
CS231N = [
    ("conv2d", (cs.conv_forward_naive, cs.conv_backward_naive), cs.conv_backward_naive_broken,
     dict(dilation=1, groups=1, padding=0, stride=2)),
    ("max_pool2d", (cs.max_pool_forward_naive, cs.max_pool_backward_naive), cs.max_pool_backward_naive_broken,
     dict(dilation=1, padding=0, stride=2, ceil_mode=False, ties="first")),
    ("linear", (cs.affine_forward, cs.affine_backward), cs.affine_backward_broken, {}),
    ("relu", (cs.relu_forward, cs.relu_backward), cs.relu_backward_broken, {}),
    ("softmax_cross_entropy", (cs.softmax_loss,), cs.softmax_loss_broken, dict(reduction="mean")),
]


@pytest.mark.parametrize("layer, functions, broken, held", CS231N, ids=[c[0] for c in CS231N])
def test_cs231n_style_code_passes_and_its_broken_variant_is_caught(layer, functions, broken, held):
    fn = adapters.cs231n(*functions)
    assert fn.layer == layer
    gc.check_backward(fn, layer, max_examples=FEW, **held)
    gc.check_forward(fn.forward, layer, max_examples=FEW, **held)
    wrong = adapters.cs231n(functions[0], broken) if len(functions) == 2 else adapters.cs231n(broken)
    with pytest.raises(AssertionError, match=broken.__name__):
        gc.check_backward(wrong, layer, max_examples=FEW, oracles=("numpy",), **held)


def test_cs231n_conv_with_sets_of_allowed_values():
    conv = adapters.cs231n(cs.conv_forward_naive, cs.conv_backward_naive)
    gc.check_backward(conv, "conv2d", max_examples=FEW, dilation=1, groups=1, padding={0, 1, 2}, stride={1, 2, 3})
    broken = adapters.cs231n(cs.conv_forward_naive, cs.conv_backward_naive_broken)
    with pytest.raises(AssertionError):  # pad:-pad is right for pad >= 1; pad = 0 is among the allowed values
        gc.check_backward(broken, "conv2d", max_examples=FEW, dilation=1, groups=1, padding={0, 1, 2},
                          stride={1, 2, 3})


@pytest.mark.parametrize("layer, functions", [(c[0], c[1]) for c in CS231N[:2]], ids=["conv2d", "max_pool2d"])
def test_cs231n_drawn_configurations_out_of_scope_name_what_to_hold(layer, functions):
    """Drawn configurations the convention cannot express are not skipped in silence (the check would then
    cover less than it says): one error names the parameter to hold."""
    with pytest.raises(gc.ConfigError, match=r"Declare the scope your code covers: hold (padding|dilation|stride|groups)"):
        gc.check_backward(adapters.cs231n(*functions), layer, max_examples=FEW)


def _torch():
    """torch, with one intra-op thread: on a check's tiny tensors threads only add overhead (a conv forward and
    backward took 82 ms with 2 threads, 0.6 ms with 1, on the loaded 2-core CI machine)."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def _conv_inputs(bias=True):
    rng = np.random.default_rng(0)
    x, w = rng.integers(-3, 4, (2, 2, 5, 5)), rng.integers(-3, 4, (3, 2, 3, 3))
    return (x, w, rng.integers(-3, 4, 3)) if bias else (x, w)


# adapter, layer params, inputs, the parameter the message must name
OUT_OF_SCOPE = [
    ("cs231n conv", dict(stride=1, padding=0, dilation=2, groups=1), _conv_inputs(), "dilation=2"),
    ("cs231n conv", dict(stride=1, padding=0, dilation=1, groups=2), (np.ones((1, 2, 4, 4)), np.ones((2, 1, 3, 3)),
                                                                      np.ones(2)), "groups=2"),
    ("cs231n conv", dict(stride=(1, 2), padding=0, dilation=1, groups=1), _conv_inputs(), "stride=(1, 2)"),
    ("cs231n conv", dict(stride=1, padding=(1, 0), dilation=1, groups=1), _conv_inputs(), "padding=(1, 0)"),
    ("cs231n conv", dict(stride=1, padding="same", dilation=1, groups=1), (np.ones((1, 1, 4, 4)),
                                                                          np.ones((1, 1, 2, 2)), np.ones(1)),
     "padding='same'"),
    ("cs231n pool", dict(kernel_size=2, padding=1), (np.ones((1, 1, 4, 4)),), "padding=1"),
    ("cs231n pool", dict(kernel_size=2, ties="split"), (np.ones((1, 1, 4, 4)),), "ties='split'"),
    ("cs231n pool", dict(kernel_size=2, dilation=2), (np.ones((1, 1, 5, 5)),), "dilation=2"),
    ("cs231n pool", dict(kernel_size=2, ceil_mode=True), (np.ones((1, 1, 5, 5)),), "ceil_mode=True"),
    ("cs231n softmax", dict(reduction="sum"), (np.ones((2, 3)), np.array([0, 2])), "reduction='sum'"),
    ("cs231n softmax", dict(reduction="mean"), (np.ones((2, 2)), np.full((2, 2), 0.5)), "target"),
    ("torch max_pool2d", dict(kernel_size=2, ties="split"), (np.ones((1, 1, 4, 4)),), "ties='split'"),
    ("torch avg_pool2d", dict(kernel_size=2, padding="same"), (np.ones((1, 1, 5, 5)),), "padding='same'"),
    ("torch Conv2d module", dict(stride=1, padding=0, dilation=1, groups=1), _conv_inputs(), "stride=1"),
    ("torch Conv2d module", dict(stride=2, padding=0, dilation=1, groups=1), _conv_inputs(), "bias"),
]


def _adapter(which):
    if which == "cs231n conv":
        return adapters.cs231n(cs.conv_forward_naive, cs.conv_backward_naive)
    if which == "cs231n pool":
        return adapters.cs231n(cs.max_pool_forward_naive, cs.max_pool_backward_naive)
    if which == "cs231n softmax":
        return adapters.cs231n(cs.softmax_loss)
    torch = _torch()
    if which == "torch Conv2d module":  # stride 2 and no bias: check_backward drawing stride 1, or a bias
        module = torch.nn.Conv2d(2, 3, 3, stride=2, bias=False)
        return adapters.torch(module)
    return adapters.torch(getattr(torch.nn.functional, which.split()[1]))


@pytest.mark.parametrize("which, params, inputs, named", OUT_OF_SCOPE,
                         ids=[f"{c[0]}-{c[3]}" for c in OUT_OF_SCOPE])
def test_out_of_scope_names_the_parameter_and_what_to_hold(which, params, inputs, named):
    fn = _adapter(which)
    layer = gc.layer(fn.layer, **params)
    grad_out = np.ones(layer.output_shape({n: np.shape(a) for n, a in zip(layer.inputs, inputs)}))
    with pytest.raises(OutOfScope, match="cannot express") as error:
        fn(grad_out, *inputs, **layer.params)
    assert named in str(error.value) and "hold" in str(error.value)
    assert isinstance(error.value, GradcheckError)


def test_cs231n_expresses_what_it_can_same_padding_that_pads_evenly_and_a_missing_bias():
    conv = adapters.cs231n(cs.conv_forward_naive, cs.conv_backward_naive)
    layer = gc.layer("conv2d", padding="same")  # 3x3, stride 1: one zero on every side
    x, w = _conv_inputs(bias=False)
    g = np.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5) % 7 - 3
    got = conv(g, x, w, **layer.params)
    assert len(got) == 2
    for mine, right in zip(got, layer.backward(g, x, w)):
        np.testing.assert_array_equal(mine, right)


# Wrong use of an adapter: one ConfigError, saying what to do.
MISUSE = [
    (lambda: adapters.cs231n(lambda x: x, lambda dout, cache: dout), "cannot tell the layer"),
    (lambda: adapters.cs231n(cs.conv_forward_naive, cs.max_pool_backward_naive), "name different layers"),
    (lambda: adapters.cs231n(cs.conv_forward_naive, cs.conv_backward_naive, layer="avg_pool2d"), "no convention"),
    (lambda: adapters.cs231n(cs.conv_forward_naive), "pass the forward and the backward"),
    (lambda: adapters.cs231n(cs.softmax_loss, cs.relu_backward, layer="softmax_cross_entropy"), "the loss alone"),
    (lambda: adapters.cs231n("conv_forward_naive", cs.conv_backward_naive), "takes functions"),
    (lambda: adapters.jax(3), "takes a JAX function"),
    (lambda: adapters.jax(abs, layer="conv3d"), "unknown layer"),
]


@pytest.mark.parametrize("make, message", MISUSE, ids=[m for _, m in MISUSE])
def test_misuse_is_one_clear_config_error(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_an_adapter_run_for_another_layer_says_so():
    conv = adapters.cs231n(cs.conv_forward_naive, cs.conv_backward_naive)
    with pytest.raises(ConfigError, match="adapter for conv2d.*kernel_size"):
        conv(np.ones((1, 1, 2, 2)), np.ones((1, 1, 4, 4)), kernel_size=(2, 2), stride=(2, 2))


def test_torch_missing_is_one_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(ConfigError, match="pip install torch"):
        adapters.torch(len)


def test_importing_gradcheck_and_its_adapters_imports_neither_torch_nor_jax():
    code = ("import sys, gradcheck; from gradcheck import adapters; "
            "print(sorted(m for m in ('torch', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- torch ----------------------------------------------------------------------------------------------

def _torch_functional(name):
    torch = _torch()
    return getattr(torch.nn.functional, name) if hasattr(torch.nn.functional, name) else getattr(torch, name)


# functional, layer, held params (in scope today; torch cannot split ties or pad avg pooling unevenly)
TORCH = [
    ("conv2d", "conv2d", {}), ("max_pool2d", "max_pool2d", {"ties": "first"}),
    ("avg_pool2d", "avg_pool2d", {"padding": 1}), ("linear", "linear", {}),
    ("conv_transpose2d", "conv_transpose2d", {}), ("interpolate", "upsample_nearest2d", {}),
    ("cross_entropy", "softmax_cross_entropy", {}), ("mse_loss", "mse", {}), ("softmax", "softmax", {}),
    ("flatten", "flatten", {}), ("max_unpool2d", "max_unpool2d", {}), ("conv1d", "conv1d", {}),
]


@pytest.mark.parametrize("name, layer, held", TORCH, ids=[t[0] for t in TORCH])
def test_torch_functionals_agree_with_the_oracles(name, layer, held):
    fn = adapters.torch(_torch_functional(name))
    assert fn.layer == layer
    gc.check_backward(fn, layer, max_examples=FEW, oracles=("numpy",), **held)


def _my_conv(wrong: bool):
    torch = _torch()
    F = torch.nn.functional

    class MyConv(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
            ctx.save_for_backward(x, w)
            ctx.conf = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
            ctx.has_bias = b is not None
            return F.conv2d(x, w, b, **ctx.conf)

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            grad_x = torch.nn.grad.conv2d_input(x.shape, w.flip(2, 3) if wrong else w, g, **ctx.conf)
            grad_w = torch.nn.grad.conv2d_weight(x, w.shape, g, **ctx.conf)
            grad_b = g.sum((0, 2, 3)) if ctx.has_bias else None
            return grad_x, grad_w, grad_b, None, None, None, None

    return MyConv


def test_torch_custom_function_right_passes_and_wrong_fails():
    held = dict(padding={0, 1, 2})
    gc.check_backward(adapters.torch(_my_conv(wrong=False).apply), "conv2d", max_examples=FEW, **held)
    with pytest.raises(AssertionError, match="MyConv.apply is wrong"):  # all held: a short shrink
        gc.check_backward(adapters.torch(_my_conv(wrong=True).apply), "conv2d", max_examples=FEW,
                          oracles=("numpy",), padding=1, stride=1, dilation=1, groups=1, bias=False)


def test_torch_module_has_its_weight_and_bias_from_the_inputs():
    torch = _torch()
    module = torch.nn.Conv2d(1, 1, 3, stride=2, padding=1)
    gc.check_backward(adapters.torch(module), "conv2d", max_examples=FEW, oracles=("numpy",), stride=2, padding=1,
                      dilation=1, groups=1)
    assert module.weight.dtype == torch.float32  # the caller's module is left as it was


def test_torch_function_with_keyword_only_parameters_is_refused():
    torch = _torch()

    class KeywordOnly(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, *, stride):
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(ConfigError, match="keyword-only"):
        adapters.torch(KeywordOnly.apply)


# -- JAX ------------------------------------------------------------------------------------------------

def _custom_vjp_relu(mask):
    jax = pytest.importorskip("jax")

    @jax.custom_vjp
    def relu(x):
        return jax.numpy.maximum(x, 0)

    relu.defvjp(lambda x: (relu(x), x), lambda x, g: (g * mask(x),))
    return relu


def test_jax_custom_vjp_right_passes_and_wrong_fails():
    gc.check_backward(adapters.jax(_custom_vjp_relu(lambda x: x > 0)), "relu", max_examples=FEW)
    with pytest.raises(AssertionError, match="not a mistake: relu_grad_at_zero_one"):  # the mask x >= 0: a convention, named as one
        gc.check_backward(adapters.jax(_custom_vjp_relu(lambda x: x >= 0)), "relu", max_examples=FEW)


def test_jax_keeps_class_targets_out_of_the_vjp_when_told_the_layer():
    jax = pytest.importorskip("jax")

    def cross_entropy(logits, target, reduction):
        rows = jax.nn.one_hot(target, logits.shape[1]) if target.ndim == 1 else target
        losses = -(rows * jax.nn.log_softmax(logits)).sum(axis=1)
        return losses.mean() if reduction == "mean" else losses.sum()

    fn = adapters.jax(cross_entropy, layer="softmax_cross_entropy")
    gc.check_backward(fn, "softmax_cross_entropy", max_examples=FEW)
