"""Check kinds for a forward-mode ``DualNumber`` class extended with sin and cos.

The kernel evaluates small expression trees (``"x"``, numbers, and lists such as
``["mul", ["sin", "x"], 3]``) on the student's class; the judge evaluates the
same trees with the reference class and compares value and derivative.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable, Sequence
from typing import Any

from grader.checks import Check, JudgeContext, describe_non_number, number_of, raised_message, raised_verdict, read_answer, register
from grader.checks.compare import close
from grader.checks.schema import fields, kind_params, param, tolerance_params
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Verdict


def _common(points: int) -> dict[str, Any]:
    """The parameters every DualNumber kind takes; ``points`` is its default number of random seeds."""
    return {
        "class_name": param("string", "the submission's dual-number class", default="DualNumber"),
        "reference_class": param("string", "the reference module's dual-number class", default="DualNumber"),
        "points": param("integer", "random (value, derivative) seeds per expression", default=points, minimum=1),
        **tolerance_params(rtol=1e-7, atol=1e-9),
    }


# What a wrong derivative equals when a typical mistake was made: (u, u') -> value.
_DERIVATIVE_MISTAKES: dict[str, list[tuple[str, Callable[[float, float], float]]]] = {
    "sin": [
        ("sin ignores the incoming derivative u' (the chain rule multiplies by it)", lambda u, d: math.cos(u)),
        ("the derivative of sin has the wrong sign", lambda u, d: -d * math.cos(u)),
        ("the derivative of sin uses sin where the rule needs cos", lambda u, d: d * math.sin(u)),
        ("the derivative of sin uses sin where the rule needs cos", lambda u, d: -d * math.sin(u)),
    ],
    "cos": [
        ("cos ignores the incoming derivative u' (the chain rule multiplies by it)", lambda u, d: -math.sin(u)),
        ("the derivative of cos has the wrong sign", lambda u, d: d * math.sin(u)),
        ("cos ignores the incoming derivative u' and its derivative has the wrong sign", lambda u, d: math.sin(u)),
        ("the derivative of cos uses cos where the rule needs sin", lambda u, d: -d * math.cos(u)),
        ("the derivative of cos uses cos where the rule needs sin", lambda u, d: d * math.cos(u)),
    ],
}


# The operations of an expression tree, on the reference class: its operators and its ``sin``/``cos`` methods.
_OPERATIONS: dict[str, Callable[..., Any]] = {
    "add": operator.add,
    "mul": operator.mul,
    "pow": operator.pow,
    "sin": lambda u: u.sin(),
    "cos": lambda u: u.cos(),
}


def evaluate_tree(tree: Any, x: Any) -> Any:
    """Evaluate an expression tree with the reference class (its ``sin``/``cos`` methods)."""
    if tree == "x":
        return x
    if isinstance(tree, (int, float)):
        return tree
    op, *args = tree
    values = [evaluate_tree(arg, x) for arg in args]
    if op not in _OPERATIONS:
        raise ValueError(f"unknown operation {op!r} in an expression")
    return _OPERATIONS[op](*values)


def render_tree(tree: Any) -> str:
    """An expression tree as students would write it."""
    if tree == "x" or isinstance(tree, (int, float)):
        return str(tree)
    op, *args = tree
    parts = [render_tree(arg) for arg in args]
    if op in ("sin", "cos"):
        return f"{op}({parts[0]})"
    symbol = {"add": " + ", "mul": " * ", "pow": "**"}[op]
    return "(" + symbol.join(parts) + ")" if op == "add" else symbol.join(parts)


def random_seed_points(rng: random.Random, count: int) -> list[list[float]]:
    """(value, derivative) seeds; derivatives kept away from 0 and 1 so that ignoring u' shows."""
    points = []
    for _ in range(count):
        deriv = rng.choice([-1, 1]) * rng.uniform(0.4, 2.5)
        if abs(deriv - 1.0) < 0.3:
            deriv += 0.6
        points.append([round(rng.uniform(-3.0, 3.0), 4), round(deriv, 4)])
    return points


