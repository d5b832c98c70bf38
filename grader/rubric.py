"""Load stage for rubrics: YAML -> validated :class:`Rubric`.

A rubric is validated twice over: its own shape against ``RUBRIC_SCHEMA``, then
each check's ``params`` against the JSON schema of the check kind it names. The
kinds are passed in (``grader.checks.registry.CHECK_KINDS``): this module is the
bottom layer, which the check kinds build on, and imports none of them.
Errors read like ``rubrics/x.yaml: exercises[1].checks[2].params.tol: expected
a number, got 'tight'``.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from grader.errors import RubricError
from grader.results import Failure
from grader.shorten import shorten


def _closed_object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON schema for an object with exactly these fields (a misspelt key is an error, not a silently ignored option)."""
    return {"type": "object", "additionalProperties": False, "required": list(required), "properties": properties}


_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"}

LIMITS_SCHEMA: dict[str, Any] = _closed_object(
    {
        "cell_timeout_s": {"type": "number", "exclusiveMinimum": 0},
        "probe_timeout_s": {"type": "number", "exclusiveMinimum": 0},
        "submission_timeout_s": {"type": "number", "exclusiveMinimum": 0},
        "memory_mb": {"type": "integer", "minimum": 64},
        "cpu_time_s": {"type": "integer", "minimum": 1},
        "file_size_mb": {"type": "integer", "minimum": 1},
        "max_processes": {"type": "integer", "minimum": 1},
        "max_submission_mb": {"type": "number", "exclusiveMinimum": 0},
        "cell_output_kb": {"type": "integer", "minimum": 1},
        "total_output_kb": {"type": "integer", "minimum": 1},
    }
)

# A global name, or Class.attribute (a method the exercise adds to a class).
_ANSWER_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"

CHECK_SCHEMA: dict[str, Any] = _closed_object(
    {
        "id": _ID,
        "kind": {"type": "string"},
        "title": {"type": "string"},
        "points": {"type": "number", "minimum": 0},
        "params": {"type": "object"},
        "feedback": {"anyOf": [{"type": "string"}, {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}}]},
        "hints": {"type": "array", "items": {"type": "string"}},
        "hidden": {"type": "boolean"},
        "review": {"type": "boolean"},
        "contract": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
    },
    required=("id", "kind", "points"),
)

RUBRIC_SCHEMA: dict[str, Any] = _closed_object(
    {
        "assignment": {"type": "string", "minLength": 1},
        "title": {"type": "string"},
        "reference": {"type": "string", "minLength": 1},
        "contract": {"type": "string", "minLength": 1},
        "notebook": {"type": "string"},
        "solution": {"type": "string", "minLength": 1},
        "template": {"type": "string", "minLength": 1},
        "seed": {"type": "integer"},
        "fixed_points": {"type": "boolean"},
        "total": {"type": "number", "exclusiveMinimum": 0},
        "limits": LIMITS_SCHEMA,
        "exercises": {
            "type": "array",
            "minItems": 1,
            "items": _closed_object(
                {
                    "id": _ID,
                    "title": {"type": "string"},
                    "answers": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": _ANSWER_NAME}},
                    "checks": {"type": "array", "minItems": 1, "items": CHECK_SCHEMA},
                },
                required=("id", "title", "checks"),
            ),
        },
    },
    required=("assignment", "title", "reference", "exercises"),
)


@dataclass(frozen=True)
class Limits:
    """Resource limits for running one submission (rubric defaults, overridable by flags)."""

    cell_timeout_s: float = 30.0
    probe_timeout_s: float = 20.0
    submission_timeout_s: float = 300.0
    memory_mb: int = 4096
    cpu_time_s: int = 600
    file_size_mb: int = 64
    max_processes: int = 256
    max_submission_mb: float = 20.0
    cell_output_kb: int = 256
    total_output_kb: int = 2048


@dataclass(frozen=True)
class CheckSpec:
    """One check as the rubric states it."""

    id: str
    kind: str
    title: str
    points: float
    params: dict[str, Any]
    feedback: str | Mapping[str, str] = ""  # one sentence, or a sentence per failure name (and "default")
    hints: tuple[str, ...] = ()
    hidden: bool = False
    review: bool = False
    contract: tuple[str, ...] = ()  # the sentences of the assignment's contract this check enforces, quoted

    def feedback_for(self, failure: str | None) -> str:
        """The rubric's feedback for a check that failed this way (a :class:`~grader.results.Failure` value, or None).

        A single sentence is shown whatever went wrong; a mapping shows the
        sentence for ``failure``, else its ``default``, else nothing.
        """
        if isinstance(self.feedback, str):
            return self.feedback
        return str(self.feedback.get(failure or "default") or self.feedback.get("default", ""))


