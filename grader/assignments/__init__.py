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
assign`` writes into the notebook's metadata, else by its file name, else by
the answers it defines (the rubric's ``answers:``), else because only one
assignment is installed; ``--rubric`` overrides all of that. When the
assignment chosen by metadata or file name is not the one whose answers the
submission defines, the choice carries a warning that says so.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

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
    answers: tuple[tuple[str, ...], ...] = ()  # per exercise, the names its answers are (the rubric's ``answers:``)


@dataclass(frozen=True)
class Choice:
    """The assignment a submission is graded against, why that one, and a warning when its answers are another's."""

    assignment: Assignment
    reason: str
    warning: str = ""


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
    listed = data.get("exercises")
    exercises: list[Any] = listed if isinstance(listed, list) else []
    answers = tuple(
        tuple(str(name) for name in exercise["answers"])
        for exercise in exercises
        if isinstance(exercise, dict) and isinstance(exercise.get("answers"), list) and exercise["answers"]
    )
    return Assignment(data["assignment"], str(data.get("title", data["assignment"])), path, str(data.get("notebook", "")), source, answers)


def choose_assignment(submission: Path, assignments: list[Assignment], names: set[str] | None = None) -> Choice:
    """The assignment ``submission`` belongs to: named in its metadata, else by its file name, else by the answers it
    defines, else the only one installed. ``names`` are the names it defines (read from the file when not given)."""
    by_id = {a.id: a for a in assignments}
    known = names if names is not None else None

    def defined() -> set[str]:
        nonlocal known
        if known is None:
            known = defined_names(submission) or set()
        return known

    named = notebook_assignment_id(submission)
    if named is not None:
        if named in by_id:
            return Choice(by_id[named], "named in the notebook's metadata", mismatch_warning(by_id[named], defined(), assignments))
        raise UsageError(
            f"{submission.name}: the notebook says it is assignment {named!r}, which is not installed "
            f"(installed: {', '.join(by_id) or 'none'}); give the rubric with --rubric"
        )
    matches = [a for a in assignments if _name_matches(submission, a)]
    if len(matches) == 1:
        return Choice(matches[0], "its file name matches", mismatch_warning(matches[0], defined(), assignments))
    by_answers = choose_by_names(defined(), matches or assignments)
    if by_answers is not None:
        fit = answer_fit(defined(), by_answers)
        return Choice(by_answers, f"it defines the answers of this assignment ({fit[0]} of {fit[1]} exercises)")
    if not matches and len(assignments) == 1:
        return Choice(assignments[0], "the only assignment installed")
    choices = ", ".join(a.id for a in (matches or assignments)) or "none installed"
    raise UsageError(f"{submission.name}: cannot tell which assignment it is (it could be: {choices}); give the rubric with --rubric")


_CLEAR_FIT = 0.75  # the share of an assignment's exercises whose answers a submission must define to be taken as it


def answer_fit(names: set[str], assignment: Assignment) -> tuple[int, int]:
    """How many of the assignment's exercises have an answer among ``names``, and how many exercises have answers."""
    present = sum(any(answer in names for answer in answers) for answers in assignment.answers)
    return present, len(assignment.answers)


def _share(names: set[str], assignment: Assignment) -> float:
    present, total = answer_fit(names, assignment)
    return present / total if total else 0.0


def choose_by_names(names: set[str], assignments: Iterable[Assignment]) -> Assignment | None:
    """The one assignment whose answers ``names`` clearly define (most of its exercises, more than any other), if any."""
    ranked = sorted(((_share(names, a), a.id, a) for a in assignments if a.answers), reverse=True)
    if not ranked or ranked[0][0] < _CLEAR_FIT or (len(ranked) > 1 and ranked[1][0] == ranked[0][0]):
        return None
    return ranked[0][2]


def mismatch_warning(chosen: Assignment, names: set[str], assignments: Iterable[Assignment]) -> str:
    """A plain warning when the submission defines few of ``chosen``'s answers but clearly another assignment's ('' if not)."""
    if not chosen.answers or _share(names, chosen) >= 0.5:
        return ""
    other = choose_by_names(names, [a for a in assignments if a.id != chosen.id])
    if other is None or _share(names, other) <= _share(names, chosen):
        return ""
    present, total = answer_fit(names, other)
    return (f"this file defines the answers of assignment {other.id} ({present} of {total} exercises), not those of "
            f"{chosen.id}, which it is graded as: is it the right file? (--rubric {other.id} grades it as {other.id})")


def wrong_assignment_warning(path: Path, assignment_id: str, assignments: list[Assignment]) -> str:
    """The plain warning for a file graded as ``assignment_id`` whose answers are clearly another installed assignment's ('' if not)."""
    chosen = next((a for a in assignments if a.id == assignment_id), None)
    names = defined_names(path) if chosen is not None else None
    return mismatch_warning(chosen, names, assignments) if chosen is not None and names is not None else ""


def defined_names(path: Path) -> set[str] | None:
    """The names a notebook's or module's code defines at top level, methods as ``Class.method`` (None if unreadable).

    Read from the source, nothing is run: functions, classes and their methods, assigned names, imports,
    ``Class.name = ...`` and ``setattr(Class, "name", ...)``. IPython lines (``%magic``, ``!shell``) are skipped.
    """
    try:
        if path.suffix == ".ipynb":
            with path.open("rb") as handle:
                data = json.loads(handle.read(20 * 1024 * 1024))
            cells = data.get("cells", []) if isinstance(data, dict) else []
            sources = ["".join(c["source"]) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                       for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
        else:
            sources = [path.read_text(encoding="utf-8")]
    except (OSError, ValueError, TypeError):
        return None
    names: set[str] = set()
    for source in sources:
        names |= _names_in(source)
    return names


def _names_in(source: str) -> set[str]:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError):
        return set()  # a cell that does not parse defines nothing (the report says why elsewhere)
    names: set[str] = set()
    for node in _top_level(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            names.update(f"{node.name}.{item.name}" for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)))
            names.update(f"{node.name}.{t.id}" for item in node.body if isinstance(item, ast.Assign) for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(_target_names(target))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and _is_setattr(node.value):
            owner, attribute = node.value.args[0], node.value.args[1]
            names.add(f"{owner.id}.{attribute.value}")  # type: ignore[attr-defined]
    return names


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """Top-level statements, with those inside ``if``/``try``/``with`` blocks at top level (a guarded definition counts)."""
    found: list[ast.stmt] = []
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        found.append(node)
        for field in ("body", "orelse", "finalbody"):
            if isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
                pending.extend(getattr(node, field, []) or [])
        if isinstance(node, ast.Try):
            for handler in node.handlers:
                pending.extend(handler.body)
    return found


def _target_names(target: ast.expr) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        return {f"{target.value.id}.{target.attr}"}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_target_names(element) for element in target.elts)) if target.elts else set()
    return set()


def _is_setattr(call: ast.Call) -> bool:
    return (isinstance(call.func, ast.Name) and call.func.id == "setattr" and len(call.args) == 3
            and isinstance(call.args[0], ast.Name) and isinstance(call.args[1], ast.Constant) and isinstance(call.args[1].value, str))


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
