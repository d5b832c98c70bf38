"""Check kinds for tensor code, written in the rubric alone: call, differentiate, inspect and provoke the student's code.

Every kind names a *target* (``function: name``, ``apply: AutogradFunction``,
``module: name`` or ``method: Class.method`` with ``init`` arguments) and a
*reference* of the same shape in the rubric's reference module, and generates
its arguments from specs in the rubric, seeded by the grader:

.. code-block:: yaml

    dims: {N: [2, 6], C: [3, 7]}          # drawn anew for each call, inclusive
    args:
      - tensor: {shape: [N, C], dtype: float64, low: -4, high: 4, requires_grad: true}
      - tensor: {shape: [N], dtype: int64, low: 0, high: C}   # integers: low inclusive, high exclusive
      - float: {low: 0.01, high: 0.5}
      - int: {low: 1, high: 5}                                # low inclusive, high exclusive
      - value: 0.1                                            # any literal
      - module: {layers: [[4, H], relu, [H, 3]], dtype: float32}   # an nn.Sequential with the grader's weights
      - tuple: [ ...more specs... ]                           # or list:

The arguments travel to the kernel as explicit data and are built there and in
the grader's process by the same code (``grader/probes/tensors.py``), so the
student's function and the reference see the same numbers. What they return
is encoded by that same code and compared here; every difference is reported
with the call, the argument shapes, the index, both values and the relative
error.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from grader.checks import Check, JudgeContext, article, raised_verdict, read_answer, register
from grader.probes import wire
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Verdict

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
    module = shared()
    return dict(module["encode_tensor_data"](value, module["_state"]))


def upstream_for(output: Any, seed: int) -> Any:
    """The seeded upstream gradient, the same numbers as the kernel's ``_upstream_for`` for the same shape."""
    import torch

    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(tuple(output.shape), generator=generator, dtype=torch.float64).to(output.dtype)


# ---------------------------------------------------------------- argument specs in the rubric -> wire data

_DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]
_SIZE = {"type": ["integer", "string"]}
_BOUND = {"type": ["number", "string"]}
ARG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "tensor": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "shape": {"type": "array", "items": _SIZE},
                "values": {"type": "array"},
                "dtype": {"enum": _DTYPES},
                "low": _BOUND,
                "high": _BOUND,
                "requires_grad": {"type": "boolean"},
            },
        },
        "float": {"type": "object", "additionalProperties": False, "properties": {"low": _BOUND, "high": _BOUND}},
        "int": {"type": "object", "additionalProperties": False, "properties": {"low": _BOUND, "high": _BOUND}},
        "value": {},
        "module": {
            "type": "object",
            "additionalProperties": False,
            "required": ["layers"],
            "properties": {
                "layers": {"type": "array", "minItems": 1, "items": {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 2, "maxItems": 2}]}},
                "dtype": {"enum": _DTYPES},
                "bias": {"type": "boolean"},
                "single": {"type": "boolean"},
            },
        },
        "list": {"type": "array", "items": {"type": "object"}},
        "tuple": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": False,
}
_TARGET_PROPERTIES: dict[str, Any] = {
    "function": {"type": "string"},
    "apply": {"type": "string"},
    "module": {"type": "string"},
    "method": {"type": "string", "pattern": r"^\w+\.\w+$"},
    "init": {"type": "array", "items": ARG_SCHEMA},
    "reference": {"type": "string"},
}
_CALLS_PROPERTIES: dict[str, Any] = {
    "args": {"type": "array", "items": ARG_SCHEMA},
    "kwargs": {"type": "object", "additionalProperties": ARG_SCHEMA},
    "dims": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}},
    "calls": {"type": "integer", "minimum": 1, "maximum": 20},
}
_TOLERANCES: dict[str, Any] = {"rtol": {"type": "number", "minimum": 0}, "atol": {"type": "number", "minimum": 0}}
_TARGET_KEYS = ("function", "apply", "module", "method")


def draw_dims(dims: dict[str, list[int]], rng: random.Random) -> dict[str, int]:
    return {name: rng.randint(low, high) for name, (low, high) in sorted(dims.items())}


