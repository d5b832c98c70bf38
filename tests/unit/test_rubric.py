"""Rubric loading: the bundled rubric is valid, and a broken one is refused with file, place and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grader import load_rubric
from grader.errors import RubricError
from tests.conftest import RUBRIC


def test_bundled_rubric_is_valid_and_each_exercise_is_worth_25() -> None:
    rubric = load_rubric(RUBRIC)
    assert [ex.id for ex in rubric.exercises][:2] == ["ex1", "ex2"]
    assert all(ex.max_score == 25 for ex in rubric.exercises)
    assert rubric.reference_path.name == "autodiff04.py"
    assert len(rubric.sha256) == 64


def _broken(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(RUBRIC.read_text())
    change(data)
    data["reference"] = str(RUBRIC.parent / data["reference"])
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _set(path: list, value):  # type: ignore[no-untyped-def,type-arg]
    def change(data):  # type: ignore[no-untyped-def]
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(["exercises", 0, "checks", 0, "params", "atol"], "tight"),
         "exercises[0].checks[0].params.atol: expected a number, got 'tight'"),
        (_set(["exercises", 0, "checks", 1, "params", "points"], "six"),
         "exercises[0].checks[1].params.points: expected an integer, got 'six'"),
        (_set(["exercises", 1, "checks", 0, "kind"], "dual_rul"),
         "exercises[1].checks[0].kind: unknown check kind 'dual_rul' (did you mean 'dual_rule'?)"),
        (_set(["exercises", 0, "checks", 0, "pionts"], 3),
         "exercises[0].checks[0]: unknown field 'pionts' (did you mean 'points'?); the valid fields are id, kind, title, points, "
         "params, feedback, hints, hidden, review, contract"),
        (_set(["exercises", 0, "checks", 0, "params", "tol"], 1e-3),
         "exercises[0].checks[0].params: unknown field 'tol' (did you mean 'rtol'?); the valid fields are names, labels, rtol, atol"),
        (_set(["exercises", 1, "checks", 3, "params"], {"cases": 3}),
         "exercises[1].checks[3].params: unknown field 'cases'; the valid fields are class_name, reference_class, points, rtol, atol"),
        (_set(["exercises", 1, "checks", 0, "params", "function"], "tan"),
         "exercises[1].checks[0].params.function: expected one of 'sin', 'cos', got 'tan'"),
        (_set(["limits", "cell_timeout_s"], -1), "limits.cell_timeout_s: exclusiveMinimum is 0, got -1"),
        (lambda d: d["exercises"][0]["checks"][0].pop("points"), "exercises[0].checks[0]: missing required field 'points'"),
        (lambda d: d["exercises"][0]["checks"].append(dict(d["exercises"][0]["checks"][0])),
         "exercises[0].checks[3].id: duplicate check id 'values'"),
        # found when the rubric loads, not when a student's answer is judged
        (_set(["exercises", 3, "checks", 3, "params", "ideas", 1, "phrasings", 0], "\\btrad(e"),
         "exercises[3].checks[3].params.ideas[1].phrasings[0]: not a valid regular expression "
         "(missing ), unterminated subpattern at position 6): '\\\\btrad(e'"),
        # an answer's "(N, M)" reads "n m" to a phrasing: one that needs the parenthesis would never credit anyone
        (_set(["exercises", 3, "checks", 3, "params", "ideas", 1, "phrasings", 0], "\\(N, M\\)"),
         "exercises[3].checks[3].params.ideas[1].phrasings[0]: the whole phrasing can never match: answers are matched as their "
         "words, lower-cased and joined by single spaces, without punctuation (an answer's \"(N, M, D)\" reads \"n m d\"): "
         "'\\\\(N, M\\\\)'"),
        (_set(["exercises", 3, "checks", 3, "params", "topic", 0], "\\b(recomput\\S*|C\\+\\+)"),
         "exercises[3].checks[3].params.topic[0]: the alternative 'C++' can never match: answers are matched as their "
         "words, lower-cased and joined by single spaces, without punctuation (an answer's \"(N, M, D)\" reads \"n m d\"): "
         "'\\\\b(recomput\\\\S*|C\\\\+\\\\+)'"),
        (_set(["exercises", 0, "checks", 2, "params", "reference"], "autograd_backprob"),
         "exercises[0].checks[2].params.reference: the reference module autodiff04.py defines no 'autograd_backprob' "
         "(did you mean 'autograd_backprop'?)"),
        (_set(["exercises", 0, "checks", 0, "params", "names"], ["s", "why"]),
         "exercises[0].checks[0].params.names[1]: the reference module autodiff04.py defines no 'why'"),
        (_set(["exercises", 1, "checks", 0, "params", "reference_class"], "Dual"),
         "exercises[1].checks[0].params.reference_class: the reference module autodiff04.py defines no 'Dual'"),
        (_set(["exercises", 0, "answers"], ["s", "x.y.z"]),
         "exercises[0].answers[1]: must match ^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?$, got 'x.y.z'"),
    ],
)
def test_broken_rubric_names_file_place_and_field(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    path = _broken(tmp_path, change)
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    assert info.value.message == f"{path}: {message}"


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("assignment: x\nexercises: [\n")
    with pytest.raises(RubricError, match=r"bad.yaml:3:1: invalid YAML"):
        load_rubric(path)


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("assignment: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(RubricError, match="invalid YAML"):
        load_rubric(path)
    assert not Path("pwned").exists()


def test_missing_rubric_and_missing_reference(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="cannot read rubric"):
        load_rubric(tmp_path / "nope.yaml")
    path = _broken(tmp_path, lambda d: None)
    text = path.read_text().replace(str(RUBRIC.parent / "../reference/autodiff04.py"), "no_such.py")
    path.write_text(text)
    with pytest.raises(RubricError, match=r"reference: no such file 'no_such\.py'"):
        load_rubric(path)


def test_rubric_ex3_ex4_are_worth_25_each_and_the_written_answer_is_reviewed() -> None:
    rubric = load_rubric(RUBRIC)
    for exercise in ("ex3", "ex4"):
        assert sum(c.points for c in rubric.exercise(exercise).checks) == 25
    assert next(c for c in rubric.exercise("ex4").checks if c.id == "written_answer").review is True


def test_points_must_add_up_to_the_rubric_s_total(tmp_path: Path) -> None:
    path = _broken(tmp_path, _set(["exercises", 1, "checks", 0, "points"], 4))
    with pytest.raises(RubricError) as raised:
        load_rubric(path)
    assert str(raised.value) == (f"{path}: the checks' points add up to 97, not the rubric's total 100 (ex1: 25, ex2: 22, ex3: 25, ex4: 25); "
                                 "fix the points, or say 'total: 97' if that is meant")
    declared = _broken(tmp_path, lambda d: d.update(total=97) or d["exercises"][1]["checks"][0].update(points=4))
    assert load_rubric(declared).max_score == 97


def test_every_contract_quote_is_found_in_the_contract_or_the_closest_sentence_is_named(tmp_path: Path) -> None:
    def misquote(data):  # type: ignore[no-untyped-def]
        data["contract"] = str(RUBRIC.parent / data["contract"])
        data["exercises"][0]["checks"][1]["contract"] = ["`manual_backprop` must return the gradients as a list"]

    path = _broken(tmp_path, misquote)
    with pytest.raises(RubricError, match=r"ex1/forward_anywhere: contract: this quote is not in CONTRACT-04.md: "
                                          r"'`manual_backprop` must return the gradients as a list'; the closest sentence there is '"):
        load_rubric(path)
    kept = _broken(tmp_path, lambda d: d.update(contract=str(RUBRIC.parent / d["contract"])))
    assert load_rubric(kept).contract_path == (RUBRIC.parent / "CONTRACT-04.md").resolve()
