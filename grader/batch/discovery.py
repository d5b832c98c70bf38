"""Which file is whose: one candidate per student from the command line's files, folders and globs."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError

_GLOB_CHARS = frozenset("*?[")
_IGNORED_NAMES = frozenset({"__pycache__", "__MACOSX", ".ipynb_checkpoints"})
_LISTED = 5  # file names quoted in a reason


@dataclass(frozen=True)
class Candidate:
    """One student's submission as found on disk, or the reason none could be chosen.

    ``problem`` makes it an error row that is never graded; ``note`` is told to
    the student with the result (other notebooks that were not graded).
    """

    student: str
    path: Path
    problem: str = ""
    note: str = ""


def discover(arguments: Sequence[str], notebook: str = "", exclude: Path | None = None) -> list[Candidate]:
    """One candidate per student, sorted by student id.

    * A file is one student's submission; the student is the file's stem, or
      its folder's name when the file bears the rubric's ``notebook`` name
      (``alice/04_automatic_differentiation.ipynb`` is alice's).
    * A folder that directly holds the rubric's notebook is one student's folder.
    * Any other folder is a class folder: each file in it is one student's
      submission (other file types become error rows), each subfolder one
      student's folder.
    * A glob (quoted, so that the shell leaves it alone) matching folders names
      student folders; matching files, submissions.
    * A student folder is searched recursively for notebooks, else ``.py``
      files. The rubric's notebook is preferred; otherwise several candidates
      make an ``ambiguous submission`` error row rather than a guess.
      Checkpoints, hidden files and ``__pycache__`` are ignored.
    * Two submissions for one student id make one error row.

    ``exclude`` (the results folder) is never taken for a submission.
    """
    found = [c for argument in arguments for c in _expand(argument, notebook)]
    if exclude is not None:
        skip = exclude.resolve()
        found = [c for c in found if c.path.resolve() != skip and skip not in c.path.resolve().parents]
    return _merge_duplicates(found)


def unmatched_globs(arguments: Sequence[str]) -> list[str]:
    """The glob patterns among ``arguments`` that match nothing (worth a warning: a typo loses a whole group)."""
    return [a for a in arguments if _is_glob(a) and not glob.glob(a, recursive=True)]


def _is_glob(argument: str) -> bool:
    return bool(_GLOB_CHARS & set(argument)) and not Path(argument).exists()


def _expand(argument: str, notebook: str) -> list[Candidate]:
    path = Path(argument)
    if _is_glob(argument):
        matches = [Path(m) for m in sorted(glob.glob(argument, recursive=True)) if not ignored(Path(m).name)]
        return [_student_folder(m, notebook) if m.is_dir() else _file(m, notebook) for m in matches]
    if path.is_dir():
        if notebook and (path / notebook).is_file():
            return [_student_folder(path, notebook)]
        return _class_folder(path, notebook)
    return [_file(path, notebook)]  # a missing or odd file becomes an error row when graded


def _file(path: Path, notebook: str) -> Candidate:
    named_folder = path.resolve().parent.name if notebook and path.name == notebook else ""
    return Candidate(named_folder or path.stem, path)


def _class_folder(folder: Path, notebook: str) -> list[Candidate]:
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise UsageError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None
    found = []
    for entry in entries:
        if ignored(entry.name):
            continue
        if entry.is_dir():
            found.append(_student_folder(entry, notebook))
        elif entry.is_file():
            found.append(Candidate(entry.stem, entry))
    return found


def _student_folder(folder: Path, notebook: str) -> Candidate:
    student = folder.resolve().name
    notebooks, modules = _candidate_files(folder)
    choices = notebooks or modules
    if not choices:
        return Candidate(student, folder, problem=f"no notebook (.ipynb) or Python file (.py) in the folder {folder.name}")
    named = [p for p in choices if p.name == notebook]
    if len(named) == 1 or len(choices) == 1:
        chosen = named[0] if named else choices[0]
        others = [p for p in choices if p != chosen]
        note = f"also found {_listing(others, folder)}: not graded (the assignment's notebook is {notebook})" if others else ""
        return Candidate(student, chosen, note=note)
    return Candidate(student, folder, problem=f"ambiguous submission (found {_listing(choices, folder)})")


def _candidate_files(folder: Path) -> tuple[list[Path], list[Path]]:
    notebooks: list[Path] = []
    modules: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not ignored(d))
        for name in sorted(files):
            if ignored(name):
                continue
            if name.endswith(".ipynb"):
                notebooks.append(Path(root) / name)
            elif name.endswith(".py"):
                modules.append(Path(root) / name)
    return notebooks, modules


def ignored(name: str) -> bool:
    """Hidden files, Jupyter checkpoints and caches are never submissions."""
    stem = name.rsplit(".", 1)[0]
    return name.startswith(".") or name in _IGNORED_NAMES or stem.endswith("-checkpoint")


def _listing(paths: Sequence[Path], folder: Path) -> str:
    names = [p.relative_to(folder).as_posix() for p in paths]
    return ", ".join(names[:_LISTED]) + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _merge_duplicates(found: Iterable[Candidate]) -> list[Candidate]:
    by_student: dict[str, list[Candidate]] = {}
    seen: set[Path] = set()
    for candidate in found:
        where = candidate.path.resolve()
        if where in seen:  # the same file named twice (a folder and a file in it)
            continue
        seen.add(where)
        by_student.setdefault(candidate.student, []).append(candidate)
    merged = []
    for student, group in sorted(by_student.items()):
        if len(group) == 1:
            merged.append(group[0])
        else:
            places = ", ".join(str(c.path) for c in group[:_LISTED])
            merged.append(Candidate(student, group[0].path, problem=f"several submissions for this student ({places})"))
    return merged
