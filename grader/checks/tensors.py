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

import functools
import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from grader.checks import Check, JudgeContext, article, raised_verdict, read_answer, register
from grader.checks.argspec import ARG_SCHEMA, DTYPES, arg_places, arg_problems, describe_arg, describe_args, draw_dims, generate
from grader.checks.compare import close, describe_value, differences, relative_error, tensor_differences
from grader.checks.schema import fields, kind_params, param, tolerance_params
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Verdict

# ---------------------------------------------------------------- the code both sides share


@functools.cache
def shared() -> dict[str, Any]:
    """The probe module ``tensors`` as the kernel runs it, with a toolkit taken from this process's torch."""
    import torch

    from grader.probes import load_runtime

    module = load_runtime()["MODULES"]["tensors"]
    module["_toolkit"].update(module["take_tensor_toolkit"](torch))
    return module


def build(spec: dict[str, Any]) -> Any:
    """The object a wire argument spec describes, in this process."""
    module = shared()
    return module["build_value"](spec, module["_toolkit"])


def encode(value: Any) -> dict[str, Any]:
    """A value encoded exactly as the kernel encodes the student's."""
    module = shared()
    return dict(module["encode_value"](value, module["_toolkit"]))


def encode_tensor(value: Any) -> dict[str, Any]:
    module = shared()
    return dict(module["encode_tensor_data"](value, module["_toolkit"]))


def upstream_for(output: Any, seed: int) -> Any:
    """The seeded upstream gradient, the same numbers as the kernel's ``_upstream_for`` for the same shape."""
    import torch

    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(tuple(output.shape), generator=generator, dtype=torch.float64).to(output.dtype)



# ---------------------------------------------------------------- the parameters the kinds share

