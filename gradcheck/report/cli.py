"""``gradcheck report``: derivation reports from the command line.

    gradcheck report conv2d [--stride 2 --padding 1 ...] [--size small|WxH] [--seed S] [--format md|html|tex|all]
                     [--out DIR]
    gradcheck report CASES.toml [--format ...] [--out DIR]        one report per single-layer exercise
    gradcheck report --all [--cases DIR] [--out reports]          every registered layer, the families' extra
                                                                   examples and every case file: what reports/ holds

Wired into ``gradcheck/cli.py`` with ``add_parser(subparsers)`` and ``run(args)``; layer parameters arrive
as ``args.held`` (parsed there from ``--name VALUE``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import _io
from ..layers.schema import command_args

ALL_FORMATS = ("md", "html", "tex")


def add_parser(subparsers):
    r = subparsers.add_parser("report", help="write a lecture-style derivation of a layer's backward pass")
    r.add_argument("target", nargs="?", help="a registered layer, or a case file CASES.toml")
    r.add_argument("--all", action="store_true",
                   help="every registered layer at its default small configuration, the extra examples and "
                        "every case file in --cases (what reports/ holds)")
    r.add_argument("--size", default="small", help="'small' (default) or the input's spatial size: W or WxH")
    r.add_argument("--seed", type=_io.seed, default=0, help="seed of the small integer data (default 0)")
    r.add_argument("--format", help="md, html, tex, a comma-separated list or 'all' "
                                    "(default html; with --all: all)")
    r.add_argument("--out", default=".", help="output directory (default: the current one)")
    r.add_argument("--cases", default="cases", help="with --all: directory of case files (default cases/)")
    r.epilog = "Layer parameters are given as --name VALUE, e.g. --stride 2 --padding 1 --dilation 2,1."
    r.set_defaults(run=run)
    return r


def parse_formats(text, default):
    from ..errors import ConfigError

    if text is None:
        return default
    formats = ALL_FORMATS if text == "all" else tuple(f.strip() for f in text.split(",") if f.strip())
    if not formats or any(f not in ALL_FORMATS for f in formats):  # "" would write nothing and say OK
        raise ConfigError(f"--format {text!r} is not allowed: formats are md, html, tex, a comma-separated list "
                          "of them, or 'all'")
    return tuple(dict.fromkeys(formats))


def _case_reports(path: Path, out: Path, formats, command_path=None):
    """One report per single-layer exercise with data; the others are listed as skipped, with the reason.

    The case file is read by grading's reader (``load_cases``): the one place case files are validated, so a
    report sees exactly the exercises ``gradcheck grade`` accepts (ids safe as file names, bounded numbers)."""
    from . import report
    from ..errors import GradcheckError
    from ..grading.casefile import load_cases

    written, skipped = [], []
    for ex in load_cases(path):
        if ex.chain.network:
            skipped.append((ex.id, "chains several layers"))
            continue
        lay = ex.chain.stages[0].layer
        inputs = [_integer_data(ex.data.get(name)) for name in lay.inputs]
        while inputs and inputs[-1] is None:
            inputs.pop()
        if not inputs or inputs[0] is None:
            skipped.append((ex.id, "gives no input data"))
            continue
        try:
            r = report(lay, *inputs, grad_out=_integer_data(ex.data.get("grad_out")), name=ex.id,
                       command=f"gradcheck report {command_path or path}")
        except GradcheckError as exc:  # e.g. data too large to write out: report the others
            skipped.append((ex.id, f"cannot be reported: {exc}"))
            continue
        written += r.write(out, formats)
    for ex_id, reason in skipped:
        print(f"skipped exercise {ex_id!r} of {Path(path).name}: it {reason}")
    return written


def _integer_data(a):
    """Grading keeps numbers as an object array of ints and Fractions; all-integer data becomes int64, so the
    report says "integer data" (and prints it) as for data given in Python."""
    if a is None or not all(isinstance(v, int) for v in a.ravel()):
        return a
    return a.astype(np.int64)


def _all(args, formats):
    from . import FAMILIES, report
    from ..layers import layers

    out = Path(args.out)
    written = []
    for name in layers():
        written += report(name).write(out, formats)
    examples = []
    for family in dict.fromkeys(FAMILIES.values()):  # each family once
        examples += [e for e in family.examples if e[0] in layers() and e not in examples]
    for name, params, *data in examples:  # data: {"inputs", "grad_out", "name", "command"}
        given = data[0] if data else {}
        written += report(name, *given.get("inputs", ()), grad_out=given.get("grad_out"), name=given.get("name"),
                          command=given.get("command"), **params).write(out, formats)
    cases = Path(args.cases)
    for path in sorted(cases.glob("*.toml")) if cases.is_dir() else []:
        written += _case_reports(path, _io.safe_path(out, path.stem), formats, command_path=path.as_posix())
    return written


def run(args) -> int:
    from ..errors import ConfigError
    from . import report

    if args.all == bool(args.target):
        raise ConfigError("give one layer name, a case file, or --all")
    parse_formats(args.format, ())  # a bad --format or --out is refused before any report is built
    _io.folder(args.out)
    if args.all:
        written = _all(args, parse_formats(args.format, ALL_FORMATS))
    elif args.target.endswith(".toml") or Path(args.target).is_file():
        if args.held or args.size != "small":
            raise ConfigError("a case file gives its own parameters and data: drop --size and layer parameters")
        written = _case_reports(Path(args.target), Path(args.out), parse_formats(args.format, ("html",)))
    else:
        command = _command(args)
        written = report(args.target, size=args.size, seed=args.seed, command=command, **args.held).write(
            args.out, parse_formats(args.format, ("html",)))
    for path in written:
        print(path)
    return 0


def _command(args) -> str:
    held = command_args(args.held)
    parts = ["gradcheck report", args.target, held, f"--size {args.size}" if args.size != "small" else "",
             f"--seed {args.seed}" if args.seed else ""]
    return " ".join(p for p in parts if p)
