"""Gradescope's autograder ``results.json``: one test per rubric check.

Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/ (top-level
``score``, ``execution_time``, ``output``, ``stdout_visibility``, ``tests`` with
``name``, ``number``, ``score``, ``max_score``, ``status``, ``output``,
``visibility``). Checks the rubric marks ``hidden`` get
``visibility: "after_published"`` so students see them only once grades are
published; the others are ``visible``. The autograder's stdout (the text report,
meant for the instructor) is ``hidden``. A submission that could not be used still
gives a valid file: score 0 and the reason in ``output``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.reporters import check_lines, clean_text, unusable_note
from grader.reporters.junit import atomic_write
from grader.results import CheckResult, ExerciseResult, SubmissionResult

HIDDEN_VISIBILITY = "after_published"
_OUTPUT_LIMIT = 2000


def write_gradescope(result: SubmissionResult, path: Path) -> None:
    """Write Gradescope's ``results.json`` for ``result`` to ``path`` (pure ASCII JSON).

    Raises :class:`~grader.errors.UsageError` when the file cannot be written.
    """
    text = json.dumps(gradescope_dict(result), ensure_ascii=True, indent=2) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode("ascii")))


def gradescope_dict(result: SubmissionResult) -> dict[str, Any]:
    """The results.json content as plain data."""
    return {
        "score": result.score if result.status == "graded" else 0.0,
        "execution_time": round(result.duration_s, 3),
        "output": _overall_output(result),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "stdout_visibility": "hidden",
        "tests": [
            _test(exercise, check, f"{ex_no}.{check_no}", result.status == "graded")
            for ex_no, exercise in enumerate(result.exercises, start=1)
            for check_no, check in enumerate(exercise.checks, start=1)
        ],
        "extra_data": {
            "status": result.status,
            "max_score": result.max_score,
            "assignment": result.assignment,
            "grader_version": result.grader_version,
            "submission_sha256": result.sha256,
            "rubric_sha256": result.rubric_sha256,
            "seed": result.seed,
        },
    }


def fallback_dict(reason: str, execution_time: float = 0.0) -> dict[str, Any]:
    """A valid results.json for when no grading result exists at all (score 0, the reason shown)."""
    return {
        "score": 0.0,
        "execution_time": round(execution_time, 3),
        "output": f"Your submission could not be graded: {clean_text(reason, _OUTPUT_LIMIT)}",
        "output_format": "text",
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"status": "error"},
    }


def _overall_output(result: SubmissionResult) -> str:
    if result.status != "graded":
        return f"{unusable_note(result, _OUTPUT_LIMIT)}\nScore: 0 / {result.max_score:g}"
    lines = [f"Score: {result.score:g} / {result.max_score:g}"]
    hidden = [c for ex in result.exercises for c in ex.checks if c.hidden]
    if hidden:
        points = sum(c.max_score for c in hidden)
        lines.append(f"{len(hidden)} hidden check(s) worth {points:g} point(s) are shown once grades are published.")
    if result.errors:
        lines.append("While running your submission:")
        lines.extend(f"  - {clean_text(line)}" for line in result.errors)
    return "\n".join(lines)


def _test(exercise: ExerciseResult, check: CheckResult, number: str, graded: bool) -> dict[str, Any]:
    return {
        "name": clean_text(f"{exercise.id} / {check.id}: {check.title}", 300),
        "name_format": "text",
        "number": number,
        "score": check.score,
        "max_score": check.max_score,
        "status": "passed" if check.passed else "failed",
        "output": _test_output(check) if graded else "not graded: the submission could not be used (see above)",
        "output_format": "text",
        "visibility": HIDDEN_VISIBILITY if check.hidden else "visible",
        "tags": [clean_text(exercise.id, 100)],
        "extra_data": {"exercise": exercise.id, "check": check.id, "outcome": check.outcome.value},
    }


def _test_output(check: CheckResult) -> str:
    lines = check_lines(check, _OUTPUT_LIMIT)
    return "\n".join([f"{check.outcome.value.replace('_', ' ')}: {lines.points} points", *lines.notes])
