"""Assignment 06, graded in a real kernel: rules about how code is written, parts of a result, a markdown answer.

One notebook carries three planted mistakes, each in another exercise and each
what a student might really write: a loop over the rows that gives the right
distances, the library's softmax reached through an alias, and a loss history
recorded after each update. Each must lose exactly its own check's points and
nothing else; the written answer given as a string beside an untouched markdown
cell still earns its points.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from grader import load_rubric
from grader.pipeline import Options, grade_submission
from grader.results import SubmissionResult
from tests.conftest import ROOT

pytestmark = pytest.mark.kernel

RUBRIC = ROOT / "rubrics" / "06_vectorised_tensor_code.yaml"
SOLUTION = ROOT / "reference" / "solution_06.ipynb"
TEMPLATE = ROOT / "exercises" / "06_vectorised_tensor_code.ipynb"

LOOPED_DISTANCES = '''
def pairwise_sq_distances(X, Y):
    rows = []
    for x in X:                      # right values, one Python step per row of X
        rows.append(((x - Y) ** 2).sum(dim=1))
    return torch.stack(rows)
'''
ALIASED_SOFTMAX = '''
from torch.nn import functional as _library

def softmax(z):
    return _library.softmax(z, dim=-1)   # right values, but the library's softmax
'''
LOSSES_AFTER_UPDATE = '''
def fit_linear(X, y, lr, steps):
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    losses = torch.empty(steps, dtype=X.dtype)
    for k in range(steps):
        w = w - lr * mse_grad(X, y, w)
        losses[k] = ((X @ w - y) ** 2).mean()   # recorded after the update
    return w, losses
'''
WRITTEN_AS_STRING = (
    'broadcasting_answer = ("A Python loop pays the interpreter for every pair of rows, but a tensor operation runs '
    'compiled code over whole arrays. Broadcasting stretches the size-1 dimensions without copying, so the difference '
    'has shape (N, M, D) and its sum over D is the (N, M) matrix.")'
)


def _planted(tmp_path: Path) -> Path:
    nb = nbformat.read(SOLUTION, as_version=4)
    replaced = {"def pairwise_sq_distances": LOOPED_DISTANCES, "def softmax": ALIASED_SOFTMAX, "def fit_linear": LOSSES_AFTER_UPDATE}
    for cell in nb.cells:
        for start, source in replaced.items():
            if cell.cell_type == "code" and cell.source.startswith(start):
                cell.source = source.strip()
        if "answer:broadcasting_answer" in cell.metadata.get("tags", []):
            cell.source = "_Write your answer here._"  # the template's placeholder, left as it was
    nb.cells.append(nbformat.v4.new_code_cell(WRITTEN_AS_STRING))
    path = tmp_path / "planted.ipynb"
    nbformat.write(nb, path)
    return path


def _lost(result: SubmissionResult) -> dict[str, float]:
    return {f"{e.id}/{c.id}": c.max_score - c.score for e in result.exercises for c in e.checks if c.score < c.max_score}


def test_each_planted_mistake_loses_exactly_its_own_check(tmp_path: Path) -> None:
    result = grade_submission(_planted(tmp_path), load_rubric(RUBRIC), Options())
    assert _lost(result) == {"ex1/distances_vectorised": 8, "ex2/softmax_from_formula": 7, "ex4/loss_history": 7}, result.errors
    messages = {f"{e.id}/{c.id}": c.message for e in result.exercises for c in e.checks}
    assert messages["ex1/distances_vectorised"].startswith("`pairwise_sq_distances` runs a Python loop: its Python steps grew")
    assert messages["ex2/softmax_from_formula"].startswith("`softmax` calls torch.nn.functional.softmax")
    assert messages["ex4/loss_history"].endswith("Record L(w) before each update: the first entry is the loss at w = 0.")  # by failure
    assert result.score == 78


@pytest.mark.parametrize(("notebook", "score"), [(SOLUTION, 100), (TEMPLATE, 0)], ids=["solution", "template"])
def test_the_solution_scores_full_marks_and_the_template_nothing(notebook: Path, score: float) -> None:
    result = grade_submission(notebook, load_rubric(RUBRIC), Options())
    assert result.score == score, _lost(result)
    if score == 0:
        assert all(c.message.startswith("not attempted") for e in result.exercises for c in e.checks)
        assert "`broadcasting_answer`: its markdown cell still the placeholder" in result.exercises[-1].checks[0].message
