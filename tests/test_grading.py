"""Grading course exercises: the lecture cases, tolerances, named mistakes, networks, malformed files, CLI."""
import json
import random
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

import gradcheck as gc
from gradcheck import cli
from gradcheck.grading import CaseFileError, grade, load_answers, load_cases
from gradcheck.grading.exercise import _toml, exercise_toml
from gradcheck.grading.values import NotANumber, Tolerance, number
from gradcheck.mistakes import CATALOGUE
from gradcheck.strategies import examples

CASES = Path(__file__).resolve().parent.parent / "cases"


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def graded(text, answers=None, path="case.toml"):
    """{exercise id: {quantity: QuantityResult}} of a case file's text (and a student's answers text)."""
    student = load_answers("student.toml", answers) if answers is not None else None
    results = [grade(ex, None if student is None else student.get(ex.id, {}), "student.toml")
               for ex in load_cases(path, text)]
    return {r.id: {q.name: q for q in r.quantities} for r in results}


# -- the lecture cases -----------------------------------------------------------------------------------
def _registered(path):
    """Case files whose layers are all registered on this branch (the others wait for their branch)."""
    text = path.read_text()
    return all(name in gc.layers() for name in re.findall(r'layer\s*=\s*"([^"]+)"', text))


@pytest.mark.parametrize("path", sorted(CASES.glob("*.toml")), ids=lambda p: p.name)
def test_every_lecture_case_grades_as_its_file_expects(path):
    if not _registered(path):
        with pytest.raises(CaseFileError, match="unknown layer"):
            load_cases(path)
        pytest.skip(f"{path.name} needs layers from another branch")
    for ex in load_cases(path):
        for q in grade(ex).quantities:
            assert q.as_expected, (ex.id, q)


def test_the_lenet_c5_slip_is_flagged_with_the_right_count(capsys):
    code, out, _ = run(capsys, "grade", CASES / "param-counts.toml", "--json")
    doc = json.loads(out)
    c5 = next(e for e in doc["exercises"] if e["id"] == "lenet5-c5")
    assert c5["quantities"] == [{"name": "n_params", "correct": False, "mistake": None,
                                 "wrong_entries": [{"index": [], "expected": 48120, "given": 42120,
                                                    "tolerance": "exact"}]}]
    assert code == 1 and doc["score"] == doc["max_score"] - 1
    assert run(capsys, "grade", "--expected", CASES / "param-counts.toml")[0] == 0


def test_expected_mode_fails_when_a_slip_is_no_longer_flagged(tmp_path, capsys):
    text = (CASES / "param-counts.toml").read_text().replace("claimed = { n_params = 42_120 }",
                                                              "claimed = { n_params = 48_120 }")
    (tmp_path / "fixed.toml").write_text(text)
    code, out, _ = run(capsys, "grade", "--expected", tmp_path / "fixed.toml")
    assert code == 1 and "NOT met for lenet5-c5 n_params" in out


# -- numbers and tolerances ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, value", [("1/3", Fraction(1, 3)), (" -3/10 ", Fraction(-3, 10)), ("0.25", Fraction(1, 4)),
                                         ("7", 7), ("1e-2", Fraction(1, 100)), ("4/2", 2)])
def test_numbers_are_read_exactly_without_eval(text, value):
    assert number(text) == value


@pytest.mark.parametrize("text", ["1/0", "__import__('os')", "1/3/4", "one", "", "0x10", "nan", "1_000/3", True])
def test_non_numbers_are_refused(text):
    with pytest.raises(NotANumber):
        number(text)


CONV_CASE = """
[[exercise]]
id = "c"
layer = "conv2d"
given = { x = [[1, 0, -1], [1, 0, 1], [0, 1, 1]], w = [[-1, 2], [3, 1]], grad_out = [[-0.2, 0.2], [0.1, -0.1]] }
ask = ["grad_w", "grad_x"]
"""


@pytest.mark.parametrize("tolerance, answer, right", [
    ("", "[[-0.1, -0.3], [-0.3, 0.2]]", True),
    ("", "[[-0.1, -0.3], [-0.3, 0.2000001]]", False),                 # exact by default on rational data
    ('tolerance = { decimals = 1 }', "[[-0.1, -0.3], [-0.3, 0.24]]", True),
    ('tolerance = { decimals = 1 }', "[[-0.1, -0.3], [-0.3, 0.26]]", False),
    ('tolerance = { sigfigs = 2 }', "[[-0.1, -0.3], [-0.304, 0.2]]", True),
    ('tolerance = { sigfigs = 2 }', "[[-0.1, -0.3], [-0.306, 0.2]]", False),
    ('tolerance = { atol = 0.01 }', "[[-0.1, -0.3], [-0.309, 0.2]]", True),
    ('tolerance = { rtol = 0.01 }', "[[-0.1, -0.3], [-0.302, 0.2]]", True),
    ('tolerance = { rtol = 0.01 }', "[[-0.1, -0.3], [-0.304, 0.2]]", False),
    ('tolerance = { grad_w = { decimals = 1 } }', "[[-0.1, -0.3], [-0.3, 0.24]]", True),  # per quantity
    ('tolerance = { grad_x = { decimals = 1 } }', "[[-0.1, -0.3], [-0.3, 0.24]]", False),
    ("", '[["-1/10", "-3/10"], ["-3/10", "1/5"]]', True),
])
def test_tolerances_per_exercise_and_per_quantity(tolerance, answer, right):
    result = graded(CONV_CASE + tolerance, f"[c]\ngrad_w = {answer}")["c"]
    assert result["grad_w"].correct is right
    assert not result["grad_x"].correct and result["grad_x"].note == "not answered"


