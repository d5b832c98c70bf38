"""Check kinds for tensor code, end to end in this process: plan, run the probes on a plain namespace, judge.

No kernel: the probe runtime runs here on the student code under test (as in
tests/unit/test_kernel_probe.py), its answers go through the same parsing the
kernel's do, and the judge compares them with a small reference module.
"""

from __future__ import annotations

import json
import random
import textwrap
import types
from typing import Any

import pytest
import torch

from grader.checks import JudgeContext
from grader.checks.registry import CHECK_KINDS
from grader.kernel.execute import Execution
from grader.probes import load_runtime, request_problem
from grader.probes.protocol import parse_answers
from grader.results import Outcome, Verdict
from grader.rubric import CheckSpec

REFERENCE = '''
import torch
from torch import nn


def softmax(z):
    shifted = z - z.max(dim=1, keepdim=True).values
    e = shifted.exp()
    return e / e.sum(dim=1, keepdim=True)


def scale(x, factor):
    return x * factor


def weight_sum(layer, factor):
    return (layer.weight * factor).sum()


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


def build_mlp(n_in, hidden, n_out):
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


def sgd_step(model, x, y, lr):
    loss = ((model(x) - y) ** 2).mean()
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    return loss.item()


class Counter:
    def __init__(self, start):
        self.start = start

    def add(self, x):
        return self.start + x


weights = torch.arange(6.0).reshape(2, 3)
'''


@pytest.fixture(scope="module")
def reference() -> types.ModuleType:
    module = types.ModuleType("reference_under_test")
    exec(compile(REFERENCE, "<reference>", "exec"), module.__dict__)
    return module


def verdict(kind: str, params: dict[str, Any], student: str, reference: types.ModuleType, seed: int = 3) -> Verdict:
    """Plan the check, answer its calls by running the probes on ``student`` in this process, and judge."""
    check = CHECK_KINDS[kind](CheckSpec("c", kind, "t", 1.0, params))
    calls = check.plan(random.Random(seed))
    assert all(request_problem(call.probe, call.args) == "" for call in calls)
    runtime = load_runtime()
    published: list[str] = []
    namespace: dict[str, Any] = {}
    grad_mode = torch.is_grad_enabled()
    runtime["install"]("t", namespace, 1, 20.0, publish=lambda data, metadata=None: published.append(next(iter(data.values()))))
    try:
        exec(compile(textwrap.dedent(student), "<student>", "exec"), namespace)
        runtime["run"](json.dumps([call.as_json() for call in calls]))
    finally:
        torch.set_grad_enabled(grad_mode)
    answers = parse_answers(published, calls)
    context = JudgeContext(reference, Execution((), (), (), {}, 0.0), {1: textwrap.dedent(student)})  # a source kind reads the cell
    return check.judge(calls, answers, context)


SOFTMAX = {"function": "softmax", "dims": {"N": [2, 4], "C": [3, 6]},
           "args": [{"tensor": {"shape": ["N", "C"], "dtype": "float64", "low": -30, "high": 30}}]}


@pytest.mark.parametrize(
    ("student", "outcome", "fragment"),
    [
        ("def softmax(z):\n    e = (z - z.max(1, keepdim=True).values).exp()\n    return e / e.sum(1, keepdim=True)",
         Outcome.PASSED, "matches the reference at all 4 calls"),
        ("import torch\ndef softmax(z):\n    return torch.softmax(z, dim=1)", Outcome.PASSED, "matches"),
        ("def softmax(z):\n    e = z.exp()\n    return e / e.sum(0, keepdim=True)", Outcome.FAILED,
         "call 1 (`softmax` called with a float64 tensor of shape"),
        ("def softmax(z):\n    e = z.exp()\n    return e / e.sum(0, keepdim=True)", Outcome.FAILED, "the largest difference is at index ("),
        ("def softmax(z):\n    return z.exp().sum(1)", Outcome.FAILED, "the result has shape"),
        ("def softmax(z):\n    raise NotImplementedError", Outcome.NOT_ATTEMPTED, "still raises NotImplementedError"),
        ("def softmax(z):\n    return z[99]", Outcome.ERROR, "raised IndexError"),
        ("softmax = 3", Outcome.FAILED, "`softmax` is an int, not a function"),
        ("", Outcome.NOT_ATTEMPTED, "the submission defines no `softmax`"),
    ],
)
def test_call_vs_reference(reference: types.ModuleType, student: str, outcome: Outcome, fragment: str) -> None:
    found = verdict("call_vs_reference", SOFTMAX, student, reference)
    assert found.outcome is outcome, found.message
    assert fragment in found.message


def test_call_vs_reference_says_where_and_by_how_much(reference: types.ModuleType) -> None:
    found = verdict("call_vs_reference", {**SOFTMAX, "args": [{"tensor": {"values": [[0.0, 1.0, 2.0]], "dtype": "float64"}}], "calls": 1},
                    "def softmax(z):\n    e = z.exp()\n    return e / (e.sum(1, keepdim=True) + 1)", reference)
    assert found.message == (
        "call 1 (`softmax` called with a float64 tensor of shape (1, 3)): the result differs at 3 of 3 entries; the largest "
        "difference is at index (0, 0): 0.0825945, expected 0.0900306 (relative error 8.3e-02)"
    )


