"""The ``gradcheck`` command.

    gradcheck list
    gradcheck verify conv2d [--stride S] [--padding P] [--dilation D] [--groups G] [--any-layer-param V] [--extensions]
                            [--examples N] [--seed S] [--kind integer|rational|float] [--oracles sympy,numpy,jax]
    gradcheck verify --all [--examples N]
    gradcheck verify conv2d --projected [--trials K] [--max-side 64 --max-channels 32 ...] [--kind float]
    gradcheck sweep conv2d --max-side 5 [--jobs J] [--results FILE] [--backward module:function]
                           [--timeout S] [--stride 2 --padding 0 --padding 1] [--where module:function]
                           [--scheduler local|tcp://HOST:8786]
    gradcheck report conv2d [--stride 2 --padding 1] [--size small|WxH] [--format md|html|tex] [--out DIR]
    gradcheck grade CASES.toml [--answers STUDENT.toml] [--json | --format gradescope] [--expected]
    gradcheck exercise new conv2d [--stride 2 ...] [--seed S]
    gradcheck prove conv2d [--claim no_rotation] [--format md|html|tex] [--out DIR]

``report`` lives in ``gradcheck/report/cli.py``, ``grade`` and ``exercise`` in ``gradcheck/grading/cli.py``:
each adds its subparser and sets ``run``. ``verify`` draws configurations with Hypothesis (layer parameters given as ``--name value`` are held), runs
the oracles on each, prints a summary, and exits 0 only if they all agree; on a disagreement it prints
the minimal counterexample Hypothesis shrank it to. Bad arguments give a one-line error and exit 2.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter

from hypothesis.errors import InvalidArgument

from . import _io
from . import oracles as oracle_registry
from .errors import ConfigError, GradcheckError
from .grading import cli as grading_cli
from .layers import REGISTRY, layers
from .layers.schema import command_args, flag
from .number_text import NotANumber, parse_number
from .prove import cli as prove_cli
from .report import cli as report_cli
from .strategies import configs
from .verify import choose_oracles, resolve_device, verify



class _Parser(argparse.ArgumentParser):
    """One-line errors; no abbreviated options (``--ex`` must not silently mean ``--examples``, and an unknown
    ``--name`` is a layer parameter, see ``_split_held``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):  # one line, exit 2 (argparse would print the whole usage first)
        raise SystemExit(_fail(f"{message} (see '{self.prog} --help')"))  # prog: 'gradcheck' or 'gradcheck verify'


def _fail(message: str) -> int:
    print(f"gradcheck: error: {message}", file=sys.stderr)
    return 2


def _param_value(text: str):
    """'2' -> 2, '2,1' -> (2, 1), '1e-5' -> 1e-05, 'true' -> True, 'same' -> 'same'; never eval."""
    parts = [p.strip() for p in text.split(",")]
    if all(p.lstrip("-").isdigit() for p in parts):
        values = tuple(int(p) for p in parts)
        return values[0] if len(values) == 1 else values
    if len(parts) == 1 and parts[0].lower() in ("true", "false"):
        return parts[0].lower() == "true"
    if len(parts) == 1 and parts[0].replace("_", "").isalpha():
        return parts[0]
    try:  # the case files' number parser (a decimal or a fraction, exactly), then a float as the layers take it
        return float(parse_number(text))
    except NotANumber:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an int, a comma-separated list of ints, a number, true/false or a word") from None


TAKES_LAYER_PARAMS = ("verify", "exercise", "report", "sweep")
PARAM_DEST = "layer parameter "  # argparse dest prefix of the flags a layer's schema adds


def _named_layer(argv: list[str]) -> tuple[str | None, str | None]:
    """(subcommand, the registered layer it names) when the command line names one, else (command, None)."""
    command = next((t for t in argv if not t.startswith("-")), None)
    if command not in TAKES_LAYER_PARAMS:
        return command, None
    return command, next((t for t in argv[argv.index(command) + 1:] if t in REGISTRY), None)


