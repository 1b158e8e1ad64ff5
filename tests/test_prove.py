"""gradcheck.prove: every provable layer proved for every shape, the classic mistakes failing at a named step, the
engine refusing unsound rewrites, every step's formula equal to the oracle on an instance, the CLI, reports/proofs."""

import functools
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import gradcheck as gc
from gradcheck import cli
from gradcheck.prove import PROVABLE, Claim
from gradcheck.prove.cli import MISTAKES
from gradcheck.prove.engine import Domain, Rules, Term, Unguarded, divides, eq, evaluate, le, within
from gradcheck.prove.proof import _exact

PROOFS = Path(__file__).resolve().parent.parent / "reports" / "proofs"


@functools.lru_cache(maxsize=None)
def proof(name, claim="textbook", ties="first"):
    return gc.prove(name, claim, ties=ties)


@pytest.mark.parametrize("name, ties", [(n, "first") for n in PROVABLE] + [("max_pool2d", "split")])
def test_every_layer_is_proved_for_every_shape(name, ties):
    p = proof(name, ties=ties)
    assert p.proved and p.failed_step is None and p.steps and all(s.checked for s in p.steps)
    assert len(p.instances) == 3 and all(i.ok for i in p.instances), p.summary()
    assert p.ok and p.verdict().startswith("PROVED")


@pytest.mark.parametrize(
    "name, claim, step",
    [
        (
            "conv2d",
            "no_rotation",
            "dL/dX: full correlation of the dilated dL/dO with the rotated filter, cropped: " "reverse the filter",
        ),
        (
            "conv2d",
            "no_stride_dilation",
            "dL/dX: full correlation of the dilated dL/dO with the rotated filter, cropped: " "stride-dilate dL/dO",
        ),
        (
            "max_pool2d",
            "no_stride_dilation",
            "dL/dX: each G routed to its window's first maximum: the claimed textbook " "form",
        ),
    ],
)
def test_a_classic_mistake_fails_at_its_named_step(name, claim, step):
    p = proof(name, claim)
    assert not p.ok and not p.proved and p.failed_step == step
    assert "NOT PROVED" in p.summary() and f"not proved at step '{step}'" in p.verdict()
    # the wrong form also disagrees with the oracle on the first (stride >= 2, kernel >= 2) configuration
    assert not p.instances[0].ok
    failed = next(s for s in p.steps if not s.checked)
    assert failed.term is None and any(not c.checked for c in failed.conditions)


def test_a_claim_object_states_the_form():
    assert not gc.prove("conv1d", Claim("mine", flip_filter=False), instances=1).proved
    assert gc.prove.Claim is Claim and callable(gc.prove)


# -- the engine never assumes: each unsound rewrite is refused by a side condition -----------------------------------
k, u, z = sp.symbols("k u z", integer=True)
K = sp.Symbol("K", integer=True, positive=True)
s = sp.Symbol("s", integer=True, positive=True)
F = sp.IndexedBase("F")
DOMAIN = Domain([], {})
TERM = Term(((k, 0, K - 1),), (le(0, u - k),), (F[k],))


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda r: r.reindex(TERM, k, 2 * k),  # not a bijection of [0, K − 1]
        lambda r: r.reindex(TERM, k, K - k),  # a bijection onto [1, K]: the range moves
        lambda r: r.delta(Term(((k, 0, K - 1),), (eq(z * k, u),), (F[k],)), k),  # z may be 0
        lambda r: r.drop(TERM, 0),  # u − k ≥ 0 is not implied by the ranges
        lambda r: r.drop(Term(((k, 0, K - 1),), (divides(s, u + k),), (F[k],)), 0),  # s | u + k is not implied
        lambda r: r.split_equality(Term(((k, 0, K),), (eq(k, u),), ()), 0, ((0, 0), (k, u)), K),  # k may reach K
    ],
)
def test_the_engine_refuses_an_unsound_rewrite(rewrite):
    rules = Rules(DOMAIN, {u: (0, K - 1)})
    _, conditions = rewrite(rules)
    assert not all(c.checked for c in conditions)


def test_sound_rewrites_are_checked():
    rules = Rules(DOMAIN, {u: (0, K - 1)})
    assert all(c.checked for c in rules.reindex(TERM, k, K - 1 - k)[1])
    term, conds = rules.delta(Term(((k, 0, K - 1),), (eq(s * k, u),), (F[k],)), k)
    assert all(c.checked for c in conds) and term.brackets[0] == divides(s, u) and term.factors == (F[u / s],)
    assert all(c.checked for c in rules.drop(Term(((k, 0, K - 1),), within(k, 0, K - 1), ()), 0)[1])


@pytest.mark.parametrize("name, ties", [("conv1d", "first"), ("conv_transpose1d", "first"), ("avg_pool2d", "first"),
                                        ("max_pool2d", "first"), ("max_pool2d", "split")])
