"""The gradebook: one CSV row per student, in a shape an LMS import takes.

UTF-8 without a byte-order mark, comma separated, CRLF line ends (RFC 4180),
one header row, rows sorted by student. Student-influenced text that a
spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``) is prefixed
with a quote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from grader.reporters import clean_text
from grader.results import SubmissionResult

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def gradebook_columns(exercise_ids: Sequence[str]) -> list[str]:
    """The header row: student, total, one column per exercise, status, reason, duration."""
    return ["student", "total", *exercise_ids, "status", "reason", "duration_s"]


def render_gradebook(results: Iterable[SubmissionResult], exercise_ids: Sequence[str]) -> str:
    """The whole CSV file as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(gradebook_columns(exercise_ids))
    for result in sorted(results, key=lambda r: student_sort_key(r.student)):
        writer.writerow(gradebook_row(result, exercise_ids))
    return buffer.getvalue()


def gradebook_row(result: SubmissionResult, exercise_ids: Sequence[str]) -> list[str]:
    """One student's cells; an exercise the result does not hold (``--only``) is left empty."""
    scores = {exercise.id: exercise.score for exercise in result.exercises}
    return [
        spreadsheet_text(result.student),
        number(result.score),
        *(number(scores[ex]) if ex in scores else "" for ex in exercise_ids),
        result.status,
        spreadsheet_text(result.reason),
        f"{result.duration_s:.1f}",
    ]


def student_sort_key(student: str) -> tuple[str, str]:
    """Case-insensitive order, ties broken by the exact id (so the order never depends on input order)."""
    return (student.casefold(), student)


def number(value: float) -> str:
    """A score as an LMS reads it: ``25``, ``12.5``, ``3.33`` (no exponent, no trailing zeros)."""
    text = f"{round(value, 2) + 0.0:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def spreadsheet_text(value: str) -> str:
    """Cleaned single-line text that a spreadsheet will not run as a formula."""
    text = " ".join(clean_text(value, 300).split())
    return "'" + text if text.startswith(_FORMULA_START) else text
