"""Batch bookkeeping without a kernel: discovery, resume keys, the results file, CSV, feedback, summary, workers."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import grader
from grader.batch import BatchOptions, _restart_results_file, hidden_folders, longest_first, plan, run_batch
from grader.batch import store as store_module
from grader.batch.discovery import Candidate, discover, unmatched_globs
from grader.batch.remote import RubricBundle
from grader.batch.store import Record, Settings, append_line, load_records, resume_key, reusable, write_atomic
from grader.batch.workers import Job, LocalPool
from grader.reporters.feedback import feedback_names, render_html, render_markdown
from grader.reporters.gradebook import number, render_gradebook
from grader.reporters.summary import most_failed, problem_kind, render_summary_html, render_table
from grader.results import CheckResult, ExerciseResult, Outcome, SubmissionResult
from grader.rubric import Limits, Rubric
from grader.scoring import apply_overrides

# Batch grading is POSIX-only today (an fcntl lock on the results folder, Unix file modes, the workers'
# parent-death signal); students on Windows grade one notebook at a time (README "Platforms").
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="batch grading is POSIX-only (fcntl lock, file modes, signals)")

NOTEBOOK = "04_automatic_differentiation.ipynb"


def touch(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def students(found: list[Candidate]) -> dict[str, Candidate]:
    return {c.student: c for c in found}


def result(student: str, scores: dict[str, float], status: str = "graded", **changes: Any) -> SubmissionResult:
    """A hand-built result: one check per exercise, worth 10, scored as given."""
    exercises = tuple(
        ExerciseResult(ex, f"Exercise {ex}", score, 10.0, (CheckResult("c", f"check of {ex}", _outcome(score), score, 10.0, "why"),))
        for ex, score in scores.items()
    )
    base = SubmissionResult(
        submission=f"{student}.ipynb", student=student, assignment="a04", status=status, score=sum(scores.values()),
        max_score=10.0 * len(scores), exercises=exercises, errors=(), duration_s=1.5,
    )
    return replace(base, **changes)


def _outcome(score: float) -> Outcome:
    return Outcome.PASSED if score >= 10 else (Outcome.FAILED if score == 0 else Outcome.PARTIAL)


# --- discovery ------------------------------------------------------------------------------------


def test_class_folder_of_files_one_student_each(tmp_path: Path) -> None:
    for name in ("alice.ipynb", "bob.py", "carol.pdf", ".DS_Store", ".ipynb_checkpoints/alice-checkpoint.ipynb"):
        touch(tmp_path / "class" / name)
    found = students(discover([str(tmp_path / "class")], NOTEBOOK))
    assert sorted(found) == ["alice", "bob", "carol"]  # carol's PDF becomes an error row when graded
    assert found["bob"].path.name == "bob.py" and not found["bob"].problem


def test_class_folder_of_student_folders(tmp_path: Path) -> None:
    root = tmp_path / "subs"
    touch(root / "alice" / NOTEBOOK)
    touch(root / "bob" / "deep" / "work.ipynb")
    touch(root / "bob" / ".ipynb_checkpoints" / "work-checkpoint.ipynb")
    touch(root / "bob" / "work-checkpoint.ipynb")
    touch(root / "carol" / "a.ipynb")
    touch(root / "carol" / "b.ipynb")
    touch(root / "dave" / NOTEBOOK)
    touch(root / "dave" / "draft.ipynb")
    touch(root / "erin" / "helpers.txt")
    touch(root / "frank" / "solution.py")
    found = students(discover([str(root)], NOTEBOOK))
    assert sorted(found) == ["alice", "bob", "carol", "dave", "erin", "frank"]
    assert found["alice"].path == root / "alice" / NOTEBOOK
    assert found["bob"].path == root / "bob" / "deep" / "work.ipynb" and not found["bob"].problem
    assert found["carol"].problem == "ambiguous submission (found a.ipynb, b.ipynb)"
    assert found["dave"].path.name == NOTEBOOK and "draft.ipynb" in found["dave"].note
    assert "no notebook" in found["erin"].problem
    assert found["frank"].path.name == "solution.py"


def test_ambiguity_is_reported_without_a_rubric_notebook(tmp_path: Path) -> None:
    touch(tmp_path / "s" / "alice" / NOTEBOOK)
    touch(tmp_path / "s" / "alice" / "other.ipynb")
    (found,) = discover([str(tmp_path / "s")], notebook="")
    assert found.problem == f"ambiguous submission (found {NOTEBOOK}, other.ipynb)"


def test_student_folder_named_directly_and_by_glob(tmp_path: Path) -> None:
    touch(tmp_path / "s" / "alice" / NOTEBOOK)
    touch(tmp_path / "s" / "bob" / "mine.ipynb")
    assert [c.student for c in discover([str(tmp_path / "s" / "alice")], NOTEBOOK)] == ["alice"]
    found = discover([str(tmp_path / "s" / "*")], NOTEBOOK)
    assert [(c.student, c.path.name) for c in found] == [("alice", NOTEBOOK), ("bob", "mine.ipynb")]


def test_glob_of_files_and_the_assignment_notebook_takes_its_folder_name(tmp_path: Path) -> None:
    touch(tmp_path / "s" / "alice" / NOTEBOOK)
    touch(tmp_path / "s" / "bob" / NOTEBOOK)
    found = discover([str(tmp_path / "s" / "*" / "*.ipynb")], NOTEBOOK)
    assert [c.student for c in found] == ["alice", "bob"]
    assert discover([str(tmp_path / "nothing-*.ipynb")], NOTEBOOK) == []
    assert unmatched_globs([str(tmp_path / "nothing-*.ipynb"), str(tmp_path / "s" / "*")]) == [str(tmp_path / "nothing-*.ipynb")]


def test_two_submissions_for_one_student_make_one_error_row(tmp_path: Path) -> None:
    a = touch(tmp_path / "alice.ipynb")
    touch(tmp_path / "alice.py")
    (found,) = discover([str(tmp_path / "alice.ipynb"), str(tmp_path / "alice.py"), str(a)], NOTEBOOK)
    assert found.student == "alice" and found.problem.startswith("several submissions for this student")


def test_missing_file_is_still_a_candidate(tmp_path: Path) -> None:
    (found,) = discover([str(tmp_path / "ghost.ipynb")], NOTEBOOK)
    assert found.student == "ghost" and not found.problem


# --- resume keys and the results file -----------------------------------------------------------


def test_resume_key_follows_content_rubric_version_and_settings(tmp_path: Path, rubric: Rubric, monkeypatch: pytest.MonkeyPatch) -> None:
    path = touch(tmp_path / "alice.ipynb", "one")
    settings = Settings((), Limits())
    key = resume_key(path, rubric, settings)
    assert key is not None and key == resume_key(path, rubric, settings)
    assert key != resume_key(path, replace(rubric, sha256="other"), settings)
    assert key != resume_key(path, rubric, Settings(("ex1",), Limits()))
    assert key != resume_key(path, rubric, Settings((), Limits(cell_timeout_s=5)))
    assert key == resume_key(path, rubric, Settings((), Limits(), hide=(tmp_path,)))  # hiding does not change scores
    monkeypatch.setattr(store_module, "__version__", "9.9")
    assert key != resume_key(path, rubric, settings)
    monkeypatch.undo()
    path.write_text("two", encoding="utf-8")
    assert key != resume_key(path, rubric, settings)
    assert resume_key(tmp_path / "missing.ipynb", rubric, settings) is None


def test_results_file_skips_cut_off_and_garbage_lines_and_last_line_wins(tmp_path: Path, rubric: Rubric) -> None:
    path = tmp_path / "results.jsonl"
    key = resume_key(touch(tmp_path / "alice.ipynb"), rubric, Settings((), Limits()))
    old = Record(result("alice", {"ex1": 3}), key, "t0").line()
    new = Record(result("alice", {"ex1": 7}), key, "t1").line()
    bob = Record(result("bob", {"ex1": 10}), None, "t2").line()
    path.write_text(f"{old}\nnot json\n{new}\n{bob}\n{bob[:40]}", encoding="utf-8")
    stored = load_records(path)
    assert sorted(stored) == ["alice", "bob"] and stored["alice"]["batch"]["graded_at"] == "t1"
    again = reusable(stored["alice"], key)
    assert again is not None and again.score == 7
    assert reusable(stored["bob"], key) is None  # stored without a key: never reused


def test_reuse_takes_overrides_back_out(tmp_path: Path, rubric: Rubric) -> None:
    key = resume_key(touch(tmp_path / "alice.ipynb"), rubric, Settings((), Limits()))
    automatic = result("alice", {"ex1": 4, "ex2": 10})
    overridden = apply_overrides(automatic, {"ex1/c": {"score": 9, "comment": "fine"}})
    assert overridden.score == 19
    stored = json.loads(Record(overridden, key, "t").line())
    back = reusable(stored, key)
    assert back is not None and back.score == 14 and back.exercises[0].checks[0].override is None


def test_plan_reuses_unchanged_regrades_changed_and_force(tmp_path: Path, rubric: Rubric) -> None:
    settings = Settings((), Limits())
    alice, bob = touch(tmp_path / "alice.ipynb", "a"), touch(tmp_path / "bob.ipynb", "b")
    stored = {
        "alice": json.loads(Record(result("alice", {"ex1": 5}), resume_key(alice, rubric, settings), "t").line()),
        "bob": json.loads(Record(result("bob", {"ex1": 5}), resume_key(bob, rubric, settings), "t").line()),
    }
    bob.write_text("changed", encoding="utf-8")
    candidates = [Candidate("alice", alice), Candidate("bob", bob), Candidate("carol", tmp_path, problem="ambiguous submission (x)")]
    options = BatchOptions(out=tmp_path / "out")
    records, jobs = plan(candidates, rubric, settings, stored, options)
    assert [j.student for j in jobs] == ["bob"]
    assert records["alice"].result.score == 5 and records["alice"].graded_at == "t"
    assert records["carol"].result.status == "error" and records["carol"].key is None
    _, jobs = plan(candidates, rubric, settings, stored, replace(options, force=True))
    assert [j.student for j in jobs] == ["alice", "bob"]
    records, _ = plan(candidates, rubric, settings, stored, replace(options, overrides={"alice": {"ex1/c": {"score": 9}}}))
    assert records["alice"].result.score == 9 and records["alice"].result.exercises[0].checks[0].override is not None


def test_longest_first_starts_last_run_s_slowest_and_treats_the_unknown_as_typical() -> None:
    jobs = [Job(student, Path(f"{student}.ipynb"), None) for student in ("ann", "ben", "cat", "dan", "eve")]
    durations = {"ann": 1.0, "ben": 8.3, "cat": 1.0, "dan": 2.0, "gone": 3.0}  # eve is new; the typical run is 2.0 s
    assert [j.student for j in longest_first(jobs, durations)] == ["ben", "dan", "eve", "ann", "cat"]
    junk = {"ann": "8", "ben": float("nan"), "cat": -1.0, "dan": True, "eve": None}
    assert [j.student for j in longest_first(jobs, junk)] == ["ann", "ben", "cat", "dan", "eve"]  # nothing believable: as given


@posix_only
def test_a_regrade_starts_with_the_submissions_that_took_longest_last_time(rubric: Rubric, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # one that ran until its time limit, started last, would alone decide when the class ends
    for student in ("alice", "bob", "carol"):
        touch(tmp_path / "class" / f"{student}.ipynb")
    took = {"alice": 1.2, "bob": 9.0, "carol": 2.5}
    orders: list[list[str]] = []

    def backend(jobs: list[Job], *_: Any) -> Any:
        orders.append([job.student for job in jobs])
        for job in jobs:
            yield job, ("ok", result(job.student, {"ex1": 10.0}, duration_s=took[job.student]).as_dict())

    monkeypatch.setattr(grader.batch, "_backend", backend)
    options = BatchOptions(out=tmp_path / "out", jobs=1, only=("ex1",), force=True)
    assert run_batch([str(tmp_path / "class")], rubric, options) == 0
    assert run_batch([str(tmp_path / "class")], rubric, options) == 0
    assert orders == [["alice", "bob", "carol"], ["bob", "carol", "alice"]]
    assert [row["student"] for row in csv.DictReader(io.StringIO((tmp_path / "out" / "gradebook.csv").read_text()))] == ["alice", "bob", "carol"]


def test_the_results_folder_is_never_a_submission(tmp_path: Path) -> None:
    touch(tmp_path / "class" / "alice.ipynb")
    touch(tmp_path / "class" / "results" / "feedback" / "alice.md")
    assert [c.student for c in discover([str(tmp_path / "class")], NOTEBOOK, exclude=tmp_path / "class" / "results")] == ["alice"]


def test_old_lines_stay_until_their_regrade_arrives(tmp_path: Path, rubric: Rubric) -> None:
    path = tmp_path / "results.jsonl"
    key = resume_key(touch(tmp_path / "alice.ipynb"), rubric, Settings((), Limits()))
    old_alice = json.loads(Record(result("alice", {"ex1": 3}), key, "t0").line())
    bob = Record(result("bob", {"ex1": 10}), None, "t1")
    path.write_text("cut-off li", encoding="utf-8")
    _restart_results_file(path, {"bob": bob}, [old_alice])
    assert sorted(load_records(path)) == ["alice", "bob"]  # a --force run interrupted now loses nothing
    append_line(path, Record(result("alice", {"ex1": 7}), key, "t2").line())
    assert load_records(path)["alice"]["score"] == 7


# --- atomic writing -------------------------------------------------------------------------------


@posix_only
def test_write_atomic_replaces_whole_files_and_leaves_no_temporaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "gradebook.csv"
    write_atomic(target, "old\n")
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n" and os.listdir(target.parent) == ["gradebook.csv"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~store_module.umask()

    def broken(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store_module.os, "replace", broken)
    with pytest.raises(OSError):
        write_atomic(target, "half-written")
    assert target.read_text() == "new\n" and os.listdir(target.parent) == ["gradebook.csv"]


def test_append_line_writes_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    append_line(path, '{"a": 1}')
    append_line(path, '{"b": 2}')
    assert path.read_text().splitlines() == ['{"a": 1}', '{"b": 2}']


# --- reporters ------------------------------------------------------------------------------------


def test_gradebook_csv_is_sorted_escaped_and_plain() -> None:
    rows = [
        result("bob", {"ex1": 2.5, "ex2": 10}),
        result("=cmd|' /C calc'!A0", {"ex1": 0, "ex2": 0}),
        result("Alice", {"ex1": 10 / 3, "ex2": 0}),
        result("zoe", {"ex1": 0}, status="error", reason="ambiguous submission (found a.ipynb, b.ipynb)"),
    ]
    text = render_gradebook(rows, ["ex1", "ex2"])
    assert text.endswith("\r\n")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["student", "total", "ex1", "ex2", "status", "reason", "duration_s"]
    assert [r[0] for r in table[1:]] == ["'=cmd|' /C calc'!A0", "Alice", "bob", "zoe"]
    assert table[2][1:4] == ["3.33", "3.33", "0"]
    assert table[3][1:5] == ["12.5", "2.5", "10", "graded"]
    assert table[4][2:6] == ["0", "", "error", "ambiguous submission (found a.ipynb, b.ipynb)"]
    assert table[4][6] == "1.5"


@pytest.mark.parametrize(("value", "text"), [(25.0, "25"), (12.5, "12.5"), (3.333333, "3.33"), (0.0, "0"), (-0.0, "0"), (1e7, "10000000")])
def test_numbers_for_an_lms(value: float, text: str) -> None:
    assert number(value) == text


def test_feedback_escapes_student_text_and_leaves_hidden_checks_out() -> None:
    hostile = "<script>alert(1)</script> *bold* [x](javascript:y)"
    base = result("mallory<img>", {"ex1": 0})
    check = replace(base.exercises[0].checks[0], message=hostile, hints=("look at s",))
    hidden = replace(check, id="h", title="secret check", hidden=True)
    exercise = replace(base.exercises[0], checks=(check, hidden))
    graded = replace(base, exercises=(exercise,), errors=("cell 3 raised ValueError: <b>",))
    page = render_html(graded)
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>" not in page and "mallory&lt;img&gt;" in page
    assert "Content-Security-Policy" in page and "secret check" not in page and "hint: look at s" in page
    markdown = render_markdown(graded)
    assert "\\<script\\>" in markdown and "\\*bold\\*" in markdown and "\\[x\\]" in markdown and "secret check" not in markdown
    failed = render_markdown(replace(base, status="error", reason="not a valid notebook"))
    assert "could not be graded" in failed and "not a valid notebook" in failed


def test_feedback_file_names_are_safe_and_unique() -> None:
    names = feedback_names(["alice", "../etc/passwd", "Alice", "o brien", ".hidden", "josé"])
    assert len(set(names.values())) == 6
    assert names["Alice"] == "Alice" and names["alice"].startswith("alice-")  # no clash on a case-insensitive disk
    assert names["josé"] == "josé" and names["o brien"] == "o_brien" and names["../etc/passwd"].startswith("_etc_passwd")
    assert all("/" not in n and not n.startswith(".") for n in names.values())


def test_summary_page_holds_plots_and_lists_problems(rubric: Rubric) -> None:
    rows = [
        result("alice", {"ex1": 10, "ex2": 10}),
        result("bob", {"ex1": 0, "ex2": 5}, errors=("cell 4 ran past its 2s time limit and was interrupted",)),
        result("$\\frac{carol", {"ex1": 0, "ex2": 0}, status="error", reason="the file is empty", duration_s=9.0),
    ]
    exercises = list(rubric.exercises[:2])
    page = render_summary_html(rows, exercises, "A04", {"alice": "alice.html"})
    assert page.count('<figure class="chart"') == 4 and page.count("<svg ") == 3 + 3  # three bar charts, a histogram per exercise and the total
    assert 'href="feedback/alice.html"' in page and "the file is empty" in page
    assert [f.key for f in most_failed(rows)] == ["ex1/c", "ex2/c"]
    assert [problem_kind(r) for r in rows] == ["", "timed out", "could not be graded"]
    table = render_table(rows, exercises)
    assert "total" in table and "3 submissions: 2 graded, 1 could not be graded" in table


# --- workers --------------------------------------------------------------------------------------


def fake_grade(job: Job, rubric: Rubric, settings: Settings) -> dict[str, Any]:
    """Stands in for grading in a worker: 'boom' kills its process, 'slow' hangs, 'bug' raises."""
    if job.student == "boom":
        os._exit(3)
    if job.student == "slow":
        time.sleep(60)
    if job.student == "orphan":  # like a kernel: a process of its own session, to be killed with its worker
        try:
            child = subprocess.Popen(["sleep", "60"], start_new_session=True)
            job.path.write_text(str(child.pid))
            time.sleep(60)
        finally:
            job.path.with_suffix(".cleaned").touch()
    if job.student == "bug":
        raise RuntimeError("grader bug")
    return result(job.student, {"ex1": 10}, sha256=str(os.getpid())).as_dict()


@posix_only
def test_a_dying_or_hanging_worker_costs_only_its_submission(rubric: Rubric, tmp_path: Path) -> None:
    names = ["a", "boom", "b", "slow", "orphan", "bug", "c"]
    jobs = [Job(n, tmp_path / f"{n}.ipynb", None) for n in names]
    with LocalPool(2, rubric, Settings((), Limits()), grade=fake_grade, watchdog_s=3) as pool:
        replies = {job.student: reply for job, reply in pool.run(jobs)}
    assert sorted(replies) == sorted(names)
    assert all(replies[n][0] == "ok" for n in "abc")
    assert replies["boom"][0] == "failed" and "died" in replies["boom"][1] and "exit status 3" in replies["boom"][1]
    assert replies["slow"][0] == "failed" and "longer than 3s" in replies["slow"][1]
    assert replies["bug"][0] == "failed" and "RuntimeError: grader bug" in replies["bug"][1]
    assert os.getpid() not in {int(replies[n][1]["sha256"]) for n in "abc"}  # graded in other processes
    assert replies["orphan"][0] == "failed" and (tmp_path / "orphan.cleaned").exists()
    assert gone(int((tmp_path / "orphan.ipynb").read_text()))


START_UP_S = 1.0
_started_up = False  # per worker process (spawned workers import this module afresh)


def grade_with_start_up(job: Job, rubric: Rubric, settings: Settings) -> dict[str, Any]:
    """Stands in for the pipeline: its first call in a process pays a start-up, unless the process warmed up first.

    Like grade_submission, it measures its own time from when it is called, and
    a file it cannot load (*.bad here) is answered at once, before any start-up.
    """
    global _started_up
    started = time.monotonic()
    if job.student == "boom":
        os._exit(3)
    if job.path.suffix == ".bad":
        return result(job.student, {"ex1": 0}, status="error", duration_s=0.0, sha256=str(os.getpid())).as_dict()
    if not _started_up:
        time.sleep(START_UP_S)
        _started_up = True
    time.sleep(0.1)  # the submission's own work
    return result(job.student, {"ex1": 10}, duration_s=round(time.monotonic() - started, 3), sha256=str(os.getpid())).as_dict()


def fake_warm_up(path: Path, rubric: Rubric, settings: Settings) -> bool:
    """Pays the start-up, except before a submission that cannot be loaded (named *.bad here): that one needs no kernel."""
    global _started_up
    if path.suffix == ".bad":
        return False
    with open(path.with_name(f"warm-up-{os.getpid()}"), "a") as calls:
        calls.write("warmed up\n")
    time.sleep(START_UP_S)
    _started_up = True
    return True


@pytest.mark.parametrize("warm", [False, True], ids=["start-up-in-first-jobs", "warmed-up-workers"])
def test_a_submission_is_timed_without_its_worker_start_up(rubric: Rubric, tmp_path: Path, warm: bool) -> None:
    """Without warm-up each worker's first submission carries its start-up (the control); with it, none does,
    a replacement worker's included, and a worker warms up once, at its first loadable submission."""
    names = ["a.bad", "boom", "b", "c", "d", "e", "f"]  # the second worker dies on "boom" at once: a third replaces it
    jobs = [Job(Path(n).stem, tmp_path / n, None) for n in names]
    with LocalPool(2, rubric, Settings((), Limits()), grade=grade_with_start_up, warm_up=fake_warm_up if warm else None) as pool:
        replies = {job.student: reply for job, reply in pool.run(jobs)}
    assert replies["boom"][0] == "failed"
    durations = {s: r[1]["duration_s"] for s, r in replies.items() if r[0] == "ok"}
    workers = {r[1]["sha256"] for r in replies.values() if r[0] == "ok"}
    assert len(workers) == 2  # the first worker and the one that replaced "boom"'s
    if warm:
        assert max(durations.values()) < START_UP_S / 2, durations
        warmed = {p.name.removeprefix("warm-up-"): p.read_text().count("\n") for p in tmp_path.glob("warm-up-*")}
        assert len(warmed) == 3 and workers < set(warmed) and set(warmed.values()) == {1}  # "boom"'s worker warmed up too, then died
    else:
        assert sum(d >= START_UP_S for d in durations.values()) == len(workers), durations