def _add_layer_flags(subparser, command: str, name: str) -> None:
    """The layer's parameters, from its schema, as flags of ``gradcheck verify LAYER`` (and sweep, report, exercise):
    ``--help`` then lists each with its meaning, allowed values and default. A flag given several times holds the
    parameter to a set of allowed values; ``--kernel_size`` (the parameter's own spelling) is taken too."""
    schema = REGISTRY[name].schema
    what = ("held at the value given (given several times: one of those values), the others drawn"
            if command in ("verify", "sweep") else "the layer's configuration, the others at their defaults")
    group = subparser.add_argument_group(
        f"parameters of {name}", f"{what}; VALUE is an int, ints separated by commas (one per spatial axis), "
        "true/false or a word" if schema.names else "none")
    for (option, text), param in zip(schema.describe(getattr(REGISTRY[name], "spatial", 2)), schema):
        # nargs="?": a flag without its value reaches _schema_held, which says so in the words used for any
        # layer parameter, rather than argparse's "expected one argument"
        group.add_argument(option, dest=PARAM_DEST + param.name, action="append", type=_param_value, metavar="VALUE",
                           nargs="?", const=_NO_VALUE, help=text)


_NO_VALUE = object()  # a schema flag given without a value


def _schema_held(args) -> dict:
    """The layer parameters given as schema flags: one value, or a frozenset when a flag was given several times."""
    held = {}
    for dest, values in vars(args).items():
        if dest.startswith(PARAM_DEST) and values is not None:
            name = dest[len(PARAM_DEST):]
            if _NO_VALUE in values:
                raise argparse.ArgumentTypeError(f"layer parameter {flag(name)} needs a value")
            held[name] = values[0] if len(set(values)) == 1 else frozenset(values)
    return held


def _merge_held(first: dict, second: dict) -> dict:
    """Held parameters from both spellings (--kernel-size and --kernel_size): a key in both is the union of values."""
    merged = dict(first)
    for key, value in second.items():
        if key in merged and merged[key] != value:
            sets = [v if isinstance(v, frozenset) else frozenset([v]) for v in (merged[key], value)]
            value = sets[0] | sets[1]
        merged[key] = value
    return merged


def _split_held(parser, argv: list[str]) -> tuple[list[str], list[str]]:
    """(argv for argparse, layer-parameter tokens): every ``--name [VALUE]`` the subcommand does not know is
    taken out before argparse sees it, so that its VALUE cannot be taken for a positional argument
    (``verify --all --kernel-size 3`` would otherwise read 3 as the layer)."""
    command = next((t for t in argv if not t.startswith("-")), None)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if command not in TAKES_LAYER_PARAMS:
        return argv, []
    known = {o for a in sub.choices[command]._actions for o in a.option_strings}
    start = argv.index(command) + 1
    kept, held = argv[:start], []
    tokens = argv[start:]
    while tokens:
        token = tokens.pop(0)
        if token == "--":
            kept += [token] + tokens
            break
        if token.startswith("--") and token.split("=", 1)[0] not in known:
            held.append(token)
            if "=" not in token and tokens and not tokens[0].startswith("--"):
                held.append(tokens.pop(0))
        else:
            kept.append(token)
    return kept, held


