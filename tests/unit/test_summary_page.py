"""summary.html's links to feedback pages, and the rubric mutation score it shows from grader.mutation.scores (no kernel)."""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from grader.batch import BatchOptions, run_batch
from grader.mutation import scores as mutation_scores
from grader.mutation.scores import find_mutation_score, mutation_dir, record_mutation_score, user_cache_dir
from grader.reporters.feedback import feedback_names
from grader.reporters.summary import render_summary_html
from grader.results import CheckResult, ExerciseResult, Outcome, SubmissionResult
from grader.rubric import Rubric

SHA = "ab" * 32
OTHER_SHA = "cd" * 32


def result(student: str, score: float) -> SubmissionResult:
    check = CheckResult("c", "check", Outcome.PASSED if score >= 25 else Outcome.FAILED, score, 25.0, "why")
    return SubmissionResult(
        submission=f"{student}.ipynb", student=student, assignment="a04", status="graded", score=score, max_score=25.0,
        exercises=(ExerciseResult("ex1", "Exercise 1", score, 25.0, (check,)),), errors=(), duration_s=1.0,
    )


def summary(sha: str = SHA, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rubric_sha256": sha,
        "assignment": "04_automatic_differentiation",
        "mutants": 40,
        "killed": 35,
        "survived": 5,
        "equivalent_suspected": 2,
        "score_percent": 92.1,
        "generated_at": "2026-11-30T12:00:00+00:00",
        "per_exercise": {
            "ex1": {"mutants": 12, "killed": 12, "survived": 0, "equivalent_suspected": 0, "score_percent": 100.0},
            "ex2": {"mutants": 28, "killed": 23, "survived": 5, "equivalent_suspected": 2, "score_percent": 88.5},
        },
        "tool_version": "0.1.0",
    }
    data.update(changes)
    return data


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRADER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --- storage -------------------------------------------------------------------------------------


