# Over 500 lines on purpose: finding answer regions and turning them into stubs share one model of a region and one
# reading of the markers; apart, the rule that a stub must count as "not attempted" would be split from what it stubs.
"""Authoring: one solution notebook -> its answer regions -> the student notebook.

An instructor writes the solved notebook and marks what the student must write:

* ``# BEGIN SOLUTION`` / ``# END SOLUTION`` lines in a code cell (any
  indentation, any number of ``#``, trailing spaces tolerated; case-sensitive,
  as nbgrader's) around whole statements;
* the cell tag ``solution`` (or nbgrader's ``metadata.nbgrader.solution: true``)
  on a code cell without markers: the whole cell is the answer;
* ``<!-- BEGIN SOLUTION -->`` / ``<!-- END SOLUTION -->`` lines in a markdown
  cell, or the tag ``solution`` on a markdown cell without them, for a written
  answer;
* the tag ``answer:NAME`` on a markdown cell: the whole cell is the written
  answer ``NAME``, which the grader reads from the submission file (a written
  answer kind with ``name: NAME``). The tag stays in the student notebook; the
  cell may hold no solution markers (text around them would be graded as part
  of the student's answer: put the question in the cell before), and a name is
  tagged once.

:func:`answer_regions` finds these regions; :func:`make_student_notebook`
replaces each with a stub that the student contract counts as "not attempted";
:func:`replace_region` swaps one region's text (for mutation analysis). All
three are pure: no kernel, no files, the given notebook is never changed.

How a code region becomes a stub (the region's syntax tree decides):

* inside a function body: ``# YOUR CODE HERE`` and ``raise NotImplementedError``
  at the region's indentation;
* anywhere else (top level, a class body, a block): ``# YOUR CODE HERE``, then,
  in order, ``name = None`` for each name the region assigns (tuple targets give
  one line per name; assignments nested in ``if``/``for``/``with``/``try`` blocks
  count, loop variables and imports do not), each function with its decorators,
  signature and docstring and a body of ``# YOUR CODE HERE`` and
  ``raise NotImplementedError``, and each class with its header and docstring and
  its body stubbed by this same rule (so every method is stubbed: to keep some
  methods given, put the markers inside the methods to be written instead).
  Every other statement (calls, prints, imports, checks) is dropped, and a
  block left with nothing else gets a ``pass``.

Code outside the regions is kept exactly as written. Outputs and execution
counts are stripped, cell ids kept, solution-only metadata (the ``solution``
tag, ``nbgrader`` fields) removed, and ``metadata.grader`` set to
``{"assignment": ID}``.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import nbformat

from grader.errors import GraderError
from grader.load import WRITTEN_PLACEHOLDER, answer_name

YOUR_CODE_HERE = "# YOUR CODE HERE"
RAISE_STUB = "raise NotImplementedError"
WRITTEN_STUB = WRITTEN_PLACEHOLDER  # the grader reads a tagged answer cell holding only this as "not attempted"
SOLUTION_TAG = "solution"
RegionKind = Literal["code-lines", "code-cell", "markdown"]


class SolutionNotebookError(GraderError):
    """A solution notebook whose answer regions cannot be read or stubbed (exit status 2)."""


@dataclass(frozen=True)
class AnswerRegion:
    """One marked answer in a solution notebook.

    ``cell_index`` is the 0-based place in ``nb.cells`` (messages say ``cell N``,
    1-based, as the rest of the grader does). ``first_line`` and ``last_line`` are
    1-based lines of the cell's source holding the answer itself, markers excluded
    (an empty region has ``last_line == first_line - 1``). ``kind`` is one of
    ``code-lines`` (between markers in a code cell), ``code-cell`` (a whole tagged
    code cell) or ``markdown`` (between markers in, or the whole of, a markdown
    cell). ``exercise`` comes from the cell's ``metadata.grader.exercise``, else
    from its id's prefix (``ex3-answer`` -> ``ex3``) when that prefix holds a
    digit, else it is None.
    """

    cell_index: int
    cell_id: str | None
    exercise: str | None
    kind: RegionKind
    first_line: int
    last_line: int
    source: str


@dataclass(frozen=True)
class _Markers:
    begin: re.Pattern[str]
    end: re.Pattern[str]
    near: re.Pattern[str]
    begin_text: str
    end_text: str




def _markers(opening: str, closing: str, comment: str) -> _Markers:
    """The markers of a solution region written as ``comment`` (``{}`` for BEGIN/END); ``opening``/``closing`` as regexes."""

    def marker(word: str) -> re.Pattern[str]:
        return re.compile(rf"^\s*{opening}\s*{word} SOLUTION\s*{closing}\s*$")

    near = re.compile(rf"^\s*{opening}\s*(begin|end)\s*solution", re.IGNORECASE)
    return _Markers(marker("BEGIN"), marker("END"), near, comment.format("BEGIN"), comment.format("END"))


_CODE_MARKERS = _markers("#+", "", "# {} SOLUTION")
_MARKDOWN_MARKERS = _markers("<!--", "-->", "<!-- {} SOLUTION -->")
# IPython line magics and shell escapes are not Python: parsed as `pass` (and so dropped inside a region).
_MAGIC = re.compile(r"^(\s*)(?:%{1,2}|!)(?=[A-Za-z])")


# ------------------------------------------------------------------ regions


def answer_regions(nb: Any) -> list[AnswerRegion]:
    """The answer regions of a solution notebook, in order; refuse unclosed, stray, nested or misspelt markers."""
    regions: list[AnswerRegion] = []
    named: dict[str, str] = {}
    for index, cell in enumerate(nb["cells"]):
        _check_answer_tag(index, cell, named)
        regions.extend(_cell_regions(index, cell))
    return regions


def _check_answer_tag(index: int, cell: Any, named: dict[str, str]) -> None:
    """Refuse an ``answer:NAME`` tag the grader could not read as one whole written answer."""
    name = answer_name(cell.get("metadata", {}).get("tags"))
    if name is None:
        return
    place = cell_label(index, cell)
    if cell["cell_type"] != "markdown":
        raise SolutionNotebookError(f"{place}: the tag 'answer:{name}' marks a markdown cell; in code, the answer is the string `{name}` is set to")
    if name in named:
        raise SolutionNotebookError(f"{place}: the written answer {name!r} is already tagged on {named[name]}")
    if _marked_spans(cell_source(cell).split("\n"), _MARKDOWN_MARKERS, place):
        raise SolutionNotebookError(
            f"{place}: a cell tagged 'answer:{name}' is the answer as a whole, so it holds no solution markers "
            "(the text around them would be graded as the student's): move that text to a cell of its own")
    named[name] = place


def _cell_regions(index: int, cell: Any) -> list[AnswerRegion]:
    lines_kind: RegionKind
    whole_kind: RegionKind
    if cell["cell_type"] == "code":
        markers, lines_kind, whole_kind = _CODE_MARKERS, "code-lines", "code-cell"
    elif cell["cell_type"] == "markdown":
        markers, lines_kind, whole_kind = _MARKDOWN_MARKERS, "markdown", "markdown"
    else:
        return []
    lines = cell_source(cell).split("\n")
    spans = _marked_spans(lines, markers, cell_label(index, cell))
    if spans:
        return [_region(index, cell, lines_kind, begin + 1, end - 1, lines) for begin, end in spans]
    if _tagged_solution(cell) or (cell["cell_type"] == "markdown" and answer_name(cell.get("metadata", {}).get("tags"))):
        return [_region(index, cell, whole_kind, 1, len(lines), lines)]
    return []


def _marked_spans(lines: Sequence[str], markers: _Markers, place: str) -> list[tuple[int, int]]:
    """(BEGIN line, END line) pairs, 1-based."""
    spans: list[tuple[int, int]] = []
    opened: int | None = None
    for number, line in enumerate(lines, 1):
        if markers.begin.match(line):
            if opened is not None:
                raise SolutionNotebookError(
                    f"{place}, line {number}: {markers.begin_text!r} inside the region opened at line {opened} (regions cannot nest)")
            opened = number
        elif markers.end.match(line):
            if opened is None:
                raise SolutionNotebookError(f"{place}, line {number}: {markers.end_text!r} without a {markers.begin_text!r} before it")
            spans.append((opened, number))
            opened = None
        elif markers.near.match(line):
            raise SolutionNotebookError(
                f"{place}, line {number}: {line.strip()!r} looks like a solution marker but is not one "
                f"(write {markers.begin_text!r} or {markers.end_text!r} exactly, alone on its line)")
    if opened is not None:
        raise SolutionNotebookError(f"{place}, line {opened}: {markers.begin_text!r} is never closed by {markers.end_text!r}")
    return spans


def _region(index: int, cell: Any, kind: RegionKind, first: int, last: int, lines: Sequence[str]) -> AnswerRegion:
    cell_id = cell.get("id")
    return AnswerRegion(index, cell_id, _exercise(cell), kind, first, last, "\n".join(lines[first - 1 : last]))


def _exercise(cell: Any) -> str | None:
    named = (cell.get("metadata", {}).get("grader") or {}).get("exercise")
    if isinstance(named, str) and named:
        return named
    prefix, dash, _ = str(cell.get("id") or "").partition("-")
    return prefix if dash and any(ch.isdigit() for ch in prefix) else None


def _tagged_solution(cell: Any) -> bool:
    metadata = cell.get("metadata", {})
    return SOLUTION_TAG in metadata.get("tags", []) or (metadata.get("nbgrader") or {}).get("solution") is True


def cell_source(cell: Any) -> str:
    """A cell's source as one string (nbformat stores it as a string or a list of lines)."""
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else str(source)


