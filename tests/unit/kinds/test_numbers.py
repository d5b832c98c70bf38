"""Check kinds global_numbers and function_vs_reference, judged from hand-built answers (no kernel)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from grader.checks import JudgeContext
from grader.probes.protocol import Answer
from grader.results import Outcome
from grader.rubric import Rubric
from tests.unit.kinds.support import judge, make


def num(x: float) -> dict[str, float]:
    return {"number": float(x)}

RIGHT_VALUES = {"s": num(3), "y": num(9), "dy_ds": num(3), "dy_dx1": num(3), "dy_dx2": num(3), "dy_dx3": num(3)}

@pytest.mark.parametrize(
    ("observed", "outcome", "fragment"),
    [
        (RIGHT_VALUES, Outcome.PASSED, "all 6 values are right"),
        ({**RIGHT_VALUES, "dy_dx3": num(4)}, Outcome.PARTIAL, "dy/dx3 is wrong (you have 4)"),
        ({**RIGHT_VALUES, "y": {"rejected": "a list, not a number"}}, Outcome.PARTIAL, "y is a list, not a number"),
        ({**RIGHT_VALUES, "y": {"number": "nan"}}, Outcome.PARTIAL, "y is nan, not a finite number"),
        ({**RIGHT_VALUES, "s": {"missing": True}}, Outcome.PARTIAL,
         "s is not defined (code cell 1, which defines it, did not finish: ZeroDivisionError: division by zero; the cell that starts \"s = 1 / 0\")"),
        ({name: {"rejected": "None"} for name in RIGHT_VALUES}, Outcome.NOT_ATTEMPTED, "not attempted"),
    ],
)
def test_global_values(rubric: Rubric, ctx: JudgeContext, observed: dict[str, Any], outcome: Outcome, fragment: str) -> None:
    verdict = judge(make(rubric, "ex1", "values"), ctx, lambda call: Answer(True, observed))
    assert verdict.outcome is outcome
    assert fragment in verdict.message

def test_global_values_partial_credit_is_proportional(rubric: Rubric, ctx: JudgeContext) -> None:
    observed = {**RIGHT_VALUES, "dy_dx3": num(4), "dy_dx2": num(0)}
    verdict = judge(make(rubric, "ex1", "values"), ctx, lambda call: Answer(True, observed))
    assert verdict.fraction == pytest.approx(4 / 6)

def backprop_answers(rule: Any) -> Any:
    def respond(call: Any) -> Answer:
        keys = call.args["keys"]
        results = []
        for x1, x2, x3 in call.args["args_list"]:
            values = rule(x1, x2, x3)
            results.append({"values": {k: num(values[k]) for k in keys}})
        return Answer(True, {"results": results})

    return respond

def right_rule(x1: float, x2: float, x3: float) -> dict[str, float]:
    return {"y": (x1 + x2) * x3, "dy_dx1": x3, "dy_dx2": x3, "dy_dx3": x1 + x2}

@pytest.mark.parametrize(
    ("rule", "outcome", "fragment"),
    [
        (right_rule, Outcome.PASSED, "right at all 6 random points"),
        (lambda a, b, c: {**right_rule(a, b, c), "dy_dx3": c}, Outcome.PARTIAL, "dy/dx3 is wrong at"),
        (lambda a, b, c: {**right_rule(a, b, c), "dy_dx1": 3.0, "dy_dx2": 3.0, "dy_dx3": 3.0}, Outcome.FAILED, "dy/dx1 is wrong"),
    ],
)
def test_manual_backprop_gradient(rubric: Rubric, ctx: JudgeContext, rule: Any, outcome: Outcome, fragment: str) -> None:
    verdict = judge(make(rubric, "ex1", "gradient_anywhere"), ctx, backprop_answers(rule))
    assert verdict.outcome is outcome
    assert fragment in verdict.message

def difference_quotient(eps: float, central: bool = False) -> Any:
    """A manual_backprop that estimates the gradient by finite differences in float64 (not the chain rule)."""

    def f(a: float, b: float, c: float) -> float:
        return (a + b) * c

    def rule(x1: float, x2: float, x3: float) -> dict[str, float]:
        point, grads = [x1, x2, x3], []
        for i in range(3):
            up, down = list(point), list(point)
            up[i] += eps
            down[i] -= eps
            grads.append((f(*up) - f(*down)) / (2 * eps) if central else (f(*up) - f(*point)) / eps)
        return {"y": f(*point), "dy_dx1": grads[0], "dy_dx2": grads[1], "dy_dx3": grads[2]}

    return rule

def float32_chain_rule(x1: float, x2: float, x3: float) -> dict[str, float]:
    import numpy as np

    a, b, c = np.float32(x1), np.float32(x2), np.float32(x3)
    s = a + b
    return {"y": float(s * c), "dy_dx1": float(c), "dy_dx2": float(c), "dy_dx3": float(s)}

@pytest.mark.parametrize(
    ("rule", "outcome"),
    [
        (difference_quotient(1e-6), Outcome.FAILED),
        (difference_quotient(1e-4), Outcome.FAILED),
        (difference_quotient(1e-3, central=True), Outcome.FAILED),
        (difference_quotient(1e-7, central=True), Outcome.FAILED),
        (float32_chain_rule, Outcome.PASSED),  # an honest float32 solution stays exact enough at large inputs
        (right_rule, Outcome.PASSED),
    ],
)
def test_finite_differences_are_told_from_the_chain_rule_at_large_inputs(
    rubric: Rubric, ctx: JudgeContext, rule: Any, outcome: Outcome
) -> None:
    ordinary = judge(make(rubric, "ex1", "gradient_anywhere"), ctx, backprop_answers(rule))
    assert ordinary.outcome is outcome, ordinary.message
    if outcome is Outcome.FAILED:
        assert "right at ordinary points but not at large inputs" in ordinary.message
        assert "finite-difference" in ordinary.message and "chain rule" in ordinary.message

# The integration tests' notebooks get fresh cell ids, hence fresh seeds, on every run: a verdict must not hang on the draw.
@pytest.mark.parametrize(
    ("rule", "outcome"),
    [
        (difference_quotient(1e-3, central=True), Outcome.FAILED),  # passed at 4% of seeds with large inputs of only 5e7-2e8
        (difference_quotient(1e-2), Outcome.FAILED),
        (difference_quotient(1.0, central=True), Outcome.FAILED),
        (float32_chain_rule, Outcome.PASSED),
        (right_rule, Outcome.PASSED),
    ],
)
def test_finite_differences_fail_whatever_points_are_drawn(rubric: Rubric, ctx: JudgeContext, rule: Any, outcome: Outcome) -> None:
    check = make(rubric, "ex1", "gradient_anywhere")
    respond = backprop_answers(rule)
    for seed in range(100):
        calls = check.plan(random.Random(seed))
        verdict = check.judge(calls, [respond(call) for call in calls], ctx)
        assert verdict.outcome is outcome, (seed, verdict.message)

def test_wrong_dx3_rule_loses_only_its_share(rubric: Rubric, ctx: JudgeContext) -> None:
    verdict = judge(make(rubric, "ex1", "gradient_anywhere"), ctx, backprop_answers(lambda a, b, c: {**right_rule(a, b, c), "dy_dx3": c}))
    assert verdict.fraction == pytest.approx(2 / 3)
    assert "dy/dx1" not in verdict.message and "dy/dx2" not in verdict.message

def test_points_are_fresh_and_reproducible(rubric: Rubric) -> None:
    check = make(rubric, "ex1", "gradient_anywhere")
    points = check.plan(random.Random(1))[0].args["args_list"]
    assert len(points) >= 5 and [1.0, 2.0, 3.0] not in points
    assert points == check.plan(random.Random(1))[0].args["args_list"]
    assert points != check.plan(random.Random(2))[0].args["args_list"]
    assert check.plan(random.Random(1))[0].args["forbid_autograd"] is True

@pytest.mark.parametrize(
    ("result", "outcome", "fragment"),
    [
        ({"autograd": True}, Outcome.FAILED, "used autograd"),
        ({"raised": {"type": "NotImplementedError", "message": ""}}, Outcome.NOT_ATTEMPTED, "not attempted"),
        ({"raised": {"type": "ZeroDivisionError", "message": "division by zero"}}, Outcome.ERROR, "raised ZeroDivisionError"),
        ({"not_dict": "tuple"}, Outcome.FAILED, "must return a dict, it returned tuple"),
        ({"values": {"dy_dx1": {"rejected": "a str"}, "dy_dx2": num(1), "dy_dx3": num(1)}}, Outcome.FAILED, "'dy_dx1' is a str"),
    ],
)
def test_manual_backprop_faults(rubric: Rubric, ctx: JudgeContext, result: dict[str, Any], outcome: Outcome, fragment: str) -> None:
    def respond(call: Any) -> Answer:
        return Answer(True, {"results": [result for _ in call.args["args_list"]]})

    verdict = judge(make(rubric, "ex1", "gradient_anywhere"), ctx, respond)
    assert verdict.outcome is outcome, verdict
    assert fragment in verdict.message

@pytest.mark.parametrize(
    ("answer", "outcome", "fragment"),
    [
        (Answer(False, None, "NameError", "name 'manual_backprop' is not defined"), Outcome.NOT_ATTEMPTED, "defines no `manual_backprop`"),
        (Answer.no_answer(), Outcome.ERROR, "kernel died or ran out of time"),
        (Answer(False, None, "Timeout", "no answer within 20s"), Outcome.ERROR, "did not finish in time"),
        (Answer(True, {"not_callable": "int"}), Outcome.FAILED, "`manual_backprop` is an int, not a function"),
        (Answer(True, {"results": "forged"}), Outcome.FAILED, "no usable results"),
    ],
)
def test_function_answer_troubles(rubric: Rubric, ctx: JudgeContext, answer: Answer, outcome: Outcome, fragment: str) -> None:
    verdict = judge(make(rubric, "ex1", "forward_anywhere"), ctx, lambda call: answer)
    assert verdict.outcome is outcome
    assert fragment in verdict.message
