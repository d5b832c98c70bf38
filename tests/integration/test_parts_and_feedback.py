"""Parts, properties and feedback by failure, graded in a real kernel with a small rubric of assignment-independent kinds.

One notebook, one kernel run: ``fit_linear`` returns ``(w, losses)`` with wrong
losses (only the losses part's check fails), ``widen`` returns float64 for
float32 input (a dtype property check fails, a shape one passes) and
``row_sums`` keeps a dimension (the shape sentence of a feedback map is shown,
not the values sentence, while ``scaled``'s wrong values show the values one).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grader import load_rubric
from grader.pipeline import Options, grade_submission
from grader.results import Outcome
from tests.conftest import MakeNotebook, check

pytestmark = pytest.mark.kernel

REFERENCE = '''
import torch


def fit_linear(x, y):
    w = torch.linalg.lstsq(x, y.unsqueeze(1)).solution.squeeze(1)
    return w, (x @ w - y) ** 2


def widen(x):
    return x * 2


def row_sums(x):
    return x.sum(dim=1)


def scaled(x):
    return x * 3
'''

STUDENT = '''
import torch


def fit_linear(x, y):
    w = torch.linalg.lstsq(x, y.unsqueeze(1)).solution.squeeze(1)
    return w, (x @ w - y).abs()  # wrong: the losses are squared residuals


def widen(x):
    return (x * 2).to(torch.float64)


def row_sums(x):
    return x.sum(dim=1, keepdim=True)


def scaled(x):
    return x * 2
'''

FEEDBACK = {"wrong_shape": "SHAPE: sum over dim 1 without keeping it.", "wrong_values": "VALUES: multiply by the right factor.",
            "default": "DEFAULT: read the contract again."}
MATRIX = [{"tensor": {"shape": ["N", 3], "dtype": "float64"}}]
FLOATS = [{"tensor": {"shape": [4, 3], "dtype": "float32"}}]


def _check(check_id: str, **params: object) -> dict[str, object]:
    return {"id": check_id, "kind": "call_vs_reference", "points": 1, "params": {"calls": 2, **params}}


def test_parts_properties_and_feedback_by_failure(tmp_path: Path, make_notebook: MakeNotebook) -> None:
    fit = {"function": "fit_linear", "dims": {"N": [5, 8]}, "args": [*MATRIX, {"tensor": {"shape": ["N"], "dtype": "float64"}}]}
    rubric = {
        "assignment": "parts", "title": "Parts of results", "reference": "reference.py", "total": 6,
        "exercises": [{"id": "ex1", "title": "Parts", "checks": [
            _check("weights", **fit, part=0),
            {**_check("losses", **fit, part=1), "feedback": FEEDBACK},
            _check("widen_dtype", function="widen", args=FLOATS, properties=["dtype"]),
            _check("widen_shape", function="widen", args=FLOATS, properties=["shape", "requires_grad"]),
            {**_check("row_sums", function="row_sums", args=FLOATS), "feedback": FEEDBACK},
            {**_check("scaled", function="scaled", args=FLOATS), "feedback": FEEDBACK},
        ]}],
    }
    (tmp_path / "reference.py").write_text(REFERENCE, encoding="utf-8")
    (tmp_path / "rubric.yaml").write_text(yaml.safe_dump(rubric, sort_keys=False), encoding="utf-8")
    result = grade_submission(make_notebook("student", STUDENT, setup=False), load_rubric(tmp_path / "rubric.yaml"), Options())

    assert check(result, "ex1", "weights").outcome is Outcome.PASSED  # the mistake in the losses costs only their check
    losses = check(result, "ex1", "losses")
    assert losses.outcome is Outcome.FAILED and "the result[1] differs at" in losses.message
    assert losses.message.endswith(FEEDBACK["wrong_values"])
    dtype = check(result, "ex1", "widen_dtype")
    assert dtype.outcome is Outcome.FAILED and "the result has dtype float64, expected float32" in dtype.message
    assert check(result, "ex1", "widen_shape").outcome is Outcome.PASSED
    shape = check(result, "ex1", "row_sums")
    assert "the result has shape (4, 1), expected (4,)" in shape.message and shape.message.endswith(FEEDBACK["wrong_shape"])
    assert FEEDBACK["wrong_values"] not in shape.message and FEEDBACK["default"] not in shape.message
    values = check(result, "ex1", "scaled")
    assert values.message.endswith(FEEDBACK["wrong_values"]) and FEEDBACK["wrong_shape"] not in values.message
