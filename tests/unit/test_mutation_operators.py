"""Mutation operators on tiny solutions: the exact mutant each makes, what is never mutated, order, sampling, slicing.

Whether a matching rubric kills these mutants is checked with real kernels in
tests/integration/test_check_rubric.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest

from grader import load_rubric, pipeline
from grader.authoring.notebook import answer_regions
from grader.batch import workers
from grader.batch.store import Settings
from grader.batch.workers import Job
from grader.mutation import runner
from grader.mutation.operators import OPERATORS, RegionContext, mutate
from grader.mutation.plan import Mutant, generate_mutants, region_context, sample
from grader.mutation.report import Tally
from grader.mutation.slicing import cell_names, exercise_slice
from grader.pipeline import Options, environment
from grader.results import Execution, SubmissionResult
from grader.rubric import Limits, Rubric
from tests.conftest import ROOT, SOLUTION

TORCH = RegionContext(tensor_code=True, torch_name="torch")
PLAIN = RegionContext()


def made(source: str, operator: str, context: RegionContext = PLAIN) -> list[str]:
    """The mutated sources ``operator`` makes of ``source`` (dedented, without the trailing newline)."""
    return [m.source for m in mutate(textwrap.dedent(source).strip("\n"), context) if m.operator == operator]


# ------------------------------------------------------------------ each operator: the exact mutants


def test_arithmetic_swaps_each_operator_for_the_three_others() -> None:
    assert made("y = a + b", "arithmetic") == ["y = a - b", "y = a * b", "y = a / b"]
    assert made("y = a ** 2", "arithmetic") == ["y = a * 2"]
    assert made("total += x", "arithmetic") == ["total -= x", "total *= x", "total /= x"]


def test_comparison_swaps_each_operator() -> None:
    assert made("ok = a < b", "comparison") == ["ok = a <= b", "ok = a >= b"]
    assert made("ok = node is not None", "comparison") == ["ok = node is None"]
    assert made("ok = 0 < a < b", "comparison") == ["ok = 0 <= a < b", "ok = 0 >= a < b", "ok = 0 < a <= b", "ok = 0 < a >= b"]


def test_boolean_swaps_and_or_and_removes_not() -> None:
    assert made("c = a or b", "boolean") == ["c = a and b"]
    assert made("c = not a", "boolean") == ["c = a"]


def test_condition_negates_a_test_that_is_not_a_comparison() -> None:
    assert made("y = a if ready else b", "condition") == ["y = a if not ready else b"]
    assert made("if ready:\n    go()", "condition") == ["if not ready:\n    go()"]
    assert made("if a < b:\n    go()", "condition") == []  # comparison swaps cover it


def test_sign_removes_a_unary_minus_negates_numbers_and_whole_expressions() -> None:
    assert made("y = -a * b", "sign") == ["y = -(-a * b)", "y = a * b"]
    assert made("y = f(3)", "sign") == ["y = f(-3)"]


def test_constant_makes_0_1_plus_minus_1_and_twice() -> None:
    assert made("y = f(4)", "constant") == ["y = f(0)", "y = f(1)", "y = f(5)", "y = f(3)", "y = f(8)"]
    assert made("y = x * 1.0", "constant") == ["y = x * 0.0", "y = x * 2.0"]  # 1 is 1.0: not a change
    assert made("y = f(-1)", "constant") == ["y = f(0)", "y = f(-2)"]  # `f(1)` is the sign operator's (it comes first)
    assert made("y = f(flag=True)", "constant") == ["y = f(flag=False)"]


def test_string_empties_a_string_but_not_a_docstring_or_a_print() -> None:
    assert made('d = {"y": 1}', "string") == ["d = {'': 1}"]
    assert made('def f():\n    """Doc."""\n    print("hello")\n    return 1', "string") == []


def test_call_swaps_a_call_with_its_sibling() -> None:
    assert made("y = math.sin(x) + exp(x)", "call") == ["y = math.cos(x) + exp(x)", "y = math.sin(x) + log(x)"]


def test_drop_removes_a_term_or_a_factor() -> None:
    assert made("y = a * b", "drop") == ["y = a", "y = b"]
    assert made("c = a or b", "drop") == ["c = b", "c = a"]


def test_return_parameter_returns_an_argument_instead_of_the_result() -> None:
    context = RegionContext(parameters=("self", "x"))
    assert made("    return f(x)", "return_parameter", context) == ["return self", "return x"]


def test_argument_uses_a_calls_argument_instead_of_its_result_where_the_result_is_used() -> None:
    assert made("y = g(a, b)\nh(c)", "argument") == ["y = a\nh(c)", "y = b\nh(c)"]


def test_detach_is_added_to_computed_values_in_torch_code_only() -> None:
    assert made("y = model(x)\nm = nn.Linear(2, 3)\nz = a", "detach", TORCH) == ["y = model(x).detach()\nm = nn.Linear(2, 3)\nz = a"]
    assert made("y = model(x)", "detach") == []


def test_no_grad_wraps_a_statement_that_computes_a_value() -> None:
    assert made("y = model(x)", "no_grad", TORCH) == ["with torch.no_grad():\n    y = model(x)"]
    assert made("y = model(x)", "no_grad", RegionContext(tensor_code=True, torch_name="")) == []  # torch never imported


def test_requires_grad_is_removed_in_every_form() -> None:
    source = "t = torch.ones(2, requires_grad=True)\nt.requires_grad_()\nu = w.requires_grad_()\nv.requires_grad = True"
    assert made(source, "requires_grad", TORCH) == [
        "t = torch.ones(2)\nt.requires_grad_()\nu = w.requires_grad_()\nv.requires_grad = True",
        "t = torch.ones(2, requires_grad=True)\nu = w.requires_grad_()\nv.requires_grad = True",
        "t = torch.ones(2, requires_grad=True)\nt.requires_grad_()\nu = w\nv.requires_grad = True",
        "t = torch.ones(2, requires_grad=True)\nt.requires_grad_()\nu = w.requires_grad_()",
    ]


def test_index_changes_a_constant_index() -> None:
    assert made("y = xs[0]", "index") == ["y = xs[1]", "y = xs[-1]"]
    assert made("y = xs[-1]", "index") == ["y = xs[0]", "y = xs[1]"]
    assert made("y = xs[0]", "constant") == []  # indices are the index operator's


def test_loop_bound_is_off_by_one() -> None:
    assert made("for i in range(n):\n    go(i)", "loop_bound") == ["for i in range(n + 1):\n    go(i)", "for i in range(n - 1):\n    go(i)"]
    assert made("for i in range(1, n):\n    go(i)", "loop_bound") == ["for i in range(1, n + 1):\n    go(i)", "for i in range(1, n - 1):\n    go(i)"]


def test_segments_changes_a_segment_count() -> None:
    assert made("y = checkpoint_sequential(model, segments, x)", "segments") == [
        "y = checkpoint_sequential(model, segments + 1, x)",
        "y = checkpoint_sequential(model, segments - 1, x)",
        "y = checkpoint_sequential(model, 1, x)",
        "y = checkpoint_sequential(model, segments * 2, x)",
    ]
    assert made("y = run(model, chunks=k)", "segments") == ["y = run(model, chunks=k + 1)", "y = run(model, chunks=k - 1)",
                                                            "y = run(model, chunks=1)", "y = run(model, chunks=k * 2)"]


def test_return_out_of_loop_moves_a_return_after_the_loop() -> None:
    source = """
        for x in xs:
            if x > 0:
                return x
        return None
    """
    assert made(source, "return_out_of_loop") == ["for x in xs:\n    if x > 0:\n        pass\nreturn x\nreturn None"]


def test_every_registered_operator_has_a_test_here() -> None:
    tests = [name for name in globals() if name.startswith("test_")]
    assert [op for op in OPERATORS if not any(name.startswith(f"test_{op}_") for name in tests)] == []


# ------------------------------------------------------------------ what the texts keep, what is never touched


def test_only_the_changed_characters_change_comments_and_indentation_stay() -> None:
    source = "    s = x1 + x2   # forward\n\n    return s  # done"
    mutants = mutate(source, RegionContext(parameters=("x1", "x2")))
    assert mutants[0].source == "    s = x1 - x2   # forward\n\n    return s  # done"
    assert all(m.source.split("\n")[1] == "" for m in mutants)


def test_prints_fstrings_imports_asserts_and_annotations_are_never_mutated() -> None:
    source = 'import math\nprint(f"{x + 1}", 2 * x)\nassert x > 0\ndef f(a: int = 3) -> int:\n    return 0'
    assert {m.line for m in mutate(source)} == {4, 5}  # the default 3 and the returned 0 only


def test_a_region_that_is_not_python_on_its_own_gives_no_mutants() -> None:
    assert mutate("x = (") == []


def test_mutants_are_deterministic_and_unique() -> None:
    source = "def f(x):\n    y = x * 2 + 1\n    return {'y': y, 'z': -y}"
    first, second = mutate(source), mutate(source)
    assert first == second
    assert len({m.source for m in first}) == len(first)
    assert source not in {m.source for m in first}


# ------------------------------------------------------------------ the lesson's solution: regions, sampling, slicing


@pytest.fixture(scope="module")
def solution() -> nbformat.NotebookNode:
    return nbformat.read(SOLUTION, as_version=4)


def test_lesson_04_gives_at_least_200_mutants_with_stable_ids(solution: nbformat.NotebookNode) -> None:
    mutants = generate_mutants(solution)
    assert len(mutants) >= 200
    assert [m.id for m in mutants] == [f"m{n:03d}" for n in range(1, len(mutants) + 1)]
    assert {m.exercise for m in mutants} == {"ex1", "ex2", "ex3", "ex4"}
    only_ex2 = generate_mutants(solution, {"ex2"})
    assert only_ex2 == [m for m in mutants if m.exercise == "ex2"]  # the same ids whatever is selected


def test_a_mutant_shows_its_change_as_a_diff_numbered_by_the_cells_lines(solution: nbformat.NotebookNode) -> None:
    first = generate_mutants(solution)[0]
    assert (first.cell, first.line, first.operator) == ("cell 25 (ex1-answer)", 5, "arithmetic")
    assert "@@ -4,3 +4,3 @@\n # BEGIN SOLUTION\n-s = x1 + x2          # 3\n+s = x1 - x2          # 3\n" in first.diff


def test_region_context_knows_the_function_parameters_and_torch(solution: nbformat.NotebookNode) -> None:
    contexts = {(r.exercise, r.first_line): region_context(solution, r) for r in answer_regions(solution)}
    assert contexts[("ex1", 21)].parameters == ("x1", "x2", "x3") and not contexts[("ex1", 21)].tensor_code
    assert contexts[("ex4", 21)] == RegionContext(parameters=("model", "x", "segments"), tensor_code=True, torch_name="torch")


def test_max_mutants_samples_deterministically_across_exercises_and_operators(solution: nbformat.NotebookNode) -> None:
    mutants = generate_mutants(solution)
    chosen = sample(mutants, 40, seed=1)
    assert chosen == sample(mutants, 40, seed=1)
    assert chosen != sample(mutants, 40, seed=2)
    assert len(chosen) == 40 and [m.id for m in chosen] == sorted(m.id for m in chosen)
    per_exercise = {ex: sum(m.exercise == ex for m in chosen) for ex in ("ex1", "ex2", "ex3", "ex4")}
    assert per_exercise == {"ex1": 10, "ex2": 10, "ex3": 10, "ex4": 10}
    ex1_operators = {m.operator for m in chosen if m.exercise == "ex1"}
    assert len(ex1_operators) == len({m.operator for m in mutants if m.exercise == "ex1"})  # every operator of ex1 is tried
    assert sample(mutants, None, seed=1) == mutants and sample(mutants, 10_000, seed=1) == mutants


def test_an_exercise_is_graded_on_the_cells_it_can_depend_on(solution: nbformat.NotebookNode) -> None:
    from grader.mutation.slicing import exercise_names
    from tests.conftest import RUBRIC

    rubric = load_rubric(RUBRIC)
    kept = {}
    for exercise in rubric.exercises:
        cells = {r.cell_index for r in answer_regions(solution) if r.exercise == exercise.id}
        kept[exercise.id] = [solution.cells[i].id for i in exercise_slice(solution, cells, exercise_names(exercise))[1]]
    assert kept == {"ex1": ["ex1-answer"], "ex2": ["dual-class", "ex2-answer"], "ex3": ["setup", "ex3-answer"], "ex4": ["ex4-answer"]}


def test_cell_names_read_globals_not_a_functions_own_names() -> None:
    names = cell_names("import torch\ndef f(t):\n    n = t.grad_fn\n    return helper(n)\nstate.x = 1\nopt.step()\ntorch.manual_seed(0)")
    assert names.reads == {"helper", "state", "opt", "torch"}  # not t or n: f's own
    assert names.binds == {"torch", "f", "state"}
    assert names.called == {"opt", "torch"} and names.imported == {"torch"}
    assert cell_names("from m import *").opaque and cell_names("x = (").opaque


def test_slicing_follows_names_through_later_cells_and_keeps_what_it_cannot_read() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in [
        "import torch\ntorch.manual_seed(1)",   # 0: binds torch (needed by 3)
        "def f():\n    return helper()",         # 1: f is the answer's; reads helper
        "unrelated = 1",                        # 2: dropped
        "def helper():\n    return torch.ones(1)",  # 3: binds helper (read by 1, defined later)
        "%matplotlib inline\nplot = 2",          # 4: magic read as pass; dropped
        "x = (",                                # 5: not Python: kept
        "answer = f()",                         # 6: the answer cell
    ]])
    assert exercise_slice(nb, {6}, {"answer"})[1] == [0, 1, 3, 5, 6]


def test_the_score_leaves_out_equivalent_suspected_survivors() -> None:
    assert Tally(10, 8, 2, 1).score_percent == pytest.approx(88.9)
    assert Tally(4, 0, 4, 4).score_percent == 100.0
    assert Tally(0, 0, 0, 0).score_percent == 0.0


# ------------------------------------------------------------------ judging a mutant and reporting, on hand-built results


def _result(score: float, digest: str = "same", errors: tuple[str, ...] = ()) -> dict[str, object]:
    from grader.results import CheckResult, ExerciseResult, Outcome, SubmissionResult

    outcome = Outcome.PASSED if score == 10 else Outcome.FAILED
    check = CheckResult("doubles", "doubles", outcome, score, 10, "" if score == 10 else "wrong at 3 of 8 points")
    return SubmissionResult("m.ipynb", "m001", "double", "graded", score, 10, (ExerciseResult("ex1", "double", score, 10, (check,)),),
                            errors, 0.5, environment={"answer_digests": {"ex1": digest}}).as_dict()


def _mutant() -> Mutant:
    source = "def double(x):\n    # BEGIN SOLUTION\n    return {'y': x * 2}\n    # END SOLUTION"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.cells[0]["id"] = "ex1-answer"
    return next(m for m in generate_mutants(nb) if m.what == "`*` -> `-`")


def test_a_mutant_is_killed_survives_or_is_equivalent_suspected() -> None:
    from grader.mutation.runner import judge_mutant

    mutant = _mutant()
    killed = judge_mutant(mutant, ("ok", _result(4, errors=("cell 2 raised ValueError: no",))), "same", {2: "cell 9 (ex1-answer)"})
    assert (killed.status, killed.checks, killed.fault) == ("killed", ("doubles",), "cell 9 (ex1-answer) raised ValueError: no")
    assert judge_mutant(mutant, ("ok", _result(10, "other")), "same").status == "survived"
    assert judge_mutant(mutant, ("ok", _result(10, "same")), "same").status == "equivalent-suspected"
    crashed = judge_mutant(mutant, ("failed", "grader infrastructure: the grading process died"), "same")
    assert (crashed.status, crashed.checks, crashed.fault) == ("killed", (), "grader infrastructure: the grading process died")


def test_reports_show_the_numbers_and_every_survivors_diff() -> None:
    import json
    from pathlib import Path

    from grader.mutation.report import render_html, render_json, render_text
    from grader.mutation.runner import MutantResult, RubricCheck
    from tests.conftest import ROOT

    rubric = load_rubric(ROOT / "tests" / "fixtures" / "check_rubric" / "rubrics" / "double.yaml")
    mutant = _mutant()
    results = (MutantResult(mutant, True, False, ("doubles",), "", 0.4), MutantResult(mutant, False, False, (), "", 0.4),
               MutantResult(mutant, False, True, (), "", 0.4))
    run = RubricCheck(rubric, Path("solution.ipynb"), "template.ipynb", ("ex1",), 7, 0, 3, results, ("ex1",), (), 2, 9.5,
                      "2026-01-01T00:00:00+00:00", solution_score=10, template_score=0, max_score=10)
    text = render_text(run)
    assert "mutation score: 50.0% (1 killed of 2 non-equivalent; 2 survived, 1 of them equivalent-suspected)" in text
    assert "ex1/doubles" in text and f"{mutant.id} ex1 arithmetic: `*` -> `-` (cell 1 (ex1-answer), line 3)" in text
    assert "    -    return {'y': x * 2}\n    +    return {'y': x - 2}" in text
    data = json.loads(render_json(run))
    assert (data["mutants"], data["killed"], data["survived"], data["equivalent_suspected"], data["score_percent"]) == (3, 1, 2, 1, 50.0)
    assert [s["status"] for s in data["survivors"]] == ["survived", "equivalent-suspected"]
    page = render_html(run)
    assert "Mutation score 50.0%" in page and "&#39;y&#39;" in page and "<script" not in page


def test_answer_digests_are_in_a_result_only_when_asked_for() -> None:
    execution = Execution((), (), (), {"mode": "sandbox"}, 1.0, kernel_peak_mb=5.0)
    assert environment(execution, None) == {"mode": "sandbox", "kernel_peak_mb": 5.0}
    assert environment(execution, {"ex1": "abc"}) == {"mode": "sandbox", "kernel_peak_mb": 5.0, "answer_digests": {"ex1": "abc"}}


def test_mutation_grading_asks_for_answer_digests_and_batch_grading_does_not(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    asked: list[Options] = []

    def fake_grade(path: Path, rubric: Rubric, options: Options) -> SubmissionResult:
        asked.append(options)
        return SubmissionResult(str(path), "s", "a", "graded", 0.0, 0.0, (), (), 0.0)

    monkeypatch.setattr(runner, "grade_submission", fake_grade)
    monkeypatch.setattr(pipeline, "grade_submission", fake_grade)
    rubric = load_rubric(ROOT / "rubrics" / "04_automatic_differentiation.yaml")
    settings = Settings((), Limits())
    runner.grade_job(runner.GradingJob("m1", tmp_path / "m1.ipynb", None, only=("ex1",), seed=1), rubric, settings)
    workers.grade_job(Job("alice", tmp_path / "alice.ipynb", None), rubric, settings)
    assert [options.answer_digests for options in asked] == [True, False]
