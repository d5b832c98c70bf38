"""Parts and properties of a returned value, and verdicts tagged with how they failed (issue 19).

The probes run in this process on the student code (as in test_tensors.py): the part
is selected by the probe before encoding, the reference's by the same probe code.
"""

from __future__ import annotations

import types
from typing import Any

import pytest

from grader.checks.compare import property_differences, tagged_differences
from grader.checks.registry import CHECK_KINDS
from grader.checks.targets import part_path
from grader.results import Failure, Outcome
from grader.rubric import CheckSpec
from tests.unit.kinds.test_tensors import verdict

REFERENCE = '''
import types
import torch


def fit_linear(x, y):
    w = torch.linalg.lstsq(x, y.unsqueeze(1)).solution.squeeze(1)
    return w, (x @ w - y) ** 2


def fit_dict(x, y):
    w, losses = fit_linear(x, y)
    return {"w": w, "losses": losses}


def fit_object(x, y):
    w, losses = fit_linear(x, y)
    return types.SimpleNamespace(weight=w, losses=losses)


def double(x):
    return x * 2


def forward_with_cache(x):
    return x.tanh(), {"input": x}
'''

RIGHT = '''
import torch
def fit_linear(x, y):
    w = torch.linalg.lstsq(x, y.unsqueeze(1)).solution.squeeze(1)
    return w, (x @ w - y) ** 2
'''
WRONG_LOSSES = RIGHT.replace("(x @ w - y) ** 2", "(x @ w - y).abs()")
FIT = {"function": "fit_linear", "calls": 2, "dims": {"N": [5, 8]},
       "args": [{"tensor": {"shape": ["N", 3], "dtype": "float64"}}, {"tensor": {"shape": ["N"], "dtype": "float64"}}]}


@pytest.fixture(scope="module")
def reference() -> types.ModuleType:
    module = types.ModuleType("reference_of_parts")
    exec(compile(REFERENCE, "<reference>", "exec"), module.__dict__)
    return module


def test_a_mistake_in_one_part_costs_only_the_check_of_that_part(reference: types.ModuleType) -> None:
    assert verdict("call_vs_reference", {**FIT, "part": 0}, WRONG_LOSSES, reference).outcome is Outcome.PASSED
    losses = verdict("call_vs_reference", {**FIT, "part": 1}, WRONG_LOSSES, reference)
    assert losses.outcome is Outcome.FAILED and losses.failure is Failure.WRONG_VALUES
    assert "the result[1] differs at" in losses.message
    assert verdict("call_vs_reference", {**FIT, "part": 1}, RIGHT, reference).outcome is Outcome.PASSED
    whole = verdict("call_vs_reference", FIT, WRONG_LOSSES, reference)  # without part the whole tuple is judged
    assert whole.outcome is Outcome.FAILED and "the result[1]" in whole.message


def test_a_key_and_an_attribute_are_parts_too(reference: types.ModuleType) -> None:
    student = RIGHT + "\ndef fit_dict(x, y):\n    w, losses = fit_linear(x, y)\n    return {'w': w, 'losses': losses.abs() + 1}\n"
    assert verdict("call_vs_reference", {**FIT, "function": "fit_dict", "part": "w"}, student, reference).outcome is Outcome.PASSED
    found = verdict("call_vs_reference", {**FIT, "function": "fit_dict", "part": "losses"}, student, reference)
    assert found.outcome is Outcome.FAILED and "the result['losses'] differs" in found.message
    # an attribute of an object that is not data: read in the kernel (here a property of the student's own class)
    student = RIGHT + (
        "\nclass Fit:\n    def __init__(self, w):\n        self._w = w\n    @property\n    def weight(self):\n        return self._w\n"
        "\ndef fit_object(x, y):\n    return Fit(fit_linear(x, y)[0])\n"
    )
    assert verdict("call_vs_reference", {**FIT, "function": "fit_object", "part": ".weight"}, student, reference).outcome is Outcome.PASSED
    missing = verdict("call_vs_reference", {**FIT, "function": "fit_object", "part": ".losses"}, student, reference)
    assert missing.outcome is Outcome.FAILED and "`fit_object` returned a Fit; the check reads its attribute 'losses'" in missing.message


