"""Written answers in markdown cells tagged ``answer:NAME``: read from the file, preferred to the string when written (no kernel)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from grader.authoring.notebook import SolutionNotebookError, answer_regions, make_student_notebook
from grader.checks import JudgeContext
from grader.checks.registry import CHECK_KINDS
from grader.kernel.execute import CellRun, Execution
from grader.live.judge import read_saved_outputs
from grader.load import WRITTEN_PLACEHOLDER, answer_cells_of, load_submission, written_answers
from grader.pipeline import unattempted
from grader.probes.protocol import Answer
from grader.results import Outcome
from grader.rubric import CheckSpec, Rubric
from tests.unit.kinds.support import judge, make
from tests.unit.kinds.test_key_ideas import GOOD

NAME = "checkpointing_answer"
TAG = f"answer:{NAME}"


def markdown(source: str, *tags: str) -> Any:
    return nbformat.v4.new_markdown_cell(source, metadata={"tags": list(tags)} if tags else {})


def context_with(reference: Any, written: dict[str, str]) -> JudgeContext:
    execution = Execution(cells=(CellRun(1, "ok"),), probe_outputs=(), events=(), isolation={}, duration_s=0.0)
    return JudgeContext(reference, execution, {1: ""}, written)


def written_of(*cells: Any) -> dict[str, str]:
    return written_answers(answer_cells_of([dict(cell) for cell in cells]))


# --- reading the cells ------------------------------------------------------------------------------------


def test_only_markdown_cells_tagged_answer_name_are_read_without_comments_or_the_placeholder() -> None:
    assert written_of(
        markdown("# Question\nWhat is checkpointing?"),
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": [TAG]}),
        markdown(f"<!-- write below -->\n{WRITTEN_PLACEHOLDER}\nIt recomputes activations.\n", "other", TAG),
    ) == {NAME: "It recomputes activations."}


def test_a_cell_holding_only_the_placeholder_is_there_but_empty() -> None:
    assert written_of(markdown(WRITTEN_PLACEHOLDER, TAG), markdown("  answer: free  ", "answer:")) == {NAME: ""}


def test_cells_with_the_same_tag_are_joined_in_order() -> None:
    assert written_of(markdown("First part.", TAG), markdown(WRITTEN_PLACEHOLDER, TAG), markdown("Second part.", TAG)) == {
        NAME: "First part.\n\nSecond part."}


def test_a_loaded_notebook_carries_its_answer_cells(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), markdown("Mine.", TAG)])
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    cells = load_submission(path).answer_cells
    assert [(c.number, c.name, c.text) for c in cells] == [(2, NAME, "Mine.")]


# --- precedence and "not attempted" -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "variable", "outcome", "fragment"),
    [
        ({NAME: GOOD}, {"rejected": "None"}, Outcome.PASSED, "3 of 3 key ideas"),  # the cell, the string a stub
        ({NAME: GOOD}, {"text": "Something else entirely that mentions nothing relevant."}, Outcome.PASSED, "3 of 3"),  # the cell wins
        ({NAME: ""}, {"text": GOOD}, Outcome.PASSED, "3 of 3 key ideas"),  # the placeholder: the string is read
        ({NAME: ""}, {"rejected": "None"}, Outcome.NOT_ATTEMPTED, f"the markdown cell for `{NAME}` (tagged {TAG}) holds no answer yet"),
        ({NAME: ""}, {"missing": NAME}, Outcome.NOT_ATTEMPTED, "holds no answer yet"),
        ({NAME: ""}, {"text": "  "}, Outcome.NOT_ATTEMPTED, "holds no answer yet"),
        ({NAME: ""}, {"rejected": "list"}, Outcome.FAILED, f"`{NAME}` must be a string (it is of type list)"),
        ({}, {"missing": NAME}, Outcome.NOT_ATTEMPTED, f"not found: the submission defines no `{NAME}`"),  # as before
        ({"other": GOOD}, {"rejected": "None"}, Outcome.NOT_ATTEMPTED, f"`{NAME}` is still None"),
    ],
)
def test_the_written_cell_wins_when_written_else_the_string(
    rubric: Rubric, reference: Any, written: dict[str, str], variable: dict[str, Any], outcome: Outcome, fragment: str
) -> None:
    verdict = judge(make(rubric, "ex4", "written_answer"), context_with(reference, written), lambda call: Answer(True, variable))
    assert verdict.outcome is outcome, verdict.message
    assert fragment in verdict.message


@pytest.mark.parametrize("text", [
    GOOD,
    "Gradient checkpointing saves memory during training by recomputing intermediate results in the backward pass, so a "
    "model that did not fit before now fits on the GPU.",
    "It recomputes activations to save memory.",
    "recompute, memory, trade-off, boundaries",
])
def test_a_markdown_answer_scores_exactly_as_the_same_string(rubric: Rubric, reference: Any, text: str) -> None:
    check = make(rubric, "ex4", "written_answer")
    as_string = judge(check, context_with(reference, {}), lambda call: Answer(True, {"text": text}))
    as_cell = judge(check, context_with(reference, {NAME: text}), lambda call: Answer(True, {"rejected": "None"}))
    assert as_cell == as_string
    assert as_cell.shown is not None and as_cell.shown["text"] == text  # what grade review shows


def test_instructor_graded_reads_the_cell_too(reference: Any) -> None:
    check = CHECK_KINDS["instructor_graded"](CheckSpec("w", "instructor_graded", "t", 0.0, {"points": 6, "name": NAME}))
    stub = lambda call: Answer(True, {"rejected": "None"})  # noqa: E731
    written = judge(check, context_with(reference, {NAME: "Two words."}), stub)
    later = "graded by your instructor (6 points, not in this score)"
    assert (written.outcome, written.message) == (Outcome.PASSED, f"`{NAME}` is written (2 words); {later}")
    unwritten = judge(check, context_with(reference, {NAME: ""}), stub)
    assert unwritten.outcome is Outcome.NOT_ATTEMPTED and "holds no answer yet" in unwritten.message


def test_an_exercise_whose_written_cell_is_written_is_attempted(rubric: Rubric, reference: Any) -> None:
    states = Answer(True, {NAME: "none", "checkpointed_forward": "stub"})
    assert unattempted(rubric.exercise("ex4"), states, context_with(reference, {NAME: ""})).startswith("not attempted")
    assert unattempted(rubric.exercise("ex4"), states, context_with(reference, {NAME: "Mine."})) == ""


# --- grade assign ------------------------------------------------------------------------------------------


def solution(*cells: Any) -> Any:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Explain checkpointing."), *cells])


def test_assign_stubs_a_tagged_cell_keeps_its_tag_and_the_grader_reads_it_as_not_attempted() -> None:
    nb = solution(markdown("Checkpointing recomputes activations.", TAG, "solution"))
    assert [r.kind for r in answer_regions(nb)] == ["markdown"]
    student = make_student_notebook(nb, "04")
    cell = student.cells[1]
    assert (cell.source, cell.metadata["tags"]) == (WRITTEN_PLACEHOLDER, [TAG])
    assert written_answers(answer_cells_of([dict(c) for c in student.cells])) == {NAME: ""}


@pytest.mark.parametrize(("cells", "refusal"), [
    ([nbformat.v4.new_code_cell("x = 1", metadata={"tags": [TAG]})], "the tag 'answer:checkpointing_answer' marks a markdown cell"),
    ([markdown("One.", TAG), markdown("Two.", TAG)], "the written answer 'checkpointing_answer' is already tagged on cell 2"),
    ([markdown("Answer:\n<!-- BEGIN SOLUTION -->\nOne.\n<!-- END SOLUTION -->", TAG)], "holds no solution markers"),
])
def test_assign_refuses_a_tag_the_grader_could_not_read_as_one_answer(cells: list[Any], refusal: str) -> None:
    with pytest.raises(SolutionNotebookError, match=refusal):
        make_student_notebook(solution(*cells), "04")


# --- %grade ------------------------------------------------------------------------------------------------


def test_percent_grade_reads_the_cells_from_the_saved_file_even_without_outputs(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(solution(nbformat.v4.new_code_cell("x = 1"), markdown("Mine.", TAG))), encoding="utf-8")
    saved = read_saved_outputs(path)
    assert saved.cells is None and saved.written == {NAME: "Mine."}
    assert read_saved_outputs(None).written is None


def test_percent_grade_judges_the_saved_cell_and_says_when_it_cannot_read_the_file(tmp_path: Path) -> None:
    from grader.live.judge import UNKNOWN_FILE_WRITTEN, Judge
    from tests.conftest import RUBRIC

    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(solution(nbformat.v4.new_code_cell("x = 1"), markdown(GOOD, TAG))), encoding="utf-8")
    live = Judge()
    replies = {}
    for notebook in (str(path), None):
        assert live.plan({"rubric": str(RUBRIC), "notebook": notebook, "only": ["ex4"]})["ok"]
        replies[notebook] = live.judge({"answers": []})  # no kernel answers at all: only the saved cell can be judged
    written = {notebook: next(c for ex in reply["result"]["exercises"] for c in ex["checks"] if c["id"] == "written_answer")
               for notebook, reply in replies.items()}
    assert (written[str(path)]["outcome"], written[str(path)]["score"]) == ("passed", 6.0)
    assert UNKNOWN_FILE_WRITTEN not in replies[str(path)]["text"]
    assert written[None]["outcome"] != "passed"
    assert UNKNOWN_FILE_WRITTEN in replies[None]["text"]