def _held_params(extra: list[str]) -> dict:
    """Layer parameters from the tokens argparse did not know: --kernel-size 3 -> {'kernel_size': 3}.
    A parameter given several times is a set of allowed values: --padding 0 --padding 1 -> frozenset({0, 1})
    (while --dilation 2,1 stays one per-axis value)."""
    held = {}
    tokens = list(extra)
    while tokens:
        flag = tokens.pop(0)
        if not flag.startswith("--") or len(flag) < 3 or "=" in flag and not flag.split("=", 1)[1]:
            raise argparse.ArgumentTypeError(f"unexpected argument {flag!r}: layer parameters are given as --name VALUE")
        name, _, value = flag[2:].partition("=")
        if not value:
            if not tokens or tokens[0].startswith("--"):
                raise argparse.ArgumentTypeError(f"layer parameter --{name} needs a value")
            value = tokens.pop(0)
        try:
            parsed = _param_value(value)
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"argument --{name}: {exc}") from None
        key = name.replace("-", "_")
        if key in held:
            before = held[key]
            held[key] = (before if isinstance(before, frozenset) else frozenset([before])) | {parsed}
        else:
            held[key] = parsed
    return held


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gradcheck", description="Verify the gradients of CNN layers three ways: "
                     "SymPy-exact, NumPy textbook identities and JAX autodiff.")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"gradcheck {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the registered layers")
    v = sub.add_parser("verify", help="verify a layer's gradients on Hypothesis-drawn configurations")
    v.add_argument("layer", nargs="?", help=f"a registered layer ({', '.join(layers())})")
    v.add_argument("--all", action="store_true", help="verify every registered layer, one row each")
    v.epilog = ("Any layer parameter may be held as --name VALUE, e.g. --stride 2 --padding same --dilation 2,1 "
                "--groups 2; the others are drawn. VALUE is an int, ints separated by commas, a number, true/false "
                "or a word. 'gradcheck verify LAYER --help' lists the layer's parameters.")
    v.add_argument("--examples", type=int, default=100, help="configurations to draw (default 100)")
    v.add_argument("--seed", type=_io.seed, help="random seed (default: a fresh one, printed for reproduction)")
    v.add_argument("--kind", choices=("integer", "rational", "float"), default="integer",
                   help="data kind (default integer: exact comparison)")
    v.add_argument("--extensions", action="store_true",
                   help="also draw what torch.nn.functional does not allow (TensorFlow 'SAME' pooling, 'same' with a "
                        "stride, split max-pool ties); default: torch's domain only")
    v.add_argument("--oracles", default=None,
                   help=f"comma-separated, from {', '.join(oracle_registry.ORACLES)} (default sympy,numpy,jax)")
    v.add_argument("--projected", action="store_true",
                   help="the randomized exact check at any size (gc.verify_projected): the NumPy backward against "
                        "the layer's own forward, by random integer projections; bounds such as --max-side 224 "
                        "--max-channels 64 draw large layers")
    v.add_argument("--trials", type=int, help="--projected: random projections per configuration (default 8)")
    _device_argument(v)
    sw = sub.add_parser("sweep", help="verify EVERY configuration within bounds (bounded-exhaustive, parallel)")
    sw.add_argument("layer", help="a layer with a sweep space (conv1d, conv2d, ...)")
    sw.epilog = ("Layer parameters may be held as --name VALUE (--stride 2); given several times they are the "
                 "allowed values (--padding 0 --padding 1). Bounds are 1..64 (padding 0..64).")
    sw.add_argument("--max-side", type=int, default=5, help="largest spatial side (default 5)")
    sw.add_argument("--max-kernel", type=int, default=3, help="largest kernel side (default 3)")
    sw.add_argument("--max-stride", type=int, default=3, help="largest stride (default 3)")
    sw.add_argument("--max-dilation", type=int, default=2, help="largest dilation (default 2)")
    sw.add_argument("--max-padding", type=int, default=2, help="largest explicit padding (default 2)")
    sw.add_argument("--jobs", type=int, help="worker processes (default and at most: the cores)")
    sw.add_argument("--results", help="JSON-lines results file, resumed if it holds rows of this same check "
                                      "(default sweep-LAYER-KEY.jsonl)")
    sw.add_argument("--oracles", default=",".join(oracle_registry.DEFAULT_ORACLES),
                    help="comma-separated oracles (default sympy,numpy,jax)")
    sw.add_argument("--backward", help="sweep your own backward, given as module:function, against the oracles")
    sw.add_argument("--where", help="module:function(layer, shapes) -> bool: the configurations in scope")
    sw.add_argument("--timeout", type=float, default=300.0,
                    help="seconds one configuration may take before it is stopped and reported (default 300)")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")
    sw.add_argument("--scheduler", metavar="local|ADDRESS",
                    help="run the cases on a Dask distributed cluster: 'local' starts one in this process (--jobs "
                         "workers), an address such as tcp://10.0.0.5:8786 uses a running 'dask scheduler' and its "
                         "workers (needs the 'distributed' package: pip install 'gradcheck[dask]')")
    _device_argument(sw)
    sw.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML (a test case per "
                                                    "configuration) for CI test reports")
    grading_cli.add_parser(sub)
    report_cli.add_parser(sub)
    prove_cli.add_parser(sub)  # gradcheck prove LAYER: the backward identities for every shape (gradcheck/prove)
    return parser


