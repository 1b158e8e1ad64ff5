"""``gradcheck prove``: the backward identities of a layer, proved for every shape.

    gradcheck prove conv2d [--claim textbook|no_rotation|no_stride_dilation] [--format md|html|tex|all]
                           [--out DIR] [--seed S] [--instances N]        (max_pool2d also [--ties first|split])
    gradcheck prove --all --out reports/proofs        every provable layer (max_pool2d with both tie rules), and the
                                                      two classic mistakes on conv2d

Without --out it prints the proof's steps, each marked checked or NOT PROVED (with --format, the whole document in that
format). Exit 0 only if every step is checked and the instantiation agrees (with --all: every layer's true form is
proved and each mistake fails at a named step). Wired into gradcheck/cli.py with ``add_parser`` and ``run``.
"""

from __future__ import annotations

from .. import _io

MISTAKES = (("conv2d", "no_rotation"), ("conv2d", "no_stride_dilation"))


def add_parser(subparsers):
    from . import CLAIMS, PROVABLE

    p = subparsers.add_parser(
        "prove", help="prove a layer's backward identities for every size, stride, padding, " "dilation and groups"
    )
    p.add_argument("layer", nargs="?", help=f"one of {', '.join(PROVABLE)}")
    p.add_argument("--all", action="store_true", help="every provable layer and the classic mistakes on conv2d")
    p.add_argument("--claim", default="textbook", help=f"the form to prove: {', '.join(CLAIMS)} (default textbook)")
    p.add_argument(
        "--format",
        help="md, html, tex, a comma-separated list or 'all' (with --out default md; "
        "without --out: print that format instead of the step list)",
    )
    p.add_argument("--out", help="write the proof there (file name: the layer, then the claim if not textbook)")
    p.add_argument("--ties", default="first", help="max_pool2d's tie rule: first (default, PyTorch) or split")
    p.add_argument("--seed", type=_io.seed, default=0, help="seed of the random instantiation (default 0)")
    p.add_argument("--instances", type=int, default=3, help="random configurations to instantiate on (default 3)")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..errors import ConfigError
    from ..report.cli import parse_formats
    from . import prove

    if args.all == bool(args.layer):
        raise ConfigError("give one layer name or --all")
    if args.all and args.claim != "textbook":
        raise ConfigError("--all proves the textbook forms (and shows the classic mistakes failing): drop --claim")
    if args.all and args.ties != "first":
        raise ConfigError("--all proves both of max_pool2d's tie rules: drop --ties")
    jobs = ([(args.layer, args.claim, args.ties)] if args.layer else
            [(n, "textbook", "first") for n in _provable()] + [("max_pool2d", "textbook", "split")]
            + [(n, c, "first") for n, c in MISTAKES])
    formats = parse_formats(args.format, ("md",) if args.out else ())
    if args.out:
        _io.folder(args.out)
    ok = True
    for name, claim, ties in jobs:
        p = prove(name, claim, seed=args.seed, instances=args.instances, ties=ties)
        # --all: the true forms must be proved and each classic mistake must fail at a named step
        expected = p.ok if (claim == "textbook" or not args.all) else (not p.proved and p.failed_step is not None)
        ok = ok and expected
        if args.out:
            for path in p.write(args.out, formats):
                print(path)
            print(p.verdict() if claim == "textbook" else f"{name} --claim {claim}: {p.verdict()}")
        elif formats:
            for f in formats:
                print(getattr(p, {"md": "markdown", "html": "html", "tex": "tex"}[f])())
        else:
            print(p.summary())
    return 0 if ok else 1


def _provable():
    from . import PROVABLE

    return PROVABLE