def test_a_missing_part_is_a_clear_failure(reference: types.ModuleType) -> None:
    short = RIGHT.replace("return w, (x @ w - y) ** 2", "return (w,)")
    found = verdict("call_vs_reference", {**FIT, "part": 1}, short, reference)
    assert found.outcome is Outcome.FAILED and found.failure is Failure.WRONG_SHAPE
    assert found.message.endswith("`fit_linear` returned a tuple of 1 item; the check reads item 2 (index 1)")
    bare = verdict("call_vs_reference", {**FIT, "part": [1, 0]}, RIGHT.replace("return w, (x @ w - y) ** 2", "return w"), reference)
    assert bare.failure is Failure.WRONG_TYPE and "`fit_linear` returned a torch.Tensor; the check reads item 2 (index 1)" in bare.message
    keyed = verdict("call_vs_reference", {**FIT, "part": "losses"}, RIGHT.replace("return w, (x @ w - y) ** 2", "return {'w': w, 'loss': w}"),
                    reference)
    assert "`fit_linear` returned a dict with the keys 'w', 'loss'; the check reads its key 'losses'" in keyed.message


def test_a_missing_part_of_the_reference_is_the_rubrics_fault(reference: types.ModuleType) -> None:
    with pytest.raises(ValueError, match=r"the reference's result has no part the result\[2\]"):  # the pipeline makes it broken
        verdict("call_vs_reference", {**FIT, "part": 2}, RIGHT.replace("return w, (x @ w - y) ** 2", "return w, w, w"), reference)


def test_properties_are_judged_without_values(reference: types.ModuleType) -> None:
    floats = {"function": "double", "calls": 2, "args": [{"tensor": {"shape": [3], "dtype": "float32"}}]}
    wide = "import torch\ndef double(x):\n    return (x * 3).to(torch.float64)"
    dtype = verdict("call_vs_reference", {**floats, "properties": ["dtype"]}, wide, reference)
    assert dtype.outcome is Outcome.FAILED and dtype.failure is Failure.WRONG_DTYPE
    assert "the result has dtype float64, expected float32" in dtype.message
    assert verdict("call_vs_reference", {**floats, "properties": ["shape"]}, wide, reference).outcome is Outcome.PASSED
    values = verdict("call_vs_reference", floats, wide.replace("x * 3", "x * 2"), reference)
    assert values.outcome is Outcome.PASSED  # without properties or check_dtype only values count
    checked = verdict("call_vs_reference", {**floats, "check_dtype": True}, wide.replace("x * 3", "x * 2"), reference)
    assert checked.failure is Failure.WRONG_DTYPE
    graph = {**floats, "args": [{"tensor": {"shape": [3], "dtype": "float32", "requires_grad": True}}], "properties": ["attached"]}
    detached = verdict("call_vs_reference", graph, "def double(x):\n    return (x * 2).detach()", reference)
    assert detached.failure is Failure.NOT_ATTACHED and "is not attached to the autograd graph" in detached.message
    assert verdict("call_vs_reference", graph, "def double(x):\n    return x + x", reference).outcome is Outcome.PASSED


def test_property_differences_walk_containers() -> None:
    tensor = {"tensor": {"shape": [2], "dtype": "float32", "values": [1, 2], "requires_grad": False, "grad_fn": None}}
    wide = {"tensor": {**tensor["tensor"], "dtype": "float64", "shape": [3], "values": [1, 2, 3]}}
    found = property_differences({"tuple": [tensor, wide], "length": 2}, {"tuple": [tensor, tensor], "length": 2}, ["shape", "dtype"])
    assert [(d.failure, d.text) for d in found] == [
        (Failure.WRONG_SHAPE, "the result[1] has shape (3,), expected (2,)"),
        (Failure.WRONG_DTYPE, "the result[1] has dtype float64, expected float32"),
    ]
    assert property_differences({"list": [tensor]}, {"tuple": [tensor]}, ["shape"]) == []
    assert property_differences({"list": [tensor]}, {"tuple": [tensor]}, ["type"])[0].failure is Failure.WRONG_TYPE
    assert property_differences({"number": 1.5}, {"number": 2.5}, ["type"]) == []  # values are not asked


