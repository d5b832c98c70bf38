"""Assignment 05 through every way out of the grader, unchanged: batch, JUnit, Gradescope and the pytest plugin.

Each runs once, as a user runs it (the ``grade`` CLI, the example
``run_autograder``, ``pytest --grade``), on the 05 solution (and, in the batch,
the 05 template), with nothing but the 05 rubric named: five kernels in all.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import load_rubric
from tests.conftest import RUBRIC05, SOLUTION05, TEMPLATE05
from tests.integration.test_ci_integration import EXAMPLES, env_with
from tests.unit.test_ci_reporters import parse_junit, plugin_args

pytestmark = pytest.mark.kernel

pytest_plugins = ("pytester",)


def grade_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, timeout=600, check=False,
                          cwd=cwd, env=env_with())


def test_batch_grades_a_class_with_the_05_rubric(tmp_path: Path) -> None:
    (tmp_path / "class").mkdir()
    shutil.copy(SOLUTION05, tmp_path / "class" / "alice.ipynb")
    shutil.copy(TEMPLATE05, tmp_path / "class" / "bob.ipynb")
    done = grade_cli(str(tmp_path / "class"), "--out", str(tmp_path / "results"), "--rubric", str(RUBRIC05), "--jobs", "1",
                     cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    with (tmp_path / "results" / "gradebook.csv").open(encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert [(rows[s]["total"], rows[s]["ex1"], rows[s]["ex4"], rows[s]["status"]) for s in ("alice", "bob")] == [
        ("100", "25", "25", "graded"), ("0", "0", "0", "graded")]
    reports = [json.loads(line) for line in (tmp_path / "results" / "results.jsonl").read_text().splitlines()]
    assert {r["assignment"] for r in reports} == {"05_custom_autograd_and_training"}
    feedback = (tmp_path / "results" / "feedback" / "bob.md").read_text(encoding="utf-8")
    stubbed = "not attempted: every answer of this exercise is still a stub"
    assert feedback.count(stubbed) == sum(len(ex.checks) for ex in load_rubric(RUBRIC05).exercises)
    assert "## ex3: The gradient of the cross-entropy, by hand" in feedback
    assert "05: Custom autograd functions" in (tmp_path / "results" / "summary.html").read_text(encoding="utf-8")


def test_junit_and_gradescope_reports_of_the_05_solution(tmp_path: Path) -> None:
    junit, results = tmp_path / "junit.xml", tmp_path / "results.json"
    done = grade_cli(str(SOLUTION05), "--rubric", str(RUBRIC05), "--junit", str(junit), "--gradescope", str(results),
                     "--fail-under", "100", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    rubric = load_rubric(RUBRIC05)
    root = parse_junit(junit)
    assert [s.get("name") for s in root.findall("testsuite")] == [f"solution_05.{ex.id}" for ex in rubric.exercises]
    assert [c.get("name") for c in root.iter("testcase")] == [c.id for ex in rubric.exercises for c in ex.checks]
    assert (root.get("failures"), root.get("errors")) == ("0", "0")
    data = json.loads(results.read_text())
    assert data["score"] == 100
    assert len(data["tests"]) == sum(len(ex.checks) for ex in rubric.exercises)
    assert all(t["status"] == "passed" for t in data["tests"])


def test_run_autograder_grades_05_with_its_rubric_named(tmp_path: Path) -> None:
    (tmp_path / "submission").mkdir()
    shutil.copy(SOLUTION05, tmp_path / "submission" / "05_custom_autograd_and_training.ipynb")
    (tmp_path / "submission" / "scratch.ipynb").write_text("{}")  # the assignment's notebook is preferred by name
    env = env_with(AUTOGRADER_ROOT=str(tmp_path), GRADER_PYTHON=sys.executable,
                   GRADER_NOTEBOOK="05_custom_autograd_and_training.ipynb", GRADER_ARGS=f"--rubric {RUBRIC05}")
    done = subprocess.run([sys.executable, str(EXAMPLES / "gradescope" / "run_autograder")], capture_output=True, text=True,
                          timeout=600, check=False, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert data["score"] == 100, data["output"]
    assert {t["extra_data"]["check"] for t in data["tests"]} >= {"built_from_logits", "train_loop"}


def test_pytest_plugin_takes_the_05_rubric_from_tool_grader(pytester: pytest.Pytester) -> None:
    """An assignment repository that carries its own rubric and reference, named in pyproject.toml."""
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "reference").mkdir()
    shutil.copy(RUBRIC05, pytester.path / "rubrics" / RUBRIC05.name)
    shutil.copy(RUBRIC05.parent.parent / "reference" / "autograd05.py", pytester.path / "reference")
    shutil.copy(SOLUTION05, pytester.path / "05_custom_autograd_and_training.ipynb")
    pytester.makepyprojecttoml(
        f'[tool.grader]\nnotebook = "05_custom_autograd_and_training.ipynb"\nrubric = "rubrics/{RUBRIC05.name}"\n'
    )
    result = pytester.runpytest_subprocess(*plugin_args(), "-rA", timeout=600)
    rubric = load_rubric(RUBRIC05)
    assert result.parseoutcomes() == {"passed": sum(len(ex.checks) for ex in rubric.exercises)}, result.outlines
    for exercise in rubric.exercises:
        for spec in exercise.checks:
            result.stdout.fnmatch_lines([f"PASSED 05_custom_autograd_and_training.ipynb::{exercise.id}::{spec.id}*"])
