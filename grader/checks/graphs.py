# Over 500 lines on purpose: the docstring defines a real path and passing through a layer, and both the graph
# functions and the four kinds implement that one definition; apart, the definition would be split from its users.
"""Check kinds for autograd graphs: a model's linear layers, the graph behind a tensor, and a grad_fn chain.

The kernel serialises the graph behind a tensor (``grad_graph`` probe) as a list
of nodes, each with its type name, its ``name()`` and the indexes of its
``next_functions`` (``None`` entries left out), node 0 being ``t.grad_fn``. The
judge then checks a student's list of names against that graph. CONTRACT-04
says what a real path is: it starts at ``t.grad_fn``, each next name is one of
the previous node's ``next_functions``, it takes at least one step when
``t.grad_fn`` has a next function, and it may stop wherever the function's own
rule finds nothing to follow (so it need not end at a leaf). The grader designs
fresh graphs of its own (an MLP of another depth, a chain of elementwise
operations) so that names typed in by hand fail; on those only the path is
judged, never which nodes it reaches; one of them is a product of two leaves,
whose root has only leaves as next functions (a real path still steps onto one).

When is a linear layer "passed through"? A node *uses* a layer when one of its
next_functions leads, through nodes that have a single next function (such as
``TBackward0`` or ``ViewBackward0``), to the ``AccumulateGrad`` leaf of that
layer's weight or bias. ``AddmmBackward0``, ``MmBackward0`` + ``AddBackward0``
(3-d inputs, no bias, ...) all qualify, whatever names this torch version uses.
A path passes through the layers its nodes use. For the submission's own
``output`` it must pass through every linear layer of ``model`` (CONTRACT-04:
"the path for ``output`` passes through all three linear layers of ``model``").
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grader.checks import Check, JudgeContext, answer_trouble, article, raised_message, read_answer, register
from grader.checks.schema import kind_params, param
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Verdict
from grader.shorten import shorten_items

_REPR = re.compile(r"^<\s*([A-Za-z_][\w.:]*) object at 0x[0-9a-fA-F]+\s*>$")
_SINGLE_CHILD_DEPTH = 6
_UNARY = ("sin", "cos", "exp", "tanh", "sigmoid")
_BINARY = ("mul_leaf", "leaf_mul", "mul_const", "add_const", "pow2")
_SHOWN = {
    "sin": "sin({})", "cos": "cos({})", "exp": "exp({})", "tanh": "tanh({})", "sigmoid": "sigmoid({})",
    "mul_leaf": "{} * w", "leaf_mul": "w * {}", "mul_const": "{} * 2.5", "add_const": "{} + 1.5", "pow2": "({})**2",
    "sum": "sum({})", "mean": "mean({})",
}


# ---------------------------------------------------------------- the graph and paths in it


@dataclass(frozen=True)
class Graph:
    """A serialised autograd graph: node names (type name and ``name()``) and edges to next_functions."""

    names: tuple[str, ...]
    aliases: tuple[str, ...]
    edges: tuple[tuple[int, ...], ...]

    @classmethod
    def parse(cls, data: Any) -> Graph | None:
        """The graph in a probe answer, or None when it is not well formed."""
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if not isinstance(nodes, list) or not nodes:
            return None
        names, aliases, edges = [], [], []
        for node in nodes:
            if not isinstance(node, dict) or not isinstance(node.get("name"), str) or not isinstance(node.get("next"), list):
                return None
            children = node["next"]
            if not all(type(c) is int and 0 <= c < len(nodes) for c in children):
                return None
            names.append(node["name"])
            aliases.append(str(node.get("alias", "")))
            edges.append(tuple(children))
        return cls(tuple(names), tuple(aliases), tuple(edges))

    def matches(self, node: int, name: str) -> bool:
        wanted = normalise_name(name)
        return wanted in (self.names[node], normalise_name(self.aliases[node]))

    def child_names(self, nodes: set[int]) -> list[str]:
        return sorted({self.names[c] for n in nodes for c in self.edges[n]})


def normalise_name(name: str) -> str:
    """A node name as students may write it: ``AddmmBackward0``, ``torch::autograd::AccumulateGrad`` or a repr."""
    name = name.strip()
    found = _REPR.match(name)
    if found:
        name = found.group(1)
    return name.rsplit("::", 1)[-1].rsplit(".", 1)[-1]


def follow(graph: Graph, chain: Sequence[str]) -> list[set[int]] | str:
    """The candidate nodes at each step of ``chain`` read as a path from the root, or what breaks it.

    Names are not unique (three ``AddmmBackward0`` nodes in a 3-layer MLP), so
    every node a step could mean is kept. A real path takes at least one step
    when the root has a next function, and may stop anywhere after that.
    """
    if not chain:
        return f"it returned an empty list, but the tensor has a grad_fn ('{graph.names[0]}')"
    if not graph.matches(0, chain[0]):
        return f"the first name '{chain[0]}' is not the tensor's grad_fn ('{graph.names[0]}')"
    steps = [{0}]
    for number, name in enumerate(chain[1:], start=2):
        current = steps[-1]
        following = {c for n in current for c in graph.edges[n] if graph.matches(c, name)}
        if not following:
            options = graph.child_names(current)
            previous = chain[number - 2]
            if not options:
                return f"step {number} '{name}' comes after '{previous}', which has no next_functions (the path had already ended)"
            return f"step {number} '{name}' is not one of the next_functions of step {number - 1} '{previous}' ({', '.join(options)})"
        steps.append(following)
    if len(chain) == 1 and graph.edges[0]:
        options = graph.child_names({0})
        return f"the chain stops at the tensor's grad_fn '{chain[0]}' without a single step, though it has next_functions ({', '.join(options)})"
    return steps


def layer_uses(graph: Graph, leaves: dict[int, str]) -> list[frozenset[str]]:
    """For each node, the layers whose weight or bias it takes as an input (see the module docstring)."""

    def leaf_layer(node: int) -> str | None:
        for _ in range(_SINGLE_CHILD_DEPTH):
            if node in leaves:
                return leaves[node]
            if len(graph.edges[node]) != 1:
                return None
            node = graph.edges[node][0]
        return None

    return [frozenset(layer for c in children if (layer := leaf_layer(c)) is not None) for children in graph.edges]


def best_layers_on_path(graph: Graph, steps: list[set[int]], uses: list[frozenset[str]]) -> frozenset[str]:
    """The most layers a walk matching the chain's names can pass through."""
    covered: dict[int, frozenset[str]] = {0: uses[0]}
    for following in steps[1:]:
        reached: dict[int, frozenset[str]] = {}
        for node, layers in covered.items():
            for child in graph.edges[node]:
                if child in following:
                    candidate = layers | uses[child]
                    if child not in reached or len(candidate) > len(reached[child]):
                        reached[child] = candidate
        covered = reached
    return max(covered.values(), key=len, default=frozenset())


