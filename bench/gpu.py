"""The GPU check of issue 17, one short call: ``python -m bench.gpu`` (or ``python bench/gpu.py``), < 5 minutes.

On a machine where JAX sees a GPU it runs, each part on its own (a part that fails is recorded, the others run):
- ``versions``: Python, jax, jaxlib, the CUDA plugin, numpy, sympy, hypothesis, torch, the device's name,
  jax.print_environment_info() (nvidia-smi included);
- ``transposed``: the grouped transposed convolutions cuDNN rejected on an H200 (conv_transpose1d stride 2
  groups 2, x (1,2,1) w (2,1,1); conv_transpose2d stride (1,2) groups 2, x (1,2,1,1) w (2,1,1,1)), through
  ``gc.verify(..., device="gpu")`` (sympy, numpy, jax), integer and float data: the verdict, the device of the
  jax result (``gpu`` or ``cpu fallback``) and every line that reached stderr;
- ``verify_all``: the rows of ``gradcheck verify --all --examples N --seed S --device gpu``: one
  ``gradcheck verify LAYER`` process per layer, several at a time (each layer's draws depend only on the seed,
  so the rows are those of ``--all``), with each process's stderr kept (XLA's C++ logs must not reach it);
- ``sweep``: ``gradcheck sweep conv_transpose1d --max-side 2 --max-kernel 1 --device gpu --jobs 4``: every
  configuration in those bounds (the rejected grouped strided ones among them), in 4 worker processes sharing
  the GPU;
- ``vgg16``: ``gc.verify(oracles=("numpy", "jax"), device=...)`` on VGG16's 9 conv shapes, float64, the jax
  oracle cold (compilation, cuDNN autotuning) and warm, on the GPU and on the CPU.
Writes gpu.json and gpu.txt to $OUT when set, else to --out (default bench/out/gpu), and prints the text.
Without a GPU it prints one line and exits 0. Exit 1 when a check failed or a part crashed.

    PYTHONPATH=. python -m bench.gpu [--examples 100] [--seed 0] [--jobs 8] [--budget 270]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

if __package__ in (None, ""):  # `python bench/gpu.py`: the project root on the path, as `-m` would have it
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTS = ("versions", "transposed", "verify_all", "sweep", "vgg16")
TRANSPOSED = [
    ("conv_transpose1d", {"stride": 2, "groups": 2}, [(1, 2, 1), (2, 1, 1)]),
    ("conv_transpose2d", {"stride": (1, 2), "groups": 2}, [(1, 2, 1, 1), (2, 1, 1, 1)]),
]


def gpu_devices():
    """JAX's GPU devices, or the reason there are none (a string)."""
    try:
        import jax
    except Exception as exc:  # noqa: BLE001 - any import failure means: no GPU run here
        return f"jax cannot be imported ({type(exc).__name__}: {exc})"
    try:
        return jax.devices("gpu")
    except Exception as exc:  # noqa: BLE001 - RuntimeError "Unknown backend" and plugin failures alike
        return f"JAX sees no GPU ({' '.join(str(exc).split())[:160]})"


@contextlib.contextmanager
def stderr_lines(into: list):
    """Whatever reaches file descriptor 2 meanwhile (Python and C++ alike), appended to ``into`` as lines and
    not shown: the check is that nothing but gradcheck's one note line gets there."""
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            into.extend(sink.read().decode(errors="replace").splitlines())


def part_versions(args):
    import importlib.metadata as md

    import jax

    def version(dist):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None
    plugins = sorted({f"{d.metadata['Name']} {d.version}" for d in md.distributions()
                      if (d.metadata["Name"] or "").lower().replace("_", "-").startswith(("jax-cuda", "jax-rocm"))})
    devices = jax.devices()
    info = {"python": sys.version.split()[0], "platform": platform.platform(), "cores": os.cpu_count(),
            "jax": jax.__version__, "jaxlib": version("jaxlib"), "cuda_plugin": plugins,
            **{m: version(m) for m in ("numpy", "sympy", "hypothesis", "torch", "gradcheck")},
            "default_backend": jax.default_backend(),
            "devices": [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '?')}" for d in devices],
            "device_name": getattr(devices[0], "device_kind", str(devices[0]))}
    try:
        info["git"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True, timeout=10).stdout.strip() or None
    except Exception:  # noqa: BLE001 - a copied tree without git
        info["git"] = None
    try:
        info["environment"] = jax.print_environment_info(return_string=True)
    except Exception as exc:  # noqa: BLE001
        info["environment"] = f"unavailable: {exc}"
    return info, True