def _device_argument(parser) -> None:
    from .oracles.jax_oracle import PLATFORMS
    parser.add_argument("--device", choices=PLATFORMS,
                        help="where the jax oracle computes (default: JAX's default backend); float64 where the "
                             "device has it, float32 on a TPU (then compared within float32's tolerance)")


def _cmd_sweep(args) -> int:
    from .sweep import Interrupted, cores, sweep

    oracles = [o for o in args.oracles.split(",") if o]
    for o in oracles:
        if o not in oracle_registry.ORACLES:
            return _fail(f"unknown oracle {o!r} in --oracles; oracles are {', '.join(oracle_registry.ORACLES)}")
    bounds = {k: getattr(args, k) for k in ("max_side", "max_kernel", "max_stride", "max_dilation", "max_padding")}
    available = cores()
    if args.scheduler not in (None, "local") and args.jobs is not None:
        return _fail(f"--jobs does not apply to --scheduler {args.scheduler}: that cluster's workers decide")
    jobs = available if args.jobs is None else args.jobs
    capped = f" (--jobs {jobs} capped at the {available} cores)" if jobs > available else ""
    runs_on = (f"{min(jobs, available)} job(s){capped}" if args.scheduler is None else
               f"a local Dask cluster of {min(jobs, available)} worker(s){capped}" if args.scheduler == "local" else
               f"Dask scheduler {args.scheduler}")
    if args.junit:
        _io.writable(args.junit)  # before the sweep: a bad path is found at once, not after hours
    try:
        outcome = sweep(args.layer, results=args.results, jobs=jobs, oracles=oracles, backward=args.backward,
                        held=args.held, where=args.where, timeout=args.timeout, progress=not args.no_progress,
                        device=args.device, scheduler=args.scheduler, **bounds)
    except Interrupted as stop:
        print(f"gradcheck: interrupted: {stop.done} of {stop.total} configurations done and kept in "
              f"{stop.results}; run the same command to resume", file=sys.stderr)
        return 130
    rows = outcome.rows
    if args.junit:
        from .junit import sweep_xml
        _io.write_atomic(args.junit, sweep_xml(args.layer, rows) + "\n")
    who = f"{args.backward} against {','.join(oracles)}" if args.backward else ",".join(oracles)
    limits = ", ".join(f"{k} {v}" for k, v in bounds.items())
    scope = "".join(f", {k}={v!r}" for k, v in args.held.items()) + (f", where {args.where}" if args.where else "")
    who += f" on {args.device}" if args.device else ""
    print(f"gradcheck sweep {args.layer}: {len(rows)} configurations ({limits}{scope}), {who}, "
          f"{runs_on}, timeout {args.timeout:g} s")
    print(f"results: {outcome.results} (key {outcome.key[:12]}; {outcome.earlier} from earlier runs, "
          f"{outcome.ran} run now in {outcome.seconds:.1f} s)")
    _sweep_table(rows)
    bad = [r for r in rows.values() if r["status"] != "ok"]
    for row in bad[:5]:
        print(f"\n{row['status'].upper()} {row['id']} (seed {row['seed']}):\n{row['verdict']}")
    if bad:
        counts = Counter(r["status"] for r in bad)
        what = {"failed": "disagree", "timeout": "ran past --timeout", "crashed": "killed their worker"}
        print("\n" + "; ".join(f"{status.upper()}: {n} of {len(rows)} configurations {what[status]}"
                               for status, n in sorted(counts.items())))
        return 1
    how = "exactly" if all(r["exact"] for r in rows.values()) else "within float tolerance"
    # every row here carries this check's key (the file is refused otherwise) and compared >= 2 results
    print(f"OK: all oracles agree {how} on all {len(rows)} configurations "
          f"({outcome.earlier} of them from earlier runs of this same check)")
    return 0


