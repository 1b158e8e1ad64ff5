"""The parameter schema and the geometry module: written once, and everything else derives from them.

One table per claim: every layer's schema drives its validation (a bad value of each parameter is one error naming
it and what is allowed), ``verify LAYER --help`` and ``gradcheck list`` show exactly the schema's parameters,
parameters survive the trip to a command string and back, and the geometry agrees with torch's documented output
sizes and with the layers' own output shapes.
"""
import numpy as np
import pytest

import gradcheck as gc
from gradcheck import cli
from gradcheck.grading.casefile import parse_toml
from gradcheck.layers import REGISTRY, geometry
from gradcheck.layers.schema import REQUIRED, command_args, flag

# A value of each kind that the kind refuses, whatever else the layer holds.
BAD_VALUE = {"ints": "minimum", "int": "minimum", "padding": "full", "flag": 1, "choice": "nope", "number": 0,
             "nonzero_int": 0}
PARAMS = [(name, p) for name in sorted(REGISTRY) for p in REGISTRY[name].schema]


def _ndim(name):
    return getattr(REGISTRY[name], "spatial", 2)


def _required(name) -> dict:
    """The smallest valid value of every required parameter (a pool's kernel_size 2, a scale factor 2)."""
    return {p.name: 2 for p in REGISTRY[name].schema if p.default is REQUIRED}


def _bad(param):
    if BAD_VALUE[param.kind] != "minimum":
        return BAD_VALUE[param.kind]
    return 1.5 if param.minimum is None else param.minimum - 1


@pytest.mark.parametrize("name, param", PARAMS, ids=[f"{n}-{p.name}" for n, p in PARAMS])
def test_a_bad_value_of_each_parameter_is_one_error_naming_it_and_what_is_allowed(name, param):
    bad = _bad(param)
    with pytest.raises(gc.ConfigError) as info:
        gc.layer(name, **{**_required(name), param.name: bad})
    message = str(info.value)
    assert message.startswith(f"{param.name}={bad!r} is not allowed: ") and "\n" not in message, message
    assert f"{param.name} must be {param.allowed(_ndim(name))}" in message, message


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_schema_is_the_layers_parameters_in_order_with_unknown_and_missing_ones_refused(name):
    schema = REGISTRY[name].schema
    assert tuple(gc.layer(name, **_required(name)).params) == schema.names  # repr, reports and stems use this order
    with pytest.raises(gc.ConfigError, match=rf"^{name} has no parameter 'bogus'; (it has no parameters|its "
                                             rf"parameters? (is|are) {', '.join(schema.names)})$"):
        gc.layer(name, **_required(name), bogus=1)
    for param in (p for p in schema if p.default is REQUIRED):
        with pytest.raises(gc.ConfigError, match=rf"^{name} needs {param.name} \("):
            gc.layer(name, **{k: v for k, v in _required(name).items() if k != param.name})


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_verify_layer_help_lists_exactly_the_schemas_parameters(name, capsys):
    assert cli.main(["verify", name, "--help"]) == 0
    out = capsys.readouterr().out
    lines = out.split(f"parameters of {name}:", 1)[1].splitlines()
    end = next((i for i, line in enumerate(lines) if line and not line.startswith(" ")), len(lines))
    section = "\n".join(lines[:end])  # up to the epilog, the first line not indented
    flags = [line.split()[0] for line in lines[:end] if line.startswith("  --")]
    assert flags == [flag(n) for n in REGISTRY[name].schema.names], section
    for param in REGISTRY[name].schema:  # each with its default
        assert f"default {param.default_text()}" in " ".join(section.split())