def part_transposed(args):
    import numpy as np

    import gradcheck as gc
    from gradcheck.oracles import jax_oracle

    rows, ok = [], True
    for name, params, shapes in TRANSPOSED:
        layer = gc.layer(name, **params)
        for kind in ("integer", "float"):
            rng = np.random.default_rng(0)
            inputs = [rng.integers(-3, 4, s) if kind == "integer" else rng.standard_normal(s) for s in shapes]
            lines: list[str] = []
            start = time.perf_counter()
            with stderr_lines(lines):
                v = gc.verify(layer, *inputs, device=args.device)
            rows.append({"layer": repr(layer), "kind": kind, "shapes": [list(s) for s in shapes], "ok": v.ok,
                         "devices": v.devices, "why": why_failed(v), "seconds": round(time.perf_counter() - start, 3),
                         "stderr_lines": lines, "verdict": str(v)})
            # a pass needs the agreement and at most gradcheck's one note line on stderr, nothing from XLA
            ok = ok and v.ok and all(line.startswith("gradcheck: note:") for line in lines) and len(lines) <= 1
    return {"cases": rows, "xla_log_captured": list(jax_oracle.XLA_LOG)}, ok


def why_failed(verdict) -> str | None:
    """What went wrong in a verdict, in one line (None when it is OK): the oracles that failed and their errors,
    else the gradients that disagree and the odd one out."""
    if verdict.ok:
        return None
    if verdict.errors:
        return "; ".join(f"{o} failed: {' '.join(e.split())[:200]}" for o, e in verdict.errors.items())
    return "; ".join(f"grad_{m.gradient} disagrees ({m.n_wrong} elements; odd one out: {m.odd_one_out or 'none'})"
                     for m in verdict.mismatches)


def _verify_one(layer, args, deadline):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}  # several processes share the GPU's memory
    command = [sys.executable, "-m", "gradcheck", "verify", layer, "--examples", str(args.examples),
               "--seed", str(args.seed)] + (["--device", args.device] if args.device else [])
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                              timeout=max(1.0, deadline - time.monotonic()))
        rc, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = "timeout", (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) \
            else (exc.stdout or ""), ""
    row = next((line for line in out.splitlines() if line.startswith(layer + " ")), None)
    return {"layer": layer, "rc": rc, "seconds": round(time.perf_counter() - start, 1), "row": row,
            "last_line": out.strip().splitlines()[-1] if out.strip() else "", "stdout": out[-4000:],
            "stderr_lines": len(err.splitlines()), "stderr_head": err.splitlines()[:8]}


def part_verify_all(args, deadline):
    import gradcheck as gc

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(lambda layer: _verify_one(layer, args, deadline), gc.layers()))
    ok = all(r["rc"] == 0 and all(line.startswith("gradcheck: note:") for line in r["stderr_head"])
             and r["stderr_lines"] <= 1 for r in rows)
    return {"command": f"gradcheck verify LAYER --examples {args.examples} --seed {args.seed}"
                       + (f" --device {args.device}" if args.device else ""), "layers": rows}, ok


def part_sweep(args, deadline):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "gradcheck", "sweep", "conv_transpose1d", "--max-side", "2", "--max-kernel",
                   "1", "--jobs", "4", "--no-progress", "--results", os.path.join(tmp, "sweep.jsonl")] + (
                       ["--device", args.device] if args.device else [])
        start = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                                  timeout=max(1.0, deadline - time.monotonic()))
            rc, out, err = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired:
            rc, out, err = "timeout", "", ""
        rows = []
        try:
            with open(os.path.join(tmp, "sweep.jsonl")) as f:
                rows = [r for r in map(json.loads, filter(str.strip, f)) if "status" in r]  # not the header row
        except OSError:
            pass
    devices: dict = {}
    for r in rows:
        for where in (r.get("devices") or {"jax": "cpu"}).values():
            devices[where] = devices.get(where, 0) + 1
    lines = err.splitlines()
    # each worker process may say once that it ran a program on the CPU; nothing else may reach stderr
    ok = rc == 0 and all(line.startswith("gradcheck: note:") for line in lines)
    return {"command": "gradcheck " + " ".join(a for a in command[3:] if not a.startswith(tmp) and a != "--results"),
            "rc": rc, "run_s": round(time.perf_counter() - start, 1),
            "configurations": len(rows), "jax_devices": devices, "last_line": out.strip().splitlines()[-1] if out.strip()
            else "", "stderr_lines": len(lines), "stderr_head": lines[:6]}, ok


