"""Student code as normalised tokens: what is left when names, literals, comments and layout stop counting.

Python's own ``tokenize`` reads each cell. A name the student chose becomes
``V``, a number ``N``, a string ``S``; keywords, operators, builtins and
attribute names (``.backward``, ``.grad``: the library's words, which a
renaming does not change) stay as written. Comments, docstrings, blank lines
and indentation widths disappear. IPython lines (``%magic``, ``!shell``) are
skipped. Nothing is run.

A cell is cut into *units*: each top-level function or class on its own, and
the rest of the cell as one more unit, so that fingerprints never span two
functions and reordering them changes nothing.
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import keyword
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

NAME, NUMBER, STRING = "V", "N", "S"
_KEPT_NAMES = frozenset(dir(builtins)) | {"self", "cls"}
_SKIPPED = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER,
            tokenize.ENCODING)
_FSTRING_START, _FSTRING_END = getattr(tokenize, "FSTRING_START", -1), getattr(tokenize, "FSTRING_END", -1)  # Python 3.12+
_STRINGS = (tokenize.STRING, _FSTRING_START)
_MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


class Token(NamedTuple):
    """One normalised token and the line (1-based, in its cell) it came from (a tuple: a class has thousands)."""

    text: str
    line: int


@dataclass(frozen=True)
class Unit:
    """A function, a class or the rest of a cell: its normalised tokens, its cell and the lines it covers there.

    ``lines`` are the cell's lines that belong to the unit, in order: all of a
    definition's, and for the rest of a cell those outside its definitions.
    """

    cell: int
    lines: tuple[int, ...]
    tokens: tuple[Token, ...]


def code_cells(path: Path) -> list[str]:
    """The code cells of a notebook, or a module's text as one cell; raises OSError or ValueError when unreadable."""
    if path.suffix != ".ipynb":
        return [path.read_text(encoding="utf-8", errors="replace")]
    with path.open("rb") as handle:
        data = json.loads(handle.read(_MAX_NOTEBOOK_BYTES))
    cells = data.get("cells", []) if isinstance(data, dict) else []
    return [_cell_source(cell) for cell in cells if isinstance(cell, dict) and cell.get("cell_type") == "code"]


def _cell_source(cell: dict[str, object]) -> str:
    source = cell.get("source", "")
    return "".join(str(part) for part in source) if isinstance(source, list) else str(source)


def without_magics(source: str) -> str:
    """``source`` with IPython lines blanked (kept as empty lines so line numbers do not move)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def normalise(source: str) -> list[Token]:
    """The normalised tokens of one cell's Python (what does not tokenize is read line by line, the rest dropped)."""
    source = without_magics(source)
    try:
        return _normalised(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        found: list[Token] = []
        for number, line in enumerate(source.splitlines(), start=1):
            found.extend(Token(t.text, number) for t in _partial(line))
        return found


def _partial(line: str) -> list[Token]:
    """The tokens of one line, as many as tokenize yields before it gives up."""
    found: list[tokenize.TokenInfo] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
            found.append(token)
    except (tokenize.TokenError, SyntaxError):
        pass
    return _normalised(iter(found))


def _normalised(tokens: Iterable[tokenize.TokenInfo]) -> list[Token]:
    found: list[Token] = []
    previous: tokenize.TokenInfo | None = None
    statement_start = True  # a string alone at the start of a statement is a docstring (or a bare string): dropped
    inside_fstring = 0  # from Python 3.12 an f-string is tokenized piece by piece: it stays one S all the same
    for token in tokens:
        if token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            statement_start = True
        if token.type == _FSTRING_END:
            inside_fstring -= 1
            continue
        if token.type in _SKIPPED or inside_fstring:
            inside_fstring += token.type == _FSTRING_START
            continue
        inside_fstring += token.type == _FSTRING_START
        if not (token.type in _STRINGS and statement_start):
            found.append(Token(_placeholder(token, previous), token.start[0]))
        statement_start = False
        previous = token
    return found


def _placeholder(token: tokenize.TokenInfo, previous: tokenize.TokenInfo | None) -> str:
    if token.type == tokenize.NAME:
        after_dot = previous is not None and previous.string == "."
        if keyword.iskeyword(token.string) or after_dot or token.string in _KEPT_NAMES:
            return token.string
        return NAME
    if token.type == tokenize.NUMBER:
        return NUMBER
    if token.type in _STRINGS:
        return STRING
    return token.string


def units(cell: int, source: str) -> list[Unit]:
    """The units of one cell: each top-level function or class, then the remaining statements as one unit."""
    tokens = normalise(source)
    spans = _definition_spans(without_magics(source))
    inside = {line for first, last in spans for line in range(first, last + 1)}
    found = []
    for first, last in spans:
        tokens_inside = tuple(t for t in tokens if first <= t.line <= last)
        if tokens_inside:
            found.append(Unit(cell, tuple(range(first, last + 1)), tokens_inside))
    rest = tuple(t for t in tokens if t.line not in inside)
    if rest:
        lines = tuple(line for line in range(rest[0].line, rest[-1].line + 1) if line not in inside)
        found.append(Unit(cell, lines, rest))
    return found


def _definition_spans(source: str) -> list[tuple[int, int]]:
    """The line spans of a cell's top-level functions and classes (decorators included); none if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return []
    spans = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            spans.append((first, node.end_lineno or node.lineno))
    return spans


def normalised_lines(source: str) -> set[str]:
    """Each non-empty line of a cell as its normalised tokens joined by spaces (for subtracting a template's lines)."""
    by_line: dict[int, list[str]] = {}
    for token in normalise(source):
        by_line.setdefault(token.line, []).append(token.text)
    return {" ".join(texts) for texts in by_line.values()}
