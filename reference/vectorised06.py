"""Reference answers for assignment 06 (vectorised tensor code: broadcasting, a hand-derived gradient, gradient descent).

Every name a submission must define (see rubrics/CONTRACT-06.md) is defined
here too, so the grader can call these on the same generated arguments as the
student's code and compare. Only torch and the standard library are imported.
"""

from __future__ import annotations

import torch

# ---------------------------------------------------------------------------
# Exercise 1: pairwise squared distances by broadcasting
# ---------------------------------------------------------------------------


def pairwise_sq_distances(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """(N, M): entry (i, j) is the squared Euclidean distance between row i of X and row j of Y."""
    differences = X[:, None, :] - Y[None, :, :]  # (N, 1, D) - (1, M, D) broadcasts to (N, M, D)
    return (differences**2).sum(dim=-1)


# ---------------------------------------------------------------------------
# Exercise 2: softmax from its formula, numerically stable
# ---------------------------------------------------------------------------


def softmax(z: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension; each row's maximum is subtracted first so that exp never overflows."""
    shifted = z - z.max(dim=-1, keepdim=True).values
    e = shifted.exp()
    return e / e.sum(dim=-1, keepdim=True)


# ---------------------------------------------------------------------------
# Exercise 3: the gradient of the mean squared error, derived by hand
# ---------------------------------------------------------------------------


def mse_loss(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """L(w) = mean over i of (X[i] . w - y[i])**2, a 0-d tensor."""
    return ((X @ w - y) ** 2).mean()


def mse_grad(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """dL/dw = (2 / N) X^T (X w - y), shape (D,)."""
    return 2.0 / X.shape[0] * X.T @ (X @ w - y)


# ---------------------------------------------------------------------------
# Exercise 4: gradient descent, returning the weights and the loss history
# ---------------------------------------------------------------------------


def fit_linear(X: torch.Tensor, y: torch.Tensor, lr: float, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``steps`` updates w <- w - lr * dL/dw from w = 0; losses[k] is L(w) before update k."""
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    losses = torch.empty(steps, dtype=X.dtype)
    for k in range(steps):
        losses[k] = mse_loss(X, y, w)
        w = w - lr * mse_grad(X, y, w)
    return w, losses