# ---------------------------------------------------------------- the judge's own graphs


def random_mlp(rng: random.Random, depths: Sequence[int]) -> dict[str, Any]:
    """An MLP spec for the ``grad_graph`` probe: depth, widths, activation, bias per layer, input grad, reduction."""
    depth = rng.choice(list(depths))
    return {
        "kind": "mlp",
        "seed": rng.randrange(2**31),
        "sizes": [rng.randint(2, 6) for _ in range(depth + 1)],
        "activation": rng.choice(["tanh", "relu", "sigmoid"]),
        "batch": rng.randint(2, 4),
        "bias": [rng.random() < 0.7 for _ in range(depth)],
        "input_grad": rng.random() < 0.5,
        "reduce": rng.choice(["sum", "mean", None]),
    }


def random_ops(rng: random.Random) -> dict[str, Any]:
    """A chain of elementwise operations on two leaves x and w, ending in a reduction."""
    ops = [rng.choice(_UNARY)]
    for _ in range(rng.randint(2, 4)):
        ops.append(rng.choice(_BINARY if ops[-1] in _UNARY else _UNARY))
    ops.append(rng.choice(["sum", "mean"]))
    return {"kind": "ops", "seed": rng.randrange(2**31), "size": rng.randint(2, 5), "ops": ops}


