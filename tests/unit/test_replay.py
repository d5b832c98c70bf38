"""Recorded expected values answer the judges exactly as the reference did, without its code. No kernel.

Each test records what a check's judge asks of a reference while it judges a
correct answer (the probes run in this process, as in tests/unit/kinds/test_tensors.py),
stores the recording as JSON, and judges correct and wrong answers again, once
with the real reference and once with the replayed one: the verdicts (outcome
and message) must be the same. Questions never recorded must say so.
"""

from __future__ import annotations

import gc
import json
import math
import types
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from grader import load_rubric
from grader.kit import replay
from grader.kit.replay import FORMAT, Expected, MissingExpectedValue, Recorder, RecordingReference, Unrecordable, to_data
from grader.pipeline import load_reference
from grader.results import Outcome, Verdict
from grader.rubric import Rubric
from tests.conformance import ex1, ex2
from tests.conftest import RUBRIC, SETUP
from tests.unit.kinds.test_tensors import REFERENCE, verdict


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load_rubric(RUBRIC)


@pytest.fixture(scope="module")
def lesson_reference(rubric: Rubric) -> types.ModuleType:
    return load_reference(rubric.reference_path)


@pytest.fixture(scope="module")
def tensor_reference() -> types.ModuleType:
    module = types.ModuleType("reference_under_test")
    exec(compile(REFERENCE, "<reference>", "exec"), module.__dict__)
    return module


def replay_module(expected: Expected) -> types.ModuleType:
    """What the kit's generated reference module is: every name answered from the recording."""
    module = types.ModuleType("expected")
    module.__dict__["__getattr__"] = expected.name
    return module


def recorded(kind: str, params: dict[str, Any], student: str, reference: types.ModuleType, seed: int = 3) -> tuple[Verdict, Expected]:
    """The verdict on ``student`` with a recording reference, and the recording after a trip through JSON."""
    recorder = Recorder()
    found = verdict(kind, params, student, RecordingReference(reference, recorder), seed)
    text = json.dumps(recorder.as_data(), allow_nan=False)
    return found, Expected(json.loads(text))


def assert_same(kind: str, params: dict[str, Any], student: str, reference: types.ModuleType, expected: Expected, seed: int = 3) -> Verdict:
    real = verdict(kind, params, student, reference, seed)
    replayed = verdict(kind, params, student, replay_module(expected), seed)
    assert (replayed.outcome, replayed.message, replayed.fraction) == (real.outcome, real.message, real.fraction)
    return real


# ------------------------------------------------------------------ the lesson's checks (numbers, DualNumber)


def _source(cells: tuple[str, ...]) -> str:
    return SETUP + "\n\n".join(cells)


LESSON_CHECKS = [("ex1", "values"), ("ex1", "forward_anywhere"), ("ex1", "gradient_anywhere"), ("ex2", "sin_rule"),
                 ("ex2", "cos_rule"), ("ex2", "compositions"), ("ex2", "argument_unchanged"), ("ex2", "lesson_operations")]


@pytest.mark.parametrize(("exercise", "check_id"), LESSON_CHECKS)
def test_lesson_checks_judge_alike_with_the_recording(exercise: str, check_id: str, rubric: Rubric, lesson_reference: types.ModuleType) -> None:
    spec = next(c for c in rubric.exercise(exercise).checks if c.id == check_id)
    variants = [v for v in (*ex1.VARIANTS, *ex2.VARIANTS) if v.exercise == exercise]
    found, expected = recorded(spec.kind, spec.params, _source(variants[0].answer_cells), lesson_reference)
    assert found.outcome is Outcome.PASSED, found.message
    # another correct variant, and every twin whose planted mistake this check must catch
    assert assert_same(spec.kind, spec.params, _source(variants[1].answer_cells), lesson_reference, expected).outcome is Outcome.PASSED
    for v in [v for v in variants if v.mistake.check == (exercise, check_id)][:3]:
        assert assert_same(spec.kind, spec.params, _source(v.twin_cells), lesson_reference, expected).outcome is not Outcome.PASSED