def part_vgg16(args, deadline):
    import gradcheck as gc
    from gradcheck.oracles import jax_oracle

    from bench.table import VGG16

    rows, ok = [], True
    for case in VGG16:
        layer = case.configured()
        inputs, g = case.data("float")
        row = {"case": case.label, "shapes": {k: list(v) for k, v in case.shapes.items()}}
        for device in ("gpu", "cpu"):
            if time.monotonic() > deadline:
                row[device] = "skipped: past the time budget"
                continue
            try:  # one side's crash is recorded; the other side and the other shapes still run
                on = args.device if device == "gpu" else "cpu"  # None in a dry run: JAX's default, the CPU
                jax_oracle._COMPILED.clear()  # cold: compilation (and cuDNN autotuning) inside the first call
                cold = gc.verify(layer, *inputs, grad_out=g, oracles=("numpy", "jax"), device=on)
                warm = gc.verify(layer, *inputs, grad_out=g, oracles=("numpy", "jax"), device=on)
            except Exception as exc:  # noqa: BLE001
                row[device] = {"ok": False, "why": f"crashed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"}
                ok = False
                continue
            row[device] = {"ok": cold.ok and warm.ok, "jax_device": warm.devices.get("jax"),
                           "jax_cold_s": round(cold.seconds["jax"], 4), "jax_warm_s": round(warm.seconds["jax"], 4),
                           "numpy_s": round(min(cold.seconds["numpy"], warm.seconds["numpy"]), 4),
                           "why": why_failed(cold) or why_failed(warm)}
            ok = ok and cold.ok and warm.ok
        rows.append(row)
    jax_oracle._COMPILED.clear()
    return {"float64": True, "rows": rows}, ok


