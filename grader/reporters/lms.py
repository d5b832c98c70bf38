"""Gradebooks that Canvas and Moodle import as they are: one row per roster student, one grade column.

Both files are UTF-8 without a byte-order mark, comma separated, CRLF line
ends (RFC 4180), with the students in roster order. The one grade column is
the assignment's total (the exercises the batch graded), titled with the
rubric's title; numbers are written with the rubric's precision (see
:mod:`.gradebook`). A roster student with no submission gets ``0`` or an
empty cell (``--missing zero|empty``); a submission that could not be used
scores ``0``, as in ``gradebook.csv``. Submissions not on the roster are left
out (the batch warns about them).

**Canvas** (Grades > Import): the columns of Canvas's own gradebook export,
``Student, ID, SIS User ID, SIS Login ID, Section``, then the assignment
column, and a second row ``Points Possible`` with the assignment's points,
as Canvas's export has it (the importer takes that row for the points, not
for a student). A column whose title matches no Canvas assignment becomes a
new assignment; name the Canvas assignment like the rubric's title to fill
it. Canvas finds each student by ID, SIS User ID or SIS Login ID (the
roster's ``canvas_id``, ``student_id``, ``login``).

**Moodle** (Grades > Import > CSV file): ``First name, Last name, ID number,
Email address`` and the grade item column, as Moodle's CSV export writes
them. On import choose *Map from* "Email address" and *Map to* "Email
address" (or "ID number" to "ID number"), then map the grade column to a
grade item or "New grade item".

Only the instructor's roster and numbers go into these files (nothing a
student chose); names and sections are still cleaned of control characters
and kept from being read as spreadsheet formulas, identifiers are kept as
written so that the LMS finds them.
"""

from __future__ import annotations

from collections.abc import Callable

from grader.reporters import clean_text
from grader.reporters.gradebook import csv_text, number, spreadsheet_text
from grader.results import RosterEntry, RosterMatch, SubmissionResult

LMS_FORMATS = ("canvas", "moodle")
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_ROW = "Points Possible"
MOODLE_COLUMNS = ["First name", "Last name", "ID number", "Email address"]


def gradebook_file(fmt: str) -> str:
    """The file name of a gradebook format: ``gradebook.csv``, ``gradebook-canvas.csv``, ``gradebook-moodle.csv``."""
    return "gradebook.csv" if fmt == "csv" else f"gradebook-{fmt}.csv"


def render_canvas(match: RosterMatch, title: str, max_score: float, decimals: int, missing: str) -> str:
    """The Canvas gradebook import file."""
    column = _title(title)
    rows = [[*CANVAS_COLUMNS, column], [CANVAS_POINTS_ROW, "", "", "", "", number(max_score, decimals)]]
    for entry, result in match.rows:
        identity = [_shown(entry.display_name), _plain(entry.canvas_id), _plain(entry.student_id), _plain(entry.login), _shown(entry.section)]
        rows.append([*identity, _grade(result, decimals, missing)])
    return csv_text(rows)


def render_moodle(match: RosterMatch, title: str, max_score: float, decimals: int, missing: str) -> str:
    """The Moodle grade import file (``max_score`` is Moodle's grade item maximum, set there, so not written)."""
    del max_score
    rows = [[*MOODLE_COLUMNS, _title(title)]]
    for entry, result in match.rows:
        first, last = _first_last(entry)
        rows.append([_shown(first), _shown(last), _plain(entry.student_id), _plain(entry.email), _grade(result, decimals, missing)])
    return csv_text(rows)


RENDERERS: dict[str, Callable[[RosterMatch, str, float, int, str], str]] = {"canvas": render_canvas, "moodle": render_moodle}


def _grade(result: SubmissionResult | None, decimals: int, missing: str) -> str:
    if result is None:
        return number(0.0, decimals) if missing == "zero" else ""
    return number(result.score, decimals)


def _first_last(entry: RosterEntry) -> tuple[str, str]:
    """Moodle's first and last name: the roster's, else its name split as "Last, First" (Canvas's order), else all of it as first."""
    if entry.first_name or entry.last_name:
        return entry.first_name, entry.last_name
    last, comma, first = (entry.name or entry.submission).partition(",")
    return (first.strip(), last.strip()) if comma else (last.strip(), "")


def _title(title: str) -> str:
    # Canvas reads a trailing "(digits)" in a column title as an assignment id: never let a title end like one by accident.
    text = " ".join(clean_text(title, 200).split()) or "Assignment"
    return f"{text} -" if text.endswith(")") and text.rsplit("(", 1)[-1].rstrip(")").isdigit() else text


def _shown(text: str) -> str:
    return spreadsheet_text(text)


def _plain(text: str) -> str:
    return " ".join(clean_text(text, 300).split())