def test_every_step_of_a_derivation_equals_the_oracle_on_an_instance(name, ties):
    """Each rewrite the engine applies preserves the value: every intermediate formula of the layer's gradients, from
    the chain rule on, evaluated exactly on a fresh instance (seed 1), is the sympy oracle's gradient."""
    p = proof(name, ties=ties)
    ((config, inst, oracle),) = p.source.sample(1, 1)
    compared = 0
    for d in p.derivations:
        grid = np.meshgrid(*[np.arange(inst.number(lo), inst.number(hi) + 1) for _, lo, hi in d.free], indexing="ij")
        env = {v: g for (v, _, _), g in zip(d.free, grid)}
        start = next((n for n, st in enumerate(d.steps) if st.name == "chain rule"), len(d.steps))
        for st in d.steps[start:]:
            got = d.to_array(evaluate(st.term, env, inst))
            assert [_exact(v) for v in got.ravel()] == [_exact(v) for v in np.ravel(oracle[d.key])], (d.key, st.name)
            compared += 1
    assert compared >= 7  # every step from the chain rule on (the split max pool has 7)


def test_a_read_outside_an_array_is_an_error_not_a_zero():
    from gradcheck.prove.engine import Instance

    inst = Instance({K: 2}, {"F": np.array([1, 2], dtype=object)})
    with pytest.raises(Unguarded):
        evaluate(Term(((k, 0, K),), (), (F[k],)), {}, inst)  # k = 2 reads past F


# -- CLI -------------------------------------------------------------------------------------------------------------
def test_cli_prints_every_step_checked(capsys, tmp_path):
    assert cli.main(["prove", "conv1d", "--out", str(tmp_path), "--format", "md,html"]) == 0
    out = capsys.readouterr().out
    assert "PROVED: all" in out and (tmp_path / "conv1d.md").is_file() and (tmp_path / "conv1d.html").is_file()
    assert cli.main(["prove", "conv1d"]) == 0
    out = capsys.readouterr().out
    assert "[checked] reverse the filter" in out and "NOT PROVED" not in out


def test_cli_exits_1_naming_the_step_of_a_wrong_claim(capsys):
    assert cli.main(["prove", "conv1d", "--claim", "no_rotation", "--instances", "1"]) == 1
    assert "[NOT PROVED] reverse the filter" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["prove"], "give one layer name or --all"),
        (["prove", "conv9d"], "no proof for layer 'conv9d'"),
        (["prove", "conv1d", "--claim", "upside_down"], "claim='upside_down' is not allowed"),
        (["prove", "avg_pool2d", "--claim", "no_rotation"], "a pool has no filter to rotate"),
        (["prove", "--all", "--claim", "no_rotation"], "--all proves the textbook forms"),
        (["prove", "conv1d", "--format", "pdf"], "--format 'pdf' is not allowed"),
        (["prove", "conv1d", "--instances", "0"], "instances=0 is not allowed"),
    (["prove", "conv1d", "--seed", "-1"], "--seed"),
    (["prove", "conv1d", "--ties", "split"], "ties='split' is not allowed for conv1d"),
    (["prove", "max_pool2d", "--ties", "last"], "ties='last' is not allowed"),
    ],
)
def test_bad_arguments_one_line_exit_2(capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


# -- reports/proofs --------------------------------------------------------------------------------------------------
def test_committed_proofs_match_the_code():
    refresh = "refresh with: gradcheck prove --all --format all --out reports/proofs, then commit reports/proofs"
    stems = list(PROVABLE) + ["max_pool2d-ties_split"] + [f"{n}-{c}" for n, c in MISTAKES]
    expected = {f"{stem}.{ext}" for stem in stems for ext in ("md", "html", "tex")}
    assert {p.name for p in PROOFS.iterdir()} == expected, refresh
    for name, claim, ties in ([(n, "textbook", "first") for n in PROVABLE] + [("max_pool2d", "textbook", "split")]
                              + [(n, c, "first") for n, c in MISTAKES]):
        r = proof(name, claim, ties).report()
        # Markdown for all (the content); HTML and LaTeX, renderings of the same blocks, for one (cheaper)
        formats = (("md", r.markdown),) + ((("html", r.html), ("tex", r.tex)) if name == "conv1d" else ())
        for ext, render in formats:
            assert (
                PROOFS / f"{r.stem}.{ext}"
            ).read_text() == render(), f"reports/proofs/{r.stem}.{ext} is stale; {refresh}"


def test_tex_proof_is_ascii_and_compiles(tmp_path):
    import shutil
    import subprocess

    text = (PROOFS / "max_pool2d.tex").read_text()
    assert text.isascii(), "pdflatex's default fonts: no Greek or other Unicode text glyphs in the .tex"
    if shutil.which("pdflatex"):
        (tmp_path / "p.tex").write_text(text)
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "p.tex"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=180)
        assert run.returncode == 0, run.stdout[-2000:]


def test_html_proof_is_offline_mathml():
    page = (PROOFS / "conv1d.html").read_text()
    assert page.count("<math") > 50 and "<mo>[</mo>" in page  # the Iverson brackets, as MathML
    assert "$" not in page and "\\left" not in page and "<script" not in page
