"""Frozen records of what grading found, and what the stages hand each other (a run's :class:`Execution`, a
:class:`RosterMatch`). No formatting lives here: reporters format."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
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


class Blame(str, Enum):
    """Whose fault a result is, set where the fault is found; reporters word it, nobody parses messages for it.

    ``answer``: the answer is wrong, incomplete or missing. ``student_code``:
    the student's code crashed or ran out of time. ``submission``: the file
    could not be used at all. ``grader``: a bug in the grader or the rubric.
    ``infrastructure``: the machine failed (a kernel that would not start, a
    grading process that died): grading again may succeed. The last two are
    never the student's fault and such results are never reused.
    """

    NONE = "none"
    ANSWER = "answer"
    STUDENT_CODE = "student_code"
    SUBMISSION = "submission"
    GRADER = "grader"
    INFRASTRUCTURE = "infrastructure"

    @property
    def students_fault(self) -> bool:
        return self in (Blame.ANSWER, Blame.STUDENT_CODE, Blame.SUBMISSION)

    @property
    def graders_fault(self) -> bool:
        return self in (Blame.GRADER, Blame.INFRASTRUCTURE)


_BLAME_OF = {
    Outcome.PASSED: Blame.NONE,
    Outcome.PARTIAL: Blame.ANSWER,
    Outcome.FAILED: Blame.ANSWER,
    Outcome.NOT_ATTEMPTED: Blame.ANSWER,
    Outcome.ERROR: Blame.STUDENT_CODE,
    Outcome.BROKEN: Blame.GRADER,
}


def blame_of(outcome: Outcome) -> Blame:
    """The usual blame for an outcome (``broken`` may also be the infrastructure's)."""
    return _BLAME_OF[outcome]


class Failure(str, Enum):
    """How a check failed, when a kind can tell: a rubric's ``feedback`` may map each to its own sentence."""

    RAISED = "raised"
    WRONG_TYPE = "wrong_type"
    WRONG_SHAPE = "wrong_shape"
    WRONG_DTYPE = "wrong_dtype"
    WRONG_VALUES = "wrong_values"
    NOT_ATTACHED = "not_attached"  # not attached to the autograd graph (or attached where it must not be)
    IN_PLACE = "in_place"  # changed an argument it was given
    LOOPED = "looped"  # ran a Python loop over its data where the contract asks for vectorised code
    FORBIDDEN_CALL = "forbidden_call"
    MISSING_CALL = "missing_call"  # never called what the contract requires


@dataclass(frozen=True)
class Verdict:
    """What a check kind's ``judge`` decides: a fraction of the points, why, and whose fault a shortfall is.

    ``shown`` is what a person reviewing the check by hand needs to see, as
    plain JSON data (a written answer's text and the key ideas it was credited
    with); None for kinds that have nothing to show.
    """

    outcome: Outcome
    fraction: float
    message: str
    blame: Blame = Blame.NONE
    shown: dict[str, Any] | None = None
    failure: Failure | None = None  # how it failed, when the kind can tell (None: not said)

    def because(self, failure: Failure) -> Verdict:
        """This verdict, tagged with how the check failed."""
        return replace(self, failure=failure)

    @classmethod
    def passed(cls, message: str = "") -> Verdict:
        return cls(Outcome.PASSED, 1.0, message, Blame.NONE)

    @classmethod
    def failed(cls, message: str) -> Verdict:
        return cls(Outcome.FAILED, 0.0, message, Blame.ANSWER)

    @classmethod
    def partial(cls, fraction: float, message: str) -> Verdict:
        fraction = min(max(fraction, 0.0), 1.0)
        if fraction >= 1.0:
            return cls.passed(message)
        if fraction <= 0.0:
            return cls.failed(message)
        return cls(Outcome.PARTIAL, fraction, message, Blame.ANSWER)

    @classmethod
    def not_attempted(cls, message: str) -> Verdict:
        return cls(Outcome.NOT_ATTEMPTED, 0.0, message, Blame.ANSWER)

    @classmethod
    def error(cls, message: str) -> Verdict:
        """The student's code crashed or timed out while it was probed."""
        return cls(Outcome.ERROR, 0.0, message, Blame.STUDENT_CODE)

    @classmethod
    def broken(cls, message: str, blame: Blame = Blame.GRADER) -> Verdict:
        """The grader, the rubric or the machine failed: the check scores 0 and the report says it is not the student's fault."""
        return cls(Outcome.BROKEN, 0.0, message, blame)


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
    blame: Blame = Blame.NONE
    shown: dict[str, Any] | None = None  # the verdict's ``shown``: what a reviewer reads (see Verdict)
    failure: Failure | None = None  # how it failed, when the kind could tell (the rubric's feedback map was chosen by it)

    def __post_init__(self) -> None:
        if self.blame is Blame.NONE and self.outcome is not Outcome.PASSED:  # built by hand: the outcome's usual blame
            object.__setattr__(self, "blame", blame_of(self.outcome))

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
    did) and ``error`` when it could not be used at all (``reason`` says why,
    ``blame`` whose fault that is: the submission's, the grader's or the
    infrastructure's). ``errors`` are one-line, student-readable accounts of
    faults seen while running it (a cell that raised, a timeout, a dead kernel).
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
    blame: Blame = Blame.NONE

    def __post_init__(self) -> None:
        if self.blame is Blame.NONE and self.status != "graded":  # an unusable file, unless whoever built it said otherwise
            object.__setattr__(self, "blame", Blame.SUBMISSION)

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
        plain["blame"] = Blame(plain.get("blame", Blame.NONE))
        return cls(exercises=exercises, **plain)


@dataclass(frozen=True)
class CellRun:
    """What happened to one code cell of the submission (``number`` is its 1-based place in the file)."""

    number: int
    status: str  # ok | error | timeout | crashed | skipped | not_run
    error: str = ""
    stdout: str = ""


@dataclass(frozen=True)
class Execution:
    """The result of running a submission: per-cell records, probe answers and fault events."""

    cells: tuple[CellRun, ...]
    probe_outputs: tuple[str, ...]
    events: tuple[str, ...]
    isolation: dict[str, Any]  # the walls that held, the mode ("sandbox" or "portable") and what was not isolated
    duration_s: float
    kernel_failed: str = ""
    kernel_peak_mb: float = 0.0
    left_out_calls: tuple[int, ...] = ()  # probe calls not asked: two of their exercise's calls had stopped the kernel

    @property
    def printed_text(self) -> str:
        return "".join(cell.stdout for cell in self.cells)


@dataclass(frozen=True)
class RosterEntry:
    """One student of the roster; empty strings for what the roster does not say. ``line`` is the CSV line."""

    submission: str
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    student_id: str = ""
    email: str = ""
    login: str = ""
    canvas_id: str = ""
    section: str = ""
    line: int = 0

    @property
    def display_name(self) -> str:
        """The name to show: ``name``, else ``Last, First``, else the submission name."""
        if self.name:
            return self.name
        if self.first_name or self.last_name:
            return ", ".join(part for part in (self.last_name, self.first_name) if part)
        return self.submission


@dataclass(frozen=True)
class RosterMatch:
    """Results matched to the roster: each roster entry with its result (None: no submission), in roster order.

    ``unknown`` are the submissions not on the roster, with a hint when only the case differs.
    """

    rows: tuple[tuple[RosterEntry, SubmissionResult | None], ...]
    unknown: tuple[tuple[str, str], ...]  # (submission, hint)

    @property
    def missing(self) -> list[RosterEntry]:
        """Roster students with no submission."""
        return [entry for entry, result in self.rows if result is None]

    def warnings(self) -> list[str]:
        """One line per submission not on the roster."""
        return [
            f"{student} is not on the roster{f' (did you mean {hint}?)' if hint else ''}: it is in gradebook.csv but not in the LMS gradebooks"
            for student, hint in self.unknown
        ]


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
        blame=Blame(data["blame"]) if "blame" in data else blame_of(Outcome(data["outcome"])),
        shown=data["shown"] if isinstance(data.get("shown"), dict) else None,
        failure=Failure(data["failure"]) if data.get("failure") in _FAILURES else None,
    )


_FAILURES = {failure.value for failure in Failure}


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
