"""Probes of global values: numbers, strings, and whether an exercise's answers are still the template's stubs."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the kernel runs this module in the runtime's namespace: every name is already there
    from grader.probes.runtime import *  # noqa: F403
    from grader.probes.runtime import _state


@probe(
    request=request_of({"names": {"type": "array", "items": NAME}}, required=["names"]),
    answer={"type": "object", "additionalProperties": NUMBER},
)
def numbers(names):
    """The values of global names, encoded as numbers (missing names say so)."""
    namespace = _state["ns"]
    return {name: (encode_number(namespace[name]) if name in namespace else {"missing": True}) for name in names}


@probe(
    request=request_of({"name": NAME}, required=["name"]),
    answer=one_of_records(MISSING, REJECTED, record({"text": {"type": "string"}})),
)
def text_value(name):
    """A global string (capped), or why it is not one."""
    value, missing = lookup_or_missing(name)
    if missing is not None:
        return missing
    if type(value) is not str:
        return {"rejected": "None" if value is None else type_name(value)}
    return {"text": value[:20000]}


@probe(
    request=request_of({"answers": {"type": "array", "items": NAME}}, required=["answers"]),
    answer={"type": "object", "additionalProperties": {"enum": ["missing", "none", "stub", "foreign", "defined"]}},
)
def answer_states(answers):
    """Whether each of an exercise's answers is still the template's stub.

    ``answers`` are global names or ``Class.attribute`` specs. Each gets
    ``missing``, ``none`` (the value is None), ``stub`` (a function whose body is
    only a stub), ``foreign`` (a function imported from a maths library, not
    written by the submission) or ``defined``.
    """
    return {spec: _answer_state(spec) for spec in answers}


def _answer_state(spec):
    name, _, attribute = spec.partition(".")
    namespace = _state["ns"]
    if name not in namespace:
        return "missing"
    value = namespace[name]
    if attribute:
        if value is None:
            return "missing"
        value = class_attribute(value, attribute)
        if value is None:
            return "missing"
    if value is None:
        return "none"
    if function_like(value):
        if not submission_function(value):
            return "foreign"
        if is_stub(value):
            return "stub"
    return "defined"
