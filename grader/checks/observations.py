"""Check kind ``observation``: an instructor's own measurement, run on the student's globals and on the reference's.

For what no kind says, the instructor writes a function in the reference module,
marked with :func:`grader.observation.observation`, that takes a namespace (a
dict of globals) and returns a dict of values. When the rubric loads,
:meth:`Observation.reference_params` reads that function's source from the
reference file (never importing it) and refuses one that is not marked, that
takes other than one argument, or that uses a global name other than a builtin
or a module alias of ``torch``, ``numpy`` or ``math`` the reference imports:
only the function's own source goes into the kernel, so it must need nothing
else. The probe ``observe`` runs it there on a copy of the student's globals;
the judge runs the same source here, in a fresh namespace, on the reference
module's globals, and compares the two results key by key with the tolerance of
every kind (:func:`grader.checks.compare.differences`), each key an equal share
of the points.

The kernel's result is untrusted data: code running beside the student's made
it. An observation must be a measurement whose faked result earns nothing the
real one would not (docs/authoring/observations.md).
"""

from __future__ import annotations

import ast
import builtins
import importlib
import random
import symtable
from collections.abc import Sequence
from typing import Any

from grader.checks import Check, JudgeContext, answer_trouble, raised_verdict, register
from grader.checks.compare import describe_value, differences
from grader.checks.schema import fields, kind_params, param, tolerance_params
from grader.checks.targets import encode
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Verdict

ALLOWED_MODULES = ("torch", "numpy", "math")
DECORATOR = "observation"
_BUILTINS = frozenset(dir(builtins))


@register
class Observation(Check):
    """An observation function of the reference module, run on both namespaces; its results compared key by key."""

    kind = "observation"
    # A student kit has no reference module to run the observation on: it puts an instructor_graded check in its place.
    params_hold_answers = True
    params_schema = kind_params(
        {
            "observation": param("string", "the reference module's function marked @observation (from grader.observation)"),
            "keys": param("array", "the keys of its result to compare (none: every key the reference's result has)",
                          default=[], items={"type": "string"}),
            **tolerance_params(rtol=1e-5, atol=1e-8),
            "tolerances": param("object", "per key, a tolerance other than rtol/atol", default={},
                                additionalProperties={"type": "object", **fields({
                                    "rtol": param("number", "relative tolerance for this key", minimum=0),
                                    "atol": param("number", "absolute tolerance for this key", minimum=0),
                                })}),
            "names": param("array", "the student's globals it reads (so a message can name the cell that defines them)",
                           default=[], items={"type": "string"}),
        },
        required=["observation"],
        example={"observation": "loss_after_three_steps", "keys": ["loss"]},
    )

    @classmethod
    def reference_params(cls, params: dict[str, Any], reference_source: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        try:
            source, imports = observation_source(reference_source, params["observation"])
        except ObservationRefused as exc:
            return {}, [("observation", str(exc))]
        return {"source": source, "imports": imports}, []

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        args = {"source": self.params["source"], "function": self.params["observation"], "imports": self.params["imports"]}
        return [ProbeCall("observe", args)]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        name = self.params["observation"]
        expected = self._reference_result(ctx)
        if isinstance(expected, Verdict):
            return expected
        got = self._student_result(answers[0], name, ctx)
        if isinstance(got, Verdict):
            return got
        keys = self.param("keys") or list(expected)
        unknown = [key for key in keys if key not in expected]
        if unknown:
            return Verdict.broken(f"the rubric compares key {unknown[0]!r}, which the observation `{name}` does not return on the reference")
        problems = {key: self._key_problem(key, got, expected) for key in keys}
        wrong = {key: problem for key, problem in problems.items() if problem}
        if not wrong:
            return Verdict.passed(f"what `{name}` observes matches the reference ({len(keys)} of {len(keys)} values)")
        message = f"{len(keys) - len(wrong)} of {len(keys)} values observed by `{name}` match the reference: " + "; ".join(wrong.values())
        return Verdict.partial((len(keys) - len(wrong)) / len(keys), message)

    def _key_problem(self, key: str, got: dict[str, Any], expected: dict[str, Any]) -> str:
        if key not in got:
            return f"`{key}` was not observed"
        rtol, atol = self.tolerance()
        own = self.param("tolerances").get(key, {})
        found = differences(got[key], expected[key], float(own.get("rtol", rtol)), float(own.get("atol", atol)), where=f"`{key}`")
        return found[0] if found else ""

    def _reference_result(self, ctx: JudgeContext) -> dict[str, Any] | Verdict:
        """The observation run here, in a fresh namespace, on the reference module's globals (a failure is the rubric's)."""
        name = self.params["observation"]
        try:
            function = compile_observation(self.params["source"], name, self.params["imports"])
            encoded = encode(function(dict(vars(ctx.reference))))
        except Exception as exc:  # noqa: BLE001 - the instructor's code failed on the instructor's reference
            return Verdict.broken(f"the observation `{name}` failed on the reference ({type(exc).__name__}: {exc})")
        found = result_dict(encoded)
        if found is None:
            return Verdict.broken(f"the observation `{name}` returned {describe_value(encoded)} on the reference, not a dict")
        return found

    def _student_result(self, answer: Answer, name: str, ctx: JudgeContext) -> dict[str, Any] | Verdict:
        """The kernel's result, read as untrusted data: only a dict of encoded values is used."""
        what = f"the observation `{name}` on your code"
        if not answer.ok and answer.error_type == "Timeout":
            return Verdict.error(f"{what} did not finish in time")
        if not answer.ok and not answer.missing and not answer.was_left_out and answer.error_type != "BadAnswer":
            return Verdict.broken(f"{what} could not run in the kernel ({answer.error_type}: {answer.error_message})")
        trouble = answer_trouble(answer, what, ctx)
        if trouble is not None:
            return trouble
        value = answer.value if isinstance(answer.value, dict) else {}
        if "raised" in value:
            raised = value["raised"] if isinstance(value["raised"], dict) else {}
            missing = str(raised.get("message", "")).strip("'\"")
            if raised.get("type") == "KeyError" and missing in self.param("names"):  # ns["f"] for an f the submission lacks
                return answer_trouble(Answer(False, None, "NameError", missing), missing, ctx) or Verdict.not_attempted(missing)
            return raised_verdict(value["raised"], f"your code, run by the observation `{name}`,")
        found = result_dict(value.get("result"))
        if found is None:
            return Verdict.failed(f"{what} found {describe_value(value.get('result'))}, not a dict of values")
        return found


def result_dict(encoded: Any) -> dict[str, Any] | None:
    """The encoded values of an encoded dict (``{"dict": [[key, value], ...]}``) by key, or None when it is not one."""
    if not isinstance(encoded, dict) or not isinstance(encoded.get("dict"), list):
        return None
    items = [item for item in encoded["dict"] if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)]
    return dict((key, value) for key, value in items)


