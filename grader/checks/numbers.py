"""Check kinds for numbers: global values, and functions compared with a reference at fresh points."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from grader.checks import Check, JudgeContext, answer_trouble, describe_non_number, number_of, raised_verdict, read_answer, register
from grader.checks.compare import close
from grader.checks.schema import fields, kind_params, param, tolerance_params
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Verdict

# Where a difference quotient with any step below ~1e3 is lost in y's rounding (measured: tests/unit/kinds/test_numbers.py).
_SCALE_LOW, _SCALE_HIGH = 1e12, 4e12
_LABELS = param("object", "how a name or key is shown in messages (default: the name itself)", default={},
                 additionalProperties={"type": "string"})


def _label(params: dict[str, Any], key: str) -> str:
    return str(params.get("labels", {}).get(key, key))


@register
class GlobalNumbers(Check):
    """Global names must hold numbers equal to the reference module's values of the same names.

    Credit is proportional to the names that are right. A name still ``None``
    everywhere means the exercise was not attempted.
    """

    kind = "global_numbers"
    params_schema = kind_params(
        {
            "names": param("array", "the global names whose numbers are compared with the reference's", minItems=1, items={"type": "string"}),
            "labels": _LABELS,
            **tolerance_params(rtol=1e-6, atol=1e-6),
        },
        required=["names"],
        example={"names": ["y", "dy_dx"]},
    )

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return [(f"names[{i}]", name) for i, name in enumerate(params["names"])]

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        return [ProbeCall("numbers", {"names": list(self.params["names"])})]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        names: list[str] = self.params["names"]
        trouble = answer_trouble(answers[0], names[0], ctx)
        if trouble is not None:
            return trouble
        observed = answers[0].value if isinstance(answers[0].value, dict) else {}
        rtol, atol = self.tolerance()
        if all(observed.get(name, {}).get("rejected") == "None" for name in names):
            return Verdict.not_attempted(f"not attempted: {', '.join(names)} are still None")
        problems = []
        for name in names:
            got = number_of(observed.get(name))
            label = _label(self.params, name)
            if got is None:
                why = describe_non_number(observed.get(name))
                problems.append(f"{label} is {why}{ctx.why_missing(name) if why == 'not defined' else ''}")
            elif not close(got, float(getattr(ctx.reference, name)), rtol, atol):
                problems.append(f"{label} is wrong (you have {got:g})")
        right = len(names) - len(problems)
        if not problems:
            return Verdict.passed(f"all {len(names)} values are right")
        return Verdict.partial(right / len(names), f"{right} of {len(names)} right; " + "; ".join(problems))


@register
class FunctionVersusReference(Check):
    """A student function is called at fresh random points and compared key by key with a reference function.

    The reference function runs in the grader's process. With ``forbid_autograd``
    the autograd engine is switched off in the kernel during each call, and a
    function that tries to use it earns nothing. Credit is the share of ``keys``
    that are right at every point.
    """

    kind = "function_vs_reference"
    params_schema = kind_params(
        {
            "function": param("string", "the student's function: it takes arity numbers and returns a dict of numbers"),
            "reference": param("string", "the reference module's function to compare with"),
            "arity": param("integer", "how many numbers the function takes", minimum=0),
            "keys": param("array", "the keys of the returned dict that are compared", minItems=1, items={"type": "string"}),
            "points": param("integer", "random points the function is called at", default=6, minimum=1),
            "low": param("number", "the least coordinate of a random point", default=-5.0),
            "high": param("number", "the greatest coordinate of a random point", default=5.0),
            "forbid_autograd": param("boolean", "switch autograd off during each call: a function that uses it earns nothing",
                                     default=False),
            "exact_at_scale": param("object", "also call it at large inputs, where a finite-difference estimate loses digits", **fields({
                "points": param("integer", "how many large points", default=3, minimum=1),
                "low": param("number", "the least magnitude of a coordinate", default=_SCALE_LOW, exclusiveMinimum=0),
                "high": param("number", "the greatest magnitude of a coordinate", default=_SCALE_HIGH, exclusiveMinimum=0),
                "rtol": param("number", "the relative tolerance there", default=1e-5, exclusiveMinimum=0),
            })),
            "labels": _LABELS,
            **tolerance_params(rtol=1e-6, atol=1e-6),
        },
        required=["function", "reference", "arity", "keys"],
        example={"function": "manual_backprop", "reference": "autograd_backprop", "arity": 3, "keys": ["y", "dy_dx1"]},
    )

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        low, high = self.param("low"), self.param("high")
        points = [
            [round(rng.uniform(low, high), 3) for _ in range(self.params["arity"])]
            for _ in range(self.param("points"))
        ]
        points += self._scale_points(rng)
        args = {
            "function": self.params["function"],
            "args_list": points,
            "keys": list(self.params["keys"]),
            "forbid_autograd": bool(self.param("forbid_autograd")),
        }
        return [ProbeCall("call_numeric", args)]

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return [("reference", params["reference"])]

    def _scale_points(self, rng: random.Random) -> list[list[float]]:
        """Points of large magnitude (x1 and x2 of one sign, so that an honest float32 sum loses no digits)."""
        scale = self.params.get("exact_at_scale")
        if not scale:
            return []
        low, high = scale.get("low", _SCALE_LOW), scale.get("high", _SCALE_HIGH)
        points = []
        for _ in range(scale.get("points", 3)):
            sign = rng.choice([-1.0, 1.0])
            point = [sign * round(rng.uniform(low, high)) for _ in range(self.params["arity"])]
            point[-1] = rng.choice([-1.0, 1.0]) * abs(point[-1])
            points.append(point)
        return points

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        name = self.params["function"]
        value = read_answer(answers[0], name, ctx)
        if isinstance(value, Verdict):
            return value
        results = value.get("results")
        points = calls[0].args["args_list"]
        if not isinstance(results, list) or len(results) != len(points):
            return Verdict.failed(f"`{name}` gave no usable results")
        early = self._call_problem(name, results, points)
        if early is not None:
            return early
        reference = getattr(ctx.reference, self.params["reference"])
        expected = [reference(*point) for point in points]
        scale = self.params.get("exact_at_scale")
        ordinary = len(points) - (scale.get("points", 3) if scale else 0)
        keys: list[str] = self.params["keys"]
        rtol, atol = self.tolerance()
        problems = [
            p for key in keys if (p := self._key_problem(key, name, results[:ordinary], expected[:ordinary], points[:ordinary], rtol, atol))
        ]
        right = len(keys) - len(problems)
        if problems:
            return Verdict.partial(right / len(keys), "; ".join(problems))
        inexact = self._inexact_at_scale(name, results[ordinary:], expected[ordinary:], points[ordinary:])
        if inexact:
            return Verdict.failed(inexact)
        return Verdict.passed(f"right at all {ordinary} random points" + (" and exact at large inputs" if ordinary < len(points) else ""))

    def _inexact_at_scale(self, name: str, results: list[Any], expected: list[dict[str, float]], points: list[list[float]]) -> str:
        """Why the keys lose digits at large inputs ('' when they stay exact): what a difference quotient does."""
        rtol = self.params.get("exact_at_scale", {}).get("rtol", 1e-5)
        for key in self.params["keys"]:
            for result, want, point in zip(results, expected, points, strict=True):
                got = number_of(result.get("values", {}).get(key))
                if got is None or not close(got, float(want[key]), rtol, 0.0):
                    args = ", ".join(f"{p:.4g}" for p in point)
                    shown = "not a finite number" if got is None else f"{got:.10g}"
                    return (
                        f"{_label(self.params, key)} is right at ordinary points but not at large inputs "
                        f"({name}({args}) gives {key} = {shown}, relative error above {rtol:g}): a finite-difference "
                        "estimate loses digits there, while the chain rule stays exact; compute each local derivative "
                        "as a formula and multiply them (the chain rule)"
                    )
        return ""

    def _call_problem(self, name: str, results: list[Any], points: list[list[float]]) -> Verdict | None:
        for result, point in zip(results, points, strict=True):
            if not isinstance(result, dict):
                return Verdict.failed(f"`{name}` gave no usable result")
            if result.get("autograd"):
                return Verdict.failed(
                    f"`{name}` used autograd (.backward(), torch.autograd.grad, torch.func or a grad_fn called), which is switched off "
                    "for this check: compute the gradient with the chain rule yourself"
                )
            if "raised" in result:
                return raised_verdict(result["raised"], f"`{name}{tuple(point)}`")
            if "not_dict" in result:
                return Verdict.failed(f"`{name}` must return a dict, it returned {result['not_dict']}")
        return None

    def _key_problem(
        self, key: str, name: str, results: list[Any], expected: list[dict[str, float]],
        points: list[list[float]], rtol: float, atol: float,
    ) -> str:
        label = _label(self.params, key)
        wrong = []
        for result, want, point in zip(results, expected, points, strict=True):
            encoded = result.get("values", {}).get(key)
            got = number_of(encoded)
            if got is None:
                return f"{label}: the returned dict's {key!r} is {describe_non_number(encoded)}"
            if not close(got, float(want[key]), rtol, atol):
                wrong.append((point, got))
        if not wrong:
            return ""
        point, got = wrong[0]
        args = ", ".join(f"{p:g}" for p in point)
        return f"{label} is wrong at {len(wrong)} of {len(points)} random points (e.g. {name}({args}) gives {key} = {got:g})"