def test_comparisons_say_how_they_differ() -> None:
    tensor = {"tensor": {"shape": [2], "dtype": "float32", "values": [1, 2]}}
    assert tagged_differences({"number": 1.0}, tensor, 1e-5, 1e-8, strict=True)[0].failure is Failure.WRONG_TYPE
    assert tagged_differences({"tensor": {**tensor["tensor"], "shape": [1], "values": [1]}}, tensor, 1e-5, 1e-8)[0].failure is Failure.WRONG_SHAPE
    assert tagged_differences({"tensor": {**tensor["tensor"], "values": [1, 3]}}, tensor, 1e-5, 1e-8)[0].failure is Failure.WRONG_VALUES


def test_a_raise_and_an_in_place_change_are_tagged(reference: types.ModuleType) -> None:
    raised = verdict("call_vs_reference", {**FIT, "part": 1}, "def fit_linear(x, y):\n    return x[99]", reference)
    assert raised.outcome is Outcome.ERROR and raised.failure is Failure.RAISED
    floats = {"function": "double", "calls": 2, "args": [{"tensor": {"shape": [3], "dtype": "float32"}}], "compare_after": [0]}
    changed = verdict("call_vs_reference", floats, "def double(x):\n    x.mul_(2)\n    return x", reference)
    assert changed.failure is Failure.IN_PLACE and "argument 1 after the call" in changed.message


@pytest.mark.parametrize(("part", "path"), [(1, [1]), ("losses", ["losses"]), (".weight", [".weight"]), ([1, ".grad"], [1, ".grad"])])
def test_the_part_forms(part: Any, path: list[Any]) -> None:
    assert part_path({"part": part}) == path
    schema = CHECK_KINDS["call_vs_reference"].params_schema
    import jsonschema

    jsonschema.validate({"function": "f", "part": part}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"function": "f", "properties": ["colour"]}, schema)
    assert CHECK_KINDS["call_vs_reference"](CheckSpec("c", "call_vs_reference", "t", 1.0, {"function": "f", "part": part})).plan(
        __import__("random").Random(1))[0].args["part"] == path


def test_gradients_flow_back_from_the_part(reference: types.ModuleType) -> None:
    params = {"function": "forward_with_cache", "calls": 2, "wrt": [0], "part": 0,
              "args": [{"tensor": {"shape": [3, 2], "dtype": "float64", "requires_grad": True}}]}
    right = "def forward_with_cache(x):\n    return x.tanh(), {'input': x}"
    assert verdict("gradients_vs_reference", params, right, reference).outcome is Outcome.PASSED
    wrong = verdict("gradients_vs_reference", params, right.replace("x.tanh()", "x.sigmoid()"), reference)
    assert wrong.failure is Failure.WRONG_VALUES and "the gradient with respect to argument 1 differs" in wrong.message
    detached = verdict("gradients_vs_reference", params, right.replace("x.tanh()", "x.tanh().detach()"), reference)
    assert detached.failure is Failure.NOT_ATTACHED


def test_an_attribute_that_raises_is_the_students_code_failing(reference: types.ModuleType) -> None:
    student = RIGHT + "\nclass Fit:\n    @property\n    def weight(self):\n        return 1 / 0\n\ndef fit_object(x, y):\n    return Fit()\n"
    found = verdict("call_vs_reference", {**FIT, "function": "fit_object", "part": ".weight"}, student, reference)
    assert found.outcome is Outcome.ERROR and found.failure is Failure.RAISED
    assert "reading the result.weight raised ZeroDivisionError" in found.message