def random_shallow(rng: random.Random) -> dict[str, Any]:
    """x * w (or w * x) with no reduction: a root whose next functions are all leaves.

    A real path must still take a step (onto a leaf's AccumulateGrad): a chain
    rule that never steps onto leaves stops at the root here.
    """
    return {"kind": "ops", "seed": rng.randrange(2**31), "size": rng.randint(2, 5), "ops": [rng.choice(["mul_leaf", "leaf_mul"])]}


def fresh_graphs(rng: random.Random, count: int, depths: Sequence[int]) -> list[dict[str, Any]]:
    """The judge's own graphs, in turn an MLP, a chain of operations and a shallow product of leaves."""
    makers = (lambda: random_mlp(rng, depths), lambda: random_ops(rng), lambda: random_shallow(rng))
    return [makers[number % 3]() for number in range(count)]


def describe(spec: dict[str, Any]) -> str:
    """A fresh graph's spec in a student's words."""
    if spec["kind"] == "mlp":
        depth = len(spec["sizes"]) - 1
        return f"a {depth}-layer {spec['activation']} MLP the grader built"
    shown = "x"
    for op in spec["ops"]:
        shown = _SHOWN[op].format(shown)
    return f"the grader's tensor {shown}"


# ---------------------------------------------------------------- reading the probe's records


def tensor_problem(value: dict[str, Any], tensor: str, model: str = "model") -> str:
    """Why the record of a global tensor has no usable graph ('' when it has one)."""
    if "not_tensor" in value:
        extra = " (having a grad_fn attribute is not enough)" if value.get("grad_fn_attribute") else ""
        return f"`{tensor}` is a {value['not_tensor']}, not a torch.Tensor{extra}"
    if "model_not_module" in value:
        return f"`{model}` is {article(value['model_not_module'])}, not a torch.nn.Module"
    if value.get("no_grad_fn"):
        if value.get("requires_grad"):
            return f"`{tensor}` has no grad_fn: it is a leaf tensor, not a result computed by the model"
        return f"`{tensor}` is detached: it has no grad_fn (it was computed without gradient tracking, or detached)"
    graph = value.get("graph")
    if isinstance(graph, dict) and "too_big" in graph:
        return f"the graph behind `{tensor}` has more than {graph['too_big']} nodes, too many to check"
    if Graph.parse(graph) is None:
        return f"the grader could not read the graph behind `{tensor}`"
    return ""


def chain_names(record: Any, function: str) -> list[str] | str:
    """The names a chain function returned, or what went wrong (as a phrase)."""
    if not isinstance(record, dict):
        return f"`{function}` gave no usable answer"
    if "not_callable" in record:
        return f"`{function}` is {article(record['not_callable'])}, not a function"
    if "raised" in record:
        return raised_message(record["raised"], f"`{function}`")
    if "not_list" in record:
        return f"`{function}` returned {article(record['not_list'])}, not a list of names"
    if "not_strings" in record:
        what = "node objects" if record.get("node") else f"{record['not_strings']} objects"
        return f"`{function}` returned a list of {what}, not strings (names such as 'AddmmBackward0')"
    names = record.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return f"`{function}` gave no usable answer"
    return names


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _not_implemented(record: Any) -> bool:
    return isinstance(record, dict) and record.get("not_implemented") is True


