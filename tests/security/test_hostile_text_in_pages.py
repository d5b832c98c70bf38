"""A submission full of markup, graded in a real kernel and shown on every HTML page the grader writes: only ever as text.

Its written answer, printed output, error messages (of a cell, and of a function a check
calls) and file name
hold ``<script>`` and an ``onerror`` image (a file name cannot hold the ``/`` of
``</script>``, so it holds the image). ``grade --out`` writes summary.html and
the feedback page; the ``%grade`` report is rendered from that result as
``%grade --fresh`` renders it (the judge's ``render_fresh``, which calls
:func:`grader.reporters.notebook.render_notebook_html`); the check-rubric report
from a mutant of an answer holding the same text, with the graded error as its fault.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import load_rubric
from grader.live.judge import Judge
from grader.mutation.plan import generate_mutants
from grader.mutation.report import render_html as render_mutation_html
from grader.mutation.runner import MutantResult, RubricCheck
from grader.results import SubmissionResult
from tests.conftest import ROOT
from tests.hostile_text import HOSTILE, IMG, assert_shown_as_text

pytestmark = pytest.mark.kernel

EX1_VALUES = """
x1, x2, x3 = 1.0, 2.0, 3.0
s = x1 + x2
y = s * x3
dy_ds = x3
dy_dx1 = dy_ds
dy_dx2 = dy_ds
dy_dx3 = s
"""
RAISES_IN_A_CHECK = f"""
def manual_backprop(x1, x2, x3):
    raise ValueError({HOSTILE!r})
"""
WRITTEN_AND_PRINTED = f"checkpointing_answer = {HOSTILE!r}\nprint(checkpointing_answer)"
RAISES = f"raise ValueError({HOSTILE!r})"


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """The batch's output folder and the submission's JSON result (one kernel for the module)."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "class").mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source.strip("\n"))
                                               for source in (EX1_VALUES, RAISES_IN_A_CHECK, WRITTEN_AND_PRINTED, RAISES)])
    nbformat.write(notebook, root / "class" / f"{IMG}.ipynb")
    done = subprocess.run(
        [sys.executable, "-m", "grader", str(root / "class"), "--out", str(root / "out"), "--only", "ex1", "--jobs", "1",
         "--rubric", "04_automatic_differentiation"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-2000:]
    (line,) = (root / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return root / "out", json.loads(line)


def test_the_submission_really_carried_the_markup(graded: tuple[Path, dict[str, object]]) -> None:
    _, data = graded
    result = SubmissionResult.from_dict(data)
    assert result.status == "graded" and result.student == IMG
    assert any(HOSTILE in line for line in result.errors), result.errors  # the error message
    messages = [check.message for exercise in result.exercises for check in exercise.checks]
    assert any(HOSTILE in message for message in messages), messages  # the function's exception, quoted by the check


def test_the_batch_pages_show_the_markup_as_text(graded: tuple[Path, dict[str, object]]) -> None:
    out, _ = graded
    (feedback,) = (out / "feedback").glob("*.html")
    for page in (out / "summary.html", feedback):
        assert_shown_as_text(page.read_text(encoding="utf-8"))


def test_the_grade_report_in_a_notebook_shows_the_markup_as_text(graded: tuple[Path, dict[str, object]]) -> None:
    _, data = graded
    reply = Judge().handle({"id": 1, "op": "render_fresh", "report": data, "notebook": f"{IMG}.ipynb"})
    assert reply["ok"], reply
    assert_shown_as_text(reply["html"])


def test_the_check_rubric_report_shows_the_markup_as_text(graded: tuple[Path, dict[str, object]]) -> None:
    _, data = graded
    fault = next(line for line in SubmissionResult.from_dict(data).errors if HOSTILE in line)
    source = f"def double(x):\n    # BEGIN SOLUTION\n    return {{'y': x * 2, 'note': {HOSTILE!r}}}\n    # END SOLUTION"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.cells[0]["id"] = "ex1-answer"
    mutant = next(m for m in generate_mutants(nb) if m.what == "`*` -> `-`")
    rubric = load_rubric(ROOT / "tests" / "fixtures" / "check_rubric" / "rubrics" / "double.yaml")
    results = (MutantResult(mutant, True, False, ("doubles",), fault, 0.4), MutantResult(mutant, False, False, (), "", 0.4))
    run = RubricCheck(rubric, Path(f"{IMG}.ipynb"), "template.ipynb", ("ex1",), 7, 0, 2, results, ("ex1",), (), 1, 2.0,
                      "2026-01-01T00:00:00+00:00", solution_score=10, template_score=0, max_score=10)
    assert_shown_as_text(render_mutation_html(run))