def cell_label(index: int, cell: Any) -> str:
    """How messages name the cell at 0-based ``index``: ``cell 25 (ex1-answer)``."""
    cell_id = cell.get("id")
    return f"cell {index + 1} ({cell_id})" if cell_id else f"cell {index + 1}"


def _whole_cell(region: AnswerRegion) -> bool:
    # Markers sit on their own lines, so a marked region never starts at line 1.
    return region.kind == "code-cell" or (region.kind == "markdown" and region.first_line == 1)


def replace_region(nb: Any, region: AnswerRegion, new_text: str) -> Any:
    """A copy of ``nb`` with ``region``'s lines replaced by ``new_text`` (markers kept); ``nb`` is unchanged.

    Raises ValueError when the cell no longer holds the region's text (a region
    found in another version of the notebook).
    """
    changed = _copy(nb)
    cell = changed["cells"][region.cell_index]
    lines = cell_source(cell).split("\n")
    if "\n".join(lines[region.first_line - 1 : region.last_line]) != region.source:
        raise ValueError(f"{cell_label(region.cell_index, cell)}: lines {region.first_line}-{region.last_line} no longer hold this region")
    lines[region.first_line - 1 : region.last_line] = new_text.split("\n") if new_text else []
    cell["source"] = "\n".join(lines)
    return changed