def _leaves(value: dict[str, Any]) -> tuple[dict[int, str], list[str]]:
    """Parameter leaves as node index -> layer name, and the linear layers' names, from a ``params`` record."""
    params = _dict(value.get("params"))
    layer_of: dict[str, str] = {}
    names: list[str] = []
    for layer in params.get("layers", []):
        if isinstance(layer, dict) and isinstance(layer.get("name"), str) and isinstance(layer.get("params"), list):
            names.append(layer["name"])
            layer_of.update({str(p): layer["name"] for p in layer["params"]})
    leaves = {}
    for key, leaf in _dict(params.get("leaves")).items():
        if str(key).isdigit() and isinstance(leaf, str) and leaf in layer_of:
            leaves[int(key)] = layer_of[leaf]
    return leaves, names


# ---------------------------------------------------------------- check kinds

_MODEL = param("string", "the global nn.Module")
_TENSOR = param("string", "the global tensor whose autograd graph is read")
_FUNCTION = param("string", "the student's chain function: it takes a tensor and returns the names of a path in its graph")
_DEPTHS = param("array", "the depths (numbers of linear layers) the grader's own MLP graphs are drawn from", default=[2, 4, 5],
                minItems=1, items={"type": "integer", "minimum": 1, "maximum": 8})


def _fresh(default: int, least: int) -> dict[str, Any]:
    return param("integer", "how many graphs of the grader's own the chain function also runs on (an MLP, then a chain of "
                 "operations, then a product of two leaves, in turn)", default=default, minimum=least, maximum=6)


@register
class LinearLayerCount(Check):
    """A global ``nn.Module`` must contain exactly ``count`` ``nn.Linear`` layers, wherever they sit in its tree."""

    kind = "linear_layer_count"
    params_schema = kind_params(
        {"model": _MODEL, "count": param("integer", "how many nn.Linear layers it must contain", minimum=1)},
        required=["model", "count"],
        example={"model": "model", "count": 3},
    )

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        return [ProbeCall("module_summary", {"model": self.params["model"]})]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        name, count = self.params["model"], self.params["count"]
        value = read_answer(answers[0], name, ctx)
        if isinstance(value, Verdict):
            return value
        if "not_module" in value:
            return Verdict.failed(f"`{name}` is {article(str(value['not_module']))}, not a torch.nn.Module")
        modules = value.get("modules")
        if not isinstance(modules, list):
            return Verdict.failed(f"the grader could not read the layers of `{name}`")
        linear = [m.get("name") or "(the model itself)" for m in modules if isinstance(m, dict) and m.get("linear") is True]
        where = f" ({', '.join(repr(n) for n in linear)})" if linear else ""
        if len(linear) == count:
            return Verdict.passed(f"`{name}` has {count} nn.Linear layers{where}")
        return Verdict.failed(f"found {len(linear)} nn.Linear layer{'s' if len(linear) != 1 else ''} in `{name}`{where}, expected {count}")


@register
class GraphReachesModule(Check):
    """A global tensor must carry a graph whose AccumulateGrad leaves are a global model's own parameters.

    Credit is the share of the model's trainable parameters the graph reaches.
    """

    kind = "graph_reaches_module"
    params_schema = kind_params({"tensor": _TENSOR, "model": _MODEL}, required=["tensor", "model"],
                                example={"tensor": "output", "model": "model"})

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        return [ProbeCall("grad_graph", {"tensor": self.params["tensor"], "model": self.params["model"]})]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        tensor, model = self.params["tensor"], self.params["model"]
        value = read_answer(answers[0], tensor, ctx)
        if isinstance(value, Verdict):
            return value
        problem = tensor_problem(value, tensor, model)
        if problem:
            return Verdict.failed(problem)
        params = _dict(value.get("params"))
        trainable = [str(p) for p in params.get("trainable", []) if isinstance(p, str)]
        reached = set(_dict(params.get("leaves")).values())
        if not trainable:
            return Verdict.failed(f"`{model}` has no parameters that require grad")
        hit = [p for p in trainable if p in reached]
        if not hit:
            return Verdict.failed(
                f"the graph behind `{tensor}` reaches none of `{model}`'s parameters: it was not computed by `{model}`"
            )
        if len(hit) == len(trainable):
            return Verdict.passed(f"the graph behind `{tensor}` reaches all {len(trainable)} parameters of `{model}`")
        missed = [p for p in trainable if p not in reached]
        return Verdict.partial(
            len(hit) / len(trainable),
            f"the graph behind `{tensor}` reaches {len(hit)} of `{model}`'s {len(trainable)} trainable parameters "
            f"(not {shorten_items(missed, most=6, sep=', ')})",
        )


