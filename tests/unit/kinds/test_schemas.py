"""What every check kind declares about itself: documented parameters, a minimal example, the one tolerance test, its flags."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from grader.checks import Check
from grader.checks.compare import close
from grader.checks.registry import CHECK_KINDS
from grader.checks.schema import fields, kind_params, param, tolerance_params
from grader.rubric import CheckSpec

KINDS = sorted(CHECK_KINDS)


# ------------------------------------------------------------------ the schema helper


def test_a_parameter_is_standard_json_schema_with_its_description_default_and_allowed_values() -> None:
    assert param("integer", "how many points", default=6, minimum=1) == {
        "type": "integer", "description": "how many points", "default": 6, "minimum": 1}
    assert param("string", "the rule", enum=("sin", "cos")) == {"type": "string", "description": "the rule", "enum": ["sin", "cos"]}
    assert param(["number", "string"], "a bound") == {"type": ["number", "string"], "description": "a bound"}
    assert "default" not in param("string", "no default") and param("boolean", "off", default=False)["default"] is False


@pytest.mark.parametrize("description", ["", "   ", "two\nlines"])
def test_a_parameter_needs_a_one_line_description(description: str) -> None:
    with pytest.raises(ValueError, match="one line"):
        param("string", description)


def test_a_kinds_schema_allows_only_its_parameters_and_carries_an_example() -> None:
    schema = kind_params({"name": param("string", "a global"), **tolerance_params(rtol=1e-3, atol=0.0)},
                         required=["name"], example={"name": "x"})
    assert schema == {
        "type": "object", "additionalProperties": False, "required": ["name"], "examples": [{"name": "x"}],
        "properties": {"name": {"type": "string", "description": "a global"},
                       "rtol": schema["properties"]["rtol"], "atol": schema["properties"]["atol"]},
    }
    assert (schema["properties"]["rtol"]["default"], schema["properties"]["atol"]["default"]) == (1e-3, 0.0)
    assert "required" not in kind_params({}, example={})
    with pytest.raises(ValueError, match="without a description: bare"):
        fields({"bare": {"type": "string"}})
    with pytest.raises(ValueError, match="not declared: nme"):
        fields({"name": param("string", "a global")}, required=["nme"])


def _parameters(schema: dict[str, Any], place: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every declared parameter, nested ones (objects, lists of objects) included, with its place."""
    for name, prop in schema.get("properties", {}).items():
        yield f"{place}.{name}", prop
        yield from _parameters(prop, f"{place}.{name}")
        if isinstance(prop.get("items"), dict):
            yield from _parameters(prop["items"], f"{place}.{name}[]")


@pytest.mark.parametrize("kind", KINDS)
def test_every_parameter_has_a_type_a_one_line_description_and_a_default_its_schema_accepts(kind: str) -> None:
    schema = CHECK_KINDS[kind].params_schema
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    found = list(_parameters(schema, kind))
    assert found
    for place, prop in found:
        assert prop.get("description", "").strip() and "\n" not in prop["description"], place
        assert {"type", "anyOf", "enum"} & set(prop) or place.endswith(".value"), place  # an argument spec's value is any literal
        if "default" in prop:
            jsonschema.Draft202012Validator(prop).validate(prop["default"])


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_minimal_example_the_rubric_loader_accepts(kind: str) -> None:
    cls = CHECK_KINDS[kind]
    (example,) = cls.params_schema["examples"]
    jsonschema.Draft202012Validator(cls.params_schema).validate(example)
    assert cls.rubric_problems(example) == []
    assert set(example) >= set(cls.params_schema.get("required", []))


def _check(kind: str, params: dict[str, Any]) -> Check:
    return CHECK_KINDS[kind](CheckSpec("c", kind, "c", 1.0, params))


def test_a_judge_reads_the_rubrics_value_else_the_default_its_schema_declares() -> None:
    check = _check("function_vs_reference", {"function": "f", "reference": "g", "arity": 1, "keys": ["y"], "points": 9})
    assert (check.param("points"), check.param("low"), check.param("forbid_autograd")) == (9, -5.0, False)
    assert check.tolerance() == (1e-6, 1e-6)
    assert check.param("exact_at_scale") is None  # no default: the judge treats it as absent
    assert _check("autograd_function", {"apply": "F", "rtol": 0.5}).tolerance() == (0.5, 1e-6)
    depths = _check("checkpoint_numbers", {"function": "f"}).param("depths")
    depths.append(99)  # a judge that changes the default it was given must not change the schema
    assert CHECK_KINDS["checkpoint_numbers"].params_schema["properties"]["depths"]["default"] == [6, 7]


# ------------------------------------------------------------------ the one tolerance test


@pytest.mark.parametrize(
    ("got", "expected", "rtol", "atol", "verdict"),
    [
        (1.0, 1.0, 0.0, 0.0, True),
        (1.0 + 1e-7, 1.0, 1e-6, 0.0, True),
        (1.0 + 1e-5, 1.0, 1e-6, 0.0, False),
        (1e-9, 0.0, 1e-6, 1e-8, True),  # near zero only atol helps
        (1e-7, 0.0, 1e-6, 1e-8, False),
        (110.0, 100.0, 0.1, 0.0, True),  # relative to the expected value...
        (100.0, 110.0, 0.1, 0.0, True),
        (100.0, 111.2, 0.1, 0.0, False),  # ...not to the value got
        (-2.0, 2.0, 1.0, 0.0, False),
        (math.nan, math.nan, 1.0, 1.0, False),  # never NaN or infinity, however loose
        (math.inf, math.inf, 1.0, 1.0, False),
        (1.0, math.inf, 1.0, 1.0, False),
        (-math.inf, 0.0, 1e300, 1e300, False),
    ],
)
def test_close_is_within_atol_plus_rtol_times_the_expected_value_and_never_for_nan_or_infinity(
    got: float, expected: float, rtol: float, atol: float, verdict: bool,
) -> None:
    assert close(got, expected, rtol, atol) is verdict


# ------------------------------------------------------------------ what the kit and %grade read off a kind


def test_a_kind_declares_whether_its_params_hold_the_answer_and_whether_it_reads_printed_output() -> None:
    assert Check.params_hold_answers is False and Check.reads_printed_output is False
    for kind, cls in CHECK_KINDS.items():
        assert isinstance(cls.params_hold_answers, bool) and isinstance(cls.reads_printed_output, bool), kind
    assert {kind for kind, cls in CHECK_KINDS.items() if cls.params_hold_answers} == {"key_ideas", "observation"}
    assert {kind for kind, cls in CHECK_KINDS.items() if cls.reads_printed_output} == {"grad_chain_printed"}
    assert Check.reads_answer_cells is False
    assert {kind for kind, cls in CHECK_KINDS.items() if cls.reads_answer_cells} == {"key_ideas", "instructor_graded"}
