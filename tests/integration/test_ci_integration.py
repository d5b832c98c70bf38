"""CI and Gradescope on real notebooks in a real kernel (four kernel runs in all).

- the real ``grade`` CLI with ``--only ex1 --junit --gradescope --fail-under`` and a job summary;
- the example GitHub Actions workflow's grade step, run by bash in a fake assignment repo;
- the example Gradescope ``run_autograder`` against a fake ``/autograder`` layout;
- the pytest plugin on a notebook with one right and one wrong exercise, executed once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader.rubric import Rubric
from tests.conftest import ROOT, SOLUTION, MakeNotebook, solution_answers
from tests.unit.test_ci_reporters import parse_junit, plugin_args

pytestmark = pytest.mark.kernel

pytest_plugins = ("pytester",)

EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent


def env_with(**extra: str) -> dict[str, str]:
    """This environment with the venv's scripts first on PATH and no summary file unless given."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def test_cli_only_ex1_writes_junit_gradescope_summary_and_fails_under(tmp_path: Path, rubric: Rubric) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    junit, results = tmp_path / "junit.xml", tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "grader", str(SOLUTION), "--only", "ex1", "--junit", str(junit),
         "--gradescope", str(results), "--fail-under", "30"],
        capture_output=True, text=True, timeout=300, check=False, env=env_with(GITHUB_STEP_SUMMARY=str(summary)),
    )
    assert done.returncode == 1, done.stdout + done.stderr  # 25 of 25 points for ex1, under 30
    ex1 = rubric.exercise("ex1")
    root = parse_junit(junit)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["solution.ex1"]
    assert [c.get("name") for c in suites[0].iter("testcase")] == [c.id for c in ex1.checks if not c.hidden]
    assert (root.get("failures"), root.get("errors")) == ("0", "0")
    data = json.loads(results.read_text())
    assert data["score"] == ex1.max_score == 25
    assert [t["extra_data"]["check"] for t in data["tests"]] == [c.id for c in ex1.checks]
    assert all(t["status"] == "passed" and t["visibility"] == "visible" for t in data["tests"])
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n")
    assert "**Score: 25 / 25** (100%) ❌ below the pass mark of 30" in text
    assert "| ✅ | manual\\_backprop computes y at fresh points | 6 / 6 |" in text  # `_` escaped for Markdown


def test_github_workflow_grade_step_passes_the_solution(tmp_path: Path, rubric: Rubric) -> None:
    workflow = yaml.safe_load((EXAMPLES / "github-actions" / "grade.yml").read_text())
    step = next(s["run"] for s in workflow["jobs"]["grade"]["steps"] if s.get("name") == "Grade")
    repo = tmp_path / "assignment"
    repo.mkdir()
    shutil.copy(SOLUTION, repo / workflow["env"]["NOTEBOOK"])
    summary = tmp_path / "step_summary.md"
    env = env_with(**{k: str(v) for k, v in workflow["env"].items()}, GITHUB_STEP_SUMMARY=str(summary))
    env["FAIL_UNDER"] = str(rubric.max_score)  # the bundled solution earns every point
    done = subprocess.run(["bash", "-e", "-c", step], cwd=repo, capture_output=True, text=True, timeout=300, check=False, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    root = parse_junit(repo / "junit.xml")
    assert len(root.findall("testsuite")) == len(rubric.exercises)
    assert (root.get("failures"), root.get("errors")) == ("0", "0")
    assert f"reaches the pass mark of {rubric.max_score:g}" in summary.read_text(encoding="utf-8")


def test_run_autograder_grades_a_fake_gradescope_layout(tmp_path: Path, rubric: Rubric) -> None:
    (tmp_path / "submission" / "folder").mkdir(parents=True)
    shutil.copy(SOLUTION, tmp_path / "submission" / "folder" / "my work.ipynb")
    (tmp_path / "submission" / "notes.md").write_text("see notebook")
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "gradescope" / "run_autograder")], capture_output=True, text=True, timeout=600,
        check=False, cwd=tmp_path,
        env=env_with(AUTOGRADER_ROOT=str(tmp_path), GRADER_PYTHON=sys.executable, GRADER_ARGS="--only ex1"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert data["score"] == rubric.exercise("ex1").max_score, data["output"]
    assert {"score", "execution_time", "output", "stdout_visibility", "tests"} <= set(data)
    assert len(data["tests"]) == len(rubric.exercise("ex1").checks)
    assert all(t["score"] == t["max_score"] and t["output"].startswith("passed") for t in data["tests"])


WRONG_EX2 = """
import math

class DualNumber:
    def __init__(self, value, deriv=0.0):
        self.value, self.deriv = value, deriv
    def __add__(self, other):
        o = other if isinstance(other, DualNumber) else DualNumber(other)
        return DualNumber(self.value + o.value, self.deriv + o.deriv)
    def __mul__(self, other):
        o = other if isinstance(other, DualNumber) else DualNumber(other)
        return DualNumber(self.value * o.value, self.deriv * o.value + self.value * o.deriv)
    __radd__, __rmul__ = __add__, __mul__
    def __pow__(self, n):
        return DualNumber(self.value ** n, n * self.value ** (n - 1) * self.deriv)
    def sin(self):
        return DualNumber(math.sin(self.value), -self.deriv * math.cos(self.value))  # wrong sign
    def cos(self):
        return DualNumber(math.cos(self.value), -self.deriv * math.sin(self.value))
"""

COUNTING_CONFTEST = """
from pathlib import Path

import grader.pipeline

runs = []
_execute = grader.pipeline.execute_submission


def _counting(*args, **kwargs):
    runs.append(1)
    return _execute(*args, **kwargs)


grader.pipeline.execute_submission = _counting


def pytest_sessionfinish(session):
    Path("executions.txt").write_text(str(len(runs)))
"""


def test_pytest_plugin_grades_once_with_passing_and_failing_items(
    pytester: pytest.Pytester, make_notebook: MakeNotebook, rubric: Rubric
) -> None:
    notebook = make_notebook("my_notebook", solution_answers()["ex1"], WRONG_EX2)
    shutil.copy(notebook, pytester.path / "my_notebook.ipynb")
    pytester.makeconftest(COUNTING_CONFTEST)
    result = pytester.runpytest_subprocess(
        *plugin_args(), "--grade", "my_notebook.ipynb", "--grade-rubric", "04_automatic_differentiation",
        "--grade-only", "ex1", "--grade-only", "ex2", "-rA",
        timeout=600,
    )
    ex1 = [c.id for c in rubric.exercise("ex1").checks if not c.hidden]
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= len(ex1) and outcomes.get("failed", 0) >= 1, result.outlines
    for check_id in ex1:
        result.stdout.fnmatch_lines([f"PASSED my_notebook.ipynb::ex1::{check_id}*"])
    result.stdout.fnmatch_lines(["FAILED my_notebook.ipynb::ex2::sin_rule*"])
    result.stdout.fnmatch_lines(["*ex2 / sin_rule: sin(*", "*: * / 7 points", "*", "hint: *(chain rule)."])
    assert "Traceback" not in result.stdout.str()
    assert (pytester.path / "executions.txt").read_text() == "1"  # graded once, not once per item
