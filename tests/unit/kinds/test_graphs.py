"""Check kinds of autograd graphs (linear_layer_count, graph_reaches_module, grad_chain_paths, grad_chain_layers,
grad_chain_printed), judged from graphs built here node by node and "students" that are chain strategies (no kernel)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from grader.checks.graphs import Graph, follow, layer_uses, normalise_name
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Outcome
from grader.rubric import Rubric
from tests.unit.kinds.support import Respond, context, judge, make


class Builder:
    """Nodes added leaves first; ``json`` numbers them breadth first from the root, as the probe does."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.children: list[list[int]] = []
        self.params: dict[int, str] = {}

    def add(self, name: str, *children: int, param: str = "") -> int:
        self.names.append(name)
        self.children.append(list(children))
        if param:
            self.params[len(self.names) - 1] = param
        return len(self.names) - 1

    def json(self, root: int) -> tuple[dict[str, Any], dict[str, str]]:
        order, index = [root], {root: 0}
        for node in order:
            for child in self.children[node]:
                if child not in index:
                    index[child] = len(order)
                    order.append(child)
        nodes = [{"name": self.names[n], "alias": self.names[n], "next": [index[c] for c in self.children[n]]} for n in order]
        return {"nodes": nodes}, {str(index[n]): p for n, p in self.params.items() if n in index}

def mlp(depth: int, activation: str = "ReluBackward0", reduce: str = "", prefix: str = "") -> dict[str, Any]:
    """The record of an MLP's graph: Addmm layers (bias leaf first), activations between, optional reduction."""
    g = Builder()
    h: int | None = None
    layers = []
    for i in range(depth):
        name = f"{prefix}{2 * i}"
        bias = g.add("AccumulateGrad", param=f"{name}.bias")
        weight = g.add("TBackward0", g.add("AccumulateGrad", param=f"{name}.weight"))
        h = g.add("AddmmBackward0", *([bias] + ([h] if h is not None else []) + [weight]))
        if i < depth - 1:
            h = g.add(activation, h)
        layers.append({"name": name, "params": [f"{name}.weight", f"{name}.bias"]})
    if reduce:
        h = g.add(reduce, h)
    assert h is not None
    graph, leaves = g.json(h)
    trainable = [p for layer in layers for p in layer["params"]]
    return {"graph": graph, "params": {"leaves": leaves, "trainable": trainable, "layers": layers}}

def no_bias_mlp(depth: int) -> dict[str, Any]:
    """The record of an MLP of bias-free layers: MmBackward0(previous, TBackward0 -> weight), no input gradient."""
    g = Builder()
    h: int | None = None
    layers = []
    for i in range(depth):
        name = str(2 * i)
        weight = g.add("TBackward0", g.add("AccumulateGrad", param=f"{name}.weight"))
        h = g.add("MmBackward0", *([h] if h is not None else []), weight)
        if i < depth - 1:
            h = g.add("ReluBackward0", h)
        layers.append({"name": name, "params": [f"{name}.weight"]})
    assert h is not None
    graph, leaves = g.json(h)
    return {"graph": graph, "params": {"leaves": leaves, "trainable": [f"{n}.weight" for n in ("0", "2", "4")][:depth], "layers": layers}}

def ops(names: list[str]) -> dict[str, Any]:
    """A chain of unary nodes over a leaf x, with a second leaf w joined by a MulBackward0 (w first)."""
    g = Builder()
    h = g.add("AccumulateGrad", param="x")
    h = g.add("MulBackward0", g.add("AccumulateGrad", param="w"), h)
    for name in names:
        h = g.add(name, h)
    graph, _ = g.json(h)
    return {"graph": graph}

def chain_ref(graph: dict[str, Any]) -> list[str]:
    """The reference strategy: prefer a next function that is not a leaf."""
    nodes, node, names = graph["nodes"], 0, []
    while True:
        names.append(nodes[node]["name"])
        nxt = nodes[node]["next"]
        if not nxt:
            return names
        inner = [c for c in nxt if nodes[c]["name"] != "AccumulateGrad"]
        node = (inner or nxt)[0]

def chain_first(graph: dict[str, Any]) -> list[str]:
    """Always the first next function: a real path that ends at the first bias."""
    nodes, node, names = graph["nodes"], 0, []
    while True:
        names.append(nodes[node]["name"])
        if not nodes[node]["next"]:
            return names
        node = nodes[node]["next"][0]