def generate(arg: dict[str, Any], rng: random.Random, dims: dict[str, int]) -> dict[str, Any]:
    """The wire spec (explicit data) for one rubric argument spec."""
    kind, body = next(iter(arg.items()))
    if kind == "tensor":
        return {"tensor": _tensor_data(body, rng, dims)}
    if kind == "float":
        return {"number": rng.uniform(_size(body.get("low", -1.0), dims), _size(body.get("high", 1.0), dims))}
    if kind == "int":
        return {"int": rng.randrange(int(_size(body.get("low", 0), dims)), int(_size(body.get("high", 10), dims)))}
    if kind == "value":
        return literal(body)
    if kind == "module":
        return {"module": _module_data(body, rng, dims)}
    return {kind: [generate(item, rng, dims) for item in body]}


def literal(value: Any) -> dict[str, Any]:
    """The wire spec of a literal YAML value."""
    if value is None:
        return {"none": True}
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, float):
        return {"number": value}
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, list):
        return {"list": [literal(item) for item in value]}
    if isinstance(value, dict):
        return {"dict": {str(k): literal(v) for k, v in value.items()}}
    raise ValueError(f"not a literal: {value!r}")


def _size(value: Any, dims: dict[str, int]) -> float:
    return float(dims[value]) if isinstance(value, str) else float(value)


def _tensor_data(body: dict[str, Any], rng: random.Random, dims: dict[str, int]) -> dict[str, Any]:
    dtype = body.get("dtype", "float32")
    if "values" in body:
        shape, flat = _flatten(body["values"])
    else:
        shape = [int(_size(size, dims)) for size in body.get("shape", [])]
        count = math.prod(shape)
        low, high = _size(body.get("low", -1.0), dims), _size(body.get("high", 1.0), dims)
        if dtype.startswith(("int", "uint")):
            flat = [rng.randrange(int(low), int(high)) for _ in range(count)]
        elif dtype == "bool":
            flat = [rng.random() < 0.5 for _ in range(count)]
        else:
            flat = [rng.uniform(low, high) for _ in range(count)]
    return {"shape": shape, "dtype": dtype, "values": flat, "requires_grad": bool(body.get("requires_grad", False))}


def _flatten(values: Any) -> tuple[list[int], list[Any]]:
    if not isinstance(values, list):
        return [], [values]
    if not values:
        return [0], []
    parts = [_flatten(item) for item in values]
    return [len(values), *parts[0][0]], [x for _, flat in parts for x in flat]


def _module_data(body: dict[str, Any], rng: random.Random, dims: dict[str, int]) -> dict[str, Any]:
    layers: list[dict[str, Any]] = []
    for layer in body["layers"]:
        if isinstance(layer, str):
            layers.append({"activation": layer})
            continue
        fan_in, fan_out = (int(_size(size, dims)) for size in layer)
        bound = 1 / math.sqrt(fan_in)
        weight = [[rng.uniform(-bound, bound) for _ in range(fan_in)] for _ in range(fan_out)]
        bias = [rng.uniform(-bound, bound) for _ in range(fan_out)] if body.get("bias", True) else None
        layers.append({"linear": [weight, bias]})
    return {"layers": layers, "dtype": body.get("dtype", "float32"), "single": bool(body.get("single", False))}


def describe_args(specs: Sequence[dict[str, Any]]) -> str:
    """The arguments of a call in a student's words: shapes and dtypes, not values."""
    return ", ".join(_describe(spec) for spec in specs)


def _describe(spec: dict[str, Any]) -> str:
    kind, body = next(iter(spec.items()))
    if kind == "tensor":
        return f"{article(str(body['dtype']))} tensor of shape {tuple(body['shape'])}"
    if kind == "module":
        if body.get("single") and len(body["layers"]) == 1:
            return "an nn.Linear" if "linear" in body["layers"][0] else f"an nn.{body['layers'][0]['activation']} layer"
        return f"an nn.Sequential of {len(body['layers'])} layer{'s' if len(body['layers']) != 1 else ''}"
    if kind in ("number", "int", "bool", "str"):
        return repr(body)
    if kind == "none":
        return "None"
    if kind in ("list", "tuple"):
        return f"a {kind} of {len(body)}"
    return kind


# ---------------------------------------------------------------- comparing encoded values