def test_a_number_and_a_0d_tensor_are_the_same_answer_unless_strict(reference: types.ModuleType) -> None:
    params = {"function": "scale", "args": [{"float": {"low": 1, "high": 2}}, {"value": 3}], "calls": 2}
    student = "import torch\ndef scale(x, factor):\n    return torch.tensor(x * factor)"
    assert verdict("call_vs_reference", params, student, reference).outcome is Outcome.PASSED
    strict = verdict("call_vs_reference", {**params, "strict_types": True}, student, reference)
    assert strict.outcome is Outcome.FAILED and "the result is a tensor of shape (), expected the number" in strict.message


def test_method_and_module_targets(reference: types.ModuleType) -> None:
    method = {"method": "Counter.add", "init": [{"value": 10}], "args": [{"int": {"low": 0, "high": 5}}]}
    right = "class Counter:\n    def __init__(self, start):\n        self.start = start\n    def add(self, x):\n        return self.start + x"
    assert verdict("call_vs_reference", method, right, reference).outcome is Outcome.PASSED
    wrong = right.replace("self.start + x", "self.start - x")
    assert "the result is" in verdict("call_vs_reference", method, wrong, reference).message


def test_arguments_after_the_call_a_training_step(reference: types.ModuleType) -> None:
    params = {"function": "sgd_step", "compare_after": [0], "calls": 2,
              "args": [{"module": {"layers": [[3, 4], "relu", [4, 1]], "dtype": "float64"}},
                       {"tensor": {"shape": [5, 3], "dtype": "float64"}}, {"tensor": {"shape": [5, 1], "dtype": "float64"}},
                       {"value": 0.1}]}
    right = '''
import torch
def sgd_step(model, x, y, lr):
    loss = ((model(x) - y) ** 2).mean()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads):
            p.sub_(lr * g)
    return float(loss)
'''
    assert verdict("call_vs_reference", params, right, reference).outcome is Outcome.PASSED
    forgot_update = right.replace("p.sub_(lr * g)", "pass")
    found = verdict("call_vs_reference", params, forgot_update, reference)
    assert found.outcome is Outcome.FAILED and "argument 1 after the call's parameter 0.weight differs" in found.message


GRADIENTS = {"function": "softmax", "wrt": [0], "dims": {"N": [2, 4], "C": [3, 5]},
             "args": [{"tensor": {"shape": ["N", "C"], "dtype": "float64", "low": -3, "high": 3, "requires_grad": True}}]}


def test_gradients_vs_reference(reference: types.ModuleType) -> None:
    right = "def softmax(z):\n    e = (z - z.max(1, keepdim=True).values).exp()\n    return e / e.sum(1, keepdim=True)"
    assert verdict("gradients_vs_reference", GRADIENTS, right, reference).outcome is Outcome.PASSED
    detached = right.replace("return e / e.sum(1, keepdim=True)", "return e / e.sum(1, keepdim=True).detach()")
    found = verdict("gradients_vs_reference", GRADIENTS, detached, reference)
    assert found.outcome is Outcome.FAILED and "the gradient with respect to argument 1 differs at" in found.message
    cut = verdict("gradients_vs_reference", GRADIENTS, "def softmax(z):\n    return z.detach().softmax(1)", reference)
    assert "its output is not attached to the graph" in cut.message


def test_gradients_of_module_parameters(reference: types.ModuleType) -> None:
    params = {"function": "weight_sum", "params_of": [0], "calls": 1,
              "args": [{"module": {"layers": [[2, 2]], "dtype": "float64", "single": True}}, {"value": 2.0}]}
    student = "def weight_sum(layer, factor):\n    return (layer.weight * factor).sum()"
    assert verdict("gradients_vs_reference", params, student, reference).outcome is Outcome.PASSED
    cut = "def weight_sum(layer, factor):\n    return (layer.weight.detach() * factor).sum() + layer.bias.sum()"
    found = verdict("gradients_vs_reference", params, cut, reference)
    assert found.message == "call 1 (`weight_sum` called with an nn.Linear, 2.0): no gradient reaches parameter weight of argument 1"


SQUARE = '''
import torch
class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return FACTOR * x * grad
'''


def test_autograd_function_backward_against_its_forward(reference: types.ModuleType) -> None:
    params = {"apply": "Square", "args": [{"tensor": {"shape": [3, 2], "dtype": "float64", "requires_grad": True}}]}
    assert verdict("autograd_function", params, SQUARE.replace("FACTOR", "2"), reference).outcome is Outcome.PASSED
    found = verdict("autograd_function", params, SQUARE.replace("FACTOR", "1"), reference)
    assert found.outcome is Outcome.FAILED
    assert "the backward does not compute this forward's gradient" in found.message
    plain = verdict("autograd_function", params, "class Square:\n    pass", reference)
    assert "`Square` must be a torch.autograd.Function subclass (it is a class that does not subclass it)" in plain.message


