"""The mutants of a solution notebook: each answer region's mutations, numbered, sampled, and made into notebooks.

Mutants are made only inside code answer regions (written answers in
markdown are not code). Each gets an id from its place in the full, fixed
order of all mutants of the notebook (``m001``...), so an id means the same
mutant whatever ``--only`` or ``--max-mutants`` selected.
"""

from __future__ import annotations

import ast
import difflib
import random
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from grader.authoring.notebook import AnswerRegion, answer_regions, cell_label, cell_source, replace_region
from grader.mutation.operators import RegionContext, mutate
from grader.mutation.slicing import parse_cell

_TORCH = re.compile(r"\btorch\b")


@dataclass(frozen=True)
class Mutant:
    """One changed copy of the solution: where, by which operator, and the region's new text.

    ``line`` is the changed line, 1-based in the cell (as the diff numbers it);
    ``diff`` is a unified diff of the cell with one line of context.
    """

    id: str
    exercise: str
    operator: str
    what: str
    cell_index: int
    cell: str
    line: int
    region: AnswerRegion
    text: str
    diff: str


def generate_mutants(nb: Any, exercises: Collection[str] | None = None) -> list[Mutant]:
    """Every mutant of ``nb``'s code answer regions, in notebook order (of the given exercises, when named)."""
    mutants: list[Mutant] = []
    number = 0
    for region in answer_regions(nb):
        if region.kind == "markdown" or region.exercise is None:
            continue
        cell = nb["cells"][region.cell_index]
        for mutation in mutate(region.source, region_context(nb, region)):
            number += 1
            if exercises is not None and region.exercise not in exercises:
                continue
            line = region.first_line + mutation.line - 1
            changed = replace_region(nb, region, mutation.source)["cells"][region.cell_index]
            mutants.append(Mutant(
                id=f"m{number:03d}", exercise=region.exercise, operator=mutation.operator, what=mutation.what,
                cell_index=region.cell_index, cell=cell_label(region.cell_index, cell), line=line, region=region,
                text=mutation.source, diff=cell_diff(cell_source(cell), cell_source(changed), cell_label(region.cell_index, cell)),
            ))
    return mutants


def sample(mutants: Sequence[Mutant], limit: int | None, seed: int) -> list[Mutant]:
    """At most ``limit`` mutants, chosen deterministically for ``seed`` and spread over exercises and operators.

    Exercises take turns; within an exercise its operators take turns; within
    an operator the mutants come in an order shuffled by ``seed``. The chosen
    ones are returned in their original order.
    """
    if limit is None or len(mutants) <= limit:
        return list(mutants)
    rng = random.Random(seed)
    groups: dict[str, dict[str, list[Mutant]]] = {}
    for mutant in mutants:
        groups.setdefault(mutant.exercise, {}).setdefault(mutant.operator, []).append(mutant)
    for operators in groups.values():
        for members in operators.values():
            rng.shuffle(members)
    turns = dict.fromkeys(groups, 0)
    chosen: set[str] = set()
    while len(chosen) < limit:
        for exercise, operators in groups.items():
            left = [name for name, members in operators.items() if members]
            if not left or len(chosen) >= limit:
                continue
            chosen.add(operators[left[turns[exercise] % len(left)]].pop(0).id)
            turns[exercise] += 1
    return [m for m in mutants if m.id in chosen]


def mutant_notebook(nb: Any, mutant: Mutant) -> Any:
    """A copy of ``nb`` with the mutant's region replaced (``nb`` is unchanged)."""
    return replace_region(nb, mutant.region, mutant.text)


def region_context(nb: Any, region: AnswerRegion) -> RegionContext:
    """What the operators may know about ``region``: its function's parameters, whether its cell uses torch, torch's name."""
    source = cell_source(nb["cells"][region.cell_index])
    return RegionContext(
        parameters=_parameters(source, region),
        tensor_code=bool(_TORCH.search(source)),
        torch_name=_torch_name(nb, region.cell_index),
    )


def cell_diff(old: str, new: str, label: str) -> str:
    """A unified diff of one cell, numbered by the cell's own lines."""
    lines = difflib.unified_diff(old.split("\n"), new.split("\n"), label, f"{label}, mutated", n=1, lineterm="")
    return "\n".join(lines)


def _parameters(source: str, region: AnswerRegion) -> tuple[str, ...]:
    """The parameters of the innermost function whose body holds the region."""
    tree = parse_cell(source)
    if tree is None:
        return ()
    found: tuple[str, ...] = ()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.lineno < region.first_line <= region.last_line <= (node.end_lineno or node.lineno):
                args = node.args
                names = [a.arg for a in [*args.posonlyargs, *args.args, *([args.vararg] if args.vararg else []),
                                         *args.kwonlyargs, *([args.kwarg] if args.kwarg else [])]]
                found = tuple(names)  # ast.walk goes outside in: the last match is the innermost
    return found


def _torch_name(nb: Any, upto: int) -> str:
    """The name ``import torch`` binds in the cells up to and including ``upto`` ("" when torch is never imported)."""
    name = ""
    for cell in nb["cells"][: upto + 1]:
        if cell["cell_type"] != "code":
            continue
        tree = parse_cell(cell_source(cell))
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "torch":
                        name = alias.asname or "torch"
    return name