# ------------------------------------------------------------------ the student notebook


def make_student_notebook(nb: Any, assignment_id: str) -> Any:
    """The student version of solution notebook ``nb``: answers stubbed, outputs stripped, assignment id set.

    Raises :class:`SolutionNotebookError` naming the cell and line when a region
    cannot be stubbed (unclosed, stray or nested markers, a region that is not
    whole statements, a cell that is not valid Python before or after stubbing).
    """
    student = _copy(nb)
    regions = answer_regions(nb)
    for index, cell in enumerate(student["cells"]):
        mine = [r for r in regions if r.cell_index == index]
        if mine:
            place = cell_label(index, cell)
            stub = _student_code if cell["cell_type"] == "code" else _student_markdown
            cell["source"] = stub(cell_source(cell), mine, place)
        _strip_cell(cell)
    metadata = student["metadata"]
    metadata.pop("widgets", None)
    metadata["grader"] = {"assignment": assignment_id}
    return student


def notebook_assignment(nb: Any) -> str | None:
    """The assignment id a notebook names in ``metadata.grader.assignment``, if any."""
    named = (nb.get("metadata", {}).get("grader") or {}).get("assignment")
    return named if isinstance(named, str) and named else None


def _copy(nb: Any) -> Any:
    return nbformat.from_dict(copy.deepcopy(dict(nb)))


def _strip_cell(cell: Any) -> None:
    if cell["cell_type"] == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    metadata = cell.setdefault("metadata", {})
    metadata.pop("nbgrader", None)
    metadata.pop("execution", None)  # run timestamps
    tags = [tag for tag in metadata.get("tags", []) if tag != SOLUTION_TAG]
    if tags:
        metadata["tags"] = tags
    else:
        metadata.pop("tags", None)


def _student_markdown(source: str, regions: list[AnswerRegion], place: str) -> str:
    lines = source.split("\n")
    for region in reversed(regions):
        if _whole_cell(region):
            return WRITTEN_STUB
        indent = _indent(lines[region.first_line - 2])  # the BEGIN marker's: a region may sit in a list item
        lines[region.first_line - 2 : region.last_line + 1] = [indent + WRITTEN_STUB]
    return "\n".join(lines)


