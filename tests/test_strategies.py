"""The public strategies: bounds are checked at once, and the corners that matter are reachable."""
import random

import numpy as np
import pytest
from hypothesis import find, settings
from hypothesis.errors import InvalidArgument

import gradcheck as gc
from gradcheck.strategies import arrays, conv_configs, examples

FIND = settings(max_examples=2000, database=None)


@pytest.mark.parametrize("strategy, match", [
    (lambda: conv_configs(max_side=0), r"max_side=0 is not allowed: max_side must be an int >= 1"),
    (lambda: conv_configs(max_padding=-1), r"max_padding=-1"),
    (lambda: conv_configs(spatial=3), r"spatial=3"),
    (lambda: arrays((2,), kind="complex"), r"kind='complex'"),
    (lambda: examples("conv9d"), r"layer='conv9d' is not registered"),
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
    find(conv_configs(), condition, settings=FIND, random=random.Random(0))


def test_integer_data_has_zeros_and_repeats():
    find(arrays((3, 3)), lambda a: (a == 0).any() and len(np.unique(a)) < a.size - 2,
         settings=FIND, random=random.Random(0))


def test_examples_shrink_to_the_smallest_failing_configuration():
    minimal = find(examples("conv2d"), lambda e: max(e.layer.params["stride"]) > 1,
                   settings=FIND, random=random.Random(0))
    assert minimal.shapes["x"] == (1, 1, 1, 1) and minimal.layer.params["stride"] in ((1, 2), (2, 1))
