"""Load stage for submissions: a notebook or a Python module -> :class:`Submission`.

Everything is checked before anything runs: size (before parsing), binary
content, encoding, JSON, nbformat version and schema, Python syntax. A file
that fails gets a :class:`SubmissionError` with a one-line reason. Stored
outputs and metadata are dropped: the code is kept, and the written answers of markdown cells tagged
``answer:NAME`` (:class:`AnswerCell`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import SubmissionError

SUFFIXES = (".ipynb", ".py")
MAX_CELLS = 2000
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive",
    b"\x1f\x8b": "a gzip archive",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x7fELF": "an executable",
    b"\xff\xfe": "UTF-16 text",
    b"\xfe\xff": "UTF-16 text",
}
_CELL_MARKER = re.compile(r"^#\s*%%")
# A markdown cell tagged ``answer:NAME`` holds the written answer NAME (`grade assign` keeps the tag in the student
# notebook, and writes WRITTEN_PLACEHOLDER where the solution's answer was).
ANSWER_TAG = "answer:"
WRITTEN_PLACEHOLDER = "_Write your answer here._"
MAX_WRITTEN_CHARS = 20000  # as the kernel's text_value probe caps a string answer
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)


@dataclass(frozen=True)
class CodeCell:
    """A code cell; ``number`` is its 1-based place among all cells of the file."""

    number: int
    source: str


@dataclass(frozen=True)
class AnswerCell:
    """A markdown cell tagged ``answer:NAME``: the written answer ``name`` as it stands in the file."""

    number: int
    name: str
    source: str

    @property
    def text(self) -> str:
        """The answer itself: the cell without HTML comments and the template's placeholder, stripped ('' when only those)."""
        text = _HTML_COMMENT.sub("", self.source).replace(WRITTEN_PLACEHOLDER, "").strip()
        return text.encode("utf-8", "replace").decode("utf-8")  # JSON can spell lone surrogates; a report must not hold them


def answer_name(tags: Any) -> str | None:
    """The NAME of a cell's ``answer:NAME`` tag (the first one), or None when it has none."""
    if not isinstance(tags, list):
        return None
    return next((tag[len(ANSWER_TAG):].strip() for tag in tags if isinstance(tag, str) and tag.startswith(ANSWER_TAG)), None) or None


