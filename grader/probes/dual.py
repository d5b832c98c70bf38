"""Probes of a forward-mode ``DualNumber`` class extended with sin and cos: expression trees evaluated on it."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the kernel runs this module in the runtime's namespace: every name is already there
    from grader.probes.runtime import *  # noqa: F403
    from grader.probes.runtime import _state


_DUAL_FORMS = (("methods", "sin", "cos"), ("functions", "sin", "cos"), ("functions", "dual_sin", "dual_cos"))


def _dual_form(dual_cls):
    """The accepted sin/cos form, following the contract's order of preference.

    Only functions the submission defines count: a top-level ``sin`` imported
    from math, numpy or torch is not an answer and does not hide ``dual_sin``.
    A form whose functions are still stubs (or raise NotImplementedError) gives
    way to the next one, so a student who wrote top-level functions and left
    the template's stub methods in place is graded on the functions.
    """
    found = []
    for form, sin_name, cos_name in _DUAL_FORMS:
        if form == "methods":
            sin_fn, cos_fn = class_attribute(dual_cls, sin_name), class_attribute(dual_cls, cos_name)
            calls = (lambda x: x.sin(), lambda x: x.cos())
        else:
            sin_fn, cos_fn = _state["ns"].get(sin_name), _state["ns"].get(cos_name)
            calls = (sin_fn, cos_fn)
        if submission_function(sin_fn) and submission_function(cos_fn):
            found.append((form, sin_name, *calls, is_stub(sin_fn) and is_stub(cos_fn)))
    for form, name, sin_fn, cos_fn, stub in found:
        if stub:
            continue
        try:
            sin_fn(dual_cls(0.5, 1.0))
            cos_fn(dual_cls(0.5, 1.0))
        except NotImplementedError:
            continue
        except ProbeTimeout:
            raise
        except BaseException:  # noqa: BLE001 - a broken form is still the student's chosen form
            pass
        return form, name, sin_fn, cos_fn, False
    if found:
        form, name, sin_fn, cos_fn, _ = found[0]
        return form, name, sin_fn, cos_fn, True
    return None


def _dual_eval_tree(tree, x, dual_cls, sin_fn, cos_fn):
    if tree == "x":
        return x
    if type(tree) in (int, float):
        return tree
    op = tree[0]
    args = [_dual_eval_tree(arg, x, dual_cls, sin_fn, cos_fn) for arg in tree[1:]]
    if op == "add":
        return args[0] + args[1]
    if op == "mul":
        return args[0] * args[1]
    if op == "pow":
        return args[0] ** args[1]
    if op == "sin":
        return sin_fn(args[0])
    if op == "cos":
        return cos_fn(args[0])
    raise ValueError("unknown op " + repr(op))


def _encode_dual(result, dual_cls):
    if not _is_dual(type(result), dual_cls):
        return {"not_dual": type_name(result)}
    return {"value": encode_number(getattr(result, "value", None)), "deriv": encode_number(getattr(result, "deriv", None))}


def _is_dual(kind, dual_cls):
    """A DualNumber: the class itself, a subclass of it, or the lesson's class it was derived from."""
    if issubclass(kind, dual_cls):
        return True
    return kind in dual_cls.__mro__[1:] and getattr(kind, "__name__", "") == getattr(dual_cls, "__name__", "")


_EXPRESSION = {"type": ["string", "number", "array"]}
_DUAL_RESULT = one_of_records(
    record({"value": NUMBER, "deriv": NUMBER, "unchanged": {"type": "boolean"}}),
    record({"not_dual": {"type": "string"}, "unchanged": {"type": "boolean"}}, required=["not_dual"]),
    RAISED,
)


@probe(
    request=request_of(
        {
            "cases": {
                "type": "array",
                "items": record({"expr": _EXPRESSION, "x": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}}),
            },
            "class_name": NAME,
        },
        required=["cases"],
    ),
    answer=one_of_records(
        record({"not_class": {"type": "string"}}),
        record({"no_form": {"const": True}}),
        record({
            "form": {"enum": ["methods", "functions"]},
            "names": NAME,
            "stub": {"type": "boolean"},
            "results": {"type": "array", "items": _DUAL_RESULT},
        }),
    ),
)
def dual_eval(cases, class_name="DualNumber"):
    """Evaluate expression trees on the student's DualNumber at given (value, deriv) seeds.

    Each case also reports whether the seed DualNumber was left unchanged.
    """
    dual_cls = lookup(class_name)
    if not isinstance(dual_cls, type):
        return {"not_class": type_name(dual_cls)}
    form = _dual_form(dual_cls)
    if form is None:
        return {"no_form": True}
    form_name, fn_name, sin_fn, cos_fn, stub = form
    results = []
    for case in cases:
        value, deriv = case["x"]
        try:
            x = dual_cls(value, deriv)
            result = _dual_eval_tree(case["expr"], x, dual_cls, sin_fn, cos_fn)
            record = _encode_dual(result, dual_cls)
            record["unchanged"] = (
                _is_dual(type(x), dual_cls)
                and encode_number(getattr(x, "value", None)) == {"number": float(value)}
                and encode_number(getattr(x, "deriv", None)) == {"number": float(deriv)}
            )
        except ProbeTimeout:
            raise
        except NotImplementedError as exc:
            record = {"raised": error_record("call", exc), "not_implemented": True}
        except BaseException as exc:  # noqa: BLE001
            record = {"raised": error_record("call", exc)}
        results.append(record)
    return {"form": form_name, "names": fn_name, "stub": stub, "results": results}
