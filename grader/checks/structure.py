"""The check kind for a module's structure: its layers, its number of parameters and its output shapes.

The module is a global (``module: name``) or what a function returns
(``function: name`` with ``args`` in the argument-spec language of
:mod:`grader.checks.argspec`); the expectation is the reference's, or given
in the rubric (``expect``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from grader.checks import JudgeContext, article, raised_verdict, read_answer, register
from grader.checks.argspec import ARG_SCHEMA, DTYPES, draw_dims, generate
from grader.checks.schema import fields, kind_params, param
from grader.checks.targets import DIMS, REFERENCE, TensorCheck, build, target_name, target_problems, target_reference_names
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Verdict


@register
class ModuleStructure(TensorCheck):
    """A module (a global, or what a function returns for given arguments) has the expected layers, parameters and output shapes.

    The expectation is the reference's (the same call on the reference) or
    given in ``expect``: ``layers`` (layer class name -> count, leaf modules
    only; other classes are free unless ``exact_layers``), ``parameters``
    (total count), ``outputs`` (output shape for each of ``inputs``, fed as
    zeros of the module's own parameter dtype unless ``dtype`` says). Credit is
    the share of these aspects that match.
    """

    kind = "module_structure"
    params_schema = kind_params(
        {
            "module": param("string", "the target: a global nn.Module"),
            "function": param("string", "the target: a function that returns an nn.Module, called with args"),
            "reference": REFERENCE,
            "args": param("array", "with function: its arguments, as argument specs", default=[], items=ARG_SCHEMA),
            "dims": DIMS,
            "inputs": param("array", "input shapes the module is run on (zeros), to compare output shapes", default=[],
                            items={"type": "array", "items": {"type": "integer", "minimum": 0}}),
            "dtype": param("string", "the dtype of those inputs (default: the dtype of the module's parameters)", enum=DTYPES),
            "exact_layers": param("boolean", "whether layer classes the expectation does not name make it fail", default=False),
            "expect": param("object", "the expectation, instead of the reference's module", **fields({
                "layers": param("object", "layer class name -> how many (leaf modules only)",
                                additionalProperties={"type": "integer", "minimum": 0}),
                "parameters": param("integer", "the total number of parameters", minimum=0),
                "outputs": param("array", "the output shape for each of inputs",
                                 items={"type": "array", "items": {"type": "integer"}}),
            })),
        },
        example={"function": "build_mlp", "args": [{"value": 6}, {"value": 16}, {"value": 3}], "inputs": [[5, 6]]},
    )

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        if ("module" in params) == ("function" in params):
            return [("(target)", "name exactly one of module, function")]
        return target_problems(params)

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        return [] if "expect" in params else target_reference_names(params)

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        target = {"module": self.params["module"]} if "module" in self.params else {"function": self.params["function"]}
        dims = draw_dims(self.param("dims"), rng)
        args = [generate(arg, rng, dims) for arg in self.param("args")]
        request = {"target": target, "args": args, "inputs": [list(s) for s in self.param("inputs")],
                   **({"dtype": self.params["dtype"]} if "dtype" in self.params else {})}
        return [ProbeCall("module_structure", request)]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        name = target_name(self.params)
        value = read_answer(answers[0], name, ctx)
        if isinstance(value, Verdict):
            return value
        if "raised" in value:
            return raised_verdict(value["raised"], f"`{name}`")
        for key in ("not_module", "not_module_result"):
            if key in value:
                return Verdict.failed(f"`{name}` gave {article(str(value[key]))}, not a torch.nn.Module")
        expected = self._expected(calls[0].args, ctx)
        problems = self._problems(value, expected)
        aspects = len(expected)
        if not problems:
            return Verdict.passed(f"`{name}`: " + ", ".join(self._summary(value, expected)))
        return Verdict.partial((aspects - len(problems)) / aspects, f"`{name}`: " + "; ".join(problems))

    def _expected(self, request: dict[str, Any], ctx: JudgeContext) -> dict[str, Any]:
        if "expect" in self.params:
            return dict(self.params["expect"])
        import torch

        reference = getattr(ctx.reference, self.params.get("reference", target_name(self.params)))
        module = reference(*[build(arg) for arg in request["args"]]) if "function" in self.params else reference
        leaves = [type(m).__name__ for m in module.modules() if not list(m.children())]
        expected: dict[str, Any] = {"layers": {n: leaves.count(n) for n in sorted(set(leaves))}}
        expected["parameters"] = sum(p.numel() for p in module.parameters())
        if request["inputs"]:
            with torch.no_grad():
                floating = [p.dtype for p in module.parameters() if p.dtype.is_floating_point]
                dtype = getattr(torch, request["dtype"]) if "dtype" in request else (floating[0] if floating else torch.float32)
                expected["outputs"] = [list(module(torch.zeros(tuple(shape), dtype=dtype)).shape) for shape in request["inputs"]]
        return expected

    def _problems(self, value: dict[str, Any], expected: dict[str, Any]) -> list[str]:
        problems = []
        leaves = _leaf_classes(value.get("modules", []))
        if "layers" in expected:
            got = {n: leaves.count(n) for n in set(leaves)}
            wrong = [f"{got.get(n, 0)} {n} (expected {count})" for n, count in sorted(expected["layers"].items()) if got.get(n, 0) != count]
            extra = [f"{got[n]} {n} (expected none)" for n in sorted(got) if n not in expected["layers"]] if self.param("exact_layers") else []
            if wrong or extra:
                problems.append("it has " + ", ".join(wrong + extra))
        if "parameters" in expected and value.get("parameters") != expected["parameters"]:
            problems.append(f"it has {value.get('parameters')} parameters, expected {expected['parameters']}")
        if "outputs" in expected:
            for shape, got_output, want in zip(self.param("inputs"), value.get("outputs", []), expected["outputs"], strict=False):
                if "raised" in got_output:
                    problems.append(f"on an input of shape {tuple(shape)} it raised {got_output['raised'].get('type', 'an error')}")
                    break
                if got_output.get("shape") != list(want):
                    problems.append(f"on an input of shape {tuple(shape)} the output has shape {tuple(got_output.get('shape') or ())}, "
                                    f"expected {tuple(want)}")
                    break
        return problems

    @staticmethod
    def _summary(value: dict[str, Any], expected: dict[str, Any]) -> list[str]:
        parts = []
        if "layers" in expected:
            parts.append(", ".join(f"{count} {name}" for name, count in sorted(expected["layers"].items())))
        if "parameters" in expected:
            parts.append(f"{value.get('parameters')} parameters")
        if "outputs" in expected:
            parts.append("the expected output shapes")
        return parts


def _leaf_classes(modules: list[dict[str, Any]]) -> list[str]:
    """The class names of the modules that have no submodules (the root counts only when it is alone)."""
    names = [str(m.get("name", "")) for m in modules]
    leaves = []
    for module in modules:
        name = str(module.get("name", ""))
        prefix = name + "." if name else ""
        if not any(other != name and other.startswith(prefix) for other in names):
            leaves.append(str(module.get("class", "")))
    return leaves
