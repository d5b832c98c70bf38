"""The grader as a course installs it: a built wheel, a fresh venv, a folder outside the checkout.

The wheel must carry the bundled assignments (rubric, contract, reference,
solution, template) as package data; ``grade`` must find the assignment from
the notebook itself. To stay fast the fresh venv borrows this environment's
third-party packages through a .pth line (never its editable ``grader``), and
grades in portable mode, the mode that needs nothing from the machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SOLUTION, venv_borrowing_this_environment

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (found,) = out.glob("autodiff_grader-*.whl")
    return found


def test_the_wheel_carries_the_bundled_assignments_the_probe_modules_and_the_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for wanted in (
        "grader/assignments/rubrics/04_automatic_differentiation.yaml",
        "grader/assignments/rubrics/CONTRACT-04.md",
        "grader/assignments/reference/autodiff04.py",
        "grader/assignments/reference/solution.ipynb",
        "grader/assignments/exercises/04_automatic_differentiation.ipynb",
        "grader/probes/runtime.py",
        "grader/probes/tensors.py",
        *(t.relative_to(ROOT).as_posix() for t in (ROOT / "grader" / "templates").rglob("*") if t.is_file()),  # the HTML pages
    ):
        assert wanted in names, wanted
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "grader.assignments" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_a_fresh_install_grades_a_notebook_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    # This environment's dependencies (torch, nbclient, ...), added as a path: its own .pth files (the editable grader) are not run.
    python, purelib = venv_borrowing_this_environment(tmp_path / "venv")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr

    outside = tmp_path / "class"
    outside.mkdir()
    shutil.copy(SOLUTION, outside / "alice.ipynb")
    listed = subprocess.run([str(python), "-m", "grader", "--list-assignments"], capture_output=True, text=True, cwd=outside, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "04_automatic_differentiation" in listed.stdout and str(purelib) in listed.stdout and str(ROOT) not in listed.stdout

    done = subprocess.run([str(python), "-m", "grader", "alice.ipynb", "--format", "json", "--portable"],
                          capture_output=True, text=True, cwd=outside, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert (report["score"], report["max_score"], report["status"]) == (100, 100, "graded")
    assert "grade: assignment 04_automatic_differentiation (named in the notebook's metadata)" in done.stderr

    # The HTML templates come from the installed package, not the checkout.
    script = "from grader.reporters.pages import TEMPLATES, render; print(TEMPLATES); print(render('page.html.j2'))"
    page = subprocess.run([str(python), "-c", script], capture_output=True, text=True, cwd=outside, timeout=120)
    assert page.returncode == 0, page.stderr
    where, _, shown = page.stdout.partition("\n")
    assert Path(where).is_relative_to(purelib.resolve()) and "Content-Security-Policy" in shown
