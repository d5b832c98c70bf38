"""A rubric's feedback may map how a check failed to a sentence: validated at load, chosen at scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from grader import load_rubric
from grader.errors import RubricError
from grader.results import Failure, Verdict
from grader.rubric import CheckSpec
from grader.scoring import check_result
from tests.conftest import RUBRIC

SENTENCES = {"wrong_shape": "Return one loss per step: a 1-d tensor.", "wrong_values": "Each loss is the mean squared residual.",
             "default": "Read the contract of fit_linear again."}


def _rubric_with_feedback(tmp_path: Path, feedback: Any) -> Path:
    data = yaml.safe_load(RUBRIC.read_text())
    data["exercises"][0]["checks"][0]["feedback"] = feedback
    data["reference"] = str(RUBRIC.parent / data["reference"])
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_feedback_map_loads_and_a_typo_names_the_valid_failures(tmp_path: Path) -> None:
    spec = load_rubric(_rubric_with_feedback(tmp_path, SENTENCES)).exercises[0].checks[0]
    assert spec.feedback == SENTENCES
    with pytest.raises(RubricError) as error:
        load_rubric(_rubric_with_feedback(tmp_path, {"wrong_shpe": "a sentence"}))
    assert "exercises[0].checks[0].feedback.wrong_shpe: not a way a check fails (did you mean 'wrong_shape'?); use raised, " \
           "wrong_type, wrong_shape, wrong_dtype, wrong_values, not_attached, in_place, looped, forbidden_call, missing_call, default" \
           in str(error.value)
    with pytest.raises(RubricError, match=r"feedback"):
        load_rubric(_rubric_with_feedback(tmp_path, {"wrong_shape": 3}))


@pytest.mark.parametrize(
    ("verdict", "shown"),
    [
        (Verdict.failed("the result has shape (3,), expected (4,)").because(Failure.WRONG_SHAPE), SENTENCES["wrong_shape"]),
        (Verdict.partial(0.5, "the result differs at 2 of 4 entries").because(Failure.WRONG_VALUES), SENTENCES["wrong_values"]),
        (Verdict.error("it raised ValueError").because(Failure.RAISED), SENTENCES["default"]),
        (Verdict.failed("untagged"), SENTENCES["default"]),
    ],
)
def test_scoring_shows_the_sentence_for_how_the_check_failed(verdict: Verdict, shown: str) -> None:
    result = check_result(CheckSpec("c", "call_vs_reference", "t", 2.0, {}, feedback=SENTENCES), verdict)
    assert result.message == f"{verdict.message}. {shown}"
    others = [sentence for sentence in SENTENCES.values() if sentence != shown]
    assert not any(sentence in result.message for sentence in others)


def test_the_result_says_how_the_check_failed_and_keeps_it_through_json() -> None:
    from grader.results import ExerciseResult, SubmissionResult

    spec = CheckSpec("c", "call_vs_reference", "t", 2.0, {}, feedback=SENTENCES)
    failed = check_result(spec, Verdict.failed("shape (3,)").because(Failure.WRONG_SHAPE))
    passed = check_result(spec, Verdict.passed("fine"))
    assert (failed.failure, passed.failure) == (Failure.WRONG_SHAPE, None)
    result = SubmissionResult("s.ipynb", "s", "a", "graded", 2.0, 4.0, (ExerciseResult("ex1", "t", 2.0, 4.0, (failed, passed)),), (), 1.0)
    data = result.as_dict()
    assert [c["failure"] for c in data["exercises"][0]["checks"]] == ["wrong_shape", None]  # in the JSON report and results.jsonl
    assert SubmissionResult.from_dict(data) == result


def test_without_a_default_an_unmapped_failure_adds_nothing_and_a_pass_never_does() -> None:
    spec = CheckSpec("c", "call_vs_reference", "t", 2.0, {}, feedback={"wrong_shape": "Mind the shape."})
    assert check_result(spec, Verdict.failed("wrong values").because(Failure.WRONG_VALUES)).message == "wrong values"
    assert check_result(spec, Verdict.passed("fine")).message == "fine"
    single = CheckSpec("c", "call_vs_reference", "t", 2.0, {}, feedback="Always this.")
    assert check_result(single, Verdict.failed("wrong").because(Failure.WRONG_VALUES)).message == "wrong. Always this."


def test_the_student_kit_carries_the_feedback_map(tmp_path: Path) -> None:
    from grader.kit.build import kit_rubric

    path = _rubric_with_feedback(tmp_path, SENTENCES)
    data, _ = kit_rubric(yaml.safe_load(path.read_text()), load_rubric(path))
    assert data["exercises"][0]["checks"][0]["feedback"] == SENTENCES
