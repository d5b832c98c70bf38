"""Report stage: reporters only format results; they never compute scores."""

from __future__ import annotations

import re

from grader.shorten import shorten

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str, limit: int = 600) -> str:
    """Student-influenced text made safe to show: no control or bidi characters, at most ``limit`` characters (never cut mid-word)."""
    return shorten(_CONTROL.sub("?", text.encode("utf-8", "replace").decode("utf-8")), limit)


# Imported below the helpers above: grader.results has no reporter imports, so there is no cycle.
from dataclasses import dataclass  # noqa: E402

from grader.results import Blame, CheckResult, Outcome, SubmissionResult  # noqa: E402

OUTCOME_WORDS = {
    Outcome.PASSED: "passed",
    Outcome.PARTIAL: "partly right",
    Outcome.FAILED: "not right yet",
    Outcome.NOT_ATTEMPTED: "not attempted",
    Outcome.ERROR: "your code failed",
    Outcome.BROKEN: "grader problem (not your fault)",
}
FRESH_NOTE = "Official grade: your saved notebook, rerun from top to bottom in a fresh kernel, with every check of the rubric."
KIT_NOTE = (
    "Kit grade: your saved notebook, rerun from top to bottom with the checks your course's kit carries, at its fixed points. "
    "It is not your official grade, which your instructor's grader gives: it adds fresh random points, the checks only it "
    "runs and the instructor's review."
)


def grade_note(result: SubmissionResult) -> str:
    """The one sentence that says which of the three scores a student can see this is (live, kit or official)."""
    return KIT_NOTE if result.environment.get("grade") == "kit" else FRESH_NOTE


REVIEW_NOTE = "scored automatically; your instructor may review it"
BLAME_NOTES = {
    Blame.GRADER: "the grader failed here: this is not your fault, please tell your instructor",
    Blame.INFRASTRUCTURE: "the grading machine failed here: this is not your fault, grading again should work",
}


@dataclass(frozen=True)
class CheckLines:
    """What every report says about one check, worded in one place.

    ``outcome`` is the outcome in words ("set by your instructor" after an
    override), ``points`` "3 / 7", and ``notes`` what the student should read
    under the check, in order: whose fault when it is not theirs, the feedback
    (when not passed), hints, the review note, the instructor's override.
    Every text is cleaned; each reporter escapes for its own format.
    """

    outcome: str
    points: str
    notes: tuple[str, ...]
    by_instructor: bool = False  # worth nothing here: the points are graded by the instructor (a kit's stand-in check)


INSTRUCTOR_WORDS = "graded by your instructor"


def graded_by_instructor(check: CheckResult) -> bool:
    """A check worth nothing in this score whose points the instructor grades (never shown as "passed")."""
    return check.max_score == 0 and check.override is None and check.outcome is Outcome.PASSED


def check_lines(check: CheckResult, limit: int = 600) -> CheckLines:
    """The report lines of one check (see :class:`CheckLines`)."""
    if graded_by_instructor(check):
        return CheckLines(INSTRUCTOR_WORDS, "-", (clean_text(check.message, limit),) if check.message else (), by_instructor=True)
    notes = []
    if check.blame.graders_fault:
        notes.append(BLAME_NOTES[check.blame])
    if check.message and not check.passed:
        notes.append(clean_text(check.message, limit))
    notes += [f"hint: {clean_text(hint, limit)}" for hint in check.hints]
    if check.review:
        notes.append(REVIEW_NOTE)
    if check.override is not None:
        comment = f": {clean_text(check.override.comment, limit)}" if check.override.comment else ""
        notes.append(f"your instructor set {check.override.score:g} (automatic score {check.override.auto_score:g}){comment}")
    outcome = "set by your instructor" if check.override is not None else OUTCOME_WORDS[check.outcome]
    return CheckLines(outcome, f"{check.score:g} / {check.max_score:g}", tuple(notes))


def unusable_note(result: SubmissionResult, limit: int = 600) -> str:
    """Why a submission could not be graded, and whose fault that is ('' for a graded one)."""
    if result.status == "graded":
        return ""
    note = f"Your submission could not be graded: {clean_text(result.reason, limit)}"
    return f"{note} ({BLAME_NOTES[result.blame]})" if result.blame.graders_fault else note
