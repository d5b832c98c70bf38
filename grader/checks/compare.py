"""Comparing values: the one "close enough" of every check kind, and encoded values compared with a sentence per difference.

:func:`close` is the tolerance test all kinds use for a number against the
expected one. :func:`differences` walks two values as the probe codec encodes
them (``{"tensor": ...}``, ``{"number": x}``, lists, tuples, dicts, modules)
and says where they differ, each place in a sentence a student can act on:
the index, both values and the relative error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from grader.checks import article
from grader.probes import wire
from grader.results import Failure
from grader.shorten import shorten


def close(got: float, expected: float, rtol: float, atol: float) -> bool:
    """Whether ``got`` is close enough to ``expected``: ``|got - expected| <= atol + rtol * |expected|``; never NaN or infinity.

    The one tolerance test of every check kind (``rtol`` and ``atol`` are the
    parameters :func:`grader.checks.schema.tolerance_params` declares).
    """
    if not (math.isfinite(got) and math.isfinite(expected)):
        return False
    return abs(got - expected) <= atol + rtol * abs(expected)


class Difference(NamedTuple):
    """One place where a value differs from the expected one: how (a :class:`Failure`) and the sentence that says where."""

    failure: Failure | None  # None: a way of failing no Failure names (a name not defined)
    text: str


def differences(got: Any, want: Any, rtol: float, atol: float, where: str = "the result", strict: bool = False,
                check_dtype: bool = False) -> list[str]:
    """Where an encoded value differs from the expected one, each place in a sentence ([] when they agree)."""
    return [found.text for found in tagged_differences(got, want, rtol, atol, where, strict, check_dtype)]


def tagged_differences(got: Any, want: Any, rtol: float, atol: float, where: str = "the result", strict: bool = False,
                       check_dtype: bool = False) -> list[Difference]:
    """:func:`differences`, each with how it differs (wrong type, shape, dtype or values)."""
    got_kind, want_kind = _kind(got), _kind(want)
    if not strict and {got_kind, want_kind} <= {"number", "tensor"} and _is_scalar(got) and _is_scalar(want):
        return _number_difference(_scalar(got), _scalar(want), rtol, atol, where)
    if not strict and {got_kind, want_kind} == {"list", "tuple"}:
        got_kind = want_kind
    if got_kind != want_kind:
        return [Difference(Failure.WRONG_TYPE, f"{where} is {describe_value(got)}, expected {describe_value(want)}")]
    if got_kind == "tensor":
        return tensor_differences(got["tensor"], want["tensor"], rtol, atol, where, check_dtype)
    if got_kind == "number":
        return _number_difference(got["number"], want["number"], rtol, atol, where)
    if got_kind in ("list", "tuple"):
        return _sequence_differences(got, want, got_kind, rtol, atol, where, strict, check_dtype)
    if got_kind == "dict":
        return _dict_differences(dict(got["dict"]), dict(want["dict"]), rtol, atol, where, strict, check_dtype)
    if got_kind == "module":
        return _module_differences(got["module"], want["module"], rtol, atol, where)
    return [] if got == want else [Difference(Failure.WRONG_VALUES, f"{where} is {describe_value(got)}, expected {describe_value(want)}")]


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


def describe_value(value: Any) -> str:
    """An encoded value in a student's words: "a tensor of shape (2, 3)", "the number 1.5", "None"."""
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
        return f"the string {shorten(value['str'], 60)!r}"
    if kind == "nonfinite":
        return str(value["number"])
    if kind == "module":
        return article(str(value["module"].get("type", "module")))
    if kind == "other":
        return article(str(value.get("other", "object"))) if isinstance(value, dict) else "nothing"
    return kind


def _number_difference(got: float, want: float, rtol: float, atol: float, where: str) -> list[Difference]:
    if close(got, want, rtol, atol):
        return []
    return [Difference(Failure.WRONG_VALUES, f"{where} is {got:.6g}, expected {want:.6g} ({relative_error(got, want)})")]


def _entries_close(got: float, want: float, rtol: float, atol: float) -> bool:
    """Two tensor entries agree: :func:`close`, or both not finite (NaN and infinities are not told apart here)."""
    if not (math.isfinite(got) and math.isfinite(want)):
        return not (math.isfinite(got) or math.isfinite(want))
    return close(got, want, rtol, atol)


