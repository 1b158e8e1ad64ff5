"""Where the jax oracle computes: the CPU fallback for programs an accelerator rejects (issue 17), proven on the
CPU by making JAX's default platform read "gpu" and the accelerator's program raise as cuDNN's does."""
import os
from collections import Counter, OrderedDict, deque

import jax
import numpy as np
import pytest

import gradcheck as gc
from gradcheck.cli import _oracles_with_devices
from gradcheck.oracles import jax_oracle

CUDNN = "INTERNAL: All backends failed to find supported configs: CUDNN_STATUS_BAD_PARAM"
# The two configurations cuDNN rejected on an H200 (issue 17), with small integer data.
CASES = [
    ("conv_transpose1d", {"stride": 2, "groups": 2}, [(1, 2, 1), (2, 1, 1)]),
    ("conv_transpose2d", {"stride": (1, 2), "groups": 2}, [(1, 2, 1, 1), (2, 1, 1, 1)]),
]


@pytest.fixture
def fake_gpu(monkeypatch):
    """The default platform reads "gpu"; programs compiled for it (the default cache) fail when ``fail`` says
    so, at compile or at run time, writing to fd 2 first as XLA's C++ logs do. Fresh oracle state."""
    state = {"fail": None, "gpu_compiles": 0, "cpu_compiles": []}
    real_platform, real_compiled = jax_oracle._platform, jax_oracle.compiled
    monkeypatch.setattr(jax_oracle, "_platform",
                        lambda: "gpu" if jax.config.jax_default_device is None else real_platform())
    for name, value in [("_COMPILED", OrderedDict()), ("_CPU_FALLBACK", OrderedDict()), ("_REJECTED", set()),
                        ("XLA_LOG", deque(maxlen=20)), ("_noted", False)]:
        monkeypatch.setattr(jax_oracle, name, value)

    def compiled(cache, key, function, *args, **kw):
        if jax_oracle._platform() != "gpu":  # the CPU fallback, or device="cpu"
            if key not in cache:
                state["cpu_compiles"].append(jax_oracle._platform())
            return real_compiled(cache, key, function, *args, **kw)
        state["gpu_compiles"] += 1
        if state["fail"] == "compile":
            os.write(2, b"E1204 cuda_dnn.cc:1 C++ log of a rejected program\n")
            raise jax.errors.JaxRuntimeError(CUDNN)
        program = real_compiled(cache, key, function, *args, **kw)
        if state["fail"] != "run":
            return program

        def rejected(*a):
            os.write(2, b"E1204 cuda_dnn.cc:2 C++ log of a rejected program\n")
            raise jax.errors.JaxRuntimeError(CUDNN)
        return rejected

    monkeypatch.setattr(jax_oracle, "compiled", compiled)
    return state


def _data(shapes):
    rng = np.random.default_rng(0)
    return [rng.integers(-3, 4, s) for s in shapes]


@pytest.mark.parametrize("when", ["compile", "run"])
@pytest.mark.parametrize("name, params, shapes", CASES, ids=[c[0] for c in CASES])
def test_rejected_program_is_rerun_on_the_cpu_and_labelled(fake_gpu, capfd, name, params, shapes, when):
    fake_gpu["fail"] = when
    layer = gc.layer(name, **params)
    inputs = _data(shapes)
    first, second = gc.verify(layer, *inputs), gc.verify(layer, *inputs)
    for v in (first, second):
        assert v.ok and v.devices == {"jax": "cpu fallback"}, str(v)
        assert "sympy = numpy = jax[cpu fallback]" in str(v)
    # compiled for the CPU device, and the accelerator not tried again for the same program
    assert fake_gpu["cpu_compiles"] == ["cpu"] and fake_gpu["gpu_compiles"] == 1
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradcheck: note: the gpu rejected the jax oracle's program for "
                                                   f"{name}(") and "CUDNN_STATUS_BAD_PARAM" in err, err
    assert "C++ log" not in err and "C++ log" in "".join(jax_oracle.XLA_LOG)
    # the forward (used by tests comparing forward values) takes the same path
    assert np.array_equal(jax_oracle.forward(layer, dict(zip(layer.inputs, inputs))), layer.forward(*inputs))


