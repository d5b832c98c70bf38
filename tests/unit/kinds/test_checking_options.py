"""Every parameter that says it checks something fails a submission when that thing is wrong: one case per option.

Each case is a check kind, the option, the params with it set, a right and a wrong submission (wrong only in what
the option checks) and a fragment of the failure message; where the option can be turned off, the params without
it, under which the same wrong submission passes (so it is this option that catches it, not another check). The
probes run in this process on the submission's code, as in test_tensors.py: no kernel.

Which parameters are options that check something is read from the kinds' schemas (a boolean, or a description
that says what must hold, is compared, differs, fails, is forbidden or earns nothing): a new such parameter without
a case here, or in NOT_CHECKING_OPTIONS with the reason, fails test_every_checking_option_has_a_failing_case.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from grader.checks.registry import CHECK_KINDS
from grader.results import Outcome
from tests.unit.kinds.test_tensors import verdict

REFERENCE = '''
import torch
from torch import nn


def double(x):
    return x * 2


def pair(x):
    return (x, x + 1)


def scale(x, factor):
    return x * factor


def scale_(x, factor):
    x.mul_(factor)
    return x


def softmax(z):
    e = (z - z.max(1, keepdim=True).values).exp()
    return e / e.sum(1, keepdim=True)


def product(a, b):
    return a * b


def weight_sum(layer, factor):
    return (layer.weight * factor).sum()


def square(x):
    return {"f": x * x, "df": 2 * x}


def build_mlp(n_in, hidden, n_out):
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


total = torch.tensor(3.0)
weights = torch.arange(6.0).reshape(2, 3)
'''

VECTOR = {"tensor": {"shape": [4], "dtype": "float64", "low": -3, "high": 3}}
SOFTMAX = {"function": "softmax", "args": [{"tensor": {"shape": [3, 4], "dtype": "float64", "low": -3, "high": 3}}], "calls": 2}
SOFTMAX_BY_HAND = "def softmax(z):\n    e = (z - z.max(1, keepdim=True).values).exp()\n    return e / e.sum(1, keepdim=True)"
SOFTMAX_BY_AUTOGRAD = """
import torch
def softmax(z):
    x = z.detach().requires_grad_()
    (g,) = torch.autograd.grad(torch.logsumexp(x, 1).sum(), x)
    return g
"""
AUTOGRAD_OFF = "used autograd (.backward(), torch.autograd.grad, torch.func or a grad_fn called), which is switched off for this check"
SQUARE = {"function": "square", "reference": "square", "arity": 1, "keys": ["f", "df"], "points": 3}
SQUARE_BY_HAND = "def square(x):\n    return {'f': x * x, 'df': 2 * x}"
SQUARE_BY_AUTOGRAD = """
import torch
def square(x):
    t = torch.tensor(float(x), requires_grad=True)
    y = t * t
    y.backward()
    return {'f': y.item(), 'df': t.grad.item()}
