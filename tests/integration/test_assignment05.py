"""Assignment 05 graded in a real kernel with its own rubric: no grader code of its own, only YAML and a reference.

The solution scores 100 and the template 0 (every check "not attempted").
Each wrong notebook below plants one typical mistake per answer of every
exercise (the answers of one exercise do not call each other's wrong versions,
so the mistakes stay apart), and each mistake must cost points on the check
named for it, with a message that says where; the other checks keep their
points. Four notebooks give four wrong variants per exercise in four kernel runs.

Points (25 per exercise): ex1 forward_values 7, backward_matches_forward 8,
gradients 7, bad_slope 3; ex2 softmax_values 4, softmax_last_dim 2,
softmax_stable 3, softmax_rows_far_apart 2, cross_entropy_values 5, cross_entropy_stable 3,
cross_entropy_gradients 3, bad_targets 3; ex3 formula_values 11,
matches_autograd_at_scale 7, built_from_logits 7; ex4 structure 4,
structure_other_sizes 3, step_parameters 8, step_loss 4, train_loop 6.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from grader import load_rubric
from grader.pipeline import Options, grade_submission
from grader.results import SubmissionResult
from grader.rubric import Rubric
from tests.conftest import RUBRIC05, SOLUTION05, TEMPLATE05, assert_exercise, assert_not_attempted

pytestmark = pytest.mark.kernel

SETUP05 = "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\ntorch.manual_seed(0)\n"


@pytest.fixture(scope="module")
def rubric05() -> Rubric:
    return load_rubric(RUBRIC05)


def grade05(path: Path, rubric: Rubric) -> SubmissionResult:
    return grade_submission(path, rubric, Options())


def notebook05(folder: Path, name: str, *cells: str) -> Path:
    """A notebook of the given code cells with fixed cell ids.

    The grader draws its test inputs from the rubric's seed and the
    submission's bytes; fixed ids keep the bytes, hence the inputs, the same on
    every run, so that a planted mistake's partial scores are reproducible (the
    few checks whose catch is a matter of chance say how likely it is).
    """
    sources = [textwrap.dedent(cell).strip("\n") for cell in cells]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src, id=f"cell-{i}") for i, src in enumerate(sources)])
    path = folder / f"{name}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_the_solution_scores_full_marks(rubric05: Rubric) -> None:
    result = grade05(SOLUTION05, rubric05)
    failed = [(ex.id, c.id, c.message) for ex in result.exercises for c in ex.checks if c.score != c.max_score]
    assert (result.score, result.max_score, failed) == (100, 100, [])
    assert result.errors == ()


def test_the_template_scores_zero_with_every_check_not_attempted(rubric05: Rubric) -> None:
    result = grade05(TEMPLATE05, rubric05)
    assert result.score == 0
    for exercise in ("ex1", "ex2", "ex3", "ex4"):
        assert_not_attempted(result, exercise)


GLOBAL_STATE = """
import warnings

