"""Per-student feedback files: everything a student should read, as Markdown and as HTML.

Hidden checks are left out (as in the terminal report). Every piece of
student-influenced text is cleaned; in Markdown it is kept on one line with
the characters that would make markup backslash-escaped. The HTML page is
``templates/feedback.html.j2``, rendered with autoescaping
(:mod:`grader.reporters.pages`), under a policy that allows no script at all.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from grader.reporters import check_lines, clean_text, unusable_note
from grader.reporters.pages import exercise_rows, render
from grader.results import CheckResult, ExerciseResult, SubmissionResult

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_UNSAFE_NAME = re.compile(r"[^\w.@+-]", re.UNICODE)


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
    """The feedback as a self-contained HTML page (``templates/feedback.html.j2``)."""
    return render("feedback.html.j2", result=result, unusable=unusable_note(result), exercises=exercise_rows(result))


def _details(check: CheckResult) -> tuple[str, ...]:
    """What the student should read under a check, in order."""
    return check_lines(check).notes


def _outcome(check: CheckResult) -> str:
    return check_lines(check).outcome


def _md(text: str, limit: int = 600) -> str:
    return _MD_SPECIAL.sub(r"\\\1", " ".join(clean_text(text, limit).split()))