def differences(got: Any, want: Any, rtol: float, atol: float, where: str = "the result", strict: bool = False,
                check_dtype: bool = False) -> list[str]:
    """Where an encoded value differs from the expected one, each place in a sentence ([] when they agree)."""
    got_kind, want_kind = _kind(got), _kind(want)
    if not strict and {got_kind, want_kind} <= {"number", "tensor"} and _is_scalar(got) and _is_scalar(want):
        return _number_difference(_scalar(got), _scalar(want), rtol, atol, where)
    if not strict and {got_kind, want_kind} == {"list", "tuple"}:
        got_kind = want_kind
    if got_kind != want_kind:
        return [f"{where} is {_what(got)}, expected {_what(want)}"]
    if got_kind == "tensor":
        return _tensor_differences(got["tensor"], want["tensor"], rtol, atol, where, check_dtype)
    if got_kind == "number":
        return _number_difference(got["number"], want["number"], rtol, atol, where)
    if got_kind in ("list", "tuple"):
        return _sequence_differences(got, want, got_kind, rtol, atol, where, strict, check_dtype)
    if got_kind == "dict":
        return _dict_differences(dict(got["dict"]), dict(want["dict"]), rtol, atol, where, strict, check_dtype)
    if got_kind == "module":
        return _module_differences(got["module"], want["module"], rtol, atol, where)
    return [] if got == want else [f"{where} is {_what(got)}, expected {_what(want)}"]


def _kind(value: Any) -> str:
    kind = next(iter(value), "other") if isinstance(value, dict) and value else "other"
    return "nonfinite" if kind == "number" and type(value["number"]) is str else kind  # nan and infinities compare as words


def _is_scalar(value: Any) -> bool:
    return "number" in value or ("tensor" in value and value["tensor"].get("shape") == [] and len(value["tensor"].get("values", [])) == 1)


def _scalar(value: Any) -> float:
    number = wire.decode_float(value["number"] if "number" in value else value["tensor"]["values"][0])
    return number if math.isfinite(number) else math.nan  # any non-finite scalar is reported as nan (the messages' wording)


def _floats(values: Any) -> list[float]:
    return [wire.decode_float(value) for value in values or []]


def _what(value: Any) -> str:
    kind = _kind(value)
    if kind == "tensor":
        return f"a tensor of shape {tuple(value['tensor'].get('shape', ()))}"
    if kind == "number":
        return f"the number {value['number']:g}"
    if kind in ("list", "tuple", "dict"):
        return f"a {kind} of {value.get('length', len(value[kind]))}"
    if kind == "none":
        return "None"
    if kind == "bool":
        return str(value["bool"])
    if kind == "str":
        return f"the string {value['str'][:60]!r}"
    if kind == "nonfinite":
        return str(value["number"])
    if kind == "module":
        return article(str(value["module"].get("type", "module")))
    if kind == "other":
        return article(str(value.get("other", "object"))) if isinstance(value, dict) else "nothing"
    return kind


def _number_difference(got: float, want: float, rtol: float, atol: float, where: str) -> list[str]:
    if _close(got, want, rtol, atol):
        return []
    return [f"{where} is {got:.6g}, expected {want:.6g} ({_relative(got, want)})"]


def _close(got: float, want: float, rtol: float, atol: float) -> bool:
    if not (math.isfinite(got) and math.isfinite(want)):
        return False
    return abs(got - want) <= atol + rtol * abs(want)


def _close_entry(got: float, want: float, rtol: float, atol: float) -> bool:
    """Two tensor entries agree: close, or both not finite (NaN and infinities are not told apart here)."""
    if not (math.isfinite(got) and math.isfinite(want)):
        return not (math.isfinite(got) or math.isfinite(want))
    return _close(got, want, rtol, atol)


def _relative(got: float, want: float) -> str:
    if not (math.isfinite(got) and math.isfinite(want)):
        return "not a finite number"
    scale = abs(want) if want else 1.0
    return f"relative error {abs(got - want) / scale:.1e}"


