"""Grade only what a mutant can change: the cells one exercise can depend on.

A mutant differs from its solution in one exercise, and is graded with
``only=(that exercise,)``; the lesson's other cells (plots, demonstrations,
the other exercises) cost time but cannot change that grade unless the
exercise reads a name they bind. :func:`exercise_slice` keeps the exercise's
answer cells and, to a fixed point, every code cell that binds a name a kept
cell reads or the exercise's checks read. It errs on the side of keeping:
a cell binds a name when it assigns, imports, defines or deletes it at top
level, declares it ``global``, stores into one of its attributes or items,
or calls a method on it in a statement of its own (``opt.step()``), unless
the name is an import's (``torch.manual_seed(0)`` is not taken to change
``torch``: a cell that does only that is dropped). A cell that cannot be
parsed or star-imports is always kept.

A slice is trusted only after its solution has been graded on it and gave the
same answers as the whole notebook (:mod:`grader.mutation.runner` checks this
and falls back to the whole notebook otherwise).
"""

from __future__ import annotations

import ast
import copy
import functools
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import nbformat

from grader.authoring.notebook import cell_source
from grader.checks.registry import CHECK_KINDS
from grader.rubric import ExerciseSpec

# IPython magics and shell escapes are not Python; parsed as `pass`, as grader.authoring.notebook does.
_MAGIC = re.compile(r"^(\s*)(?:%{1,2}|!)(?=[A-Za-z])")


@dataclass(frozen=True)
class CellNames:
    """The global names a code cell may bind and the names it reads; ``opaque`` when it cannot be told.

    ``called`` are the names whose methods it calls in statements of their own
    (they bind those names unless they name an import), ``imported`` the names
    its imports bind.
    """

    binds: frozenset[str]
    reads: frozenset[str]
    opaque: bool = False
    called: frozenset[str] = frozenset()
    imported: frozenset[str] = frozenset()


def exercise_names(exercise: ExerciseSpec) -> set[str]:
    """The global names an exercise's checks read: its answers (``Class.attr`` gives ``Class``) and each check's names."""
    names = {answer.split(".")[0] for answer in exercise.answers}
    for spec in exercise.checks:
        names |= CHECK_KINDS[spec.kind](spec).names()
    return names


def exercise_slice(nb: Any, keep: Collection[int], names: Collection[str]) -> tuple[Any, list[int]]:
    """A copy of ``nb`` with only the code cells the exercise can depend on (see the module docstring), and their indices in ``nb``.

    ``keep`` are the indices of cells always kept (the exercise's answer cells),
    ``names`` the global names its checks read.
    """
    kept = slice_cells(nb, keep, names)
    rest = {key: copy.deepcopy(value) for key, value in nb.items() if key != "cells"}
    return nbformat.from_dict({**rest, "cells": [copy.deepcopy(nb["cells"][index]) for index in kept]}), kept


def slice_cells(nb: Any, keep: Collection[int], names: Collection[str]) -> list[int]:
    """The indices, in order, of the code cells of ``nb`` that :func:`exercise_slice` keeps."""
    infos = {i: cell_names(cell_source(cell)) for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"}
    modules = set().union(*(info.imported for info in infos.values()))
    binds = {i: info.binds | (info.called - modules) for i, info in infos.items()}
    needed = set(names)
    kept: set[int] = set()
    changed = True
    while changed:  # a function defined early may read a name bound by a later cell: go round until nothing changes
        changed = False
        for index in sorted(infos, reverse=True):
            info = infos[index]
            if index in kept or not (index in keep or info.opaque or binds[index] & needed):
                continue
            kept.add(index)
            needed |= info.reads
            changed = True
    return sorted(kept)


def parse_cell(source: str) -> ast.Module | None:
    """A code cell's syntax tree (IPython magics read as ``pass``), or None when it is not valid Python."""
    try:
        return ast.parse("\n".join(_MAGIC.sub(r"\1pass  #", line) for line in source.split("\n")))
    except SyntaxError:
        return None


@functools.lru_cache(maxsize=4096)  # every mutant's notebook repeats the solution's other cells
def cell_names(source: str) -> CellNames:
    """What one code cell binds and reads (see the module docstring)."""
    tree = parse_cell(source)
    if tree is None:
        return CellNames(frozenset(), frozenset(), opaque=True)
    reads = _global_reads(tree)
    binds: set[str] = set()
    called: set[str] = set()
    imported: set[str] = set()
    opaque = False
    for node, top_level in _nodes(tree):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            opaque = True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute):
            called |= _root(node.value.func.value)  # `opt.step()`: may change the object
        binds |= _bound(node, top_level)
    return CellNames(frozenset(binds), frozenset(reads), opaque, frozenset(called), frozenset(imported))


def _global_reads(tree: ast.Module) -> set[str]:
    """The names a cell reads from the global scope: every load, except of a function's own parameters and locals."""
    reads: set[str] = set()

    def visit(node: ast.AST, local: frozenset[str]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            outside: list[ast.AST] = [*getattr(node, "decorator_list", []), *args.defaults, *(d for d in args.kw_defaults if d)]
            for child in outside:
                visit(child, local)
            body: list[ast.stmt] = node.body if isinstance(node.body, list) else [ast.Expr(node.body)]
            inner = local | _parameters(args) | (_stored(body) - _declared_global(body))
            for child in body:
                visit(child, frozenset(inner))
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            local = local | _stored(node.generators)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
            reads.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child, local)

    for stmt in tree.body:
        visit(stmt, frozenset())
    return reads


def _parameters(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, *(a for a in (args.vararg, args.kwarg) if a)]
    return {a.arg for a in every}


def _stored(nodes: list[ast.stmt] | list[ast.comprehension]) -> set[str]:
    """Names a function body (or comprehension) binds itself, not looking into nested functions or classes."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
            return
        if isinstance(node, ast.Lambda):
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    for node in nodes:
        visit(node)
    return found


def _declared_global(body: list[ast.stmt]) -> set[str]:
    found: set[str] = set()
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                found.update(node.names)
    return found


def _nodes(tree: ast.Module) -> list[tuple[ast.AST, bool]]:
    """Every node, with whether it runs in the module's scope (not inside a function, lambda or class body)."""
    found: list[tuple[ast.AST, bool]] = []

    def visit(node: ast.AST, top_level: bool) -> None:
        found.append((node, top_level))
        inner = top_level and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    for stmt in tree.body:
        visit(stmt, True)
    return found


def _bound(node: ast.AST, top_level: bool) -> set[str]:
    if isinstance(node, ast.Global):
        return set(node.names)
    if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return _root(node)  # an object changed in place, wherever the statement is
    if not top_level:
        return set()
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return {node.id}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    return set()


def _root(node: ast.AST) -> set[str]:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return {node.id} if isinstance(node, ast.Name) else set()