def test_a_recorded_summary_comes_back_by_its_rubric_hash(cache: Path) -> None:
    path = record_mutation_score(summary())
    assert path == cache / "mutation" / f"{SHA}.json" and path.is_file()
    assert find_mutation_score(SHA) == summary()  # every field, extra ones included
    assert find_mutation_score(OTHER_SHA) is None
    record_mutation_score(summary(score_percent=50.0))  # a later run replaces it
    found = find_mutation_score(SHA)
    assert found is not None and found["score_percent"] == 50.0
    assert sorted(p.name for p in path.parent.iterdir()) == [f"{SHA}.json"]  # no temporary file left


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"rubric_sha256": "../../etc/passwd"}, "rubric_sha256: expected 64 lowercase hex digits"),
        ({"rubric_sha256": SHA.upper()}, "rubric_sha256: expected 64 lowercase hex digits"),
        ({"killed": -1}, "killed: expected a count"),
        ({"mutants": 4.5}, "mutants: expected a count"),
        ({"score_percent": 101}, "score_percent: expected a number from 0 to 100"),
        ({"score_percent": float("nan")}, "score_percent: expected a number from 0 to 100"),
        ({"generated_at": None}, "generated_at: expected str"),
        ({"per_exercise": {"ex1": {"mutants": 1}}}, "per_exercise.ex1.killed: expected a count"),
        ({"per_exercise": []}, "per_exercise: expected dict"),
    ],
)
def test_a_malformed_summary_is_refused_with_the_field_named(cache: Path, changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        record_mutation_score(summary(**changes))
    assert not (cache / "mutation").exists() or not any((cache / "mutation").iterdir())


def test_a_damaged_or_mismatched_file_is_not_shown(cache: Path) -> None:
    folder = cache / "mutation"
    folder.mkdir(parents=True)
    (folder / f"{SHA}.json").write_text("{ not json", encoding="utf-8")
    assert find_mutation_score(SHA) is None
    (folder / f"{SHA}.json").write_text(json.dumps(summary(sha=OTHER_SHA)), encoding="utf-8")  # renamed by hand
    assert find_mutation_score(SHA) is None
    assert find_mutation_score("../x") is None and find_mutation_score("") is None


def test_the_cache_folder_follows_the_platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GRADER_CACHE_DIR", raising=False)
    monkeypatch.setattr(mutation_scores.Path, "home", classmethod(lambda cls: tmp_path / "home"))
    monkeypatch.setattr(mutation_scores.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mutation_dir() == tmp_path / "xdg" / "autodiff-grader" / "mutation"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert user_cache_dir() == tmp_path / "home" / ".cache"
    monkeypatch.setattr(mutation_scores.sys, "platform", "darwin")
    assert mutation_dir() == tmp_path / "home" / "Library" / "Caches" / "autodiff-grader" / "mutation"
    monkeypatch.setattr(mutation_scores.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert mutation_dir() == tmp_path / "local" / "autodiff-grader" / "mutation"


# --- the page ------------------------------------------------------------------------------------


def page_for(rubric: Rubric, results: list[SubmissionResult], **extra: Any) -> str:
    names = feedback_names(r.student for r in results)
    links = {student: f"{name}.html" for student, name in names.items()}
    return render_summary_html(results, rubric.exercises[:1], rubric.title, links, **extra)


def test_summary_shows_the_mutation_score_of_this_very_rubric(cache: Path, rubric: Rubric) -> None:
    record_mutation_score(summary(sha=rubric.sha256))
    shown = page_for(rubric, [result("alice", 25)], mutation=find_mutation_score(rubric.sha256))
    assert "<strong>92.1%</strong>: 35 of 40 mutants caught, 5 survived (2 suspected equivalent)" in shown
    assert "<td>ex2</td><td>88.5%</td><td>23</td><td>5</td><td>2</td><td>28</td>" in shown
    assert "2026-11-30T12:00:00+00:00" in shown


def test_summary_shows_no_score_recorded_for_another_rubric(cache: Path, rubric: Rubric) -> None:
    record_mutation_score(summary(sha=OTHER_SHA))
    changed = replace(rubric, sha256=hashlib_of("an edited rubric"))
    shown = page_for(changed, [result("alice", 25)], mutation=find_mutation_score(changed.sha256))
    assert "92.1%" not in shown and "mutants caught" not in shown
    assert "No mutation score is recorded for this rubric" in shown


def hashlib_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_batch_finds_the_score_recorded_for_its_rubric(cache: Path, rubric: Rubric, tmp_path: Path) -> None:
    """Through run_batch (no kernel: the one submission is an empty file): recorded for this rubric, shown; else not."""
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "alice.ipynb").write_text("", encoding="utf-8")
    options = BatchOptions(out=tmp_path / "out", jobs=1, only=("ex1",))
    record_mutation_score(summary(sha=OTHER_SHA))
    assert run_batch([str(tmp_path / "class")], rubric, options) == 0
    assert "mutants caught" not in (tmp_path / "out" / "summary.html").read_text(encoding="utf-8")
    record_mutation_score(summary(sha=rubric.sha256))
    assert run_batch([str(tmp_path / "class")], rubric, options) == 0
    assert "35 of 40 mutants caught" in (tmp_path / "out" / "summary.html").read_text(encoding="utf-8")


def test_every_student_row_links_to_their_feedback_page(rubric: Rubric, tmp_path: Path) -> None:
    students = ["alice", "josé", "o brien", "a+b@uni", "Alice", "<script>"]
    results = [result(s, 10) for s in students]
    shown = page_for(rubric, results)
    names = feedback_names(students)
    for name in names.values():  # the files the batch writes
        (tmp_path / "feedback").mkdir(exist_ok=True)
        (tmp_path / "feedback" / f"{name}.html").write_text("", encoding="utf-8")
    all_students = shown.split("<h2>All students</h2>")[1]
    links = re.findall(r'<tr><td><a href="([^"]*)">([^<]*)</a></td>', all_students)
    assert sorted(html.unescape(text) for _, text in links) == sorted(students)  # one linked row per student
    for href, text in links:
        target = unquote(html.unescape(href))
        assert not href.startswith(("/", "http")) and "://" not in href  # relative
        assert re.fullmatch(r"feedback/[A-Za-z0-9%._~-]+", html.unescape(href)), href  # percent-encoded: nothing to break out of
        assert (tmp_path / target).is_file(), (text, target)
        assert target == f"feedback/{names[html.unescape(text)]}.html"
    assert "<script>" not in shown
