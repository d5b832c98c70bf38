"""The class roster: which submission is which LMS student, for gradebooks Canvas and Moodle import as they are.

A roster is a CSV file (UTF-8, with or without a byte-order mark; comma
separated, or semicolon separated as some spreadsheets save it) with a header
row. Header names are matched without regard to case, surrounding spaces,
underscores or hyphens; the names of Canvas's and Moodle's own exports are
understood too, so an LMS export with a ``submission`` column added works:

================  =========================================  ==========================================
column            meaning                                    also accepted
================  =========================================  ==========================================
``submission``    the name the batch gives the submission:   (required)
                  the file name without extension, or the
                  student folder's name; matched exactly
``name``          the student's name as the LMS shows it     ``student``, ``full name``, ``student name``
``first_name``    given name (Moodle's file)                 ``first name``
``last_name``     family name (Moodle's file)                ``last name``, ``surname``
``student_id``    the institution's student number:          ``sis user id``, ``id number``,
                  Canvas's SIS User ID, Moodle's ID number   ``idnumber``, ``student number``
``email``         e-mail address (Moodle)                    ``email address``, ``e-mail``
``login``         login name: Canvas's SIS Login ID          ``sis login id``, ``username``
``canvas_id``     Canvas's own user ID (its export's "ID")   ``canvas id``, ``canvas user id``
``section``       section or group                           ``group``
================  =========================================  ==========================================

A column named just ``ID`` is refused as ambiguous (Canvas's user ID, or the
institution's number?). Other columns are ignored; blank lines are skipped.
Every row needs a ``submission``; a submission name, student id, e-mail,
login or Canvas ID used by two rows is an error (e-mail compared without
regard to case), and so is a roster with no student.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError
from grader.results import RosterEntry, RosterMatch, SubmissionResult

FIELDS = ("submission", "name", "first_name", "last_name", "student_id", "email", "login", "canvas_id", "section")
_ALIASES = {
    "submission": "submission",
    "name": "name", "student": "name", "full name": "name", "student name": "name",
    "first name": "first_name", "firstname": "first_name",
    "last name": "last_name", "lastname": "last_name", "surname": "last_name",
    "student id": "student_id", "sis user id": "student_id", "id number": "student_id", "idnumber": "student_id",
    "student number": "student_id",
    "email": "email", "email address": "email", "e mail": "email", "e mail address": "email",
    "login": "login", "sis login id": "login", "username": "login",
    "canvas id": "canvas_id", "canvas user id": "canvas_id",
    "section": "section", "group": "section",
}
_UNIQUE = ("submission", "student_id", "email", "login", "canvas_id")
# Which identifiers each LMS can map a row by (in its import's own words).
LMS_IDENTIFIERS = {
    "canvas": (("canvas_id", "student_id", "login"), "a canvas_id, student_id or login (Canvas's ID, SIS User ID or SIS Login ID)"),
    "moodle": (("email", "student_id"), "an email or student_id (Moodle maps users by e-mail address or ID number)"),
}


@dataclass(frozen=True)
class Roster:
    """A loaded roster: its entries in file order, and the columns it has."""

    path: Path
    entries: tuple[RosterEntry, ...]
    columns: frozenset[str]


def load_roster(path: Path) -> Roster:
    """Read and check a roster file; :class:`UsageError` names the file, the line and what is wrong."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the roster ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the roster is not UTF-8 text (save it as 'CSV UTF-8')") from None
    return parse_roster(text, Path(path))


def parse_roster(text: str, path: Path) -> Roster:
    """A roster from its CSV text (see the module docstring for the format)."""
    lines = text.splitlines()
    header_line = next((line for line in lines if line.strip()), "")
    delimiter = ";" if ";" in header_line and "," not in header_line else ","
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
    header: list[str] | None = None
    entries: list[RosterEntry] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [_field(path, cell) for cell in row]
            if "submission" not in header:
                raise UsageError(f"{path}: the roster needs a 'submission' column (the file or folder name of each student's submission)")
            continue
        entries.append(_entry(path, header, row, reader.line_num))
    if not entries:
        raise UsageError(f"{path}: the roster lists no student")
    _refuse_duplicates(path, entries)
    return Roster(path, tuple(entries), frozenset(f for f in (header or []) if f))


def _field(path: Path, cell: str) -> str:
    """The canonical field a header cell names, or "" for a column to ignore."""
    key = re.sub(r"[\s_\-]+", " ", cell.strip().lower()).strip()
    if key == "id":
        raise UsageError(
            f"{path}: the column 'ID' is ambiguous: name it canvas_id (Canvas's user ID, as in a Canvas export) "
            "or student_id (the institution's student number)"
        )
    return _ALIASES.get(key, "")


def _entry(path: Path, header: list[str], row: list[str], line: int) -> RosterEntry:
    values: dict[str, str] = {}
    for field, cell in zip(header, row, strict=False):  # a short row leaves its last columns empty
        if field and cell.strip() and field not in values:
            values[field] = " ".join(cell.split())
    if not values.get("submission"):
        raise UsageError(f"{path}: line {line}: no submission name")
    return RosterEntry(line=line, **values)


def _refuse_duplicates(path: Path, entries: Sequence[RosterEntry]) -> None:
    for field in _UNIQUE:
        seen: dict[str, RosterEntry] = {}
        for entry in entries:
            value = getattr(entry, field)
            key = value.casefold() if field == "email" else value
            if not key:
                continue
            if key in seen:
                raise UsageError(f"{path}: lines {seen[key].line} and {entry.line} have the same {field} {value!r}")
            seen[key] = entry


def check_roster_for(roster: Roster, formats: Iterable[str]) -> None:
    """Refuse, before anything is graded, a roster an LMS gradebook could not use: every row needs an identifier that LMS maps by."""
    for lms in formats:
        if lms not in LMS_IDENTIFIERS:
            continue
        fields, wording = LMS_IDENTIFIERS[lms]
        for entry in roster.entries:
            if not any(getattr(entry, field) for field in fields):
                raise UsageError(f"{roster.path}: line {entry.line} ({entry.submission}): --gradebook {lms} needs {wording}")


def match_roster(roster: Roster, results: Iterable[SubmissionResult]) -> RosterMatch:
    """Pair each roster entry with the result of the submission of that exact name."""
    by_student = {result.student: result for result in results}
    rows = tuple((entry, by_student.get(entry.submission)) for entry in roster.entries)
    listed = {entry.submission for entry in roster.entries}
    folded = {entry.submission.casefold(): entry.submission for entry in roster.entries}

    def hint(student: str) -> str:  # a roster name that differs only in case, and has no submission of its own
        near = folded.get(student.casefold(), "")
        return near if near and near not in by_student else ""

    unknown = tuple((student, hint(student)) for student in sorted(by_student) if student not in listed)
    return RosterMatch(rows, unknown)