def relative_error(got: float, want: float) -> str:
    """How far ``got`` is from ``want``, relative to ``want`` (to 1 when it is 0), as "relative error 1.0e-03"."""
    if not (math.isfinite(got) and math.isfinite(want)):
        return "not a finite number"
    scale = abs(want) if want else 1.0
    return f"relative error {abs(got - want) / scale:.1e}"


def tensor_differences(got: dict[str, Any], want: dict[str, Any], rtol: float, atol: float, where: str,
                       check_dtype: bool) -> list[Difference]:
    """Where an encoded tensor (the ``tensor`` record) differs from the expected one: shape, dtype or the worst entry."""
    for name in ("shape", "dtype") if check_dtype else ("shape",):
        differs = tensor_property_difference(got, want, name, where)
        if differs is not None:
            return [differs]
    got_values, want_values = _floats(got.get("values")), _floats(want.get("values"))
    wrong = [i for i, (g, w) in enumerate(zip(got_values, want_values, strict=False)) if not _entries_close(g, w, rtol, atol)]
    if not wrong:
        return []
    shape = want.get("shape") or []
    worst = max(wrong, key=lambda i: _error_size(got_values[i], want_values[i]))
    g, w = got_values[worst], want_values[worst]
    shown_g = f"{g:.6g}" if math.isfinite(g) else "not a finite number"
    shown_w = f"{w:.6g}" if math.isfinite(w) else "not a finite number"
    detail = relative_error(g, w)
    return [Difference(
        Failure.WRONG_VALUES,
        f"{where} differs at {len(wrong)} of {len(want_values)} entries; the largest difference is at index "
        f"{_index(worst, shape)}: {shown_g}, expected {shown_w} ({detail})",
    )]


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


def _sequence_differences(got: Any, want: Any, kind: str, rtol: float, atol: float, where: str, strict: bool,
                          check_dtype: bool) -> list[Difference]:
    got_items, want_items = got[next(iter(got))], want[kind]
    if got.get("length", len(got_items)) != want.get("length", len(want_items)):
        return [Difference(Failure.WRONG_SHAPE,
                           f"{where} has {got.get('length', len(got_items))} items, expected {want.get('length', len(want_items))}")]
    found = []
    for i, (g, w) in enumerate(zip(got_items, want_items, strict=False)):
        found += tagged_differences(g, w, rtol, atol, f"{where}[{i}]", strict, check_dtype)
    return found


def _dict_differences(got: dict[str, Any], want: dict[str, Any], rtol: float, atol: float, where: str, strict: bool,
                      check_dtype: bool) -> list[Difference]:
    missing = [key for key in want if key not in got]
    if missing:
        return [Difference(Failure.WRONG_SHAPE, f"{where} has no key {missing[0]!r}")]
    found = []
    for key, w in want.items():
        found += tagged_differences(got[key], w, rtol, atol, f"{where}[{key!r}]", strict, check_dtype)
    return found


def _module_differences(got: dict[str, Any], want: dict[str, Any], rtol: float, atol: float, where: str) -> list[Difference]:
    got_params, want_params = dict(got.get("parameters", [])), dict(want.get("parameters", []))
    if set(got_params) != set(want_params):
        return [Difference(Failure.WRONG_SHAPE, f"{where} has parameters {sorted(got_params)}, expected {sorted(want_params)}")]
    found = []
    for name, w in want_params.items():
        found += tensor_differences(got_params[name], w, rtol, atol, f"{where}'s parameter {name}", False)
    return found


# ---------------------------------------------------------------- properties of a value, without its values

PROPERTIES = ("type", "shape", "dtype", "device", "requires_grad", "attached")


