"""Assignments a grader can grade: the bundled ones and those other packages install.

An assignment is a rubric (YAML) and what it names beside it: its reference
module, its student contract, its solution and template notebooks. The bundled
assignments are package data: in an installed package they live in this folder
(``rubrics/``, ``reference/``, ``exercises/``), in a source checkout in the
repository's top-level folders of the same names. Another package (a course's
own) brings assignments through the ``grader.assignments`` entry-point group:
each entry point names a function that returns the paths of its rubric files,
e.g. in its ``pyproject.toml``::

    [project.entry-points."grader.assignments"]
    my-course = "my_course.grading:rubrics"

A submission is matched to its assignment by the assignment id that ``grade
assign`` writes into the notebook's metadata, else by its file name, else
because only one assignment is installed; ``--rubric`` overrides all of that.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import yaml

from grader.errors import UsageError
from grader.rubric import parse_yaml_text

ENTRY_POINT_GROUP = "grader.assignments"
_HERE = Path(__file__).resolve().parent


def bundled_folder(name: str) -> Path:
    """A folder of the bundled assignments: in the installed package, or the repository's top-level folder in a checkout."""
    installed = _HERE / name
    return installed if installed.is_dir() else _HERE.parent.parent / name


def bundled_rubrics() -> list[Path]:
    """The rubric files of the assignments that ship with the grader (the ``grader.assignments`` entry point ``bundled``)."""
    return sorted(bundled_folder("rubrics").glob("*.yaml"))


@dataclass(frozen=True)
class Assignment:
    """An installed assignment: its id and title (from its rubric), the rubric file, the notebook name it expects, where it came from."""

    id: str
    title: str
    rubric_path: Path
    notebook: str
    source: str


@dataclass(frozen=True)
class Choice:
    """The assignment a submission is graded against, and why that one."""

    assignment: Assignment
    reason: str


def installed_assignments() -> list[Assignment]:
    """Every assignment installed, sorted by id; two with the same id are refused (which would grade what?)."""
    found: dict[str, Assignment] = {}
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            paths = [Path(p) for p in entry.load()()]
        except Exception as exc:  # noqa: BLE001 - a broken course package must say which it is
            raise UsageError(f"the assignments of {entry.name!r} ({entry.value}) cannot be listed: {type(exc).__name__}: {exc}") from None
        for path in paths:
            assignment = _read_header(path, entry.name)
            if assignment.id in found and found[assignment.id].rubric_path.resolve() != path.resolve():
                raise UsageError(f"two installed assignments are called {assignment.id!r}: {found[assignment.id].rubric_path} and {path}")
            found[assignment.id] = assignment
    return [found[key] for key in sorted(found)]


def _read_header(path: Path, source: str) -> Assignment:
    """The id, title and notebook of a rubric, read without validating the whole rubric (that happens when it is used)."""
    try:
        data = parse_yaml_text(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read the rubric of an installed assignment ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("assignment"), str):
        raise UsageError(f"{path}: not a rubric (no 'assignment')")
    return Assignment(data["assignment"], str(data.get("title", data["assignment"])), path, str(data.get("notebook", "")), source)


def choose_assignment(submission: Path, assignments: list[Assignment]) -> Choice:
    """The assignment ``submission`` belongs to: named in its metadata, else by its file name, else the only one installed."""
    by_id = {a.id: a for a in assignments}
    named = notebook_assignment_id(submission)
    if named is not None:
        if named in by_id:
            return Choice(by_id[named], "named in the notebook's metadata")
        raise UsageError(
            f"{submission.name}: the notebook says it is assignment {named!r}, which is not installed "
            f"(installed: {', '.join(by_id) or 'none'}); give the rubric with --rubric"
        )
    matches = [a for a in assignments if _name_matches(submission, a)]
    if len(matches) == 1:
        return Choice(matches[0], "its file name matches")
    if not matches and len(assignments) == 1:
        return Choice(assignments[0], "the only assignment installed")
    choices = ", ".join(a.id for a in (matches or assignments)) or "none installed"
    raise UsageError(f"{submission.name}: cannot tell which assignment it is (it could be: {choices}); give the rubric with --rubric")


def notebook_assignment_id(path: Path) -> str | None:
    """The assignment id ``grade assign`` wrote into a notebook's metadata (None for a module, or when it is absent or unreadable)."""
    if path.suffix != ".ipynb":
        return None
    try:
        with path.open("rb") as handle:
            data = json.loads(handle.read(20 * 1024 * 1024))
    except (OSError, ValueError):
        return None  # an unusable file is refused later, with its own reason
    grader = data.get("metadata", {}).get("grader") if isinstance(data, dict) and isinstance(data.get("metadata"), dict) else None
    value = grader.get("assignment") if isinstance(grader, dict) else None
    return value if isinstance(value, str) and value else None


def _name_matches(path: Path, assignment: Assignment) -> bool:
    """Whether a file's name says which assignment it is: the assignment's notebook name or id, in any case."""
    stem = _words(path.stem)
    candidates = [assignment.id, Path(assignment.notebook).stem] if assignment.notebook else [assignment.id]
    return any(_words(c) and _words(c) in stem for c in candidates)


def _words(text: str) -> str:
    return "_" + "_".join(re.findall(r"[a-z0-9]+", text.lower())) + "_"


def rubric_path(name: str | Path) -> Path:
    """A rubric given by path, or by the id of an installed assignment (a path that exists wins)."""
    path = Path(name)
    if path.exists():
        return path
    by_id = {a.id: a.rubric_path for a in installed_assignments()}
    return by_id.get(str(name), path)