class _ChainCheck(Check):
    """Shared plumbing: ``grad_graph`` calls that also run the student's chain function."""

    def _output_call(self, with_model: bool = False) -> ProbeCall:
        args: dict[str, Any] = {"tensor": self.params.get("tensor", "output"), "function": self.params["function"]}
        if with_model:
            args["model"] = self.params.get("model", "model")
        return ProbeCall("grad_graph", args)

    def _fresh_call(self, spec: dict[str, Any]) -> ProbeCall:
        return ProbeCall("grad_graph", {"build": spec, "function": self.params["function"]})

    def _label(self, call: ProbeCall) -> str:
        build = call.args.get("build")
        return describe(build) if isinstance(build, dict) else f"`{call.args['tensor']}`"


@register
class GradChainPaths(_ChainCheck):
    """The chain function's names must be a real path in every graph it is given.

    It runs on the submission's own tensor (when it has a graph) and on
    ``fresh`` graphs the judge designs; identical answers for different graphs
    mean hard-coded names. Credit is the share of graphs with a real path, and
    nothing when no graph of the grader's is right.
    """

    kind = "grad_chain_paths"
    params_schema = kind_params(
        {
            "function": _FUNCTION,
            "tensor": param("string", "a global tensor the chain function also runs on (default: only the grader's graphs)"),
            "fresh": _fresh(default=3, least=2),
            "depths": _DEPTHS,
        },
        required=["function"],
        example={"function": "grad_fn_chain", "tensor": "output"},
    )

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        calls = [self._output_call()] if "tensor" in self.params else []
        specs = fresh_graphs(rng, self.param("fresh"), self.param("depths"))
        return calls + [self._fresh_call(spec) for spec in specs]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        function = self.params["function"]
        results: list[tuple[ProbeCall, tuple[str, ...], str, bool]] = []
        for call, answer in zip(calls, answers, strict=True):
            trouble = answer_trouble(answer, function, ctx)
            if trouble is not None:
                return trouble
            value = answer.value if isinstance(answer.value, dict) else {}
            if value.get("missing") == function:
                return Verdict.not_attempted(f"not found: the submission defines no `{function}`{ctx.why_missing(function)}")
            if "build" not in call.args and ("missing" in value or "rejected" in value or tensor_problem(value, call.args["tensor"])):
                continue  # the submission's tensor has no graph (other checks say why): judge the grader's graphs only
            if _not_implemented(value.get("chain")):
                return Verdict.not_attempted(f"not attempted: `{function}` still raises NotImplementedError")
            results.append((call, *self._one(value, function)))
        return self._verdict(results)

    @staticmethod
    def _one(value: dict[str, Any], function: str) -> tuple[tuple[str, ...], str, bool]:
        """The names, the problem ('' if none) and whether the function raised, for one graph."""
        chain = value.get("chain")
        names = chain_names(chain, function)
        if isinstance(names, str):
            return (), names, isinstance(chain, dict) and "raised" in chain
        graph = Graph.parse(value.get("graph"))
        if graph is None:
            return tuple(names), "the grader could not read the graph", False
        found = follow(graph, names)
        return tuple(names), found if isinstance(found, str) else "", False

    def _verdict(self, results: list[tuple[ProbeCall, tuple[str, ...], str, bool]]) -> Verdict:
        function = self.params["function"]
        raised = [problem for _, _, problem, did_raise in results if did_raise]
        if raised and len(raised) == len(results):
            return Verdict.error(raised[0])
        chains = {names for _, names, _, _ in results}
        if len(results) >= 2 and len(chains) == 1 and results[0][1]:
            return Verdict.failed(f"`{function}` returns the same names for every tensor: it looks hard-coded")
        problems = [(self._label(call), problem) for call, _, problem, _ in results if problem]
        if not problems:
            return Verdict.passed(f"a real path in all {len(results)} graphs it was given")
        fresh_right = any(not problem and "build" in call.args for call, _, problem, _ in results)
        fraction = (len(results) - len(problems)) / len(results) if fresh_right else 0.0
        if len(problems) == len(results) and len({problem for _, problem in problems}) == 1:
            return Verdict.partial(fraction, problems[0][1])
        return Verdict.partial(fraction, f"the names are not a path in {len(problems)} of {len(results)} graphs: {merge(problems)}")


