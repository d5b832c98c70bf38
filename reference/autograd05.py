"""Reference answers for assignment 05 (custom autograd functions, softmax cross-entropy and a training step).

Every name a submission must define (see rubrics/CONTRACT-05.md) is defined here
too, so the grader can call these on the same generated arguments as the
student's code and compare. ``autograd_cross_entropy_grad`` is the one extra
name: the gradient of the reference cross-entropy taken by autograd, the
ground truth exercise 3's hand-derived gradient is also compared with. Only
torch and the standard library are imported.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

# ---------------------------------------------------------------------------
# Exercise 1: a custom autograd Function, leaky ReLU with a slope argument
# ---------------------------------------------------------------------------


class LeakyReLUFunction(torch.autograd.Function):
    """f(x) = x where x > 0, slope * x elsewhere; its backward written by hand."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slope: float) -> torch.Tensor:
        if not 0.0 <= slope < 1.0:
            raise ValueError(f"slope must be in [0, 1), got {slope!r}")
        ctx.save_for_backward(x)
        ctx.slope = slope
        return torch.where(x > 0, x, slope * x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        local = torch.where(x > 0, torch.ones_like(x), torch.full_like(x, ctx.slope))
        return grad_output * local, None  # slope is a number: it gets no gradient


# ---------------------------------------------------------------------------
# Exercise 2: softmax and cross-entropy, numerically stable
# ---------------------------------------------------------------------------


def softmax(z: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension; the row maximum is subtracted first so that exp never overflows."""
    shifted = z - z.max(dim=-1, keepdim=True).values
    e = shifted.exp()
    return e / e.sum(dim=-1, keepdim=True)


def log_softmax(z: torch.Tensor) -> torch.Tensor:
    """log(softmax(z)) by log-sum-exp, finite where softmax itself underflows to 0."""
    shifted = z - z.max(dim=-1, keepdim=True).values
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -log softmax(logits)[i, targets[i]]; ValueError for a target outside 0..C-1."""
    n, c = logits.shape
    if bool(((targets < 0) | (targets >= c)).any()):
        raise ValueError(f"targets must be class indices in 0..{c - 1}")
    picked = log_softmax(logits)[torch.arange(n), targets]
    return -picked.mean()


# ---------------------------------------------------------------------------
# Exercise 3: the gradient of the cross-entropy, derived by hand
# ---------------------------------------------------------------------------


def cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """d cross_entropy / d logits = (softmax(logits) - one_hot(targets)) / N, from the formula."""
    n, c = logits.shape
    one_hot = torch.nn.functional.one_hot(targets, c).to(logits.dtype)
    return (softmax(logits) - one_hot) / n


def autograd_cross_entropy_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The same gradient taken by autograd from the reference cross_entropy (the ground truth for exercise 3)."""
    z = logits.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(cross_entropy(z, targets), z)
    return grad


# ---------------------------------------------------------------------------
# Exercise 4: a two-layer MLP and one step of plain SGD
# ---------------------------------------------------------------------------


def build_mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Module:
    """Linear(n_in, n_hidden), ReLU, Linear(n_hidden, n_out): logits, no activation at the end."""
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out))


def train_step(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, lr: float) -> float:
    """One step of plain SGD on the cross-entropy of model(x); the loss before the update, as a float."""
    for p in model.parameters():
        p.grad = None  # only this step's gradient may move the weights
    loss = cross_entropy(model(x), targets)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= lr * p.grad
    return loss.item()


def train(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, lr: float, steps: int) -> list[float]:
    """``steps`` calls of train_step on the same batch; the list of the losses they returned."""
    return [train_step(model, x, targets, lr) for _ in range(steps)]
