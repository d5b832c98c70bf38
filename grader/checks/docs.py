"""The check-kind reference, written from the kinds themselves: each kind's docstring and its ``params_schema``.

Nothing here is typed by hand, so the reference cannot drift from the code:
:func:`kind_markdown` turns one registered kind into a Markdown section (its
name, the first paragraph of its docstring, a table of its parameters and a
minimal rubric entry) and :func:`kinds_markdown` the whole page. The docs site
builds its check-kind page from :func:`kinds_markdown` (``docs/hooks.py``);
``grade kinds NAME`` can print :func:`kind_markdown`.

Only standard JSON Schema keys are read (``type``, ``default``,
``description``, ``enum``, ``items``, ``properties``, ``required``, ``anyOf``
and the usual bounds); a key a schema does not have is shown as "—".
"""

from __future__ import annotations

import inspect
import json
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any

import yaml

MISSING = "—"
# Nested parameters are listed as dotted rows (``exact_at_scale.rtol``, ``ideas[].label``) down to this depth;
# deeper objects are summarised by their keys, so that a shared spec (a tensor argument) does not fill the page.
MAX_DEPTH = 2
_BOUNDS = {"minimum": "≥ {}", "exclusiveMinimum": "> {}", "maximum": "≤ {}", "exclusiveMaximum": "< {}"}
_COUNTS = {"minItems": ("at least", "item"), "maxItems": ("at most", "item"), "minLength": ("at least", "character")}


def first_paragraph(doc: str | None) -> str:
    """The first paragraph of a docstring, on one line (the empty string when there is none)."""
    paragraph = inspect.cleandoc(doc or "").split("\n\n")[0]
    return " ".join(paragraph.split())


def type_text(schema: Mapping[str, Any]) -> str:
    """A schema's type in words: ``integer``, ``number or string``, ``array of string``; "—" when it says none."""
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        items = type_text(schema["items"])
        return "array" if items == MISSING else f"array of {items}"
    extra = schema.get("additionalProperties")
    if kind == "object" and isinstance(extra, Mapping) and type_text(extra) != MISSING:
        return f"object of {type_text(extra)}"
    if isinstance(kind, str):
        return kind
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(alternatives, list):
        return " or ".join(type_text(a) for a in alternatives if isinstance(a, Mapping))
    return MISSING


def allowed_text(schema: Mapping[str, Any]) -> str:
    """What values a schema allows beyond its type: its ``enum`` (or its items'), bounds, pattern, keys; "—" if nothing."""
    enum = schema.get("enum")
    items = schema.get("items")
    if enum is None and isinstance(items, Mapping):
        enum = items.get("enum")
    parts = [", ".join(_code(v) for v in enum)] if isinstance(enum, list) else []
    parts += [text.format(schema[key]) for key, text in _BOUNDS.items() if key in schema]
    parts += [f"{how} {schema[key]} {noun}{'' if schema[key] == 1 else 's'}" for key, (how, noun) in _COUNTS.items() if key in schema]
    if "pattern" in schema:
        parts.append(f"matches `{schema['pattern']}`")
    return "; ".join(parts) or MISSING


def _code(value: Any) -> str:
    return "`" + (_float_text(value) if isinstance(value, float) else json.dumps(value, ensure_ascii=False)) + "`"


