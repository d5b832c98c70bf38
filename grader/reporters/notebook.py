"""The report shown inside a notebook by ``%grade``: an HTML table per exercise, and the same as plain text.

Jupyter frontends render ``text/html`` (JupyterLab, classic Notebook, VS
Code); a terminal console shows ``text/plain``. The HTML carries only inline
styles (a ``<style>`` element would restyle the whole page, and sanitizers
drop it) and no colour of its own for text: borders are ``currentColor`` made
faint and outcomes are marked with semi-transparent backgrounds, so the table
reads the same in light and dark themes. Every piece of student-influenced
text is cleaned and HTML-escaped; the wording of each check comes from
:func:`grader.reporters.check_lines`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from grader.reporters import check_lines, clean_text, unusable_note
from grader.results import CheckResult, ExerciseResult, Outcome, SubmissionResult

LIVE_NOTE = (
    "This checks the definitions in your running kernel. Your official grade reruns the saved notebook from top to bottom: "
    "run `%grade --fresh` (or Kernel → Restart & Run All) to see that."
)
FRESH_NOTE = "This is the official grade: your saved notebook, rerun from top to bottom in a fresh kernel."

_MARKS = {
    Outcome.PASSED: "PASS",
    Outcome.PARTIAL: "PART",
    Outcome.FAILED: "FAIL",
    Outcome.NOT_ATTEMPTED: "TODO",
    Outcome.ERROR: "ERR",
    Outcome.BROKEN: "BUG",
}
# Semi-transparent tints: the text keeps the theme's own colour, the tint shows through on light and dark backgrounds alike.
_TINTS = {"ok": "rgba(46, 160, 67, 0.22)", "part": "rgba(210, 153, 34, 0.25)", "bad": "rgba(248, 81, 73, 0.22)"}
# Borders: the text's own colour, faint (a grey first, for a browser without color-mix).
_LINE = "border: 1px solid rgba(128, 128, 128, 0.35); border-color: color-mix(in srgb, currentColor 30%, transparent);"
_CELL = f"{_LINE} padding: 0.25em 0.5em; text-align: left; vertical-align: top;"


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
    mark = _MARKS[check.outcome] if check.override is None else "EDIT"
    said = check_lines(check)
    head = f"  [{mark:<4}] {clean_text(check.title, 120)}  {said.points.replace(' ', '')}"
    return "\n".join([head, *(f"         {note}" for note in said.notes)])


def render_notebook_html(report: NotebookReport) -> str:
    """The report as an HTML fragment for a notebook's output area (inline styles only, no script)."""
    result = report.result
    parts = [f'<div style="line-height: 1.4;"><p style="margin: 0.3em 0;"><strong>{_h(report.heading, 200)}</strong></p>']
    parts += [f'<p style="margin: 0.3em 0;">{_inline_code(note)}</p>' for note in report.notes]
    if result.status != "graded":
        parts.append(f'<p style="margin: 0.3em 0; padding: 0.3em 0.5em; background: {_TINTS["bad"]};">{_h(unusable_note(result))}</p>')
        parts.append(f"<p><strong>Score: 0 / {result.max_score:g}</strong></p></div>")
        return "".join(parts)
    parts += [_html_exercise(exercise) for exercise in result.exercises]
    if result.errors:
        items = "".join(f"<li>{_h(line)}</li>" for line in result.errors)
        parts.append(f'<p style="margin: 0.6em 0 0.2em;">{_h(report.errors_heading)}</p><ul style="margin-top: 0;">{items}</ul>')
    parts.append(f'<p style="margin: 0.6em 0; font-size: 1.1em;"><strong>Score: {result.score:g} / {result.max_score:g}</strong></p></div>')
    return "".join(parts)


def _html_exercise(exercise: ExerciseResult) -> str:
    head = (
        f'<p style="margin: 0.8em 0 0.2em;"><strong>{_h(exercise.id, 40)}: {_h(exercise.title, 200)}</strong> '
        f"({exercise.score:g} / {exercise.max_score:g})</p>"
    )
    titles = ("check", "points", "result", "feedback and hints")
    header = "".join(f'<th style="{_CELL} font-weight: 600;">{title}</th>' for title in titles)
    rows = "".join(_html_check(check) for check in exercise.checks if not check.hidden)
    return f'{head}<table style="border-collapse: collapse; margin: 0; width: 100%;"><tr>{header}</tr>{rows}</table>'


def _html_check(check: CheckResult) -> str:
    said = check_lines(check)
    tint = _TINTS[_kind(check)]
    notes = "".join(f'<div style="margin: 0.1em 0;">{html.escape(note)}</div>' for note in said.notes)
    badge = f'<span style="background: {tint}; border-radius: 0.3em; padding: 0 0.4em; white-space: nowrap;">{html.escape(said.outcome)}</span>'
    return (
        f'<tr><td style="{_CELL}">{_h(check.title, 200)}</td><td style="{_CELL} white-space: nowrap;">{html.escape(said.points)}</td>'
        f'<td style="{_CELL}">{badge}</td><td style="{_CELL}">{notes}</td></tr>'
    )


def _kind(check: CheckResult) -> str:
    if check.passed:
        return "ok"
    return "part" if check.score > 0 else "bad"


def _h(text: str, limit: int = 600) -> str:
    return html.escape(clean_text(text, limit))


def _inline_code(text: str) -> str:
    """A note with its `backticked` spans set as code (the notes are the grader's own sentences)."""
    pieces = _h(text, 1000).split("`")
    return "".join(f"<code>{piece}</code>" if index % 2 else piece for index, piece in enumerate(pieces))


def deferred_note(titles: Sequence[tuple[str, str, float]], why: str) -> str:
    """The sentence for checks left to the official grade: (exercise id, check title, points) each, and why."""
    points = sum(p for _, _, p in titles)
    named = "; ".join(f"{ex}: {clean_text(title, 120)}" for ex, title, _ in titles)
    return f"Not counted here ({points:g} point{'s' if points != 1 else ''}, checked by the official grade): {named}. {why}"
