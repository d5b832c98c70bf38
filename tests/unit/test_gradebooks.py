"""Gradebooks for Canvas and Moodle, the roster behind them and the rubric's precision, without a kernel.

Results are built by hand. Each LMS file is compared with a sample of that
LMS's import format written from its public documentation (cited in each
test); the roster's edge cases (missing students, submissions not on the
roster, duplicate identifiers, odd headers) each have a test.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from grader.batch import BatchOptions, run_batch
from grader.batch.roster import Roster, RosterEntry, check_roster_for, load_roster, match_roster, parse_roster
from grader.cli import gradebook_formats
from grader.cli import main as cli_main
from grader.errors import UsageError
from grader.reporters.gradebook import number, render_gradebook, rubric_points, score_decimals
from grader.reporters.lms import gradebook_file, render_canvas, render_moodle
from grader.results import CheckResult, ExerciseResult, Outcome, SubmissionResult
from grader.rubric import Rubric

TITLE = "04: Automatic differentiation"


def result(student: str, score: float, status: str = "graded", **changes: Any) -> SubmissionResult:
    """A hand-built result with one exercise scoring ``score`` of 100."""
    outcome = Outcome.PASSED if score >= 100 else Outcome.PARTIAL
    exercise = ExerciseResult("ex1", "Exercise 1", score, 100.0, (CheckResult("c", "check", outcome, score, 100.0, "why"),))
    base = SubmissionResult(
        submission=f"{student}.ipynb", student=student, assignment="a04", status=status, score=score,
        max_score=100.0, exercises=(exercise,), errors=(), duration_s=1.0,
    )
    return replace(base, **changes)


def roster_file(tmp_path: Path, text: str, *, bom: bool = False, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


CLASS_ROSTER = """submission,name,first_name,last_name,student_id,email,login,canvas_id,section
alice,"Liddell, Alice",Alice,Liddell,S001,alice@uni.example,aliddell,1001,Section A
bob,"Builder, Bob",Bob,Builder,S002,bob@uni.example,bbuilder,1002,Section B
carol,"Danvers, Carol",Carol,Danvers,S003,carol@uni.example,cdanvers,1003,Section A
"""
CLASS_RESULTS = [result("alice", 87.5), result("bob", 100 / 3), result("mallory", 50.0)]  # carol submitted nothing


# --- the LMS formats, against samples written from their documentation --------------------------


def test_canvas_file_matches_the_documented_import_format(tmp_path: Path) -> None:
    """Canvas's gradebook import takes the columns of its own export: Student, ID, SIS User ID, SIS Login ID,
    Section, then one column per assignment titled with the assignment's name, and a second row "Points
    Possible" that holds each assignment's points and is not a student.

    Sources: Canvas Instructor Guide, "How do I import grades in the Gradebook?"
    (https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807);
    Ohio State's "Import CSV File for Carmen Grades" (Carmen is Canvas), which lists the columns as Student
    Name, Student ID, SIS User ID, SIS Login ID, Section and Assignment Name
    (https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades);
    the structure of Canvas's export (https://nemogb-dev.github.io/nemogb-r/articles/detailed-canvas-export-info.html).
    """
    sample = (
        "Student,ID,SIS User ID,SIS Login ID,Section,04: Automatic differentiation\r\n"
        "Points Possible,,,,,100\r\n"
        '"Liddell, Alice",1001,S001,aliddell,Section A,87.5\r\n'
        '"Builder, Bob",1002,S002,bbuilder,Section B,33.33\r\n'
        '"Danvers, Carol",1003,S003,cdanvers,Section A,\r\n'
    )
    match = match_roster(load_roster(roster_file(tmp_path, CLASS_ROSTER)), CLASS_RESULTS)
    assert render_canvas(match, TITLE, 100.0, 0, "empty") == sample
    rows = table(sample)
    assert re.search("Student", rows[0][0]) and re.search("ID", rows[0][1])  # what Canvas's importer looks for first
    assert re.search("Points Possible", rows[1][0])


def test_moodle_file_matches_the_documented_import_format(tmp_path: Path) -> None:
    """Moodle's CSV grade import reads the format of its CSV export (First name, Last name, ID number, ...,
    Email address, then one column per grade item); the teacher maps users "Map from" Email address "Map to"
    Email address (or ID number to ID number) and maps each grade column to a grade item.

    Sources: MoodleDocs "Grade import" (https://docs.moodle.org/en/Grade_import: "The import file format
    is the same as the corresponding export format"; the Map from / Map to tip); Moodle's own import test
    fixture grade/tests/fixtures/grade_import.csv ("First name,Last name,Email address,Manual item 1").
    """
    sample = (
        "First name,Last name,ID number,Email address,04: Automatic differentiation\r\n"
        "Alice,Liddell,S001,alice@uni.example,87.5\r\n"
        "Bob,Builder,S002,bob@uni.example,33.33\r\n"
        "Carol,Danvers,S003,carol@uni.example,0\r\n"
    )
    match = match_roster(load_roster(roster_file(tmp_path, CLASS_ROSTER)), CLASS_RESULTS)
    assert render_moodle(match, TITLE, 100.0, 0, "zero") == sample


def test_lms_files_leave_out_submissions_not_on_the_roster_but_gradebook_csv_keeps_them(tmp_path: Path) -> None:
    match = match_roster(load_roster(roster_file(tmp_path, CLASS_ROSTER)), CLASS_RESULTS)
    assert [s for s, _ in match.unknown] == ["mallory"]
    assert match.warnings() == ["mallory is not on the roster: it is in gradebook.csv but not in the LMS gradebooks"]
    for text in (render_canvas(match, TITLE, 100, 0, "empty"), render_moodle(match, TITLE, 100, 0, "empty")):
        assert "mallory" not in text.lower() and "50" not in text
    assert "mallory" in render_gradebook(CLASS_RESULTS, ["ex1"])


def test_missing_students_get_an_empty_cell_or_zero(tmp_path: Path) -> None:
    match = match_roster(load_roster(roster_file(tmp_path, CLASS_ROSTER)), CLASS_RESULTS)
    assert [e.submission for e in match.missing] == ["carol"]
    assert table(render_canvas(match, TITLE, 100, 0, "empty"))[4][-1] == ""
    assert table(render_canvas(match, TITLE, 100, 1, "zero"))[4][-1] == "0.0"
    assert table(render_moodle(match, TITLE, 100, 0, "empty"))[3][-1] == ""


def test_an_unusable_submission_scores_zero_not_missing(tmp_path: Path) -> None:
    broken = result("alice", 0.0, status="error", reason="the file is empty")
    match = match_roster(load_roster(roster_file(tmp_path, CLASS_ROSTER)), [broken])
    assert table(render_canvas(match, TITLE, 100, 0, "empty"))[2][-1] == "0"


def test_lms_identifiers_are_written_as_given_and_names_cannot_run_as_formulas(tmp_path: Path) -> None:
    text = 'submission,name,student_id,email\nx,=HYPERLINK("evil"),-0042,+x@uni.example\n'
    match = match_roster(load_roster(roster_file(tmp_path, text)), [result("x", 10)])
    rows = table(render_moodle(match, TITLE, 100, 0, "empty"))
    assert rows[1][:4] == ["'=HYPERLINK(\"evil\")", "", "-0042", "+x@uni.example"]  # an identifier changed would not match


def test_moodle_names_come_from_first_and_last_or_a_last_first_name(tmp_path: Path) -> None:
    text = 'submission,name,email\nalice,"Liddell, Alice",a@x\nbob,Bob Builder,b@x\n'
    rows = table(render_moodle(match_roster(load_roster(roster_file(tmp_path, text)), []), TITLE, 100, 0, "empty"))
    assert [row[:2] for row in rows[1:]] == [["Alice", "Liddell"], ["Bob Builder", ""]]


def test_a_title_ending_like_a_canvas_assignment_id_is_kept_from_being_read_as_one(tmp_path: Path) -> None:
    match = match_roster(load_roster(roster_file(tmp_path, CLASS_ROSTER)), [])
    assert table(render_canvas(match, "Homework (2024)", 10, 0, "empty"))[0][-1] == "Homework (2024) -"
    assert table(render_canvas(match, "Homework (draft)", 10, 0, "empty"))[0][-1] == "Homework (draft)"


def test_gradebook_file_names() -> None:
    assert [gradebook_file(f) for f in ("csv", "canvas", "moodle")] == ["gradebook.csv", "gradebook-canvas.csv", "gradebook-moodle.csv"]


# --- the rubric's precision ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "decimals"),
    [([7, 6, 12], 0), ([0.5, 2], 1), ([2.5, 0.1], 1), ([0.25, 1], 2), ([1 / 3], 2), ([], 0)],
)
def test_the_rubric_points_set_the_decimals(points: list[float], decimals: int) -> None:
    assert score_decimals(points) == decimals


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (11.1 + 11.1 + 11.1, 1, "33.3"),  # 33.300000000000004 in floating point
        (0.1 + 0.2, 0, "0.3"),
        (25.0, 0, "25"),
        (25.0, 1, "25.0"),
        (12.5, 2, "12.50"),
        (7 / 3, 0, "2.33"),  # partial credit keeps its hundredths: the LMS must show what the feedback shows
        (-0.0, 1, "0.0"),
        (1e7, 0, "10000000"),
    ],
)
def test_numbers_have_the_rubric_precision_and_no_float_noise(value: float, decimals: int, text: str) -> None:
    assert number(value, decimals) == text


def test_the_bundled_rubric_has_whole_points_so_gradebook_csv_is_unchanged(rubric: Rubric) -> None:
    assert score_decimals(rubric_points(rubric.exercises)) == 0
    half = replace(rubric.exercises[0], checks=(replace(rubric.exercises[0].checks[0], points=0.5),))
    assert score_decimals(rubric_points([half])) == 1
    rows = table(render_gradebook([result("a", 33.3)], ["ex1"], 1))
    assert rows[1][1:3] == ["33.3", "33.3"]


# --- the roster ----------------------------------------------------------------------------------


def test_roster_headers_are_matched_without_case_spaces_or_a_byte_order_mark(tmp_path: Path) -> None:
    header = " Submission ,STUDENT,SIS User ID, Email Address ,sis_login_id,Canvas-ID,Notes"
    path = roster_file(tmp_path, f"{header}\nalice,Alice,S1,a@x,al,11,hi\n", bom=True)
    roster = load_roster(path)
    assert roster.entries == (
        RosterEntry("alice", name="Alice", student_id="S1", email="a@x", login="al", canvas_id="11", line=2),
    )
    assert "submission" in roster.columns and "" not in roster.columns


def test_roster_with_semicolons_blank_lines_and_short_rows(tmp_path: Path) -> None:
    roster = load_roster(roster_file(tmp_path, "\nsubmission;email;section\n\nalice;a@x\n;;\nbob;b@x;B\n"))
    assert [(e.submission, e.email, e.section) for e in roster.entries] == [("alice", "a@x", ""), ("bob", "b@x", "B")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("submission,email\nalice,a@x\nbob,b@x\nalice,c@x\n", "lines 2 and 4 have the same submission 'alice'"),
        ("submission,student_id\nalice,S1\nbob,S1\n", "lines 2 and 3 have the same student_id 'S1'"),
        ("submission,email\nalice,A@x.org\nbob,a@X.org\n", "lines 2 and 3 have the same email 'a@X.org'"),
        ("submission,login\nalice,al\nbob,al\n", "same login 'al'"),
        ("submission,canvas_id\nalice,7\nbob,7\n", "same canvas_id '7'"),
        ("name,email\nAlice,a@x\n", "the roster needs a 'submission' column"),
        ("submission,ID\nalice,7\n", "the column 'ID' is ambiguous"),
        ("submission,email\n,a@x\n", "line 2: no submission name"),
        ("submission,email\n\n", "the roster lists no student"),
    ],
)
def test_roster_errors_name_the_file_and_the_lines(tmp_path: Path, text: str, message: str) -> None:
    path = roster_file(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        load_roster(path)
    assert message in caught.value.message and str(path) in caught.value.message


def test_a_roster_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes("submission,name\nalice,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(UsageError, match="not UTF-8"):
        load_roster(path)


def test_each_lms_needs_an_identifier_it_can_map(tmp_path: Path) -> None:
    roster = load_roster(roster_file(tmp_path, "submission,email,login\nalice,a@x,\nbob,,bob1\n"))
    check_roster_for(roster, ["csv"])
    with pytest.raises(UsageError, match=r"line 2 \(alice\): --gradebook canvas needs a canvas_id, student_id or login"):
        check_roster_for(roster, ["canvas"])
    with pytest.raises(UsageError, match=r"line 3 \(bob\): --gradebook moodle needs an email or student_id"):
        check_roster_for(roster, ["moodle"])


def test_matching_is_exact_with_a_hint_when_only_the_case_differs() -> None:
    roster = parse_roster("submission,email\nAlice,a@x\nbob,b@x\n", Path("r.csv"))
    match = match_roster(roster, [result("alice", 1), result("bob", 2)])
    assert [(e.submission, r.student if r else None) for e, r in match.rows] == [("Alice", None), ("bob", "bob")]
    assert match.unknown == (("alice", "Alice"),)
    assert "did you mean Alice?" in match.warnings()[0]


def test_display_name_falls_back_to_last_first_then_the_submission() -> None:
    assert RosterEntry("x", first_name="Ada", last_name="Lovelace").display_name == "Lovelace, Ada"
    assert RosterEntry("x").display_name == "x"


# --- options -------------------------------------------------------------------------------------


def test_gradebook_option_takes_repeats_and_comma_lists() -> None:
    assert gradebook_formats(()) == ("csv",)
    assert gradebook_formats(("canvas,Moodle", " canvas ", "csv")) == ("canvas", "moodle", "csv")


def test_batch_options_refuse_what_cannot_work(tmp_path: Path) -> None:
    roster = Roster(tmp_path / "r.csv", (RosterEntry("alice", email="a@x", line=2),), frozenset({"submission", "email"}))
    with pytest.raises(UsageError, match="--gradebook canvas needs --roster"):
        BatchOptions(out=tmp_path, gradebooks=("csv", "canvas")).check()
    with pytest.raises(UsageError, match="--gradebook blackboard: choose from csv, canvas, moodle"):
        BatchOptions(out=tmp_path, gradebooks=("blackboard",)).check()
    with pytest.raises(UsageError, match="--missing maybe"):
        BatchOptions(out=tmp_path, missing="maybe").check()
    with pytest.raises(UsageError, match="--gradebook canvas needs a canvas_id"):
        BatchOptions(out=tmp_path, gradebooks=("canvas",), roster=roster).check()
    BatchOptions(out=tmp_path, gradebooks=("moodle",), roster=roster).check()


def test_roster_options_are_for_batch_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = roster_file(tmp_path, CLASS_ROSTER)
    with pytest.raises(SystemExit) as stopped:
        cli_main([str(tmp_path / "alice.ipynb"), "--roster", str(path)])
    assert stopped.value.code == 2 and "--roster is for batch mode: add --out" in capsys.readouterr().err


def test_a_batch_writes_the_lms_gradebooks_and_warns_about_strangers(
    rubric: Rubric, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No kernel: every submission is unusable, so each scores 0 without running."""
    for name in ("alice", "mallory"):
        (tmp_path / "class").mkdir(exist_ok=True)
        (tmp_path / "class" / f"{name}.ipynb").write_text("", encoding="utf-8")
    roster = load_roster(roster_file(tmp_path, CLASS_ROSTER))
    options = BatchOptions(out=tmp_path / "out", jobs=1, only=("ex1",), gradebooks=("canvas", "moodle"), roster=roster, missing="zero")
    assert run_batch([str(tmp_path / "class")], rubric, options) == 0
    out, err = capsys.readouterr()
    assert "warning: mallory is not on the roster" in err
    assert "roster: 3 students, 2 without a submission: bob, carol" in out and "gradebook-canvas.csv, gradebook-moodle.csv" in out
    canvas = table((tmp_path / "out" / "gradebook-canvas.csv").read_text(encoding="utf-8"))
    assert canvas[1] == ["Points Possible", "", "", "", "", "25"]  # --only ex1: the points graded
    assert [row[0] for row in canvas[2:]] == ["Liddell, Alice", "Builder, Bob", "Danvers, Carol"] and all(r[-1] == "0" for r in canvas[2:])
    moodle = table((tmp_path / "out" / "gradebook-moodle.csv").read_text(encoding="utf-8"))
    assert [row[3] for row in moodle[1:]] == ["alice@uni.example", "bob@uni.example", "carol@uni.example"]
    assert {row[0] for row in table((tmp_path / "out" / "gradebook.csv").read_text(encoding="utf-8"))[1:]} == {"alice", "mallory"}
    page = (tmp_path / "out" / "summary.html").read_text(encoding="utf-8")
    assert "Missing (no submission): Builder, Bob, Danvers, Carol" in page and "mallory is not on the roster" in page
