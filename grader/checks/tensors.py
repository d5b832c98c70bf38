"""Check kinds for tensor code, written in the rubric alone: call, differentiate, inspect and provoke the student's code.

Every kind names a *target* (``function: name``, ``apply: AutogradFunction``,
``module: name`` or ``method: Class.method`` with ``init`` arguments) and a
*reference* of the same shape in the rubric's reference module, and generates
its arguments from specs in the rubric (the argument-spec language of
:mod:`grader.checks.argspec`), seeded by the grader.

The arguments travel to the kernel as explicit data and are built there and in
the grader's process by the same code (``grader/probes/tensors.py``), so the
student's function and the reference see the same numbers. What they return
is encoded by that same code and compared by :mod:`grader.checks.compare`;
every difference is reported with the call, the argument shapes, the index,
both values and the relative error.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from typing import Any

from grader.checks import Check, JudgeContext, article, read_answer, register
from grader.checks.argspec import draw_dims, generate
from grader.checks.compare import (
    Difference,
    close,
    describe_value,
    property_differences,
    relative_error,
    tagged_differences,
    tensor_differences,
)
from grader.checks.schema import fields, kind_params, param, tolerance_params
from grader.checks.targets import (
    ARGS,
    CALLS_PROPERTIES,
    DIMS,
    KWARGS,
    PART,
    PROPERTIES_PARAM,
    TARGET_PROPERTIES,
    TensorCheck,
    build,
    encode,
    encode_tensor,
    part_label,
    part_path,
    reference_callable,
    select_reference_part,
    target_name,
    target_problems,
    upstream_for,
)
from grader.probes import wire
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Failure, Verdict
from grader.shorten import shorten, shorten_items

_STRICT_TYPES_AND_DTYPE: dict[str, Any] = {
    "strict_types": param("boolean", "the kinds of Python containers and numbers must match: a 0-d tensor differs from a "
                          "number, and a list from a tuple (it does not compare tensor dtypes: see check_dtype)", default=False),
    "check_dtype": param("boolean", "tensor dtypes must match as well as their values (float64 for float32 fails); "
                         "properties: [dtype] judges the dtype alone", default=False),
}


# ---------------------------------------------------------------- check kinds


@register
class CallVersusReference(TensorCheck):
    """The target's return value matches the reference's on the same generated arguments, call by call.

    With ``compare_after`` (argument positions) the arguments are also
    compared after the call (a module's parameters after a training step, a
    tensor changed in place). With ``forbid_autograd`` torch's autograd engine
    is off while the target runs, and a call that uses it earns nothing for the
    check (what "by hand" means). ``strict_types`` makes a 0-d tensor differ from a
    number and a list from a tuple; ``check_dtype`` compares tensor dtypes.
    ``part`` judges one part of the returned value alone (``part: 1`` the
    second item of a tuple, ``part: losses`` a dict key, ``part: .weight`` an
    attribute); ``properties`` judges only the named properties of the value
    (type, shape, dtype, device, requires_grad, attached), not its values.
    Credit is the share of calls that match.
    """

    kind = "call_vs_reference"
    params_schema = kind_params(
        {
            **TARGET_PROPERTIES, **CALLS_PROPERTIES, **tolerance_params(rtol=1e-5, atol=1e-8),
            "compare_after": param("array", "positions of arguments also compared after the call (changed in place)", default=[],
                                   items={"type": "integer", "minimum": 0}),
            "compare_output": param("boolean", "whether the return value is compared", default=True),
            "forbid_autograd": param("boolean", "switch autograd off while the target runs: a call that uses it earns nothing",
                                     default=False),
            **_STRICT_TYPES_AND_DTYPE,
            "part": PART,
            "properties": PROPERTIES_PARAM,
        },
        example={"function": "softmax", "dims": {"N": [2, 6], "C": [3, 7]},
                 "args": [{"tensor": {"shape": ["N", "C"], "dtype": "float64"}}]},
    )

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        calls, init = self._calls(rng)
        args: dict[str, Any] = {"target": self._target(init), "calls": calls}
        if self.param("compare_after"):
            args["after"] = True
        if self.param("forbid_autograd"):
            args["forbid_autograd"] = True
        if part_path(self.params):
            args["part"] = part_path(self.params)
        return [ProbeCall("call_target", args)]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        init, (rtol, atol) = calls[0].args["target"].get("init", []), self.tolerance()

        def problems_of(call: dict[str, Any], record: dict[str, Any]) -> list[Difference]:
            return self._call_problems(record, self._expected(call, init, ctx), rtol, atol)

        return self._judge_calls(calls, answers, ctx, problems_of, "matches the reference")

    def _expected(self, call: dict[str, Any], init: list[dict[str, Any]], ctx: JudgeContext) -> dict[str, Any]:
        fn = reference_callable(self.params, ctx, init)
        args = [build(arg) for arg in call["args"]]
        kwargs = {name: build(arg) for name, arg in call.get("kwargs", {}).items()}
        value = select_reference_part(fn(*args, **kwargs), part_path(self.params))
        return {"value": encode(value), "after": [encode(arg) for arg in args]}

    def _call_problems(self, record: dict[str, Any], expected: dict[str, Any], rtol: float, atol: float) -> list[Difference]:
        strict, dtype = bool(self.param("strict_types")), bool(self.param("check_dtype"))
        found = []
        if self.param("compare_output"):
            where = part_label(part_path(self.params))
            if self.params.get("properties"):
                found += property_differences(record.get("value"), expected["value"], self.params["properties"], where, strict)
            else:
                found += tagged_differences(record.get("value"), expected["value"], rtol, atol, where, strict, dtype)
        for index in self.param("compare_after"):
            after = record.get("after") or []
            if index < len(after) and index < len(expected["after"]):
                changed = tagged_differences(after[index], expected["after"][index], rtol, atol, f"argument {index + 1} after the call",
                                             strict, dtype)
                found += [Difference(Failure.IN_PLACE, difference.text) for difference in changed]
        return found


@register
class GradientsVersusReference(TensorCheck):
    """Gradients through the target match gradients through the reference, call by call.

    After each call the output is backpropagated with a seeded upstream
    gradient (the same on both sides), and the gradients with respect to the
    tensor arguments at ``wrt`` (which the rubric marks ``requires_grad``) and
    to the parameters of the module arguments at ``params_of`` are compared.
    Use ``dtype: float64`` arguments for a gradcheck-grade comparison. With
    ``part`` the gradient flows back from that part of the returned value
    (``part: 0`` for the output of a function that returns ``(out, cache)``).
    """

    kind = "gradients_vs_reference"

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        problems = target_problems(params)
        args = params.get("args", [])
        for position, index in enumerate(params.get("wrt", [])):
            tensor = args[index].get("tensor") if index < len(args) else None
            if not isinstance(tensor, dict) or not tensor.get("requires_grad"):
                problems.append((f"wrt[{position}]", f"argument {index} must be a tensor with requires_grad: true"))
        for position, index in enumerate(params.get("params_of", [])):
            if index >= len(args) or "module" not in args[index]:
                problems.append((f"params_of[{position}]", f"argument {index} must be a module"))
        return problems
    params_schema = kind_params(
        {
            **TARGET_PROPERTIES, **CALLS_PROPERTIES, **tolerance_params(rtol=1e-5, atol=1e-8),
            "wrt": param("array", "positions of the tensor arguments (requires_grad: true) whose gradients are compared", default=[],
                         items={"type": "integer", "minimum": 0}),
            "params_of": param("array", "positions of the module arguments whose parameters' gradients are compared", default=[],
                               items={"type": "integer", "minimum": 0}),
            "part": PART,
        },
        example={"apply": "LeakyReLUFunction", "args": [{"tensor": {"shape": [3, 4], "dtype": "float64", "requires_grad": True}}],
                 "wrt": [0]},
    )

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        calls, init = self._calls(rng)
        grad = {"wrt": list(self.param("wrt")), "params_of": list(self.param("params_of")), "seed": rng.randrange(2**31)}
        args: dict[str, Any] = {"target": self._target(init), "calls": calls, "grad": grad}
        if part_path(self.params):
            args["part"] = part_path(self.params)
        return [ProbeCall("call_target", args)]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        sent, (rtol, atol) = calls[0].args, self.tolerance()

        def problems_of(call: dict[str, Any], record: dict[str, Any]) -> list[Difference]:
            return self._grad_problems(record.get("grad") or {}, self._expected_grads(call, sent, ctx), rtol, atol)

        return self._judge_calls(calls, answers, ctx, problems_of, "gradients match the reference")

    def _expected_grads(self, call: dict[str, Any], sent: dict[str, Any], ctx: JudgeContext) -> dict[str, Any]:
        import torch

        fn = reference_callable(self.params, ctx, sent["target"].get("init", []))
        args = [build(arg) for arg in call["args"]]
        output = select_reference_part(fn(*args, **{name: build(arg) for name, arg in call.get("kwargs", {}).items()}), part_path(self.params))
        names, inputs = [], []
        for index in sent["grad"]["wrt"]:
            names.append(str(index))
            inputs.append(args[index])
        for index in sent["grad"]["params_of"]:
            for name, parameter in args[index].named_parameters():
                names.append(f"{index}.{name}")
                inputs.append(parameter)
        grads = torch.autograd.grad(output, inputs, upstream_for(output, sent["grad"]["seed"]), allow_unused=True)
        return {name: (None if g is None else encode_tensor(g)) for name, g in zip(names, grads, strict=True)}

    def _grad_problems(self, grad: dict[str, Any], expected: dict[str, Any], rtol: float, atol: float) -> list[Difference]:
        if "no_tensor" in grad:
            returned = article(str(grad["no_tensor"]))
            return [Difference(Failure.WRONG_TYPE, f"it returned {returned}, not a tensor, so there is no gradient to compare")]
        if grad.get("no_graph"):
            return [Difference(Failure.NOT_ATTACHED, "its output is not attached to the graph (it does not require grad), so no gradient flows back")]
        if "backward_raised" in grad:
            error = grad["backward_raised"]
            return [Difference(Failure.RAISED,
                               f"backward through it raised {error.get('type', 'an error')}: {shorten(str(error.get('message', '')), 160)}")]
        got = grad.get("grads") or {}
        found = []
        for name, want in expected.items():
            label = _grad_label(name)
            if want is None:
                continue
            if got.get(name) is None:
                found.append(Difference(Failure.NOT_ATTACHED, f"no gradient reaches {label}"))
                continue
            found += tensor_differences(got[name], want, rtol, atol, f"the gradient with respect to {label}", False)
        return found


def _grad_label(name: str) -> str:
    position, _, param = name.partition(".")
    return f"parameter {param} of argument {int(position) + 1}" if param else f"argument {int(position) + 1}"


@register
class AutogradFunction(TensorCheck):
    """A custom ``torch.autograd.Function``'s backward agrees with its own forward (the dot-product gradient check).

    For each call and ``directions`` random directions v, the gradient the
    student's backward gives (for a seeded upstream u) dotted with v must
    equal the central difference of <u, forward(x)> along v. Use float64
    arguments that require grad; no reference answer is needed.
    """

    kind = "autograd_function"
    params_schema = kind_params(
        {
            **TARGET_PROPERTIES, **CALLS_PROPERTIES, **tolerance_params(rtol=1e-4, atol=1e-6),
            "directions": param("integer", "random directions the backward is checked along, per call", default=3, minimum=1, maximum=8),
            "eps": param("number", "the step of the central difference of the forward", default=1e-6, exclusiveMinimum=0),
        },
        example={"apply": "LeakyReLUFunction", "args": [{"tensor": {"shape": [3, 4], "dtype": "float64", "requires_grad": True}}]},
    )

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return [("reference", params["reference"])] if "reference" in params else []

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        calls, init = self._calls(rng)
        args = {"target": self._target(init), "calls": calls, "directions": int(self.param("directions")),
                "eps": float(self.param("eps")), "seed": rng.randrange(2**31)}
        return [ProbeCall("gradient_check", args)]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        rtol, atol = self.tolerance()

        def problems_of(call: dict[str, Any], record: dict[str, Any]) -> list[Difference]:
            problem = self._disagreement(record, rtol, atol)
            return [problem] if problem else []

        return self._judge_calls(calls, answers, ctx, problems_of, "the backward agrees with the forward")

    @staticmethod
    def _disagreement(record: dict[str, Any], rtol: float, atol: float) -> Difference | None:
        if "no_tensor" in record:
            return Difference(Failure.WRONG_TYPE, f"it returned {article(str(record['no_tensor']))}, not a tensor")
        if record.get("no_graph"):
            return Difference(Failure.NOT_ATTACHED, "its output does not require grad: the Function's result is not attached to the graph")
        if "backward_raised" in record:
            error = record["backward_raised"]
            return Difference(Failure.RAISED, f"its backward raised {error.get('type', 'an error')}: {shorten(str(error.get('message', '')), 160)}")
        for analytic_data, numeric_data in zip(record.get("analytic", []), record.get("numeric", []), strict=False):
            analytic, numeric = wire.decode_float(analytic_data), wire.decode_float(numeric_data)
            if not (math.isfinite(analytic) and math.isfinite(numeric)):
                return Difference(Failure.WRONG_VALUES, "the backward or the forward gave a number that is not finite")
            if not close(analytic, numeric, rtol, atol):
                return Difference(Failure.WRONG_VALUES,
                                  f"along a random direction the backward gives {analytic:.6g} but differences of the forward give "
                                  f"{numeric:.6g} ({relative_error(analytic, numeric)}): the backward does not compute this forward's gradient")
        return None


@register
class GlobalValues(Check):
    """Global names hold the reference module's values of the same names (numbers, tensors, lists, dicts).

    ``names`` is a list (the same name in both), or a mapping from the
    student's name to the reference's. Credit is the share of names that match.
    """

    kind = "global_values"
    params_schema = kind_params(
        {
            "names": param(None, "the global names to compare: a list, or a mapping of student name to reference name",
                           anyOf=[{"type": "array", "minItems": 1, "items": {"type": "string"}},
                                  {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}}]),
            **_STRICT_TYPES_AND_DTYPE,
            **tolerance_params(rtol=1e-5, atol=1e-8),
        },
        required=["names"],
        example={"names": ["weights", "losses"]},
    )

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return [(f"names.{student}", reference) for student, reference in _name_pairs(params).items()]

    def names(self) -> set[str]:
        return set(_name_pairs(self.params))

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        return [ProbeCall("global_values", {"names": sorted(_name_pairs(self.params))})]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        pairs = _name_pairs(self.params)
        first = sorted(pairs)[0]
        value = read_answer(answers[0], first, ctx)
        if isinstance(value, Verdict):
            return value
        rtol, atol = self.tolerance()
        strict, dtype = bool(self.param("strict_types")), bool(self.param("check_dtype"))
        if all(value.get(name) in ({"missing": True}, {"none": True}) for name in pairs):
            return Verdict.not_attempted(f"not attempted: {', '.join(f'`{n}`' for n in pairs)} are not defined or still None")
        problems: list[Difference] = []
        for student, reference in pairs.items():
            got = value.get(student)
            if got == {"missing": True}:
                problems.append(Difference(None, f"`{student}` is not defined{ctx.why_missing(student)}"))
                continue
            problems += tagged_differences(got, encode(getattr(ctx.reference, reference)), rtol, atol, f"`{student}`", strict, dtype)[:1]
        if not problems:
            return Verdict.passed(f"all {len(pairs)} values match")
        message = shorten_items([problem.text for problem in problems], most=3)
        verdict = Verdict.partial((len(pairs) - len(problems)) / len(pairs), message)
        return verdict.because(problems[0].failure) if problems[0].failure else verdict


def _name_pairs(params: dict[str, Any]) -> dict[str, str]:
    names = params["names"]
    return {name: name for name in names} if isinstance(names, list) else dict(names)


@register
class Raises(TensorCheck):
    """Called on bad input, the target raises the given exception (or a subclass of it).

    Each entry of ``calls_with`` is one call (``args``, ``kwargs``, in the
    argument-spec language: ``value:`` literals and ``tensor: {values: ...}``
    for fixed bad input); ``message`` is an optional regular expression the
    exception's message must match. Credit is the share of calls that raise.
    """

    kind = "raises"
    params_schema = kind_params(
        {
            **TARGET_PROPERTIES,
            "dims": DIMS,
            "exception": param("string", "the exception class expected (its name; a subclass also counts)", pattern=r"^\w+$"),
            "message": param("string", "a regular expression the exception's message must match"),
            "calls_with": param("array", "the bad calls, each with its own args and kwargs", minItems=1,
                                items={"type": "object", **fields({"args": ARGS, "kwargs": KWARGS})}),
        },
        required=["exception", "calls_with"],
        example={"function": "cross_entropy", "exception": "ValueError",
                 "calls_with": [{"args": [{"tensor": {"shape": [3, 4]}}, {"tensor": {"values": [0, -1, 2], "dtype": "int64"}}]}]},
    )

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        problems = target_problems(params)
        if "message" in params:
            try:
                re.compile(params["message"])
            except re.error as exc:
                problems.append(("message", f"not a valid regular expression ({exc})"))
        return problems

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return [("reference", params["reference"])] if "reference" in params else []

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        dims = draw_dims(self.param("dims"), rng)
        calls = [{"args": [generate(arg, rng, dims) for arg in call.get("args", [])],
                  "kwargs": {k: generate(arg, rng, dims) for k, arg in call.get("kwargs", {}).items()}}
                 for call in self.params["calls_with"]]
        init = [generate(arg, rng, dims) for arg in self.param("init")]
        return [ProbeCall("raises", {"target": self._target(init), "calls": calls})]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        records = self._records(answers[0], ctx)
        if isinstance(records, Verdict):
            return records
        wanted = self.params["exception"]
        problems = []
        for call, record in zip(calls[0].args["calls"], records, strict=True):
            text = self._call_text(call)
            exception = record.get("exception") if isinstance(record, dict) else None
            if exception is None:
                returned = record.get("returned") if isinstance(record, dict) else None
                problems.append(f"{text} returned {describe_value(returned)} instead of raising {wanted}")
            elif exception.get("type") == "NotImplementedError" and wanted != "NotImplementedError":
                return Verdict.not_attempted(f"not attempted: `{target_name(self.params)}` still raises NotImplementedError")
            elif wanted not in exception.get("bases", []):
                problems.append(f"{text} raised {exception.get('type')}, expected {wanted}")
            elif "message" in self.params and not re.search(self.params["message"], str(exception.get("message", ""))):
                problems.append(f"{text} raised {wanted}, but its message does not say what went wrong "
                                f"({shorten(str(exception.get('message', '')), 80)!r})")
        total = len(records)
        if not problems:
            return Verdict.passed(f"raises {wanted} on all {total} bad inputs")
        return Verdict.partial((total - len(problems)) / total, shorten_items(problems, most=2))
