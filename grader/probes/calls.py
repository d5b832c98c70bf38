"""Probes that call a student function with numbers and read numbers back, optionally with autograd switched off."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the kernel runs this module in the runtime's namespace: every name is already there
    from grader.probes.runtime import *  # noqa: F403
    from grader.probes.runtime import _state


_NUMERIC_RESULT = one_of_records(
    record({"autograd": {"const": True}}),
    RAISED,
    record({"not_dict": {"type": "string"}}),
    record({"values": {"type": "object", "additionalProperties": NUMBER}}),
)


@probe(
    request=request_of(
        {
            "function": NAME,
            "args_list": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            "keys": {"type": "array", "items": NAME},
            "forbid_autograd": {"type": "boolean"},
        },
        required=["function", "args_list", "keys"],
    ),
    answer=one_of_records(NOT_CALLABLE, record({"results": {"type": "array", "items": _NUMERIC_RESULT}})),
)
def call_numeric(function, args_list, keys, forbid_autograd=False):
    """Call a global function at each argument tuple; encode the numbers under ``keys``.

    With ``forbid_autograd`` the autograd engine is replaced for the duration of
    each call, which catches ``Tensor.backward``, ``torch.autograd.grad`` and
    ``torch.func`` alike (they all end in the engine), however they were imported.
    """
    fn = lookup(function)
    if not callable(fn):
        return {"not_callable": type_name(fn)}
    results = []
    for args in args_list:
        results.append(_call_numeric_once(fn, args, keys, forbid_autograd))
    return {"results": results}


def _call_numeric_once(fn, args, keys, forbid_autograd):
    ok, returned = call_without_autograd(fn, *args) if forbid_autograd else call_student(fn, *args)
    if not ok:
        return returned
    if not issubclass(type(returned), dict):  # a dict subclass (OrderedDict, defaultdict) is a dict too
        return {"not_dict": type_name(returned)}
    has, get = _state["dict_has"], _state["dict_get"]  # dict's own methods: a subclass's overrides are not asked
    return {"values": {key: (encode_number(get(returned, key)) if has(returned, key) else {"missing": True}) for key in keys}}
