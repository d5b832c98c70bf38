"""What the tensor check kinds share: a target named in the rubric, generated calls, the reference run on the same arguments.

A tensor check names its *target* (``function: name``, ``apply:
AutogradFunction``, ``module: name`` or ``method: Class.method`` with ``init``
arguments) and, optionally, the ``reference`` of the same shape in the
rubric's reference module. :class:`TensorCheck` draws the calls' arguments
(:mod:`grader.checks.argspec`), reads the kernel's records of the calls and
scores them call by call. The grader's process builds the same arguments and
encodes the reference's results with the kernel's own probe code
(:func:`shared`), so both sides see and encode the same numbers.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from typing import Any

from grader.checks import Check, JudgeContext, article, raised_verdict, read_answer
from grader.checks.argspec import ARG_SCHEMA, arg_places, arg_problems, describe_arg, describe_args, draw_dims, generate
from grader.checks.compare import PROPERTIES, Difference
from grader.checks.schema import param
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Failure, Verdict
from grader.shorten import shorten_items

# ---------------------------------------------------------------- the code both sides share


@functools.cache
def shared() -> dict[str, Any]:
    """The probe module ``tensors`` as the kernel runs it, its references (``_state``) taken from this process's torch."""
    import torch

    from grader.probes import load_runtime

    runtime = load_runtime()
    runtime["take_references"](torch)
    module: dict[str, Any] = runtime["MODULES"]["tensors"]
    return module


def build(spec: dict[str, Any]) -> Any:
    """The object a wire argument spec describes, in this process."""
    module = shared()
    return module["build_value"](spec, module["_state"])


def encode(value: Any) -> dict[str, Any]:
    """A value encoded exactly as the kernel encodes the student's."""
    module = shared()
    return dict(module["encode_value"](value, module["_state"]))


def encode_tensor(value: Any) -> dict[str, Any]:
    """A tensor's data (shape, dtype, values) encoded exactly as the kernel encodes it."""
    module = shared()
    return dict(module["encode_tensor_data"](value, module["_state"]))


def upstream_for(output: Any, seed: int) -> Any:
    """The seeded upstream gradient, the same numbers as the kernel's ``_upstream_for`` for the same shape."""
    import torch

    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(tuple(output.shape), generator=generator, dtype=torch.float64).to(output.dtype)


# ---------------------------------------------------------------- the parameters the kinds share