@dataclass(frozen=True)
class ExerciseSpec:
    """One exercise: an id such as ``ex1``, a title, its checks and the answers a student must fill in.

    ``answers`` are the global names (or ``Class.attribute``) the contract asks
    the exercise to define; when every one is still a stub (``None``, a body of
    only ``pass``/``...``/``return None``/``raise NotImplementedError``, or
    missing) the exercise is not attempted and every check of it scores 0.
    """

    id: str
    title: str
    checks: tuple[CheckSpec, ...]
    answers: tuple[str, ...] = ()

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)


@dataclass(frozen=True)
class Rubric:
    """A validated rubric."""

    path: Path
    assignment: str
    title: str
    reference_path: Path
    exercises: tuple[ExerciseSpec, ...]
    seed: int = 0
    notebook: str = ""
    limits: Limits = field(default_factory=Limits)
    sha256: str = ""
    contract_path: Path | None = None  # the student contract the checks quote (``contract:`` in the rubric)
    # The solved and the student notebook (``solution:``, ``template:``), for `grade check-rubric`; not needed to grade.
    solution_path: Path | None = None
    template_path: Path | None = None
    # ``fixed_points: true``: every submission is asked the same random points (a student kit's, whose expected values
    # were recorded at them: grader/kit/build.py); otherwise they also depend on the submission (grader.pipeline.derive_seed).
    fixed_points: bool = False

    @property
    def max_score(self) -> float:
        return sum(ex.max_score for ex in self.exercises)

    @property
    def is_kit(self) -> bool:
        """A student kit's rubric (its package holds ``kit.json``): its grade is the kit's, never the official one."""
        return (self.path.parent / KIT_MANIFEST).is_file()

    def exercise(self, exercise_id: str) -> ExerciseSpec:
        for ex in self.exercises:
            if ex.id == exercise_id:
                return ex
        raise KeyError(exercise_id)


class CheckKind(Protocol):
    """What the loader asks of a check kind (a :class:`grader.checks.Check` subclass is one)."""

    params_schema: dict[str, Any]

    def rubric_problems(self, params: dict[str, Any]) -> list[tuple[str, str]]: ...

    def reference_names(self, params: dict[str, Any]) -> list[tuple[str, str]]: ...

    def reference_params(self, params: dict[str, Any], reference_source: str) -> tuple[dict[str, Any], list[tuple[str, str]]]: ...


def load_rubric(path: Path | str, kinds: Mapping[str, CheckKind]) -> Rubric:
    """Read, validate and build the rubric at ``path`` whose checks name ``kinds``; raise :class:`RubricError` naming the place."""
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise RubricError(f"{path}: cannot read rubric ({exc.strerror or exc})") from None
    data = _parse_yaml(path, raw_bytes)
    _validate(path, data, RUBRIC_SCHEMA, prefix="")
    _validate_checks(path, data, kinds)
    _check_unique_ids(path, data)
    reference_path = (path.parent / data["reference"]).resolve()
    if not reference_path.is_file():
        raise RubricError(f"{path}: reference: no such file {data['reference']!r} (resolved to {reference_path})")
    _check_reference_names(path, data, reference_path, kinds)
    _add_reference_params(path, data, reference_path, kinds)
    # The contract is for people and rubric tools, not needed to grade: a rubric shipped without it still grades.
    contract_path = (path.parent / data["contract"]).resolve() if "contract" in data else None
    if contract_path is not None and not contract_path.is_file():
        contract_path = None
    _check_total(path, data)
    if contract_path is not None:
        _check_quotes(path, data, contract_path)
    return Rubric(
        path=path,
        assignment=data["assignment"],
        title=data.get("title", data["assignment"]),
        reference_path=reference_path,
        exercises=tuple(_exercise(ex) for ex in data["exercises"]),
        seed=data.get("seed", 0),
        notebook=data.get("notebook", ""),
        limits=Limits(**data.get("limits", {})),
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        contract_path=contract_path,
        solution_path=(path.parent / data["solution"]).resolve() if "solution" in data else None,
        template_path=(path.parent / data["template"]).resolve() if "template" in data else None,
        fixed_points=data.get("fixed_points", False),
    )


