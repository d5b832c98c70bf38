"""Reference answers for assignment 04 (automatic differentiation).

Every name a submission must define (see CONTRACT-04.md) is defined here too, so
the grader can compare a student's values and functions with these. Only torch,
math and the standard library are imported at module level.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint_sequential

Number = int | float

# ---------------------------------------------------------------------------
# Exercise 1: y = (x1 + x2) * x3, backpropagated by hand at (1, 2, 3)
# ---------------------------------------------------------------------------

x1, x2, x3 = 1.0, 2.0, 3.0
s = x1 + x2                # forward: the intermediate node
y = s * x3                 # forward: the output
dy_ds = x3                 # d(s*x3)/ds, times the seed dy/dy = 1
dy_dx3 = s                 # d(s*x3)/dx3
dy_dx1 = dy_ds * 1.0       # ds/dx1 = 1
dy_dx2 = dy_ds * 1.0       # ds/dx2 = 1


def manual_backprop(x1: float, x2: float, x3: float) -> dict[str, float]:
    """Forward and backward pass of y = (x1 + x2) * x3 with the chain rule by hand."""
    s = x1 + x2
    y = s * x3
    dy_dy = 1.0
    dy_ds = dy_dy * x3
    return {
        "y": float(y),
        "dy_dx1": float(dy_ds * 1.0),
        "dy_dx2": float(dy_ds * 1.0),
        "dy_dx3": float(dy_dy * s),
    }


def autograd_backprop(x1: float, x2: float, x3: float) -> dict[str, float]:
    """Compute the same with torch.autograd in float64 (the grader's ground truth)."""
    inputs = [torch.tensor(float(v), dtype=torch.float64, requires_grad=True)
              for v in (x1, x2, x3)]
    a, b, c = inputs
    out = (a + b) * c
    grads = torch.autograd.grad(out, inputs)
    return {
        "y": out.item(),
        "dy_dx1": grads[0].item(),
        "dy_dx2": grads[1].item(),
        "dy_dx3": grads[2].item(),
    }


# ---------------------------------------------------------------------------
# Exercise 2: forward mode with dual numbers, extended with sin and cos
# ---------------------------------------------------------------------------

class DualNumber:
    """A pair [value, deriv]: a number and its derivative with respect to one input."""

    def __init__(self, value: Number, deriv: Number = 0.0) -> None:
        self.value = value
        self.deriv = deriv

    @staticmethod
    def _lift(other: DualNumber | Number) -> DualNumber:
        """Treat a plain number as a constant, i.e. a dual number with derivative 0."""
        return other if isinstance(other, DualNumber) else DualNumber(other, 0.0)

    def __add__(self, other: DualNumber | Number) -> DualNumber:
        o = self._lift(other)
        return DualNumber(self.value + o.value, self.deriv + o.deriv)

    def __radd__(self, other: Number) -> DualNumber:
        return self + other

    def __mul__(self, other: DualNumber | Number) -> DualNumber:
        o = self._lift(other)
        # product rule: (uv)' = u'v + uv'
        return DualNumber(self.value * o.value,
                          self.deriv * o.value + self.value * o.deriv)

    def __rmul__(self, other: Number) -> DualNumber:
        return self * other

    def __pow__(self, n: Number) -> DualNumber:
        # power rule for a constant exponent: (u^n)' = n u^(n-1) u'
        return DualNumber(self.value ** n, n * self.value ** (n - 1) * self.deriv)

    def sin(self) -> DualNumber:
        """Return sin([u, u']) = [sin u, u' cos u] as a new DualNumber."""
        return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))

    def cos(self) -> DualNumber:
        """Return cos([u, u']) = [cos u, -u' sin u] as a new DualNumber."""
        return DualNumber(math.cos(self.value), -self.deriv * math.sin(self.value))

    def __repr__(self) -> str:
        return f"DualNumber(value={self.value}, deriv={self.deriv})"


def sin(x: DualNumber) -> DualNumber:
    """Return x.sin() (the function form of DualNumber.sin)."""
    return x.sin()


def cos(x: DualNumber) -> DualNumber:
    """Return x.cos() (the function form of DualNumber.cos)."""
    return x.cos()


# ---------------------------------------------------------------------------
# Exercise 3: the grad_fn chain of a three-layer network
# ---------------------------------------------------------------------------

def grad_fn_chain(t: torch.Tensor) -> list[str]:
    """Names of the backward nodes on one path from t.grad_fn down to a leaf.

    At each node we step to the first parent that is not a leaf (AccumulateGrad),
    so the walk follows the data path back towards the network's input instead of
    stopping at the first bias; only when nothing else is left do we step to a leaf.
    The autograd graph is acyclic, so the walk always ends.
    """
    names: list[str] = []
    node = t.grad_fn
    while node is not None:
        names.append(type(node).__name__)
        parents = [fn for fn, _ in node.next_functions if fn is not None]
        inner = [fn for fn in parents if type(fn).__name__ != "AccumulateGrad"]
        candidates = inner or parents
        node = candidates[0] if candidates else None
    return names


with torch.random.fork_rng(devices=[]):  # do not disturb the importer's RNG
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(4, 8), nn.ReLU(),
        nn.Linear(8, 8), nn.ReLU(),
        nn.Linear(8, 2),
    )
    output = model(torch.randn(5, 4))


# ---------------------------------------------------------------------------
# Exercise 4: gradient checkpointing
# ---------------------------------------------------------------------------

def checkpointed_forward(model: nn.Sequential, x: torch.Tensor,
                         segments: int) -> torch.Tensor:
    """Run a Sequential model on x, checkpointing activations over `segments` segments."""
    out: torch.Tensor = checkpoint_sequential(  # type: ignore[no-untyped-call]
        model, segments, x, use_reentrant=False)
    return out


checkpointing_answer = (
    "Gradient checkpointing (activation checkpointing) saves memory during training. "
    "In a normal forward pass every intermediate activation is stored, because the "
    "backward pass needs it; with checkpointing the network is split into segments and "
    "only the activations at the segment boundaries (the checkpoints) are kept. During "
    "the backward pass each segment's forward computation is run again from its "
    "checkpoint to recreate the activations that were thrown away. This trades extra "
    "compute (roughly one more forward pass) for much lower activation memory, which is "
    "what makes very deep or large models, long sequences or big batches fit in GPU memory."
)
