"""Shared fixtures: the bundled rubric, notebook builders and a grading helper.

Integration tests build small real notebooks (the lesson's setup cell plus the
answer cells under test) and grade them in a real kernel.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from grader import load_rubric
from grader.pipeline import Options, grade_submission
from grader.results import CheckResult, SubmissionResult
from grader.rubric import Rubric

# A `grade` that a test runs leaves no warm-kernel server behind (tests/integration/test_kept_server.py turns it on for itself).
os.environ["GRADER_KEEP_WARM"] = "0"

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "reference" / "solution.ipynb"
TEMPLATE = ROOT / "exercises" / "04_automatic_differentiation.ipynb"
RUBRIC = ROOT / "rubrics" / "04_automatic_differentiation.yaml"
SOLUTION05 = ROOT / "reference" / "solution_05.ipynb"  # assignment 05: no grader code, only a rubric, a reference and notebooks
TEMPLATE05 = ROOT / "exercises" / "05_custom_autograd_and_training.ipynb"
RUBRIC05 = ROOT / "rubrics" / "05_custom_autograd_and_training.yaml"
SETUP = "import math\nimport numpy as np\nimport torch\nfrom torch import nn\ntorch.manual_seed(0)\n"


# The slowest modules, slowest first (by `--durations`). `pytest -n 2` schedules with `--dist worksteal` (pyproject.toml):
# a worker that runs out takes over the end of the other's queue, so a long test left for the end would keep one worker
# busy while the other idles. These go first, then the other kernel tests, and the quick unit tests fill the end.
SLOW_FIRST = (
    "integration/test_check_rubric.py",
    "integration/test_kit.py",
    "integration/test_batch.py",
    "integration/test_portable.py",
    "security/test_processes_and_output.py",
    "integration/test_ci_integration.py",
    "unit/test_live.py",
    "integration/test_live_grade.py",
    "integration/test_warm_kernels.py",
    "security/test_batch_survives.py",
    "integration/test_assignment05_outputs.py",
    "unit/test_code_quality.py",
    "unit/test_batch_units.py",
    "security/test_kernel_faults.py",
    "e2e/test_cli.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slowest modules first, then the other kernel tests, then the rest (each in collection order)."""

    def rank(item: pytest.Item) -> int:
        module = item.path.relative_to(ROOT / "tests").as_posix() if item.path.is_relative_to(ROOT / "tests") else ""
        if module in SLOW_FIRST:
            return SLOW_FIRST.index(module)
        return len(SLOW_FIRST) + (0 if item.get_closest_marker("kernel") else 1)

    items.sort(key=rank)


def solution_answers() -> dict[str, str]:
    """The solved answer cells of the reference notebook, by exercise id."""
    nb = nbformat.read(SOLUTION, as_version=4)
    return {cell["id"].split("-")[0]: cell["source"] for cell in nb.cells if cell.get("id", "").endswith("-answer")}


@pytest.fixture(scope="session")
def rubric() -> Rubric:
    return load_rubric(RUBRIC)


@pytest.fixture(scope="session")
def answers() -> dict[str, str]:
    return solution_answers()


MakeNotebook = Callable[..., Path]


@pytest.fixture
def make_notebook(tmp_path: Path) -> MakeNotebook:
    """Write a small notebook: the setup cell, then the given code cells (dedented), in order."""

    def make(name: str, *cells: str, setup: bool = True) -> Path:
        sources = ([SETUP] if setup else []) + [textwrap.dedent(c).strip("\n") for c in cells]
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
        path = tmp_path / f"{name}.ipynb"
        path.write_text(json.dumps(nb), encoding="utf-8")
        return path

    return make


Grade = Callable[..., SubmissionResult]


@pytest.fixture
def grade(rubric: Rubric) -> Grade:
    """Grade a file with the bundled rubric (optionally only some exercises)."""

    def run(path: Path, *only: str) -> SubmissionResult:
        return grade_submission(path, rubric, Options(only=tuple(only)))

    return run


def check(result: SubmissionResult, exercise: str, check_id: str) -> CheckResult:
    """One check's result, by exercise and check id."""
    for ex in result.exercises:
        if ex.id == exercise:
            for c in ex.checks:
                if c.id == check_id:
                    return c
    raise KeyError(f"{exercise}/{check_id}")


def exercise_score(result: SubmissionResult, exercise: str) -> float:
    return next(ex.score for ex in result.exercises if ex.id == exercise)


def template_answer(exercise: str) -> str:
    """The stub answer cell of the student template for ``exercise`` (e.g. "ex3")."""
    template = nbformat.read(TEMPLATE, as_version=4)
    return next(cell.source for cell in template.cells if cell.get("id") == f"{exercise}-answer")


def assert_exercise(result: SubmissionResult, exercise: str, score: float, expected: dict[str, tuple[float, str]]) -> None:
    """Each named check has its points and a message holding the fragment; the exercise has ``score``."""
    for check_id, (points, fragment) in expected.items():
        found = check(result, exercise, check_id)
        assert found.score == points, (check_id, found.message)
        assert fragment in found.message, (check_id, found.message)
    checks = next(ex.checks for ex in result.exercises if ex.id == exercise)
    assert exercise_score(result, exercise) == score, [(c.id, c.score, c.message) for c in checks]


def assert_not_attempted(result: SubmissionResult, exercise: str) -> None:
    """Every check of ``exercise`` is "not attempted", with a message that says so and no traceback."""
    from grader.results import Outcome

    assert exercise_score(result, exercise) == 0
    for found in next(ex.checks for ex in result.exercises if ex.id == exercise):
        assert found.outcome is Outcome.NOT_ATTEMPTED, (found.id, found.message)
        assert found.message.startswith("not attempted"), (found.id, found.message)
        assert "Traceback" not in found.message


def venv_borrowing_this_environment(folder: Path, *first: Path) -> tuple[Path, Path]:
    """A fresh venv in ``folder`` that sees this environment's packages by path (``first`` before them): its python and site-packages.

    The borrowed folders are added by a .pth file of plain paths, so this environment's own .pth files (the
    editable grader's) are not run there: what the venv installs itself is what it grades with.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    python = folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    deps = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if Path(p).is_dir()]
    (purelib / "_borrowed_dependencies.pth").write_text("\n".join([*map(str, first), *deps]) + "\n", encoding="utf-8")
    return python, purelib