@register
class GradChainLayers(_ChainCheck):
    """On the submission's tensor the chain must pass through every linear layer of the submission's model.

    See the module docstring for what "passing through a layer" means. Only the
    submission's own tensor is judged for layers (CONTRACT-04: "the path for
    ``output`` passes through all three linear layers of ``model``"). The
    function also runs on ``fresh`` graphs of the grader's: the chain for
    ``output`` counts only when the function gives a real path on at least one
    of them, i.e. when it follows ``next_functions`` rather than returning names
    typed in for ``output``.
    """

    kind = "grad_chain_layers"
    params_schema = kind_params(
        {"function": _FUNCTION, "tensor": _TENSOR, "model": _MODEL, "fresh": _fresh(default=2, least=0), "depths": _DEPTHS},
        required=["function", "tensor", "model"],
        example={"function": "grad_fn_chain", "tensor": "output", "model": "model"},
    )

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        specs = fresh_graphs(rng, self.param("fresh"), self.param("depths"))
        return [self._output_call(with_model=True)] + [self._fresh_call(spec) for spec in specs]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        function, tensor = self.params["function"], self.params["tensor"]
        value = read_answer(answers[0], tensor, ctx)
        if isinstance(value, Verdict):
            return value
        problem = tensor_problem(value, tensor, self.params["model"])
        if problem:
            return Verdict.failed(f"cannot check: {problem}")
        if _not_implemented(value.get("chain")):
            return Verdict.not_attempted(f"not attempted: `{function}` still raises NotImplementedError")
        problem = self._problem(value, function)
        if problem:
            return Verdict.failed(f"on `{tensor}`: {problem}")
        names = chain_names(value.get("chain"), function)
        evidence = self._evidence(answers[1:], function, [] if isinstance(names, str) else names)
        if evidence in ("none", "fits_anyway"):
            gives = (f"gives a real path only in the grader's graphs where its names for `{tensor}` fit too"
                     if evidence == "fits_anyway" else "gives no real path in any of the grader's own graphs")
            return Verdict.failed(
                f"`{function}` {gives}, so its chain for `{tensor}` "
                "does not show that it follows next_functions (see the check of paths)"
            )
        return Verdict.passed(f"the chain for `{tensor}` passes through every linear layer of `{self.params['model']}`")

    @staticmethod
    def _evidence(answers: Sequence[Answer], function: str, names_for_tensor: Sequence[str]) -> str:
        """What the fresh graphs show: 'follows', 'fits_anyway', 'none', or 'undecided' when none can tell.

        Only a graph in which the names given for the tensor are not a path can
        tell: a list typed in for a 3-layer ReLU ``output`` is also a real path
        in a deeper ReLU MLP of the grader's. A chain of operations (the second
        fresh graph) never holds a path through linear layers, so with two or
        more fresh graphs one of them always tells.
        """
        telling = fits_anyway = False
        for answer in answers:
            value = answer.value if answer.ok and isinstance(answer.value, dict) else {}
            graph = Graph.parse(value.get("graph"))
            if graph is None:  # the call failed (the function may have ended the kernel): it showed nothing
                telling = True
                continue
            names = chain_names(value.get("chain"), function)
            real = not isinstance(names, str) and not isinstance(follow(graph, names), str)
            if not isinstance(follow(graph, names_for_tensor), str):
                fits_anyway = fits_anyway or real
                continue
            if real:
                return "follows"
            telling = True
        if telling:
            return "fits_anyway" if fits_anyway else "none"
        return "undecided"

    @staticmethod
    def _problem(value: dict[str, Any], function: str) -> str:
        names = chain_names(value.get("chain"), function)
        if isinstance(names, str):
            return names
        graph = Graph.parse(value.get("graph"))
        if graph is None:
            return "the grader could not read the graph"
        steps = follow(graph, names)
        if isinstance(steps, str):
            return f"the names are not a path in the graph ({steps})"
        leaves, layers = _leaves(value)
        uses = layer_uses(graph, leaves)
        reachable = set().union(*uses) if uses else set()
        unreached = [layer for layer in layers if layer not in reachable]
        if unreached:
            return (
                f"no path can pass through all {len(layers)} linear layers: the graph behind the tensor never reaches "
                f"{shorten_items([repr(m) for m in unreached], most=6, sep=', ')} (is every layer used to compute it?)"
            )
        passed = best_layers_on_path(graph, steps, uses)
        if len(passed) >= len(layers):
            return ""
        missed = [layer for layer in layers if layer not in passed]
        return (
            f"the chain passes through {len(passed)} of the {len(layers)} linear layers; it ends at '{names[-1]}' after "
            f"{len(names)} name{'s' if len(names) != 1 else ''} without reaching {shorten_items([repr(m) for m in missed], most=6, sep=', ')}"
        )


