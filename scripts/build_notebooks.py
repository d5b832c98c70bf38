"""Build the lesson 04 notebooks (student template and reference solution).

Both notebooks come from the single list of cells below, so their lesson parts
cannot drift apart; only the four exercise answer cells differ. Run from anywhere:

    python scripts/build_notebooks.py

Writes exercises/04_automatic_differentiation.ipynb and reference/solution.ipynb
(nbformat 4.5, kernel python3, no outputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent, indent
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "exercises" / "04_automatic_differentiation.ipynb"
SOLUTION_PATH = ROOT / "reference" / "solution.ipynb"


@dataclass(frozen=True)
class Cell:
    """One notebook cell; `solution` is set only for cells that differ in the solution."""

    id: str
    kind: str  # "markdown" or "code"
    source: str
    solution: str | None = None


def md(cell_id: str, text: str) -> Cell:
    """Make a markdown cell shared by both notebooks."""
    return Cell(cell_id, "markdown", dedent(text).strip("\n"))


def code(cell_id: str, text: str, solution: str | None = None) -> Cell:
    """Make a code cell; give `solution` for an answer cell that differs in the solution."""
    sol = dedent(solution).strip("\n") if solution is not None else None
    return Cell(cell_id, "code", dedent(text).strip("\n"), sol)


# The lesson's DualNumber class. Exercise 2 repeats it with two extra methods, so
# all three copies are built from this one text ({extra} is where they go).
DUAL_CLASS = dedent("""
    class DualNumber:
        \"\"\"A value paired with its derivative, for forward-mode autodiff.\"\"\"

        def __init__(self, value, deriv=0.0):
            self.value = value
            self.deriv = deriv

        @staticmethod
        def lift(c):
            \"\"\"Wrap a plain number as a constant: its derivative is 0.\"\"\"
            return c if isinstance(c, DualNumber) else DualNumber(c, 0.0)

        def __add__(self, other):
            o = DualNumber.lift(other)
            return DualNumber(self.value + o.value, self.deriv + o.deriv)

        def __mul__(self, other):
            o = DualNumber.lift(other)  # product rule: (uv)' = u'v + uv'
            return DualNumber(self.value * o.value, self.deriv * o.value + self.value * o.deriv)

        __radd__ = __add__  # 2 + x is handled like x + 2
        __rmul__ = __mul__

        def __pow__(self, n):  # constant exponent: (u^n)' = n u^(n-1) u'
            return DualNumber(self.value ** n, n * self.value ** (n - 1) * self.deriv)
    {extra}
        def __repr__(self):
            return f"DualNumber(value={self.value}, deriv={self.deriv})"
    """).strip("\n")

SIN_COS_STUBS = """
    def sin(self):
        \"\"\"Return sin([u, u']) = [sin u, u' cos u].\"\"\"
        raise NotImplementedError

    def cos(self):
        \"\"\"Return cos([u, u']) = [cos u, -u' sin u].\"\"\"
        raise NotImplementedError
"""

SIN_COS_SOLVED = """
    def sin(self):
        \"\"\"Return sin([u, u']) = [sin u, u' cos u].\"\"\"
        return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))

    def cos(self):
        \"\"\"Return cos([u, u']) = [cos u, -u' sin u].\"\"\"
        return DualNumber(math.cos(self.value), -self.deriv * math.sin(self.value))
