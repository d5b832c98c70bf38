"""The conformance corpus graded in a real kernel.

- every correct variant, written from the contract alone, scores 25/25 on its exercise;
- its "almost" twin (one planted mistake) loses points on the check named for it;
- notebooks that leave global state changed after correct answers score 100;
- the template, with its stubs written four ways, scores 0 with every check "not attempted".

A kernel run costs seconds, so the variants are graded in rounds
(``tests/conformance/rounds.py``): one notebook holds a variant of each
exercise, with no top-level name in common, and is graded on all four; each
round ends with one of the cells that leave global state changed
(``tests/conformance/global_state.py``), so the same run checks that this
changes nothing. The twins are graded in the same rounds.

The correct rounds and the templates are graded in both execution modes
(``MODES``): the Linux sandbox with warm kernels, and the portable mode students
get on macOS and Windows (plain kernels, timeouts by interrupt); their scores
must be the same, and for the templates every check's score and message.

The fast tests at the bottom (no kernel) keep the corpus itself well formed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from grader.pipeline import Options, grade_submission
from grader.results import Outcome, SubmissionResult
from grader.rubric import Rubric
from tests.conformance import ex1, ex2, ex3, ex4
from tests.conformance.global_state import STATE_CELLS, StateCell
from tests.conformance.records import Variant
from tests.conformance.rounds import make_rounds, shared_names
from tests.conformance.templates import STUB_STYLES, template_notebook
from tests.conftest import Grade, MakeNotebook, check, exercise_score

VARIANTS: tuple[Variant, ...] = (*ex1.VARIANTS, *ex2.VARIANTS, *ex3.VARIANTS, *ex4.VARIANTS)
EXERCISES = ("ex1", "ex2", "ex3", "ex4")
MODES = ("sandbox", "portable")
ROUNDS: tuple[tuple[Variant, ...], ...] = make_rounds([ex1.VARIANTS, ex2.VARIANTS, ex3.VARIANTS, ex4.VARIANTS])
# Round k ends with the k-th cell that leaves global state changed (the rounds outnumber those cells by one or so).
STATES: tuple[StateCell | None, ...] = tuple(STATE_CELLS[k] if k < len(STATE_CELLS) else None for k in range(len(ROUNDS)))


def graded(path: Path, rubric: Rubric, mode: str, *only: str) -> SubmissionResult:
    result = grade_submission(path, rubric, Options(only=only, portable=mode == "portable"))
    assert result.environment.get("mode") == mode
    return result


def _id(v: Variant) -> str:
    return f"{v.exercise}-{v.id}"


def _round_id(k: int) -> str:
    return "+".join(v.id for v in ROUNDS[k])


def _round_and_state_id(k: int) -> str:
    state = STATES[k]
    return _round_id(k) + (f"+{state.id}" if state else "")


def report(result: SubmissionResult, *exercises: str) -> str:
    """Every check's score and message, for a failing assertion."""
    lines = [f"errors: {list(result.errors)}"] if result.errors else []
    for ex in result.exercises:
        if exercises and ex.id not in exercises:
            continue
        lines.append(f"{ex.id}: {ex.score}/{ex.max_score}")
        lines += [f"  {c.id}: {c.score}/{c.max_score} [{c.outcome.value}] {c.message}" for c in ex.checks]
    return "\n".join(lines)


def described(variants: tuple[Variant, ...], state: StateCell | None = None) -> str:
    lines = [f"{_id(v)}: {v.style}" for v in variants]
    return "\n".join(lines + ([f"then global state left behind: {state.style}"] if state else []))


@pytest.mark.kernel
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("k", range(len(ROUNDS)), ids=_round_and_state_id)
def test_correct_variants_get_full_marks_whatever_global_state_they_leave(k: int, mode: str, make_notebook: MakeNotebook, rubric: Rubric) -> None:
    variants, state = ROUNDS[k], STATES[k]
    cells = [cell for v in variants for cell in v.answer_cells] + ([state.last_cell] if state else [])
    result = graded(make_notebook(f"round{k}", *cells), rubric, mode)
    wrong = [v for v in variants if exercise_score(result, v.exercise) != 25]
    assert sorted(ex.id for ex in result.exercises) == list(EXERCISES)
    assert not wrong and result.score == 100, f"{described(tuple(wrong), state)}\n{report(result, *(v.exercise for v in wrong))}"


