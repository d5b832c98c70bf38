"""The parameter schemas of check kinds, written with one helper so that every parameter documents itself.

A kind's ``params_schema`` is the JSON schema (draft 2020-12) the rubric
loader validates a check's ``params`` against. Built with :func:`kind_params`
and :func:`param`, it is also the kind's reference: for each parameter its
``type``, its ``default`` (the value a judge uses when the rubric leaves it
out, read through :meth:`grader.checks.Check.param`), a one-line
``description`` and, where the values are a closed set, an ``enum``; for the
kind, a minimal example of its params (``examples``). A reference page and
``grade kinds NAME`` are generated from these, so they cannot drift from what
the loader accepts.

.. code-block:: python

    params_schema = kind_params(
        {
            "function": param("string", "the student's function to call"),
            "points": param("integer", "random points to call it at", default=6, minimum=1),
            **tolerance_params(rtol=1e-6, atol=1e-6),
        },
        required=["function"],
        example={"function": "manual_backprop"},
    )
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_NO_DEFAULT: Any = object()


def param(
    type_: str | Sequence[str] | None,
    description: str,
    *,
    default: Any = _NO_DEFAULT,
    enum: Sequence[Any] | None = None,
    **constraints: Any,
) -> dict[str, Any]:
    """The schema of one parameter: its JSON type (None for one given by ``anyOf``), a one-line description, its default and allowed values.

    ``constraints`` are further JSON-schema keys (``minimum``, ``items``,
    ``pattern``...), written as JSON schema spells them.
    """
    if not description.strip() or "\n" in description:
        raise ValueError(f"a parameter's description is one line of text, got {description!r}")
    schema: dict[str, Any] = {}
    if type_ is not None:
        schema["type"] = type_ if isinstance(type_, str) else list(type_)
    schema["description"] = description
    if enum is not None:
        schema["enum"] = list(enum)
    if default is not _NO_DEFAULT:
        schema["default"] = default
    schema.update(constraints)
    return schema


def fields(properties: Mapping[str, dict[str, Any]], required: Sequence[str] = ()) -> dict[str, Any]:
    """The schema keys of a mapping with exactly these fields (no others): for a kind's params or a nested object."""
    undocumented = [name for name, schema in properties.items() if "description" not in schema]
    if undocumented:
        raise ValueError(f"parameters without a description: {', '.join(undocumented)} (build them with param())")
    unknown = [name for name in required if name not in properties]
    if unknown:
        raise ValueError(f"required parameters that are not declared: {', '.join(unknown)}")
    keys: dict[str, Any] = {"additionalProperties": False, "properties": dict(properties)}
    if required:
        keys["required"] = list(required)
    return keys


def kind_params(properties: Mapping[str, dict[str, Any]], *, required: Sequence[str] = (), example: dict[str, Any]) -> dict[str, Any]:
    """A check kind's ``params_schema``: these parameters and no others, and a minimal ``example`` of its params."""
    return {"type": "object", **fields(properties, required), "examples": [example]}


def tolerance_params(*, rtol: float, atol: float) -> dict[str, dict[str, Any]]:
    """The ``rtol`` and ``atol`` parameters with this kind's defaults (see :func:`grader.checks.compare.close`)."""
    return {
        "rtol": param("number", "relative tolerance: a value passes when |got - expected| <= atol + rtol * |expected|",
                      default=rtol, minimum=0),
        "atol": param("number", "absolute tolerance (see rtol)", default=atol, minimum=0),
    }
