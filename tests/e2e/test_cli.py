"""The `grade` command as students and CI meet it: real process, real kernel, exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ROOT, SOLUTION, TEMPLATE

pytestmark = pytest.mark.kernel


def grade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_solution_scores_full_marks_as_one_json_object() -> None:
    done = grade(str(SOLUTION), "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "graded"
    assert report["score"] == report["max_score"] == 100
    assert [ex["id"] for ex in report["exercises"]] == ["ex1", "ex2", "ex3", "ex4"]
    failed = [(ex["id"], c["id"], c["message"]) for ex in report["exercises"] for c in ex["checks"] if not c["passed"]]
    assert failed == []
    assert report["errors"] == []
    assert set(report) >= {"submission", "assignment", "score", "max_score", "status", "exercises", "errors", "duration_s"}
    assert "answer_digests" not in report["environment"]  # only `grade check-rubric` asks for them


def test_template_scores_zero_with_not_attempted_messages_and_no_traceback() -> None:
    done = grade(str(TEMPLATE), "--fail-under", "10")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "Score: 0 / 100" in done.stdout
    assert done.stdout.count("not attempted") >= 8
    assert "[PASS]" not in done.stdout


def test_python_module_split_at_cell_markers_and_a_long_cell_is_reported_while_it_runs(tmp_path: Path) -> None:
    nb = nbformat.read(SOLUTION, as_version=4)
    cells = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    cells.append("import time\n\ntime.sleep(6)  # a slow cell, within its limit")
    module = tmp_path / "04_automatic_differentiation.py"  # a module carries no metadata: its name says the assignment
    module.write_text("\n\n".join("# %%\n" + source for source in cells))
    done = grade(str(module), "--only", "ex1", "--only", "ex2", "--format", "json")
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["score"] == report["max_score"] == 50, report
    # stdout stays one JSON object; stderr says which cell runs long (as the student finds it) and how long it has left
    assert done.stderr.splitlines() == [
        "grade: assignment 04_automatic_differentiation (its file name matches)",
        f'code cell {len(cells)} (it starts "import time") is still running after 5 s; its time limit stops it in 55 s',
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"cells": [', "not a valid notebook: JSON error at line 1 column 12"),
        ('{"cells": [], "metadata": {}, "nbformat": 3, "nbformat_minor": 0}', "notebook format version 3 is not supported"),
    ],
)
def test_unusable_file_exits_2_with_one_line_reason(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    done = grade(str(path), "--format", "json")
    assert done.returncode == 2
    report = json.loads(done.stdout)
    assert report["status"] == "error" and report["score"] == 0
    assert reason in report["reason"] and "\n" not in report["reason"]


def test_bad_arguments_exit_2() -> None:
    done = grade(str(SOLUTION), "--only", "ex9")
    assert done.returncode == 2
    assert "--only ex9: no such exercise (choose from ex1, ex2, ex3, ex4)" in done.stderr


def test_help_does_not_import_torch() -> None:
    code = "import sys; from grader.cli import main; assert 'torch' not in sys.modules and 'nbclient' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    assert grade("--help").returncode == 0


def test_instructor_overrides_are_applied_and_shown_and_the_student_file_is_never_modified(tmp_path: Path) -> None:
    path = tmp_path / TEMPLATE.name  # the overrides name the student, taken from the file's name
    path.write_bytes(TEMPLATE.read_bytes())
    before = path.read_bytes(), path.stat().st_mtime_ns
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("04_automatic_differentiation:\n  ex1/values: {score: 5, comment: partial credit by hand}\n")
    done = grade(str(path), "--only", "ex1", "--overrides", str(overrides), "--format", "json")
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    report = json.loads(done.stdout)
    values = report["exercises"][0]["checks"][0]
    assert (report["score"], values["score"], values["override"]["auto_score"]) == (5, 5, 0)
    assert values["override"]["comment"] == "partial credit by hand"
