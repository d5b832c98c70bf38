"""The terminal report: per exercise, per check, points and feedback a student can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.reporters import KIT_NOTE, check_lines, clean_text, unusable_note
from grader.results import CheckResult, Outcome, SubmissionResult

if TYPE_CHECKING:
    from grader.kernel.execute import CellProgress

PORTABLE_NOTE = (
    "Portable mode: no sandbox here, so your code ran as you, with your files and network and no memory limit "
    "(fine for your own work; grades are the same)."
)
_MARKS = {
    Outcome.PASSED: "PASS",
    Outcome.PARTIAL: "PART",
    Outcome.FAILED: "FAIL",
    Outcome.NOT_ATTEMPTED: "TODO",
    Outcome.ERROR: "ERR ",
    Outcome.BROKEN: "BUG ",
}


def render_text(result: SubmissionResult, color: bool = False) -> str:
    """A plain-text report; ``color`` adds ANSI colours for a terminal."""
    lines = [f"{clean_text(result.student, 80)}  ({clean_text(result.submission, 200)})"]
    if result.status != "graded":
        lines.append(_paint(unusable_note(result), "red", color))
        if result.max_score:  # with no rubric known there is nothing to score out of: no "Score: 0 / 0"
            lines.append(f"Score: 0 / {result.max_score:g}")
        return "\n".join(lines) + "\n"
    for exercise in result.exercises:
        lines.append("")
        lines.append(f"{exercise.id}  {exercise.title}  {exercise.score:g} / {exercise.max_score:g}")
        lines.extend(_check_lines(check, color) for check in exercise.checks if not check.hidden)
    if result.errors:
        lines.append("")
        lines.append("While running your submission:")
        lines.extend(f"  - {clean_text(line)}" for line in result.errors)
    if result.environment.get("grade") == "kit":
        lines += ["", KIT_NOTE]
    if result.environment.get("mode") == "portable":
        lines.append("")
        lines.append(PORTABLE_NOTE)
    lines.append("")
    lines.append(_paint(f"Score: {result.score:g} / {result.max_score:g}", "bold", color) + f"   ({result.duration_s:.1f}s)")
    return "\n".join(lines) + "\n"


def _check_lines(check: CheckResult, color: bool) -> str:
    lines = check_lines(check)
    mark = "INST" if lines.by_instructor else (_MARKS[check.outcome] if check.override is None else "EDIT")
    colour = "bold" if lines.by_instructor else "green" if check.passed else ("yellow" if check.score > 0 else "red")
    head = f"  [{_paint(mark, colour, color)}] {clean_text(check.title, 120)}  {lines.points.replace(' ', '')}"
    return "\n".join([head, *(f"         {note}" for note in lines.notes)])


_CODES = {"red": "31", "green": "32", "yellow": "33", "bold": "1"}


def _paint(text: str, colour: str, enabled: bool) -> str:
    return f"\x1b[{_CODES[colour]}m{text}\x1b[0m" if enabled else text


def progress_line(progress: CellProgress) -> str:
    """Which cell is taking long, and when its time limit stops it (``grade`` prints it on stderr while the cell runs)."""
    from grader.checks import first_line

    starts = first_line(progress.source)
    left = max(0.0, progress.limit_s - progress.elapsed_s)
    return (
        f"code cell {progress.code_cell}{f' (it starts {starts})' if starts else ''} is still running after "
        f"{progress.elapsed_s:.0f} s; its time limit stops it in {left:.0f} s"
    )
