"""Frozen records of what grading found. No formatting lives here: reporters format."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Outcome(str, Enum):
    """The closed set of outcomes a check can have.

    ``error`` means the student's code crashed or timed out while being probed;
    ``broken`` means the grader or the rubric failed and is never charged to the
    student as a wrong answer (the check scores 0 but the report says whose fault).
    """

    PASSED = "passed"
    PARTIAL = "partial"
    FAILED = "failed"
    NOT_ATTEMPTED = "not_attempted"
    ERROR = "error"
    BROKEN = "broken"


@dataclass(frozen=True)
class Verdict:
    """What a check kind's ``judge`` decides: a fraction of the points and why."""

    outcome: Outcome
    fraction: float
    message: str

    @classmethod
    def passed(cls, message: str = "") -> Verdict:
        return cls(Outcome.PASSED, 1.0, message)

    @classmethod
    def failed(cls, message: str) -> Verdict:
        return cls(Outcome.FAILED, 0.0, message)

    @classmethod
    def partial(cls, fraction: float, message: str) -> Verdict:
        fraction = min(max(fraction, 0.0), 1.0)
        if fraction >= 1.0:
            return cls(Outcome.PASSED, 1.0, message)
        if fraction <= 0.0:
            return cls(Outcome.FAILED, 0.0, message)
        return cls(Outcome.PARTIAL, fraction, message)

    @classmethod
    def not_attempted(cls, message: str) -> Verdict:
        return cls(Outcome.NOT_ATTEMPTED, 0.0, message)

    @classmethod
    def error(cls, message: str) -> Verdict:
        return cls(Outcome.ERROR, 0.0, message)

    @classmethod
    def broken(cls, message: str) -> Verdict:
        return cls(Outcome.BROKEN, 0.0, message)


@dataclass(frozen=True)
class Override:
    """An instructor's manual score for one check, from an overrides file."""

    score: float
    comment: str
    auto_score: float


@dataclass(frozen=True)
class CheckResult:
    """One rubric check, judged."""

    id: str
    title: str
    outcome: Outcome
    score: float
    max_score: float
    message: str
    hints: tuple[str, ...] = ()
    review: bool = False
    hidden: bool = False
    override: Override | None = None

    @property
    def passed(self) -> bool:
        """Full marks (an instructor's override counts)."""
        if self.override is not None:
            return self.score >= self.max_score
        return self.outcome is Outcome.PASSED


@dataclass(frozen=True)
class ExerciseResult:
    """The checks of one exercise and their total."""

    id: str
    title: str
    score: float
    max_score: float
    checks: tuple[CheckResult, ...]


@dataclass(frozen=True)
class SubmissionResult:
    """Everything the grader concluded about one submission.

    ``status`` is ``graded`` when the submission could be run (however badly it
    did) and ``error`` when it could not be used at all (``reason`` says why).
    ``errors`` are one-line, student-readable accounts of faults seen while
    running it (a cell that raised, a timeout, a dead kernel).
    """

    submission: str
    student: str
    assignment: str
    status: str
    score: float
    max_score: float
    exercises: tuple[ExerciseResult, ...]
    errors: tuple[str, ...]
    duration_s: float
    reason: str = ""
    sha256: str = ""
    rubric_sha256: str = ""
    grader_version: str = ""
    seed: int = 0
    environment: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (enums as their values)."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        """Rebuild a result written by :meth:`as_dict` (used when resuming a batch)."""
        exercises = tuple(
            ExerciseResult(
                id=ex["id"],
                title=ex["title"],
                score=ex["score"],
                max_score=ex["max_score"],
                checks=tuple(_check_from_dict(c) for c in ex["checks"]),
            )
            for ex in data["exercises"]
        )
        fields = {f.name for f in dataclasses.fields(cls)}
        plain = {k: v for k, v in data.items() if k in fields and k != "exercises"}
        plain["errors"] = tuple(plain.get("errors", ()))
        return cls(exercises=exercises, **plain)


def _check_from_dict(data: dict[str, Any]) -> CheckResult:
    override = data.get("override")
    return CheckResult(
        id=data["id"],
        title=data["title"],
        outcome=Outcome(data["outcome"]),
        score=data["score"],
        max_score=data["max_score"],
        message=data["message"],
        hints=tuple(data.get("hints", ())),
        review=data.get("review", False),
        hidden=data.get("hidden", False),
        override=Override(**override) if override else None,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