"""
MLP = "from torch import nn\ndef build_mlp(a, h, b):\n    return nn.Sequential(nn.Linear(a, h), nn.ReLU(), nn.Linear(h, b))"
NET = "from torch import nn\nnet = nn.Sequential(nn.Linear(2, 2), nn.ReLU())"
IDEAS = [{"id": "memory", "label": "what is saved", "points": 1, "phrasings": ["memory"]},
         {"id": "recompute", "label": "what is done again", "points": 1, "phrasings": ["recomput"]}]
WRITTEN = {"name": "answer", "ideas": IDEAS}
QUESTION = "Explain why checkpointing saves memory and what it recomputes in the backward pass when training large models."
GOOD_ANSWER = ("answer = 'Checkpointing saves memory during training. The activations that were not kept are recomputed "
               "in the backward pass, so we trade extra computation for less memory.'")


@dataclass(frozen=True)
class Case:
    """One option: ``on`` the params with it set, ``off`` without it (None: it cannot be turned off); the wrong
    submission fails under ``on`` with ``fragment`` in its message and passes under ``off``."""

    kind: str
    option: str
    on: dict[str, Any]
    right: str
    wrong: str
    fragment: str
    off: dict[str, Any] | None = None
    name: str = field(default="")

    @property
    def id(self) -> str:
        return f"{self.kind}.{self.option}{'-' + self.name if self.name else ''}"


CASES = [
    Case("call_vs_reference", "check_dtype", {"function": "double", "args": [VECTOR], "calls": 2, "check_dtype": True},
         "def double(x):\n    return x * 2", "def double(x):\n    return (x * 2).float()",
         "the result has dtype float32, expected float64",
         off={"function": "double", "args": [VECTOR], "calls": 2}),
    Case("call_vs_reference", "strict_types",
         {"function": "scale", "args": [{"float": {"low": 1, "high": 2}}, {"value": 3}], "calls": 2, "strict_types": True},
         "def scale(x, factor):\n    return x * factor", "import torch\ndef scale(x, factor):\n    return torch.tensor(x * factor)",
         "the result is a tensor of shape (), expected the number",
         off={"function": "scale", "args": [{"float": {"low": 1, "high": 2}}, {"value": 3}], "calls": 2}, name="0-d tensor"),
    Case("call_vs_reference", "strict_types", {"function": "pair", "args": [VECTOR], "calls": 2, "strict_types": True},
         "def pair(x):\n    return (x, x + 1)", "def pair(x):\n    return [x, x + 1]", "the result is a list of 2, expected a tuple of 2",
         off={"function": "pair", "args": [VECTOR], "calls": 2}, name="list"),
    Case("call_vs_reference", "compare_after", {"function": "scale_", "args": [VECTOR, {"value": 2.0}], "calls": 2,
                                                "compare_after": [0], "compare_output": False},
         "def scale_(x, factor):\n    x.mul_(factor)\n    return x", "def scale_(x, factor):\n    return x * factor",
         "argument 1 after the call differs",
         off={"function": "scale_", "args": [VECTOR, {"value": 2.0}], "calls": 2}),
    Case("call_vs_reference", "compare_output", {"function": "scale_", "args": [VECTOR, {"value": 2.0}], "calls": 2, "compare_after": [0]},
         "def scale_(x, factor):\n    x.mul_(factor)\n    return x", "def scale_(x, factor):\n    x.mul_(factor)",
         "the result is None, expected a tensor of shape (4,)",
         off={"function": "scale_", "args": [VECTOR, {"value": 2.0}], "calls": 2, "compare_after": [0], "compare_output": False}),
    Case("call_vs_reference", "forbid_autograd", {**SOFTMAX, "forbid_autograd": True}, SOFTMAX_BY_HAND, SOFTMAX_BY_AUTOGRAD,
         AUTOGRAD_OFF, off=SOFTMAX),
    Case("function_vs_reference", "forbid_autograd", {**SQUARE, "forbid_autograd": True}, SQUARE_BY_HAND, SQUARE_BY_AUTOGRAD,
         AUTOGRAD_OFF, off=SQUARE),
    Case("function_vs_reference", "keys", SQUARE, SQUARE_BY_HAND, "def square(x):\n    return {'f': x * x, 'df': 3 * x}", "df is wrong at",
         off={**SQUARE, "keys": ["f"]}),
    Case("global_values", "strict_types", {"names": ["total"], "strict_types": True}, "import torch\ntotal = torch.tensor(3.0)",
         "total = 3.0", "`total` is the number 3, expected a tensor of shape ()", off={"names": ["total"]}),
    Case("global_values", "check_dtype", {"names": ["weights"], "check_dtype": True}, "import torch\nweights = torch.arange(6.0).reshape(2, 3)",
         "import torch\nweights = torch.arange(6.0, dtype=torch.float64).reshape(2, 3)",
         "`weights` has dtype float64, expected float32", off={"names": ["weights"]}),
    Case("gradients_vs_reference", "wrt",
         {"function": "product", "wrt": [0, 1], "calls": 2, "args": [{"tensor": {**VECTOR["tensor"], "requires_grad": True}}] * 2},
         "def product(a, b):\n    return a * b", "def product(a, b):\n    return a * b.detach()",
         "no gradient reaches argument 2",
         off={"function": "product", "wrt": [0], "calls": 2, "args": [{"tensor": {**VECTOR["tensor"], "requires_grad": True}}] * 2}),
    Case("gradients_vs_reference", "params_of",
         {"function": "weight_sum", "params_of": [0], "calls": 1,
          "args": [{"module": {"layers": [[2, 2]], "dtype": "float64", "single": True}}, {"value": 2.0}]},
         "def weight_sum(layer, factor):\n    return (layer.weight * factor).sum()",
         "def weight_sum(layer, factor):\n    return (layer.weight * factor).sum() + 0 * layer.bias.sum() + layer.weight[0, 0]",
         "the gradient with respect to parameter weight of argument 1 differs"),
    Case("key_ideas", "question", {**WRITTEN, "question": QUESTION}, GOOD_ANSWER, f"answer = {QUESTION!r}",
         "repeats the question", off=WRITTEN),
    Case("key_ideas", "min_words", {**WRITTEN, "min_words": 12}, GOOD_ANSWER, "answer = 'It recomputes to save memory.'",
         "too short", off=WRITTEN),
    Case("key_ideas", "topic", {**WRITTEN, "topic": ["checkpoint"]}, GOOD_ANSWER,
         "answer = 'A cache keeps memory small: values not kept are recomputed when they are asked for again later on.'",
         "does not seem to be about the question's topic", off=WRITTEN),
    Case("key_ideas", "sentences", {**WRITTEN, "sentences": True}, GOOD_ANSWER, "answer = 'memory, recomputation, backward, trade-off'",
         "is a list of words, not sentences", off={**WRITTEN, "sentences": False}),
    Case("linear_layer_count", "count", {"model": "net", "count": 1}, NET,
         "from torch import nn\nnet = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))",
         "found 2 nn.Linear layers in `net` ('0', '2'), expected 1"),
    Case("module_structure", "exact_layers", {"module": "net", "expect": {"layers": {"Linear": 1}}, "exact_layers": True},
         "from torch import nn\nnet = nn.Sequential(nn.Linear(2, 2))", NET, "it has 1 ReLU (expected none)",
         off={"module": "net", "expect": {"layers": {"Linear": 1}}}),
    Case("module_structure", "inputs",
         {"function": "build_mlp", "args": [{"value": 4}, {"value": 8}, {"value": 3}], "inputs": [[5, 4]],
          "expect": {"layers": {"Linear": 2, "ReLU": 1}, "outputs": [[5, 3]]}},
         MLP, MLP.replace("nn.Sequential(nn.Linear(a, h), nn.ReLU(), nn.Linear(h, b))",
                          "nn.Sequential(nn.Linear(a, h), nn.ReLU(), nn.Linear(h, b + 1))"),
         "output has shape (5, 4), expected (5, 3)",
         off={"function": "build_mlp", "args": [{"value": 4}, {"value": 8}, {"value": 3}], "expect": {"layers": {"Linear": 2, "ReLU": 1}}}),
    Case("raises", "message",
         {"function": "softmax", "exception": "ValueError", "message": "2-d", "calls_with": [{"args": [{"tensor": {"values": [1.0, 2.0]}}]}]},
         "def softmax(z):\n    raise ValueError('z must be 2-d')", "def softmax(z):\n    raise ValueError('bad')",
         "its message does not say what went wrong",
         off={"function": "softmax", "exception": "ValueError", "calls_with": [{"args": [{"tensor": {"values": [1.0, 2.0]}}]}]}),
]

SOFTMAX_FROM_TORCH = "import torch\nfrom torch import softmax as sm\ndef softmax(z):\n    return sm(z, 1)"
SOFTMAX_BY_ROWS = "import torch\ndef softmax(z):\n    return torch.stack([(r - r.max()).exp() / (r - r.max()).exp().sum() for r in z])"
SOFTMAX_BY_HELPER = ("import torch\ndef _row(r):\n    e = (r - r.max()).exp()\n    return e / e.sum()\n\n"
                     "def _rows(z):\n    out = []\n    for r in z:\n        out.append(_row(r))\n    return out\n\n"
                     "def softmax(z):\n    return torch.stack(_rows(z))")
CASES += [
    Case("calls", "forbidden", {**SOFTMAX, "forbidden": ["torch.softmax"]}, SOFTMAX_BY_HAND, SOFTMAX_FROM_TORCH,
         "`softmax` calls torch.softmax, which the contract forbids", off={**SOFTMAX, "forbidden": ["torch.nn.functional.cross_entropy"]}),
    Case("calls", "required", {**SOFTMAX, "required": ["torch.autograd.grad"]}, SOFTMAX_BY_AUTOGRAD, SOFTMAX_BY_HAND,
         "`softmax` never calls torch.autograd.grad, which the contract requires",
         off={**SOFTMAX, "forbidden": ["torch.nn.functional.cross_entropy"]}),
    Case("source_rule", "forbid", {"function": "softmax", "forbid": ["comprehension"]}, SOFTMAX_BY_HAND, SOFTMAX_BY_ROWS,
         "`softmax` uses a comprehension", off={"function": "softmax", "forbid_names": ["torch.func"]}),
    Case("source_rule", "forbid_names", {"function": "softmax", "forbid_names": ["torch.softmax"]}, SOFTMAX_BY_HAND, SOFTMAX_FROM_TORCH,
         "`softmax` uses torch.softmax", off={"function": "softmax", "forbid": ["for"]}),
    Case("source_rule", "helpers", {"function": "softmax", "forbid": ["for"], "helpers": True}, SOFTMAX_BY_HAND, SOFTMAX_BY_HELPER,
         "`softmax` calls `_rows`, which uses a `for` loop", off={"function": "softmax", "forbid": ["for"], "helpers": False}),
]

# Parameters the schema scan below takes for options, which check nothing of their own: why each is not one.
NOT_CHECKING_OPTIONS = {
    ("dual_rule", "function"): "names the rule under test (the target), not an option",
    ("global_numbers", "names"): "names the globals under test (the targets), not an option",
    ("global_values", "names"): "names the globals under test (the targets), not an option",
    ("function_vs_reference", "reference"): "names the reference function compared with, not an option",
    ("instructor_graded", "points"): "the points the instructor grades: this check scores 0 and fails nothing",
    ("instructor_graded", "name"): "the written answer it reports on: this check scores 0 and fails nothing",
    ("observation", "keys"): "selects the keys compared (a key left out is not judged); tested with the observation's "
    "own judge in tests/unit/kinds/test_observations.py, since an observation needs a reference function of its own",
}

_SAYS_IT_CHECKS = re.compile(r"\b(must|compared?|differs?|forbid|checks?|earns? nothing|fail)\b", re.IGNORECASE)


def checking_options() -> set[tuple[str, str]]:
    """(kind, parameter) for every parameter whose schema says it checks something: a boolean, or a description
    that says what must hold, what is compared, differs, fails, is forbidden or earns nothing."""
    found = set()
    for kind, cls in CHECK_KINDS.items():
        for name, schema in cls.params_schema.get("properties", {}).items():
            if schema.get("type") == "boolean" or _SAYS_IT_CHECKS.search(str(schema.get("description", ""))):
                found.add((kind, name))
    return found


def test_every_checking_option_has_a_failing_case() -> None:
    options = checking_options()
    tested = {(case.kind, case.option) for case in CASES}
    untested = sorted(options - tested - set(NOT_CHECKING_OPTIONS))
    assert not untested, f"options that check something without a case in CASES (or a reason in NOT_CHECKING_OPTIONS): {untested}"
    assert not (tested | set(NOT_CHECKING_OPTIONS)) - options, "a case or a reason for a parameter the scan does not find (renamed?)"
    assert not tested & set(NOT_CHECKING_OPTIONS)


@pytest.fixture(scope="module")
def reference() -> types.ModuleType:
    module = types.ModuleType("reference_of_the_options")
    exec(compile(REFERENCE, "<reference>", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_option_fails_what_it_checks(case: Case, reference: types.ModuleType) -> None:
    right = verdict(case.kind, case.on, case.right, reference)
    assert right.outcome is Outcome.PASSED, right.message
    wrong = verdict(case.kind, case.on, case.wrong, reference)
    assert wrong.outcome is not Outcome.PASSED and wrong.fraction < 1, wrong.message
    assert case.fragment in wrong.message, wrong.message
    if case.off is not None:
        unchecked = verdict(case.kind, case.off, case.wrong, reference)
        assert unchecked.outcome is Outcome.PASSED, f"without {case.option} the wrong submission should pass: {unchecked.message}"