def test_accepted_program_is_labelled_with_its_device_and_nothing_is_printed(fake_gpu, capfd):
    v = gc.verify("conv2d", *_data([(1, 1, 3, 3), (1, 1, 2, 2)]))
    assert v.ok and v.devices == {"jax": "gpu"} and "sympy = numpy = jax[gpu]" in str(v)
    assert fake_gpu["cpu_compiles"] == [] and capfd.readouterr().err == ""


def test_other_errors_are_not_rerun_but_reported(fake_gpu, monkeypatch, capfd):
    """Only a backend's rejection (JaxRuntimeError) moves a program to the CPU; a bug in a JAX forward stays a
    failed oracle, never a silent rerun."""
    def broken(*a, **k):
        raise ValueError("a bug in the forward")
    monkeypatch.setattr(jax_oracle, "compiled", broken)
    v = gc.verify("conv2d", *_data([(1, 1, 3, 3), (1, 1, 2, 2)]))
    assert not v.ok and v.errors == {"jax": "ValueError: a bug in the forward"}
    assert capfd.readouterr().err == ""


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="JAX's default device here is not the CPU")
def test_plain_cpu_results_keep_their_unlabelled_names():
    v = gc.verify("conv2d", *_data([(1, 1, 3, 3), (1, 1, 2, 2)]))
    assert v.ok and v.devices == {"jax": "cpu"} and "sympy = numpy = jax\n" in str(v)


@pytest.mark.parametrize("devices, expected", [
    ({}, "sympy,numpy,jax"),
    ({("jax", "cpu"): 5}, "sympy,numpy,jax"),
    ({("jax", "gpu"): 5}, "sympy,numpy,jax[gpu]"),
    ({("jax", "gpu"): 98, ("jax", "cpu fallback"): 2}, "sympy,numpy,jax[gpu 98, cpu fallback 2]"),
])
def test_verify_row_names_the_devices(devices, expected):
    assert _oracles_with_devices(["sympy", "numpy", "jax"], Counter(devices)) == expected


# -- bench/gpu.py: the one-call GPU check (issue 17) -------------------------------------------------------------
def _bench_gpu():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is a top-level folder, not installed
    from bench import gpu
    return gpu


def test_bench_gpu_skips_in_one_line_without_a_gpu(capsys, tmp_path, monkeypatch):
    gpu = _bench_gpu()
    if not isinstance(gpu.gpu_devices(), str):
        pytest.skip("a GPU is present: run `python -m bench.gpu` itself")
    monkeypatch.delenv("OUT", raising=False)
    assert gpu.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("bench.gpu: skipped: JAX sees no GPU") and not any(tmp_path.iterdir())


def test_bench_gpu_records_a_crashing_part_and_goes_on():
    gpu = _bench_gpu()
    results = {}

    def crash(args):
        raise RuntimeError("CUDNN_STATUS_BAD_PARAM")
    gpu.run_part("transposed", crash, results, None)
    gpu.run_part("versions", lambda args: ({"python": "3"}, True), results, None)
    assert results["transposed"]["ok"] is False and results["transposed"]["error"] == "RuntimeError: CUDNN_STATUS_BAD_PARAM"
    assert results["versions"]["ok"] is True
    text = gpu.summary({"started": "now", "total_s": 1.0, **results})
    assert "[transposed] FAILED" in text and "crashed: RuntimeError" in text and text.endswith("FAILED: transposed")



def test_bench_gpu_says_why_a_check_or_a_side_failed():
    """The device run of phase 1 printed "jax on None" and "(None) DISAGREE": a failure must carry its reason."""
    gpu = _bench_gpu()

    def broken(grad_out, x):
        raise RuntimeError("No such compile option: 'xla_cpu_use_fusion_emitters'")
    v = gc.verify("relu", np.array([[1, -2]]), oracles=("numpy", broken))
    why = gpu.why_failed(v)
    assert why.startswith("broken failed: RuntimeError: No such compile option") and gpu.why_failed(
        gc.verify("relu", np.array([[1, -2]]))) is None
    text = gpu.summary({"started": "now", "total_s": 1.0, "versions": {"ok": True, "seconds": 0},
                        "transposed": {"ok": False, "seconds": 1, "cases": [
                            {"layer": "conv_transpose1d(...)", "kind": "integer", "ok": False, "devices": {},
                             "why": why, "seconds": 0.1, "stderr_lines": []}]},
                        "vgg16": {"ok": False, "seconds": 1, "rows": [
                            {"case": "VGG16 conv1_1",
                             "gpu": {"ok": True, "jax_device": "gpu", "jax_cold_s": 0.2, "jax_warm_s": 0.01,
                                     "numpy_s": 0.02, "why": None},
                             "cpu": {"ok": False, "jax_device": None, "jax_cold_s": 0.01, "jax_warm_s": 0.01,
                                     "numpy_s": 0.02, "why": why}}]}})
    assert "jax on None" not in text and "(None)" not in text and "DISAGREE" not in text, text
    assert "jax gave no result" in text and f"why: {why}" in text
    assert "cpu: jax cold 10 ms, warm 10.0 ms (jax on nothing: it failed), numpy 20 ms, FAILED: broken failed" in text