class _DualCheck(Check):
    """Shared plumbing: one ``dual_eval`` call, reading the form and the per-case records."""

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return [("reference_class", params.get("reference_class", "DualNumber"))]

    def names(self) -> set[str]:
        """The class and the top-level functions that may stand for its methods: a failed cell defining one is named."""
        return super().names() | {self.param("class_name"), "sin", "cos", "dual_sin", "dual_cos"}

    def _call(self, cases: list[dict[str, Any]]) -> ProbeCall:
        return ProbeCall("dual_eval", {"cases": cases, "class_name": self.param("class_name")})

    def _records(self, answer: Answer, ctx: JudgeContext) -> list[dict[str, Any]] | Verdict:
        class_name = self.param("class_name")
        value = read_answer(answer, class_name, ctx)
        if isinstance(value, Verdict):
            return value
        if "not_class" in value:
            return Verdict.failed(f"`{class_name}` is {value['not_class']}, not a class")
        if value.get("no_form"):
            return Verdict.not_attempted(
                f"not attempted: no sin/cos found (add methods `sin`/`cos` to {class_name}, "
                "or top-level functions `sin(x)`/`cos(x)`)"
            )
        if value.get("stub") is True:
            return Verdict.not_attempted("not attempted: sin and cos still raise NotImplementedError")
        records = value.get("results")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            return Verdict.failed("the DualNumber probe gave no usable results")
        return records

    def _reference(self, ctx: JudgeContext) -> Any:
        return getattr(ctx.reference, self.param("reference_class"))

    def _raised(self, records: list[dict[str, Any]], what: str) -> Verdict | None:
        for record in records:
            if "raised" in record:
                return raised_verdict(record["raised"], what)
            if "not_dual" in record:
                return Verdict.failed(f"{what} returned {record['not_dual']}, not a DualNumber")
        return None


@register
class DualRule(_DualCheck):
    """One rule (sin or cos) at random seeds with incoming derivatives other than 1; names the mistake."""

    kind = "dual_rule"
    params_schema = kind_params(
        {"function": param("string", "the rule to check", enum=["sin", "cos"]), **_common(points=8)},
        required=["function"],
        example={"function": "sin"},
    )

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        points = random_seed_points(rng, self.param("points"))
        return [self._call([{"expr": [self.params["function"], "x"], "x": point} for point in points])]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        function = self.params["function"]
        records = self._records(answers[0], ctx)
        if isinstance(records, Verdict):
            return records
        raised = self._raised(records, f"{function}(x)")
        if raised is not None:
            return raised
        reference = self._reference(ctx)
        rtol, atol = self.tolerance()
        wrong_values, wrong_derivs = [], []
        for record, case in zip(records, calls[0].args["cases"], strict=True):
            u, d = case["x"]
            want = evaluate_tree(case["expr"], reference(u, d))
            got_value, got_deriv = number_of(record.get("value")), number_of(record.get("deriv"))
            if got_value is None or got_deriv is None:
                bad = record.get("value") if got_value is None else record.get("deriv")
                part = "value" if got_value is None else "deriv"
                return Verdict.failed(f"{function}(x).{part} is {describe_non_number(bad)}")
            if not close(got_value, want.value, rtol, atol):
                wrong_values.append((u, d, got_value))
            if not close(got_deriv, want.deriv, rtol, atol):
                wrong_derivs.append((u, d, got_deriv))
        return self._verdict(function, len(records), wrong_values, wrong_derivs, rtol, atol)

    def _verdict(self, function: str, total: int, wrong_values: list[Any], wrong_derivs: list[Any], rtol: float, atol: float) -> Verdict:
        if not wrong_values and not wrong_derivs:
            return Verdict.passed(f"value and derivative right at {total} random points")
        problems = []
        if wrong_values:
            problems.append(f"the value of {function}([u, u']) is wrong at {len(wrong_values)} of {total} points")
        if wrong_derivs:
            problems.append(self._diagnose(function, total, wrong_derivs, rtol, atol))
        fraction = 0.5 if not wrong_values or not wrong_derivs else 0.0
        return Verdict.partial(fraction, "; ".join(problems))

    @staticmethod
    def _diagnose(function: str, total: int, wrong: list[Any], rtol: float, atol: float) -> str:
        for message, mistake in _DERIVATIVE_MISTAKES[function]:
            if all(close(got, mistake(u, d), rtol, atol) for u, d, got in wrong):
                return message
        u, d, _ = wrong[0]
        return f"the derivative of {function}([u, u']) is wrong at {len(wrong)} of {total} points (e.g. u = {u:g}, u' = {d:g})"