def chain_stop_before_leaf(graph: dict[str, Any]) -> list[str]:
    """The reference chain without its last (leaf) name, once it has taken a step: a real path that need not end at a leaf."""
    names = chain_ref(graph)
    return names[:-1] if len(names) > 2 else names

HARD_CODED = ["AddmmBackward0", "ReluBackward0", "AddmmBackward0", "ReluBackward0", "AddmmBackward0", "TBackward0", "AccumulateGrad"]

def shallow() -> dict[str, Any]:
    """x * w: a MulBackward0 root whose next functions are the two leaves."""
    g = Builder()
    root = g.add("MulBackward0", g.add("AccumulateGrad", param="x"), g.add("AccumulateGrad", param="w"))
    graph, _ = g.json(root)
    return {"graph": graph}


def fresh_record(call: ProbeCall) -> dict[str, Any]:
    spec = call.args["build"]
    if spec["kind"] == "mlp":
        reduce = {"sum": "SumBackward0", "mean": "MeanBackward0"}.get(spec["reduce"] or "", "")
        return mlp(len(spec["sizes"]) - 1, "TanhBackward0", reduce, prefix="layer")
    if len(spec["ops"]) == 1:
        return shallow()
    return ops(["SinBackward0", "ExpBackward0", "SumBackward0"])


def chain_without_leaves(graph: dict[str, Any]) -> list[str]:
    """Never steps onto an AccumulateGrad: on a root with only leaves below, it takes no step at all."""
    nodes, node, names = graph["nodes"], 0, []
    while True:
        names.append(nodes[node]["name"])
        inner = [c for c in nodes[node]["next"] if nodes[c]["name"] != "AccumulateGrad"]
        if not inner:
            return names
        node = inner[0]

def student(strategy: Callable[[dict[str, Any]], Any] | None, output: dict[str, Any] | None = None) -> Respond:
    """Answers of a submission whose `output` has the record ``output`` and whose chain function is ``strategy``."""
    output = mlp(3) if output is None else output

    def respond(call: ProbeCall) -> Answer:
        record = fresh_record(call) if "build" in call.args else dict(output)
        if "graph" in record and "function" in call.args:
            record["chain"] = {"names": strategy(record["graph"])} if strategy else {"raised": {"type": "NotImplementedError"},
                                                                                      "not_implemented": True}
        if "build" not in call.args and "model" not in call.args:
            record.pop("params", None)
        return Answer(True, record)

    return respond

def summary(*linear: bool) -> dict[str, Any]:
    modules = [{"name": "", "type": "torch.nn.modules.container.Sequential", "linear": False}]
    modules += [{"name": str(i), "type": "x", "linear": is_linear} for i, is_linear in enumerate(linear)]
    return {"modules": modules}

@pytest.mark.parametrize(
    ("value", "outcome", "fragment"),
    [
        (summary(True, False, True, False, True), Outcome.PASSED, "`model` has 3 nn.Linear layers ('0', '2', '4')"),
        (summary(True, False, True), Outcome.FAILED, "found 2 nn.Linear layers in `model` ('0', '2'), expected 3"),
        (summary(True, True, True, True), Outcome.FAILED, "found 4 nn.Linear layers"),
        (summary(False), Outcome.FAILED, "found 0 nn.Linear layers in `model`, expected 3"),
        ({"not_module": "list"}, Outcome.FAILED, "`model` is a list, not a torch.nn.Module"),
        ({"rejected": "None"}, Outcome.NOT_ATTEMPTED, "not attempted: `model` is still None"),
        ({"missing": "model"}, Outcome.NOT_ATTEMPTED, "not found: the submission defines no `model`"),
    ],
)
def test_linear_layer_count(rubric: Rubric, reference: Any, value: dict[str, Any], outcome: Outcome, fragment: str) -> None:
    verdict = judge(make(rubric, "ex3", "structure"), context(reference), lambda call: Answer(True, value))
    assert verdict.outcome is outcome
    assert fragment in verdict.message