def test_decimals_boundary_is_half_a_unit_of_the_last_place():
    assert Tolerance("decimals", 2).close(np.array([Fraction(1, 200)], dtype=object), np.array([0]))[0]
    assert not Tolerance("decimals", 2).close(np.array([Fraction(1, 199)], dtype=object), np.array([0]))[0]


def test_a_wrong_entry_shows_expected_given_and_tolerance():
    q = graded(CONV_CASE + "tolerance = { decimals = 1 }",
               "[c]\ngrad_w = [[-0.1, -0.3], [-0.3, 0.3]]")["c"]["grad_w"]
    assert q.wrong_entries == [{"index": [1, 1], "expected": 0.2, "given": 0.3,
                                "tolerance": "1 decimals (±0.05)"}]


def test_answers_in_full_rank_or_2d_are_both_accepted():
    full = "[[[[-0.1, -0.3], [-0.3, 0.2]]]]"
    assert graded(CONV_CASE, f"[c]\ngrad_w = {full}")["c"]["grad_w"].correct
    q = graded(CONV_CASE, "[c]\ngrad_w = [-0.1, -0.3, -0.3, 0.2]")["c"]["grad_w"]
    assert not q.correct and "shape (4,)" in q.note


# -- every catalogued mistake is named ---------------------------------------------------------------
def _predictions(m, example):
    layer = example.layer
    arrays = dict(zip(layer.inputs, (np.asarray(a) for a in example.inputs)))
    correct = {"out": layer.numpy_forward(*arrays.values()), "out_shape": tuple(layer.output_shape(
        {n: a.shape for n, a in arrays.items()}))}
    correct.update({f"grad_{n}": g for n, g in zip(arrays, layer.numpy_backward(example.grad_out, *arrays.values()))
                    if g is not None and n in layer.differentiable})
    try:
        predictions = m.predict(layer, arrays, example.grad_out)
    except Exception:  # noqa: BLE001
        return correct, []
    return correct, predictions


def _differs(a, b):
    a, b = (np.asarray(v) for v in (a, b))
    return a.shape != b.shape or bool(np.any(a != b))


