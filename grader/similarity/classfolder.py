"""A graded class folder read back for the similarity report: results, each submission's code, the template.

A results folder (``grade SUBMISSIONS --out OUT_DIR``) keeps each result in
``results.jsonl`` with the path of the submission it graded, but not the
submission's code: the code is read again from those paths (a relative path
is tried from the current folder, then from the results folder's parent).
The template is the assignment's student notebook, found as ``grade kit``
finds it: the rubric's ``template:``, else ``exercises/<notebook>`` beside the
rubric's folder, else made from the solution notebook by stubbing its answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import GraderError, UsageError
from grader.similarity.normalise import code_cells


@dataclass(frozen=True)
class ClassCode:
    """The class as the report needs it: results by student, code cells by student, and why some have none."""

    results: dict[str, dict[str, Any]]
    cells: dict[str, list[str]]
    unreadable: dict[str, str]


def load_class(out: Path) -> ClassCode:
    """The results of ``out/results.jsonl`` and each student's code cells, read from the recorded paths."""
    from grader.batch.store import RESULTS_FILE, load_records

    results = load_records(out / RESULTS_FILE)
    if not results:
        raise UsageError(f"{out}: no {RESULTS_FILE} with results (grade the class first: grade SUBMISSIONS --out {out})")
    cells: dict[str, list[str]] = {}
    unreadable: dict[str, str] = {}
    for student, result in sorted(results.items()):
        path = submission_path(str(result.get("submission", "")), out)
        if path is None:
            unreadable[student] = f"its submission {result.get('submission')!r} is no longer there"
            continue
        try:
            cells[student] = code_cells(path)
        except (OSError, ValueError) as exc:
            unreadable[student] = f"{path} cannot be read ({type(exc).__name__})"
    return ClassCode(results, cells, unreadable)


def submission_path(recorded: str, out: Path) -> Path | None:
    """The recorded submission file, as given or relative to the results folder's parent; None if it is not a file."""
    if not recorded:
        return None
    path = Path(recorded)
    for candidate in (path, out.resolve().parent / path) if not path.is_absolute() else (path,):
        if candidate.is_file():
            return candidate
    return None


def assignment_of(results: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The assignment most results name (a results folder holds one)."""
    named = Counter(str(r["assignment"]) for r in results.values() if r.get("assignment"))
    return named.most_common(1)[0][0] if named else None


def template_cells(assignment: str | None, given: Path | None = None, rubric_path: Path | None = None) -> tuple[list[str], str]:
    """The template's code cells and a sentence saying where they came from (no cells when there is no template).

    ``given`` wins; else the template of the rubric at ``rubric_path``, else of the installed ``assignment``.
    """
    if given is not None:
        try:
            return code_cells(given), f"Template: {given} (given)."
        except (OSError, ValueError) as exc:
            raise UsageError(f"--template {given}: cannot be read ({type(exc).__name__})") from None
    rubric = _rubric_data(rubric_path) if rubric_path is not None else _installed_rubric(assignment)
    if rubric is None:
        return [], f"No template: assignment {assignment!r} is not installed, so nothing was subtracted (give --template)."
    path, data = rubric
    named = path.parent / data["template"] if isinstance(data.get("template"), str) else _conventional_template(path, data)
    if named is not None and named.is_file():
        return code_cells(named), f"Template of {assignment}: {named}; its code is subtracted."
    return _template_from_solution(str(assignment), path, data)


def _installed_rubric(assignment: str | None) -> tuple[Path, dict[str, Any]] | None:
    from grader.assignments import installed_assignments

    for installed in installed_assignments():
        if installed.id == assignment:
            return _rubric_data(installed.rubric_path)
    return None


def _rubric_data(path: Path) -> tuple[Path, dict[str, Any]] | None:
    """A rubric's path and its YAML as data (only the file names it gives are needed: it is not validated here)."""
    import yaml

    from grader.rubric import parse_yaml_text

    try:
        data = parse_yaml_text(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return (path, data) if isinstance(data, dict) else None


def _conventional_template(path: Path, data: dict[str, Any]) -> Path | None:
    notebook = data.get("notebook")
    return path.resolve().parent.parent / "exercises" / notebook if isinstance(notebook, str) and notebook else None


def _template_from_solution(assignment: str, path: Path, data: dict[str, Any]) -> tuple[list[str], str]:
    import nbformat

    from grader.authoring.layout import find_solution
    from grader.authoring.notebook import make_student_notebook

    named = path.parent / data["solution"] if isinstance(data.get("solution"), str) else None
    try:
        solution = find_solution(assignment, (path.parent / str(data.get("reference", ""))).parent, named=named)
        student = make_student_notebook(nbformat.read(solution, as_version=4), assignment)
    except (OSError, ValueError, GraderError):
        return [], f"No template for {assignment} (no template notebook, no usable solution): nothing was subtracted."
    cells = [str(cell["source"]) for cell in student["cells"] if cell["cell_type"] == "code"]
    return cells, f"Template of {assignment}: made from the solution {solution} with its answers stubbed; its code is subtracted."