def test_list_shows_each_layers_parameters(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "parameters: stride=1, padding=0, dilation=1, groups=1" in out
    assert "parameters: kernel_size, stride=None: kernel_size, padding=0, dilation=1, ceil_mode=False, ties='first'" in out
    assert out.count("parameters: ") == len(REGISTRY) and "parameters: no parameters" in out


def test_a_held_schema_flag_is_held_and_repeated_it_is_a_set(capsys):
    code, out = cli.main(["verify", "conv2d", "--examples", "2", "--seed", "0", "--stride", "2", "--padding", "0",
                          "--padding_", "x"]), capsys.readouterr()
    assert code == 2 and "conv2d has no parameter 'padding_'" in out.err  # not a schema flag: the layer says why
    code = cli.main(["verify", "conv2d", "--examples", "2", "--seed", "0", "--oracles", "sympy,numpy",
                     "--stride", "2", "--padding", "0", "--padding", "1", "--output_padding", "1"])
    assert code == 2 and "conv2d has no parameter 'output_padding'" in capsys.readouterr().err
    code = cli.main(["verify", "conv2d", "--examples", "2", "--seed", "0", "--oracles", "sympy,numpy",
                     "--stride", "2", "--padding", "0", "--padding", "1"])
    assert code == 0 and "held {'stride': 2, 'padding': frozenset({0, 1})}" in capsys.readouterr().out


ROUND_TRIP = [
    ("conv2d", {"stride": (2, 1), "padding": "same", "dilation": 2, "groups": 2}),
    ("conv_transpose2d", {"stride": 2, "padding": 1, "output_padding": (1, 0)}),
    ("max_pool2d", {"kernel_size": (3, 2), "padding": (1, 0), "ceil_mode": True, "ties": "split"}),
    ("avg_pool2d", {"kernel_size": 2, "count_include_pad": False, "divisor_override": 3}),
    ("max_unpool2d", {"kernel_size": 2, "output_size": (5, 4)}),
    ("flatten", {"start_dim": 0, "end_dim": -2}),
    ("batch_norm", {"eps": 0.001}),
    ("softmax_cross_entropy", {"reduction": "sum"}),
]


@pytest.mark.parametrize("name, params", ROUND_TRIP)
def test_parameters_survive_the_command_string_and_the_case_file(name, params):
    layer = gc.layer(name, **params)
    for dashes in (True, False):  # reports spell flags as the parameters are named, the rest with dashes
        tokens = command_args(layer.params, dashes=dashes).split()
        assert gc.layer(name, **cli._held_params(tokens)).params == layer.params
    toml = "".join(f"{k} = {_toml(v)}\n" for k, v in params.items())
    assert gc.layer(name, **REGISTRY[name].schema.coerce(parse_toml(toml))).params == layer.params


def _toml(value):
    if isinstance(value, tuple):
        return "[" + ", ".join(map(_toml, value)) + "]"
    return {True: "true", False: "false"}.get(value, f'"{value}"') if isinstance(value, (bool, str)) else str(value)


# (formula, arguments, torch's documented result): Conv2d / MaxPool2d / ConvTranspose2d / MaxUnpool2d "Shape" notes.
TORCH_FORMULAS = [
    ("window", dict(size=7, kernel=3, stride=2, padding=(1, 1)), 4),        # ⌊(7 + 2 − 2 − 1)/2 + 1⌋
    ("window", dict(size=7, kernel=3, dilation=2), 3),                      # ⌊(7 − 4 − 1)/1 + 1⌋
    ("window", dict(size=6, kernel=3, stride=3), 2),
    ("window", dict(size=5, kernel=2, stride=2, ceil_mode=True), 3),        # ⌈(5 − 1 − 1)/2⌉ + 1
    ("window", dict(size=5, kernel=2, stride=2, padding=(1, 1), ceil_mode=True), 3),  # 4, last starts in padding
    ("window", dict(size=2, kernel=3), 0),                                  # does not fit
    ("transposed", dict(size=3, kernel=3, stride=2, padding=1, output_padding=1), 6),
    ("transposed", dict(size=4, kernel=2, stride=1, dilation=3), 7),
    ("unpool", dict(size=3, kernel=2, stride=2), 6),
    ("unpool", dict(size=3, kernel=3, stride=2, padding=1), 5),
    ("upsample", dict(size=3, scale=4), 12),
]
FORMULAS = {"window": geometry.window_output_size, "transposed": geometry.transposed_output_size,
            "unpool": geometry.unpool_output_size, "upsample": geometry.upsample_output_size}


@pytest.mark.parametrize("formula, args, expected", TORCH_FORMULAS)
def test_geometry_agrees_with_torchs_documented_output_sizes(formula, args, expected):
    size, rest = args["size"], {k: v for k, v in args.items() if k != "size"}
    assert FORMULAS[formula](size, **rest) == expected


def test_same_padding_gives_ceil_s_outputs_the_odd_zero_after():
    for size, kernel, stride, dilation in [(5, 3, 1, 1), (6, 3, 2, 1), (7, 2, 3, 2), (4, 4, 1, 1)]:
        pads = geometry.same_padding(size, kernel, stride=stride, dilation=dilation)
        assert pads[1] - pads[0] in (0, 1)
        assert geometry.window_output_size(size, kernel, stride=stride, dilation=dilation, padding=pads) == \
            -(-size // stride)
    assert geometry.same_padding(4, 4) == (1, 2)


# (layer, params, input shapes): the layer's NumPy forward has the shape geometry predicts for it.
SHAPES = [
    ("conv2d", {"stride": (2, 1), "padding": 1, "dilation": (1, 2)}, {"x": (1, 1, 7, 6), "w": (1, 1, 3, 2)}),
    ("conv1d", {"padding": "same", "stride": 2}, {"x": (1, 1, 7), "w": (1, 1, 4)}),
    ("max_pool2d", {"kernel_size": 2, "padding": 1, "ceil_mode": True}, {"x": (1, 1, 5, 4)}),
    ("avg_pool2d", {"kernel_size": (3, 2), "stride": (2, 1)}, {"x": (1, 1, 6, 3)}),
    ("conv_transpose2d", {"stride": 2, "padding": 1, "output_padding": 1}, {"x": (1, 1, 3, 2), "w": (1, 1, 3, 3)}),
    ("max_unpool2d", {"kernel_size": 2}, {"x": (1, 1, 2, 3), "indices": (1, 1, 2, 3)}),
    ("upsample_nearest2d", {"scale_factor": (2, 3)}, {"x": (1, 1, 2, 2)}),
]


def _expected(layer, shapes):
    p, size = layer.params, shapes["x"][2:]
    if layer.name.startswith("conv_transpose"):
        return tuple(geometry.transposed_output_size(n, k, stride=s, padding=q, output_padding=o, dilation=d)
                     for n, k, s, q, o, d in zip(size, shapes["w"][2:], p["stride"], p["padding"],
                                                 p["output_padding"], p["dilation"]))
    if layer.name.startswith("conv"):
        pads = geometry.resolve_padding(p["padding"], shapes["w"][2:], p["dilation"], p["stride"], size)
        return geometry.window_output_sizes(size, shapes["w"][2:], p["stride"], p["dilation"], pads)
    if layer.name.endswith("pool2d") and "kernel_size" in p and layer.name != "max_unpool2d":
        return geometry.window_output_sizes(size, p["kernel_size"], p["stride"], p.get("dilation", (1, 1)),
                                            [(q, q) for q in p["padding"]], p["ceil_mode"])
    if layer.name == "max_unpool2d":
        return tuple(geometry.unpool_output_size(n, k, stride=s, padding=q)
                     for n, k, s, q in zip(size, p["kernel_size"], p["stride"], p["padding"]))
    return tuple(geometry.upsample_output_size(n, f) for n, f in zip(size, p["scale_factor"]))


@pytest.mark.parametrize("name, params, shapes", SHAPES)
def test_geometry_agrees_with_the_layers_actual_output_shapes(name, params, shapes):
    layer = gc.layer(name, **params)
    rng = np.random.default_rng(0)
    arrays = [rng.integers(-3, 4, size=s) if k != "indices" else np.zeros(s, dtype=np.int64)
              for k, s in shapes.items()]
    out = layer.numpy_forward(*arrays)
    assert out.shape[2:] == _expected(layer, shapes) == layer.output_shape(shapes)[2:]


def test_geometry_agrees_with_torch_where_torch_is_installed():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = torch.zeros(1, 1, 7, 6)
    for k, s, p, d, ceil in [(3, 2, 1, 1, False), (2, 2, 1, 1, True), (3, 2, 1, 2, True), (3, 3, 0, 1, True)]:
        expected = tuple(geometry.window_output_size(n, k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
                         for n in (7, 6))
        assert tuple(F.max_pool2d(x, k, s, p, d, ceil_mode=ceil).shape[2:]) == expected
        assert tuple(F.conv2d(x, torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d).shape[2:]) == tuple(
            geometry.window_output_size(n, k, stride=s, padding=p, dilation=d) for n in (7, 6))
        op = min(s, d) - 1
        assert tuple(F.conv_transpose2d(x, torch.zeros(1, 1, k, k), stride=s, padding=p, output_padding=op,
                                        dilation=d).shape[2:]) == tuple(
            geometry.transposed_output_size(n, k, stride=s, padding=p, output_padding=op, dilation=d) for n in (7, 6))