TARGET_KEYS = ("function", "apply", "module", "method")
ARGS = param("array", "the positional arguments of each call, as argument specs", default=[], items=ARG_SCHEMA)
KWARGS = param("object", "the keyword arguments of each call, as argument specs", default={}, additionalProperties=ARG_SCHEMA)
DIMS = param("object", "named sizes the argument specs use, each drawn per call from an inclusive [low, high]", default={},
             additionalProperties={"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2})
REFERENCE = param("string", "the reference module's name for the target (default: the target's own name)")
TARGET_PROPERTIES: dict[str, Any] = {
    "function": param("string", "the target: a function the submission defines"),
    "apply": param("string", "the target: a torch.autograd.Function subclass, called through its apply"),
    "module": param("string", "the target: a global nn.Module, called on the arguments"),
    "method": param("string", "the target: Class.method, called on an instance built from init", pattern=r"^\w+\.\w+$"),
    "init": param("array", "with method: the arguments the instance is built from, as argument specs", default=[], items=ARG_SCHEMA),
    "reference": REFERENCE,
}
_STEP = {"anyOf": [{"type": "integer"}, {"type": "string", "minLength": 1}]}
PART = param(
    None,
    "judge only this part of the returned value: an item index (1: the second item of a tuple or list), a dict key "
    "(losses), an attribute (.weight), or a list of these read left to right ([1, .weight]); the reference's value is read "
    "the same way",
    anyOf=[{"type": "integer"}, {"type": "string", "minLength": 1}, {"type": "array", "minItems": 1, "items": _STEP}],
)
PROPERTIES_PARAM = param(
    "array",
    "judge only these properties of the returned value (or of its part), not its values: type, shape, dtype, device, "
    "requires_grad, attached (has a grad_fn); the reference's value on the same arguments gives the expected ones",
    items={"enum": list(PROPERTIES)}, minItems=1, uniqueItems=True,
)
CALLS_PROPERTIES: dict[str, Any] = {
    "args": ARGS,
    "kwargs": KWARGS,
    "dims": DIMS,
    "calls": param("integer", "how many calls, each with freshly drawn arguments", default=4, minimum=1, maximum=20),
}


# ---------------------------------------------------------------- shared plumbing of the kinds


def target_name(params: dict[str, Any]) -> str:
    """The name of the check's target, as the rubric gives it (``softmax``, ``Model.forward``)."""
    key = next(k for k in TARGET_KEYS if k in params)
    return str(params[key])


def reference_callable(params: dict[str, Any], ctx: JudgeContext, init: list[dict[str, Any]]) -> Any:
    """What the reference module calls for the target: its function, a Function's apply, or a method of an instance built from ``init``."""
    key = next(k for k in TARGET_KEYS if k in params)
    name = params.get("reference", params[key])
    if key == "method":
        class_name, _, method = name.partition(".")
        instance = getattr(ctx.reference, class_name)(*[build(arg) for arg in init])
        return getattr(instance, method)
    value = getattr(ctx.reference, name)
    return value.apply if key == "apply" else value


def part_path(params: dict[str, Any]) -> list[int | str]:
    """The rubric's ``part`` as a path of steps ([] when it has none): ``1`` -> ``[1]``, ``[1, ".weight"]`` stays."""
    part = params.get("part")
    if part is None:
        return []
    return list(part) if isinstance(part, list) else [part]


def part_label(path: Sequence[int | str], what: str = "the result") -> str:
    """A path as a student reads it: ``the result[1]['weight'].grad``."""
    return what + "".join(step if isinstance(step, str) and step.startswith(".") else f"[{step!r}]" for step in path)


def select_reference_part(value: Any, path: Sequence[int | str]) -> Any:
    """The part of the reference's returned value the check reads (the kernel's own :func:`select_part`); a rubric fault when missing."""
    if not path:
        return value
    ok, part = shared()["select_part"](value, list(path))
    if not ok:
        raise ValueError(f"the reference's result has no part {part_label(path)} ({no_part_text('the reference', path, part)})")
    return part


def no_part_text(name: str, path: Sequence[int | str], record: dict[str, Any]) -> str:
    """Why a returned value has no part at ``path``, from the probe's ``no_part`` record."""
    missing: dict[str, Any] = record["no_part"] if isinstance(record.get("no_part"), dict) else {}
    step_number = int(missing.get("step", 0)) if isinstance(missing.get("step"), int) else 0
    step = path[min(step_number, len(path) - 1)]
    length = missing.get("length")
    found = str(missing.get("found", "object"))
    if isinstance(step, int) and isinstance(length, int):
        held = f"{article(found)} of {length} item{'s' if length != 1 else ''}"
    elif isinstance(step, str) and not step.startswith(".") and found == "dict":
        keys = [str(key) for key in missing.get("keys", []) if isinstance(key, str)]
        held = f"a dict with the keys {shorten_items([repr(key) for key in keys], total=length, sep=', ')}" if keys else "an empty dict"
    else:
        held = article(found)
    if isinstance(step, int):
        reads = f"item {step + 1} (index {step})" if step >= 0 else f"item {step} from the end"
    elif step.startswith("."):
        reads = f"its attribute {step[1:]!r}"
    else:
        reads = f"its key {step!r}"
    whose = f"{name} returned" if step_number == 0 else f"{part_label(path[:step_number])} of what {name} returned is"
    return f"{whose} {held}; the check reads {reads}"


def part_failure(record: dict[str, Any]) -> Failure:
    """A missing part: the wrong shape when the container is right but short of the item or key, else the wrong type."""
    missing: dict[str, Any] = record.get("no_part") or {}
    return Failure.WRONG_SHAPE if missing.get("length") is not None or missing.get("found") == "dict" else Failure.WRONG_TYPE


def target_problems(params: dict[str, Any]) -> list[tuple[str, str]]:
    """What the schema cannot say is wrong with a tensor check's params: not exactly one target, or a bad argument spec."""
    named = [k for k in TARGET_KEYS if k in params]
    if len(named) != 1:
        return [("(target)", f"name exactly one of {', '.join(TARGET_KEYS)} (found {', '.join(named) or 'none'})")]
    problems = []
    for place, arg in arg_places(params):
        problems += [(place, problem) for problem in arg_problems(arg, params.get("dims", {}))]
    return problems



def target_reference_names(params: dict[str, Any]) -> list[tuple[str, str]]:
    """The name the reference module must define for the target (a method's class), as (field, name)."""
    key = next((k for k in TARGET_KEYS if k in params), None)
    if key is None:
        return []
    name = str(params.get("reference", params[key]))
    return [("reference" if "reference" in params else key, name.partition(".")[0])]


class TensorCheck(Check):
    """Shared plumbing: a target, generated calls, the reference run on the same arguments."""

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return target_problems(params)

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return target_reference_names(params)

    def names(self) -> set[str]:
        return {target_name(self.params).partition(".")[0]}

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
        key = next(k for k in TARGET_KEYS if k in self.params)
        target: dict[str, Any] = {key: self.params[key]}
        if key == "method":
            target["init"] = init
        return target

    def _records(self, answer: Answer, ctx: JudgeContext) -> list[Any] | Verdict:
        name = target_name(self.params)
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
        return f"`{target_name(self.params)}` called with {', '.join(described) or 'no arguments'}"

    def _judge_calls(
        self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext,
        problems_of: Callable[[dict[str, Any], dict[str, Any]], list[Difference]], what: str,
    ) -> Verdict:
        """Judge each call's record with ``problems_of(wire call, record)``; credit is the share of calls without a problem.

        The verdict is tagged with how the first wrong call failed (its :class:`~grader.results.Failure`).
        """
        records = self._records(answers[0], ctx)
        if isinstance(records, Verdict):
            return records
        problems: list[Difference] = []
        for number, (call, record) in enumerate(zip(calls[0].args["calls"], records, strict=True), start=1):
            text = f"call {number} ({self._call_text(call)})"
            failed = self._failed_call(record, text)
            if failed is not None:
                return failed
            found = problems_of(call, record)
            if found:
                problems.append(Difference(found[0].failure, f"{text}: {found[0].text}"))
        return self._score(problems, len(records), what)

    def _score(self, problems: list[Difference], total: int, what: str) -> Verdict:
        if not problems:
            return Verdict.passed(f"{what} at all {total} calls")
        texts = [problem.text for problem in problems]
        message = "; ".join(texts[:2]) + (f" (and {len(texts) - 2} more calls)" if len(texts) > 2 else "")
        verdict = Verdict.partial((total - len(problems)) / total, message)
        return verdict.because(problems[0].failure) if problems[0].failure else verdict

    def _failed_call(self, record: dict[str, Any], text: str) -> Verdict | None:
        if record.get("autograd"):
            return Verdict.failed(
                f"{text} used autograd (.backward(), torch.autograd.grad, torch.func or a grad_fn called), which is switched off for this check: "
                "compute it with tensor operations yourself"
            ).because(Failure.FORBIDDEN_CALL)
        if "raised" in record:
            return raised_verdict(record["raised"], text)
        if "part_raised" in record:
            return raised_verdict(record["part_raised"], f"{text}: reading {part_label(part_path(self.params))}")
        if "no_part" in record:
            path = part_path(self.params)
            return Verdict.failed(f"{text}: {no_part_text(f'`{target_name(self.params)}`', path, record)}").because(part_failure(record))
        return None
