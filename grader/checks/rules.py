"""Check kinds for rules about how code is written: no Python loop over the data, forbidden and required calls, source rules.

``vectorised`` and ``calls`` judge by behaviour: the kernel runs the
student's function under a watch (``grader/probes/rules.py``) and returns
counts and names only; the verdict is reached here. ``source_rule`` judges
what run time cannot tell from the submission's cell sources alone, with no
kernel call.

How ``vectorised`` decides (:func:`loop_verdict`). A function that loops in
Python over its data takes at least one Python step (a line or a call of the
student's own code) per item, and usually calls torch at least once per item;
vectorised code takes the same steps and torch calls at any size. So the
function is called at a small and at a large size of one dimension and the
growth of both counts is compared with the growth of the size ``ΔN``: it runs
a loop when either count grows by at least ``max(GROWTH_FLOOR,
GROWTH_PER_ITEM × ΔN)``: half a step per extra item, so a loop over the items
(one step per item or more) is caught even when its body is one line, while a
loop over fixed-size chunks of 2 items or more is not, and a few steps of
size-dependent branching (under ``GROWTH_FLOOR``) are not. At the large size
the counts must also stay under that threshold plus ``STEP_ALLOWANCE`` whatever
they were at the small size, so that a function that wastes steps at the small
size cannot hide the growth of a loop.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Iterator, Sequence
from typing import Any

from grader.checks import Check, JudgeContext, cell_label, raised_verdict, register
from grader.checks.argspec import arg_places, arg_problems, draw_dims, generate
from grader.checks.schema import kind_params, param
from grader.checks.targets import CALLS_PROPERTIES, DIMS, TARGET_KEYS, TARGET_PROPERTIES, TensorCheck, target_name
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Failure, Verdict

GROWTH_PER_ITEM = 0.5  # steps (or torch calls) per extra item of the scaled dimension that count as a loop
GROWTH_FLOOR = 16  # growth below this is size-dependent branching, never a loop
STEP_ALLOWANCE = 250  # steps a vectorised function may take at the large size beyond the growth threshold
MIN_SIZE_GAP = 64  # the rubric's two sizes differ by at least this, so that a one-line loop grows past the floor

_TARGET = {key: value for key, value in TARGET_PROPERTIES.items() if key != "reference"}
_DOTTED = {"type": "string", "pattern": r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"}
_FORBIDDEN = param("array", "functions it must not call, as dotted names (torch.softmax, torch.nn.functional.cross_entropy, "
                            "torch.Tensor.softmax; a bare name is a builtin: eval)", default=[], items=_DOTTED)
_REQUIRED = param("array", "functions it must call at least once over the calls, as dotted names (torch.Tensor.backward)",
                  default=[], items=_DOTTED)


def _arg_problems(params: dict[str, Any], extra_dims: Sequence[str] = ()) -> list[tuple[str, str]]:
    named = [k for k in TARGET_KEYS if k in params]
    if len(named) != 1:
        return [("(target)", f"name exactly one of {', '.join(TARGET_KEYS)} (found {', '.join(named) or 'none'})")]
    dims = {**params.get("dims", {}), **{name: [1, 1] for name in extra_dims}}
    return [(place, problem) for place, arg in arg_places(params) for problem in arg_problems(arg, dims)]


class _RuleCheck(TensorCheck):
    """A rule about the target's code: no reference answer is needed."""

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return []

    def _one_run(self, answer: Answer, ctx: JudgeContext) -> list[dict[str, Any]] | Verdict:
        records = self._records(answer, ctx)
        if isinstance(records, Verdict):
            return records
        if not all(isinstance(record, dict) for record in records):
            return Verdict.broken("the kernel's answer about the target's calls is not a list of records")
        return [record for record in records if isinstance(record, dict)]


# ---------------------------------------------------------------- vectorised