# -- compile options XLA does not know (jax 0.11 has no xla_cpu_use_fusion_emitters) ------------------------------
class _Lowered:
    """A lowered program whose compile raises the scripted errors, then succeeds; it records the options."""

    def __init__(self, *errors):
        self.errors, self.tried = list(errors), []

    def compile(self, compiler_options=None):
        self.tried.append(dict(compiler_options or {}))
        if self.errors:
            raise jax.errors.JaxRuntimeError(self.errors.pop(0))
        return "executable"


@pytest.mark.parametrize("errors, tried, dropped", [
    (["INVALID_ARGUMENT: No such compile option: 'xla_gone'"], [{"a": 1, "xla_gone": 0}, {"a": 1}], {"xla_gone"}),
    (["INVALID_ARGUMENT: No such compile option: 'xla_gone'", "INVALID_ARGUMENT: No such compile option: 'a'"],
     [{"a": 1, "xla_gone": 0}, {"a": 1}, {}], {"xla_gone", "a"}),
    # an unknown name that is not among the options, or any other error: raised, nothing dropped
    (["INVALID_ARGUMENT: No such compile option: 'xla_elsewhere'"], [{"a": 1, "xla_gone": 0}], set()),
    (["INTERNAL: CUDNN_STATUS_BAD_PARAM"], [{"a": 1, "xla_gone": 0}], set()),
])
def test_unknown_compile_options_are_dropped_and_remembered_per_platform(monkeypatch, errors, tried, dropped):
    monkeypatch.setattr(jax_oracle, "_UNKNOWN_OPTIONS", set())
    lowered = _Lowered(*errors)
    if dropped:
        assert jax_oracle._compile(lowered, {"a": 1, "xla_gone": 0}, "cpu") == "executable"
    else:
        with pytest.raises(jax.errors.JaxRuntimeError):
            jax_oracle._compile(lowered, {"a": 1, "xla_gone": 0}, "cpu")
    assert lowered.tried == tried and jax_oracle._UNKNOWN_OPTIONS == {("cpu", n) for n in dropped}
    # remembered for that platform only: the next compilation there does not try the name again
    again = _Lowered()
    jax_oracle._compile(again, {"a": 1, "xla_gone": 0}, "cpu")
    jax_oracle._compile(again, {"a": 1, "xla_gone": 0}, "gpu")
    assert again.tried == [{k: v for k, v in {"a": 1, "xla_gone": 0}.items() if k not in dropped}, {"a": 1, "xla_gone": 0}]


def test_an_option_this_xla_does_not_know_costs_nothing_but_a_retry(monkeypatch):
    """Real XLA: a bogus option among the oracle's fast-compile options; the check still runs and the name is kept."""
    # compiled for real: an executable from the persistent cache (an earlier run of this test) would hide the retry
    monkeypatch.setenv("GRADCHECK_JAX_CACHE", "0")
    monkeypatch.setattr(jax_oracle, "_FAST_COMPILE", {**jax_oracle._FAST_COMPILE, "xla_gradcheck_no_such_option": True})
    monkeypatch.setattr(jax_oracle, "_UNKNOWN_OPTIONS", set(), raising=False)
    monkeypatch.setattr(jax_oracle, "_COMPILED", OrderedDict())
    monkeypatch.setattr(jax_oracle, "_platform", lambda: "cpu")
    v = gc.verify("conv2d", *_data([(1, 1, 3, 3), (1, 1, 2, 2)]))
    assert v.ok and v.devices == {"jax": "cpu"}, str(v)
    assert ("cpu", "xla_gradcheck_no_such_option") in jax_oracle._UNKNOWN_OPTIONS


