"""Where an assignment's notebooks are: the solved one and the student template, as given, as the rubric names them, or by convention.

``grade check-rubric`` and ``grade kit`` both start from them.
"""

from __future__ import annotations

from pathlib import Path

from grader.errors import UsageError
from grader.rubric import Rubric


def solution_path(rubric: Rubric, given: Path | None) -> Path:
    """``given``, else the rubric's ``solution:``, else ``solution.ipynb`` beside the reference module; it must exist."""
    path = given or rubric.solution_path or rubric.reference_path.parent / "solution.ipynb"
    if not path.is_file():
        raise UsageError(f"no solution notebook at {path}: give --solution PATH or `solution:` in the rubric")
    return path


def template_path(rubric: Rubric, given: Path | None) -> Path | None:
    """``given``, else the rubric's ``template:``, else ``exercises/<notebook>`` next to the rubric's folder.

    None when there is none of these: the caller makes the template from the solution.
    """
    named = given or rubric.template_path
    if named is not None:
        if not named.is_file():
            raise UsageError(f"no template notebook at {named}")
        return named
    conventional = rubric.path.resolve().parent.parent / "exercises" / rubric.notebook if rubric.notebook else None
    return conventional if conventional is not None and conventional.is_file() else None