def test_the_twins_lose_points_with_the_recording_too(rubric: Rubric, lesson_reference: types.ModuleType) -> None:
    spec = next(c for c in rubric.exercise("ex2").checks if c.id == "cos_rule")
    _, expected = recorded(spec.kind, spec.params, _source(ex2.VARIANTS[0].answer_cells), lesson_reference)
    twin = verdict(spec.kind, spec.params, _source(ex2.VARIANTS[0].twin_cells), replay_module(expected))
    assert twin.outcome is Outcome.PARTIAL and "the derivative of cos has the wrong sign" in twin.message


def test_a_question_never_recorded_says_so(rubric: Rubric, lesson_reference: types.ModuleType) -> None:
    spec = next(c for c in rubric.exercise("ex1").checks if c.id == "gradient_anywhere")
    _, expected = recorded(spec.kind, spec.params, _source(ex1.VARIANTS[0].answer_cells), lesson_reference, seed=3)
    with pytest.raises(MissingExpectedValue, match=r"the kit has no expected value for autograd_backprop\("):
        verdict(spec.kind, spec.params, _source(ex1.VARIANTS[0].answer_cells), replay_module(expected), seed=4)
    with pytest.raises(MissingExpectedValue, match="the kit has no expected value for DualNumber"):
        expected.name("DualNumber")(1.0, 2.0)


# ------------------------------------------------------------------ tensors: calls, arguments changed, gradients, modules

SOFTMAX = {"function": "softmax", "dims": {"N": [2, 4], "C": [3, 6]},
           "args": [{"tensor": {"shape": ["N", "C"], "dtype": "float64", "low": -30, "high": 30}}]}
RIGHT_SOFTMAX = "def softmax(z):\n    e = (z - z.max(1, keepdim=True).values).exp()\n    return e / e.sum(1, keepdim=True)"

TENSOR_CASES = [
    ("call_vs_reference", SOFTMAX, RIGHT_SOFTMAX,
     ["def softmax(z):\n    e = z.exp()\n    return e / e.sum(0, keepdim=True)", "def softmax(z):\n    return z[99]",
      "def softmax(z):\n    return z.exp().sum(1)"]),
    ("gradients_vs_reference", {**SOFTMAX, "wrt": [0], "args": [{"tensor": {**SOFTMAX["args"][0]["tensor"], "requires_grad": True}}]},
     RIGHT_SOFTMAX,
     [RIGHT_SOFTMAX.replace("return e / e.sum(1, keepdim=True)", "return e / e.sum(1, keepdim=True).detach()"),
      "def softmax(z):\n    return z.detach().softmax(1)"]),
    ("gradients_vs_reference", {"function": "weight_sum", "params_of": [0], "calls": 2,
                                "args": [{"module": {"layers": [[2, 3]], "dtype": "float64", "single": True}}, {"float": {"low": 1, "high": 3}}]},
     "def weight_sum(layer, factor):\n    return (layer.weight * factor).sum()",
     ["def weight_sum(layer, factor):\n    return (layer.weight * factor * layer.weight).sum()",
      "def weight_sum(layer, factor):\n    return (layer.weight * 2.0).sum()"]),
    ("call_vs_reference", {"function": "sgd_step", "compare_after": [0], "calls": 2,
                           "args": [{"module": {"layers": [[3, 4], "relu", [4, 1]], "dtype": "float64"}},
                                    {"tensor": {"shape": [5, 3], "dtype": "float64"}}, {"tensor": {"shape": [5, 1], "dtype": "float64"}},
                                    {"value": 0.1}]},
     "import torch\ndef sgd_step(model, x, y, lr):\n    loss = ((model(x) - y) ** 2).mean()\n    model.zero_grad()\n    loss.backward()\n"
     "    with torch.no_grad():\n        for p in model.parameters():\n            p -= lr * p.grad\n    return loss.item()",
     ["def sgd_step(model, x, y, lr):\n    return ((model(x) - y) ** 2).mean().item()"]),
    ("call_vs_reference", {"method": "Counter.add", "init": [{"value": 10}], "args": [{"int": {"low": 0, "high": 5}}]},
     "class Counter:\n    def __init__(self, start):\n        self.start = start\n    def add(self, x):\n        return self.start + x",
     ["class Counter:\n    def __init__(self, start):\n        self.start = start\n    def add(self, x):\n        return self.start - x"]),
    ("call_vs_reference", {"apply": "Square", "args": [{"tensor": {"shape": [3], "dtype": "float64"}}], "calls": 2},
     "import torch\nclass Square(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n        return x * x\n"
     "    @staticmethod\n    def backward(ctx, g):\n        return g",
     ["import torch\nclass Square(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x):\n        return x + x\n"
      "    @staticmethod\n    def backward(ctx, g):\n        return g"]),
    ("module_structure", {"function": "build_mlp", "args": [{"value": 4}, {"value": 8}, {"value": 2}], "inputs": [[5, 4]]},
     "from torch import nn\ndef build_mlp(n_in, hidden, n_out):\n"
     "    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))",
     ["from torch import nn\ndef build_mlp(n_in, hidden, n_out):\n    return nn.Sequential(nn.Linear(n_in, hidden), nn.Linear(hidden, n_out))",
      "from torch import nn\ndef build_mlp(n_in, hidden, n_out):\n    return nn.Sequential(nn.Linear(n_in, n_out))"]),
    ("global_values", {"names": ["weights"]}, "import torch\nweights = torch.arange(6.0).reshape(2, 3)",
     ["import torch\nweights = torch.arange(6.0).reshape(3, 2)", "weights = [1, 2]"]),
]


