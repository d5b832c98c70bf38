"""The answer scan of a student kit: no answer of the solution notebook, and no code of the reference, in any file of it.

What counts as an answer (each compared after collapsing every run of
whitespace to one space):

* every answer region of the solution notebook (:func:`grader.authoring.notebook.answer_regions`),
  whole;
* every significant line of a region: the line as written and its code
  without a trailing comment, each when it has 24 characters or more, opens no
  block or bracket (``model = nn.Sequential(``, ``while node is not None:``),
  is not an import (an import names a tool, as the contract and hints do), and
  is not a line the solution also has outside its answer regions (that line is
  in the template, given to every student). Shorter lines are too common to
  mean anything: the grader's own code has ``torch.manual_seed(0)`` too;
* every top-level function and class of the reference module, whole, and the
  significant lines of their bodies (docstrings and comments left out, public
  lines too: the lesson gives the class ``DualNumber`` the reference extends).

Where it looks: every file under the kit's folder (or in a wheel), as text; a
notebook by its cells' sources, a JSON file also by every string it holds.
"""

from __future__ import annotations

import ast
import io
import json
import re
import zipfile
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.authoring.notebook import answer_regions, cell_source
from grader.shorten import shorten

MIN_TEXT = 20  # a whole region or definition shorter than this is not looked for
MIN_LINE = 24
_OPENER = re.compile(r"[:(\[{,]$")
_IMPORT = re.compile(r"^(import|from)\s+\S+")
_COMMENT = re.compile(r"\s+#.*$")


@dataclass(frozen=True)
class Leak:
    """An answer found in a kit: the file, and which answer (a region, or one of its lines, or a reference definition)."""

    file: str
    answer: str

    def __str__(self) -> str:
        return f"{self.file}: {self.answer}"


def normalise(text: str) -> str:
    """Text with every run of whitespace made one space, ends stripped."""
    return " ".join(text.split())


def answers_of(solution: Any, reference_source: str | None) -> list[tuple[str, str]]:
    """(what, normalised text) of everything a kit must not contain, from the solution notebook and the reference's source."""
    regions = answer_regions(solution)
    public = _public_lines(solution, regions, cell_source)
    found: list[tuple[str, str]] = []
    for region in regions:
        where = f"answer region of {region.exercise or 'the solution'} (cell {region.cell_index + 1}, lines {region.first_line}-{region.last_line})"
        found.append((where, normalise(region.source)))
        found += [(f"a line of the {where}: {shorten(line, 70)!r}", line) for line in significant_lines(region.source, public)]
    if reference_source is not None:
        found += _reference_answers(reference_source, public)
    return [(what, text) for what, text in dict.fromkeys(found) if len(text) >= MIN_TEXT]


def significant_lines(source: str, public: AbstractSet[str] = frozenset()) -> list[str]:
    """The normalised lines of ``source`` a scan looks for: long enough, not imports, not public."""
    lines: list[str] = []
    for raw in source.splitlines():
        line = normalise(raw)
        if _IMPORT.match(line) or line.startswith("#"):
            continue
        code = normalise(_COMMENT.sub("", raw))
        for candidate in dict.fromkeys((line, code)):
            if len(candidate) >= MIN_LINE and not _OPENER.search(candidate) and candidate not in public:
                lines.append(candidate)
    return lines


def _public_lines(solution: Any, regions: list[Any], cell_source: Any) -> set[str]:
    """The normalised lines the solution has outside its answer regions (and their code without comments)."""
    inside: dict[int, set[int]] = {}
    for region in regions:
        inside.setdefault(region.cell_index, set()).update(range(region.first_line, region.last_line + 1))
    public: set[str] = set()
    for index, cell in enumerate(solution["cells"]):
        for number, raw in enumerate(cell_source(cell).splitlines(), start=1):
            if number not in inside.get(index, set()):
                public.update({normalise(raw), normalise(_COMMENT.sub("", raw))})
    return public


def _reference_answers(source: str, public: AbstractSet[str]) -> list[tuple[str, str]]:
    tree = ast.parse(source)
    found: list[tuple[str, str]] = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        what = f"the reference's {'class' if isinstance(node, ast.ClassDef) else 'function'} {node.name}"
        segment = ast.get_source_segment(source, node) or ""
        found.append((what, normalise(segment)))
        body = _without_docstrings(node)
        found += [(f"a line of {what}: {shorten(line, 70)!r}", line) for line in significant_lines(body, public)]
    return found


def _without_docstrings(node: ast.AST) -> str:
    """The code of a definition's body, docstrings left out (what a definition says about itself is not an answer)."""
    lines: list[str] = []
    for child in ast.walk(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for statement in child.body:
                is_doc = isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)
                if not is_doc and not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    lines.append(ast.unparse(statement))
    return "\n".join(lines)


def kit_texts(root: Path) -> Iterator[tuple[str, str]]:
    """(file, normalised text) of every file under ``root``, or of every member when ``root`` is a wheel or zip file."""
    if root.is_file():
        with zipfile.ZipFile(root) as archive:
            for name in sorted(archive.namelist()):
                yield from ((f"{root.name}!{name}", text) for text in _texts(name, archive.read(name)))
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        yield from ((str(path.relative_to(root)), text) for text in _texts(path.name, path.read_bytes()))


def _texts(name: str, data: bytes) -> Iterator[str]:
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield from _texts(member, archive.read(member))
        return
    text = data.decode("utf-8", errors="replace")
    yield normalise(text)
    if name.endswith((".json", ".ipynb")):
        try:
            yield normalise("\n".join(_strings(json.loads(text))))
        except ValueError:
            pass


def _strings(value: Any) -> Iterator[str]:
    """Every string in JSON data (a notebook's cell sources joined, as they read)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            yield "".join(value)
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def scan(root: Path, solution: Any, reference_source: str | None) -> list[Leak]:
    """Every answer (see the module docstring) found in the kit at ``root``; [] when there is none."""
    answers = answers_of(solution, reference_source)
    leaks = []
    for file, text in kit_texts(root):
        leaks += [Leak(file, what) for what, answer in answers if answer in text]
    return list(dict.fromkeys(leaks))