DEFAULT_TOTAL = 100
KIT_MANIFEST = "kit.json"  # beside a student kit's rubric (grader.kit.identity.MANIFEST)


def _check_total(path: Path, data: dict[str, Any]) -> None:
    """The checks' points add up to the rubric's ``total`` (100 unless it says otherwise): a slip of 3 points must not grade "97 / 97"."""
    declared = data.get("total", DEFAULT_TOTAL)
    sums = {ex["id"]: sum(float(c["points"]) for c in ex["checks"]) for ex in data["exercises"]}
    if abs(sum(sums.values()) - declared) > 1e-9:
        each = ", ".join(f"{ex}: {points:g}" for ex, points in sums.items())
        raise RubricError(f"{path}: the checks' points add up to {sum(sums.values()):g}, not the rubric's total {declared:g} ({each}); "
                          f"fix the points, or say 'total: {sum(sums.values()):g}' if that is meant")


def contract_sentences(text: str) -> list[str]:
    """A contract's sentences and table rows, whitespace made single spaces (what a quote is compared with)."""
    parts = re.split(r"(?<=[.!?])\s+|\n\s*\n|\n(?=\|)", text)
    return [" ".join(part.split()) for part in parts if part.strip()]


def _check_quotes(path: Path, data: dict[str, Any], contract_path: Path) -> None:
    """Every ``contract:`` quote is in the contract, word for word (whitespace aside), or the load says which is not."""
    text = contract_path.read_text(encoding="utf-8")
    whole = " ".join(text.split())
    for exercise in data["exercises"]:
        for check in exercise["checks"]:
            for quote in check.get("contract", ()):
                if " ".join(quote.split()) in whole:
                    continue
                closest = difflib.get_close_matches(" ".join(quote.split()), contract_sentences(text), n=1, cutoff=0.0)
                hint = f"; the closest sentence there is {closest[0][:300]!r}" if closest else ""
                raise RubricError(f"{path}: {exercise['id']}/{check['id']}: contract: this quote is not in {contract_path.name}: "
                                  f"{quote[:300]!r}{hint}")


def parse_yaml_text(text: str) -> Any:
    """YAML as plain data, safely: libyaml's safe loader where PyYAML has it (some ten times faster), else PyYAML's own.

    A cold ``grade`` reads every installed rubric's header and then its own rubric: in pure Python that was 0.7 s.
    """
    if yaml.__with_libyaml__:
        return yaml.load(text, Loader=yaml.CSafeLoader)
    return yaml.load(text, Loader=yaml.SafeLoader)