def with_leaves(record: dict[str, Any], keep: int) -> dict[str, Any]:
    """The record with only the first ``keep`` parameter leaves reached (as if another model computed the rest)."""
    params = dict(record["params"])
    params["leaves"] = dict(list(params["leaves"].items())[:keep])
    return {**record, "params": params}

@pytest.mark.parametrize(
    ("value", "outcome", "fragment"),
    [
        (mlp(3), Outcome.PASSED, "reaches all 6 parameters of `model`"),
        (with_leaves(mlp(3), 0), Outcome.FAILED, "reaches none of `model`'s parameters: it was not computed by `model`"),
        (with_leaves(mlp(3), 4), Outcome.PARTIAL, "reaches 4 of `model`'s 6 trainable parameters"),
        ({"no_grad_fn": True, "requires_grad": False}, Outcome.FAILED, "`output` is detached: it has no grad_fn"),
        ({"no_grad_fn": True, "requires_grad": True}, Outcome.FAILED, "it is a leaf tensor, not a result computed by the model"),
        ({"not_tensor": "Fake", "grad_fn_attribute": True}, Outcome.FAILED,
         "`output` is a Fake, not a torch.Tensor (having a grad_fn attribute is not enough)"),
        ({"model_not_module": "None"}, Outcome.FAILED, "`model` is None, not a torch.nn.Module"),
        ({"graph": {"too_big": 5000}}, Outcome.FAILED, "more than 5000 nodes"),
        ({"rejected": "None"}, Outcome.NOT_ATTEMPTED, "not attempted: `output` is still None"),
    ],
)
def test_graph_reaches_module(rubric: Rubric, reference: Any, value: dict[str, Any], outcome: Outcome, fragment: str) -> None:
    verdict = judge(make(rubric, "ex3", "output_attached"), context(reference), lambda call: Answer(True, value))
    assert verdict.outcome is outcome, verdict.message
    assert fragment in verdict.message

def test_graph_reaches_module_partial_credit_is_the_share_reached(rubric: Rubric, reference: Any) -> None:
    verdict = judge(make(rubric, "ex3", "output_attached"), context(reference), lambda call: Answer(True, with_leaves(mlp(3), 3)))
    assert verdict.fraction == pytest.approx(0.5)

def test_chain_plan_has_output_and_fresh_graphs_of_both_kinds(rubric: Rubric) -> None:
    calls = make(rubric, "ex3", "chain_is_path").plan(random.Random(1))
    assert calls[0].args == {"tensor": "output", "function": "grad_fn_chain"}
    kinds = [call.args["build"]["kind"] for call in calls[1:]]
    assert len(kinds) >= 2 and {"mlp", "ops"} <= set(kinds)

def test_fresh_graphs_differ_between_submissions(rubric: Rubric) -> None:
    check = make(rubric, "ex3", "chain_is_path")
    plans = {str([c.args for c in check.plan(random.Random(seed))]) for seed in range(5)}
    assert len(plans) == 5

@pytest.mark.parametrize(
    ("strategy", "outcome", "fragment"),
    [
        (chain_ref, Outcome.PASSED, "a real path in all 4 graphs"),
        (chain_first, Outcome.PASSED, "a real path in all 4 graphs"),
        (lambda g: [n.lower() if i == 0 else n for i, n in enumerate(chain_ref(g))], Outcome.FAILED, "the first name 'addmmbackward0'"),
        (lambda g: HARD_CODED, Outcome.FAILED, "`grad_fn_chain` returns the same names for every tensor: it looks hard-coded"),
        (chain_stop_before_leaf, Outcome.PASSED, "a real path in all 4 graphs"),  # CONTRACT-04: it need not end at a leaf
        (lambda g: chain_ref(g)[:1], Outcome.FAILED, "without a single step, though it has next_functions"),
        # the mutant check-rubric found: never stepping onto a leaf takes no step on the grader's x * w
        (chain_without_leaves, Outcome.PARTIAL, "on the grader's tensor x * w: the chain stops at the tensor's grad_fn 'MulBackward0' "
                                                "without a single step"),
        (lambda g: [], Outcome.FAILED, "it returned an empty list, but the tensor has a grad_fn"),
        (lambda g: [*chain_first(g), "AccumulateGrad"], Outcome.FAILED, "which has no next_functions (the path had already ended)"),
    ],
)
def test_chain_paths(rubric: Rubric, reference: Any, strategy: Any, outcome: Outcome, fragment: str) -> None:
    verdict = judge(make(rubric, "ex3", "chain_is_path"), context(reference), student(strategy))
    assert verdict.outcome is outcome, verdict.message
    assert fragment in verdict.message