def loop_verdict(name: str, sizes: tuple[int, int], unit: str, small: dict[str, Any], big: dict[str, Any]) -> Verdict:
    """The verdict on two watched calls of ``name`` at a small and a large size (see the module docstring for the rule)."""
    measured = ((small, sizes[0]), (big, sizes[1]))
    for record, size in measured:
        if record.get("over"):
            return Verdict.failed(f"`{name}` runs a Python loop: it took more than {record['steps']:,} Python steps "
                                  f"for {size} {unit}").because(Failure.LOOPED)
        if "tampered" in record:
            return Verdict.failed(f"`{name}` could not be checked for Python loops: {record['tampered']}, "
                                  "which the grader's step count does not allow").because(Failure.LOOPED)
    for record, size in measured:
        if "raised" in record:
            return raised_verdict(record["raised"], f"`{name}` called with {size} {unit}")
    gap = sizes[1] - sizes[0]
    threshold = max(GROWTH_FLOOR, GROWTH_PER_ITEM * gap)
    times = f"{sizes[1] / sizes[0]:.3g}× more {unit}" if sizes[0] else f"{gap} more {unit}"
    for key, what in (("steps", "its Python steps"), ("torch_calls", "its torch calls")):
        low, high = int(small.get(key, 0)), int(big.get(key, 0))
        verb = "runs a Python loop" if key == "steps" else "loops over its data"
        if high - low >= threshold:
            growth = f"grew {high / low:.3g}×" if low else f"grew from 0 to {high}"
            return Verdict.failed(f"`{name}` {verb}: {what} {growth} for {times} ({low} → {high})").because(Failure.LOOPED)
        if high >= threshold + STEP_ALLOWANCE:
            return Verdict.failed(f"`{name}` {verb}: it took {high} {what[4:]} for {sizes[1]} {unit} "
                                  f"(vectorised code takes fewer than {threshold + STEP_ALLOWANCE:g})").because(Failure.LOOPED)
    return Verdict.passed(f"`{name}` takes as many Python steps and torch calls for {times}: no loop over them")


@register
class Vectorised(_RuleCheck):
    """The target does not loop in Python over its data: its steps do not grow with the data's size.

    The target is called (after one unwatched call for one-time work) with
    arguments generated at two sizes of the dimension ``scale`` (``sizes``,
    substituted into the argument specs; other ``dims`` are drawn once and kept),
    while the kernel counts the Python steps of the student's own code (their
    functions, helpers, lambdas, comprehensions, ``exec``'d strings) and the
    torch functions called. A loop in any style makes one or both counts grow
    with the size; the rule, its thresholds and why they were chosen are in
    the module docstring of ``grader/checks/rules.py``. Code that changes the
    tracing hooks or starts a thread while it runs fails the rule.
    """

    kind = "vectorised"
    params_schema = kind_params(
        {
            **_TARGET,
            "args": CALLS_PROPERTIES["args"],
            "kwargs": CALLS_PROPERTIES["kwargs"],
            "dims": DIMS,
            "scale": param("string", "the dim that grows: it takes each of sizes in turn (name it in the argument specs)"),
            "sizes": param("array", f"the small and the large size of the scale dim (at least {MIN_SIZE_GAP} apart)",
                           default=[10, 1000], minItems=2, maxItems=2, items={"type": "integer", "minimum": 0}),
            "unit": param("string", "what the scale dim counts, for messages (rows, points, samples)", default="items"),
        },
        required=["scale"],
        example={"function": "pairwise_sq_distances", "scale": "N", "sizes": [10, 1000], "unit": "rows",
                 "args": [{"tensor": {"shape": ["N", 3], "dtype": "float64"}}]},
    )

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        problems = _arg_problems(params, [params.get("scale", "")])
        small, large = params.get("sizes", [10, 1000])
        if large - small < MIN_SIZE_GAP:
            problems.append(("sizes", f"the large size must exceed the small one by at least {MIN_SIZE_GAP} (got {small}, {large})"))
        if params.get("scale") in params.get("dims", {}):
            problems.append(("scale", f"{params['scale']!r} is also in dims: the scale dim takes its sizes from sizes"))
        return problems

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        fixed = draw_dims(self.param("dims"), rng)
        sizes = self.param("sizes")
        calls = []
        for size in sizes:
            dims = {**fixed, self.params["scale"]: int(size)}
            call_rng = random.Random(rng.random())
            calls.append({"args": [generate(arg, call_rng, dims) for arg in self.param("args")],
                          "kwargs": {key: generate(arg, call_rng, dims) for key, arg in self.param("kwargs").items()}})
        budget = int(20 * max(sizes) + 10_000)
        return [ProbeCall("count_steps", {"target": self._target([generate(a, rng, fixed) for a in self.param("init")]),
                                          "calls": calls, "max_steps": budget})]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        records = self._one_run(answers[0], ctx)
        if isinstance(records, Verdict):
            return records
        if len(records) != 2:
            return Verdict.broken(f"the kernel counted {len(records)} calls, expected 2")
        small, large = self.param("sizes")
        return loop_verdict(target_name(self.params), (int(small), int(large)), str(self.param("unit")), records[0], records[1])


