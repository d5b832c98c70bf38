"""The corpus in rounds: one notebook holds a variant of every exercise, so that a kernel run grades four variants.

A kernel run costs seconds and a variant needs only its own exercise's names,
so each round notebook holds one variant of each exercise, in exercise order,
and is graded on all four. For every answer to be graded as it would be
alone, the variants of a round bind no top-level name in common (the same
import excepted): no answer can meet another's helpers or demo values.
Exercises with fewer variants than the longest one repeat earlier variants,
so that every round is a whole notebook worth 100 points. Data only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence

from tests.conformance.records import Variant


def top_level_names(cells: Iterable[str]) -> dict[str, str]:
    """Each name the cells bind at the top level, with what binds it: ``import <module>`` for imports, ``''`` otherwise."""
    names: dict[str, str] = {}
    for source in cells:
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names[node.name] = ""
            elif isinstance(node, ast.Import):
                names.update({alias.asname or alias.name.split(".")[0]: f"import {alias.name}" for alias in node.names})
            elif isinstance(node, ast.ImportFrom):
                names.update({alias.asname or alias.name: f"import {node.module}.{alias.name}" for alias in node.names})
            else:  # assignments, loops, with-statements, walrus: every name stored outside a function or class body
                names.update({n.id: "" for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)})
    return names


def shared_names(answers: Sequence[Sequence[str]]) -> set[str]:
    """Names that two of the ``answers`` (each a sequence of cells) both bind, other than by the same import."""
    shared: set[str] = set()
    seen: dict[str, str] = {}
    for cells in answers:
        names = top_level_names(cells)
        shared |= {name for name, how in names.items() if name in seen and (how == "" or seen[name] != how)}
        seen.update(names)
    return shared


def make_rounds(groups: Sequence[Sequence[Variant]]) -> tuple[tuple[Variant, ...], ...]:
    """As many rounds as the largest group has variants, each with one variant per group and no shared names.

    Each group's variants are taken in order, skipping one that would share a
    name with the round so far; once a group is used up its variants come
    round again. (When every candidate shares a name the first is taken, and
    the corpus's own test of the rounds fails.)
    """
    unused = [list(group) for group in groups]
    rounds = []
    for _ in range(max(len(group) for group in groups)):
        chosen: list[Variant] = []
        for group, left in zip(groups, unused, strict=True):
            candidates = left or list(group)
            pick = next((c for c in candidates if not shared_names([v.answer_cells for v in (*chosen, c)])), candidates[0])
            if pick in left:
                left.remove(pick)
            chosen.append(pick)
        rounds.append(tuple(chosen))
    return tuple(rounds)
