"""The observation kind in a real kernel: an instructor's @observation function, on a tiny rubric of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.checks.registry import CHECK_KINDS
from grader.pipeline import Options, grade_submission
from grader.rubric import load_rubric
from tests.conftest import MakeNotebook, check

pytestmark = pytest.mark.kernel

REFERENCE = '''
import torch
from grader.observation import observation

SECRET_ANSWER = "never in the kernel"


def normalize(v):
    return v / v.norm()


@observation
def normalizing(ns):
    """What normalize does to a fixed vector: its result, its norm, and whether it changed its argument."""
    v = torch.tensor([3.0, 4.0])
    out = ns["normalize"](v)
    return {"out": out, "norm": float(out.norm()), "argument_kept": bool(torch.equal(v, torch.tensor([3.0, 4.0])))}
'''

RUBRIC = '''
assignment: tiny_observation
title: Tiny
reference: reference.py
total: 6
exercises:
  - id: ex1
    title: normalize
    checks:
      - id: observed
        kind: observation
        title: normalize gives a unit vector in the same direction, leaving its argument alone
        points: 6
        params: {observation: normalizing, names: [normalize], tolerances: {norm: {atol: 1.0e-6}}}
'''


@pytest.fixture
def rubric_path(tmp_path: Path) -> Path:
    folder = tmp_path / "course"
    folder.mkdir()
    (folder / "reference.py").write_text(REFERENCE, encoding="utf-8")
    (folder / "tiny.yaml").write_text(RUBRIC, encoding="utf-8")
    return folder / "tiny.yaml"


@pytest.mark.parametrize(("answer", "score", "fragments"), [
    ("def normalize(v):\n    return v / torch.linalg.norm(v)", 6, ["matches the reference (3 of 3 values)"]),
    ("def normalize(v):\n    v /= v.norm()\n    return v", 4, ["2 of 3 values", "`argument_kept` is"]),  # in place
    ("def normalize(v):\n    return v / v.sum()", 2, ["1 of 3 values", "`out`", "`norm` is 0.714"]),
])
def test_an_observation_scores_key_by_key(make_notebook: MakeNotebook, rubric_path: Path, answer: str, score: float,
                                          fragments: list[str]) -> None:
    rubric = load_rubric(rubric_path, CHECK_KINDS)
    assert "SECRET_ANSWER" not in rubric.exercises[0].checks[0].params["source"]
    result = grade_submission(make_notebook("nb", answer), rubric, Options())
    observed = check(result, "ex1", "observed")
    assert observed.score == pytest.approx(score), observed.message
    for fragment in fragments:
        assert fragment in observed.message
