"""``grade review`` without a browser: decisions saved and read back, reports rewritten, the pages, the token.

The folder is built once (its summary page takes seconds) and copied for each test.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from grader.batch import OVERRIDES_FILE, rewrite_reports
from grader.batch.store import without_overrides
from grader.results import SubmissionResult
from grader.review.app import create_app
from grader.review.folder import ClassFolder, cells_pointed_to
from grader.review.pages import highlighted
from grader.scoring import apply_overrides, load_overrides
from tests.review_folder import build_class_folder, student_name

WRITTEN = "ex4/written_answer"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_class_folder(tmp_path_factory.mktemp("review"), 6)


@pytest.fixture
def out(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "out"))


def test_written_answers_keep_their_text_and_the_words_that_earned_each_idea(out: Path) -> None:
    folder = ClassFolder(out)
    shown = folder.automatic(student_name(0), WRITTEN).shown  # type: ignore[union-attr]
    assert shown is not None and shown["text"].startswith("Gradient checkpointing stores only some activations")
    matched = {idea["id"]: idea["matched"] for idea in shown["ideas"]}
    assert matched == {"recompute": "recomput", "tradeoff": "trades", "kept": "only some activations"}
    assert folder.automatic(student_name(0), "ex4/segments").shown is None  # code checks show their message only


def test_review_checks_come_first_and_flagged_students_first(out: Path) -> None:
    (out / "similarity.json").write_text(json.dumps({"flagged": [student_name(4)]}), encoding="utf-8")
    folder = ClassFolder(out)
    assert folder.checks[0].key == WRITTEN and folder.checks[0].review
    assert not any(ref.review for ref in folder.checks[1:])
    assert folder.students[0] == student_name(4)
    assert folder.students[1:] == [student_name(i) for i in range(6) if i != 4]


def test_each_decision_is_saved_at_once_with_who_and_when(out: Path) -> None:
    folder = ClassFolder(out)
    folder.decide(student_name(1), WRITTEN, "Ada", score=4.5, comment="good")
    folder.decide(student_name(2), WRITTEN, "Ada")
    saved = load_overrides(out / OVERRIDES_FILE)
    assert saved[student_name(1)][WRITTEN] | {"reviewed_at": "x"} == {"score": 4.5, "comment": "good", "reviewer": "Ada", "reviewed_at": "x"}
    assert saved[student_name(2)][WRITTEN]["accepted"] is True
    assert saved[student_name(2)][WRITTEN]["score"] == folder.automatic(student_name(2), WRITTEN).score  # type: ignore[union-attr]
    assert ClassFolder(out).progress() == (2, 6)  # reopened: what was reviewed and what is left
    assert not list(out.glob(".overrides.yaml.*"))  # no temporary file left behind


def test_a_comment_keeps_the_score_decided(out: Path) -> None:
    folder = ClassFolder(out)
    folder.decide(student_name(1), WRITTEN, "Ada", score=3)
    entry = folder.decide(student_name(1), WRITTEN, "Bo", comment="see the notes")
    assert (entry["score"], entry["comment"], entry["reviewer"], "accepted" in entry) == (3, "see the notes", "Bo", False)


@pytest.mark.parametrize(("student", "key", "score", "error"), [
    ("student01", WRITTEN, 7.0, "score 7: expected 0 to 6"),
    ("student01", WRITTEN, -1.0, "score -1: expected 0 to 6"),
    ("nobody", WRITTEN, 1.0, "'nobody' has no graded check 'ex4/written_answer'"),
    ("student01", "ex9/nothing", 1.0, "'student01' has no graded check 'ex9/nothing'"),
])
def test_a_decision_that_does_not_fit_is_refused_and_nothing_is_saved(out: Path, student: str, key: str, score: float, error: str) -> None:
    folder = ClassFolder(out)
    with pytest.raises(ValueError, match=error):
        folder.decide(student, key, "Ada", score=score)
    assert not (out / OVERRIDES_FILE).exists()


def test_an_accepted_automatic_score_leaves_the_report_as_it_was(out: Path) -> None:
    result = ClassFolder(out).results[student_name(1)]
    accepted = {WRITTEN: {"score": 0, "accepted": True, "comment": ""}}
    assert apply_overrides(result, accepted) == result
    changed = apply_overrides(result, {WRITTEN: {"score": 0, "comment": ""}})
    assert changed.score == result.score - result.exercises[0].checks[-1].score


def test_reports_are_rewritten_from_the_results_and_the_overrides_without_regrading(out: Path) -> None:
    def canvas() -> dict[str, str]:
        rows = list(csv.reader(io.StringIO((out / "gradebook-canvas.csv").read_text(encoding="utf-8"), newline="")))
        return {row[3]: row[5] for row in rows[2:]}

    before = canvas()
    auto = ClassFolder(out).automatic(student_name(0), WRITTEN).score  # type: ignore[union-attr]
    rewrite_reports(out, {student_name(0): {WRITTEN: {"score": 1, "comment": "too vague"}}})
    after = canvas()
    assert float(after[student_name(0)]) == float(before[student_name(0)]) - auto + 1
    assert {s: g for s, g in after.items() if s != student_name(0)} == {s: g for s, g in before.items() if s != student_name(0)}
    assert "too vague" in (out / "feedback" / f"{student_name(0)}.html").read_text(encoding="utf-8")
    rewrite_reports(out, {})  # an override taken back is taken out of the reports too
    assert canvas() == before
    stored = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(without_overrides(SubmissionResult.from_dict(d)) == SubmissionResult.from_dict(d) for d in stored)


def test_highlighting_finds_the_matched_words_in_the_original_text() -> None:
    text = "In the backward pass they are Recomputed; it trades   extra\ncompute."
    assert highlighted(text, ["recomput", "trades extra"]) == [
        ("In the backward pass they are ", False), ("Recomput", True), ("ed; it ", False), ("trades   extra", True), ("\ncompute.", False),
    ]
    assert highlighted("<b>no idea</b>", []) == [("<b>no idea</b>", False)]


def test_the_cells_a_failure_points_to(out: Path) -> None:
    folder = ClassFolder(out)
    assert cells_pointed_to(folder.results[student_name(0)]) == [2]  # student00's segments check names code cell 2
    assert cells_pointed_to(folder.results[student_name(1)]) == []


def test_pages_need_the_token_escape_student_text_and_decisions_need_the_header(out: Path) -> None:
    folder = ClassFolder(out)
    client = create_app(folder, "secret", "Ada").test_client()
    assert client.get("/").status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    welcome = client.get("/?token=secret")
    assert welcome.status_code == 302 and "grade_review_token=secret" in welcome.headers["Set-Cookie"]
    assert "HttpOnly" in welcome.headers["Set-Cookie"] and "SameSite=Strict" in welcome.headers["Set-Cookie"]
    assert "0 of 6 reviewed" in client.get("/").get_data(as_text=True)
    by_check = client.get(f"/check/{WRITTEN}").get_data(as_text=True)
    assert by_check.count('<article class="card') == 6 and "<mark>only some activations</mark>" in by_check
    body = {"student": student_name(0), "check": WRITTEN, "score": 2}
    assert client.post("/api/decide", json=body).status_code == 403
    saved = client.post("/api/decide", json=body, headers={"X-Review-Token": "secret"})
    assert saved.status_code == 200 and saved.get_json()["reviewed"] == 1
    refused = client.post("/api/decide", json=body | {"score": "2"}, headers={"X-Review-Token": "secret"})
    assert refused.status_code == 400 and refused.get_json()["error"] == "score: expected a number"
    student = client.get(f"/student/{student_name(0)}").get_data(as_text=True)
    assert "code cell 2" in student and "def checkpointed_forward(model, x, segments):" in student
    notebook = client.get(f"/student/{student_name(0)}/notebook")
    assert notebook.headers["Content-Security-Policy"].startswith("sandbox;") and b"checkpointing_answer" in notebook.data
    assert yaml.safe_load((out / OVERRIDES_FILE).read_text(encoding="utf-8"))[student_name(0)][WRITTEN]["score"] == 2


def test_student_text_is_escaped(out: Path) -> None:
    folder = ClassFolder(out)
    check = folder.automatic(student_name(0), WRITTEN)
    assert check is not None and check.shown is not None
    check.shown["text"] = "<script>alert(1)</script> only some activations"  # the dict inside the frozen record
    client = create_app(folder, "t", "Ada").test_client()
    client.get("/?token=t")
    page = client.get(f"/check/{WRITTEN}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