def _float_text(value: float) -> str:
    """A float as an author would type it in a rubric: ``1.0e+12`` rather than ``1000000000000.0``.

    PyYAML reads ``1e+12`` or ``1e-05`` as strings, so an exponent always gets a mantissa with a point.
    """
    if value == 0 or not math.isfinite(value) or 1e-4 <= abs(value) < 1e6:
        return json.dumps(value)
    return next(text for digits in range(1, 18) if float(text := f"{value:.{digits}e}") == value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def parameter_rows(schema: Mapping[str, Any], prefix: str = "", depth: int = 1,
                   seen: dict[str, str] | None = None) -> list[list[str]]:
    """One row (name, type, default, description, allowed values) per parameter, nested ones as dotted names.

    A nested object listed once (the argument spec under ``init[]``) is not
    listed again under another name (``args[]``): that row says "as `init[]`".
    """
    seen = {} if seen is None else seen
    rows: list[list[str]] = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        prop = prop if isinstance(prop, Mapping) else {}
        path = f"{prefix}{name}"
        label = f"`{path}`" + (" (required)" if name in required else "")
        default = _code(prop["default"]) if "default" in prop else MISSING
        allowed = allowed_text(prop)
        nested, nested_path = _nested(prop, path)
        key = json.dumps(nested, sort_keys=True, default=str)
        expand = nested is not None and depth < MAX_DEPTH and key not in seen
        if nested is not None and not expand:
            keys = f"as `{seen[key]}`" if key in seen else "keys " + ", ".join(f"`{k}`" for k in nested["properties"])
            allowed = keys if allowed == MISSING else f"{allowed}; {keys}"
        rows.append([label, type_text(prop), default, _cell(str(prop.get("description", MISSING))), _cell(allowed)])
        if expand and nested is not None:
            seen[key] = nested_path
            rows += parameter_rows(nested, f"{nested_path}.", depth + 1, seen)
    return rows


def _nested(prop: Mapping[str, Any], path: str) -> tuple[Mapping[str, Any] | None, str]:
    """The object schema whose properties are listed under ``path`` (the property's own, its items' or its values'), if any."""
    if isinstance(prop.get("properties"), Mapping) and prop["properties"]:
        return prop, path
    for key, place in (("items", f"{path}[]"), ("additionalProperties", f"{path}.<name>")):
        inner = prop.get(key)
        if isinstance(inner, Mapping) and isinstance(inner.get("properties"), Mapping) and inner["properties"]:
            return inner, place
    return None, ""


def example_value(schema: Mapping[str, Any], name: str) -> Any:
    """The smallest value a schema accepts, for an example: its default, first enum value, or a placeholder of its type."""
    if "default" in schema:
        return schema["default"]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if "type" not in schema and isinstance(alternatives, list) and alternatives:
        return example_value(alternatives[0], name)
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = max(1, low + (1 if "exclusiveMinimum" in schema else 0))
        return value
    if kind == "boolean":
        return True
    if kind == "array":
        items = schema.get("items")
        return [example_value(items if isinstance(items, Mapping) else {}, name) for _ in range(schema.get("minItems", 0))]
    if kind == "object" or "properties" in schema:
        return example_params(schema)
    return f"my_{name}"  # a string: a placeholder for the name the rubric would give


def example_params(schema: Mapping[str, Any], accepts: Callable[[dict[str, Any]], bool] = lambda params: True) -> dict[str, Any]:
    """The fewest parameters ``accepts``: the required ones with example values, else those and one optional parameter, else the kind's example.

    ``accepts`` is the kind's own judgement (its schema and ``rubric_problems``),
    so that the example is one a rubric may really use (a tensor kind needs one
    target, which its schema cannot say).
    """
    properties = schema.get("properties", {})
    required = {name: example_value(properties[name], name) for name in properties if name in set(schema.get("required", []))}
    candidates = [required] + [{**required, name: example_value(properties[name], name)} for name in properties if name not in required]
    candidates += [dict(example) for example in schema.get("examples", []) if isinstance(example, Mapping)]  # when one more is not enough
    return next((params for params in candidates if accepts(params)), required)


def example_yaml(kind: str, params: Mapping[str, Any]) -> str:
    """A minimal rubric entry (one item of an exercise's ``checks:``) for ``kind`` with ``params``."""
    entry = {"id": f"my_{kind}_check", "kind": kind, "points": 1, "params": dict(params)}
    return yaml.safe_dump([entry], sort_keys=False, default_flow_style=None, allow_unicode=True).rstrip()


def kind_accepts(cls: type) -> Callable[[dict[str, Any]], bool]:
    """Whether a kind takes ``params``: valid against its schema and free of its ``rubric_problems``."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(getattr(cls, "params_schema", {}))
    problems: Callable[[dict[str, Any]], list[Any]] = getattr(cls, "rubric_problems", lambda params: [])
    return lambda params: validator.is_valid(params) and not problems(params)


def kind_markdown(kind: str, cls: type, heading: str = "###") -> str:
    """The reference section of one check kind: its name, what it checks, its parameters and a minimal example."""
    schema: Mapping[str, Any] = getattr(cls, "params_schema", {})
    lines = [f"{heading} {kind}", "", first_paragraph(cls.__doc__) or MISSING, "", f"Defined in `{cls.__module__}`.", ""]
    rows = parameter_rows(schema)
    if rows:
        lines += ["| parameter | type | default | description | allowed values |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        lines.append("No parameters.")
    lines += ["", "```yaml", example_yaml(kind, example_params(schema, kind_accepts(cls))), "```", ""]
    return "\n".join(lines)


def kinds_markdown(kinds: Mapping[str, type]) -> str:
    """The whole reference: a summary table of every kind, then one section per kind, grouped by the module defining it."""
    by_module: dict[str, list[str]] = {}
    for kind, cls in kinds.items():
        by_module.setdefault(cls.__module__, []).append(kind)
    lines = ["| kind | what it checks |", "|---|---|"]
    lines += [f"| [`{kind}`](#{kind}) | {_cell(first_paragraph(kinds[kind].__doc__) or MISSING)} |"
              for module in by_module for kind in by_module[module]]
    lines.append("")
    for module, names in by_module.items():
        module_doc = first_paragraph(getattr(sys.modules.get(module), "__doc__", None))
        lines += [f"## `{module}`", ""] + ([module_doc, ""] if module_doc else [])
        lines += [kind_markdown(kind, kinds[kind]) for kind in names]
    return "\n".join(lines)