def test_chain_step_that_is_not_a_next_function_is_named(rubric: Rubric, reference: Any) -> None:
    def swapped(graph: dict[str, Any]) -> list[str]:
        names = chain_ref(graph)
        return [names[0], "MulBackward0", *names[2:]] if names[1] == "ExpBackward0" else names

    verdict = judge(make(rubric, "ex3", "chain_is_path"), context(reference), student(swapped))
    assert verdict.outcome is Outcome.PARTIAL
    assert verdict.fraction == pytest.approx(3 / 4)
    assert "on the grader's tensor sum(sigmoid(sigmoid(x) * w) * w): step 2 'MulBackward0' is not one of the next_functions of " \
        "step 1 'SumBackward0' (ExpBackward0)" in verdict.message

def test_chain_right_only_on_output_earns_nothing(rubric: Rubric, reference: Any) -> None:
    def only_output(graph: dict[str, Any]) -> list[str]:
        return chain_ref(graph) if graph["nodes"][0]["name"] == "AddmmBackward0" and len(graph["nodes"]) == 14 else ["X"]

    verdict = judge(make(rubric, "ex3", "chain_is_path"), context(reference), student(only_output))
    assert verdict.fraction == 0.0

@pytest.mark.parametrize(
    ("rename", "passes"),
    [
        (lambda n: n, True),
        (lambda n: "torch::autograd::AccumulateGrad" if n == "AccumulateGrad" else n, True),
        (lambda n: f"<{n} object at 0x7f3a2c1d9e80>", True),
        (lambda n: n + "!", False),
    ],
)
def test_chain_names_may_be_type_names_name_or_reprs(rubric: Rubric, reference: Any, rename: Any, passes: bool) -> None:
    verdict = judge(make(rubric, "ex3", "chain_is_path"), context(reference), student(lambda g: [rename(n) for n in chain_ref(g)]))
    assert (verdict.outcome is Outcome.PASSED) is passes

def test_chain_without_a_usable_output_is_judged_on_the_graders_graphs(rubric: Rubric, reference: Any) -> None:
    verdict = judge(make(rubric, "ex3", "chain_is_path"), context(reference), student(chain_ref, {"no_grad_fn": True}))
    assert verdict.outcome is Outcome.PASSED
    assert "all 3 graphs" in verdict.message

@pytest.mark.parametrize(
    ("chain", "outcome", "fragment"),
    [
        ({"raised": {"type": "NotImplementedError"}, "not_implemented": True}, Outcome.NOT_ATTEMPTED,
         "not attempted: `grad_fn_chain` still raises NotImplementedError"),
        ({"raised": {"type": "AttributeError", "message": "'NoneType' object has no attribute 'next_functions'"}}, Outcome.ERROR,
         "`grad_fn_chain` raised AttributeError: 'NoneType' object"),
        ({"raised": {"type": "Timeout", "message": "it did not finish in time"}}, Outcome.ERROR, "did not finish in time"),
        ({"not_list": "NoneType"}, Outcome.FAILED, "`grad_fn_chain` returned a NoneType, not a list of names"),
        ({"not_strings": "AddmmBackward0", "at": 0, "node": True}, Outcome.FAILED,
         "returned a list of node objects, not strings (names such as 'AddmmBackward0')"),
        ({"not_callable": "int"}, Outcome.FAILED, "`grad_fn_chain` is an int, not a function"),
    ],
)
def test_chain_function_troubles(rubric: Rubric, reference: Any, chain: dict[str, Any], outcome: Outcome, fragment: str) -> None:
    def respond(call: ProbeCall) -> Answer:
        record = fresh_record(call) if "build" in call.args else mlp(3)
        return Answer(True, {**record, "chain": chain})

    for check_id in ("chain_is_path", "chain_through_layers"):
        verdict = judge(make(rubric, "ex3", check_id), context(reference), respond)
        if check_id == "chain_through_layers" and outcome is Outcome.ERROR:
            assert verdict.outcome is Outcome.FAILED  # one message per graph; only the path check calls it an error
        else:
            assert verdict.outcome is outcome, (check_id, verdict.message)
        assert fragment in verdict.message