# ---------------------------------------------------------------- calls


def calls_verdict(name: str, forbidden: Sequence[str], required: Sequence[str], records: Sequence[dict[str, Any]]) -> Verdict:
    """The verdict on the watched calls of ``name``: a forbidden function reached, a required one never reached."""
    tag = Failure.FORBIDDEN_CALL if forbidden else Failure.MISSING_CALL
    for record in records:
        if "tampered" in record:
            return Verdict.failed(f"`{name}` could not be watched: {record['tampered']}, "
                                  "so the grader cannot tell which functions it calls").because(tag)
    seen = [called for record in records for called in record.get("seen", [])]
    hit = [called for called in forbidden if called in seen]
    if hit:
        also = f" (and {', '.join(hit[1:])})" if len(hit) > 1 else ""
        return Verdict.failed(f"`{name}` calls {hit[0]}{also}, which the contract forbids").because(Failure.FORBIDDEN_CALL)
    for record in records:
        if "raised" in record:
            return raised_verdict(record["raised"], f"`{name}`")
    missing = [called for called in required if called not in seen]
    if missing:
        also = f" (nor {', '.join(missing[1:])})" if len(missing) > 1 else ""
        return Verdict.failed(f"`{name}` never calls {missing[0]}{also}, which the contract requires").because(Failure.MISSING_CALL)
    said = []
    if forbidden:
        said.append(f"calls none of {', '.join(forbidden)}")
    if required:
        said.append(f"calls {', '.join(required)}")
    return Verdict.passed(f"`{name}` {' and '.join(said)}")


@register
class Calls(_RuleCheck):
    """The target calls none of the ``forbidden`` functions and each of the ``required`` ones, seen at run time.

    The target is called on generated arguments while the kernel watches
    every call: a Python function is recognised by its code object, a
    built-in by its identity (a tensor method also when bound to a tensor), and
    anything torch dispatches by the function torch reports, so an alias,
    ``getattr``, ``from torch import softmax as sm``, a call from inside
    another library function, or a rebinding such as ``torch.softmax =
    my_wrapper`` made before the function was written reach the same object.
    Names are resolved from what torch, numpy, math and builtins held before
    any student code ran. List every door to a forbidden function
    (``torch.softmax``, ``torch.nn.functional.softmax``,
    ``torch.Tensor.softmax``, ``torch.special.softmax``): each is its own object.
    An ATen operator (``torch.ops.aten._softmax``) is noted by a torch dispatch
    mode, whatever Python reached it (``torch._softmax``, ``torch._VF``,
    ``getattr(torch.ops.aten, name)``, a library function): list the operators
    the forbidden function runs too, and that door is shut as well.
    """

    kind = "calls"
    params_schema = kind_params(
        {
            **_TARGET,
            **CALLS_PROPERTIES,
            "calls": param("integer", "how many calls, each with freshly drawn arguments", default=2, minimum=1, maximum=20),
            "forbidden": _FORBIDDEN,
            "required": _REQUIRED,
        },
        example={"function": "softmax", "forbidden": ["torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax"],
                 "args": [{"tensor": {"shape": [4, 5], "dtype": "float64"}}]},
    )

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        problems = _arg_problems(params)
        if not params.get("forbidden") and not params.get("required"):
            problems.append(("(rule)", "name the functions that are forbidden, required, or both"))
        both = sorted(set(params.get("forbidden", [])) & set(params.get("required", [])))
        if both:
            problems.append(("required", f"{', '.join(both)} cannot be both forbidden and required"))
        return problems

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        calls, init = self._calls(rng)
        names = [*self.param("forbidden"), *self.param("required")]
        return [ProbeCall("watch_calls", {"target": self._target(init), "calls": calls, "names": names})]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        value = answers[0].value if answers[0].ok and isinstance(answers[0].value, dict) else {}
        if "unknown" in value:
            return Verdict.broken(f"the rubric names functions the kernel does not have: {', '.join(map(str, value['unknown']))}")
        records = self._one_run(answers[0], ctx)
        if isinstance(records, Verdict):
            return records
        return calls_verdict(target_name(self.params), self.param("forbidden"), self.param("required"), records)