def tensor_property_difference(got: dict[str, Any], want: dict[str, Any], name: str, where: str) -> Difference | None:
    """How an encoded tensor differs from the expected one in property ``name`` (one of :data:`PROPERTIES`), or None."""
    if name == "type":
        if bool(got.get("numpy")) != bool(want.get("numpy")):
            words = {True: "a NumPy array", False: "a torch tensor"}
            return Difference(Failure.WRONG_TYPE, f"{where} is {words[bool(got.get('numpy'))]}, expected {words[bool(want.get('numpy'))]}")
        return None
    if name == "shape":
        if got.get("shape") != want.get("shape"):
            return Difference(Failure.WRONG_SHAPE, f"{where} has shape {tuple(got.get('shape') or ())}, expected {tuple(want.get('shape') or ())}")
        return None
    if name == "dtype":
        if got.get("dtype") != want.get("dtype"):
            return Difference(Failure.WRONG_DTYPE, f"{where} has dtype {got.get('dtype')}, expected {want.get('dtype')}")
        return None
    if name == "device":
        if got.get("device", "cpu") != want.get("device", "cpu"):
            return Difference(Failure.WRONG_TYPE, f"{where} is on device {got.get('device', 'cpu')}, expected {want.get('device', 'cpu')}")
        return None
    if name == "requires_grad":
        if bool(got.get("requires_grad")) != bool(want.get("requires_grad")):
            said = "requires grad, expected it not to" if got.get("requires_grad") else "does not require grad, expected it to"
            return Difference(Failure.NOT_ATTACHED, f"{where} {said}")
        return None
    attached, wanted = got.get("grad_fn") is not None, want.get("grad_fn") is not None
    if attached == wanted:
        return None
    if wanted:
        return Difference(Failure.NOT_ATTACHED, f"{where} is not attached to the autograd graph (it has no grad_fn), expected it to be "
                                                "computed from the inputs with torch operations")
    return Difference(Failure.NOT_ATTACHED, f"{where} is attached to the autograd graph (grad_fn {got.get('grad_fn')}), expected a "
                                            "detached result")


def property_differences(got: Any, want: Any, properties: Sequence[str], where: str = "the result", strict: bool = False) -> list[Difference]:
    """Where an encoded value differs from the expected one in the ``properties`` named, its values not compared.

    Containers are walked item by item (their lengths and keys must agree); a
    tensor's properties are compared where a tensor is expected. With ``type``
    among them (or ``strict``) a list differs from a tuple and a number from a
    0-d tensor; a value of another kind is a wrong type whatever is asked.
    """
    strict = strict or "type" in properties
    got_kind, want_kind = _kind(got), _kind(want)
    if not strict and {got_kind, want_kind} == {"list", "tuple"}:
        got_kind = want_kind
    if {got_kind, want_kind} == {"number", "nonfinite"}:
        return []  # numbers both: their values are not asked
    if not strict and {got_kind, want_kind} <= {"number", "nonfinite", "tensor"} and got_kind != want_kind and _is_scalar(got) \
            and _is_scalar(want):
        return []  # a 0-d tensor for a number (or the reverse) is no wrong type unless types are asked
    if got_kind != want_kind:
        return [Difference(Failure.WRONG_TYPE, f"{where} is {describe_value(got)}, expected {describe_value(want)}")]
    if got_kind == "tensor":
        found = (tensor_property_difference(got["tensor"], want["tensor"], name, where) for name in PROPERTIES if name in properties)
        return [difference for difference in found if difference is not None]
    if got_kind in ("list", "tuple"):
        got_items, want_items = got[next(iter(got))], want[want_kind]
        if got.get("length", len(got_items)) != want.get("length", len(want_items)):
            return [Difference(Failure.WRONG_SHAPE,
                               f"{where} has {got.get('length', len(got_items))} items, expected {want.get('length', len(want_items))}")]
        return [d for i, (g, w) in enumerate(zip(got_items, want_items, strict=False))
                for d in property_differences(g, w, properties, f"{where}[{i}]", strict)]
    if got_kind == "dict":
        got_dict, want_dict = dict(got["dict"]), dict(want["dict"])
        missing = [key for key in want_dict if key not in got_dict]
        if missing:
            return [Difference(Failure.WRONG_SHAPE, f"{where} has no key {missing[0]!r}")]
        return [d for key, w in want_dict.items() for d in property_differences(got_dict[key], w, properties, f"{where}[{key!r}]", strict)]
    if got_kind == "other" and "type" in properties and got != want:
        return [Difference(Failure.WRONG_TYPE, f"{where} is {describe_value(got)}, expected {describe_value(want)}")]
    return []