def test_global_values(reference: types.ModuleType) -> None:
    right = verdict("global_values", {"names": ["weights"]}, "import torch\nweights = torch.arange(6.0).reshape(2, 3)", reference)
    assert right.outcome is Outcome.PASSED
    wrong = verdict("global_values", {"names": ["weights"]}, "import torch\nweights = torch.arange(6.0).reshape(3, 2)", reference)
    assert "`weights` has shape (3, 2), expected (2, 3)" in wrong.message
    none = verdict("global_values", {"names": ["weights"]}, "weights = None", reference)
    assert none.outcome is Outcome.NOT_ATTEMPTED


STRUCTURE = {"function": "build_mlp", "args": [{"value": 4}, {"value": 8}, {"value": 3}], "inputs": [[5, 4]]}


def test_module_structure_against_the_reference(reference: types.ModuleType) -> None:
    right = "from torch import nn\ndef build_mlp(a, h, b):\n    return nn.Sequential(nn.Linear(a, h), nn.ReLU(), nn.Linear(h, b))"
    found = verdict("module_structure", STRUCTURE, right, reference)
    assert found.outcome is Outcome.PASSED and "2 Linear, 1 ReLU" in found.message and "67 parameters" in found.message
    deeper = right.replace("nn.Linear(h, b))", "nn.Linear(h, h), nn.Linear(h, b))")
    found = verdict("module_structure", STRUCTURE, deeper, reference)
    assert "it has 3 Linear (expected 2)" in found.message and "it has 139 parameters, expected 67" in found.message
    swapped = right.replace("nn.Linear(h, b)", "nn.Linear(h, b + 1)")
    found = verdict("module_structure", STRUCTURE, swapped, reference)
    assert "on an input of shape (5, 4) the output has shape (5, 4), expected (5, 3)" in found.message


def test_module_structure_with_explicit_expectations(reference: types.ModuleType) -> None:
    params = {"module": "net", "expect": {"layers": {"Linear": 1}, "parameters": 6}}
    assert verdict("module_structure", params, "from torch import nn\nnet = nn.Linear(2, 2)", reference).outcome is Outcome.PASSED
    assert "not a torch.nn.Module" in verdict("module_structure", params, "net = 3", reference).message


RAISES = {"function": "softmax", "exception": "ValueError", "message": "2-d|two",
          "calls_with": [{"args": [{"tensor": {"values": 1.5}}]}, {"args": [{"tensor": {"values": [1.0, 2.0]}}]}]}


@pytest.mark.parametrize(
    ("student", "outcome", "fragment"),
    [
        ("def softmax(z):\n    if z.dim() != 2:\n        raise ValueError('z must be 2-d')\n    return z", Outcome.PASSED,
         "raises ValueError on all 2 bad inputs"),
        ("class ShapeError(ValueError):\n    pass\ndef softmax(z):\n    raise ShapeError('expected two dims')", Outcome.PASSED, "raises"),
        ("def softmax(z):\n    return z", Outcome.FAILED, "returned a tensor of shape () instead of raising ValueError"),
        ("def softmax(z):\n    raise TypeError('2-d')", Outcome.FAILED, "raised TypeError, expected ValueError"),
        ("def softmax(z):\n    raise ValueError('bad')", Outcome.FAILED, "its message does not say what went wrong"),
    ],
)
def test_raises(reference: types.ModuleType, student: str, outcome: Outcome, fragment: str) -> None:
    found = verdict("raises", RAISES, student, reference)
    assert found.outcome is outcome, found.message
    assert fragment in found.message


def test_call_vs_reference_can_switch_autograd_off(reference: types.ModuleType) -> None:
    params = {**SOFTMAX, "forbid_autograd": True}
    by_hand = "def softmax(z):\n    e = (z - z.max(1, keepdim=True).values).exp()\n    return e / e.sum(1, keepdim=True)"
    assert verdict("call_vs_reference", params, by_hand, reference).outcome is Outcome.PASSED
    by_autograd = '''
import torch
def softmax(z):
    x = z.detach().requires_grad_()
    lse = torch.logsumexp(x, 1).sum()
    (g,) = torch.autograd.grad(lse, x)
    return g
'''
    found = verdict("call_vs_reference", params, by_autograd, reference)
    assert found.outcome is Outcome.FAILED and "used autograd (.backward(), torch.autograd.grad, torch.func or a grad_fn called)" in found.message
    assert verdict("call_vs_reference", SOFTMAX, by_autograd, reference).outcome is Outcome.PASSED  # allowed unless forbidden


def test_module_structure_feeds_inputs_of_the_models_own_dtype(reference: types.ModuleType) -> None:
    float64 = (
        "import torch\nfrom torch import nn\n"
        "def build_mlp(a, h, b):\n    return nn.Sequential(nn.Linear(a, h), nn.ReLU(), nn.Linear(h, b)).double()"
    )
    assert verdict("module_structure", STRUCTURE, float64, reference).outcome is Outcome.PASSED
