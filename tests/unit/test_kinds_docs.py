"""The check-kind reference is written from the kinds' schemas: what a schema says shows, what it does not shows "—"."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jsonschema
import pytest
import yaml

from grader.checks.docs import MISSING, allowed_text, first_paragraph, kind_markdown, kinds_markdown, parameter_rows, type_text
from grader.checks.registry import CHECK_KINDS

SPEC = {"type": "object", "properties": {"low": {"type": "number"}, "high": {"type": "number"}}}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["mode"],
    "properties": {
        "mode": {"enum": ["fast", "slow"], "default": "fast", "description": "How hard to try."},
        "bare": {},
        "pattern": {"type": "string", "pattern": "^(a|b)$", "description": "One of\n   two | letters."},
        "sizes": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
        "scale": {"type": "object", "required": ["rtol"], "properties": {"rtol": {"type": "number", "exclusiveMinimum": 0}}},
        "first": {"type": "array", "items": SPEC},
        "second": {"type": "array", "items": SPEC},
        "named": {"type": "object", "additionalProperties": SPEC},
        "deep": {"type": "object", "properties": {"inner": {"type": "object", "properties": {"x": {}, "y": {}}}}},
        "names": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object", "additionalProperties": {"type": "string"}}]},
    },
}


def rows_by_name() -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in parameter_rows(SCHEMA)}


def test_a_parameter_shows_its_type_default_description_and_allowed_values() -> None:
    assert rows_by_name()["`mode` (required)"] == [MISSING, '`"fast"`', "How hard to try.", '`"fast"`, `"slow"`']


@pytest.mark.parametrize(("default", "shown"), [(1e12, "`1.0e+12`"), (1e-5, "`1.0e-05`"), (123456789.0, "`1.23456789e+08`"),
                                               (0.5, "`0.5`"), (3.0, "`3.0`"), (0.0, "`0.0`"), (float("inf"), "`Infinity`")])
def test_a_float_default_shows_as_an_author_types_it_in_yaml(default: float, shown: str) -> None:
    (row,) = parameter_rows({"type": "object", "properties": {"x": {"type": "number", "default": default}}})
    assert row[2] == shown
    if math.isfinite(default):
        assert yaml.safe_load(shown.strip("`")) == default  # PyYAML reads 1e-05 as a string; 1.0e-05 as the number


def test_what_a_schema_does_not_say_is_a_dash() -> None:
    assert rows_by_name()["`bare`"] == [MISSING, MISSING, MISSING, MISSING]


def test_cells_are_one_line_and_a_pipe_cannot_split_the_table() -> None:
    assert rows_by_name()["`pattern`"] == ["string", MISSING, "One of two \\| letters.", "matches `^(a\\|b)$`"]


def test_arrays_and_alternatives_name_their_item_types_and_bounds() -> None:
    rows = rows_by_name()
    assert rows["`sizes`"][0] == "array of integer" and rows["`sizes`"][3] == "at least 1 item"
    assert rows["`names`"][0] == "array of string or object of string"


def test_nested_parameters_are_dotted_and_a_repeated_object_is_listed_once() -> None:
    rows = rows_by_name()
    assert rows["`scale.rtol` (required)"] == ["number", MISSING, MISSING, "> 0"]
    assert "`first[].low`" in rows and "`second[].low`" not in rows
    assert rows["`second`"][3] == "as `first[]`" and rows["`named`"] == ["object of object", MISSING, MISSING, "as `first[]`"]
    assert rows["`deep.inner`"][3] == "keys `x`, `y`" and "`deep.inner.x`" not in rows


def test_type_and_allowed_values_of_a_bare_schema() -> None:
    assert (type_text({}), allowed_text({})) == (MISSING, MISSING)
    assert allowed_text({"type": "integer", "minimum": 1, "maximum": 20}) == "≥ 1; ≤ 20"


def test_first_paragraph_is_one_line() -> None:
    assert first_paragraph("Line one\n    continues.\n\n    Details.") == "Line one continues."
    assert first_paragraph(None) == ""


class Toy:
    """A toy kind.

    More that the reference leaves out.
    """

    params_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return [] if "b" in params else [("(target)", "name b")]


def test_the_example_is_one_the_kind_accepts_even_beyond_its_schema() -> None:
    text = kind_markdown("toy", Toy)
    assert "A toy kind." in text and "More that" not in text
    assert "params: {b: my_b}" in text


@pytest.mark.parametrize("kind", sorted(CHECK_KINDS))
def test_every_registered_kind_has_its_section_with_every_parameter_and_an_accepted_example(kind: str) -> None:
    cls = CHECK_KINDS[kind]
    text = kind_markdown(kind, cls)
    assert text.startswith(f"### {kind}\n\n{first_paragraph(cls.__doc__)}\n")
    for name in cls.params_schema.get("properties", {}):
        assert f"| `{name}`" in text, name
    example = text.split("```yaml\n")[1].split("```")[0]
    [entry] = yaml.safe_load(example)
    assert entry["kind"] == kind
    jsonschema.validate(entry["params"], cls.params_schema)
    assert cls.rubric_problems(entry["params"]) == []


def test_the_page_lists_every_kind_once_grouped_by_module() -> None:
    page = kinds_markdown(CHECK_KINDS)
    for kind, cls in CHECK_KINDS.items():
        assert page.count(f"\n### {kind}\n") == 1 and f"[`{kind}`](#{kind})" in page
        assert f"## `{cls.__module__}`" in page
