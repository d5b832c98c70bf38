"""Check kinds of exercises 1 and 2, judged from hand-built answers (no kernel).

Pass and fail tables: for each kind, the observations that must pass and those
that must fail with a given message.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from grader.checks import CHECK_KINDS, Check, JudgeContext
from grader.execute import CellRun, Execution
from grader.pipeline import load_reference
from grader.probe import Answer
from grader.results import Outcome, Verdict
from grader.rubric import Rubric, load_rubric
from tests.conftest import RUBRIC


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load_rubric(RUBRIC)


@pytest.fixture(scope="module")
def ctx(rubric: Rubric) -> JudgeContext:
    execution = Execution(cells=(CellRun(3, "error", "ZeroDivisionError: division by zero"),), probe_outputs=(),
                          events=(), isolation={}, duration_s=0.0)
    return JudgeContext(load_reference(rubric.reference_path), execution, {3: "s = 1 / 0\ny = s * x3"})


def make(rubric: Rubric, exercise: str, check_id: str) -> Check:
    spec = next(c for c in rubric.exercise(exercise).checks if c.id == check_id)
    return CHECK_KINDS[spec.kind](spec)


def judge(check: Check, ctx: JudgeContext, respond: Any) -> Verdict:
    calls = check.plan(random.Random(7))
    return check.judge(calls, [respond(call) for call in calls], ctx)


def num(x: float) -> dict[str, float]:
    return {"num": float(x)}


# ---------------------------------------------------------------- exercise 1: values

RIGHT_VALUES = {"s": num(3), "y": num(9), "dy_ds": num(3), "dy_dx1": num(3), "dy_dx2": num(3), "dy_dx3": num(3)}


@pytest.mark.parametrize(
    ("observed", "outcome", "fragment"),
    [
        (RIGHT_VALUES, Outcome.PASSED, "all 6 values are right"),
        ({**RIGHT_VALUES, "dy_dx3": num(4)}, Outcome.PARTIAL, "dy/dx3 is wrong (you have 4)"),
        ({**RIGHT_VALUES, "y": {"rejected": "a list, not a number"}}, Outcome.PARTIAL, "y is a list, not a number"),
        ({**RIGHT_VALUES, "y": {"nonfinite": "nan"}}, Outcome.PARTIAL, "y is nan, not a finite number"),
        ({**RIGHT_VALUES, "s": {"missing": True}}, Outcome.PARTIAL,
         "s is not defined (cell 3, which defines it, did not finish: ZeroDivisionError: division by zero)"),
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


# ---------------------------------------------------------------- exercise 1: manual_backprop

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


# ---------------------------------------------------------------- exercise 2: DualNumber

def dual_answers(sin_rule: Any, cos_rule: Any, unchanged: bool = True) -> Any:
    """Evaluate the probe's expression trees with given (u, u') -> (value, deriv) rules."""

    def evaluate(tree: Any, u: float, d: float) -> tuple[float, float]:
        if tree == "x":
            return u, d
        if isinstance(tree, (int, float)):
            return float(tree), 0.0
        op, *args = tree
        vals = [evaluate(a, u, d) for a in args]
        if op == "add":
            return vals[0][0] + vals[1][0], vals[0][1] + vals[1][1]
        if op == "mul":
            (a, da), (b, db) = vals
            return a * b, da * b + a * db
        if op == "pow":
            (a, da), (n, _) = vals
            return a**n, n * a ** (n - 1) * da
        return (sin_rule if op == "sin" else cos_rule)(*vals[0])

    def respond(call: Any) -> Answer:
        results = []
        for case in call.args["cases"]:
            value, deriv = evaluate(case["expr"], *case["x"])
            results.append({"value": num(value), "deriv": num(deriv), "unchanged": unchanged})
        return Answer(True, {"form": "methods", "names": "sin", "stub": False, "results": results})

    return respond


def good_sin(u: float, d: float) -> tuple[float, float]:
    return math.sin(u), d * math.cos(u)


def good_cos(u: float, d: float) -> tuple[float, float]:
    return math.cos(u), -d * math.sin(u)


@pytest.mark.parametrize(
    ("check_id", "sin_rule", "cos_rule", "outcome", "fragment"),
    [
        ("sin_rule", good_sin, good_cos, Outcome.PASSED, "right at 8 random points"),
        ("sin_rule", lambda u, d: (math.sin(u), math.cos(u)), good_cos, Outcome.PARTIAL, "sin ignores the incoming derivative u'"),
        ("sin_rule", lambda u, d: (math.sin(u), -d * math.cos(u)), good_cos, Outcome.PARTIAL, "the derivative of sin has the wrong sign"),
        ("cos_rule", good_sin, lambda u, d: (math.cos(u), d * math.sin(u)), Outcome.PARTIAL, "the derivative of cos has the wrong sign"),
        ("cos_rule", good_sin, lambda u, d: (math.cos(u), -math.sin(u)), Outcome.PARTIAL, "cos ignores the incoming derivative u'"),
        ("cos_rule", good_sin, lambda u, d: (math.sin(u), -d * math.sin(u)), Outcome.PARTIAL, "the value of cos([u, u']) is wrong"),
        ("cos_rule", good_sin, lambda u, d: (math.sin(u), 0.0), Outcome.FAILED, "the derivative of cos([u, u']) is wrong at"),
        ("compositions", good_sin, good_cos, Outcome.PASSED, "all 3 expressions right"),
        ("compositions", lambda u, d: (math.sin(u), math.cos(u)), good_cos, Outcome.FAILED, "sin(x**2) * cos(3*x): the derivative is wrong"),
        ("lesson_operations", good_sin, good_cos, Outcome.PASSED, "all 2 expressions right"),
    ],
)
def test_dual_rules(rubric: Rubric, ctx: JudgeContext, check_id: str, sin_rule: Any, cos_rule: Any, outcome: Outcome, fragment: str) -> None:
    verdict = judge(make(rubric, "ex2", check_id), ctx, dual_answers(sin_rule, cos_rule))
    assert verdict.outcome is outcome, verdict
    assert fragment in verdict.message


def test_incoming_derivatives_are_not_one(rubric: Rubric) -> None:
    cases = make(rubric, "ex2", "sin_rule").plan(random.Random(3))[0].args["cases"]
    assert all(abs(case["x"][1] - 1.0) > 0.2 and abs(case["x"][1]) > 0.3 for case in cases)


@pytest.mark.parametrize(
    ("value", "outcome", "fragment"),
    [
        ({"no_form": True}, Outcome.NOT_ATTEMPTED, "no sin/cos found"),
        ({"form": "methods", "stub": True, "results": []}, Outcome.NOT_ATTEMPTED, "still raise NotImplementedError"),
        ({"not_class": "int"}, Outcome.FAILED, "not a class"),
    ],
)
def test_dual_form_troubles(rubric: Rubric, ctx: JudgeContext, value: dict[str, Any], outcome: Outcome, fragment: str) -> None:
    verdict = judge(make(rubric, "ex2", "sin_rule"), ctx, lambda call: Answer(True, value))
    assert verdict.outcome is outcome
    assert fragment in verdict.message


def test_argument_changed(rubric: Rubric, ctx: JudgeContext) -> None:
    verdict = judge(make(rubric, "ex2", "argument_unchanged"), ctx, dual_answers(good_sin, good_cos, unchanged=False))
    assert verdict.outcome is Outcome.FAILED
    assert "cos and sin changed the DualNumber it was given" in verdict.message


def test_not_a_dual_result(rubric: Rubric, ctx: JudgeContext) -> None:
    def respond(call: Any) -> Answer:
        return Answer(True, {"form": "methods", "stub": False, "results": [{"not_dual": "float"} for _ in call.args["cases"]]})

    verdict = judge(make(rubric, "ex2", "sin_rule"), ctx, respond)
    assert verdict.outcome is Outcome.FAILED
    assert "sin(x) returned float, not a DualNumber" in verdict.message