@register
class DualExpressions(_DualCheck):
    """Expressions that compose sin/cos with the lesson's +, *, ** must give the reference's value and derivative."""

    kind = "dual_expressions"
    params_schema = kind_params(
        {
            "expressions": param("array", "the expressions to evaluate", minItems=1, items={"type": "object", **fields({
                "expr": param(["string", "number", "array"], 'an expression tree: "x", a number, or [op, args...] with op add, mul, '
                              "pow, sin or cos"),
                "label": param("string", "how the expression is shown (default: written out from expr)"),
                "at": param("array", "(value, derivative) seeds to evaluate it at besides the random ones", default=[],
                            items={"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}}),
            }, required=["expr"])}),
            **_common(points=4),
        },
        required=["expressions"],
        example={"expressions": [{"expr": ["mul", ["sin", "x"], "x"]}]},
    )

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        cases = []
        for expression in self.params["expressions"]:
            points = [list(p) for p in expression.get("at", [])] + random_seed_points(rng, self.param("points"))
            cases += [{"expr": expression["expr"], "x": point} for point in points]
        return [self._call(cases)]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        records = self._records(answers[0], ctx)
        if isinstance(records, Verdict):
            return records
        reference = self._reference(ctx)
        rtol, atol = self.tolerance()
        failures: dict[str, str] = {}
        labels = {str(e["expr"]): e.get("label") or render_tree(e["expr"]) for e in self.params["expressions"]}
        for record, case in zip(records, calls[0].args["cases"], strict=True):
            label = labels[str(case["expr"])]
            if label in failures:
                continue
            problem = self._case_problem(record, case, reference, rtol, atol)
            if problem:
                failures[label] = f"{label}: {problem}"
        total = len(self.params["expressions"])
        if not failures:
            return Verdict.passed(f"all {total} expressions right at every point")
        return Verdict.partial((total - len(failures)) / total, "; ".join(failures.values()))

    @staticmethod
    def _case_problem(record: dict[str, Any], case: dict[str, Any], reference: Any, rtol: float, atol: float) -> str:
        u, d = case["x"]
        if "raised" in record:
            return raised_message(record["raised"], "it")
        if "not_dual" in record:
            return f"gave {record['not_dual']}, not a DualNumber"
        want = evaluate_tree(case["expr"], reference(u, d))
        got_value, got_deriv = number_of(record.get("value")), number_of(record.get("deriv"))
        if got_value is None or not close(got_value, want.value, rtol, atol):
            return f"the value is wrong at x = [{u:g}, {d:g}]"
        if got_deriv is None or not close(got_deriv, want.deriv, rtol, atol):
            return f"the derivative is wrong at x = [{u:g}, {d:g}]"
        return ""


@register
class DualArgumentUnchanged(_DualCheck):
    """sin and cos must return a new DualNumber and leave their argument as it was."""

    kind = "dual_argument_unchanged"
    params_schema = kind_params(_common(points=3), example={})

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        points = random_seed_points(rng, self.param("points"))
        return [self._call([{"expr": [fn, "x"], "x": p} for fn in ("sin", "cos") for p in points])]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        records = self._records(answers[0], ctx)
        if isinstance(records, Verdict):
            return records
        raised = self._raised(records, "sin/cos")
        if raised is not None:
            return raised
        cases = calls[0].args["cases"]
        changed = sorted({case["expr"][0] for record, case in zip(records, cases, strict=True) if record.get("unchanged") is not True})
        if changed:
            return Verdict.failed(f"{' and '.join(changed)} changed the DualNumber it was given: return a new one instead")
        return Verdict.passed("sin and cos leave their argument unchanged")
