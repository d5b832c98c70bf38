"""Where an assignment's notebooks are: the solved one and the student template, as given, as the rubric names them, or by convention.

Every command that needs an assignment's solution (``grade check-rubric``, ``grade kit``, ``grade similarity``'s
template) finds it with :func:`find_solution`, so that they all take the same notebook.
"""

from __future__ import annotations

from pathlib import Path

from grader.assignments import notebook_assignment_id
from grader.errors import UsageError
from grader.rubric import Rubric


def solution_path(rubric: Rubric, given: Path | None) -> Path:
    """The solution notebook of ``rubric``'s assignment (see :func:`find_solution`); ``given`` is ``--solution``."""
    return find_solution(rubric.assignment, rubric.reference_path.parent, named=rubric.solution_path, given=given)


def find_solution(assignment: str, reference_dir: Path, named: Path | None = None, given: Path | None = None) -> Path:
    """``given``, else ``named`` (the rubric's ``solution:``), else the one notebook in ``reference_dir`` (the reference
    module's folder) whose metadata names ``assignment``, else ``solution.ipynb`` there.

    It must exist, and a notebook whose metadata names another assignment is refused, naming both: a folder of
    references holds the solutions of several assignments, and grading one against another's rubric says nothing.
    """
    path = given or named or _naming(assignment, reference_dir) or reference_dir / "solution.ipynb"
    if not path.is_file():
        raise UsageError(f"no solution notebook at {path}: give --solution PATH or `solution:` in the rubric")
    other = notebook_assignment_id(path)
    if other is not None and other != assignment:
        how = "give the solution of" if given is not None else "give --solution PATH (or `solution:` in the rubric) with the solution of"
        raise UsageError(f"{path}: the solution notebook of assignment {other} (its metadata says so), not of {assignment}: {how} {assignment}")
    return path


def _naming(assignment: str, folder: Path) -> Path | None:
    """The one notebook in ``folder`` whose metadata names ``assignment`` (None if there is none, or more than one)."""
    named = [path for path in sorted(folder.glob("*.ipynb")) if notebook_assignment_id(path) == assignment]
    return named[0] if len(named) == 1 else None


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
