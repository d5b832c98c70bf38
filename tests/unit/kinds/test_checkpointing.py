"""Check kinds of checkpointing (checkpoint_numbers, checkpoint_saves_memory, checkpoint_segments): runs made from the
judge's own plain forward/backward, then spoiled in the ways students spoil them (no kernel)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from grader.checks.checkpointing import by_segments, plain_reference, recompute_groups
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Outcome
from grader.rubric import Rubric
from tests.unit.kinds.support import Respond, context, judge, make


def encode(shape: list[int], values: list[float]) -> dict[str, Any]:
    return {"dtype": "float64", "shape": shape, "values": values}

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
