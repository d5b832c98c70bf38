"""Every check of each bundled rubric quotes the contract sentences it enforces, and each trace table is current."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from grader import load_rubric
from grader.reporters.contract_trace import render_contract_trace, unquoted
from grader.rubric import Rubric
from tests.conftest import ROOT, RUBRIC, RUBRIC05

# rubric -> the trace table generated from it
TRACES = {
    RUBRIC: ROOT / "rubrics" / "CONTRACT-04-TRACE.md",
    RUBRIC05: ROOT / "rubrics" / "CONTRACT-05-TRACE.md",
}
BUNDLED = pytest.mark.parametrize("path", sorted(TRACES), ids=lambda p: p.stem)


@BUNDLED
def test_every_check_quotes_the_contract_it_enforces(path: Path) -> None:
    rubric = load_rubric(path)
    assert rubric.contract_path is not None
    assert unquoted(rubric, rubric.contract_path.read_text(encoding="utf-8")) == []


def test_a_check_without_a_quote_or_with_a_made_up_one_is_reported(rubric: Rubric) -> None:
    first = rubric.exercises[0]
    bare = replace(first.checks[0], contract=())
    invented = replace(first.checks[1], contract=("students must use numpy",))
    broken = replace(rubric, exercises=(replace(first, checks=(bare, invented, *first.checks[2:])), *rubric.exercises[1:]))
    assert rubric.contract_path is not None
    assert unquoted(broken, rubric.contract_path.read_text(encoding="utf-8")) == [
        "ex1/values: quotes no sentence of the contract",
        "ex1/forward_anywhere: not in the contract: 'students must use numpy'",
    ]


@BUNDLED
def test_the_trace_table_in_the_repository_matches_the_rubric(path: Path) -> None:
    trace = TRACES[path]
    assert trace.read_text(encoding="utf-8") == render_contract_trace(load_rubric(path)), (
        f"rubrics/{trace.name} is out of date: regenerate it with "
        "python -c \"from grader import load_rubric; from grader.reporters.contract_trace import render_contract_trace; "
        f"print(render_contract_trace(load_rubric('rubrics/{path.name}')), end='')\" > rubrics/{trace.name}"
    )