# -- device=: where JAX computes (verify, check_backward, sweep; --device on the CLI) -----------------------------
NO_TPU = pytest.mark.skipif(any(d.platform == "tpu" for d in jax.devices()), reason="a TPU is present")
CONV = ("conv2d", [(1, 1, 3, 3), (1, 1, 2, 2)])


def test_device_cpu_computes_on_the_cpu_where_the_default_is_a_gpu(fake_gpu, capfd):
    v = gc.verify(CONV[0], *_data(CONV[1]), device="cpu")
    assert v.ok and v.devices == {"jax": "cpu"} and fake_gpu["gpu_compiles"] == 0 and fake_gpu["cpu_compiles"] == ["cpu"]
    # and the default is JAX's default backend again afterwards (nothing global was changed)
    assert gc.verify(CONV[0], *_data(CONV[1])).devices == {"jax": "gpu"} and fake_gpu["gpu_compiles"] == 1


def test_check_backward_passes_the_device_on(fake_gpu):
    def backward(grad_out, x, w, b=None, **params):
        return gc.layer("conv2d", **params).backward(grad_out, x, w, b)
    gc.check_backward(backward, "conv2d", max_examples=3, oracles=("sympy", "jax"), device="cpu")
    assert fake_gpu["gpu_compiles"] == 0 and fake_gpu["cpu_compiles"]


def _sweep(device, oracles=("sympy", "numpy", "jax")):
    from gradcheck.sweep import sweep
    return lambda tmp: sweep("conv2d", oracles=oracles, results=tmp / "r.jsonl", device=device, progress=False,
                             max_side=1, max_kernel=1)


# One ConfigError (API) or one line and exit 2 (CLI), naming the value and what is allowed or seen, before any run.
@NO_TPU
@pytest.mark.parametrize("call, message", [
    (lambda tmp: gc.verify(CONV[0], *_data(CONV[1]), device="tpu"), "device='tpu': JAX sees no tpu here (it sees cpu"),
    (lambda tmp: gc.verify(CONV[0], *_data(CONV[1]), device="cuda"), "device='cuda' is not allowed: give one of cpu, gpu, tpu"),
    (lambda tmp: gc.verify(CONV[0], *_data(CONV[1]), device="cpu", oracles="sympy,numpy"),
     "device='cpu' chooses where JAX computes, but no oracle here uses JAX (oracles: sympy, numpy)"),
    (lambda tmp: gc.check_backward(lambda *a, **k: None, "conv2d", device="tpu"), "device='tpu': JAX sees no tpu"),
    (_sweep("tpu"), "device='tpu': JAX sees no tpu here"),
    (_sweep("cpu", ("sympy", "numpy")), "device='cpu' chooses where JAX computes, but no oracle here uses JAX"),
], ids=["verify-absent", "verify-unknown", "verify-no-jax", "check_backward", "sweep-absent", "sweep-no-jax"])
def test_a_device_jax_cannot_use_is_one_clear_error(tmp_path, call, message):
    with pytest.raises(gc.ConfigError) as info:
        call(tmp_path)
    assert str(info.value).startswith(message), str(info.value)
    assert not any(tmp_path.iterdir())  # refused before a configuration ran or a results file was opened


@NO_TPU
@pytest.mark.parametrize("argv, message", [
    (["verify", "conv2d", "--examples", "1", "--device", "tpu"], "gradcheck: error: device='tpu': JAX sees no tpu"),
    (["verify", "conv2d", "--device", "cuda"], "gradcheck: error: argument --device: invalid choice: 'cuda'"),
    (["verify", "--all", "--oracles", "sympy,numpy", "--device", "cpu"], "gradcheck: error: device='cpu' chooses"),
    (["sweep", "conv2d", "--max-side", "1", "--device", "tpu"], "gradcheck: error: device='tpu': JAX sees no tpu"),
])
def test_cli_device_errors_are_one_line(capsys, argv, message):
    from gradcheck.cli import main
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(message), err


