"""Score stage: verdicts + rubric -> :class:`SubmissionResult`; instructor overrides."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from grader.errors import UsageError
from grader.results import CheckResult, ExerciseResult, Outcome, Override, SubmissionResult, Verdict
from grader.rubric import CheckSpec, ExerciseSpec, parse_yaml_text


def check_result(spec: CheckSpec, verdict: Verdict) -> CheckResult:
    """One check's points from its verdict; the rubric's feedback for how it failed is added to any failure."""
    message = verdict.message
    feedback = spec.feedback_for(verdict.failure.value if verdict.failure else None) if verdict.outcome is not Outcome.PASSED else ""
    if feedback:
        message = f"{message}. {feedback}" if message else feedback
    return CheckResult(
        id=spec.id,
        title=spec.title,
        outcome=verdict.outcome,
        score=round(spec.points * verdict.fraction, 2),
        max_score=spec.points,
        message=message,
        hints=spec.hints if verdict.outcome is not Outcome.PASSED else (),
        review=spec.review,
        hidden=spec.hidden,
        blame=verdict.blame,
        shown=verdict.shown,
        failure=verdict.failure if verdict.outcome is not Outcome.PASSED else None,
    )


def exercise_result(spec: ExerciseSpec, checks: list[CheckResult]) -> ExerciseResult:
    return ExerciseResult(
        id=spec.id,
        title=spec.title,
        score=round(sum(c.score for c in checks), 2),
        max_score=sum(c.max_score for c in checks),
        checks=tuple(checks),
    )


def total(exercises: tuple[ExerciseResult, ...]) -> tuple[float, float]:
    return round(sum(e.score for e in exercises), 2), sum(e.max_score for e in exercises)


def load_overrides(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Read an overrides file: ``{student: {"ex4/written_answer": {score: 6, comment: "..."}}}``.

    An entry may also say who decided and when (``reviewer``, ``reviewed_at``)
    and ``accepted: true``: the instructor reviewed the check and kept the
    automatic score (its ``score`` is the automatic one at the time).
    """
    try:
        data = parse_yaml_text(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read overrides ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of student -> checks")
    for student, checks in data.items():
        if not isinstance(checks, dict):
            raise UsageError(f"{path}: {student}: expected a mapping of 'exercise/check' -> {{score, comment}}")
        for key, value in checks.items():
            if not isinstance(value, dict) or type(value.get("score")) not in (int, float):
                raise UsageError(f"{path}: {student}.{key}.score: expected a number")
    return {str(k): v for k, v in data.items()}


def apply_overrides(result: SubmissionResult, overrides: dict[str, dict[str, Any]]) -> SubmissionResult:
    """The result with an instructor's scores in place of the automatic ones (both are kept)."""
    if not overrides or result.status != "graded":
        return result
    exercises = []
    for exercise in result.exercises:
        checks = []
        for check in exercise.checks:
            wanted = overrides.get(f"{exercise.id}/{check.id}")
            if wanted is None or wanted.get("accepted") is True:  # an accepted automatic score stands as it is
                checks.append(check)
                continue
            score = min(max(float(wanted["score"]), 0.0), check.max_score)
            override = Override(score=score, comment=str(wanted.get("comment", "")), auto_score=check.score)
            checks.append(replace(check, score=score, override=override))
        exercises.append(replace(exercise, checks=tuple(checks), score=round(sum(c.score for c in checks), 2)))
    score, _ = total(tuple(exercises))
    return replace(result, exercises=tuple(exercises), score=score)