def test_chain_function_missing_is_not_attempted(rubric: Rubric, reference: Any) -> None:
    verdict = judge(make(rubric, "ex3", "chain_is_path"), context(reference), lambda call: Answer(True, {"missing": "grad_fn_chain"}))
    assert verdict.outcome is Outcome.NOT_ATTEMPTED
    assert "not found: the submission defines no `grad_fn_chain`" in verdict.message

@pytest.mark.parametrize(
    ("strategy", "output", "outcome", "fragment"),
    [
        (chain_ref, None, Outcome.PASSED, "the chain for `output` passes through every linear layer of `model`"),
        (chain_ref, mlp(3, reduce="MeanBackward0"), Outcome.PASSED, "passes through every linear layer"),
        (chain_stop_before_leaf, None, Outcome.PASSED, "passes through every linear layer"),
        (chain_first, None, Outcome.FAILED,
         "on `output`: the chain passes through 1 of the 3 linear layers; it ends at 'AccumulateGrad' after 2 names without "
         "reaching '0', '2'"),
        (lambda g: HARD_CODED, None, Outcome.FAILED,
         "`grad_fn_chain` gives no real path in any of the grader's own graphs, so its chain for `output` does not show"),
        (lambda g: chain_ref(g) if len(g["nodes"]) == 14 else ["AddmmBackward0", "Nothing"], None, Outcome.FAILED,
         "gives no real path in any of the grader's own graphs"),
        # bias=False layers and "always next_functions[0]": every step an edge, through all three layers (CONTRACT-04)
        (chain_first, no_bias_mlp(3), Outcome.PASSED, "passes through every linear layer"),
        (chain_ref, {"no_grad_fn": True}, Outcome.FAILED, "cannot check: `output` is detached"),
        (chain_ref, {"rejected": "None"}, Outcome.NOT_ATTEMPTED, "not attempted: `output` is still None"),
        (None, None, Outcome.NOT_ATTEMPTED, "not attempted: `grad_fn_chain` still raises NotImplementedError"),
    ],
)
def test_chain_through_layers(rubric: Rubric, reference: Any, strategy: Any, output: Any, outcome: Outcome, fragment: str) -> None:
    verdict = judge(make(rubric, "ex3", "chain_through_layers"), context(reference), student(strategy, output))
    assert verdict.outcome is outcome, verdict.message
    assert fragment in verdict.message

def relu_mlps_like_output(strategy: Callable[[dict[str, Any]], Any]) -> Respond:
    """A student answering with ``strategy``, whose grader MLPs are ReLU MLPs without a reduction, as ``output``'s is.

    A chain typed in for a 3-layer ReLU ``output`` is then a real path in the
    grader's own 4- or 5-layer MLP (the CI run that found this drew such a one).
    """
    def respond(call: ProbeCall) -> Answer:
        spec = call.args.get("build")
        record = mlp(len(spec["sizes"]) - 1, prefix="layer") if spec and spec["kind"] == "mlp" else None
        if record is None:
            return student(strategy)(call)
        return Answer(True, {**record, "chain": {"names": strategy(record["graph"])}})

    return respond

@pytest.mark.parametrize(
    ("strategy", "outcome", "fragment"),
    [
        (lambda g: HARD_CODED, Outcome.FAILED,
         "`grad_fn_chain` gives a real path only in the grader's graphs where its names for `output` fit too"),
        (chain_ref, Outcome.PASSED, "passes through every linear layer"),
        (chain_stop_before_leaf, Outcome.PASSED, "passes through every linear layer"),
    ],
)
def test_chain_typed_in_for_output_earns_nothing_where_it_happens_to_fit(
        rubric: Rubric, reference: Any, strategy: Any, outcome: Outcome, fragment: str) -> None:
    check = make(rubric, "ex3", "chain_through_layers")
    assert any(call.args.get("build", {}).get("kind") == "mlp" and len(call.args["build"]["sizes"]) > 3
               for call in check.plan(random.Random(7))), "the test needs a grader MLP deeper than output's"
    verdict = judge(check, context(reference), relu_mlps_like_output(strategy))
    assert verdict.outcome is outcome, verdict.message
    assert fragment in verdict.message