def test_cli_verify_on_a_device_says_so(capsys):
    from gradcheck.cli import main
    assert main(["verify", "relu", "--examples", "2", "--seed", "0", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(", jax on cpu") and "OK: every oracle agrees exactly" in out


def test_sweep_key_holds_the_device_only_when_one_is_asked_for():
    from gradcheck.sweep import check_key
    plain, cpu, gpu = (check_key("conv2d", ["numpy", "jax"], None, {}, None, d) for d in (None, "cpu", "gpu"))
    assert "device" not in plain[0] and cpu[0]["device"] == "cpu" and len({plain[1], cpu[1], gpu[1]}) == 3
    assert plain == check_key("conv2d", ["numpy", "jax"], None, {}, None)  # the keys of existing result files


# -- a device without float64 (TPU): float32, said in the verdict, compared within float32's tolerance ----------
@pytest.fixture
def fake_tpu(monkeypatch):
    """JAX's default platform reads "tpu" (the programs still run on this CPU, in the float32 a TPU would use)."""
    real_platform = jax_oracle._platform
    monkeypatch.setattr(jax_oracle, "_platform",
                        lambda: "tpu" if jax.config.jax_default_device is None else real_platform())
    monkeypatch.setattr(jax_oracle, "_COMPILED", OrderedDict())


@pytest.mark.parametrize("data", [
    _data(CONV[1]),
    # 2**24 + 1 is the first integer float32 cannot hold: an exact comparison would fail jax, a correct oracle
    [np.full((1, 1, 3, 3), 2**24 + 1), np.ones((1, 1, 2, 2), dtype=np.int64)],
], ids=["small", "past-float32"])
def test_without_float64_the_jax_oracle_computes_in_float32_and_says_so(fake_tpu, data):
    from gradcheck.tolerance import rtol_for
    v = gc.verify(CONV[0], *data)
    assert v.ok, str(v)
    assert v.devices == {"jax": "tpu"} and v.precisions == {"jax": "float32"}
    assert all(g.dtype == np.float32 for g in v.gradients["jax"].values())
    assert v.tolerances[("sympy", "numpy")] == 0 and v.tolerances[("sympy", "jax")] == rtol_for(np.float32)
    text = str(v)
    assert "sympy = numpy = jax[tpu]" in text and ("jax[tpu] computed in float32: its device has no float64, so its "
                                                   "result is compared within float32's tolerance, never exactly") in text


def test_float32_is_held_to_its_tolerance_not_waved_through(fake_tpu, monkeypatch):
    """A wrong float32 result still fails: the tolerance is float32's (6.4e-6), not anything goes."""
    real = jax_oracle.gradients

    def off_by_1e_4(layer, arrays, grad_out):
        result = real(layer, arrays, grad_out)
        result["w"] = result["w"] * np.float32(1 + 1e-4)
        return result
    monkeypatch.setitem(gc.oracles.ORACLES, "jax", gc.oracles.ORACLES["jax"].__class__(
        "jax", off_by_1e_4, frozenset({"integer"}), "jax, skewed"))
    v = gc.verify(CONV[0], *_data(CONV[1]))
    assert not v.ok and v.mismatches[0].gradient == "w" and v.mismatches[0].odd_one_out == "jax", str(v)


def test_cli_row_is_not_exact_where_jax_computed_in_float32(fake_tpu, capsys):
    from gradcheck.cli import main
    assert main(["verify", "relu", "--examples", "2", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "sympy,numpy,jax[tpu]  exact + float tol" in out, out


# -- on a real GPU (pytest -m gpu on a machine with one; skipped elsewhere) ---------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("name, params, shapes", [("conv2d", {"stride": 2}, [(2, 3, 6, 6), (4, 3, 3, 3)])] + CASES,
                         ids=["conv2d"] + [c[0] for c in CASES])
def test_on_the_gpu_every_case_agrees_and_names_its_device(capfd, name, params, shapes):
    layer = gc.layer(name, **params)
    gpu, cpu = gc.verify(layer, *_data(shapes), device="gpu"), gc.verify(layer, *_data(shapes), device="cpu")
    assert gpu.ok and cpu.ok, f"{gpu}\n{cpu}"
    assert gpu.devices["jax"] in ({"gpu"} if name == "conv2d" else {"gpu", "cpu fallback"}) and cpu.devices == {"jax": "cpu"}
    assert all(np.array_equal(gpu.gradients["jax"][n], cpu.gradients["jax"][n]) for n in cpu.gradients["jax"])
    err = capfd.readouterr().err  # at most gradcheck's one note line; no XLA log
    assert all(line.startswith("gradcheck: note:") for line in err.splitlines()), err
