"""The gradebook: one CSV row per student, in a shape an LMS import takes.

UTF-8 without a byte-order mark, comma separated, CRLF line ends (RFC 4180),
one header row, rows sorted by student. Student-influenced text that a
spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``) is prefixed
with a quote.

Numbers are written with the rubric's precision (:func:`score_decimals`, used
by every gradebook, this one and the LMS ones in :mod:`.lms`): a score is
rounded to hundredths, as the scoring stage rounds every check, and written
with at least as many decimals as the rubric's finest point value needs (whole
points ``25``; half points ``25.0``, ``12.5``; quarter points ``12.25``) and at
most two. Partial credit can need hundredths even under a whole-point rubric
(7 points x 1/3 = ``2.33``): such a score keeps them, so that an LMS never
shows a different grade than the student's feedback page. Never an exponent,
never float noise (``33.3``, not ``33.300000000000004``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from grader.reporters import clean_text
from grader.results import SubmissionResult
from grader.rubric import ExerciseSpec

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SCORING_DECIMALS = 2  # grader.scoring rounds every check and exercise score to hundredths


def gradebook_columns(exercise_ids: Sequence[str]) -> list[str]:
    """The header row: student, total, one column per exercise, status, reason, duration."""
    return ["student", "total", *exercise_ids, "status", "reason", "duration_s"]


def render_gradebook(results: Iterable[SubmissionResult], exercise_ids: Sequence[str], decimals: int = 0) -> str:
    """The whole CSV file as text; ``decimals`` is the rubric's (:func:`score_decimals`)."""
    rows = [gradebook_row(result, exercise_ids, decimals) for result in sorted(results, key=lambda r: student_sort_key(r.student))]
    return csv_text([gradebook_columns(exercise_ids), *rows])


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """Rows as RFC 4180 CSV text: comma separated, quoted where needed, CRLF line ends."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def gradebook_row(result: SubmissionResult, exercise_ids: Sequence[str], decimals: int = 0) -> list[str]:
    """One student's cells; an exercise the result does not hold (``--only``) is left empty."""
    scores = {exercise.id: exercise.score for exercise in result.exercises}
    return [
        spreadsheet_text(result.student),
        number(result.score, decimals),
        *(number(scores[ex], decimals) if ex in scores else "" for ex in exercise_ids),
        result.status,
        spreadsheet_text(result.reason),
        f"{result.duration_s:.1f}",
    ]


def student_sort_key(student: str) -> tuple[str, str]:
    """Case-insensitive order, ties broken by the exact id (so the order never depends on input order)."""
    return (student.casefold(), student)


def number(value: float, decimals: int = 0) -> str:
    """A score as an LMS reads it, rounded to hundredths with at least ``decimals`` decimals.

    ``number(25) == "25"``, ``number(12.5) == "12.5"``, ``number(10 / 3) == "3.33"``,
    ``number(12, 1) == "12.0"``; no exponent, no float noise, never ``-0``.
    """
    text = f"{round(value, SCORING_DECIMALS) + 0.0:.{SCORING_DECIMALS}f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(min(decimals, SCORING_DECIMALS), "0")
    return f"{whole}.{fraction}" if fraction else whole


def score_decimals(points: Iterable[float]) -> int:
    """The decimals a rubric's points need: 0 for whole points, 1 for halves or tenths, 2 for quarters (at most 2)."""
    return max((_decimals(p) for p in points), default=0)


def rubric_points(exercises: Iterable[ExerciseSpec]) -> list[float]:
    """Every check's points in these exercises (what :func:`score_decimals` reads)."""
    return [check.points for exercise in exercises for check in exercise.checks]


def _decimals(value: float) -> int:
    for places in range(SCORING_DECIMALS):
        if abs(round(value, places) - value) < 1e-9:
            return places
    return SCORING_DECIMALS


def spreadsheet_text(value: str) -> str:
    """Cleaned single-line text that a spreadsheet will not run as a formula."""
    text = " ".join(clean_text(value, 300).split())
    return "'" + text if text.startswith(_FORMULA_START) else text
