"""Submissions written by people who never saw the grader, graded in a real kernel.

Each was written from the assignment's contract and template alone (``tests/fixtures/blind/NN/``; the
``MANIFEST-*.md`` files there are their authors' notes). Round 1 wrote ordinary solutions in as many styles
as its authors could think of, plus three each with one mistake against a named sentence of the contract;
round 2 wrote solutions that sit at the edges of what the contract allows (callables that are not plain
functions, decorators, stubs kept and answered elsewhere, drafts redefined later, reentrant checkpoints,
bias-free layers, first-order-only backward, ValueError subclasses, stubs in branches never reached...).
Every correct one must score 100, and every wrong one lose points on exactly the checks for its mistake
and nowhere else: a grader that is narrower than its contract, or one that lets a mistake through, fails
here.
"""

from __future__ import annotations

from functools import cache

import pytest

from grader import load_rubric
from grader.pipeline import Options, grade_submission
from grader.rubric import Rubric
from tests.conftest import ROOT

pytestmark = pytest.mark.kernel

BLIND = ROOT / "tests" / "fixtures" / "blind"
RUBRICS = {
    "04": "04_automatic_differentiation.yaml",
    "05": "05_custom_autograd_and_training.yaml",
    "06": "06_vectorised_tensor_code.yaml",
}
# The wrong ones: the checks that must lose points (all others keep theirs), from the sentence each breaks.
MISTAKES = {
    "04/r1_w01_manual_backprop_uses_autograd.ipynb": {"gradient_anywhere"},  # "manual" means the chain rule, not autograd
    "04/r1_w02_dual_sin_cos_ignore_inner_derivative.ipynb": {"sin_rule", "cos_rule", "compositions"},  # drops u'
    "04/r1_w03_chain_always_first_parent.ipynb": {"chain_through_layers"},  # stops at the last layer's bias
    "05/r1_w01_backward_forgets_grad_output.ipynb": {"backward_matches_forward", "gradients"},
    "05/r1_w02_softmax_global_max.ipynb": {"softmax_rows_far_apart"},  # the whole tensor's max, not each row's
    "05/r1_w03_forgot_zero_grad.py": {"train_loop"},  # old gradients leak into the next step
    "06/r1_w01_uses_cdist.ipynb": {"no_cdist"},
    "06/r1_w02_loop_in_mse_grad.ipynb": {"gradient_vectorised"},
    "06/r1_w03_loss_after_update.ipynb": {"loss_history"},  # the loss after each update, not before
}
SUBMISSIONS = sorted(f"{p.parent.name}/{p.name}" for p in BLIND.glob("*/*") if p.suffix in (".ipynb", ".py"))


@cache
def rubric_for(assignment: str) -> Rubric:
    return load_rubric(ROOT / "rubrics" / RUBRICS[assignment])


@pytest.mark.parametrize("name", SUBMISSIONS)
def test_blind_submission_gets_what_its_contract_promises(name: str) -> None:
    result = grade_submission(BLIND / name, rubric_for(name.split("/")[0]), Options())
    lost = {c.id: f"{c.score}/{c.max_score} {c.message}" for ex in result.exercises for c in ex.checks if c.score < c.max_score}
    assert not result.errors, result.errors
    assert set(lost) == MISTAKES.get(name, set()), lost


def test_the_corpus_is_whole() -> None:
    assert len(SUBMISSIONS) == 63 and set(MISTAKES) <= set(SUBMISSIONS)
    assert {name.split("/")[0] for name in SUBMISSIONS} == set(RUBRICS)