@pytest.mark.parametrize(("kind", "params", "right", "wrongs"), TENSOR_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(TENSOR_CASES)])
def test_tensor_checks_judge_alike_with_the_recording(
    kind: str, params: dict[str, Any], right: str, wrongs: list[str], tensor_reference: types.ModuleType
) -> None:
    found, expected = recorded(kind, params, right, tensor_reference)
    assert found.outcome is Outcome.PASSED, found.message
    assert assert_same(kind, params, right, tensor_reference, expected).outcome is Outcome.PASSED
    for wrong in wrongs:
        assert assert_same(kind, params, wrong, tensor_reference, expected).outcome is not Outcome.PASSED


def test_a_replayed_module_has_the_recorded_classes_parameters_and_outputs(tensor_reference: types.ModuleType) -> None:
    recorder = Recorder()
    build = RecordingReference(tensor_reference, recorder).build_mlp
    real = build(3, 5, 2)
    real(torch.zeros(4, 3))
    module = Expected(json.loads(json.dumps(recorder.as_data()))).name("build_mlp")(3, 5, 2)
    assert [type(m).__name__ for m in module.modules()] == ["Sequential", "Linear", "ReLU", "Linear"]
    assert [(n, p.shape) for n, p in module.named_parameters()] == [(n, p.shape) for n, p in real.named_parameters()]
    assert torch.equal(module(torch.zeros(4, 3)), real(torch.zeros(4, 3)))
    with pytest.raises(MissingExpectedValue, match="the kit has no expected value for build_mlp"):
        module(torch.ones(4, 3))


