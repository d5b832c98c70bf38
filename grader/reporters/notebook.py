"""The report shown inside a notebook by ``%grade``: an HTML table per exercise, and the same as plain text.

Jupyter frontends render ``text/html`` (JupyterLab, classic Notebook, VS
Code); a terminal console shows ``text/plain``. The HTML is
``templates/notebook.html.j2``: only inline styles (a ``<style>`` element
would restyle the whole page, and sanitizers drop it) and no colour of its
own for text: borders are ``currentColor`` made faint and outcomes are marked
with semi-transparent backgrounds, so the table reads the same in light and
dark themes. Every piece of student-influenced text is cleaned, and
autoescaping (:mod:`grader.reporters.pages`) escapes it; the wording of each
check comes from :func:`grader.reporters.check_lines`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grader.reporters import check_lines, clean_text, unusable_note
from grader.reporters.pages import exercise_rows, render
from grader.results import CheckResult, Outcome, SubmissionResult

LIVE_NOTE = (
    "Live check: the definitions in your running kernel, as you ran them. The grade that counts reruns the saved notebook "
    "from top to bottom in a fresh kernel: `%grade --fresh` (or Kernel → Restart & Run All, then `%grade`) shows it."
)
_MARKS = {
    Outcome.PASSED: "PASS",
    Outcome.PARTIAL: "PART",
    Outcome.FAILED: "FAIL",
    Outcome.NOT_ATTEMPTED: "TODO",
    Outcome.ERROR: "ERR",
    Outcome.BROKEN: "BUG",
}


@dataclass(frozen=True)
class NotebookReport:
    """What ``%grade`` displays: a heading, plain sentences above the tables, and the result."""

    heading: str
    notes: tuple[str, ...]
    result: SubmissionResult
    errors_heading: str = "While checking your code:"


def render_notebook_text(report: NotebookReport) -> str:
    """The report as plain text (a terminal console, or a frontend without HTML)."""
    result = report.result
    lines = [clean_text(report.heading, 200), *(clean_text(note, 1000) for note in report.notes)]
    if result.status != "graded":
        return "\n".join([*lines, "", unusable_note(result), f"Score: 0 / {result.max_score:g}"]) + "\n"
    for exercise in result.exercises:
        lines += ["", f"{clean_text(exercise.id, 40)}  {clean_text(exercise.title, 200)}  {exercise.score:g} / {exercise.max_score:g}"]
        lines += [_text_check(check) for check in exercise.checks if not check.hidden]
    if result.errors:
        lines += ["", report.errors_heading, *(f"  - {clean_text(line)}" for line in result.errors)]
    lines += ["", f"Score: {result.score:g} / {result.max_score:g}"]
    return "\n".join(lines) + "\n"


def _text_check(check: CheckResult) -> str:
    said = check_lines(check)
    mark = "INST" if said.by_instructor else (_MARKS[check.outcome] if check.override is None else "EDIT")
    head = f"  [{mark:<4}] {clean_text(check.title, 120)}  {said.points.replace(' ', '')}"
    return "\n".join([head, *(f"         {note}" for note in said.notes)])


def render_notebook_html(report: NotebookReport) -> str:
    """The report as an HTML fragment for a notebook's output area (``templates/notebook.html.j2``: inline styles only, no script)."""
    result = report.result
    return render("notebook.html.j2", report=report, unusable=unusable_note(result), exercises=exercise_rows(result))


def deferred_note(titles: Sequence[tuple[str, str, float]], why: str) -> str:
    """The sentence for checks left to the official grade: (exercise id, check title, points) each, and why."""
    points = sum(p for _, _, p in titles)
    named = "; ".join(f"{ex}: {clean_text(title, 120)}" for ex, title, _ in titles)
    return f"Not counted here ({points:g} point{'s' if points != 1 else ''}, checked by the official grade): {named}. {why}"