def compile_observation(source: str, name: str, imports: Sequence[Sequence[str]]) -> Any:
    """The observation function defined by ``source``, in a fresh namespace holding only its ``imports`` (this process's)."""
    namespace: dict[str, Any] = {"__name__": "grader_observation"}
    for alias, module, attribute in imports:
        imported = importlib.import_module(module)
        namespace[alias] = getattr(imported, attribute) if attribute else imported
    exec(compile(source, f"<observation {name}>", "exec"), namespace)  # the instructor's own reference code, in this process
    return namespace[name]


class ObservationRefused(ValueError):
    """A reference function the observation kind cannot ship to the kernel on its own: the message says why."""


def observation_source(reference_source: str, name: str) -> tuple[str, list[list[str]]]:
    """The source of observation ``name`` (without its decorator) and the ``[alias, module, attribute]`` imports it uses.

    Raises :class:`ObservationRefused` when the function is missing, not
    marked, does not take exactly one argument, or uses a global name that is
    neither a builtin nor an alias of ``torch``, ``numpy`` or ``math`` (or a
    submodule or member of one) the reference imports.
    """
    tree = ast.parse(reference_source)
    node = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name), None)
    if not isinstance(node, ast.FunctionDef):
        raise ObservationRefused(f"the reference module defines no function {name!r} at its top level")
    if not any(_decorator_name(d) == DECORATOR for d in node.decorator_list):
        raise ObservationRefused(f"{name!r} is not marked as an observation: decorate it with @observation (from grader.observation)")
    arguments = node.args
    if len(arguments.posonlyargs) + len(arguments.args) != 1 or arguments.vararg or arguments.kwonlyargs or arguments.kwarg:
        raise ObservationRefused(f"the observation {name!r} must take exactly one argument, the namespace")
    for inner in ast.walk(node):
        if isinstance(inner, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in inner.names] if isinstance(inner, ast.Import) else [inner.module or ""]
            for module in modules:
                if module.split(".")[0] not in ALLOWED_MODULES or (isinstance(inner, ast.ImportFrom) and inner.level):
                    raise ObservationRefused(f"the observation {name!r} imports {module or '.'!r}: it may import only {', '.join(ALLOWED_MODULES)}")
    source = ast.get_source_segment(reference_source, node) or ""
    aliases = module_aliases(tree)
    imports = []
    for used in sorted(global_names(source) - _BUILTINS):
        if used not in aliases:
            raise ObservationRefused(
                f"the observation {name!r} uses {used!r}, which is neither a builtin nor {', '.join(ALLOWED_MODULES)}: only its "
                "own source goes into the kernel, so write what it needs inside it (or read it from the namespace)")
        imports.append([used, *aliases[used]])
    return source, imports


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    return target.attr if isinstance(target, ast.Attribute) else ""


def module_aliases(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """Top-level names the reference binds by importing torch, numpy or math: alias -> (module, attribute or '')."""
    found: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in ALLOWED_MODULES:  # `import torch.nn` binds `torch`; `import torch.nn as nn` binds the submodule
                    found[alias.asname or root] = (alias.name if alias.asname else root, "")
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] in ALLOWED_MODULES:
            for alias in node.names:
                if alias.name != "*":
                    found[alias.asname or alias.name] = (str(node.module), alias.name)
    return found


def global_names(function_source: str) -> set[str]:
    """The global names a function's source reads, its nested functions, lambdas and comprehensions included."""
    table = symtable.symtable(function_source, "<observation>", "exec")

    def walk(scope: symtable.SymbolTable) -> set[str]:
        names = {s.get_name() for s in scope.get_symbols() if s.is_global() and s.is_referenced()}
        for child in scope.get_children():
            names |= walk(child)
        return names

    return set().union(*(walk(child) for child in table.get_children()))