def _sweep_table(rows):
    """Agreement per parameter value: where failures cluster is where the bug is."""
    import re
    from collections import defaultdict

    groups = defaultdict(lambda: [0, 0])
    for row in rows.values():
        params = re.match(r".*?\((.*?);", row["id"]).group(1)
        for item in params.split(","):
            groups[item][0] += 1
            groups[item][1] += row["status"] == "ok"
    header = ("parameter", "configurations", "agree")
    table = [(k, str(n), str(ok)) for k, (n, ok) in sorted(groups.items())]
    table.append(("all", str(len(rows)), str(sum(r["status"] == "ok" for r in rows.values()))))
    widths = [max(len(r[i]) for r in table + [header]) for i in range(3)]
    for r in [header] + table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def _verify_layer(name, held, args, seed):
    """Draw configurations until one fails or args.examples pass. Returns (row, counterexample text)."""
    from hypothesis import HealthCheck, find, settings
    from hypothesis.errors import NoSuchExample

    from .projected import verify_projected
    from .strategies import examples

    oracles = args.oracles.split(",")
    stats = {"tried": 0, "failed": False, "seconds": Counter(), "devices": Counter(), "narrow": set(),
             "inexact": False, "rtol": {}}

    def check(example):
        if args.projected:  # the directions from the run's seed: a reported failure reproduces with --seed
            return verify_projected(example.layer, *example.inputs, grad_out=example.grad_out, trials=args.trials,
                                    seed=seed)
        return verify(example.layer, *example.inputs, grad_out=example.grad_out, oracles=oracles, device=args.device)

    def disagrees(example):
        verdict = check(example)
        if not stats["failed"]:
            stats["tried"] += 1
            stats["seconds"].update(verdict.seconds)
            if args.projected:
                stats["inexact"] |= not verdict.exact  # projected: exact or float, per verdict
            else:
                stats["devices"].update(verdict.devices.items())
                stats["narrow"].update(verdict.precisions)  # oracles that computed in float32 (no float64 there)
                for pair, rtol in verdict.tolerances.items():
                    stats["rtol"][pair] = max(rtol, stats["rtol"].get(pair, 0.0))
        stats["failed"] = stats["failed"] or not verdict.ok
        return not verdict.ok

    strategy = examples(name, kind=args.kind, extensions=args.extensions, **held)
    config = settings(max_examples=args.examples, database=None, deadline=None,
                      suppress_health_check=list(HealthCheck))
    start = time.perf_counter()
    try:
        minimal = find(strategy, disagrees, settings=config, random=random.Random(seed))
    except NoSuchExample:
        minimal = None
    elapsed = time.perf_counter() - start
    counter = None
    if minimal is not None:
        counter = f"minimal counterexample for {name}:\n{check(minimal)}\n{minimal!r}"
    per_oracle = ", ".join(f"{o} {s:.1f} s" for o, s in stats["seconds"].items())
    agree = stats["tried"] - (minimal is not None)
    if args.projected:
        compared = f"numpy backward · forward, {args.trials} projections"
        how = "float tol" if stats["inexact"] else "exact"
    else:
        compared = _oracles_with_devices(oracles, stats["devices"])
        how = _comparison(name, args.kind, oracles, stats["narrow"], stats["rtol"])
    row = (name, str(stats["tried"]), compared, how, f"{agree}/{stats['tried']}", f"{elapsed:.1f} s ({per_oracle})")
    return row, counter


