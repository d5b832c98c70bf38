"""The check-to-contract table of a rubric: which contract sentences each check enforces (Markdown)."""

from __future__ import annotations

import re

from grader.rubric import Rubric


def normalise(text: str) -> str:
    """Text compared the way a reader would: whitespace runs made single spaces."""
    return re.sub(r"\s+", " ", text).strip()


def unquoted(rubric: Rubric, contract_text: str) -> list[str]:
    """Every check that quotes no contract sentence, or a sentence the contract does not hold, as 'exN/check: why'."""
    found = normalise(contract_text)
    problems = []
    for exercise in rubric.exercises:
        for check in exercise.checks:
            where = f"{exercise.id}/{check.id}"
            if not check.contract:
                problems.append(f"{where}: quotes no sentence of the contract")
            problems += [f"{where}: not in the contract: {quote!r}" for quote in check.contract if normalise(quote) not in found]
    return problems


def render_contract_trace(rubric: Rubric) -> str:
    """A Markdown table: each check, its points, and the contract sentences it enforces."""
    contract = rubric.contract_path.name if rubric.contract_path is not None else "the contract"
    lines = [
        f"# {rubric.title}: each check and the sentences of {contract} it enforces",
        "",
        f"Generated from `{rubric.path.name}` (a test fails when this table and the rubric differ).",
        "",
        "| exercise | check | points | contract |",
        "|---|---|---|---|",
    ]
    for exercise in rubric.exercises:
        for check in exercise.checks:
            quotes = "<br>".join(f"“{normalise(q).replace('|', '&#124;')}”" for q in check.contract)
            lines.append(f"| {exercise.id} | {check.id} | {check.points:g} | {quotes} |")
    return "\n".join(lines) + "\n"