def _tensor_differences(got: dict[str, Any], want: dict[str, Any], rtol: float, atol: float, where: str, check_dtype: bool) -> list[str]:
    if got.get("shape") != want.get("shape"):
        return [f"{where} has shape {tuple(got.get('shape') or ())}, expected {tuple(want.get('shape') or ())}"]
    if check_dtype and got.get("dtype") != want.get("dtype"):
        return [f"{where} has dtype {got.get('dtype')}, expected {want.get('dtype')}"]
    got_values, want_values = _floats(got.get("values")), _floats(want.get("values"))
    wrong = [i for i, (g, w) in enumerate(zip(got_values, want_values, strict=False)) if not _close_entry(g, w, rtol, atol)]
    if not wrong:
        return []
    shape = want.get("shape") or []
    worst = max(wrong, key=lambda i: _error_size(got_values[i], want_values[i]))
    g, w = got_values[worst], want_values[worst]
    shown_g = f"{g:.6g}" if math.isfinite(g) else "not a finite number"
    shown_w = f"{w:.6g}" if math.isfinite(w) else "not a finite number"
    detail = _relative(g, w)
    return [
        f"{where} differs at {len(wrong)} of {len(want_values)} entries; the largest difference is at index "
        f"{_index(worst, shape)}: {shown_g}, expected {shown_w} ({detail})"
    ]


def _error_size(got: float, want: float) -> float:
    if not (math.isfinite(got) and math.isfinite(want)):
        return math.inf
    return abs(got - want) / (abs(want) or 1.0)


def _index(flat: int, shape: Sequence[int]) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat % size if size else 0)
        flat //= size if size else 1
    return tuple(reversed(index))


def _sequence_differences(got: Any, want: Any, kind: str, rtol: float, atol: float, where: str, strict: bool, check_dtype: bool) -> list[str]:
    got_items, want_items = got[next(iter(got))], want[kind]
    if got.get("length", len(got_items)) != want.get("length", len(want_items)):
        return [f"{where} has {got.get('length', len(got_items))} items, expected {want.get('length', len(want_items))}"]
    found = []
    for i, (g, w) in enumerate(zip(got_items, want_items, strict=False)):
        found += differences(g, w, rtol, atol, f"{where}[{i}]", strict, check_dtype)
    return found


def _dict_differences(got: dict[str, Any], want: dict[str, Any], rtol: float, atol: float, where: str, strict: bool, check_dtype: bool) -> list[str]:
    missing = [key for key in want if key not in got]
    if missing:
        return [f"{where} has no key {missing[0]!r}"]
    found = []
    for key, w in want.items():
        found += differences(got[key], w, rtol, atol, f"{where}[{key!r}]", strict, check_dtype)
    return found


def _module_differences(got: dict[str, Any], want: dict[str, Any], rtol: float, atol: float, where: str) -> list[str]:
    got_params, want_params = dict(got.get("parameters", [])), dict(want.get("parameters", []))
    if set(got_params) != set(want_params):
        return [f"{where} has parameters {sorted(got_params)}, expected {sorted(want_params)}"]
    found = []
    for name, w in want_params.items():
        found += _tensor_differences(got_params[name], w, rtol, atol, f"{where}'s parameter {name}", False)
    return found


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
    for place, arg in _arg_places(params):
        problems += [(place, problem) for problem in _arg_problems(arg, params.get("dims", {}))]
    return problems