def _parse_yaml(path: Path, raw: bytes) -> Any:
    try:
        return parse_yaml_text(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RubricError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise RubricError(f"{path}{where}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise RubricError(f"{path}: invalid YAML: {exc}") from None


def _validate(path: Path, data: Any, schema: dict[str, Any], prefix: str) -> None:
    import jsonschema  # here: ~0.3 s, paid when a rubric is validated, not wherever the rubric's types are imported

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = errors[0]
        raise RubricError(f"{path}: {_place(prefix, list(err.absolute_path))}: {_describe(err)}")


def _place(prefix: str, parts: list[Any]) -> str:
    text = prefix
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


_TYPE_WORDS = {
    "number": "a number",
    "integer": "an integer",
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "boolean": "true or false",
}


def _describe(err: Any) -> str:
    value = _short(err.instance)
    if err.validator == "type":
        expected = err.validator_value
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in ([expected] if isinstance(expected, str) else expected))
        return f"expected {words}, got {value}"
    if err.validator == "required":
        missing = [name for name in err.validator_value if name not in err.instance]
        return f"missing required field {missing[0]!r}"
    if err.validator == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        extra = sorted(k for k in err.instance if k not in allowed)
        if not extra:
            return err.message
        valid = f"; the valid fields are {', '.join(allowed)}" if allowed else "; no fields are allowed here"
        return f"unknown field {extra[0]!r}{_did_you_mean(extra[0], allowed)}{valid}"
    if err.validator == "enum":
        return f"expected one of {', '.join(map(repr, err.validator_value))}, got {value}"
    if err.validator in {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}:
        return f"{err.validator} is {err.validator_value}, got {value}"
    if err.validator in {"minItems", "minLength"}:
        return f"must not be empty, got {value}"
    if err.validator == "pattern":
        return f"must match {err.validator_value}, got {value}"
    return shorten(err.message, 200)


def _short(value: Any) -> str:
    return shorten(repr(value), 60)


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _validate_checks(path: Path, data: dict[str, Any], kinds: Mapping[str, CheckKind]) -> None:
    for i, ex in enumerate(data["exercises"]):
        for j, check in enumerate(ex["checks"]):
            place = f"exercises[{i}].checks[{j}]"
            kind = kinds.get(check["kind"])
            if kind is None:
                hint = _did_you_mean(check["kind"], kinds)
                raise RubricError(f"{path}: {place}.kind: unknown check kind {check['kind']!r}{hint}")
            _validate(path, check.get("params", {}), kind.params_schema, prefix=f"{place}.params")
            for field_name, problem in kind.rubric_problems(check.get("params", {})):
                raise RubricError(f"{path}: {place}.params.{field_name}: {problem}")
            _check_feedback_keys(path, place, check.get("feedback"))


def _check_feedback_keys(path: Path, place: str, feedback: Any) -> None:
    """A feedback mapping's keys are failure names (or ``default``): a typo names the valid ones."""
    if not isinstance(feedback, dict):
        return
    valid = [failure.value for failure in Failure] + ["default"]
    for key in feedback:
        if key not in valid:
            raise RubricError(f"{path}: {place}.feedback.{key}: not a way a check fails{_did_you_mean(key, valid)}; "
                              f"use {', '.join(valid)}")


def _check_reference_names(path: Path, data: dict[str, Any], reference_path: Path, kinds: Mapping[str, CheckKind]) -> None:
    """Every name a check needs from the reference module is defined there (read from its source, not imported)."""

    defined = top_level_names(reference_path)
    for i, ex in enumerate(data["exercises"]):
        for j, check in enumerate(ex["checks"]):
            for field_name, name in kinds[check["kind"]].reference_names(check.get("params", {})):
                if name not in defined:
                    hint = _did_you_mean(name, defined)
                    raise RubricError(
                        f"{path}: exercises[{i}].checks[{j}].params.{field_name}: the reference module "
                        f"{reference_path.name} defines no {name!r}{hint}"
                    )


def _add_reference_params(path: Path, data: dict[str, Any], reference_path: Path, kinds: Mapping[str, CheckKind]) -> None:
    """Params a kind reads from the reference module's source when the rubric loads (an observation's code), or its refusal."""
    source = reference_path.read_text(encoding="utf-8")  # top_level_names has read it already: it is UTF-8 Python
    for i, ex in enumerate(data["exercises"]):
        for j, check in enumerate(ex["checks"]):
            added, problems = kinds[check["kind"]].reference_params(check.get("params", {}), source)
            for field_name, problem in problems:
                raise RubricError(f"{path}: exercises[{i}].checks[{j}].params.{field_name}: {problem} (in {reference_path.name})")
            if added:
                check["params"] = {**check.get("params", {}), **added}


def top_level_names(module_path: Path) -> set[str]:
    """The names a Python file defines at its top level: functions, classes, assignments, imports."""
    try:
        tree = ast.parse(module_path.read_text(encoding="utf-8"), filename=str(module_path))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise RubricError(f"{module_path}: cannot read the reference module ({exc})") from None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _check_unique_ids(path: Path, data: dict[str, Any]) -> None:
    seen: set[str] = set()
    for i, ex in enumerate(data["exercises"]):
        if ex["id"] in seen:
            raise RubricError(f"{path}: exercises[{i}].id: duplicate exercise id {ex['id']!r}")
        seen.add(ex["id"])
        check_ids: set[str] = set()
        for j, check in enumerate(ex["checks"]):
            if check["id"] in check_ids:
                raise RubricError(f"{path}: exercises[{i}].checks[{j}].id: duplicate check id {check['id']!r}")
            check_ids.add(check["id"])


def _exercise(data: dict[str, Any]) -> ExerciseSpec:
    return ExerciseSpec(
        id=data["id"],
        title=data["title"],
        answers=tuple(data.get("answers", ())),
        checks=tuple(
            CheckSpec(
                id=c["id"],
                kind=c["kind"],
                title=c.get("title", c["id"]),
                points=float(c["points"]),
                params=dict(c.get("params", {})),
                feedback=dict(c["feedback"]) if isinstance(c.get("feedback"), dict) else c.get("feedback", ""),
                hints=tuple(c.get("hints", ())),
                hidden=c.get("hidden", False),
                review=c.get("review", False),
                contract=tuple(c.get("contract", ())),
            )
            for c in data["checks"]
        ),
    )
