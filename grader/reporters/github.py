"""The GitHub Actions job summary: a Markdown grade appended to ``$GITHUB_STEP_SUMMARY``.

One heading with the score (and, with ``--fail-under``, whether it reaches the
pass mark), then a table per exercise: outcome, check, points, feedback. Checks
the rubric marks ``hidden`` are counted but not listed. Student-influenced text
is cleaned and escaped so that it cannot break the table or inject HTML.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

from grader.reporters import check_lines, clean_text, unusable_note
from grader.results import CheckResult, ExerciseResult, Outcome, SubmissionResult

_ICONS = {
    Outcome.PASSED: "✅",
    Outcome.PARTIAL: "🟡",
    Outcome.FAILED: "❌",
    Outcome.NOT_ATTEMPTED: "⬜",
    Outcome.ERROR: "💥",
    Outcome.BROKEN: "🐞",
}
_MARKDOWN = re.compile(r"([\\`*_\[\]|#~])")


def append_step_summary(result: SubmissionResult, path: Path, fail_under: float | None) -> None:
    """Append the Markdown summary of ``result`` to ``path`` (never overwriting what is there).

    A summary that cannot be written only warns on stderr: it must not change the grade's exit status.
    """
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(step_summary(result, fail_under))
    except OSError as exc:
        print(f"grade: warning: cannot append the job summary to {path} ({exc.strerror or exc})", file=sys.stderr)


def step_summary(result: SubmissionResult, fail_under: float | None) -> str:
    """The Markdown text appended for one submission (starts and ends with a blank line)."""
    lines = ["", f"## Grade: {md(result.student, 120)} ({md(result.assignment, 120)})", ""]
    lines.append(_score_line(result, fail_under))
    if result.status != "graded":
        lines += ["", f"**{md(unusable_note(result))}**"]
    else:
        for exercise in result.exercises:
            lines += ["", *_exercise_table(exercise)]
    if result.errors and result.status == "graded":
        lines += ["", "**While running the submission:**", ""]
        lines += [f"- {md(line)}" for line in result.errors]
    return "\n".join(lines) + "\n\n"


def md(text: str, limit: int = 600) -> str:
    """Text made safe for a Markdown table cell: cleaned, one line, HTML and Markdown markup escaped."""
    flat = " ".join(clean_text(text, limit).split())
    return _MARKDOWN.sub(r"\\\1", html.escape(flat, quote=False))


def _score_line(result: SubmissionResult, fail_under: float | None) -> str:
    share = f" ({100 * result.score / result.max_score:.0f}%)" if result.max_score else ""
    line = f"**Score: {result.score:g} / {result.max_score:g}**{share}"
    if fail_under is None:
        return line
    if result.status == "graded" and result.score >= fail_under:
        return f"{line} ✅ reaches the pass mark of {fail_under:g} (`--fail-under {fail_under:g}`)"
    return f"{line} ❌ below the pass mark of {fail_under:g} (`--fail-under {fail_under:g}`): this job fails"


def _exercise_table(exercise: ExerciseResult) -> list[str]:
    lines = [
        f"### {md(exercise.id, 80)}: {md(exercise.title, 200)} ({exercise.score:g} / {exercise.max_score:g})",
        "",
        "| | Check | Points | Feedback |",
        "|:-:|---|--:|---|",
    ]
    shown = [c for c in exercise.checks if not c.hidden]
    lines += [_row(check) for check in shown]
    hidden = len(exercise.checks) - len(shown)
    if hidden:
        lines.append(f"| 🔒 | {hidden} hidden check(s) | | shown once grades are published |")
    return lines


def _row(check: CheckResult) -> str:
    icon = "✏️" if check.override is not None else _ICONS[check.outcome]
    feedback = " <br>".join(md(note) for note in check_lines(check).notes)
    return f"| {icon} | {md(check.title, 200)} | {check.score:g} / {check.max_score:g} | {feedback} |"