def test_chain_that_ends_the_kernel_on_the_graders_graphs_shows_nothing(rubric: Rubric, reference: Any) -> None:
    def respond(call: ProbeCall) -> Answer:
        return Answer(False, None, "KernelDied", "the kernel died") if "build" in call.args else student(lambda g: HARD_CODED)(call)

    verdict = judge(make(rubric, "ex3", "chain_through_layers"), context(reference), respond)
    assert verdict.outcome is Outcome.FAILED, verdict.message
    assert "gives no real path in any of the grader's own graphs" in verdict.message

def test_typed_in_chain_fails_whatever_graphs_the_seed_draws(rubric: Rubric, reference: Any) -> None:
    check = make(rubric, "ex3", "chain_through_layers")
    for seed in range(40):
        calls = check.plan(random.Random(seed))
        respond = relu_mlps_like_output(lambda g: HARD_CODED)
        verdict = check.judge(calls, [respond(call) for call in calls], context(reference))
        assert verdict.outcome is Outcome.FAILED, (seed, verdict.message)

@pytest.mark.parametrize(
    ("printed", "strategy", "outcome", "fragment"),
    [
        (str(HARD_CODED), chain_ref, Outcome.PASSED, "the printed output shows the 7 names of `grad_fn_chain(output)` in order"),
        ("\n".join(HARD_CODED) + "\n", chain_ref, Outcome.PASSED, "in order"),
        (str(HARD_CODED[::-1]), chain_ref, Outcome.FAILED, "does not show the names of `grad_fn_chain(output)` in order"),
        ("", chain_ref, Outcome.FAILED, "does not show"),
        (str(HARD_CODED), lambda g: [], Outcome.FAILED, "cannot check: `grad_fn_chain(output)` returned no names"),
        (str(HARD_CODED), None, Outcome.NOT_ATTEMPTED, "not attempted"),
    ],
)
def test_chain_printed(rubric: Rubric, reference: Any, printed: str, strategy: Any, outcome: Outcome, fragment: str) -> None:
    verdict = judge(make(rubric, "ex3", "chain_printed"), context(reference, printed), student(strategy))
    assert verdict.outcome is outcome, verdict.message
    assert fragment in verdict.message

def test_layer_uses_follows_single_child_nodes_only() -> None:
    # 3-d input without bias: ViewBackward0 -> MmBackward0(view of the data, TBackward0 -> weight), and a bias added later.
    g = Builder()
    weight = g.add("TBackward0", g.add("AccumulateGrad", param="w"))
    data = g.add("ViewBackward0", g.add("AccumulateGrad", param="x"))
    mm = g.add("MmBackward0", data, weight)
    root = g.add("AddBackward0", g.add("ViewBackward0", mm), g.add("AccumulateGrad", param="b"))
    graph_json, leaves = g.json(root)
    graph = Graph.parse(graph_json)
    assert graph is not None
    uses = layer_uses(graph, {int(k): {"w": "fc", "b": "fc", "x": "input"}[v] for k, v in leaves.items()})
    by_name = {graph.names[i]: uses[i] for i in range(len(uses)) if graph.names[i] in ("AddBackward0", "MmBackward0")}
    assert by_name == {"AddBackward0": frozenset({"fc"}), "MmBackward0": frozenset({"fc", "input"})}

def test_follow_keeps_every_node_a_repeated_name_may_mean() -> None:
    graph = Graph.parse(mlp(3)["graph"])
    assert graph is not None
    steps = follow(graph, chain_ref(mlp(3)["graph"]))
    assert isinstance(steps, list) and len(steps) == 7
    assert follow(graph, ["AddmmBackward0", "ReluBackward0"]) == [{0}, {2}]
    assert isinstance(follow(graph, ["AddmmBackward0"]), str)  # a real path takes at least one step when it can

@pytest.mark.parametrize(
    ("raw", "name"),
    [("AddmmBackward0", "AddmmBackward0"), (" torch::autograd::AccumulateGrad ", "AccumulateGrad"),
     ("<SinBackward0 object at 0x7f00aa>", "SinBackward0")],
)
def test_normalise_name(raw: str, name: str) -> None:
    assert normalise_name(raw) == name