"""


def dual_class(extra: str = "") -> str:
    """Return the DualNumber class source with `extra` methods inserted before __repr__."""
    body = indent(dedent(extra).strip("\n"), "    ")
    return DUAL_CLASS.replace("{extra}\n", "\n" + body + "\n\n" if body else "\n")


# ---------------------------------------------------------------------------
# The lesson
# ---------------------------------------------------------------------------

LESSON: list[Cell] = [
    md("title", r"""
        # 04: Automatic Differentiation

        **Module 1.1: Calculus & Optimization**

        ## What you will learn

        1. Why estimating derivatives with finite differences breaks down for large models
        2. What automatic differentiation (autodiff) does instead
        3. How to push gradients through a computation graph by hand
        4. When forward mode or reverse mode is the better choice
        5. How PyTorch's autograd records and replays the graph

        **Further reading:** Solomon, *Numerical Algorithms*, §14.3.5;
        Ananthaswamy, *Why Machines Learn*, chapter 5.
        """),
    code("setup", """
        import matplotlib.pyplot as plt
        import numpy as np
        import torch

        torch.manual_seed(42)
        plt.rcParams["figure.figsize"] = (8, 5)
        """),
    md("three-ways", r"""
        ---
        ## 1. Three routes to a derivative

        | Route | How | Accuracy | Cost of a gradient |
        |---|---|---|---|
        | **Finite differences** | nudge each input | approximate | $n + 1$ calls of $f$ |
        | **Symbolic** | calculus rules on the formula | exact | expressions can blow up |
        | **Autodiff** | chain rule on recorded operations | exact up to rounding | a few passes |
        """),
    md("finite-diff", r"""
        ---
        ## 2. What goes wrong with finite differences

        The forward-difference estimate is
        $f'(x) \approx \dfrac{f(x+\varepsilon) - f(x)}{\varepsilon}$.
        It has two weaknesses:

        1. **Accuracy.** A large $\varepsilon$ gives a poor approximation (truncation
           error), but a tiny $\varepsilon$ subtracts two almost equal floating-point
           numbers and the rounding error explodes.
        2. **Cost.** Each of the $n$ inputs needs its own nudge, so one gradient costs
           $n + 1$ evaluations of $f$.

        Below we estimate the derivative of $f(x) = x^2$ at $x = 1$ (exactly 2) for
        step sizes from $10^{-1}$ down to $10^{-16}$ and plot the error.
        """),
    code("fd-precision", """
        def square(x):
            return x ** 2

        eps = 10.0 ** -np.arange(1, 17)
        forward_err = np.abs((square(1.0 + eps) - square(1.0)) / eps - 2.0)
        central_err = np.abs((square(1.0 + eps) - square(1.0 - eps)) / (2 * eps) - 2.0)

        fig, ax = plt.subplots()
        # a log axis cannot show an error of exactly 0, so floor it at 1e-17
        ax.loglog(eps, np.maximum(forward_err, 1e-17), "o-", label="forward difference")
        ax.loglog(eps, np.maximum(central_err, 1e-17), "s--", label="central difference")
        ax.set_xlabel(r"step size $\\varepsilon$")
        ax.set_ylabel("absolute error")
        ax.set_title("Finite differences: too big is inaccurate, too small is noisy")
        ax.invert_xaxis()
        ax.legend()
        plt.show()
        print(f"best forward step: {eps[forward_err.argmin()]:.0e}, error {forward_err.min():.1e}")
        """),
    md("fd-cost-md", r"""
        The error first shrinks with $\varepsilon$ and then grows again once rounding
        takes over; no step size is exact. The cost problem is easy to see by counting
        calls to $f$ in a numerical gradient:
        """),
    code("fd-cost", """
        def numerical_gradient(fn, x, eps=1e-6):
            \"\"\"Forward-difference gradient: one extra call of fn per coordinate.\"\"\"
            base = fn(x)
            grad = np.zeros_like(x)
            for i in range(x.size):
                bumped = x.copy()
                bumped[i] += eps
                grad[i] = (fn(bumped) - base) / eps
            return grad

        calls = 0
        def sum_of_squares(v):
            global calls
            calls += 1
            return float(np.sum(v ** 2))

        point = np.arange(1.0, 6.0)
        print("numerical gradient:", numerical_gradient(sum_of_squares, point))
        print("exact gradient:    ", 2 * point)
        print(f"calls to f for {point.size} inputs: {calls}")
        print("a network with 10 million weights would need 10,000,001 calls per step")
        """),
    md("graph", r"""
        ---
        ## 3. The idea behind autodiff: record, then apply the chain rule

        While the **forward pass** runs, autodiff writes down every elementary
        operation and its intermediate result: a **computation graph**. The
        **backward pass** then walks that graph from the output to the inputs, using
        only the derivative of each small operation.

        Running example: $f(a, b) = a^2 + a\,b + b^3$ at $(a, b) = (2, 3)$.

        ```
             a = 2                  b = 3
            /     \                /     \
        square     \              /      cube
           |        \            /         |
         u = 4       - multiply -       w = 27
           |            v = 6              |
            \             |               /
             ------------ add ------------
                          |
                        f = 37
        ```

        Note that $a$ and $b$ each feed **two** operations.
        """),
    code("forward-pass", """
        a, b = 2.0, 3.0

        # forward pass: keep every intermediate value, the backward pass needs them
        u = a ** 2      # 4
        v = a * b       # 6
        w = b ** 3      # 27
        out = u + v + w # 37
        print(f"u = {u}, v = {v}, w = {w}, f = {out}")
        """),
    md("chain-rule", r"""
        ---
        ## 4. The backward pass by hand

        Seed the output with $\partial f / \partial f = 1$ and move backwards. At each
        node, the gradient passed to an input is the **upstream gradient times the
        local derivative**. When a variable feeds several nodes, the contributions
        coming back from them are **added**.
        """),
    code("backward-pass", """
        df_dout = 1.0

        # out = u + v + w: addition passes the upstream gradient through unchanged
        df_du = df_dout * 1.0
        df_dv = df_dout * 1.0
        df_dw = df_dout * 1.0

        # local derivatives: u = a^2, v = a*b, w = b^3
        df_da = df_du * (2 * a) + df_dv * b        # two paths reach a: 4 + 3
        df_db = df_dv * a + df_dw * (3 * b ** 2)   # two paths reach b: 2 + 27
        print(f"by hand:  df/da = {df_da}, df/db = {df_db}")

        ab = torch.tensor([2.0, 3.0], requires_grad=True)
        f_t = ab[0] ** 2 + ab[0] * ab[1] + ab[1] ** 3
        f_t.backward()
        print(f"autograd: df/da = {ab.grad[0].item()}, df/db = {ab.grad[1].item()}")
        """),
    md("modes", r"""
        ---
        ## 5. Forward mode and reverse mode

        The chain rule can be applied in either direction.

        | Mode | Direction | One pass gives | Jacobian, $n$ in, $m$ out | Suits |
        |---|---|---|---|---|
        | **Forward** | inputs → outputs | all outputs, one direction | $n$ passes | few inputs |
        | **Reverse** | outputs → inputs | one output, all inputs | $m$ passes | few outputs |

        Training a network means differentiating **one** scalar loss with respect to
        **millions** of parameters, so reverse mode wins by a huge margin; reverse
        mode applied to neural networks is what we call *backpropagation*.

        The cell below compares the two on $g(z) = \sum_i \sin(z_i)\, z_i$ with six
        inputs: forward mode (`torch.func.jvp`) needs one pass per input, reverse mode
        (`torch.autograd.grad`) needs one pass in total.
        """),
    code("modes-demo", """
        def g(z):
            return (torch.sin(z) * z).sum()

        z = torch.linspace(0.0, 1.0, 6)

        # forward mode: one Jacobian-vector product per basis direction
        fwd = torch.stack([torch.func.jvp(g, (z,), (e,))[1] for e in torch.eye(6)])

        # reverse mode: a single backward pass yields every entry
        z_req = z.clone().requires_grad_()
        (rev,) = torch.autograd.grad(g(z_req), z_req)

        print("forward mode (6 passes):", fwd)
        print("reverse mode (1 pass):  ", rev)
        print("same answer:", torch.allclose(fwd, rev))
        """),
    md("dual-md", r"""
        ---
        ## 6. Forward mode with dual numbers

        Forward mode can be implemented by carrying, next to every value $u$, its
        derivative $u'$ with respect to the chosen input. Such a pair $[u, u']$ is a
        **dual number**, and every operation updates both halves:

        - sum: $[u, u'] + [v, v'] = [u + v,\; u' + v']$
        - product: $[u, u'] \cdot [v, v'] = [uv,\; u'v + uv']$
        - power with a constant exponent: $[u, u']^n = [u^n,\; n u^{n-1} u']$
        - any smooth function $h$: $h([u, u']) = [h(u),\; h'(u)\, u']$, e.g.
          $\exp([u, u']) = [e^u,\; u' e^u]$

        To differentiate with respect to $x$, start from $[x, 1]$ (since $dx/dx = 1$);
        plain constants are $[c, 0]$.
        """),
    code("dual-class", dual_class()),
    code("dual-example", """
        # f(x) = x^3 + 2x, so f'(x) = 3x^2 + 2 and at x = 3: f = 33, f' = 29
        x_dual = DualNumber(3, 1)   # seed: dx/dx = 1
        fx = x_dual ** 3 + 2 * x_dual
        print(fx)
        """),
    md("autograd-md", r"""
        ---
        ## 7. A look inside PyTorch's autograd

        For tensors created with `requires_grad=True`, PyTorch records the graph as it
        computes:

        1. every result of a recorded operation gets a `grad_fn`, the node that knows
           how to backpropagate through that operation;
        2. `grad_fn.next_functions` points to the nodes of the operation's inputs, so
           following it walks the graph backwards; a leaf tensor is reached through an
           `AccumulateGrad` node, which stores the gradient in `.grad`;
        3. `.backward()` (or `torch.autograd.grad`) runs the graph from the output back
           to the leaves.
        """),
    code("grad-fn", """
        ab = torch.tensor([2.0, 3.0], requires_grad=True)
        u_t = ab[0] ** 2
        v_t = ab[0] * ab[1]
        w_t = ab[1] ** 3
        f_t = u_t + v_t + w_t

        print("leaf ab.grad_fn:", ab.grad_fn)   # None: nothing produced a leaf
        for name, t in [("u", u_t), ("v", v_t), ("w", w_t), ("f", f_t)]:
            print(f"{name}.grad_fn:", t.grad_fn)
        print("parents of f's node:", f_t.grad_fn.next_functions)
        """),
    md("hooks-md", r"""
        A **hook** registered on an intermediate tensor is called with that tensor's
        gradient during the backward pass, which lets us watch the upstream gradients
        arrive:
        """),
    code("hooks", """
        def announce(name):
            def hook(grad):
                print(f"  gradient reaching {name}: {grad.item()}")
            return hook

        ab = torch.tensor([2.0, 3.0], requires_grad=True)
        u_t, v_t, w_t = ab[0] ** 2, ab[0] * ab[1], ab[1] ** 3
        for name, t in [("u", u_t), ("v", v_t), ("w", w_t)]:
            t.register_hook(announce(name))

        print("during backward:")
        (u_t + v_t + w_t).backward()
        print("ab.grad =", ab.grad)
        """),
    md("vae-md", r"""
        ---
        ## 8. Genomics example: the gradient of a VAE loss

        Single-cell models such as scVI are variational autoencoders. Their loss adds a
        reconstruction term and a KL divergence that keeps the latent code close to a
        standard normal prior:

        $$\mathcal{L} = -\log p(x \mid z) + \mathrm{KL}\big(q(z \mid x)\,\|\,p(z)\big).$$

        However involved the loss, autograd differentiates it with one call. Here is a
        toy version with a squared-error reconstruction term.
        """),
    code("vae", """
        def toy_vae_loss(counts, recon, mu, logvar):
            \"\"\"Mean squared reconstruction error plus KL(N(mu, exp(logvar)) || N(0, 1)).\"\"\"
            recon_term = ((counts - recon) ** 2).mean()
            kl_term = 0.5 * (mu ** 2 + logvar.exp() - 1.0 - logvar).mean()
            return recon_term + kl_term

        counts = torch.randn(100)                     # stand-in for expression values
        recon = torch.randn(100, requires_grad=True)  # decoder output
        mu = torch.randn(10, requires_grad=True)      # encoder mean
        logvar = torch.randn(10, requires_grad=True)  # encoder log-variance

        vae_loss = toy_vae_loss(counts, recon, mu, logvar)
        vae_loss.backward()
        print(f"loss = {vae_loss.item():.4f}")
        for name, t in [("recon", recon), ("mu", mu), ("logvar", logvar)]:
            print(f"dL/d{name}: shape {tuple(t.grad.shape)}")
        """),
]

# ---------------------------------------------------------------------------
# The exercises: instructions, then one answer cell each
# ---------------------------------------------------------------------------

EXERCISES: list[Cell] = [
    md("exercises-intro", r"""
        ---
        ## Exercises

        Write each answer in the code cell under its instructions. Your notebook is
        graded by running it **from top to bottom** and then reading its top-level
        (global) names, so:

        - keep the names exactly as given below, and make sure every cell runs without
          error (Kernel → Restart & Run All before you submit);
        - do **not** reuse the exercise 1 names `x1, x2, x3, s, y, dy_ds, dy_dx1,
          dy_dx2, dy_dx3` for anything else in later cells: the grader sees only the
          last value a name was given;
        - do not call the stub functions at top level until you have filled them in.
        """),
    md("ex1-instructions", r"""
        ### Exercise 1: backpropagation by hand (25 points)

        Take $y = (x_1 + x_2)\, x_3$ at $(x_1, x_2, x_3) = (1, 2, 3)$, with the
        intermediate node $s = x_1 + x_2$. Without autograd, compute and store:

        - `s` and `y`: the forward pass;
        - `dy_ds`: the upstream gradient arriving at $s$;
        - `dy_dx1`, `dy_dx2`, `dy_dx3`: the gradient of $y$ with respect to each input.

        Then write `manual_backprop(x1, x2, x3)`, which does the same forward and
        backward pass for **any** inputs and returns a dict with the keys `"y"`,
        `"dy_dx1"`, `"dy_dx2"` and `"dy_dx3"`.

        - At $(1, 2, 3)$ every answer happens to be 3, so the grader also calls
          `manual_backprop` at other points and compares with autograd.
        - "By hand" means the chain rule in your own code: a `manual_backprop` that
          calls `.backward()`, `torch.autograd.grad` or `torch.func` earns nothing for
          its gradient. (You may use autograd elsewhere to check your answer.)
        - Python numbers, numpy scalars and 0-d tensors are all accepted as values.
        """),
    code("ex1-answer", """
        x1, x2, x3 = 1.0, 2.0, 3.0

        # forward pass
        s = None
        y = None

        # backward pass
        dy_ds = None
        dy_dx1 = None
        dy_dx2 = None
        dy_dx3 = None


        def manual_backprop(x1, x2, x3):
            \"\"\"Return {"y": ..., "dy_dx1": ..., "dy_dx2": ..., "dy_dx3": ...}.\"\"\"
            raise NotImplementedError
        """, solution="""
        x1, x2, x3 = 1.0, 2.0, 3.0

        # forward pass
        s = x1 + x2          # 3
        y = s * x3           # 9

        # backward pass, seeded with dy/dy = 1
        dy_ds = 1.0 * x3     # local derivative of s * x3 w.r.t. s is x3
        dy_dx3 = 1.0 * s     # ... and w.r.t. x3 it is s
        dy_dx1 = dy_ds * 1.0 # addition passes the gradient through: ds/dx1 = 1
        dy_dx2 = dy_ds * 1.0 # ds/dx2 = 1


        def manual_backprop(x1, x2, x3):
            \"\"\"Forward and backward pass of y = (x1 + x2) * x3, chain rule by hand.\"\"\"
            s = x1 + x2
            y = s * x3
            dy_ds = x3
            return {"y": y, "dy_dx1": dy_ds * 1.0, "dy_dx2": dy_ds * 1.0, "dy_dx3": s}


        print(f"s = {s}, y = {y}, dy/ds = {dy_ds}")
        print(f"gradient: ({dy_dx1}, {dy_dx2}, {dy_dx3})")

        # check against autograd at another point
        check_inputs = torch.tensor([0.5, -1.5, 2.0], requires_grad=True)
        ((check_inputs[0] + check_inputs[1]) * check_inputs[2]).backward()
        print("manual:  ", manual_backprop(0.5, -1.5, 2.0))
        print("autograd:", check_inputs.grad.tolist())
        """),
    md("ex2-instructions", r"""
        ### Exercise 2: dual numbers for sine and cosine (25 points)

        Extend `DualNumber` so that it can differentiate through $\sin$ and $\cos$:

        $$\sin([u, u']) = [\sin u,\; u' \cos u], \qquad
          \cos([u, u']) = [\cos u,\; -u' \sin u].$$

        The cell below repeats the lesson's class with two new methods, `sin` and
        `cos`; fill them in so that `x.sin()` and `x.cos()` return a **new**
        `DualNumber` and leave `x` unchanged. (Use `math.sin` and `math.cos` on the
        value.)

        - The rules must hold for any derivative part $u'$, not only for 1, and must
          combine with `+`, `*` and `**`: e.g. `(x ** 2).sin() * (3 * x).cos()`.
        - Keep the lesson's behaviour: `DualNumber(3, 1) ** 3 + 2 * DualNumber(3, 1)`
          must still be `DualNumber(value=33, deriv=29)`.
        - Alternatively you may write top-level functions `sin(x)` and `cos(x)` (or
          `dual_sin(x)` and `dual_cos(x)`) that take and return a `DualNumber`; if you
          choose that form, delete the two stub methods, since the grader looks for the
          methods first.
        """),
    code(
        "ex2-answer",
        "import math  # for math.sin and math.cos\n\n\n" + dual_class(SIN_COS_STUBS),
        solution="import math\n\n\n" + dual_class(SIN_COS_SOLVED) + dedent("""


            # check: d/dt [sin(t^2) * cos(3t)] = 2t cos(t^2) cos(3t) - 3 sin(t^2) sin(3t)
            t0 = 0.7
            t_dual = DualNumber(t0, 1.0)
            h = (t_dual ** 2).sin() * (3 * t_dual).cos()
            expected = (2 * t0 * math.cos(t0 ** 2) * math.cos(3 * t0)
                        - 3 * math.sin(t0 ** 2) * math.sin(3 * t0))
            print(h, "expected derivative:", expected)
            print(DualNumber(3, 1) ** 3 + 2 * DualNumber(3, 1))  # lesson example still works
            """).rstrip("\n"),
    ),
    md("ex3-instructions", r"""
        ### Exercise 3: follow the `grad_fn` chain of a 3-layer network (25 points)

        Define:

        - `model`: a `torch.nn.Module` with exactly **three** `torch.nn.Linear`
          layers (put whatever activations you like between them), e.g. an
          `nn.Sequential`;
        - `output`: the result of running `model` on some input batch (a scalar loss
          computed from it is fine too); do not detach it, the graph must stay
          attached;
        - `grad_fn_chain(t)`: given **any** tensor `t`, return a list of strings, the
          names (`type(node).__name__`, such as `"AddmmBackward0"`) of the nodes on one
          path that starts at `t.grad_fn` and repeatedly steps to one of the current
          node's `next_functions` until no step is left (entries of `next_functions`
          can be `None`).

        The grader checks that the names form a real path in the graph of any tensor
        you pass, and that for `output` the path goes through **all three** linear
        layers. Careful: the first parent of a linear layer's node is often the
        bias's `AccumulateGrad` leaf, so "always take the first one" stops too early.
        Finally print the chain for `output` (the last line of the cell does that once
        `output` is set).
        """),
    code("ex3-answer", """
        model = None
        output = None


        def grad_fn_chain(t):
            \"\"\"Return the grad_fn node names on one path from t.grad_fn towards the leaves.\"\"\"
            raise NotImplementedError


        if output is not None:
            print(grad_fn_chain(output))
        """, solution="""
        from torch import nn

        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(4, 8), nn.ReLU(),
            nn.Linear(8, 8), nn.ReLU(),
            nn.Linear(8, 2),
        )
        output = model(torch.randn(5, 4))


        def grad_fn_chain(t):
            \"\"\"Return the grad_fn node names on one path from t.grad_fn towards the leaves.

            At each node step to the first parent that is not a leaf (AccumulateGrad),
            so the path follows the data back through every layer instead of ending at
            the first bias; take a leaf only when nothing else is left.
            \"\"\"
            names = []
            node = t.grad_fn
            while node is not None:
                names.append(type(node).__name__)
                parents = [fn for fn, _ in node.next_functions if fn is not None]
                inner = [fn for fn in parents if type(fn).__name__ != "AccumulateGrad"]
                candidates = inner or parents
                node = candidates[0] if candidates else None
            return names


        print(grad_fn_chain(output))
        """),
    md("ex4-instructions", r"""
        ### Exercise 4: gradient checkpointing (25 points)

        Find out what *gradient checkpointing* (also called activation checkpointing)
        is, then:

        - set `checkpointing_answer` to a string of a few sentences, in your own words,
          explaining what gradient checkpointing is and why it helps when training
          large models: which activations are kept, what happens in the backward pass,
          and what is traded for what. (This answer may be reviewed by hand.)
        - write `checkpointed_forward(model, x, segments)`: run `model`, a
          `torch.nn.Sequential`, on `x` with activation checkpointing over `segments`
          segments and return the output. Its output and gradients must match a plain
          `model(x)`, but fewer activations must be saved for the backward pass.
          `torch.utils.checkpoint` is allowed (look at `checkpoint_sequential`; pass
          `use_reentrant=False`), and so is your own equivalent.
        """),
    code("ex4-answer", """
        checkpointing_answer = None


        def checkpointed_forward(model, x, segments):
            \"\"\"Run the nn.Sequential `model` on x, checkpointed over `segments` segments.\"\"\"
            raise NotImplementedError
        """, solution="""
        from torch.utils.checkpoint import checkpoint_sequential

        checkpointing_answer = (
            "Gradient checkpointing lowers the memory needed for training. Normally the "
            "forward pass stores every intermediate activation because the backward pass "
            "needs them. With checkpointing the network is cut into segments and only the "
            "activations at the segment boundaries are kept; the rest are discarded. During "
            "the backward pass each segment is run forward again from its stored input to "
            "recompute the missing activations just before they are needed. We pay for "
            "roughly one extra forward pass of compute and in exchange activation memory "
            "drops sharply, so much larger models, longer sequences or bigger batches fit "
            "on the same GPU."
        )


        def checkpointed_forward(model, x, segments):
            \"\"\"Run the nn.Sequential `model` on x, checkpointed over `segments` segments.\"\"\"
            return checkpoint_sequential(model, segments, x, use_reentrant=False)


        # check: same output and gradients as a plain forward pass
        net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                            nn.Linear(16, 1))
        batch = torch.randn(8, 4, requires_grad=True)
        plain_grads = torch.autograd.grad(net(batch).sum(), [batch, *net.parameters()])
        ckpt_grads = torch.autograd.grad(checkpointed_forward(net, batch, 2).sum(),
                                         [batch, *net.parameters()])
        same = all(torch.allclose(p, c) for p, c in zip(plain_grads, ckpt_grads, strict=True))
        print("same gradients:", same)
        """),
    md("summary", r"""
        ---
        ## Summary

        | Idea | In one line |
        |---|---|
        | Finite differences | one extra evaluation per input, and rounding limits the accuracy |
        | Autodiff | exact derivatives by applying the chain rule to recorded operations |
        | Computation graph | the values and operations saved during the forward pass |
        | Backward pass | upstream gradient × local derivative, summed where paths meet |
        | Forward mode | dual numbers $[u, u']$; one pass per input direction |
        | Reverse mode | one pass per output: ideal for a scalar loss and many parameters |

        **Next:** 05_genomics_applications.ipynb
        """),
]

CELLS: list[Cell] = LESSON + EXERCISES


def cell_json(cell: Cell, solution: bool) -> dict[str, Any]:
    """One cell in nbformat 4.5 JSON form, with no outputs."""
    source = cell.solution if solution and cell.solution is not None else cell.source
    out: dict[str, Any] = {"cell_type": cell.kind, "id": cell.id, "metadata": {},
                           "source": source}
    if cell.kind == "code":
        out.update(execution_count=None, outputs=[])
    return out


def build(solution: bool) -> dict[str, Any]:
    """Assemble the template (solution=False) or the solution notebook as JSON data."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [cell_json(cell, solution) for cell in CELLS],
    }


def main() -> None:
    """Check the cell ids, then validate and write both notebooks."""
    ids = [cell.id for cell in CELLS]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"duplicate cell ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    nbf: Any = nbformat  # nbformat ships without type hints
    for path, solution in ((TEMPLATE_PATH, False), (SOLUTION_PATH, True)):
        nb = nbf.from_dict(build(solution))
        nbf.validate(nb)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbf.write(nb, str(path))
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
