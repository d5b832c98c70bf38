"""Written answers in a markdown cell tagged ``answer:NAME`` graded by a real kernel run, as the same text in a string is."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from grader.load import WRITTEN_PLACEHOLDER
from tests.conftest import SETUP, Grade, check, exercise_score

pytestmark = pytest.mark.kernel

TEXT = (
    "Gradient checkpointing lowers the memory needed for training. Normally the forward pass stores every intermediate "
    "activation because the backward pass needs them. With checkpointing only the activations at segment boundaries are "
    "kept; during the backward pass each segment is run forward again to recompute the missing ones. We pay roughly one "
    "extra forward pass of compute, and in exchange much larger models or bigger batches fit on the same GPU."
)
STUB = "def checkpointed_forward(model, x, segments):\n    raise NotImplementedError"
TAGGED = {"tags": ["answer:checkpointing_answer"]}


def write(path: Path, *cells: nbformat.NotebookNode) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP), *cells])
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_a_markdown_answer_scores_exactly_as_the_same_string(tmp_path: Path, grade: Grade) -> None:
    as_string = grade(write(tmp_path / "string.ipynb", nbformat.v4.new_code_cell(f"checkpointing_answer = {TEXT!r}\n\n{STUB}")), "ex4")
    as_cell = grade(write(tmp_path / "cell.ipynb", nbformat.v4.new_markdown_cell(TEXT, metadata=TAGGED),
                          nbformat.v4.new_code_cell(f"checkpointing_answer = None\n\n{STUB}")), "ex4")
    string, cell = check(as_string, "ex4", "written_answer"), check(as_cell, "ex4", "written_answer")
    assert cell.score == 6 and cell.outcome.value == "passed", cell.message
    assert (cell.score, cell.outcome, cell.message, cell.shown) == (string.score, string.outcome, string.message, string.shown)
    assert exercise_score(as_cell, "ex4") == exercise_score(as_string, "ex4") == 6  # written, so ex4 is attempted


def test_the_templates_placeholder_is_not_attempted(tmp_path: Path, grade: Grade) -> None:
    forward = "def checkpointed_forward(model, x, segments):\n    return model(x)"  # written: the exercise is attempted
    result = grade(write(tmp_path / "template.ipynb", nbformat.v4.new_markdown_cell(WRITTEN_PLACEHOLDER, metadata=TAGGED),
                         nbformat.v4.new_code_cell(f"checkpointing_answer = None\n\n{forward}")), "ex4")
    written = check(result, "ex4", "written_answer")
    assert (written.score, written.outcome.value) == (0, "not_attempted")
    assert "the markdown cell for `checkpointing_answer` (tagged answer:checkpointing_answer) holds no answer yet" in written.message