def _oracles_with_devices(oracles, devices: Counter) -> str:
    """``sympy,numpy,jax``; where an oracle computed off the plain CPU, its devices with their counts, e.g.
    ``jax[gpu 98, cpu fallback 2]`` (one device: ``jax[gpu]``), as in the verdicts (Verdict.label)."""
    def label(o):
        used = {d: n for (name, d), n in devices.items() if name == o}
        if set(used) <= {"cpu"}:
            return o
        return f"{o}[{next(iter(used))}]" if len(used) == 1 else \
            f"{o}[{', '.join(f'{d} {n}' for d, n in sorted(used.items(), key=lambda kv: -kv[1]))}]"
    return ",".join(label(o) for o in oracles)


def _cmd_verify(args) -> int:
    if args.all == bool(args.layer):
        return _fail("give one layer name or --all")
    if args.layer and args.layer not in REGISTRY:
        return _fail(f"unknown layer {args.layer!r}; registered layers: {', '.join(layers())}")
    if args.examples < 1:
        return _fail(f"--examples {args.examples} is not allowed: it must be >= 1")
    if args.projected:
        failure = _projected_args(args)
        if failure:
            return _fail(failure)
    elif args.trials is not None:
        return _fail("--trials counts the random projections of --projected; add --projected or leave it out")
    args.oracles = args.oracles or ",".join(oracle_registry.DEFAULT_ORACLES)
    for o in args.oracles.split(","):
        if o not in oracle_registry.ORACLES:
            return _fail(f"unknown oracle {o!r} in --oracles; oracles are {', '.join(oracle_registry.ORACLES)}")
    # fewer than two different oracles compare nothing; a device JAX lacks, or one no oracle uses: ConfigError, exit 2
    resolve_device(args.device, choose_oracles(args.oracles))
    held = args.held
    names = layers() if args.all else [args.layer]
    if args.all and held:
        _held_by_every_layer(held, names)
    for name in names:  # held parameters are validated before anything runs, by the layer's own strategy
        try:                # (so that a required parameter such as a pool's kernel_size may be left to be drawn)
            configs(name, extensions=args.extensions, **held)  # a held frozenset: each allowed value
        except InvalidArgument as exc:
            return _fail(str(exc))
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    checked = (f"the NumPy backward against the forward by {args.trials} random projections" if args.projected
               else f"oracles {args.oracles}")
    print(f"gradcheck verify: {args.examples} drawn configurations per layer, {args.kind} data, "
          f"{checked}, seed {seed}" + (f", held {held}" if held else "")
          + (f", jax on {args.device}" if args.device else ""))
    rows, failures = [], []
    for name in names:
        row, counter = _verify_layer(name, held, args, seed)
        rows.append(row)
        if counter:
            failures.append(counter)
    header = ("layer", "configurations", "oracles", "comparison", "agree", "time")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for text in failures:
        print("\n" + text)
    if failures:
        print(f"\nFAILED: {len(failures)} layer(s) disagree (reproduce with --seed {seed})")
        return 1
    inexact = [row[0] for row in rows if row[3] != "exact"]
    if args.projected:
        how = "within float tolerance" if inexact else "exactly"
        print(f"OK: the NumPy backward agrees {how} with the forward in every projection of every configuration")
    elif not inexact:
        print("OK: every oracle agrees exactly on every configuration")
    elif len(inexact) == len(rows):
        print("OK: every oracle agrees within float tolerance on every configuration")
    else:
        print(f"OK: every oracle agrees on every configuration: exactly on {len(rows) - len(inexact)} layer(s), "
              f"within float tolerance where a float result is involved on {', '.join(inexact)}")
    return 0


def _projected_args(args) -> str | None:
    """What is wrong with a --projected command line, or None."""
    from .projected import multiaffine_layers

    if args.all:
        return ("--projected checks one layer at a time (those affine in each input: "
                f"{', '.join(multiaffine_layers())}); give one layer name")
    if args.layer not in multiaffine_layers():
        return (f"--projected cannot check {args.layer}: its forward is not affine in each input; it checks "
                f"{', '.join(multiaffine_layers())} (verify {args.layer} without --projected)")
    if args.oracles is not None or args.device is not None:
        flag = "--oracles" if args.oracles is not None else "--device"
        return f"{flag} does not apply to --projected, which compares the NumPy backward with the layer's forward"
    if args.trials is None:
        args.trials = 8
    if args.trials < 1:
        return f"--trials {args.trials} is not allowed: it must be >= 1"
    return None