def answer_cells_of(cells: Any) -> tuple[AnswerCell, ...]:
    """The markdown cells of a notebook's ``cells`` list tagged ``answer:NAME``, in order (anything malformed is skipped)."""
    found = []
    for number, cell in enumerate(cells if isinstance(cells, list) else [], start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown":
            metadata = cell.get("metadata")
            name = answer_name(metadata.get("tags") if isinstance(metadata, dict) else None)
            if name:
                found.append(AnswerCell(number, name, _source(cell)))
    return tuple(found)


def written_answers(cells: tuple[AnswerCell, ...]) -> dict[str, str]:
    """Each written answer by name: the text of its tagged cells joined by blank lines ('' when all hold only the placeholder).

    A name is present when the notebook has a cell tagged for it, even an empty
    one, so that a judge can tell "no such cell" from "not written yet".
    """
    answers: dict[str, list[str]] = {}
    for cell in cells:
        answers.setdefault(cell.name, [])
        if cell.text:
            answers[cell.name].append(cell.text)
    return {name: "\n\n".join(texts)[:MAX_WRITTEN_CHARS] for name, texts in answers.items()}


@dataclass(frozen=True)
class Submission:
    """A readable submission, ready to run."""

    path: Path
    kind: str  # "notebook" or "module"
    raw: bytes
    code_cells: tuple[CodeCell, ...]
    sha256: str
    answer_cells: tuple[AnswerCell, ...] = ()  # markdown cells tagged answer:NAME (a notebook's only)

    @property
    def student(self) -> str:
        return self.path.stem


def load_submission(path: Path | str, max_mb: float = 20.0) -> Submission:
    """Read and check ``path``; raise :class:`SubmissionError` with a one-line reason if it cannot be used."""
    path = Path(path)
    raw = _read(path, max_mb)
    text = _decode(raw)
    answers: tuple[AnswerCell, ...] = ()
    if path.suffix == ".ipynb":
        cells, answers = _notebook_cells(text)
        kind = "notebook"
    else:
        cells = _module_cells(text)
        kind = "module"
    return Submission(path, kind, raw, tuple(cells), hashlib.sha256(raw).hexdigest(), answers)


def _read(path: Path, max_mb: float) -> bytes:
    if not path.exists() and not path.is_symlink():
        raise SubmissionError(f"{path.name}: no such file")
    if path.is_symlink():  # a link could point the grader (often root) at a rubric, a key or another student's file
        raise SubmissionError(f"{path.name}: is a symbolic link, expected the file itself")
    if path.is_dir():
        raise SubmissionError(f"{path.name}: is a folder, expected a .ipynb or .py file")
    if path.suffix not in SUFFIXES:
        raise SubmissionError(f"{path.name}: unknown file type {path.suffix or '(no extension)'!r}, expected .ipynb or .py")
    raw = _read_capped(path, int(max_mb * 1024 * 1024), max_mb)
    if not raw.strip():
        raise SubmissionError(f"{path.name}: the file is empty")
    for magic, what in _MAGIC.items():
        if raw.startswith(magic):
            raise SubmissionError(f"{path.name}: this is {what}, not a {'notebook' if path.suffix == '.ipynb' else 'Python file'}")
    if b"\x00" in raw:
        raise SubmissionError(f"{path.name}: binary content (the file contains null bytes)")
    return raw


def _read_capped(path: Path, limit: int, max_mb: float) -> bytes:
    """At most ``limit`` bytes of a regular file, checked on the opened file (no link followed, no FIFO waited on).

    O_BINARY: on Windows a descriptor is otherwise in text mode, which rewrites line ends and stops at Ctrl-Z.
    """
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SubmissionError(f"{path.name}: cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionError(f"{path.name}: not a regular file")
        too_large = SubmissionError(f"{path.name}: file is {info.st_size / 1024 / 1024:.1f} MB, over the {max_mb:g} MB limit")
        if info.st_size > limit:
            raise too_large
        raw = handle.read(limit + 1)
    if len(raw) > limit:  # it grew while being read
        raise too_large
    return raw


def _decode(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SubmissionError(f"not UTF-8 text (invalid byte at line {line}, column {column})") from None
    return text.removeprefix("\ufeff")


def _notebook_cells(text: str) -> tuple[list[CodeCell], tuple[AnswerCell, ...]]:
    data = _parse_json(text)
    if not isinstance(data, dict) or "cells" not in data:
        raise SubmissionError(f"not a notebook: the JSON holds {_json_kind(data)}, expected an object with 'cells'")
    version = data.get("nbformat")
    if version != 4:
        raise SubmissionError(f"notebook format version {version!r} is not supported (expected 4; re-save it with a current Jupyter)")
    _validate_notebook(data)
    cells = data["cells"]
    if not cells:
        raise SubmissionError("the notebook has no cells")
    if len(cells) > MAX_CELLS:
        raise SubmissionError(f"the notebook has {len(cells)} cells, over the limit of {MAX_CELLS}")
    code = [
        CodeCell(number, _source(cell))
        for number, cell in enumerate(cells, start=1)
        if cell.get("cell_type") == "code"
    ]
    if not code:
        raise SubmissionError("the notebook has no code cells")
    for cell in code:
        _check_unicode(cell)
    return code, answer_cells_of(cells)


def _check_unicode(cell: CodeCell) -> None:
    """JSON can spell lone surrogates ("\\ud800"), which no Python source or kernel message may hold."""
    try:
        cell.source.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = cell.source.count("\n", 0, exc.start) + 1
        char = cell.source[exc.start]
        raise SubmissionError(f"not valid Unicode: cell {cell.number} holds a lone surrogate ({char!a}) at line {line}") from None


def _parse_json(text: str) -> Any:
    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        raise SubmissionError(f"not a valid notebook: JSON error at line {exc.lineno} column {exc.colno} ({exc.msg})") from None
    except ValueError as exc:
        raise SubmissionError(f"not a valid notebook: {exc}") from None
    except RecursionError:
        raise SubmissionError("not a valid notebook: the JSON is nested too deeply") from None


def _json_kind(data: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}
    return names.get(type(data), "null")


def _validate_notebook(data: dict[str, Any]) -> None:
    import nbformat  # here: ~0.3 s, paid by notebooks only (a batch's discovery and .py modules never need it)
    from nbformat.validator import ValidationError

    try:
        nbformat.validate(_with_cell_ids(data), version=4)
    except ValidationError as exc:
        where = "/".join(str(p) for p in getattr(exc, "absolute_path", []) or [])
        message = str(getattr(exc, "message", exc)).splitlines()[0][:160]
        raise SubmissionError(f"not a valid notebook: {message}" + (f" (at {where})" if where else "")) from None
    except RecursionError:
        raise SubmissionError("not a valid notebook: the JSON is nested too deeply") from None


def _with_cell_ids(data: dict[str, Any]) -> dict[str, Any]:
    """The notebook with an id for every cell that lacks one (nbformat 4.5+ wants them), in memory only.

    Without them nbformat warns on stderr (MissingIDFieldWarning) about a file the student may not even have
    written by hand; the file itself is never changed.
    """
    cells = data.get("cells")
    if data.get("nbformat_minor", 0) < 5 or not isinstance(cells, list) or all(not isinstance(c, dict) or "id" in c for c in cells):
        return data
    patched = [{**cell, "id": f"grader-cell-{i}"} if isinstance(cell, dict) and "id" not in cell else cell for i, cell in enumerate(cells)]
    return {**data, "cells": patched}


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _module_cells(text: str) -> list[CodeCell]:
    try:
        compile(text, "submission.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise SubmissionError(f"SyntaxError at line {exc.lineno}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SubmissionError(f"cannot compile the module: {type(exc).__name__}") from None
    chunks: list[list[str]] = [[]]
    for line in text.splitlines(keepends=True):
        if _CELL_MARKER.match(line) and any(part.strip() for part in chunks[-1]):
            chunks.append([])
        chunks[-1].append(line)
    cells = [CodeCell(number, "".join(chunk)) for number, chunk in enumerate(chunks, start=1) if "".join(chunk).strip()]
    return cells