def _student_code(source: str, regions: list[AnswerRegion], place: str) -> str:
    original = source.split("\n")
    lines = list(original)
    tree = _parse(source, f"{place}, line {{line}}: not valid Python ({{msg}})")
    for region in reversed(regions):  # from the bottom up, so the line numbers above stay right
        stub = _code_stub(tree, original, region, place)
        if _whole_cell(region):
            lines = stub
        else:
            lines[region.first_line - 2 : region.last_line + 1] = stub
    student = "\n".join(lines)
    _parse(student, f"{place}: the student version is not valid Python after stubbing (its line {{line}}: {{msg}})")
    return student


def _parse(source: str, message: str) -> ast.Module:
    masked = "\n".join(_MAGIC.sub(r"\1pass  #", line) for line in source.split("\n"))
    try:
        return ast.parse(masked)
    except SyntaxError as exc:
        raise SolutionNotebookError(message.format(line=exc.lineno, msg=exc.msg)) from None


# ------------------------------------------------------------------ code stubs


def _code_stub(tree: ast.Module, lines: list[str], region: AnswerRegion, place: str) -> list[str]:
    """The lines that replace ``region`` (and its marker lines) in the student cell."""
    if _whole_cell(region):
        return [YOUR_CODE_HERE, *_stub_statements(tree.body, lines, "", leading_blanks=False)]
    first, last = region.first_line, region.last_line
    where = f"{place}, {_span(first, last)}"
    parents = _parents(tree)
    inside = _region_statements(tree, parents, lines, first, last, where)
    if inside:
        indent, anchor = _indent(lines[_start(inside[0]) - 1]), inside[0]
    else:  # only comments: a `pass` at the BEGIN marker's indentation shows which block the region is in
        indent = _indent(lines[first - 2])
        probe = _parse("\n".join([*lines[: first - 1], indent + "pass", *lines[last:]]),
                       f"{where}: the region holds no code and its markers' indentation fits no block (line {{line}}: {{msg}})")
        parents = _parents(probe)
        anchor = next(s for s in _statements(probe) if isinstance(s, ast.Pass) and s.lineno == first)
    around = _enclosing(anchor, parents)
    scope = next((s for s in around if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))), None)
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return [indent + YOUR_CODE_HERE, indent + RAISE_STUB]
    body = _stub_statements(inside, lines, indent, leading_blanks=False)
    if around and not body:  # a block cannot be left with only a comment
        body = [indent + "pass"]
    return [indent + YOUR_CODE_HERE, *body]


def _region_statements(tree: ast.Module, parents: dict[ast.AST, ast.AST], lines: list[str], first: int, last: int, where: str) -> list[ast.stmt]:
    """The outermost statements in lines first..last; refuse a region that is not whole statements of one block."""
    refuse = f"{where}: a solution region must hold whole statements of one block, but"
    for stmt in _statements(tree):
        start, end = _start(stmt), _end(stmt)
        if end < first or start > last or first <= start <= end <= last:
            continue
        if start >= first or not _compound(stmt):
            raise SolutionNotebookError(f"{refuse} it cuts the statement at {_span(start, end)} in two")
        if first <= _header_end(stmt):
            raise SolutionNotebookError(f"{refuse} it cuts the header of the statement at line {start}")
    inside = [s for s in _statements(tree) if first <= _start(s) and _end(s) <= last]
    outermost = [s for s in inside if not any(a in inside for a in _enclosing(s, parents))]
    if len({id(_block_of(s, parents)) for s in outermost}) > 1:
        raise SolutionNotebookError(f"{refuse} it spans two blocks")
    outermost.sort(key=_start)
    covered = {n for s in outermost for n in range(_start(s), _end(s) + 1)}
    for number in range(first, last + 1):
        text = lines[number - 1].strip()
        if text and not text.startswith("#") and number not in covered:
            raise SolutionNotebookError(f"{refuse} line {number} ({text!r}) belongs to the statement around it")
    return outermost


def _stub_statements(stmts: Sequence[ast.stmt], lines: list[str], indent: str, leading_blanks: bool) -> list[str]:
    """The stub lines of one block's ``stmts`` (names set to None, functions and classes stubbed), original spacing kept."""
    out: list[str] = []
    seen: set[str] = set()
    for stmt in stmts:
        chunk = _stub_statement(stmt, lines, indent, seen)
        if chunk:
            if out or leading_blanks:
                out.extend([""] * _blanks_before(_start(stmt), lines))
            out.extend(chunk)
    return out