def _arg_places(params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    places = [(f"args[{i}]", arg) for i, arg in enumerate(params.get("args", []))]
    places += [(f"kwargs.{name}", arg) for name, arg in params.get("kwargs", {}).items()]
    places += [(f"init[{i}]", arg) for i, arg in enumerate(params.get("init", []))]
    for number, call in enumerate(params.get("calls_with", [])):
        places += [(f"calls_with[{number}].args[{i}]", arg) for i, arg in enumerate(call.get("args", []))]
    return places


def _arg_problems(arg: dict[str, Any], dims: dict[str, Any]) -> list[str]:
    import jsonschema

    errors = list(jsonschema.Draft202012Validator(ARG_SCHEMA).iter_errors(arg))
    if errors:
        return [errors[0].message[:200]]
    kind, body = next(iter(arg.items()))
    names = [v for v in _sizes(kind, body) if isinstance(v, str)]
    unknown = [n for n in names if n not in dims]
    if unknown:
        return [f"the size {unknown[0]!r} is not one of the dims ({', '.join(dims) or 'none declared'})"]
    if kind in ("list", "tuple"):
        return [p for item in body for p in _arg_problems(item, dims)]
    return []


def _sizes(kind: str, body: Any) -> list[Any]:
    if kind == "tensor":
        return [*body.get("shape", []), body.get("low"), body.get("high")]
    if kind in ("float", "int"):
        return [body.get("low"), body.get("high")]
    if kind == "module":
        return [size for layer in body["layers"] if isinstance(layer, list) for size in layer]
    return []


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
        dims = self.params.get("dims", {})
        init_dims = draw_dims(dims, rng)
        init = [generate(arg, rng, init_dims) for arg in self.params.get("init", [])]
        calls = []
        for _ in range(self.params.get("calls", 4)):
            drawn = draw_dims(dims, rng)
            args = [generate(arg, rng, drawn) for arg in self.params.get("args", [])]
            kwargs = {name: generate(arg, rng, drawn) for name, arg in self.params.get("kwargs", {}).items()}
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
        described += [f"{name}={_describe(arg)}" for name, arg in call.get("kwargs", {}).items()]
        return f"`{_target_name(self.params)}` called with {', '.join(described) or 'no arguments'}"

    def _tolerances(self) -> tuple[float, float]:
        return float(self.params.get("rtol", 1e-5)), float(self.params.get("atol", 1e-8))

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
    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **_TARGET_PROPERTIES, **_CALLS_PROPERTIES, **_TOLERANCES,
            "compare_after": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "compare_output": {"type": "boolean"},
            "forbid_autograd": {"type": "boolean"},
            "strict_types": {"type": "boolean"},
            "check_dtype": {"type": "boolean"},
        },
    }

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        calls, init = self._calls(rng)
        args: dict[str, Any] = {"target": self._target(init), "calls": calls}
        if self.params.get("compare_after"):
            args["after"] = True
        if self.params.get("forbid_autograd"):
            args["forbid_autograd"] = True
        return [ProbeCall("call_target", args)]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        init, (rtol, atol) = calls[0].args["target"].get("init", []), self._tolerances()

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
        strict, dtype = bool(self.params.get("strict_types", False)), bool(self.params.get("check_dtype", False))
        found = []
        if self.params.get("compare_output", True):
            found += differences(record.get("value"), expected["value"], rtol, atol, "the result", strict, dtype)
        for index in self.params.get("compare_after", []):
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
    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **_TARGET_PROPERTIES, **_CALLS_PROPERTIES, **_TOLERANCES,
            "wrt": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "params_of": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        },
    }

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        calls, init = self._calls(rng)
        grad = {"wrt": list(self.params.get("wrt", [])), "params_of": list(self.params.get("params_of", [])), "seed": rng.randrange(2**31)}
        return [ProbeCall("call_target", {"target": self._target(init), "calls": calls, "grad": grad})]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        sent, (rtol, atol) = calls[0].args, self._tolerances()

        def problems_of(call: dict[str, Any], record: dict[str, Any]) -> list[str]:
            return self._grad_problems(record.get("grad") or {}, self._expected_grads(call, sent, ctx), rtol, atol)

        return self._judge_calls(calls, answers, ctx, problems_of, "gradients match the reference")

    def _expected_grads(self, call: dict[str, Any], sent: dict[str, Any], ctx: JudgeContext) -> dict[str, Any]:
        import torch

        fn = _reference_callable(self.params, ctx, sent["target"].get("init", []))
        args = [build(arg) for arg in call["args"]]
        output = fn(*args, **{name: build(arg) for name, arg in call.get("kwargs", {}).items()})
        names, inputs = [], []
        for index in sent["grad"]["wrt"]:
            names.append(str(index))
            inputs.append(args[index])
        for index in sent["grad"]["params_of"]:
            for name, param in args[index].named_parameters():
                names.append(f"{index}.{name}")
                inputs.append(param)
        grads = torch.autograd.grad(output, inputs, upstream_for(output, sent["grad"]["seed"]), allow_unused=True)
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
            found += _tensor_differences(got[name], want, rtol, atol, f"the gradient with respect to {label}", False)
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
    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **_TARGET_PROPERTIES, **_CALLS_PROPERTIES, **_TOLERANCES,
            "directions": {"type": "integer", "minimum": 1, "maximum": 8},
            "eps": {"type": "number", "exclusiveMinimum": 0},
        },
    }

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return [("reference", params["reference"])] if "reference" in params else []

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        calls, init = self._calls(rng)
        args = {"target": self._target(init), "calls": calls, "directions": int(self.params.get("directions", 3)),
                "eps": float(self.params.get("eps", 1e-6)), "seed": rng.randrange(2**31)}
        return [ProbeCall("gradient_check", args)]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        rtol, atol = float(self.params.get("rtol", 1e-4)), float(self.params.get("atol", 1e-6))

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
        for analytic_data, numeric_data in zip(record.get("analytic", []), record.get("numeric", []), strict=False):
            analytic, numeric = wire.decode_float(analytic_data), wire.decode_float(numeric_data)
            if not (math.isfinite(analytic) and math.isfinite(numeric)):
                return "the backward or the forward gave a number that is not finite"
            if not _close(analytic, numeric, rtol, atol):
                return (f"along a random direction the backward gives {analytic:.6g} but differences of the forward give "
                        f"{numeric:.6g} ({_relative(analytic, numeric)}): the backward does not compute this forward's gradient")
        return ""