def _held_by_every_layer(held: dict, names: list[str]) -> None:
    """``verify --all --kernel-size 3``: a held parameter that some layers lack is refused, naming them, rather
    than verifying only the layers that have it under an "--all" heading (a partial run must not read as all)."""
    for key in held:
        having = [n for n in names if key in REGISTRY[n].schema.names]
        if len(having) < len(names):
            hint = (f"only {', '.join(having)} {'has' if len(having) == 1 else 'have'} it; verify "
                    f"{'it' if len(having) == 1 else 'them'} by name, e.g. 'gradcheck verify {having[0]} "
                    f"{command_args({key: held[key]})}'" if having else "no registered layer has it")
            raise ConfigError(f"{flag(key)} is held with --all, but {len(names) - len(having)} of {len(names)} layers "
                              f"have no parameter {key!r}: {hint}")


def _comparison(name: str, kind: str, oracles, narrow=frozenset(), seen: dict | None = None) -> str:
    """'exact' when every oracle is held to == on this data (a rational rule, exact data, oracles exact there);
    'exact + float tol' when some pairs are (sympy = numpy) and some are not (fd, or jax on rationals).
    ``narrow``: oracles that computed in float32 (jax on a TPU), never exact.

    ``seen``: the largest rtol each pair of oracles was compared with in the verdicts of this run; then the
    label says what was done (float data: sympy = numpy exactly where gradcheck.dyadic applies), not what
    is expected from the layer's class."""
    if seen:
        exact = sum(1 for rtol in seen.values() if rtol == 0)
        return "exact" if exact == len(seen) else "exact + float tol" if exact else "float tol"
    layer = REGISTRY[name]
    # closed_on_integers may be a property of the drawn parameters (max pool's ties): then not always exact
    closed = layer.closed_on_integers is True
    exact = [o for o in oracles if kind != "float" and layer.exact and kind in oracle_registry.ORACLES[o].exact_on
             and (o != "jax" or closed) and o not in narrow]
    return "exact" if len(exact) == len(oracles) else "exact + float tol" if len(exact) >= 2 else "float tol"


def main(argv=None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `gradcheck list | head`: the reader left; no traceback for that
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:  # Ctrl-C: one line, no traceback (a sweep says what it kept)
        print("gradcheck: interrupted", file=sys.stderr)
        return 130


def _main(argv) -> int:
    parser = _build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    command, named = _named_layer(argv)
    if named is not None:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        _add_layer_flags(sub.choices[command], command, named)
    try:
        argv, extra = _split_held(parser, argv)
        args, rest = parser.parse_known_args(argv)
        if rest and args.command not in TAKES_LAYER_PARAMS:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        args.held = (_merge_held(_schema_held(args), _held_params(rest + extra))
                     if args.command in TAKES_LAYER_PARAMS else {})
    except SystemExit as exit_:  # --help, or a usage error already printed as one line
        return int(exit_.code or 0)
    except argparse.ArgumentTypeError as exc:
        return _fail(str(exc))
    try:
        if hasattr(args, "run"):  # subcommands that bring their own module (grading, ...)
            return args.run(args)
        if args.command == "sweep":
            return _cmd_sweep(args)
        if args.command == "list":
            width = max(map(len, layers()))
            for name in layers():
                layer_cls = REGISTRY[name]
                about = " ".join((layer_cls.__doc__ or "").split())  # the docstring on one line
                print(f"{name:{width}s}  inputs ({', '.join(layer_cls.inputs)})  {about}")
                print(f"{'':{width}s}  parameters: {layer_cls.schema.summary()}")
            return 0
        return _cmd_verify(args)
    except GradcheckError as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    raise SystemExit(main())