@register
class GradChainPrinted(_ChainCheck):
    """The notebook's printed output must show the chain of the submission's tensor (its names, in order)."""

    kind = "grad_chain_printed"
    reads_printed_output = True
    params_schema = kind_params({"function": _FUNCTION, "tensor": _TENSOR}, required=["function", "tensor"],
                                example={"function": "grad_fn_chain", "tensor": "output"})

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        return [self._output_call()]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        function, tensor = self.params["function"], self.params["tensor"]
        value = read_answer(answers[0], tensor, ctx)
        if isinstance(value, Verdict):
            return value
        problem = tensor_problem(value, tensor)
        if problem:
            return Verdict.failed(f"cannot check: {problem}")
        if _not_implemented(value.get("chain")):
            return Verdict.not_attempted(f"not attempted: `{function}` still raises NotImplementedError")
        names = chain_names(value.get("chain"), function)
        if isinstance(names, str):
            return Verdict.failed(f"cannot check: {names}")
        if not names:
            return Verdict.failed(f"cannot check: `{function}({tensor})` returned no names")
        if in_order(ctx.execution.printed_text, names):
            return Verdict.passed(f"the printed output shows the {len(names)} names of `{function}({tensor})` in order")
        return Verdict.failed(f"the notebook's printed output does not show the names of `{function}({tensor})` in order")


def merge(problems: Sequence[tuple[str, str]], every: int = 0, shown: int = 3) -> str:
    """Problems as "on <label>: <problem>" (once, without labels, when every graph has the same one)."""
    if len(problems) == every and len({problem for _, problem in problems}) == 1:
        return problems[0][1]
    return "; ".join(f"on {label}: {problem}" for label, problem in problems[:shown])


def in_order(text: str, names: Sequence[str]) -> bool:
    """Whether every name occurs in ``text``, each after the previous one."""
    position = 0
    for name in names:
        found = text.find(name, position)
        if found < 0:
            return False
        position = found + len(name)
    return True