def _stub_statement(stmt: ast.stmt, lines: list[str], indent: str, seen: set[str]) -> list[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return _function_stub(stmt, lines)
    if isinstance(stmt, ast.ClassDef):
        return _class_stub(stmt, lines)
    new = [name for name in dict.fromkeys(_assigned_names(stmt)) if name not in seen]
    seen.update(new)
    return [f"{indent}{name} = None" for name in new]


def _function_stub(fn: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> list[str]:
    header, docstring, indent = _header_and_docstring(fn, lines)
    return [*header, *docstring, indent + YOUR_CODE_HERE, indent + RAISE_STUB]


def _class_stub(cls: ast.ClassDef, lines: list[str]) -> list[str]:
    header, docstring, indent = _header_and_docstring(cls, lines)
    rest = cls.body[1:] if docstring else cls.body
    body = _stub_statements(rest, lines, indent, leading_blanks=bool(docstring))
    if not body and not docstring:
        body = [indent + "pass"]
    return [*header, *docstring, *body]


def _header_and_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, lines: list[str]) -> tuple[list[str], list[str], str]:
    """The header lines (decorators to the colon), the docstring lines and the body's indentation."""
    first_body = node.body[0]
    body_line = lines[first_body.lineno - 1]
    before_body = _text_before(body_line, first_body.col_offset)
    header = lines[_start(node) - 1 : _start(first_body) - 1]
    if before_body.strip():  # a one-line body: `def f(x): return x`
        header = [*header, before_body.rstrip()]
        indent = _indent(lines[_start(node) - 1]) + "    "
    else:
        while header and (not header[-1].strip() or header[-1].strip().startswith("#")):
            header.pop()  # comments between the header and the body go with the body
        indent = _indent(body_line)
    docstring: list[str] = []
    if _is_docstring(first_body):
        docstring = (indent + _segment(lines, first_body)).split("\n")
    return header, docstring, indent


def _assigned_names(node: ast.AST) -> list[str]:
    """Names bound by assignments in ``node``, in order, outside nested functions and classes."""
    if isinstance(node, ast.Assign):
        return [name for target in node.targets for name in _target_names(target)]
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return _target_names(node.target)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return []
    names: list[str] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.stmt, ast.excepthandler, ast.match_case)):
            names.extend(_assigned_names(child))
    return names


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []  # attributes and subscripts change existing objects; they bind no name


# ------------------------------------------------------------------ syntax-tree helpers


def _statements(tree: ast.AST) -> list[ast.stmt]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.stmt)]


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _enclosing(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> list[ast.stmt]:
    """The statements around ``node``, innermost first."""
    found: list[ast.stmt] = []
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.stmt):
            found.append(node)
    return found


def _block_of(stmt: ast.stmt, parents: dict[ast.AST, ast.AST]) -> list[ast.stmt]:
    """The statement list (a body, an else, a handler's body) that holds ``stmt``."""
    owner = parents[stmt]
    return next(value for _, value in ast.iter_fields(owner) if isinstance(value, list) and any(v is stmt for v in value))


def _compound(stmt: ast.stmt) -> bool:
    return hasattr(stmt, "body") or isinstance(stmt, ast.Match)


def _header_end(stmt: ast.stmt) -> int:
    """The last line of a compound statement's header (signature, condition, items), decorators aside."""
    end = stmt.lineno
    for field, value in ast.iter_fields(stmt):
        if field in {"body", "orelse", "finalbody", "handlers", "cases", "decorator_list"}:
            continue
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ast.AST):
                end = max([end, *(getattr(n, "end_lineno", None) or 0 for n in ast.walk(child))])
    return end


def _end(node: ast.stmt) -> int:
    return node.end_lineno or node.lineno


def _start(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _segment(lines: list[str], node: ast.stmt) -> str:
    """The exact source text of ``node`` (its offsets count UTF-8 bytes)."""
    end_line = node.end_lineno or node.lineno
    end_col = node.end_col_offset if node.end_col_offset is not None else len(lines[end_line - 1].encode())
    chunk = lines[node.lineno - 1 : end_line]
    if len(chunk) == 1:
        return chunk[0].encode()[node.col_offset : end_col].decode()
    return "\n".join([chunk[0].encode()[node.col_offset :].decode(), *chunk[1:-1], chunk[-1].encode()[:end_col].decode()])


def _span(first: int, last: int) -> str:
    if first == last:
        return f"line {first}"
    return f"lines {first}-{last}" if first < last else f"the empty region at line {first - 1}"


def _text_before(line: str, col_offset: int) -> str:
    return line.encode()[:col_offset].decode()


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _blanks_before(line_number: int, lines: list[str]) -> int:
    count = 0
    while line_number - 2 - count >= 0 and not lines[line_number - 2 - count].strip():
        count += 1
    return count
