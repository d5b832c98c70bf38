"""The rubric's argument-spec language: how a rubric describes the arguments a tensor check calls the student's code with.

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

:func:`generate` turns a spec into *wire data*: explicit numbers drawn from
the grader's seeded generator, which the kernel and the grader's process build
into the same objects (``grader/probes/tensors.py``). :func:`arg_problems`
finds what the schema cannot (a size naming no declared dim) when the rubric
loads; :func:`describe_args` words a call's arguments for a student.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from grader.checks import article
from grader.checks.schema import fields, param
from grader.shorten import shorten

DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]
_SIZE = {"type": ["integer", "string"]}


def _bounds(low: float, high: float) -> dict[str, Any]:
    return {
        "low": param(["number", "string"], "the least value drawn (a number or a dim's name)", default=low),
        "high": param(["number", "string"], "the greatest value drawn (a number or a dim's name; excluded for integers)", default=high),
    }


ARG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    **fields({
        "tensor": param("object", "a tensor of random or given values", **fields({
            "shape": param("array", "its sizes: numbers or names of dims", default=[], items=_SIZE),
            "values": param("array", "its values as nested lists (instead of shape and random values)"),
            "dtype": param("string", "its torch dtype", default="float32", enum=DTYPES),
            **_bounds(-1.0, 1.0),
            "requires_grad": param("boolean", "whether it requires grad", default=False),
        })),
        "float": param("object", "a random float, uniform in [low, high]", **fields(_bounds(-1.0, 1.0))),
        "int": param("object", "a random integer in [low, high)", **fields(_bounds(0, 10))),
        "value": param(None, "any YAML literal, passed as it is"),
        "module": param("object", "an nn.Sequential of Linear layers and activations, with the grader's random weights", **fields({
            "layers": param("array", "[fan_in, fan_out] for an nn.Linear, or an activation's name", minItems=1,
                            items={"anyOf": [{"type": "string"}, {"type": "array", "minItems": 2, "maxItems": 2}]}),
            "dtype": param("string", "the dtype of its parameters", default="float32", enum=DTYPES),
            "bias": param("boolean", "whether the Linear layers have a bias", default=True),
            "single": param("boolean", "pass the one layer itself, not a Sequential of it", default=False),
        }, required=["layers"])),
        "list": param("array", "a list of argument specs", items={"type": "object"}),
        "tuple": param("array", "a tuple of argument specs", items={"type": "object"}),
    }),
}


def draw_dims(dims: dict[str, list[int]], rng: random.Random) -> dict[str, int]:
    """A size for each dim, drawn from its inclusive range."""
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
    return ", ".join(describe_arg(spec) for spec in specs)


def describe_arg(spec: dict[str, Any]) -> str:
    """One wire argument in a student's words."""
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

def arg_places(params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every argument spec in a check's params, with its place (``args[0]``, ``calls_with[1].kwargs.x``...)."""
    places = [(f"args[{i}]", arg) for i, arg in enumerate(params.get("args", []))]
    places += [(f"kwargs.{name}", arg) for name, arg in params.get("kwargs", {}).items()]
    places += [(f"init[{i}]", arg) for i, arg in enumerate(params.get("init", []))]
    for number, call in enumerate(params.get("calls_with", [])):
        places += [(f"calls_with[{number}].args[{i}]", arg) for i, arg in enumerate(call.get("args", []))]
    return places


def arg_problems(arg: dict[str, Any], dims: dict[str, Any]) -> list[str]:
    """What is wrong with one argument spec, given the declared ``dims`` ([] when nothing)."""
    import jsonschema

    errors = list(jsonschema.Draft202012Validator(ARG_SCHEMA).iter_errors(arg))
    if errors:
        return [shorten(errors[0].message, 200)]
    kind, body = next(iter(arg.items()))
    names = [v for v in _sizes(kind, body) if isinstance(v, str)]
    unknown = [n for n in names if n not in dims]
    if unknown:
        return [f"the size {unknown[0]!r} is not one of the dims ({', '.join(dims) or 'none declared'})"]
    if kind in ("list", "tuple"):
        return [p for item in body for p in arg_problems(item, dims)]
    return []


def _sizes(kind: str, body: Any) -> list[Any]:
    if kind == "tensor":
        return [*body.get("shape", []), body.get("low"), body.get("high")]
    if kind in ("float", "int"):
        return [body.get("low"), body.get("high")]
    if kind == "module":
        return [size for layer in body["layers"] if isinstance(layer, list) for size in layer]
    return []