# ---------------------------------------------------------------- source_rule

CONSTRUCTS: dict[str, tuple[tuple[type[ast.AST], ...], str]] = {
    "for": ((ast.For, ast.AsyncFor), "a `for` loop"),
    "while": ((ast.While,), "a `while` loop"),
    "comprehension": ((ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp), "a comprehension"),
    "lambda": ((ast.Lambda,), "a lambda"),
    "import": ((ast.Import, ast.ImportFrom), "an import"),
    "global": ((ast.Global, ast.Nonlocal), "a global or nonlocal statement"),
    "try": ((ast.Try,), "a try statement"),
}
_LOOPS = {"for", "while", "comprehension"}
_MAGIC = re.compile(r"^\s*[%!]")


@register
class SourceRule(Check):
    """The function's source, and its helpers', has none of the forbidden constructs (loops...) or names (``torch.func``...).

    Judged in the grader's process from the cells' sources, with no kernel
    call: the last top-level ``def`` of ``function`` (or ``Class.method``) in
    the notebook is read with ``ast``. ``forbid`` names constructs (loops,
    comprehensions, lambdas...); ``forbid_names`` dotted names, matched after the
    submission's imports and simple aliases are undone (``import torch.func as
    tf`` then ``tf.grad`` is ``torch.func.grad``, and forbidding ``torch.func``
    forbids everything under it). It cannot see what a string builds at run
    time (``getattr(torch, "func")``, ``exec``): use ``calls`` for that.
    """

    kind = "source_rule"
    params_schema = kind_params(
        {
            "function": param("string", "the function whose source is read: a top-level def, or Class.method", pattern=r"^\w+(\.\w+)?$"),
            "forbid": param("array", "constructs its source must not contain", default=[], items={"type": "string", "enum": sorted(CONSTRUCTS)}),
            "forbid_names": param("array", "dotted names its source must not use (torch.func forbids torch.func.grad too)",
                                  default=[], items={"type": "string", "pattern": r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"}),
            "helpers": param("boolean", "also read the submission's functions it calls by name, and theirs", default=True),
        },
        required=["function"],
        example={"function": "pairwise_sq_distances", "forbid": ["for", "while", "comprehension"]},
    )

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        if not params.get("forbid") and not params.get("forbid_names"):
            return [("(rule)", "name constructs (forbid) or names (forbid_names) the source must not contain")]
        return []

    def names(self) -> set[str]:
        return {str(self.params["function"]).partition(".")[0]}

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        return []

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        name = str(self.params["function"])
        program = Program.from_sources(ctx.sources)
        found = program.function(name)
        if found is None:
            return Verdict.not_attempted(f"not found: the submission defines no `{name}`{ctx.why_missing(name.partition('.')[0])}")
        if is_stub(found[1]):
            return Verdict.not_attempted(f"not attempted: `{name}` is still a stub")
        checked = [(name, found)]
        if self.param("helpers"):
            checked += program.helpers(found[1], exclude={name.rpartition(".")[2]})
        for label, (cell, node) in checked:
            problem = source_problem(node, program.aliases, self.param("forbid"), self.param("forbid_names"))
            if problem is not None:
                construct, line, text = problem
                whose = f"`{name}`" if label == name else f"`{name}` calls `{label}`, which"
                where = f"line {line} of its definition in {cell_label(cell, ctx.sources)}"
                failure = Failure.LOOPED if construct in _LOOPS else (Failure.FORBIDDEN_CALL if construct == "name" else None)
                verdict = Verdict.failed(f"{whose} uses {text} ({where}), which the contract forbids")
                return verdict.because(failure) if failure is not None else verdict
        listed = [CONSTRUCTS[c][1] for c in self.param("forbid")] + list(self.param("forbid_names"))
        return Verdict.passed(f"`{name}` uses none of: {', '.join(listed)}")


def is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A def whose body is only a template stub: ``pass``, ``...``, ``return None`` or ``raise NotImplementedError`` (a docstring aside).

    The same bodies the kernel calls stubs (``is_stub`` in ``grader/probes/runtime.py``), read from the source.
    """
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
        body = body[1:]
    for statement in body:
        if isinstance(statement, ast.Pass) or (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)):
            continue
        if isinstance(statement, ast.Return) and (statement.value is None or
                                                  (isinstance(statement.value, ast.Constant) and statement.value.value is None)):
            continue
        raised = statement.exc if isinstance(statement, ast.Raise) else None
        raised = raised.func if isinstance(raised, ast.Call) else raised
        if isinstance(raised, ast.Name) and raised.id == "NotImplementedError":
            continue
        return False
    return True


def source_problem(
    node: ast.AST, aliases: dict[str, str], forbid: Sequence[str], forbid_names: Sequence[str]
) -> tuple[str, int, str] | None:
    """The first forbidden construct or name in a def, as (construct or "name", line in the def, words), or None."""
    start = getattr(node, "lineno", 1)
    own = {**aliases, **_import_aliases(ast.walk(node))}
    for sub in ast.walk(node):
        if sub is node:
            continue
        for construct in forbid:
            types, words = CONSTRUCTS[construct]
            if isinstance(sub, types):
                return construct, getattr(sub, "lineno", start) - start + 1, words
        for dotted in _dotted_names(sub, own):
            hit = next((f for f in forbid_names if dotted == f or dotted.startswith(f + ".")), None)
            if hit is not None:
                return "name", getattr(sub, "lineno", start) - start + 1, hit
    return None


def _dotted_names(node: ast.AST, aliases: dict[str, str]) -> list[str]:
    """The full dotted names a node uses: a name or attribute chain through the aliases, or what an import brings in."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [f"{node.module}.{alias.name}" for alias in node.names]
    if isinstance(node, ast.Name):
        return [aliases.get(node.id, node.id)]
    if isinstance(node, ast.Attribute):
        chain = _chain(node)
        if chain is not None:
            head, _, rest = chain.partition(".")
            return [f"{aliases.get(head, head)}.{rest}"]
    return []


def _chain(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _import_aliases(nodes: Iterator[ast.AST] | Sequence[ast.AST]) -> dict[str, str]:
    """What the names bound by imports (and ``F = torch.nn.functional``) stand for."""
    found: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = alias.name
                else:
                    root = alias.name.partition(".")[0]
                    found[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            chain = _chain(node.value) if isinstance(node.value, (ast.Attribute, ast.Name)) else None
            if chain is not None:
                head, _, rest = chain.partition(".")
                base = found.get(head, head)
                found[node.targets[0].id] = f"{base}.{rest}" if rest else base
    return found


class Program:
    """The submission's top-level definitions and import aliases, read from its cells in order (the last definition wins)."""

    def __init__(self) -> None:
        self.defs: dict[str, tuple[int, ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        self.aliases: dict[str, str] = {}

    @classmethod
    def from_sources(cls, sources: dict[int, str]) -> Program:
        program = cls()
        for number in sorted(sources):
            tree = parse_cell(sources[number])
            if tree is None:
                continue
            program.aliases.update(_import_aliases(tree.body))
            for statement in tree.body:
                if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    program.defs[statement.name] = (number, statement)
                elif isinstance(statement, ast.ClassDef):
                    for item in statement.body:
                        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                            program.defs[f"{statement.name}.{item.name}"] = (number, item)
        return program

    def function(self, name: str) -> tuple[int, ast.FunctionDef | ast.AsyncFunctionDef] | None:
        return self.defs.get(name)

    def helpers(self, node: ast.AST, exclude: set[str]) -> list[tuple[str, tuple[int, ast.FunctionDef | ast.AsyncFunctionDef]]]:
        """The submission's top-level functions ``node`` calls by name, and those they call, each once."""
        found: list[tuple[str, tuple[int, ast.FunctionDef | ast.AsyncFunctionDef]]] = []
        queue, seen = [node], set(exclude)
        while queue:
            current = queue.pop()
            for sub in ast.walk(current):
                if isinstance(sub, ast.Name) and sub.id in self.defs and sub.id not in seen:
                    seen.add(sub.id)
                    found.append((sub.id, self.defs[sub.id]))
                    queue.append(self.defs[sub.id][1])
        return found


def parse_cell(source: str) -> ast.Module | None:
    """A cell's syntax tree, IPython's magic and shell lines blanked (None for a cell magic or a cell that does not parse)."""
    if source.lstrip().startswith("%%"):
        return None
    lines = ["" if _MAGIC.match(line) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError):
        return None
