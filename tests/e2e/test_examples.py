"""The example of the public API (examples/grade_from_python.py) runs as its docstring says."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from grader import load_rubric
from tests.conftest import ROOT, RUBRIC, TEMPLATE

pytestmark = pytest.mark.kernel


def test_grading_from_python_prints_a_line_per_exercise_and_check() -> None:
    example = ROOT / "examples" / "grade_from_python.py"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's grader, whichever one the interpreter has installed
    done = subprocess.run([sys.executable, str(example), str(TEMPLATE), str(RUBRIC), "ex1"],
                          capture_output=True, text=True, cwd=ROOT, env=environment, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    points = load_rubric(RUBRIC).exercise("ex1").max_score
    assert lines[0] == f"04_automatic_differentiation: 0 / {points:g} (graded)"
    assert lines[1] == f"  ex1: 0 / {points:g}" and all(line.startswith("    FAIL ") for line in lines[2:]) and len(lines) > 2