def test_a_module_made_where_a_dead_one_was_is_recorded_too(tensor_reference: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython often gives a new object a freed one's address: a module taken for "already hooked" by id() went unrecorded.

    Whether the allocator reuses an address here is up to it, so every object is made to share one id(), as such
    successors do; the recording must not depend on it.
    """
    monkeypatch.setattr(replay, "id", lambda _obj: 1, raising=False)
    recorder = Recorder()
    build = RecordingReference(tensor_reference, recorder).build_mlp
    sizes = [(3, 5, 2), (4, 6, 3), (2, 3, 4)]
    for n_in, hidden, n_out in sizes:  # each model judged and dropped before the next is built, as the checks do
        model = build(n_in, hidden, n_out)
        model(torch.zeros(2, n_in))
        del model
        gc.collect()
    replayed = Expected(json.loads(json.dumps(recorder.as_data()))).name("build_mlp")
    for n_in, hidden, n_out in sizes:
        assert replayed(n_in, hidden, n_out)(torch.zeros(2, n_in)).shape == (2, n_out)


# ------------------------------------------------------------------ data, refusals


def test_values_survive_the_trip_through_json_exactly() -> None:
    values = [
        None, True, 3, -0.5, math.inf, -math.inf, "text", [1, (2.5, "x")], {"a": 1.0, "b": [None]}, torch.Size([2, 3]),
        torch.tensor([[1.5, math.nan], [math.inf, -2.0]], dtype=torch.float64), torch.tensor([1.1, 2.2], dtype=torch.float32),
        torch.tensor([1.1, 2.2], dtype=torch.bfloat16), torch.tensor([3, -4]), torch.tensor([True, False]), torch.zeros(0, 3),
        np.array([[1.0, 2.5]]), np.float32(0.1), np.int64(7),
    ]
    expected = Expected({"format": FORMAT, "events": {}})
    for value in values:
        data = json.loads(json.dumps(to_data(value, _refuse), allow_nan=False))
        back = expected.value(data)
        assert type(back) is type(value)
        if isinstance(value, torch.Tensor):
            assert (back.dtype, back.shape) == (value.dtype, value.shape)
            assert torch.equal(torch.nan_to_num(back, nan=7.0), torch.nan_to_num(value, nan=7.0))
        elif isinstance(value, np.ndarray):
            assert back.dtype == value.dtype and np.array_equal(back, value)
        else:
            assert back == value


def _refuse(value: Any) -> Any:
    raise AssertionError(f"{value!r} should be data")


def test_a_reference_that_answers_one_question_two_ways_is_refused() -> None:
    module = types.ModuleType("stateful")
    exec("calls = []\ndef count(x):\n    calls.append(x)\n    return len(calls)", module.__dict__)
    reference = RecordingReference(module, Recorder())
    reference.count(1)
    with pytest.raises(Unrecordable, match=r"the reference answered count\(1\) in two different ways"):
        reference.count(1)


def test_an_argument_changed_that_is_not_a_tensor_or_module_is_refused() -> None:
    module = types.ModuleType("appends")
    exec("def grow(items):\n    items.append(1)\n    return len(items)", module.__dict__)
    with pytest.raises(Unrecordable, match="changed its argument 0, which is not a tensor or a module"):
        RecordingReference(module, Recorder()).grow([])


def test_an_exception_of_the_reference_is_replayed() -> None:
    module = types.ModuleType("raising")
    exec("def check(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x", module.__dict__)
    recorder = Recorder()
    with pytest.raises(ValueError, match="negative"):
        RecordingReference(module, recorder).check(-1)
    with pytest.raises(ValueError, match="negative"):
        Expected(recorder.as_data()).name("check")(-1)


def test_gradients_need_the_recorded_upstream() -> None:
    module = types.ModuleType("square")
    exec("def square(x):\n    return x * x", module.__dict__)
    recorder = Recorder()
    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(RecordingReference(module, recorder).square(x), [x], torch.tensor([1.0, 3.0], dtype=torch.float64))
    assert grad.tolist() == [2.0, 12.0]
    expected = Expected(json.loads(json.dumps(recorder.as_data())))
    out = expected.name("square")(x)
    assert torch.autograd.grad(out, [x], torch.tensor([1.0, 3.0], dtype=torch.float64))[0].tolist() == [2.0, 12.0]
    with pytest.raises(MissingExpectedValue, match="no expected gradient through square"):
        torch.autograd.grad(expected.name("square")(x), [x], torch.ones(2, dtype=torch.float64))


def test_modules_and_tensors_given_as_arguments_are_part_of_the_question() -> None:
    module = types.ModuleType("weights")
    exec("def total(layer):\n    return float(layer.weight.detach().sum())", module.__dict__)
    recorder = Recorder()
    torch.manual_seed(0)
    layer = nn.Linear(2, 2)
    value = RecordingReference(module, recorder).total(layer)
    expected = Expected(recorder.as_data())
    assert expected.name("total")(layer) == value
    with torch.no_grad():
        layer.weight.add_(1.0)
    with pytest.raises(MissingExpectedValue):
        expected.name("total")(layer)