torch.set_grad_enabled(False)
torch.autograd.set_detect_anomaly(True)
torch.manual_seed(123)
warnings.simplefilter("error")
torch.set_default_dtype(torch.float64)
"""


def test_global_state_left_behind_costs_nothing(tmp_path: Path, rubric05: Rubric) -> None:
    """CONTRACT-05: grad mode, a seed, anomaly detection, warnings as errors, a default dtype change nothing."""
    solution = nbformat.read(SOLUTION05, as_version=4)
    cells = [cell.source for cell in solution.cells if cell.cell_type == "code"]
    result = grade05(notebook05(tmp_path, "global_state", *cells, GLOBAL_STATE), rubric05)
    lost = {(ex.id, c.id): (c.score, c.message) for ex in result.exercises for c in ex.checks if c.score != c.max_score}
    assert lost == {}
    assert result.score == 100


# ---------------------------------------------------------------- the planted mistakes

EX1_SLOPE_ON_THE_WRONG_SIDE = '''
class LeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, slope):
        if not 0 <= slope < 1:
            raise ValueError("slope must be in [0, 1)")
        ctx.save_for_backward(x)
        ctx.slope = slope
        return torch.where(x > 0, slope * x, x)          # scales the positive side

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.where(x > 0, ctx.slope, 1.0), None   # consistent with that forward
'''

EX1_IGNORES_GRAD_OUTPUT = '''
class LeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, slope):
        if not 0 <= slope < 1:
            raise ValueError("slope must be in [0, 1)")
        ctx.save_for_backward(x)
        ctx.slope = slope
        return torch.where(x > 0, x, slope * x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, 1.0, ctx.slope).to(x.dtype), None    # the local derivative alone
'''

EX1_ASSERTS_THE_SLOPE = '''
class LeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, slope):
        assert 0 <= slope < 1, "bad slope"                # AssertionError, not ValueError
        ctx.save_for_backward(x)
        ctx.slope = slope
        return F.leaky_relu(x, slope)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.where(x > 0, 1.0, ctx.slope), None
'''

EX1_FORGETS_NONE_FOR_SLOPE = '''
class LeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, slope):
        if slope < 0 or slope >= 1:
            raise ValueError(f"slope {slope} is not in [0, 1)")
        ctx.save_for_backward(x)
        ctx.slope = slope
        return x.clamp(min=0) + slope * x.clamp(max=0)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.where(x > 0, 1.0, ctx.slope)   # one gradient for two inputs
'''

EX2_SOFTMAX_DIM_1_AND_SUMMED_LOSS = '''
def softmax(z):
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)   # dim 1 is the last one only for 2-d tensors
    return e / e.sum(dim=1, keepdim=True)


def cross_entropy(logits, targets):
    if (targets < 0).any() or (targets >= logits.shape[1]).any():
        raise ValueError("target out of range")
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -log_probs[torch.arange(len(targets)), targets].sum()   # the sum, not the mean
'''

EX2_NAIVE_SOFTMAX_AND_LOG_OF_SOFTMAX = '''
def softmax(z):
    e = torch.exp(z)                                       # overflows for large logits
    return e / e.sum(dim=-1, keepdim=True)


def cross_entropy(logits, targets):
    if ((targets < 0) | (targets >= logits.shape[-1])).any():
        raise ValueError("target out of range")
    shifted = torch.exp(logits - logits.max(dim=-1, keepdim=True).values)
    probs = shifted / shifted.sum(dim=-1, keepdim=True)      # a stable softmax...
    return -torch.log(probs[torch.arange(len(targets)), targets]).mean()   # ...whose log is -inf once it underflows
'''

EX2_ONE_MAXIMUM_AND_NO_TARGET_CHECK = '''
def softmax(z):
    e = torch.exp(z - z.max())                             # one maximum for the whole batch
    return e / e.sum(dim=-1, keepdim=True)


def cross_entropy(logits, targets):
    log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    return -log_probs[torch.arange(len(targets)), targets].mean()   # -1 silently picks the last class
'''

EX2_SOFTMAX_DIM_0_AND_LOSS_AS_FLOAT = '''
def softmax(z):
    e = torch.exp(z - z.max(dim=0, keepdim=True).values)   # over the batch, not over the classes
    return e / e.sum(dim=0, keepdim=True)


def cross_entropy(logits, targets):
    if not bool(((targets >= 0) & (targets < logits.shape[1])).all()):
        raise ValueError("targets must be in 0..C-1")
    log_probs = torch.log_softmax(logits, dim=1)
    return -log_probs[torch.arange(logits.shape[0]), targets].mean().item()   # a float: no gradient
'''

EX3_NAIVE_SOFTMAX = '''
def cross_entropy_grad(logits, targets):
    n, c = logits.shape
    e = torch.exp(logits)                                  # no maximum subtracted
    return (e / e.sum(dim=1, keepdim=True) - F.one_hot(targets, c)) / n
'''

EX3_AUTOGRAD = '''
def cross_entropy_grad(logits, targets):
    z = logits.detach().requires_grad_(True)
    loss = F.cross_entropy(z, targets)
    (grad,) = torch.autograd.grad(loss, z)                  # autograd, not the formula
    return grad
'''

EX3_ONE_HOT_OFF_BY_ONE = '''
def cross_entropy_grad(logits, targets):
    n, c = logits.shape
    one_hot = torch.zeros_like(logits)
    one_hot[torch.arange(n), (targets + 1) % c] = 1.0       # the class after the target
    return (torch.softmax(logits, dim=1) - one_hot) / n
'''

EX3_NO_DIVISION_BY_N = '''
def cross_entropy_grad(logits, targets):
    p = torch.softmax(logits, dim=-1)
    return p - F.one_hot(targets, logits.shape[-1]).to(p.dtype)   # the gradient of the summed loss
'''

EX4_PLUS_INSTEAD_OF_MINUS = '''
def build_mlp(n_in, n_hidden, n_out):
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out))


def train_step(model, x, targets, lr):
    model.zero_grad()
    loss = F.cross_entropy(model(x), targets)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p += lr * p.grad                               # climbs the loss
    return loss.item()


def train(model, x, targets, lr, steps):
    return [train_step(model, x, targets, lr) for _ in range(steps)]
'''

EX4_NO_ZERO_GRAD = '''
def build_mlp(n_in, n_hidden, n_out):
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out))


def train_step(model, x, targets, lr):
    loss = F.cross_entropy(model(x), targets)              # .grad is never cleared
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    return loss.item()


def train(model, x, targets, lr, steps):
    losses = []
    for _ in range(steps):
        losses.append(train_step(model, x, targets, lr))
    return losses
'''

EX4_HIDDEN_SIZE_FIXED_AT_16 = '''
def build_mlp(n_in, n_hidden, n_out):
    return nn.Sequential(nn.Linear(n_in, 16), nn.ReLU(), nn.Linear(16, n_out))   # ignores n_hidden


def train_step(model, x, targets, lr):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), targets)
    loss.backward()
    optimizer.step()
    return loss.item()


def train(model, x, targets, lr, steps):
    return [train_step(model, x, targets, lr) for _ in range(steps)]
'''

EX4_SOFTMAX_LAYER_AND_TENSOR_LOSS = '''
def build_mlp(n_in, n_hidden, n_out):
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out), nn.Softmax(dim=-1))


def train_step(model, x, targets, lr):
    for p in model.parameters():
        p.grad = None
    loss = F.cross_entropy(model(x), targets)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p.sub_(lr * p.grad)
    return loss.detach()                                   # a 0-d tensor, not a float


def train(model, x, targets, lr, steps):
    return [float(train_step(model, x, targets, lr)) for _ in range(steps)]
'''

# notebook -> its answer cells and, per exercise, (exercise score, {check: (points, message fragment)})
Expected = dict[str, tuple[float, dict[str, tuple[float, str]]]]
MATCHES = "matches the reference at all"
GRADIENTS_MATCH = "gradients match the reference at all"
WRONG: dict[str, tuple[tuple[str, ...], Expected]] = {
    "wrong_side_dim1_naive_plus": (
        (EX1_SLOPE_ON_THE_WRONG_SIDE, EX2_SOFTMAX_DIM_1_AND_SUMMED_LOSS, EX3_NAIVE_SOFTMAX, EX4_PLUS_INSTEAD_OF_MINUS),
        {
            "ex1": (11, {
                "forward_values": (0, "(`LeakyReLUFunction` called with a float64 tensor of shape"),
                "backward_matches_forward": (8, "the backward agrees with the forward at all"),  # consistent with its own forward
                "gradients": (0, "the gradient with respect to argument 1 differs at"),
                "bad_slope": (3, "raises ValueError on all 3 bad inputs"),
            }),
            "ex2": (12, {
                "softmax_values": (4, MATCHES),
                "softmax_last_dim": (0, "(`softmax` called with a float64 tensor of shape"),
                "softmax_stable": (3, MATCHES),
                "softmax_rows_far_apart": (2, MATCHES),
                "cross_entropy_values": (0, "the mean over the N rows (not the sum)"),
                "cross_entropy_stable": (0, "the result is"),
                "cross_entropy_gradients": (0, "the gradient with respect to argument 1 differs at"),
                "bad_targets": (3, "raises ValueError on all 2 bad inputs"),
            }),
            "ex3": (18, {
                "formula_values": (11, MATCHES),
                "matches_autograd_at_scale": (0, "not a finite number"),
                "built_from_logits": (7, GRADIENTS_MATCH),
            }),
            "ex4": (11, {
                "structure": (4, "2 Linear, 1 ReLU"),
                "structure_other_sizes": (3, "2 Linear, 1 ReLU, 79 parameters"),
                "step_parameters": (0, "argument 1 after the call's parameter 0.weight differs at"),
                "step_loss": (4, MATCHES),
                "train_loop": (0, "the result[1] is"),
            }),
        },
    ),
    "ignores_upstream_naive_softmax_autograd_no_zero_grad": (
        (EX1_IGNORES_GRAD_OUTPUT, EX2_NAIVE_SOFTMAX_AND_LOG_OF_SOFTMAX, EX3_AUTOGRAD, EX4_NO_ZERO_GRAD),
        {
            "ex1": (10, {
                "forward_values": (7, MATCHES),
                "backward_matches_forward": (0, "the backward does not compute this forward's gradient"),
                "gradients": (0, "the gradient with respect to argument 1 differs at"),
                "bad_slope": (3, "raises ValueError"),
            }),
            "ex2": (17, {
                "softmax_values": (4, MATCHES),
                "softmax_last_dim": (2, MATCHES),
                "softmax_stable": (0, "not a finite number"),
                "softmax_rows_far_apart": (0, "not a finite number"),
                "cross_entropy_values": (5, MATCHES),
                "cross_entropy_stable": (0, "the result is nan"),  # a call escapes with probability 0.2%: no target far enough down
                "cross_entropy_gradients": (3, GRADIENTS_MATCH),
                "bad_targets": (3, "raises ValueError"),
            }),
            "ex3": (7, {
                "formula_values": (0, "used autograd (.backward(), torch.autograd.grad, torch.func or a grad_fn called), which is switched off"),
                "matches_autograd_at_scale": (7, MATCHES),
                "built_from_logits": (0, "its output is not attached to the graph"),
            }),
            "ex4": (19, {
                "structure": (4, "2 Linear, 1 ReLU"),
                "step_parameters": (8, MATCHES),  # one step from fresh weights: nothing has accumulated yet
                "step_loss": (4, MATCHES),
                "train_loop": (0, "backward adds into .grad"),  # the losses differ from the third step on, the weights from the second
            }),
        },
    ),
    "asserts_one_maximum_off_by_one_hidden_16": (
        (EX1_ASSERTS_THE_SLOPE, EX2_ONE_MAXIMUM_AND_NO_TARGET_CHECK, EX3_ONE_HOT_OFF_BY_ONE, EX4_HIDDEN_SIZE_FIXED_AT_16),
        {
            "ex1": (22, {
                "forward_values": (7, MATCHES),
                "backward_matches_forward": (8, "the backward agrees with the forward at all"),
                "gradients": (7, GRADIENTS_MATCH),
                "bad_slope": (0, "raised AssertionError, expected ValueError"),
            }),
            "ex2": (20, {
                "softmax_values": (4, MATCHES),
                "softmax_stable": (3, MATCHES),  # random rows are rarely 745 apart (about 1% of calls): softmax_rows_far_apart is the check
                "softmax_rows_far_apart": (0, "not a finite number"),
                "cross_entropy_values": (5, MATCHES),
                "cross_entropy_gradients": (3, GRADIENTS_MATCH),
                "bad_targets": (0, "returned a tensor of shape () instead of raising ValueError"),
            }),
            "ex3": (7, {
                "formula_values": (0, "the result differs at"),
                "matches_autograd_at_scale": (0, "the result differs at"),
                "built_from_logits": (7, GRADIENTS_MATCH),  # the one-hot part has no derivative
            }),
            "ex4": (24, {
                "structure": (4, "2 Linear, 1 ReLU"),  # n_hidden happens to be 16 here
                "structure_other_sizes": (2, "it has 295 parameters, expected 79"),
                "step_parameters": (8, MATCHES),
                "step_loss": (4, MATCHES),
                "train_loop": (6, MATCHES),
            }),
        },
    ),
    "no_none_dim0_float_loss_no_mean_softmax_layer": (
        (EX1_FORGETS_NONE_FOR_SLOPE, EX2_SOFTMAX_DIM_0_AND_LOSS_AS_FLOAT, EX3_NO_DIVISION_BY_N, EX4_SOFTMAX_LAYER_AND_TENSOR_LOSS),
        {
            "ex1": (10, {
                "forward_values": (7, MATCHES),
                "backward_matches_forward": (0, "returned an incorrect number of gradients (expected 2, got 1)"),
                "gradients": (0, "returned an incorrect number of gradients (expected 2, got 1)"),
                "bad_slope": (3, "raises ValueError"),
            }),
            "ex2": (11, {
                "softmax_values": (0, "the result differs at"),
                "softmax_last_dim": (0, "the result differs at"),
                "softmax_stable": (0, "the result differs at"),
                "softmax_rows_far_apart": (0, "the result differs at"),
                "cross_entropy_values": (5, MATCHES),
                "cross_entropy_stable": (3, MATCHES),
                "cross_entropy_gradients": (0, "it returned a float, not a tensor"),
                "bad_targets": (3, "raises ValueError"),
            }),
            "ex3": (0, {
                "formula_values": (0, "divided by the batch size N"),
                "matches_autograd_at_scale": (0, "the result differs at"),
                "built_from_logits": (0, "the gradient with respect to argument 1 differs at"),
            }),
            "ex4": (18.67, {
                "structure": (2.67, "it has 1 Softmax (expected none)"),
                "structure_other_sizes": (2, "it has 1 Softmax (expected none)"),
                "step_parameters": (8, MATCHES),
                "step_loss": (0, "the result is a tensor of shape (), expected the number"),
                "train_loop": (6, MATCHES),
            }),
        },
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_each_planted_mistake_costs_points_on_its_own_check(tmp_path: Path, rubric05: Rubric, name: str) -> None:
    cells, expected = WRONG[name]
    result = grade05(notebook05(tmp_path, name, SETUP05, *cells), rubric05)
    for exercise, (score, checks) in expected.items():
        assert_exercise(result, exercise, score, checks)

