"""Exercise 3 graded on real notebooks in a real kernel: right styles get 25, typical mistakes their exact score.

Scores per check (25 in all): structure 5, output_attached 5, chain_is_path 8,
chain_through_layers 5, chain_printed 2.
"""

from __future__ import annotations

import pytest

from tests.conftest import Grade, MakeNotebook, assert_exercise, assert_not_attempted, exercise_score, template_answer

pytestmark = pytest.mark.kernel

SEQUENTIAL = """
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
output = model(torch.randn(5, 4))
"""

ITERATIVE = """
def grad_fn_chain(t):
    names, node = [], t.grad_fn
    while node is not None:
        names.append(type(node).__name__)
        parents = [fn for fn, _ in node.next_functions if fn is not None]
        inner = [fn for fn in parents if type(fn).__name__ != "AccumulateGrad"]
        candidates = inner or parents
        node = candidates[0] if candidates else None
    return names
"""

RECURSIVE_LONGEST = """
def grad_fn_chain(t):
    def longest(node):
        best = []
        for child, _ in node.next_functions:
            if child is not None:
                path = longest(child)
                if len(path) > len(best):
                    best = path
        return [type(node).__name__] + best
    return longest(t.grad_fn)
"""

FIRST_NEXT_FUNCTION = """
def grad_fn_chain(t):
    names, node = [], t.grad_fn
    while node is not None:
        names.append(type(node).__name__)
        node = node.next_functions[0][0] if node.next_functions else None
    return names
"""

PRINT = "print(grad_fn_chain(output))"

RIGHT = {
    "sequential_iterative": (SEQUENTIAL, ITERATIVE, PRINT),
    "custom_module_recursive_scalar_loss": (
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1, self.fc2, self.fc3 = nn.Linear(3, 6), nn.Linear(6, 6), nn.Linear(6, 1)

            def forward(self, x):
                return self.fc3(torch.tanh(self.fc2(torch.sigmoid(self.fc1(x)))))

        model = Net()
        output = ((model(torch.randn(7, 3)) - 1.0) ** 2).mean()
        """,
        RECURSIVE_LONGEST,
        PRINT,
    ),
    "nested_3d_input_node_name_one_per_line": (
        """
        model = nn.Sequential(nn.Sequential(nn.Linear(4, 8, bias=False), nn.GELU()), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
        output = model(torch.randn(2, 5, 4, requires_grad=True)).sum()
        """,
        """
        def grad_fn_chain(t):
            names, node = [], t.grad_fn
            while node is not None:
                names.append(node.name())
                parents = [fn for fn, _ in node.next_functions if fn is not None]
                deeper = [fn for fn in parents if fn.next_functions]
                node = (deeper or parents or [None])[0]
            return names
        """,
        "for name in grad_fn_chain(output):\n    print(name)",
    ),
}


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_styles_get_full_marks(make_notebook: MakeNotebook, grade: Grade, name: str) -> None:
    result = grade(make_notebook(name, *RIGHT[name]), "ex3")
    assert exercise_score(result, "ex3") == 25, [(c.id, c.message) for c in result.exercises[0].checks]


# name -> (cells, expected score, {check id: (score, message fragment)})
WRONG: dict[str, tuple[tuple[str, ...], float, dict[str, tuple[float, str]]]] = {
    "two_layers": (
        ("model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))\noutput = model(torch.randn(5, 4))", ITERATIVE, PRINT),
        20,
        {"structure": (0, "found 2 nn.Linear layers in `model` ('0', '2'), expected 3")},
    ),
    "four_layers": (
        (
            "model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), "
            "nn.Linear(8, 2))\noutput = model(torch.randn(5, 4))",
            ITERATIVE,
            PRINT,
        ),
        20,
        {"structure": (0, "found 4 nn.Linear layers in `model` ('0', '2', '4', '6'), expected 3")},
    ),
    "detached_output": (
        (SEQUENTIAL + "output = output.detach()", ITERATIVE, PRINT),
        13,
        {
            "output_attached": (0, "`output` is detached: it has no grad_fn"),
            "chain_is_path": (8, "a real path in all 3 graphs it was given"),
            "chain_through_layers": (0, "cannot check: `output` is detached"),
            "chain_printed": (0, "cannot check: `output` is detached"),
        },
    ),
    "hard_coded_chain": (
        (
            SEQUENTIAL,
            'def grad_fn_chain(t):\n    return ["AddmmBackward0", "ReluBackward0", "AddmmBackward0", "ReluBackward0", '
            '"AddmmBackward0", "TBackward0", "AccumulateGrad"]',
            PRINT,
        ),
        12,
        {
            "chain_is_path": (0, "`grad_fn_chain` returns the same names for every tensor: it looks hard-coded"),
            # which of the two messages depends on the grader's graphs drawn for this notebook
            "chain_through_layers": (0, "so its chain for `output` does not show that it follows next_functions"),
            "chain_printed": (2, "in order"),
        },
    ),
    "fake_object_with_grad_fn": (
        (
            SEQUENTIAL.replace("output =", "real ="),
            "class FakeOutput:\n    pass\n\noutput = FakeOutput()\noutput.grad_fn = real.grad_fn",
            ITERATIVE,
            PRINT,
        ),
        13,
        {
            "output_attached": (0, "`output` is a FakeOutput, not a torch.Tensor (having a grad_fn attribute is not enough)"),
            "chain_through_layers": (0, "cannot check: `output` is a FakeOutput"),
            "chain_printed": (0, "cannot check"),
        },
    ),
    "chain_stops_at_first_bias": (
        (SEQUENTIAL, FIRST_NEXT_FUNCTION, PRINT),
        20,
        {
            "chain_is_path": (8, "a real path in all 4 graphs"),
            "chain_through_layers": (
                0,
                "on `output`: the chain passes through 1 of the 3 linear layers; it ends at 'AccumulateGrad' after 2 names "
                "without reaching '0', '2'",
            ),
        },
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_mistakes_get_their_score_and_message(make_notebook: MakeNotebook, grade: Grade, name: str) -> None:
    cells, score, expected = WRONG[name]
    assert_exercise(grade(make_notebook(name, *cells), "ex3"), "ex3", score, expected)


def test_template_stub_is_not_attempted(make_notebook: MakeNotebook, grade: Grade) -> None:
    assert_not_attempted(grade(make_notebook("template_ex3", template_answer("ex3")), "ex3"), "ex3")