@register
class GlobalValues(Check):
    """Global names hold the reference module's values of the same names (numbers, tensors, lists, dicts).

    ``names`` is a list (the same name in both), or a mapping from the
    student's name to the reference's. Credit is the share of names that match.
    """

    kind = "global_values"
    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["names"],
        "properties": {
            "names": {"anyOf": [{"type": "array", "minItems": 1, "items": {"type": "string"}},
                                {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}}]},
            "strict_types": {"type": "boolean"},
            "check_dtype": {"type": "boolean"},
            **_TOLERANCES,
        },
    }

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
        rtol, atol = float(self.params.get("rtol", 1e-5)), float(self.params.get("atol", 1e-8))
        strict, dtype = bool(self.params.get("strict_types", False)), bool(self.params.get("check_dtype", False))
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
    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "module": {"type": "string"},
            "function": {"type": "string"},
            "reference": {"type": "string"},
            "args": {"type": "array", "items": ARG_SCHEMA},
            "dims": _CALLS_PROPERTIES["dims"],
            "inputs": {"type": "array", "items": {"type": "array", "items": {"type": "integer", "minimum": 0}}},
            "dtype": {"enum": _DTYPES},
            "exact_layers": {"type": "boolean"},
            "expect": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "layers": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
                    "parameters": {"type": "integer", "minimum": 0},
                    "outputs": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
                },
            },
        },
    }

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
        dims = draw_dims(self.params.get("dims", {}), rng)
        args = [generate(arg, rng, dims) for arg in self.params.get("args", [])]
        request = {"target": target, "args": args, "inputs": [list(s) for s in self.params.get("inputs", [])],
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
            extra = [f"{got[n]} {n} (expected none)" for n in sorted(got) if n not in expected["layers"]] if self.params.get("exact_layers") else []
            if wrong or extra:
                problems.append("it has " + ", ".join(wrong + extra))
        if "parameters" in expected and value.get("parameters") != expected["parameters"]:
            problems.append(f"it has {value.get('parameters')} parameters, expected {expected['parameters']}")
        if "outputs" in expected:
            for shape, got_output, want in zip(self.params.get("inputs", []), value.get("outputs", []), expected["outputs"], strict=False):
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
    params_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["exception", "calls_with"],
        "properties": {
            **{k: v for k, v in _TARGET_PROPERTIES.items()},
            "dims": _CALLS_PROPERTIES["dims"],
            "exception": {"type": "string", "pattern": r"^\w+$"},
            "message": {"type": "string"},
            "calls_with": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False,
                "properties": {"args": {"type": "array", "items": ARG_SCHEMA}, "kwargs": {"type": "object", "additionalProperties": ARG_SCHEMA}},
            }},
        },
    }

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
        dims = draw_dims(self.params.get("dims", {}), rng)
        calls = [{"args": [generate(arg, rng, dims) for arg in call.get("args", [])],
                  "kwargs": {k: generate(arg, rng, dims) for k, arg in call.get("kwargs", {}).items()}}
                 for call in self.params["calls_with"]]
        init = [generate(arg, rng, dims) for arg in self.params.get("init", [])]
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
                problems.append(f"{text} returned {_what(returned)} instead of raising {wanted}")
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
