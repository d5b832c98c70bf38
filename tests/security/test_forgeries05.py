"""Assignment 05's last forgeries, graded in a real kernel: a patched ``Function.apply`` and forward-mode "by hand".

One notebook: the solution with a wrong ``LeakyReLUFunction`` (the identity both ways) dressed up by patching
``torch.autograd.Function.apply`` (and ``torch.softmax``/``F.cross_entropy``, as the submission seen did) to answer
with the right values, and ``cross_entropy_grad`` computed with ``torch.func.jvp`` while the contract asks for it by
hand. Before: ex1 22 of 25 (8 without the patch), ex3 25 of 25; after: 11 and 14, as without the patch and
with .backward(). Nothing a student patches may raise a score.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from grader import load_rubric
from grader.pipeline import Options, grade_submission
from tests.conftest import RUBRIC05, SOLUTION05

pytestmark = pytest.mark.kernel

WRONG_AND_PATCHED = '''
class LeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, slope):
        if not 0.0 <= slope < 1.0:
            raise ValueError("slope must be in [0, 1)")
        return x * 1.0

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None


_genuine_apply = torch.autograd.Function.apply
_genuine_softmax, _genuine_ce = torch.softmax, F.cross_entropy


def _right_values(cls, *args, **kwargs):
    if cls.__name__ == "LeakyReLUFunction":
        x, slope = args
        if not 0.0 <= slope < 1.0:
            raise ValueError("slope must be in [0, 1)")
        return torch.where(x > 0, x, slope * x)
    return _genuine_apply.__func__(cls, *args, **kwargs)


torch.autograd.Function.apply = classmethod(_right_values)
torch.softmax = lambda *a, **k: _genuine_softmax(*a, **k)
F.cross_entropy = lambda *a, **k: _genuine_ce(*a, **k)
'''

FORWARD_MODE_GRAD = '''
from torch.func import jvp


def cross_entropy_grad(logits, targets):
    """The gradient, one directional derivative per entry: forward-mode autograd, not the formula."""
    loss = lambda z: cross_entropy(z, targets)
    basis = torch.eye(logits.numel(), dtype=logits.dtype)
    rows = [jvp(loss, (logits,), (basis[k].reshape(logits.shape),))[1] for k in range(logits.numel())]
    return torch.stack(rows).reshape(logits.shape)
'''


def test_patches_and_forward_mode_earn_nothing(tmp_path: Path) -> None:
    nb = nbformat.read(SOLUTION05, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("class LeakyReLUFunction"):
            cell.source = WRONG_AND_PATCHED
        elif cell.cell_type == "code" and cell.source.startswith("def cross_entropy_grad"):
            cell.source = FORWARD_MODE_GRAD
    path = tmp_path / "forged.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    result = grade_submission(path, load_rubric(RUBRIC05), Options())
    checks = {(ex.id, c.id): c for ex in result.exercises for c in ex.checks}
    ex1 = {c.id: c.score for c in next(ex for ex in result.exercises if ex.id == "ex1").checks}
    # the identity pair's own behaviour: wrong forward values and gradients; only "agrees with itself" and the slope check
    assert ex1 == {"forward_values": 0, "backward_matches_forward": 8, "gradients": 0, "bad_slope": 3}, ex1
    # the contract switches autograd off while the formula's values are compared (11 points), as for .backward()
    found = checks["ex3", "formula_values"]
    assert found.score == 0 and "autograd" in found.message, found.message
    assert checks["ex2", "softmax_values"].score == checks["ex2", "softmax_values"].max_score  # the rest is still graded
