"""Check kinds of exercises 3 and 4, judged from hand-built answers (no kernel).

Exercise 3's graphs are built here node by node, and "students" are chain
strategies run over those graphs; exercise 4's runs are made from the judge's
own plain forward/backward, then spoiled in the ways students spoil them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import pytest

from grader.checks import CHECK_KINDS, Check, JudgeContext
from grader.checks.checkpointing import by_segments, plain_reference, recompute_groups
from grader.checks.graphs import Graph, follow, layer_uses, normalise_name
from grader.checks.text import own_words, words_of
from grader.execute import CellRun, Execution
from grader.pipeline import load_reference
from grader.probe import Answer, ProbeCall
from grader.results import Outcome, Verdict
from grader.rubric import Rubric, load_rubric
from tests.conftest import RUBRIC

Respond = Callable[[ProbeCall], Answer]


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load_rubric(RUBRIC)


@pytest.fixture(scope="module")
def reference(rubric: Rubric) -> Any:
    return load_reference(rubric.reference_path)


def context(reference: Any, printed: str = "") -> JudgeContext:
    execution = Execution(cells=(CellRun(1, "ok", "", printed),), probe_outputs=(), events=(), isolation={}, duration_s=0.0)
    return JudgeContext(reference, execution, {1: ""})


def make(rubric: Rubric, exercise: str, check_id: str) -> Check:
    spec = next(c for c in rubric.exercise(exercise).checks if c.id == check_id)
    return CHECK_KINDS[spec.kind](spec)


def judge(check: Check, ctx: JudgeContext, respond: Respond) -> Verdict:
    calls = check.plan(random.Random(7))
    return check.judge(calls, [respond(call) for call in calls], ctx)


# ---------------------------------------------------------------- exercise 3: graphs built by hand


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
    return chain_ref(graph)[:-1]


HARD_CODED = ["AddmmBackward0", "ReluBackward0", "AddmmBackward0", "ReluBackward0", "AddmmBackward0", "TBackward0", "AccumulateGrad"]


def fresh_record(call: ProbeCall) -> dict[str, Any]:
    spec = call.args["build"]
    if spec["kind"] == "mlp":
        reduce = {"sum": "SumBackward0", "mean": "MeanBackward0"}.get(spec["reduce"] or "", "")
        return mlp(len(spec["sizes"]) - 1, "TanhBackward0", reduce, prefix="layer")
    return ops(["SinBackward0", "ExpBackward0", "SumBackward0"])


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


# ---------------------------------------------------------------- exercise 3: structure and output


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


# ---------------------------------------------------------------- exercise 3: the chain


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


# ---------------------------------------------------------------- exercise 4: checkpointing


def encode(shape: list[int], values: list[float]) -> dict[str, Any]:
    return {"shape": shape, "values": values, "nonfinite": False}


def honest_run(spec: dict[str, Any], segments: int, saved: int = 600, order: list[int] | None = None) -> dict[str, Any]:
    """A run whose numbers are the plain ones, which saved ``saved`` bytes and recomputed the layers in ``order``."""
    expected = plain_reference(spec)
    n = len(spec["layers"])
    if order is None:
        size = n // segments
        order = [i for k in reversed(range(segments - 1)) for i in range(k * size, (k + 1) * size)]
    return {
        "segments": segments,
        "output": encode(*expected["output"]),
        "x_grad": encode(*expected["x_grad"]),
        "param_grads": {name: encode(*value) for name, value in expected["param_grads"].items()},
        "saved_bytes": saved,
        "forward_calls": [1] * n,
        "backward_order": order,
    }


PLAIN = {"saved_bytes": 1000, "forward_calls": [], "backward_order": []}


def ex4_student(edit: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None) -> Respond:
    def respond(call: ProbeCall) -> Answer:
        spec = call.args["spec"]
        runs = [honest_run(spec, s) for s in call.args["segments"]]
        if edit is not None:
            runs = [edit(run, spec) for run in runs]
        return Answer(True, {"plain": PLAIN, "runs": runs})

    return respond


def spoil_output(run: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    values = [v + 0.5 for v in run["output"]["values"]]
    return {**run, "output": {**run["output"], "values": values}}


def skip_last_layers(run: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    shape = [run["output"]["shape"][0], 99]
    calls = [1] * (len(spec["layers"]) - 2) + [0, 0]
    return {**run, "output": encode(shape, [0.0] * (shape[0] * 99)), "upstream": "ones", "forward_calls": calls}


def no_graph(run: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {**run, "x_grad": None, "param_grads": {}, "backward_error": {"type": "NoGraph"}, "backward_order": []}


def spoil_first_grad(run: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    grads = dict(run["param_grads"])
    grads["0.weight"] = {**grads["0.weight"], "values": [0.0] * len(grads["0.weight"]["values"])}
    return {**run, "param_grads": grads}


def raising(kind: str) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
    def edit(run: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        record = {"segments": run["segments"], "raised": {"type": kind, "message": "boom"}, "backward_order": [], "saved_bytes": 0}
        return {**record, "not_implemented": True} if kind == "NotImplementedError" else record

    return edit


@pytest.mark.parametrize(
    ("edit", "outcome", "fraction", "fragment"),
    [
        (None, Outcome.PASSED, 1.0, "output, x.grad and all 14 parameter gradients match a plain forward/backward (segments = 2 and 3)"),
        (spoil_output, Outcome.PARTIAL, 2 / 3, "with segments=2 and 3: the output differs from a plain forward/backward"),
        (spoil_first_grad, Outcome.PARTIAL, 2 / 3,
         "1 of 14 parameter gradients are wrong (e.g. the gradient of 0.weight differs from a plain forward/backward"),
        (skip_last_layers, Outcome.FAILED, 0.0,
         "the output has shape (4, 99), expected (4, 2); layers 11 (tanh), 12 (Linear) never ran in the forward pass"),
        (no_graph, Outcome.PARTIAL, 1 / 3, "the output is not attached to a graph, so no gradient flows back"),
        (raising("NotImplementedError"), Outcome.NOT_ATTEMPTED, 0.0, "not attempted: `checkpointed_forward` still raises"),
        (raising("IndexError"), Outcome.ERROR, 0.0, "checkpointed_forward(model, x, 2) raised IndexError: boom"),
    ],
)
def test_checkpoint_numbers(rubric: Rubric, reference: Any, edit: Any, outcome: Outcome, fraction: float, fragment: str) -> None:
    verdict = judge(make(rubric, "ex4", "same_numbers"), context(reference), ex4_student(edit))
    assert verdict.outcome is outcome, verdict.message
    assert verdict.fraction == pytest.approx(fraction)
    assert fragment in verdict.message


def test_checkpoint_numbers_wrong_for_one_segment_count_only(rubric: Rubric, reference: Any) -> None:
    def edit(run: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        return skip_last_layers(run, spec) if run["segments"] == 3 else run

    verdict = judge(make(rubric, "ex4", "same_numbers"), context(reference), ex4_student(edit))
    assert verdict.outcome is Outcome.PARTIAL and verdict.fraction == pytest.approx(0.5)
    assert verdict.message.startswith("with segments=3: the output has shape")


@pytest.mark.parametrize(
    ("edit", "outcome", "fragment"),
    [
        (None, Outcome.PASSED, "segments=2: 600 bytes saved for backward against 1,000 in a plain forward"),
        (lambda run, spec: {**run, "saved_bytes": 1000, "backward_order": []}, Outcome.FAILED,
         "with segments=2 and 3: 1,000 bytes saved for backward against 1,000 in a plain forward, and no layer ran again during the "
         "backward pass: nothing was checkpointed"),
        (lambda run, spec: {**run, "backward_order": []}, Outcome.FAILED, "so the dropped activations were never recomputed"),
        (lambda run, spec: {**run, "saved_bytes": 1200}, Outcome.FAILED, "layers were recomputed but no activations were dropped"),
        (no_graph, Outcome.FAILED, "cannot measure: the output is not attached to a graph"),
        (raising("NotImplementedError"), Outcome.NOT_ATTEMPTED, "not attempted"),
    ],
)
def test_checkpoint_saves_memory(rubric: Rubric, reference: Any, edit: Any, outcome: Outcome, fragment: str) -> None:
    verdict = judge(make(rubric, "ex4", "saves_memory"), context(reference), ex4_student(edit))
    assert verdict.outcome is outcome, verdict.message
    assert fragment in verdict.message


@pytest.mark.parametrize(
    ("orders", "outcome", "fragment"),
    [
        ({2: [0, 1, 2], 3: [4, 5, 0, 1]}, Outcome.PASSED, "recomputed segment by segment"),
        ({2: [6, 7, 0, 1], 3: [8, 9, 4, 5, 0, 1]}, Outcome.PASSED, "recomputed segment by segment"),
        ({2: list(range(13)), 3: list(range(13))}, Outcome.PARTIAL,
         "with segments=3: the backward pass recomputed 1 group of layers, but checkpointing over 3 segments recomputes 2 or 3"),
        ({2: [], 3: []}, Outcome.FAILED, "no layer ran again during the backward pass, so there are no checkpointed segments"),
        ({2: [3, 2, 1, 0], 3: [3, 2, 1, 0]}, Outcome.FAILED, "recomputed 4 groups of layers"),
    ],
)
def test_checkpoint_segments(rubric: Rubric, reference: Any, orders: dict[int, list[int]], outcome: Outcome, fragment: str) -> None:
    verdict = judge(make(rubric, "ex4", "segments"), context(reference),
                    ex4_student(lambda run, spec: {**run, "backward_order": orders[run["segments"]]}))
    assert verdict.outcome is outcome, verdict.message
    assert fragment in verdict.message


def test_checkpoint_plan_uses_the_rubric_depths_and_segment_counts(rubric: Rubric) -> None:
    (call,) = make(rubric, "ex4", "same_numbers").plan(random.Random(3))
    linear = [layer for layer in call.args["spec"]["layers"] if "linear" in layer]
    assert call.probe == "checkpoint_run" and call.args["segments"] == [2, 3]
    assert len(linear) in (6, 7)
    assert len(call.args["spec"]["layers"]) % 2 == 1  # no layer count divisible by 2, so segment sizes differ


def test_checkpoint_function_missing_or_none(rubric: Rubric, reference: Any) -> None:
    check = make(rubric, "ex4", "same_numbers")
    assert judge(check, context(reference), lambda c: Answer(True, {"missing": "checkpointed_forward"})).outcome is Outcome.NOT_ATTEMPTED
    verdict = judge(check, context(reference), lambda c: Answer(True, {"rejected": "None"}))
    assert verdict.outcome is Outcome.NOT_ATTEMPTED and "is still None" in verdict.message
    verdict = judge(check, context(reference), lambda c: Answer(True, {"not_callable": "str"}))
    assert verdict.outcome is Outcome.FAILED and "`checkpointed_forward` is a str, not a function" in verdict.message


def test_recompute_groups_and_grouped_messages() -> None:
    assert recompute_groups([]) == 0
    assert recompute_groups([4, 5, 6, 0, 1, 2, 3]) == 2
    assert recompute_groups([2, 2]) == 2
    assert by_segments([(2, "a"), (3, "a"), (4, "b")]) == "with segments=2 and 3: a; with segments=4: b"


# ---------------------------------------------------------------- exercise 4: the written answer

GOOD = (
    "Activation checkpointing is a memory-saving technique. Instead of keeping every intermediate activation from the "
    "forward pass, we store only a few of them (the checkpoints). When backpropagation needs an activation that was not "
    "kept, it is recomputed by running part of the forward pass again. We spend more computation to use much less "
    "memory, which lets us train deeper networks or use bigger batches on a GPU."
)
QUESTION = (
    "explaining what gradient checkpointing is and why it helps when training large models: which activations are kept, "
    "what happens in the backward pass, and what is traded for what."
)


@pytest.mark.parametrize(
    ("value", "outcome", "fraction", "fragment"),
    [
        ({"text": GOOD}, Outcome.PASSED, 1.0, "3 of 3 key ideas"),
        ({"text": "Gradient checkpointing saves memory during training by recomputing intermediate results in the backward "
                   "pass rather than storing them all. This costs extra computation time, but that is usually fine."},
         Outcome.PASSED, 1.0, "3 of 3 key ideas: what happens in the backward pass, what is traded for what, which activations "
                              "are kept"),
        ({"text": "Gradient checkpointing saves memory during training by recomputing intermediate results in the backward "
                   "pass, so a model that did not fit before now fits on the GPU."},
         Outcome.PARTIAL, 1 / 3, "not mentioned: what is traded for what, which activations are kept"),
        ({"text": "Checkpointing is a thing you do: it is used a lot with big models on GPUs and many people talk about it in "
                   "papers and blogs, so it is quite popular these days."},
         Outcome.FAILED, 0.0, "none of the key ideas was found; not mentioned: what happens in the backward pass"),
        ({"text": "Gradient descent updates the weights in the direction of the negative gradient. The learning rate controls "
                   "the step size, and momentum helps to accelerate convergence in relevant directions."},
         Outcome.FAILED, 0.0, "the answer does not seem to be about the question's topic"),
        ({"text": QUESTION}, Outcome.FAILED, 0.0, "the answer repeats the question instead of answering it"),
        ({"text": "Gradient checkpointing: " + QUESTION.upper()}, Outcome.FAILED, 0.0, "repeats the question"),
        ({"text": "It recomputes activations to save memory."}, Outcome.FAILED, 0.0,
         "the answer is too short: 6 words of your own, at least 12 expected"),
        ({"text": "  \n "}, Outcome.NOT_ATTEMPTED, 0.0, "not attempted: `checkpointing_answer` is empty"),
        ({"rejected": "None"}, Outcome.NOT_ATTEMPTED, 0.0, "not attempted: `checkpointing_answer` is still None"),
        ({"rejected": "list"}, Outcome.FAILED, 0.0, "`checkpointing_answer` must be a string (it is of type list)"),
        ({"missing": "checkpointing_answer"}, Outcome.NOT_ATTEMPTED, 0.0, "not found"),
    ],
)
def test_key_ideas(rubric: Rubric, reference: Any, value: dict[str, Any], outcome: Outcome, fraction: float, fragment: str) -> None:
    verdict = judge(make(rubric, "ex4", "written_answer"), context(reference), lambda call: Answer(True, value))
    assert verdict.outcome is outcome, verdict.message
    assert verdict.fraction == pytest.approx(fraction)
    assert fragment in verdict.message


def test_key_ideas_credit_only_words_not_copied_from_the_question(rubric: Rubric, reference: Any) -> None:
    copied_then_answer = QUESTION + " " + GOOD
    verdict = judge(make(rubric, "ex4", "written_answer"), context(reference), lambda call: Answer(True, {"text": copied_then_answer}))
    assert verdict.outcome is Outcome.PASSED
    assert own_words(words_of("a b c d e f"), words_of("x b c d e f y")) == ["a"]
    assert words_of("Re-compute the model’s activations") == ["re-compute", "the", "model's", "activations"]


def test_key_ideas_messages_never_quote_a_phrasing(rubric: Rubric, reference: Any) -> None:
    verdict = judge(make(rubric, "ex4", "written_answer"), context(reference), lambda call: Answer(True, {"text": "checkpoint " * 30}))
    phrasings = [p for idea in make(rubric, "ex4", "written_answer").params["ideas"] for p in idea["phrasings"]]
    assert not any(p in verdict.message for p in phrasings)
    assert all(re.compile(p) for p in phrasings)


def test_rubric_ex3_ex4_are_worth_25_each_and_the_written_answer_is_reviewed(rubric: Rubric) -> None:
    for exercise in ("ex3", "ex4"):
        assert sum(c.points for c in rubric.exercise(exercise).checks) == 25
    assert next(c for c in rubric.exercise("ex4").checks if c.id == "written_answer").review is True