def gone(pid: int, within_s: float = 5.0) -> bool:
    """The process has ended (a zombie waiting for init to reap it counts as ended)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_rubric_travels_as_bytes_and_rebuilds_the_same(rubric: Rubric, tmp_path: Path) -> None:
    rebuilt = RubricBundle.of(rubric).materialize(tmp_path)
    assert rebuilt.sha256 == rubric.sha256 and rebuilt.exercises == rubric.exercises
    assert rebuilt.reference_path.read_bytes() == rubric.reference_path.read_bytes()
    assert tmp_path in rebuilt.reference_path.parents


def test_hidden_folders_cover_submissions_and_results_but_not_the_grader(tmp_path: Path) -> None:
    candidates = [Candidate("a", touch(tmp_path / "class" / "a.ipynb")), Candidate("b", touch(tmp_path / "class" / "sub" / "b.ipynb"))]
    hidden = hidden_folders(candidates, tmp_path / "out")
    assert set(hidden) == {(tmp_path / "class").resolve(), (tmp_path / "out").resolve()}
    here = [Candidate("x", Path(grader.__file__)), Candidate("y", Path("/tmp/y.ipynb"))]
    assert hidden_folders(here, tmp_path / "out") == ((tmp_path / "out").resolve(),)


@posix_only
def test_a_batch_of_unusable_files_needs_no_kernel_and_resumes(rubric: Rubric, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    touch(tmp_path / "class" / "empty.ipynb", "")
    touch(tmp_path / "class" / "broken.py", "def (:\n")
    touch(tmp_path / "class" / "dave" / "a.ipynb")
    touch(tmp_path / "class" / "dave" / "b.ipynb")
    out = tmp_path / "out"
    options = BatchOptions(out=out, jobs=2, only=("ex1",))
    assert run_batch([str(tmp_path / "class")], rubric, options) == 0
    table = list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text(encoding="utf-8"))))
    assert [(r["student"], r["status"]) for r in table] == [("broken", "error"), ("dave", "error"), ("empty", "error")]
    assert "SyntaxError" in table[0]["reason"] and table[1]["reason"] == "ambiguous submission (found a.ipynb, b.ipynb)"
    assert "graded now: 2, reused: 0" in capsys.readouterr().out
    assert run_batch([str(tmp_path / "class")], rubric, options) == 0
    assert "graded now: 0, reused: 2" in capsys.readouterr().out
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
    assert sorted(p.name for p in (out / "feedback").iterdir()) == [f"{s}.{e}" for s in ("broken", "dave", "empty") for e in ("html", "md")]


def test_a_batch_result_of_another_assignment_s_notebook_carries_the_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader import load_rubric, pipeline
    from grader.batch import workers
    from grader.results import SubmissionResult
    from grader.rubric import Limits
    from tests.conftest import RUBRIC

    monkeypatch.setattr(pipeline, "grade_submission",
                        lambda path, rubric, options: SubmissionResult(str(path), "amy", rubric.assignment, "graded", 0.0, 100.0, (), (), 0.1))
    cells = ["class LeakyReLUFunction(torch.autograd.Function):\n    def forward(ctx, x, s):\n        return x\n",
             "def softmax(z):\n    return z\n", "def cross_entropy_grad(a, b):\n    return a\n", "def train(m, x, t, lr, n):\n    return []\n"]
    body = [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [], "execution_count": None} for s in cells]
    path = tmp_path / "amy.ipynb"
    path.write_text(json.dumps({"cells": body, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}))
    rubric = load_rubric(RUBRIC)
    data = workers.grade_job(workers.Job("amy", path, None), rubric, Settings((), Limits()))
    assert data["errors"][0].startswith("this file defines the answers of assignment 05_custom_autograd_and_training (4 of 4 exercises), "
                                        "not those of 04_automatic_differentiation")
    own = tmp_path / "bob.ipynb"
    own.write_text(json.dumps({"cells": [{**body[0], "source": "def manual_backprop(a, b, c):\n    pass\n"}], "metadata": {},
                                "nbformat": 4, "nbformat_minor": 4}))
    assert workers.grade_job(workers.Job("bob", own, None), rubric, Settings((), Limits()))["errors"] == []


def test_each_feedback_is_written_as_its_result_arrives_and_only_once(rubric: Rubric, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # an instructor can read a student's feedback while the class is graded, and the batch's tail is not 2 files per student
    for student in ("alice", "bob"):
        touch(tmp_path / "class" / f"{student}.ipynb")
    out = tmp_path / "out"
    present_when_bob_arrives: list[str] = []

    def backend(jobs: list[Job], *_: Any) -> Any:
        for job in jobs:
            if job.student == "bob":
                present_when_bob_arrives.extend(sorted(p.name for p in (out / "feedback").iterdir()))
            yield job, ("ok", result(job.student, {"ex1": 10.0 if job.student == "alice" else 0.0}).as_dict())

    written: list[str] = []
    real_write = grader.batch.write_atomic

    def counting_write(path: Path, text: str) -> None:
        written.append(path.name)
        real_write(path, text)

    monkeypatch.setattr(grader.batch, "_backend", backend)
    monkeypatch.setattr(grader.batch, "write_atomic", counting_write)
    assert run_batch([str(tmp_path / "class")], rubric, BatchOptions(out=out, jobs=1, only=("ex1",))) == 0
    assert present_when_bob_arrives == ["alice.html", "alice.md"]
    assert sorted(name for name in written if name.startswith(("alice.", "bob."))) == ["alice.html", "alice.md", "bob.html", "bob.md"]
    assert "check of ex1" in (out / "feedback" / "bob.md").read_text(encoding="utf-8")
    assert 'href="feedback/bob.html"' in (out / "summary.html").read_text(encoding="utf-8")