def run_part(name, fn, results, *fn_args):
    start = time.perf_counter()
    print(f"[bench.gpu] {name} ...", file=sys.stderr, flush=True)
    try:
        data, ok = fn(*fn_args)
        results[name] = {"ok": bool(ok), "seconds": round(time.perf_counter() - start, 1), **(
            data if isinstance(data, dict) else {"data": data})}
    except BaseException as exc:  # noqa: BLE001 - one part's crash is recorded; the others still run
        if isinstance(exc, KeyboardInterrupt):
            raise
        results[name] = {"ok": False, "seconds": round(time.perf_counter() - start, 1),
                         "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}


def summary(results) -> str:
    v = results.get("versions", {})
    dry = " DRY RUN WITHOUT A GPU (--on-cpu): the 'gpu' figures are the CPU's;" if results.get("on_cpu_dry_run") else ""
    lines = [f"gradcheck GPU check ({results['started']}, {results['total_s']} s):{dry} {v.get('device_name')}; "
             f"python {v.get('python')}, jax {v.get('jax')}, jaxlib {v.get('jaxlib')}, "
             f"plugin {', '.join(v.get('cuda_plugin') or []) or '?'}, numpy {v.get('numpy')}, git {v.get('git')}"]
    for name in PARTS:
        part = results.get(name)
        if part is None:
            continue
        lines.append(f"\n[{name}] {'ok' if part['ok'] else 'FAILED'} ({part['seconds']} s)")
        if "error" in part:
            lines.append(f"  crashed: {part['error']}")
        for c in part.get("cases", []):
            where = f"jax on {c['devices']['jax']}" if c["devices"].get("jax") else "jax gave no result"
            lines.append(f"  {c['layer']} {c['kind']}: {'OK' if c['ok'] else 'FAILED'}, {where}, "
                         f"{c['seconds']} s, {len(c['stderr_lines'])} stderr line(s)"
                         + (f"\n    why: {c['why']}" if c.get("why") else "")
                         + "".join(f"\n    stderr: {line[:200]}" for line in c["stderr_lines"][:3]))
        if name == "sweep" and "rc" in part:
            lines.append(f"  {part['command']}: rc {part['rc']}, {part['configurations']} configurations, jax on "
                         f"{part['jax_devices']}, {part['stderr_lines']} stderr line(s); {part['last_line']}"
                         + "".join(f"\n    stderr: {line[:200]}" for line in part["stderr_head"][:3]))
        for r in part.get("layers", []):
            lines.append(f"  {r['row'] or r['layer'] + ': no row'}  [rc {r['rc']}, {r['seconds']} s, "
                         f"{r['stderr_lines']} stderr line(s)]" + ("" if r["rc"] == 0 else f"  {r['last_line']}"))
        for r in part.get("rows", []):
            cells = []
            for device in ("gpu", "cpu"):
                d = r.get(device)
                if isinstance(d, str) or d is None:
                    cells.append(f"{device}: {d}")
                elif "jax_cold_s" not in d:
                    cells.append(f"{device}: FAILED, {d.get('why')}")
                else:
                    cells.append(f"{device}: jax cold {d['jax_cold_s'] * 1e3:.0f} ms, warm {d['jax_warm_s'] * 1e3:.1f}"
                                 f" ms (jax on {d['jax_device'] or 'nothing: it failed'}), numpy {d['numpy_s'] * 1e3:.0f} ms"
                                 + ("" if d["ok"] else f", FAILED: {d.get('why')}"))
            lines.append(f"  {r['case']}: " + "; ".join(cells))
    bad = [n for n in PARTS if not results.get(n, {}).get("ok", True)]
    lines.append("\n" + ("OK: every part passed" if not bad else f"FAILED: {', '.join(bad)}"))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=100, help="drawn configurations per layer (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of verify (default 0)")
    parser.add_argument("--jobs", type=int, default=max(1, min(8, (os.cpu_count() or 2) // 2)),
                        help="verify processes at a time (default: half the cores, at most 8)")
    parser.add_argument("--budget", type=float, default=270.0, help="seconds for the whole run (default 270)")
    parser.add_argument("--verify-share", type=float, default=0.55,
                        help="share of the budget verify_all may use before its processes are stopped (0.55)")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "out", "gpu"),
                        help="folder for gpu.json and gpu.txt when $OUT is not set")
    parser.add_argument("--skip", default="", help=f"comma-separated parts to leave out ({','.join(PARTS[1:])})")
    parser.add_argument("--on-cpu", action="store_true",
                        help="run anyway without a GPU (to try the script itself; the 'gpu' column is then the CPU)")
    args = parser.parse_args(argv)
    devices = gpu_devices()
    if isinstance(devices, str) and not args.on_cpu:
        print(f"bench.gpu: skipped: {devices}")
        return 0
    start, t0 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), time.monotonic()
    skip = set(filter(None, args.skip.split(",")))
    results: dict = {"started": start, "argv": sys.argv[1:] if argv is None else list(argv),
                     "on_cpu_dry_run": isinstance(devices, str)}
    args.device = None if isinstance(devices, str) else "gpu"  # the dry run: JAX's default backend, the CPU
    run_part("versions", part_versions, results, args)
    if "transposed" not in skip:
        run_part("transposed", part_transposed, results, args)
    if "verify_all" not in skip:
        run_part("verify_all", part_verify_all, results, args, t0 + args.budget * args.verify_share)
    if "sweep" not in skip:
        run_part("sweep", part_sweep, results, args, t0 + args.budget * (args.verify_share + 0.15))
    if "vgg16" not in skip:
        run_part("vgg16", part_vgg16, results, args, t0 + args.budget)
    results["total_s"] = round(time.monotonic() - t0, 1)
    try:
        text = summary(results)
    except Exception as exc:  # noqa: BLE001 - the JSON still gets written
        text = f"bench.gpu: the summary failed ({type(exc).__name__}: {exc}); see gpu.json"
    out = os.environ.get("OUT") or args.out
    try:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "gpu.json"), "w") as f:
            json.dump(results, f, indent=1, default=str)
        with open(os.path.join(out, "gpu.txt"), "w") as f:
            f.write(text + "\n")
        text += f"\n(written: {os.path.join(out, 'gpu.json')}, gpu.txt)"
    except OSError as exc:
        text += f"\n(could not write to {out}: {exc})"
    print(text)
    return 0 if all(results.get(n, {}).get("ok", True) for n in PARTS) else 1


if __name__ == "__main__":
    sys.exit(main())
