"""Scoring, instructor overrides and the terminal/JSON reports, on hand-built results (no kernel)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.errors import UsageError
from grader.reporters.json_report import render_json
from grader.reporters.terminal import render_text
from grader.results import CheckResult, ExerciseResult, Outcome, SubmissionResult, Verdict
from grader.rubric import CheckSpec
from grader.scoring import apply_overrides, check_result, load_overrides


def spec(points: float = 6, feedback: str = "Say why.", review: bool = False) -> CheckSpec:
    return CheckSpec(id="written_answer", kind="key_ideas", title="The answer", points=points, params={},
                     feedback=feedback, hints=("Think of memory.",), review=review)


def result(score: float = 2.0, message: str = "1 of 3 key ideas") -> SubmissionResult:
    check = CheckResult("written_answer", "The answer", Outcome.PARTIAL, score, 6.0, message, ("Think of memory.",), review=True)
    passed = CheckResult("values", "Values", Outcome.PASSED, 7.0, 7.0, "all right")
    exercises = (ExerciseResult("ex1", "One", 7.0, 7.0, (passed,)), ExerciseResult("ex4", "Four", score, 6.0, (check,)))
    return SubmissionResult("alice.ipynb", "alice", "04", "graded", 7.0 + score, 13.0, exercises, (), 1.5)


@pytest.mark.parametrize(
    ("verdict", "score", "message", "hints"),
    [
        (Verdict.passed("fine"), 6.0, "fine", ()),
        (Verdict.partial(0.5, "half"), 3.0, "half. Say why.", ("Think of memory.",)),
        (Verdict.partial(1 / 3, "a third"), 2.0, "a third. Say why.", ("Think of memory.",)),
        (Verdict.not_attempted("not attempted"), 0.0, "not attempted. Say why.", ("Think of memory.",)),
        (Verdict.partial(1.5, "over"), 6.0, "over", ()),
    ],
)
def test_check_result_points_feedback_and_hints(verdict: Verdict, score: float, message: str, hints: tuple[str, ...]) -> None:
    judged = check_result(spec(), verdict)
    assert (judged.score, judged.message, judged.hints) == (score, message, hints)


def test_override_replaces_the_score_and_keeps_the_automatic_one() -> None:
    changed = apply_overrides(result(), {"ex4/written_answer": {"score": 5, "comment": "good, in other words"}})
    check = changed.exercises[1].checks[0]
    assert (check.score, check.override.score, check.override.auto_score) == (5.0, 5.0, 2.0)  # type: ignore[union-attr]
    assert changed.exercises[1].score == 5.0 and changed.score == 12.0
    text = render_text(changed)
    assert "your instructor set 5 (automatic score 2): good, in other words" in text
    assert json.loads(render_json(changed))["exercises"][1]["checks"][0]["override"]["auto_score"] == 2.0


def test_override_is_bounded_by_the_check_points() -> None:
    changed = apply_overrides(result(), {"ex4/written_answer": {"score": 60}})
    assert changed.exercises[1].checks[0].score == 6.0
    assert changed.exercises[1].checks[0].passed


def test_overrides_file_is_validated(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("alice:\n  ex4/written_answer: {score: 5, comment: ok}\n")
    assert load_overrides(good) == {"alice": {"ex4/written_answer": {"score": 5, "comment": "ok"}}}
    bad = tmp_path / "bad.yaml"
    bad.write_text("alice:\n  ex4/written_answer: {score: lots}\n")
    with pytest.raises(UsageError, match=r"alice.ex4/written_answer.score: expected a number"):
        load_overrides(bad)


def test_terminal_report_is_clean_and_marks_reviewable_checks() -> None:
    hostile = result(message="\x1b[2J\x1b]52;c;AAAA\x07 evil \u202e text " + "x" * 5000)
    text = render_text(hostile)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert max(len(line) for line in text.splitlines()) < 700
    assert "scored automatically; your instructor may review it" in text
    assert "Score: 9 / 13" in text


def test_unusable_submission_report() -> None:
    unusable = SubmissionResult("x.ipynb", "x", "04", "error", 0.0, 100.0, (), ("not a valid notebook",), 0.1, reason="not a valid notebook")
    assert "Your submission could not be graded: not a valid notebook" in render_text(unusable)
    data = json.loads(render_json(unusable))
    assert (data["status"], data["score"], data["reason"]) == ("error", 0.0, "not a valid notebook")


def test_result_round_trips_through_json() -> None:
    original = apply_overrides(result(), {"ex4/written_answer": {"score": 4}})
    assert SubmissionResult.from_dict(json.loads(json.dumps(original.as_dict()))) == original


def test_a_check_graded_by_the_instructor_is_never_shown_as_passed() -> None:
    later = CheckResult("written_answer", "What checkpointing is (graded by your instructor: 6 points)", Outcome.PASSED, 0.0, 0.0,
                        "`checkpointing_answer` is written (52 words); graded by your instructor (6 points, not in this score)")
    kit = SubmissionResult("x.ipynb", "x", "04", "graded", 0.0, 0.0, (ExerciseResult("ex4", "Checkpointing", 0.0, 0.0, (later,)),), (), 0.1)
    text = render_text(kit)
    assert "[INST] What checkpointing is (graded by your instructor: 6 points)  -" in text
    assert "is written (52 words); graded by your instructor" in text and "[PASS]" not in text


def test_a_check_graded_by_the_instructor_is_grey_and_unmarked_in_the_notebook_report() -> None:
    from grader.reporters.notebook import NotebookReport, render_notebook_html, render_notebook_text

    later = CheckResult("written_answer", "What checkpointing is (graded by your instructor: 6 points)", Outcome.PASSED, 0.0, 0.0,
                        "`checkpointing_answer` is written (52 words); graded by your instructor (6 points, not in this score)")
    kit = SubmissionResult("x.ipynb", "x", "04", "graded", 0.0, 0.0, (ExerciseResult("ex4", "Checkpointing", 0.0, 0.0, (later,)),), (), 0.1)
    report = NotebookReport("Live check", (), kit)
    page = render_notebook_html(report)
    assert "graded by your instructor</span>" in page and "rgba(110, 118, 129, 0.2)" in page and "rgba(46, 160, 67" not in page
    assert "[INST]" in render_notebook_text(report) and "[PASS]" not in render_notebook_text(report)


@pytest.mark.parametrize(("grade", "heading", "note"), [
    ("kit", "Kit grade of hw.ipynb", "Kit grade: your saved notebook, rerun from top to bottom with the checks your course's kit"),
    (None, "Official grade of hw.ipynb", "Official grade: your saved notebook, rerun from top to bottom"),
])
def test_each_score_a_student_sees_says_which_it_is_and_a_kit_never_calls_itself_official(grade: str | None, heading: str, note: str) -> None:
    from dataclasses import replace as with_

    from grader.live.judge import Judge

    graded = with_(result(), environment={"grade": grade} if grade else {})
    shown = Judge().render_fresh({"report": graded.as_dict(), "notebook": "hw.ipynb"})
    assert shown["text"].startswith(heading) and note in shown["text"]
    terminal = render_text(graded)
    if grade == "kit":
        assert "This is the official grade" not in shown["text"] + terminal and "Official grade" not in shown["text"]
        assert "It is not your official grade" in terminal
    else:
        assert "Kit grade" not in terminal