_TARGET_KEYS = ("function", "apply", "module", "method")
_ARGS = param("array", "the positional arguments of each call, as argument specs", default=[], items=ARG_SCHEMA)
_KWARGS = param("object", "the keyword arguments of each call, as argument specs", default={}, additionalProperties=ARG_SCHEMA)
_DIMS = param("object", "named sizes the argument specs use, each drawn per call from an inclusive [low, high]", default={},
              additionalProperties={"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2})
_REFERENCE = param("string", "the reference module's name for the target (default: the target's own name)")
_TARGET_PROPERTIES: dict[str, Any] = {
    "function": param("string", "the target: a function the submission defines"),
    "apply": param("string", "the target: a torch.autograd.Function subclass, called through its apply"),
    "module": param("string", "the target: a global nn.Module, called on the arguments"),
    "method": param("string", "the target: Class.method, called on an instance built from init", pattern=r"^\w+\.\w+$"),
    "init": param("array", "with method: the arguments the instance is built from, as argument specs", default=[], items=ARG_SCHEMA),
    "reference": _REFERENCE,
}
_STRICT_TYPES_AND_DTYPE: dict[str, Any] = {
    "strict_types": param("boolean", "a 0-d tensor differs from a number, and a list from a tuple", default=False),
    "check_dtype": param("boolean", "tensor dtypes must match too", default=False),
}
_CALLS_PROPERTIES: dict[str, Any] = {
    "args": _ARGS,
    "kwargs": _KWARGS,
    "dims": _DIMS,
    "calls": param("integer", "how many calls, each with freshly drawn arguments", default=4, minimum=1, maximum=20),
}


# ---------------------------------------------------------------- shared plumbing of the kinds


def _target_name(params: dict[str, Any]) -> str:
    key = next(k for k in _TARGET_KEYS if k in params)
    return str(params[key])


def _reference_callable(params: dict[str, Any], ctx: JudgeContext, init: list[dict[str, Any]]) -> Any:
    key = next(k for k in _TARGET_KEYS if k in params)
    name = params.get("reference", params[key])
    if key == "method":
        class_name, _, method = name.partition(".")
        instance = getattr(ctx.reference, class_name)(*[build(arg) for arg in init])
        return getattr(instance, method)
    value = getattr(ctx.reference, name)
    return value.apply if key == "apply" else value


def _target_problems(params: dict[str, Any]) -> list[tuple[str, str]]:
    named = [k for k in _TARGET_KEYS if k in params]
    if len(named) != 1:
        return [("(target)", f"name exactly one of {', '.join(_TARGET_KEYS)} (found {', '.join(named) or 'none'})")]
    problems = []
    for place, arg in arg_places(params):
        problems += [(place, problem) for problem in arg_problems(arg, params.get("dims", {}))]
    return problems



def _reference_names(params: dict[str, Any]) -> list[tuple[str, str]]:
    key = next((k for k in _TARGET_KEYS if k in params), None)
    if key is None:
        return []
    name = str(params.get("reference", params[key]))
    return [("reference" if "reference" in params else key, name.partition(".")[0])]


class _TensorCheck(Check):
    """Shared plumbing: a target, generated calls, the reference run on the same arguments."""

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return _target_problems(params)

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return _reference_names(params)

    def names(self) -> set[str]:
        return {_target_name(self.params).partition(".")[0]}

    def _calls(self, rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The wire calls, and the wire init arguments of a method target."""
        dims = self.param("dims")
        init_dims = draw_dims(dims, rng)
        init = [generate(arg, rng, init_dims) for arg in self.param("init")]
        calls = []
        for _ in range(self.param("calls")):
            drawn = draw_dims(dims, rng)
            args = [generate(arg, rng, drawn) for arg in self.param("args")]
            kwargs = {name: generate(arg, rng, drawn) for name, arg in self.param("kwargs").items()}
            calls.append({"args": args, "kwargs": kwargs})
        return calls, init

    def _target(self, init: list[dict[str, Any]]) -> dict[str, Any]:
        key = next(k for k in _TARGET_KEYS if k in self.params)
        target: dict[str, Any] = {key: self.params[key]}
        if key == "method":
            target["init"] = init
        return target

    def _records(self, answer: Answer, ctx: JudgeContext) -> list[Any] | Verdict:
        name = _target_name(self.params)
        value = read_answer(answer, name, ctx)
        if isinstance(value, Verdict):
            return value
        if "not_function_class" in value:
            found = str(value["not_function_class"])
            what = "a class that does not subclass it" if found == "type" else article(found)
            return Verdict.failed(f"`{name}` must be a torch.autograd.Function subclass (it is {what})")
        for key, words in (("not_module", "a torch.nn.Module"), ("not_class", "a class")):
            if key in value:
                return Verdict.failed(f"`{name}` is {article(str(value[key]))}, not {words}")
        if "raised" in value:
            return raised_verdict(value["raised"], f"creating the `{name.partition('.')[0]}` instance")
        results = value.get("results")
        return results if isinstance(results, list) else Verdict.failed(f"`{name}` gave no usable results")

    def _call_text(self, call: dict[str, Any]) -> str:
        described = [describe_args(call["args"])] if call["args"] else []
        described += [f"{name}={describe_arg(arg)}" for name, arg in call.get("kwargs", {}).items()]
        return f"`{_target_name(self.params)}` called with {', '.join(described) or 'no arguments'}"

    def _judge_calls(
        self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext,
        problems_of: Callable[[dict[str, Any], dict[str, Any]], list[str]], what: str,
    ) -> Verdict:
        """Judge each call's record with ``problems_of(wire call, record)``; credit is the share of calls without a problem."""
        records = self._records(answers[0], ctx)
        if isinstance(records, Verdict):
            return records
        problems = []
        for number, (call, record) in enumerate(zip(calls[0].args["calls"], records, strict=True), start=1):
            text = f"call {number} ({self._call_text(call)})"
            failed = _failed_call(record, text)
            if failed is not None:
                return failed
            found = problems_of(call, record)
            if found:
                problems.append(f"{text}: {found[0]}")
        return self._score(problems, len(records), what)

    def _score(self, problems: list[str], total: int, what: str) -> Verdict:
        if not problems:
            return Verdict.passed(f"{what} at all {total} calls")
        return Verdict.partial((total - len(problems)) / total, "; ".join(problems[:2]) + (
            f" (and {len(problems) - 2} more calls)" if len(problems) > 2 else ""))


def _failed_call(record: dict[str, Any], text: str) -> Verdict | None:
    if record.get("autograd"):
        return Verdict.failed(
            f"{text} used autograd (.backward(), torch.autograd.grad or torch.func), which is switched off for this check: "
            "compute it with tensor operations yourself"
        )
    if "raised" in record:
        return raised_verdict(record["raised"], text)
    return None


# ---------------------------------------------------------------- check kinds


@register
class CallVersusReference(_TensorCheck):
    """The target's return value matches the reference's on the same generated arguments, call by call.

    With ``compare_after`` (argument positions) the arguments are also
    compared after the call (a module's parameters after a training step, a
    tensor changed in place). With ``forbid_autograd`` torch's autograd engine
    is off while the target runs, and a call that uses it earns nothing for the
    check (what "by hand" means). ``strict_types`` makes a 0-d tensor differ from a
    number and a list from a tuple; ``check_dtype`` compares tensor dtypes.
    Credit is the share of calls that match.
    """

    kind = "call_vs_reference"
    params_schema = kind_params(
        {
            **_TARGET_PROPERTIES, **_CALLS_PROPERTIES, **tolerance_params(rtol=1e-5, atol=1e-8),
            "compare_after": param("array", "positions of arguments also compared after the call (changed in place)", default=[],
                                   items={"type": "integer", "minimum": 0}),
            "compare_output": param("boolean", "whether the return value is compared", default=True),
            "forbid_autograd": param("boolean", "switch autograd off while the target runs: a call that uses it earns nothing",
                                     default=False),
            **_STRICT_TYPES_AND_DTYPE,
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
        return [ProbeCall("call_target", args)]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        init, (rtol, atol) = calls[0].args["target"].get("init", []), self.tolerance()

        def problems_of(call: dict[str, Any], record: dict[str, Any]) -> list[str]:
            return self._call_problems(record, self._expected(call, init, ctx), rtol, atol)

        return self._judge_calls(calls, answers, ctx, problems_of, "matches the reference")

    def _expected(self, call: dict[str, Any], init: list[dict[str, Any]], ctx: JudgeContext) -> dict[str, Any]:
        fn = _reference_callable(self.params, ctx, init)
        args = [build(arg) for arg in call["args"]]
        kwargs = {name: build(arg) for name, arg in call.get("kwargs", {}).items()}
        value = fn(*args, **kwargs)
        return {"value": encode(value), "after": [encode(arg) for arg in args]}

    def _call_problems(self, record: dict[str, Any], expected: dict[str, Any], rtol: float, atol: float) -> list[str]:
        strict, dtype = bool(self.param("strict_types")), bool(self.param("check_dtype"))
        found = []
        if self.param("compare_output"):
            found += differences(record.get("value"), expected["value"], rtol, atol, "the result", strict, dtype)
        for index in self.param("compare_after"):
            after = record.get("after") or []
            if index < len(after) and index < len(expected["after"]):
                found += differences(after[index], expected["after"][index], rtol, atol, f"argument {index + 1} after the call", strict, dtype)
        return found


@register
class GradientsVersusReference(_TensorCheck):
    """Gradients through the target match gradients through the reference, call by call.

    After each call the output is backpropagated with a seeded upstream
    gradient (the same on both sides), and the gradients with respect to the
    tensor arguments at ``wrt`` (which the rubric marks ``requires_grad``) and
    to the parameters of the module arguments at ``params_of`` are compared.
    Use ``dtype: float64`` arguments for a gradcheck-grade comparison.
    """

    kind = "gradients_vs_reference"

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        problems = _target_problems(params)
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
            **_TARGET_PROPERTIES, **_CALLS_PROPERTIES, **tolerance_params(rtol=1e-5, atol=1e-8),
            "wrt": param("array", "positions of the tensor arguments (requires_grad: true) whose gradients are compared", default=[],
                         items={"type": "integer", "minimum": 0}),
            "params_of": param("array", "positions of the module arguments whose parameters' gradients are compared", default=[],
                               items={"type": "integer", "minimum": 0}),
        },
        example={"apply": "LeakyReLUFunction", "args": [{"tensor": {"shape": [3, 4], "dtype": "float64", "requires_grad": True}}],
                 "wrt": [0]},
    )

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        calls, init = self._calls(rng)
        grad = {"wrt": list(self.param("wrt")), "params_of": list(self.param("params_of")), "seed": rng.randrange(2**31)}
        return [ProbeCall("call_target", {"target": self._target(init), "calls": calls, "grad": grad})]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        wire, (rtol, atol) = calls[0].args, self.tolerance()

        def problems_of(call: dict[str, Any], record: dict[str, Any]) -> list[str]:
            return self._grad_problems(record.get("grad") or {}, self._expected_grads(call, wire, ctx), rtol, atol)

        return self._judge_calls(calls, answers, ctx, problems_of, "gradients match the reference")

    def _expected_grads(self, call: dict[str, Any], wire: dict[str, Any], ctx: JudgeContext) -> dict[str, Any]:
        import torch

        fn = _reference_callable(self.params, ctx, wire["target"].get("init", []))
        args = [build(arg) for arg in call["args"]]
        output = fn(*args, **{name: build(arg) for name, arg in call.get("kwargs", {}).items()})
        names, inputs = [], []
        for index in wire["grad"]["wrt"]:
            names.append(str(index))
            inputs.append(args[index])
        for index in wire["grad"]["params_of"]:
            for name, parameter in args[index].named_parameters():
                names.append(f"{index}.{name}")
                inputs.append(parameter)
        grads = torch.autograd.grad(output, inputs, upstream_for(output, wire["grad"]["seed"]), allow_unused=True)
        return {name: (None if g is None else encode_tensor(g)) for name, g in zip(names, grads, strict=True)}

    def _grad_problems(self, grad: dict[str, Any], expected: dict[str, Any], rtol: float, atol: float) -> list[str]:
        if "no_tensor" in grad:
            return [f"it returned {article(str(grad['no_tensor']))}, not a tensor, so there is no gradient to compare"]
        if grad.get("no_graph"):
            return ["its output is not attached to the graph (it does not require grad), so no gradient flows back"]
        if "backward_raised" in grad:
            error = grad["backward_raised"]
            return [f"backward through it raised {error.get('type', 'an error')}: {str(error.get('message', ''))[:160]}"]
        got = grad.get("grads") or {}
        found = []
        for name, want in expected.items():
            label = _grad_label(name)
            if want is None:
                continue
            if got.get(name) is None:
                found.append(f"no gradient reaches {label}")
                continue
            found += tensor_differences(got[name], want, rtol, atol, f"the gradient with respect to {label}", False)
        return found


def _grad_label(name: str) -> str:
    position, _, param = name.partition(".")
    return f"parameter {param} of argument {int(position) + 1}" if param else f"argument {int(position) + 1}"


@register
class AutogradFunction(_TensorCheck):
    """A custom ``torch.autograd.Function``'s backward agrees with its own forward (the dot-product gradient check).

    For each call and ``directions`` random directions v, the gradient the
    student's backward gives (for a seeded upstream u) dotted with v must
    equal the central difference of <u, forward(x)> along v. Use float64
    arguments that require grad; no reference answer is needed.
    """

    kind = "autograd_function"
    params_schema = kind_params(
        {
            **_TARGET_PROPERTIES, **_CALLS_PROPERTIES, **tolerance_params(rtol=1e-4, atol=1e-6),
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

        def problems_of(call: dict[str, Any], record: dict[str, Any]) -> list[str]:
            problem = self._disagreement(record, rtol, atol)
            return [problem] if problem else []

        return self._judge_calls(calls, answers, ctx, problems_of, "the backward agrees with the forward")

    @staticmethod
    def _disagreement(record: dict[str, Any], rtol: float, atol: float) -> str:
        if "no_tensor" in record:
            return f"it returned {article(str(record['no_tensor']))}, not a tensor"
        if record.get("no_graph"):
            return "its output does not require grad: the Function's result is not attached to the graph"
        if "backward_raised" in record:
            error = record["backward_raised"]
            return f"its backward raised {error.get('type', 'an error')}: {str(error.get('message', ''))[:160]}"
        for analytic, numeric in zip(record.get("analytic", []), record.get("numeric", []), strict=False):
            if analytic is None or numeric is None:
                return "the backward or the forward gave a number that is not finite"
            if not close(analytic, numeric, rtol, atol):
                return (f"along a random direction the backward gives {analytic:.6g} but differences of the forward give "
                        f"{numeric:.6g} ({relative_error(analytic, numeric)}): the backward does not compute this forward's gradient")
        return ""


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
        problems = []
        for student, reference in pairs.items():
            got = value.get(student)
            if got == {"missing": True}:
                problems.append(f"`{student}` is not defined{ctx.why_missing(student)}")
                continue
            problems += differences(got, encode(getattr(ctx.reference, reference)), rtol, atol, f"`{student}`", strict, dtype)[:1]
        if not problems:
            return Verdict.passed(f"all {len(pairs)} values match")
        return Verdict.partial((len(pairs) - len(problems)) / len(pairs), "; ".join(problems[:3]))


def _name_pairs(params: dict[str, Any]) -> dict[str, str]:
    names = params["names"]
    return {name: name for name in names} if isinstance(names, list) else dict(names)


@register
class ModuleStructure(_TensorCheck):
    """A module (a global, or what a function returns for given arguments) has the expected layers, parameters and output shapes.

    The expectation is the reference's (the same call on the reference) or
    given in ``expect``: ``layers`` (layer class name -> count, leaf modules
    only; other classes are free unless ``exact_layers``), ``parameters``
    (total count), ``outputs`` (output shape for each of ``inputs``, fed as
    zeros of the module's own parameter dtype unless ``dtype`` says). Credit is
    the share of these aspects that match.
    """

    kind = "module_structure"
    params_schema = kind_params(
        {
            "module": param("string", "the target: a global nn.Module"),
            "function": param("string", "the target: a function that returns an nn.Module, called with args"),
            "reference": _REFERENCE,
            "args": param("array", "with function: its arguments, as argument specs", default=[], items=ARG_SCHEMA),
            "dims": _DIMS,
            "inputs": param("array", "input shapes the module is run on (zeros), to compare output shapes", default=[],
                            items={"type": "array", "items": {"type": "integer", "minimum": 0}}),
            "dtype": param("string", "the dtype of those inputs (default: the dtype of the module's parameters)", enum=DTYPES),
            "exact_layers": param("boolean", "whether layer classes the expectation does not name make it fail", default=False),
            "expect": param("object", "the expectation, instead of the reference's module", **fields({
                "layers": param("object", "layer class name -> how many (leaf modules only)",
                                additionalProperties={"type": "integer", "minimum": 0}),
                "parameters": param("integer", "the total number of parameters", minimum=0),
                "outputs": param("array", "the output shape for each of inputs",
                                 items={"type": "array", "items": {"type": "integer"}}),
            })),
        },
        example={"function": "build_mlp", "args": [{"value": 6}, {"value": 16}, {"value": 3}], "inputs": [[5, 6]]},
    )

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        if ("module" in params) == ("function" in params):
            return [("(target)", "name exactly one of module, function")]
        return _target_problems(params)

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return [] if "expect" in params else _reference_names(params)

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        target = {"module": self.params["module"]} if "module" in self.params else {"function": self.params["function"]}
        dims = draw_dims(self.param("dims"), rng)
        args = [generate(arg, rng, dims) for arg in self.param("args")]
        request = {"target": target, "args": args, "inputs": [list(s) for s in self.param("inputs")],
                   **({"dtype": self.params["dtype"]} if "dtype" in self.params else {})}
        return [ProbeCall("module_structure", request)]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        name = _target_name(self.params)
        value = read_answer(answers[0], name, ctx)
        if isinstance(value, Verdict):
            return value
        if "raised" in value:
            return raised_verdict(value["raised"], f"`{name}`")
        for key in ("not_module", "not_module_result"):
            if key in value:
                return Verdict.failed(f"`{name}` gave {article(str(value[key]))}, not a torch.nn.Module")
        expected = self._expected(calls[0].args, ctx)
        problems = self._problems(value, expected)
        aspects = len(expected)
        if not problems:
            return Verdict.passed(f"`{name}`: " + ", ".join(self._summary(value, expected)))
        return Verdict.partial((aspects - len(problems)) / aspects, f"`{name}`: " + "; ".join(problems))

    def _expected(self, request: dict[str, Any], ctx: JudgeContext) -> dict[str, Any]:
        if "expect" in self.params:
            return dict(self.params["expect"])
        import torch

        reference = getattr(ctx.reference, self.params.get("reference", _target_name(self.params)))
        module = reference(*[build(arg) for arg in request["args"]]) if "function" in self.params else reference
        leaves = [type(m).__name__ for m in module.modules() if not list(m.children())]
        expected: dict[str, Any] = {"layers": {n: leaves.count(n) for n in sorted(set(leaves))}}
        expected["parameters"] = sum(p.numel() for p in module.parameters())
        if request["inputs"]:
            with torch.no_grad():
                floating = [p.dtype for p in module.parameters() if p.dtype.is_floating_point]
                dtype = getattr(torch, request["dtype"]) if "dtype" in request else (floating[0] if floating else torch.float32)
                expected["outputs"] = [list(module(torch.zeros(tuple(shape), dtype=dtype)).shape) for shape in request["inputs"]]
        return expected

    def _problems(self, value: dict[str, Any], expected: dict[str, Any]) -> list[str]:
        problems = []
        leaves = _leaf_classes(value.get("modules", []))
        if "layers" in expected:
            got = {n: leaves.count(n) for n in set(leaves)}
            wrong = [f"{got.get(n, 0)} {n} (expected {count})" for n, count in sorted(expected["layers"].items()) if got.get(n, 0) != count]
            extra = [f"{got[n]} {n} (expected none)" for n in sorted(got) if n not in expected["layers"]] if self.param("exact_layers") else []
            if wrong or extra:
                problems.append("it has " + ", ".join(wrong + extra))
        if "parameters" in expected and value.get("parameters") != expected["parameters"]:
            problems.append(f"it has {value.get('parameters')} parameters, expected {expected['parameters']}")
        if "outputs" in expected:
            for shape, got_output, want in zip(self.param("inputs"), value.get("outputs", []), expected["outputs"], strict=False):
                if "raised" in got_output:
                    problems.append(f"on an input of shape {tuple(shape)} it raised {got_output['raised'].get('type', 'an error')}")
                    break
                if got_output.get("shape") != list(want):
                    problems.append(f"on an input of shape {tuple(shape)} the output has shape {tuple(got_output.get('shape') or ())}, "
                                    f"expected {tuple(want)}")
                    break
        return problems

    @staticmethod
    def _summary(value: dict[str, Any], expected: dict[str, Any]) -> list[str]:
        parts = []
        if "layers" in expected:
            parts.append(", ".join(f"{count} {name}" for name, count in sorted(expected["layers"].items())))
        if "parameters" in expected:
            parts.append(f"{value.get('parameters')} parameters")
        if "outputs" in expected:
            parts.append("the expected output shapes")
        return parts


def _leaf_classes(modules: list[dict[str, Any]]) -> list[str]:
    """The class names of the modules that have no submodules (the root counts only when it is alone)."""
    names = [str(m.get("name", "")) for m in modules]
    leaves = []
    for module in modules:
        name = str(module.get("name", ""))
        prefix = name + "." if name else ""
        if not any(other != name and other.startswith(prefix) for other in names):
            leaves.append(str(module.get("class", "")))
    return leaves


@register
class Raises(_TensorCheck):
    """Called on bad input, the target raises the given exception (or a subclass of it).

    Each entry of ``calls_with`` is one call (``args``, ``kwargs``, in the
    argument-spec language: ``value:`` literals and ``tensor: {values: ...}``
    for fixed bad input); ``message`` is an optional regular expression the
    exception's message must match. Credit is the share of calls that raise.
    """

    kind = "raises"
    params_schema = kind_params(
        {
            **_TARGET_PROPERTIES,
            "dims": _DIMS,
            "exception": param("string", "the exception class expected (its name; a subclass also counts)", pattern=r"^\w+$"),
            "message": param("string", "a regular expression the exception's message must match"),
            "calls_with": param("array", "the bad calls, each with its own args and kwargs", minItems=1,
                                items={"type": "object", **fields({"args": _ARGS, "kwargs": _KWARGS})}),
        },
        required=["exception", "calls_with"],
        example={"function": "cross_entropy", "exception": "ValueError",
                 "calls_with": [{"args": [{"tensor": {"shape": [3, 4]}}, {"tensor": {"values": [0, -1, 2], "dtype": "int64"}}]}]},
    )

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        problems = _target_problems(params)
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
                return Verdict.not_attempted(f"not attempted: `{_target_name(self.params)}` still raises NotImplementedError")
            elif wanted not in exception.get("bases", []):
                problems.append(f"{text} raised {exception.get('type')}, expected {wanted}")
            elif "message" in self.params and not re.search(self.params["message"], str(exception.get("message", ""))):
                problems.append(f"{text} raised {wanted}, but its message does not say what went wrong "
                                f"({str(exception.get('message', ''))[:80]!r})")
        total = len(records)
        if not problems:
            return Verdict.passed(f"raises {wanted} on all {total} bad inputs")
        return Verdict.partial((total - len(problems)) / total, "; ".join(problems[:2]))
