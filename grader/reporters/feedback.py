"""Per-student feedback files: everything a student should read, as Markdown and as HTML.

Hidden checks are left out (as in the terminal report). Every piece of
student-influenced text is cleaned; in Markdown it is kept on one line with
the characters that would make markup backslash-escaped, in HTML it is
HTML-escaped, and the page carries a policy that allows no script at all.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable

from grader.reporters import check_lines, clean_text, unusable_note
from grader.results import CheckResult, ExerciseResult, SubmissionResult

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_UNSAFE_NAME = re.compile(r"[^\w.@+-]", re.UNICODE)
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def feedback_names(students: Iterable[str]) -> dict[str, str]:
    """A safe file name stem for each student id, unique even on a case-insensitive disk (``alice``, ``o_brien``)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for student in sorted(set(students)):
        name = _UNSAFE_NAME.sub("_", clean_text(student, 80)).lstrip(".") or "student"
        if name.casefold() in taken:  # casefold: two names must not clash on a case-insensitive disk either
            name = f"{name}-{hashlib.sha256(student.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
        taken.add(name.casefold())
        names[student] = name
    return names


def render_markdown(result: SubmissionResult) -> str:
    """The feedback as Markdown."""
    lines = [f"# Feedback: {_md(result.student, 80)}", "", f"Assignment: {_md(result.assignment, 120)}", ""]
    if result.status != "graded":
        lines += [f"**{_md(unusable_note(result))}**", "", f"**Score: 0 / {result.max_score:g}**", ""]
        return "\n".join(lines)
    lines += [f"**Score: {result.score:g} / {result.max_score:g}**", ""]
    for exercise in result.exercises:
        lines += _markdown_exercise(exercise)
    if result.errors:
        lines += ["## While running your submission", ""]
        lines += [f"- {_md(line)}" for line in result.errors]
        lines.append("")
    return "\n".join(lines)


def _markdown_exercise(exercise: ExerciseResult) -> list[str]:
    lines = [f"## {_md(exercise.id, 40)}: {_md(exercise.title, 200)} ({exercise.score:g} / {exercise.max_score:g})", ""]
    for check in exercise.checks:
        if check.hidden:
            continue
        lines.append(f"- **{_md(check.title, 200)}**: {check.score:g} / {check.max_score:g}, {_outcome(check)}")
        lines += [f"  - {_md(text)}" for text in _details(check)]
    lines.append("")
    return lines


def render_html(result: SubmissionResult) -> str:
    """The feedback as a self-contained HTML page."""
    body = [f"<h1>Feedback: {_h(result.student, 80)}</h1>", f"<p>Assignment: {_h(result.assignment, 120)}</p>"]
    if result.status != "graded":
        body.append(f'<p class="bad"><strong>{_h(unusable_note(result))}</strong></p>')
        body.append(f"<p><strong>Score: 0 / {result.max_score:g}</strong></p>")
        return page(f"Feedback: {clean_text(result.student, 80)}", "\n".join(body))
    body.append(f"<p><strong>Score: {result.score:g} / {result.max_score:g}</strong></p>")
    body += [_html_exercise(exercise) for exercise in result.exercises]
    if result.errors:
        items = "".join(f"<li>{_h(line)}</li>" for line in result.errors)
        body.append(f"<h2>While running your submission</h2>\n<ul>{items}</ul>")
    return page(f"Feedback: {clean_text(result.student, 80)}", "\n".join(body))


def _html_exercise(exercise: ExerciseResult) -> str:
    rows = []
    for check in exercise.checks:
        if check.hidden:
            continue
        details = "".join(f"<div>{_h(text)}</div>" for text in _details(check))
        css = "ok" if check.passed else ("part" if check.score > 0 else "bad")
        rows.append(
            f'<tr class="{css}"><td>{_h(check.title, 200)}</td><td>{check.score:g} / {check.max_score:g}</td>'
            f"<td>{html.escape(_outcome(check))}</td><td>{details}</td></tr>"
        )
    head = f"<h2>{_h(exercise.id, 40)}: {_h(exercise.title, 200)} ({exercise.score:g} / {exercise.max_score:g})</h2>"
    return f"{head}\n<table><tr><th>check</th><th>points</th><th>result</th><th>feedback</th></tr>{''.join(rows)}</table>"


def _details(check: CheckResult) -> tuple[str, ...]:
    """What the student should read under a check, in order."""
    return check_lines(check).notes


def _outcome(check: CheckResult) -> str:
    return check_lines(check).outcome


def page(title: str, body: str) -> str:
    """A self-contained HTML page with the shared style and a no-script content policy."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>{html.escape(title)}</title>
<style>{STYLE}</style></head>
<body>
{body}
</body></html>
"""


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5rem; }
th, td { border: 1px solid #ccc; padding: .3rem .5rem; text-align: left; vertical-align: top; white-space: pre-wrap; }
th { background: #f2f2f2; }
tr.ok td:nth-child(3) { color: #1a7f37; } tr.part td:nth-child(3) { color: #9a6700; } tr.bad td:nth-child(3) { color: #cf222e; }
.bad { color: #cf222e; } img { max-width: 100%; }
"""


def _md(text: str, limit: int = 600) -> str:
    return _MD_SPECIAL.sub(r"\\\1", " ".join(clean_text(text, limit).split()))


def _h(text: str, limit: int = 600) -> str:
    return html.escape(clean_text(text, limit))
