"""The conformance corpus graded in a real kernel.

- every correct variant, written from the contract alone, scores 25/25 on its exercise;
- its "almost" twin (one planted mistake) loses points on the check named for it;
- notebooks that leave global state changed after correct answers score 100;
- the template, with its stubs written four ways, scores 0 with every check "not attempted".

The correct variants, the global-state notebooks and the templates are graded
in both execution modes (``MODES``): the Linux sandbox with warm kernels, and
the portable mode students get on macOS and Windows (plain kernels, timeouts by
interrupt); their scores must be the same.

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
from tests.conformance.global_state import NOTEBOOKS, StateNotebook
from tests.conformance.records import Variant
from tests.conformance.templates import STUB_STYLES, template_notebook
from tests.conftest import Grade, MakeNotebook, check, exercise_score

VARIANTS: tuple[Variant, ...] = (*ex1.VARIANTS, *ex2.VARIANTS, *ex3.VARIANTS, *ex4.VARIANTS)
EXERCISES = ("ex1", "ex2", "ex3", "ex4")
MODES = ("sandbox", "portable")


def graded(path: Path, rubric: Rubric, mode: str, *only: str) -> SubmissionResult:
    result = grade_submission(path, rubric, Options(only=only, portable=mode == "portable"))
    assert result.environment.get("mode") == mode
    return result


def _id(v: Variant) -> str:
    return f"{v.exercise}-{v.id}"


def report(result: SubmissionResult, *exercises: str) -> str:
    """Every check's score and message, for a failing assertion."""
    lines = [f"errors: {list(result.errors)}"] if result.errors else []
    for ex in result.exercises:
        if exercises and ex.id not in exercises:
            continue
        lines.append(f"{ex.id}: {ex.score}/{ex.max_score}")
        lines += [f"  {c.id}: {c.score}/{c.max_score} [{c.outcome.value}] {c.message}" for c in ex.checks]
    return "\n".join(lines)


@pytest.mark.kernel
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("v", VARIANTS, ids=_id)
def test_correct_variant_gets_full_marks(v: Variant, mode: str, make_notebook: MakeNotebook, rubric: Rubric) -> None:
    result = graded(make_notebook(v.id, *v.answer_cells), rubric, mode, v.exercise)
    assert exercise_score(result, v.exercise) == 25, f"{v.style}\n{report(result, v.exercise)}"


@pytest.mark.kernel
@pytest.mark.parametrize("v", VARIANTS, ids=_id)
def test_twin_loses_points_on_its_check(v: Variant, make_notebook: MakeNotebook, grade: Grade) -> None:
    exercise, check_id = v.mistake.check
    result = grade(make_notebook(f"{v.id}_twin", *v.twin_cells), exercise)
    found = check(result, exercise, check_id)
    assert found.score < found.max_score, f"{v.mistake.description}\n{report(result, exercise)}"
    assert exercise_score(result, exercise) < 25, f"{v.mistake.description}\n{report(result, exercise)}"


@pytest.mark.kernel
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda nb: nb.id)
def test_global_state_left_behind_does_not_change_the_grade(nb: StateNotebook, mode: str, make_notebook: MakeNotebook, rubric: Rubric) -> None:
    result = graded(make_notebook(nb.id, *nb.cells), rubric, mode)
    assert result.score == 100, f"{nb.style}\n{report(result)}"


@pytest.mark.kernel
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("style", STUB_STYLES)
def test_template_stub_styles_score_zero_not_attempted(style: str, mode: str, tmp_path: Path, rubric: Rubric) -> None:
    path = tmp_path / f"template_{style}.ipynb"
    path.write_text(json.dumps(template_notebook(style)), encoding="utf-8")
    result = graded(path, rubric, mode)
    wrong = [
        ex.id
        for ex in result.exercises
        if ex.score != 0 or any(c.outcome is not Outcome.NOT_ATTEMPTED for c in ex.checks)
    ]
    assert sorted(ex.id for ex in result.exercises) == list(EXERCISES)
    assert not wrong, report(result, *wrong)


# --- the corpus itself (no kernel) ---


def test_variants_cover_each_exercise_at_least_twelve_times() -> None:
    for exercise in EXERCISES:
        assert sum(v.exercise == exercise for v in VARIANTS) >= 12, exercise


def test_ids_are_unique() -> None:
    ids = [_id(v) for v in VARIANTS]
    assert len(ids) == len(set(ids))
    assert len({nb.id for nb in NOTEBOOKS}) == len(NOTEBOOKS)


@pytest.mark.parametrize("v", VARIANTS, ids=_id)
def test_twin_differs_from_its_variant_in_one_place_and_names_a_rubric_check(v: Variant, rubric: Rubric) -> None:
    twin = v.twin_cells  # raises unless the mistake's text occurs exactly once
    assert twin != v.answer_cells
    assert sum(a != b for a, b in zip(twin, v.answer_cells, strict=True)) == 1
    exercise, check_id = v.mistake.check
    ids = {(ex.id, c.id) for ex in rubric.exercises for c in ex.checks}
    assert (exercise, check_id) in ids, v.mistake.check
    assert exercise == v.exercise


@pytest.mark.parametrize("v", VARIANTS, ids=_id)
def test_cells_are_valid_python(v: Variant) -> None:
    for source in (*v.answer_cells, *v.twin_cells):
        compile(source, f"<{_id(v)}>", "exec")


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
