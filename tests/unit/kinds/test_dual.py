"""Check kinds dual_rule, dual_expressions and dual_argument_unchanged, judged from hand-built answers (no kernel)."""

from __future__ import annotations

import math
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
