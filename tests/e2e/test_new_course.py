"""``grade new-course``: the package it writes installs into a fresh venv, lists its assignment and grades its solution to 100.

The fresh venv borrows this environment's packages (torch, nbclient, the grader itself from the checkout) through
a .pth line, installs only the course, editable, with pip, and grades in portable mode, as
tests/e2e/test_installed_package.py does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from tests.conftest import ROOT, venv_borrowing_this_environment

pytestmark = pytest.mark.kernel


def test_a_new_course_installs_lists_its_assignment_and_grades_its_solution_to_full_marks(tmp_path: Path) -> None:
    course = tmp_path / "my-course"
    written = CliRunner().invoke(main, ["new-course", str(course)])
    assert written.exit_code == 0, written.output
    assert "package my_course, assignment 01_tensor_basics" in written.output

    # This environment's packages and the checkout's grader (whose entry points this environment's metadata declares).
    python, _ = venv_borrowing_this_environment(tmp_path / "venv", ROOT)
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-build-isolation",
                              "-q", "-e", str(course)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr

    outside = tmp_path / "class"
    outside.mkdir()
    listed = subprocess.run([str(python), "-m", "grader", "--list-assignments"], capture_output=True, text=True, cwd=outside, timeout=120)
    assert listed.returncode == 0, listed.stderr
    line = next((line for line in listed.stdout.splitlines() if line.startswith("01_tensor_basics")), "")
    assert "[my_course]" in line and str(course / "my_course" / "rubrics" / "01_tensor_basics.yaml") in line, listed.stdout

    solution = course / "my_course" / "reference" / "solution_01.ipynb"
    done = subprocess.run([str(python), "-m", "grader", str(solution), "--format", "json", "--portable"],
                          capture_output=True, text=True, cwd=outside, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert (report["score"], report["max_score"], report["status"]) == (100, 100, "graded")
    assert "grade: assignment 01_tensor_basics (named in the notebook's metadata)" in done.stderr