@pytest.mark.kernel
@pytest.mark.parametrize("k", range(len(ROUNDS)), ids=_round_id)
def test_twins_lose_points_on_their_checks(k: int, make_notebook: MakeNotebook, grade: Grade) -> None:
    variants = ROUNDS[k]
    result = grade(make_notebook(f"twins{k}", *(cell for v in variants for cell in v.twin_cells)))
    # A twin loses its points to the planted mistake, never to a cell that does not compile.
    assert not [line for line in result.errors if re.search(r"raised (SyntaxError|IndentationError|TabError)\b", line)], result.errors
    for v in variants:
        exercise, check_id = v.mistake.check
        found = check(result, exercise, check_id)
        assert found.score < found.max_score, f"{v.id}: {v.mistake.description}\n{report(result, exercise)}"
        assert exercise_score(result, exercise) < 25, f"{v.id}: {v.mistake.description}\n{report(result, exercise)}"


def per_check(result: SubmissionResult) -> list[tuple[str, str, float, str, str]]:
    return [(ex.id, c.id, c.score, c.outcome.value, c.message) for ex in result.exercises for c in ex.checks]


@pytest.mark.kernel
@pytest.mark.parametrize("style", STUB_STYLES)
def test_template_stub_styles_score_zero_not_attempted_alike_in_both_modes(style: str, tmp_path: Path, rubric: Rubric) -> None:
    path = tmp_path / f"template_{style}.ipynb"
    path.write_text(json.dumps(template_notebook(style)), encoding="utf-8")
    results = {mode: graded(path, rubric, mode) for mode in MODES}
    for mode, result in results.items():
        wrong = [
            ex.id
            for ex in result.exercises
            if ex.score != 0 or any(c.outcome is not Outcome.NOT_ATTEMPTED for c in ex.checks)
        ]
        assert sorted(ex.id for ex in result.exercises) == list(EXERCISES)
        assert not wrong, f"{mode}\n{report(result, *wrong)}"
    assert per_check(results["portable"]) == per_check(results["sandbox"])  # the same words too (tests/integration/test_portable.py)
    assert results["portable"].errors == results["sandbox"].errors


# --- the corpus itself (no kernel) ---


def test_variants_cover_each_exercise_at_least_twelve_times() -> None:
    for exercise in EXERCISES:
        assert sum(v.exercise == exercise for v in VARIANTS) >= 12, exercise


def test_ids_are_unique() -> None:
    ids = [_id(v) for v in VARIANTS]
    assert len(ids) == len(set(ids))
    assert len({cell.id for cell in STATE_CELLS}) == len(STATE_CELLS)


def test_rounds_grade_every_variant_and_state_cell_with_no_name_shared_between_answers() -> None:
    assert {v for variants in ROUNDS for v in variants} == set(VARIANTS)
    assert [[v.exercise for v in variants] for variants in ROUNDS] == [list(EXERCISES)] * len(ROUNDS)
    assert {state for state in STATES if state} == set(STATE_CELLS)
    for variants in ROUNDS:
        assert shared_names([v.answer_cells for v in variants]) == set(), [v.id for v in variants]
        assert shared_names([v.twin_cells for v in variants]) == set(), [v.id for v in variants]


def test_shared_names_are_found_but_the_same_import_is_not_one() -> None:
    assert shared_names([["import numpy as np\nx = 1"], ["import numpy as np\ndef f():\n    y = 2"]]) == set()
    assert shared_names([["x = 1"], ["for x in range(3):\n    pass"]]) == {"x"}
    assert shared_names([["from torch.autograd import grad"], ["def grad(t):\n    return t"]]) == {"grad"}
    assert shared_names([["import numpy as np"], ["import torch as np"]]) == {"np"}


@pytest.mark.parametrize("v", VARIANTS, ids=_id)
def test_twin_differs_from_its_variant_in_one_place_and_names_a_rubric_check(v: Variant, rubric: Rubric) -> None:
    twin = v.twin_cells  # raises unless the mistake's text occurs exactly once
    assert twin != v.answer_cells
    assert sum(a != b for a, b in zip(twin, v.answer_cells, strict=True)) == 1
    exercise, check_id = v.mistake.check
    ids = {(ex.id, c.id) for ex in rubric.exercises for c in ex.checks}
    assert (exercise, check_id) in ids, v.mistake.check
    assert exercise == v.exercise


@pytest.mark.parametrize("style", STUB_STYLES)
def test_template_styles_keep_only_stubs(style: str) -> None:
    nb = template_notebook(style)
    answers = [c.source for c in nb.cells if c.get("id", "").endswith("-answer")]
    assert len(answers) == 4
    stub = STUB_STYLES[style]
    for source in answers:
        compile(source, "<template>", "exec")
        assert "# YOUR CODE HERE\n" in source
    text = "\n".join(answers)
    stubs = re.findall(rf"^[ \t]+# YOUR CODE HERE\n[ \t]+{re.escape(stub)}[ \t]*$", text, re.MULTILINE)
    assert len(stubs) == 5  # manual_backprop, sin, cos, grad_fn_chain, checkpointed_forward
    assert style == "raise_not_implemented" or "NotImplementedError" not in text