def _telling_example(mistake_id, layer_name):
    """The smallest example on which the mistake changes an answer and no other mistake gives the same."""
    m = CATALOGUE[mistake_id]
    others = [o for o in CATALOGUE.values() if o.id != m.id and layer_name in o.layers + ("*",)]

    def telling(example):
        correct, predictions = _predictions(m, example)
        for prediction in predictions:
            wrong = {q: v for q, v in prediction.items() if q in correct and _differs(v, correct[q])}
            if not wrong:
                continue
            rivals = [p for o in others if layer_name in o.layers or "*" in o.layers
                      for p in _predictions(o, example)[1]]
            asked = {q: v for q, v in prediction.items() if q in correct}
            if all(any(_differs(v, r.get(q, correct[q])) for q, v in asked.items()) for r in rivals):
                return True
        return False

    quiet = settings(database=None, max_examples=300, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    try:
        example = find(examples(layer_name), telling, settings=quiet, random=random.Random(0))
    except NoSuchExample:
        if "*" in m.layers:  # a mistake of any layer that cannot show on this one (no spatial axes, ...)
            pytest.skip(f"{mistake_id} cannot change an answer of {layer_name}")
        raise
    correct, predictions = _predictions(m, example)
    prediction = next(p for p in predictions if any(q in correct and _differs(v, correct[q]) for q, v in p.items()))
    return example, correct, prediction


def _mistake_layer_pairs():
    pairs = []
    for m in CATALOGUE.values():
        if m.kind == "update":
            continue
        names = gc.layers() if "*" in m.layers else [n for n in m.layers if n in gc.layers()]
        pairs += [pytest.param(m.id, n, id=f"{n}-{m.id}") for n in names]
    return pairs


@pytest.mark.parametrize("mistake_id, layer_name", _mistake_layer_pairs())
def test_a_student_answer_with_each_catalogued_mistake_is_named_in_json(mistake_id, layer_name, tmp_path, capsys):
    example, correct, prediction = _telling_example(mistake_id, layer_name)
    layer = example.layer
    inputs = dict(zip(layer.inputs, (np.asarray(a) for a in example.inputs)))
    asked = [q for q in correct if q in prediction] or list(prediction)
    case = exercise_toml("held-out", layer, inputs, example.grad_out, {}, ask=asked, single_channel=False)
    answers = "[held-out]\n" + "\n".join(f"{q} = {_toml(np.asarray(prediction[q]))}" for q in asked)
    (tmp_path / "case.toml").write_text(case)
    (tmp_path / "student.toml").write_text(answers)
    code, out, err = run(capsys, "grade", tmp_path / "case.toml", "--answers", tmp_path / "student.toml", "--json")
    assert code == 1, err
    quantities = json.loads(out)["exercises"][0]["quantities"]
    wrong = [q for q in quantities if not q["correct"]]
    assert wrong and all(q["mistake"] == mistake_id for q in wrong), (case, answers, quantities)


PENDING = ["ties_split", "overlap_overwritten", "avg_divisor_wrong", "output_padding_missing",
           "relu_mask_missing", "softmax_label_not_subtracted"]


@pytest.mark.parametrize("mistake_id", PENDING)
def test_mistakes_catalogued_on_other_branches_are_graded_once_merged(mistake_id):
    if mistake_id not in CATALOGUE:
        pytest.skip(f"{mistake_id} is catalogued on another branch")
    ids = {p.values[0] for p in _mistake_layer_pairs()}
    assert mistake_id in ids  # so the named-in-json test above runs for it


ISSUE_IDS = ["filter_not_rotated", "gradient_not_dilated", "padding_cropped_wrong_side", "convolution_not_correlation",
             "dilation_ignored", "batch_not_summed", "sgd_sign_flipped", "output_size_formula", "transposed_result"]


def test_the_issue_catalogue_ids_of_this_branch_exist():
    assert set(ISSUE_IDS) <= set(CATALOGUE)


# -- networks and the SGD step ------------------------------------------------------------------------
NETWORK = """
[[exercise]]
id = "two-convs"
network = [{ name = "c1", layer = "conv2d" }, { name = "c2", layer = "conv2d" }]
lr = 0.5
given.x = [[1, 0, -1, 2], [1, 0, 1, 0], [0, 1, 1, -1], [2, 0, 1, 1]]
given.c1 = { w = [[-1, 2], [3, 1]], b = [1] }
given.c2 = { w = [[1, -2], [0, 1]] }
given.grad_out = [[1, -1], [2, 0]]
ask = ["c1.out", "c2.out", "c2.grad_out", "c1.grad_out", "c1.grad_x", "c1.grad_w", "c1.grad_b", "c2.grad_w",
       "c1.updated_w", "c1.updated_b", "c2.updated_w", "n_params", "c1.out_shape"]
"""


def _network_truth():
    conv = gc.layer("conv2d")
    x = np.array([[1, 0, -1, 2], [1, 0, 1, 0], [0, 1, 1, -1], [2, 0, 1, 1]])
    w1, b1, w2 = np.array([[-1, 2], [3, 1]]), np.array([1]), np.array([[1, -2], [0, 1]])
    h = conv.forward(x, w1) + 1
    g2 = np.array([[1, -1], [2, 0]])
    gh, gw2 = conv.backward(g2, h, w2)
    gx, gw1 = conv.backward(gh, x, w1)
    return {"c1.out": h, "c2.out": conv.forward(h, w2), "c2.grad_out": g2, "c1.grad_out": gh, "c1.grad_x": gx,
            "c1.grad_w": gw1, "c1.grad_b": [gh.sum()], "c2.grad_w": gw2, "c1.updated_w": w1 - Fraction(1, 2) * gw1,
            "c1.updated_b": b1 - Fraction(1, 2) * gh.sum(), "c2.updated_w": w2 - Fraction(1, 2) * gw2,
            "n_params": 9, "c1.out_shape": [3, 3]}


def _answers(values, ident="two-convs"):
    return f"[{ident}]\n" + "\n".join(f'"{k}" = {_toml(np.asarray(v, dtype=object) if not isinstance(v, int) else v)}'
                                       for k, v in values.items())


def test_a_network_exercise_grades_every_intermediate_quantity():
    result = graded(NETWORK, _answers(_network_truth()))["two-convs"]
    assert all(q.correct for q in result.values()), [q for q in result.values() if not q.correct]


@pytest.mark.parametrize("mistake_id, step", [("sgd_sign_flipped", lambda w, g: w + Fraction(1, 2) * g),
                                               ("sgd_learning_rate_ignored", lambda w, g: w - g)])
def test_a_wrong_sgd_step_is_named(mistake_id, step):
    truth = _network_truth()
    w1, w2 = np.array([[-1, 2], [3, 1]]), np.array([[1, -2], [0, 1]])
    truth["c1.updated_w"] = step(w1, np.asarray(truth["c1.grad_w"]))
    truth["c2.updated_w"] = step(w2, np.asarray(truth["c2.grad_w"]))
    result = graded(NETWORK, _answers(truth))["two-convs"]
    wrong = {n: q.mistake for n, q in result.items() if not q.correct}
    assert wrong == {"c1.updated_w": mistake_id, "c2.updated_w": mistake_id}
    assert CATALOGUE[mistake_id].kind == "update"


def test_a_mistake_in_a_later_layer_is_traced_through_everything_it_spoils():
    """c2's dL/dX taken with the unrotated filter: c1's upstream gradient, its gradients and updates follow."""
    truth = _network_truth()
    conv = gc.layer("conv2d")
    h, w1, w2 = np.asarray(truth["c1.out"]), np.array([[-1, 2], [3, 1]]), np.array([[1, -2], [0, 1]])
    x = np.array([[1, 0, -1, 2], [1, 0, 1, 0], [0, 1, 1, -1], [2, 0, 1, 1]])
    gh, _ = conv.backward(np.array([[1, -1], [2, 0]]), h, w2[::-1, ::-1])
    gx, gw1 = conv.backward(gh, x, w1)
    student = {**truth, "c1.grad_out": gh, "c1.grad_x": gx, "c1.grad_w": gw1, "c1.grad_b": [gh.sum()],
               "c1.updated_w": w1 - Fraction(1, 2) * gw1, "c1.updated_b": np.array([1]) - Fraction(1, 2) * gh.sum()}
    result = graded(NETWORK, _answers(student))["two-convs"]
    wrong = {n: q.mistake for n, q in result.items() if not q.correct}
    # dL/db = ΣG is the same with either filter orientation: c1's bias answers stay right
    assert set(wrong) == {"c1.grad_out", "c1.grad_x", "c1.grad_w", "c1.updated_w"}
    assert set(wrong.values()) == {"filter_not_rotated"}


def test_network_layers_get_default_names_and_dotted_keys_nest():
    text = NETWORK.replace('{ name = "c1", layer = "conv2d" }, { name = "c2", layer = "conv2d" }',
                           '{ layer = "conv2d" }, { layer = "conv2d" }').replace("c1", "conv2d1").replace("c2", "conv2d2")
    truth = {k.replace("c1", "conv2d1").replace("c2", "conv2d2"): v for k, v in _network_truth().items()}
    result = graded(text, _answers(truth))["two-convs"]
    assert all(q.correct for q in result.values())


# -- malformed files: one error naming file, exercise and key ------------------------------------------
@pytest.mark.parametrize("text, where", [
    ("[[exercise]\nid = 'a'", "is not valid TOML"),
    ("title = 'no exercises'", "key 'exercise'"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv7d'\nclaimed.out = [1]", "exercise 'a', key 'layer': unknown layer 'conv7d'"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\nparams = { stride = 0 }\nshapes = { x = [3, 3], w = [2, 2] }\n"
     "claimed.out_shape = [2, 2]", "exercise 'a', key 'params': stride=0 is not allowed"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\ngiven = { x = [[1, 2], [3]], w = [[1]] }\nclaimed.out = [[1]]",
     "exercise 'a', key 'given.x': rows of different shapes"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\ngiven = { x = [[1, 2], [3, 4]], w = [[1, 1, 1]] }\nclaimed.out = [[1]]",
     "exercise 'a', key 'given': kernel size 3"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\ngiven = { x = [[1, 'x']], w = [[1]] }\nclaimed.out = [[1]]",
     "exercise 'a', key 'given.x': 'x' is not a number"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\ngiven = { x = [[1, 2]], w = [[1]] }\nclaimed.out = [[1, 'two']]",
     "exercise 'a', key 'claimed.out': 'two' is not a number"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\ngiven = { x = [[1, 2]], w = [[1]] }\nclaimed.grad_x = [[1, 2]]",
     "exercise 'a', key 'claimed.grad_x': cannot be computed: give grad_out"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\ngiven = { x = [[1, 2]], w = [[1]] }\nclaimed.grad_q = [[1, 2]]",
     "exercise 'a', key 'claimed.grad_q': 'grad_q' is not a quantity"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\ngiven = { x = [[1, 2]], z = [[1]] }\nclaimed.out = [[1, 2]]",
     "exercise 'a', key 'given.z': not an input"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\ngiven = { w = [[1]] }\nclaimed.out = [[1, 2]]",
     "exercise 'a', key 'given.x'"),
    ("[[exercise]]\nlayer = 'conv2d'", "exercise '#1', key 'id'"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\nshapes = { x = [3, 3], w = [2, 2] }", "key 'claimed': the exercise asks nothing"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\nshapes = { x = [3, 3], w = [2, 2] }\nclaimed.out_shape = [2, 2]\n"
     "tolerance = { decimals = -1 }", "key 'tolerance': decimals = -1"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\nshapes = { x = [3, 3], w = [2, 2] }\nclaimed.out_shape = [2, 2]\n"
     "expect = { out_shape = 'forgot_everything' }", "key 'expect.out_shape'"),
    ("[[exercise]]\nid = 'a'\nnetwork = [{ layer = 'conv2d' }, { layer = 'flatten_me' }]\nclaimed.n_params = 1",
     "key 'network[1].layer': unknown layer 'flatten_me'"),
    # grad_out is never reordered to fit: only leading axes of size 1 may be left out (a transposed grad_out
    # would otherwise give a wrong answer key in silence)
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\ngiven = { x = [[1, 2, 3, 4], [4, 5, 6, 7]], w = [[1, 1]], "
     "grad_out = [[1, 2], [3, 4], [5, 6]] }\nclaimed.grad_x = [[0, 0, 0, 0], [0, 0, 0, 0]]", "never reordered"),
    ("[[exercise]]\nid = 'a'\nnetwork = [{ layer = 'conv2d' }, { layer = 'relu' }]\n"
     "given.x = [[1, 2, 3], [4, 5, 6]]\ngiven.grad_out = [1, 2, 3, 4]\ngiven.conv2d = { w = [[1, 1]] }\n"
     "claimed.conv2d.grad_x = [[0, 0, 0], [0, 0, 0]]", "never reordered"),
    ("[[exercise]]\nid = 'a'\nlayer = 'conv2d'\nlr = -1\nshapes = { x = [3, 3], w = [2, 2] }\nclaimed.out_shape = [2, 2]",
     "key 'lr'"),
])
def test_malformed_files_give_one_error_naming_file_exercise_and_key(text, where, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out, err = run(capsys, "grade", path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"gradcheck: error: {path}") and where in err, err


def test_student_answers_that_are_malformed_name_the_answers_file(tmp_path, capsys):
    case = tmp_path / "case.toml"
    case.write_text(CONV_CASE)
    for text, where in [("[c]\ngrad_w = [[1, 'x']]", "exercise 'c', key 'grad_w': 'x' is not a number"),
                        ("[c]\ngrad_q = 1", "exercise 'c', key 'grad_q': this exercise does not ask for it"),
                        ("[nope]\ngrad_w = 1", "exercise 'nope': no such exercise"),
                        ("grad_w = 1", "answers are given per exercise")]:
        (tmp_path / "s.toml").write_text(text)
        code, _, err = run(capsys, "grade", case, "--answers", tmp_path / "s.toml")
        assert code == 2 and err.count("\n") == 1 and where in err and "s.toml" in err, err


VALID = "\n".join([(CASES / "conv-backward.toml").read_text()] + [
    "[[exercise]]" + (CASES / name).read_text().split("[[exercise]]", 1)[1] for name in ("param-counts.toml", "network.toml")])


def _dump(value) -> str:
    """A Python value as TOML inline text (the mutations below rebuild case files from parsed ones)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_dump(v)}' for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


LEAVES = st.one_of(st.integers(-3, 5), st.sampled_from([0, 10**12, -1, 2**63, 1.5, -0.0]),
                   st.sampled_from(["1/3", "1/0", "x", "same", "conv2d", "conv7d", "wrong", "filter_not_rotated", ""]),
                   st.lists(st.integers(-2, 4), max_size=4), st.just([]), st.just({}), st.booleans(),
                   st.lists(st.lists(st.integers(-2, 2), min_size=1, max_size=3), min_size=1, max_size=3))


@st.composite
def mutated_case_text(draw):
    """Random text; a valid case file with characters deleted, replaced or inserted anywhere; or a valid case
    file whose parsed tables had a value replaced or a key deleted (so that the text still parses)."""
    mode = draw(st.sampled_from(["random", "characters", "values"]))
    if mode == "random":
        return draw(st.text(max_size=200))
    rng = draw(st.randoms(use_true_random=False))
    if mode == "characters":
        text = VALID
        for _ in range(draw(st.integers(1, 4))):
            i = rng.randrange(len(text) + 1)
            edit = draw(st.sampled_from(["delete", "replace", "insert"]))
            char = draw(st.sampled_from(list("[]{}=\"'.,-/0123456789 \nabcxyz_#") + ["nan", "inf", "1/0", "true"]))
            text = text[:i] + ("" if edit == "delete" else char) + text[i + (edit != "insert"):]
        return text
    import tomllib
    exercises = tomllib.loads(VALID)["exercise"]
    for _ in range(draw(st.integers(1, 3))):
        table = rng.choice(exercises)
        path = [table]
        while isinstance(path[-1], (dict, list)) and path[-1] and rng.random() < 0.7:
            node = path[-1]
            path.append(node[rng.choice(list(node))] if isinstance(node, dict) else rng.choice(node))
        node = path[-2] if len(path) > 1 else table
        if isinstance(node, dict) and node:
            key = rng.choice(list(node))
            if rng.random() < 0.3:
                del node[key]
            else:
                node[key] = draw(LEAVES)
        elif isinstance(node, list) and node:
            node[rng.randrange(len(node))] = draw(LEAVES)
    return "\n".join("[[exercise]]\n" + "\n".join(f'"{k}" = {_dump(v)}' for k, v in ex.items()) for ex in exercises)


@settings(max_examples=150, deadline=None)
@given(mutated_case_text())
def test_random_and_mutated_case_files_never_raise_a_traceback(text):
    try:
        for ex in load_cases("fuzz.toml", text):
            grade(ex)
    except gc.GradcheckError as exc:
        assert str(exc).startswith("fuzz.toml")


# -- command line ----------------------------------------------------------------------------------
def test_grade_json_document_has_exactly_the_documented_shape(capsys):
    code, out, _ = run(capsys, "grade", CASES / "conv-backward.toml", "--json")
    doc = json.loads(out)
    assert code == 0 and set(doc) == {"exercises", "score", "max_score"} and doc["score"] == doc["max_score"] == 2
    assert [set(q) for q in doc["exercises"][0]["quantities"]] == [{"name", "correct", "wrong_entries", "mistake"}] * 2


def test_gradescope_gets_a_results_json_even_for_a_malformed_answer_file(tmp_path, capsys):
    (tmp_path / "s.toml").write_text("[conv-backward-3x3]\ngrad_w = [[1, 'x']]")
    code, _, err = run(capsys, "grade", CASES / "conv-backward.toml", "--answers", tmp_path / "s.toml",
                       "--format", "gradescope", "--output", tmp_path / "results.json")
    doc = json.loads((tmp_path / "results.json").read_text())
    assert code == 2 and doc["score"] == 0 and "'x' is not a number" in doc["output"] and doc["output"] in err


def test_gradescope_results_json(tmp_path, capsys):
    (tmp_path / "s.toml").write_text("[conv-backward-3x3]\ngrad_w = [[-0.1, -0.3], [-0.3, 0.2]]\n"
                                     "grad_x = [[-0.2, -0.4, 0.6], [-0.3, 0.8, -0.5], [0.2, -0.3, 0.1]]")
    code, _, _ = run(capsys, "grade", CASES / "conv-backward.toml", "--answers", tmp_path / "s.toml",
                     "--format", "gradescope", "--output", tmp_path / "results.json")
    doc = json.loads((tmp_path / "results.json").read_text())
    assert code == 1 and doc["score"] == 1
    right, wrong = doc["tests"]  # a test per quantity
    assert right["name"] == "conv-backward-3x3: grad_w" and right["score"] == 1 and right["status"] == "passed"
    assert wrong["name"] == "conv-backward-3x3: grad_x" and wrong["score"] == 0 and wrong["max_score"] == 1
    assert wrong["status"] == "failed" and "this is the mistake: filter_not_rotated" in wrong["output"]
    assert wrong["tags"] == ["filter_not_rotated"]


def test_text_report_names_entries_and_mistakes(tmp_path, capsys):
    (tmp_path / "s.toml").write_text("[conv-backward-3x3]\ngrad_w = [[-0.1, -0.3], [-0.3, 0.2]]\n"
                                     "grad_x = [[0.2, -0.6, 0.4], [-0.7, 0.7, 0.0], [0.3, -0.2, 0.1]]")
    code, out, _ = run(capsys, "grade", CASES / "conv-backward.toml", "--answers", tmp_path / "s.toml")
    assert code == 1
    assert "grad_x: WRONG (exact): 1 of 9 entries wrong" in out and "[2, 2]  expected -0.1  given 0.1" in out
    assert out.rstrip().endswith("score 1/2")


def test_exercise_new_writes_an_exercise_whose_answer_key_grades_right(tmp_path, capsys):
    code, out, _ = run(capsys, "exercise", "new", "conv2d", "--stride", "2", "--seed", "5")
    assert code == 0 and "stride = 2" in out
    (tmp_path / "new.toml").write_text(out)
    assert run(capsys, "grade", tmp_path / "new.toml")[0] == 0
    other = run(capsys, "exercise", "new", "conv2d", "--stride", "2", "--seed", "6")[1]
    assert other != out and "x = [[" in other
    (ex,) = load_cases(tmp_path / "new.toml")
    assert all(isinstance(v, int) and -3 <= v <= 3 for v in ex.data["x"].ravel())


@pytest.mark.parametrize("argv, message", [
    (["exercise", "new", "conv7d"], "unknown layer 'conv7d'"),
    (["exercise", "new", "conv2d", "--stride", "0"], "stride=0 is not allowed"),
    (["grade", "/nonexistent.toml"], "/nonexistent.toml: cannot be read"),
])
def test_bad_arguments_give_one_line_and_exit_2(argv, message, capsys):
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and message in err


# -- the lecture network: the grader's chain agrees with gc.sequential, and network mistakes are named ------
LECTURE = CASES / "network.toml"


def test_the_graders_chain_computes_what_gc_sequential_computes():
    (ex,) = load_cases(LECTURE)
    net = gc.sequential([s.layer for s in ex.chain.stages])
    inputs = [ex.data[k] for k in ("x", "conv.w", "conv.b", "fc1.w", "fc1.b", "fc2.w", "fc2.b", "ce.target")]
    names = [s.name for s in ex.chain.stages]
    for name, out in zip(names, net.trace(*inputs)):
        np.testing.assert_allclose(np.asarray(ex.expected[f"{name}.out"], float), np.asarray(out, float), rtol=1e-12)
    for name, step in zip(names, net.backward_trace(None, *inputs)):
        for q, v in step.items():
            np.testing.assert_allclose(np.asarray(ex.expected[f"{name}.{q}"], float).ravel(),
                                       np.asarray(v, float).ravel(), rtol=1e-12, atol=1e-15, err_msg=f"{name}.{q}")
    for chain_input, v in net.sgd_step(Fraction(1, 2), *inputs).items():
        k, p = chain_input.split(".")
        np.testing.assert_allclose(np.asarray(ex.expected[f"{names[int(k)]}.updated_{p}"], float).ravel(),
                                   np.asarray(v, float).ravel(), rtol=1e-12)


MASKED = """
[[exercise]]
id = "masked"
network = [{ name = "conv", layer = "conv2d" }, { name = "relu", layer = "relu" }, { name = "flatten", layer = "flatten" },
           { name = "fc", layer = "linear" }, { name = "ce", layer = "softmax_cross_entropy" }]
lr = 0.5
tolerance = { decimals = 4 }
ask = ["ce.grad_logits", "fc.grad_w", "relu.grad_out", "conv.grad_out", "conv.grad_w", "conv.updated_w"]
[exercise.given]
x = [[1, 0, -1], [0, 1, 0], [-1, 0, 1]]
conv = { w = [[1, -1], [-1, 1]], b = [0] }
fc = { w = [[0.1, 0.2, 0.3, 0.4], [0.5, 0.1, 0.4, 0.3]], b = [0, 0] }
ce.target = [[0, 1]]
"""


def _masked_network(mask=True, label=True):
    """The exercise above by hand: conv outputs [[2, -2], [-2, 2]] (ReLU keeps the diagonal)."""
    x = np.array([[1, 0, -1], [0, 1, 0], [-1, 0, 1]], float)
    w, fc_w = np.array([[1, -1], [-1, 1]], float), np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.1, 0.4, 0.3]])
    conv = np.array([[(x[i:i + 2, j:j + 2] * w).sum() for j in range(2)] for i in range(2)])
    a = np.maximum(conv, 0).ravel()
    z = fc_w @ a
    o = np.exp(z) / np.exp(z).sum()
    dz = o - np.array([0, 1]) if label else o
    da = (fc_w.T @ dz).reshape(2, 2)
    dconv = da * (conv > 0) if mask else da
    dw = np.array([[sum(dconv[i, j] * x[i + p, j + q] for i in range(2) for j in range(2)) for q in range(2)]
                   for p in range(2)])
    return {"ce.grad_logits": [dz], "fc.grad_w": np.outer(dz, a), "relu.grad_out": da, "conv.grad_out": dconv,
            "conv.grad_w": dw, "conv.updated_w": w - 0.5 * dw}


def _floats(values, ident):
    return f"[{ident}]\n" + "\n".join(f'"{k}" = {_toml(np.round(np.asarray(v, float), 6))}' for k, v in values.items())


@pytest.mark.parametrize("mistake_id, wrong, spoiled", [
    ("relu_mask_missing", {"mask": False}, {"conv.grad_out", "conv.grad_w", "conv.updated_w"}),
    ("softmax_label_not_subtracted", {"label": False}, {"ce.grad_logits", "fc.grad_w", "relu.grad_out",
                                                        "conv.grad_out", "conv.grad_w", "conv.updated_w"}),
])
def test_a_mistake_in_a_network_names_every_answer_it_spoils(mistake_id, wrong, spoiled):
    if mistake_id not in CATALOGUE:
        pytest.skip(f"{mistake_id} is catalogued on another branch")
    assert all(q.correct for q in graded(MASKED, _floats(_masked_network(), "masked"))["masked"].values())
    result = graded(MASKED, _floats(_masked_network(**wrong), "masked"))["masked"]
    assert {n: q.mistake for n, q in result.items() if not q.correct} == {n: mistake_id for n in spoiled}


def test_the_readme_grading_examples_grade_as_the_readme_says(tmp_path, capsys):
    text = (CASES.parent / "README.md").read_text().split("## Grading course exercises")[1].split("\n## ")[0]
    case, answers = re.findall(r"```toml\n(.*?)```", text, re.S)
    (tmp_path / "case.toml").write_text(case)
    (tmp_path / "student.toml").write_text("\n".join(line[2:] for line in answers.splitlines()))
    assert run(capsys, "grade", tmp_path / "case.toml")[0] == 1
    assert run(capsys, "grade", "--expected", tmp_path / "case.toml")[0] == 0
    code, out, _ = run(capsys, "grade", tmp_path / "case.toml", "--answers", tmp_path / "student.toml", "--json")
    first = json.loads(out)["exercises"][0]["quantities"]
    assert [(q["name"], q["correct"], q["mistake"]) for q in first] == [
        ("grad_w", True, None), ("grad_x", False, "filter_not_rotated")]


# -- untrusted files: graders run them on student uploads ---------------------------------------------------
RELU_CASE = "[[exercise]]\nid = 'r'\nlayer = 'relu'\ngiven.x = [1, -2]\nask = ['out']\n"


def _deep(depth, open_="[", close="]"):
    return open_ * depth + "1" + close * depth


HOSTILE = [  # (which file, its text, what the one-line error says)
    ("answers", "[r]\nout = 1e999999999", "1E+999999999 is out of range"),       # hung: 10^999999999 as a Fraction
    ("answers", "[r]\nout = 1e9999", "1E+9999 is out of range"),                 # traceback: a 10,000-digit message
    ("answers", "[r]\nout = 1e-99999", "1E-99999 is out of range"),
    ("answers", "[r]\nout = '1e9999'", "'1e9999' is out of range"),
    ("answers", "[r]\nout = ['1/1', 0e999999999]", None),                     # a right answer: the control row
    ("answers", "[r]\nout = 1" + "0" * 4400, "an integer has more than 4,300 digits"),
    ("answers", "[r]\nout = [1, 2" + "3" * 98 + "]", "an int of 99 digits is too large"),
    ("answers", "[r]\nout = 0." + "1" * 45, "has more than 40 significant digits"),
    ("answers", "[r]\nout = " + _deep(3000), "nests arrays or tables too deeply"),
    ("answers", "[r]\nout = " + _deep(3000, "{a = ", "}"), "nests arrays or tables too deeply"),
    ("answers", "[r]\nout = " + _deep(9), "lists nested more than 8 deep"),
    ("answers", "[r]\nout = [" + "1, " * 400_000 + "1]", "larger than 1,048,576 bytes"),
    ("answers", b"[r]\nout = [1, \xff]", "is not UTF-8"),
    ("answers", "[" + "r" * 5000 + "]\nout = 1", "no such exercise"),
    ("case", RELU_CASE + "tolerance = { decimals = 100000000 }", "decimals = 100000000: it must be an int from 0 to 40"),
    ("case", RELU_CASE + "tolerance = { sigfigs = 99999999999 }", "sigfigs = 99999999999: it must be an int from 1"),
    ("case", RELU_CASE + "tolerance = { atol = 1e999999999 }", "1E+999999999 is out of range"),
    ("case", RELU_CASE.replace("relu'", "upsample_nearest2d'\nparams = { scale_factor = 4096 }").replace(
        "[1, -2]", "[[1, -2]]"), "would output 33,554,432 entries"),                                          # not 270 MB of objects
    ("case", RELU_CASE.replace("'r'", "'../../x'"), "'../../x' is not allowed: every exercise needs an id of 1 to 64"),
    ("case", RELU_CASE.replace("'r'", "'" + "r" * 65 + "'"), "is not allowed: every exercise needs an id"),
]


@pytest.mark.parametrize("side, text, message", HOSTILE, ids=lambda v: v[:40] if isinstance(v, str) else None)
def test_hostile_files_are_one_line_exit_2_fast_and_gradescope_still_gets_results(side, text, message, tmp_path,
                                                                                    capsys):
    import time

    files = {"case": RELU_CASE, "answers": "[r]\nout = [1, 0]"}
    files[side] = text
    for name, content in files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    results = tmp_path / "results.json"
    start = time.perf_counter()
    code, out, err = run(capsys, "grade", tmp_path / "case", "--answers", tmp_path / "answers",
                         "--format", "gradescope", "--output", results)
    seconds = time.perf_counter() - start
    doc = json.loads(results.read_text())
    if message is None:
        assert code == 0 and doc["score"] == 1 and err == ""
        return
    assert code == 2 and err.count("\n") == 1 and len(err) < 400 and message in err, err[:400]
    assert doc == {"score": 0, "output": err.removeprefix("gradcheck: error: ").strip(), "visibility": "visible",
                   "tests": []}
    assert seconds < 5, f"{seconds:.1f} s"  # each took well under a second; 5 leaves room on a loaded machine


def test_gradescope_gets_results_even_when_grading_itself_fails(tmp_path, monkeypatch):
    from gradcheck.grading import cli as grading_cli

    def broken(*_):
        raise RuntimeError("a bug")

    monkeypatch.setattr(grading_cli, "grade", broken)
    with pytest.raises(RuntimeError):  # a bug keeps its traceback for the staff; the student still gets results
        cli.main(["grade", str(CASES / "conv-backward.toml"), "--format", "gradescope",
                  "--output", str(tmp_path / "results.json")])
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["score"] == 0 and doc["tests"] == [] and "internal error while grading (RuntimeError: a bug)" in doc["output"]


# -- given data promoted consistently; expected values printed at the tolerance's precision -----------------
MSE_NETWORK = """[[exercise]]
id = "p"
network = [{ name = "pool", layer = "avg_pool2d", params = { kernel_size = 2, stride = 2 } }, { name = "mse", layer = "mse" }]
given.x = [[1, 5, 3, 7], [7, 3, 9, 2], [3, 5, 8, 4], [8, 7, 3, 5]]
given.mse.target = TARGET
claimed.loss = 16.40625
"""


@pytest.mark.parametrize("case, right", [
    (MSE_NETWORK.replace("TARGET", "[[1, 1], [1, 1]]"), "loss"),                 # 2-D like x (was 4-D only)
    (MSE_NETWORK.replace("TARGET", "[[[[1, 1], [1, 1]]]]"), "loss"),             # full rank, as before
    ('[[exercise]]\nid = "p"\nlayer = "linear"\ngiven = { x = [1, 2], w = [3, 4], b = 1, grad_out = [1] }\n'
     "claimed = { out = [12], grad_w = [1, 2], grad_x = [3, 4] }", "grad_w"),   # one output: w and b 1-D, 0-D
    ('[[exercise]]\nid = "p"\nlayer = "conv2d"\ngiven = { x = [[[1, 2], [3, 4]]], w = [[[2]]] }\n'
     "claimed = { out = [[2, 4], [6, 8]] }", "out"),                             # (C, H, W): one sample
    ('[[exercise]]\nid = "p"\nnetwork = [{ name = "fc", layer = "linear" }, { name = "ce", layer = "softmax_cross_entropy" }]\n'
     'given = { x = [[1, 2]], fc.w = [[1, 0], [0, 1]], fc.b = [0, 0], ce.target = [0, 1] }\n'
     'claimed = { fc.out = [[1, 2]] }', "fc.out"),                                # a one-hot row of one sample
])
def test_every_given_array_may_leave_out_leading_axes_of_size_1(case, right):
    assert graded(case)["p"][right].correct


@pytest.mark.parametrize("target, message", [
    ("[[1], [1], [1], [1]]", "target has shape (4, 1): it must have the shape of pred, (1, 1, 2, 2)"),  # not reordered
    ("[1, 1, 1, 1]", "target has shape (4,)"),
])
def test_a_given_array_is_never_reordered_to_fit(target, message):
    with pytest.raises(CaseFileError, match=re.escape(message)):
        graded(MSE_NETWORK.replace("TARGET", target))


@pytest.mark.parametrize("tolerance, shown", [
    ("{ decimals = 4 }", "expected 0.67711  given 0.9"),     # was 13542144564853/20000000000000
    ("{ sigfigs = 2 }", "expected 0.677  given 0.9"),
    ("{ atol = 0.001 }", "expected 0.6771  given 0.9"),
    ("{}", "expected 0.67710722824265  given 0.9"),   # exact: the exact value, a terminating decimal in full
    ("{ rtol = 0 }", "expected 0.67710722824265  given 0.9"),
])
def test_expected_values_print_at_the_precision_the_tolerance_needs(tolerance, shown, tmp_path, capsys):
    (tmp_path / "c.toml").write_text(f'[[exercise]]\nid = "mse-loss"\nlayer = "mse"\ntolerance = {tolerance}\n'
                                     "given = { pred = [[0.1234567, 0.7654321]], target = [[1, 0]] }\n"
                                     "claimed = { loss = 0.9 }\n")
    code, out, _ = run(capsys, "grade", tmp_path / "c.toml")
    assert code == 1 and shown in out
