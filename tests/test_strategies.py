"""The public strategies: bounds are checked at once, and the corners that matter are reachable."""
import random

import numpy as np
import pytest
from fractions import Fraction

from hypothesis import find, given, settings, strategies as st
from hypothesis.errors import InvalidArgument, NoSuchExample

import gradcheck as gc
from gradcheck.cli import main
from gradcheck.strategies import arrays, configs, conv_configs, examples

FIND = settings(max_examples=2000, database=None)


@pytest.mark.parametrize("strategy, match", [
    (lambda: conv_configs(max_side=0), r"max_side=0 is not allowed: max_side must be an int >= 1"),
    (lambda: conv_configs(max_padding=-1), r"max_padding=-1"),
    (lambda: conv_configs(spatial=3), r"spatial=3"),
    (lambda: arrays((2,), kind="complex"), r"kind='complex'"),
    (lambda: examples("conv9d"), r"layer='conv9d' is not registered"),
    (lambda: examples("conv2d", dtype="int32"), r"dtype='int32' is not allowed"),
    (lambda: examples("conv2d", dtype="int64", kind="integer"), r"give one of them"),
])
def test_bad_bounds_raise_invalid_argument(strategy, match):
    with pytest.raises(InvalidArgument, match=match):
        strategy().validate()


def test_held_parameters_are_validated_and_held():
    with pytest.raises(gc.ConfigError, match="stride=0"):
        conv_configs(stride=0).validate()
    layer, _ = find(conv_configs(stride=2, padding="same"), lambda c: True, settings=FIND, random=random.Random(0))
    assert layer.params["stride"] == (2, 2) and layer.params["padding"] == "same"


@pytest.mark.parametrize("description, condition", [
    ("'same' padding with stride > 1", lambda c: c[0].params["padding"] == "same" and max(c[0].params["stride"]) > 1),
    ("'valid' padding", lambda c: c[0].params["padding"] == "valid"),
    ("asymmetric explicit padding", lambda c: isinstance(c[0].params["padding"], tuple)
     and len(set(c[0].params["padding"])) == 2),
    ("groups > 1 with several channels per group", lambda c: c[0].params["groups"] > 1 and c[1]["w"][1] > 1),
    ("dilation and stride together", lambda c: min(c[0].params["dilation"]) > 1 and min(c[0].params["stride"]) > 1),
    ("no bias", lambda c: "b" not in c[1]),
    ("a batch of two", lambda c: c[1]["x"][0] == 2),
    ("a kernel as large as the padded input", lambda c: c[0].output_shape(c[1])[2] == 1 and c[1]["w"][2] > 1),
])
def test_configurations_reach_the_corners(description, condition):
    find(conv_configs(extensions=True), condition, settings=FIND, random=random.Random(0))


@pytest.mark.parametrize("layer_name, extension", [
    ("conv2d", lambda c: c[0].params["padding"] == "same" and max(c[0].params["stride"]) > 1),
    ("separable_conv2d", lambda c: c[0].params["padding"] == "same" and max(c[0].params["stride"]) > 1),
    ("max_pool2d", lambda c: c[0].params["padding"] == "same"),
    ("avg_pool2d", lambda c: c[0].params["padding"] == "same"),
    ("max_pool2d", lambda c: c[0].params["ties"] == "split"),
])
def test_extensions_are_drawn_only_when_asked_for(layer_name, extension):
    """By default draws stay inside torch.nn.functional's domain; extensions=True reaches TensorFlow's conventions."""
    find(configs(layer_name, extensions=True), extension, settings=FIND, random=random.Random(0))
    with pytest.raises(NoSuchExample):
        find(configs(layer_name), extension, settings=settings(max_examples=150, database=None),
             random=random.Random(0))


def test_held_sets_draw_each_allowed_value_and_shrink_to_the_smallest():
    strategy = configs("conv2d", padding={2, 0}, stride=frozenset({1, 3}))
    allowed = {(p, s) for p in ((0, 0), (2, 2)) for s in ((1, 1), (3, 3))}
    for pair in allowed:
        find(strategy, lambda c, pair=pair: (c[0].params["padding"], c[0].params["stride"]) == pair,
             settings=FIND, random=random.Random(0))
    with pytest.raises(NoSuchExample):
        find(strategy, lambda c: (c[0].params["padding"], c[0].params["stride"]) not in allowed,
             settings=settings(max_examples=200, database=None), random=random.Random(0))
    layer, _ = find(strategy, lambda c: True, settings=FIND, random=random.Random(0))
    assert layer.params["padding"] == (0, 0) and layer.params["stride"] == (1, 1)


@pytest.mark.parametrize("strategy, match", [
    (lambda: configs("conv2d", padding={0, -1}), r"padding=-1 is not allowed"),
    (lambda: configs("conv2d", stride=set()), r"stride=set\(\) is not allowed"),
    (lambda: configs("max_pool2d", kernel_size=1, padding={1, 2}), r"padding=1 is not allowed with kernel_size"),
    (lambda: configs("conv2d", where="square"), r"where='square' is not allowed"),
    (lambda: configs(gc.layer("conv2d", stride=2), stride=1), r"stride=1: conv2d\(.*\) already holds"),
])
def test_bad_scopes_raise_config_error_at_once(strategy, match):
    with pytest.raises(gc.ConfigError, match=match):
        strategy()


def test_where_and_layer_instances_scope_the_draws():
    square = configs("conv2d", where=lambda layer, shapes: shapes["w"][2] == shapes["w"][3])
    with pytest.raises(NoSuchExample):
        find(square, lambda c: c[1]["w"][2] != c[1]["w"][3], settings=settings(max_examples=100, database=None),
             random=random.Random(0))
    pool = gc.layer("max_pool2d", kernel_size=2, stride=1, padding=1)
    example = find(examples(pool), lambda e: e.shapes["x"][2] > 2, settings=FIND, random=random.Random(0))
    assert example.layer is pool


@settings(max_examples=5)
@given(data=st.data())
def test_dtypes_of_the_data(data):
    def draw(**kw):
        return data.draw(examples("softmax_cross_entropy", **kw))
    as_float = draw(dtype="float64")
    assert as_float.inputs[0].dtype == np.float64 and as_float.grad_out.dtype == np.float64
    assert as_float.inputs[1].dtype == np.int64  # class targets stay integers
    assert draw().inputs[0].dtype == draw(kind="integer").inputs[0].dtype == np.int64
    assert isinstance(draw(dtype="fraction").inputs[0].flat[0], Fraction)


def test_the_verify_command_draws_extensions_when_asked(capsys):
    assert main(["verify", "max_pool2d", "--examples", "5", "--seed", "0", "--extensions", "--ties", "split",
                 "--oracles", "sympy,numpy"]) == 0
    assert main(["verify", "conv2d", "--examples", "3", "--seed", "0", "--oracles", "sympy,numpy"]) == 0


def test_integer_data_has_zeros_and_repeats():
    find(arrays((3, 3)), lambda a: (a == 0).any() and len(np.unique(a)) < a.size - 2,
         settings=FIND, random=random.Random(0))


def test_examples_shrink_to_the_smallest_failing_configuration():
    minimal = find(examples("conv2d"), lambda e: max(e.layer.params["stride"]) > 1,
                   settings=FIND, random=random.Random(0))
    assert minimal.shapes["x"] == (1, 1, 1, 1) and minimal.layer.params["stride"] in ((1, 2), (2, 1))
