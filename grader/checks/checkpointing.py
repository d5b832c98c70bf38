"""Check kinds for gradient (activation) checkpointing of an ``nn.Sequential``.

The judge draws a Sequential (Linear layers with one activation between them)
with explicit float64 weights, an input and an upstream gradient. The kernel's
``checkpoint_run`` probe builds it, runs ``function(model, x, segments)`` for
each segment count and then backward, and reports per run:

* the output, ``x.grad`` and every parameter's gradient;
* ``saved_bytes``: the bytes of the tensors saved for backward while the
  function ran (``saved_tensors_hooks``; one count per storage, parameters
  left out), next to the same count for a plain ``model(x)``. Tensors handed
  to saved-tensor hooks the student's code pushes (not torch's own, such as
  ``torch.utils.checkpoint``'s) count too when they are still alive after the
  forward pass: hooks that keep the activations in a side table save nothing;
* ``backward_order``: the positions of the layers that ran (forward pre-hooks)
  during the backward pass, i.e. the recomputed ones.

Plain forward/backward numbers come from the grader's own torch. Checkpointing
over ``s`` segments recomputes one ascending run of layers per checkpointed
segment: ``s - 1`` runs with ``checkpoint_sequential`` (its last segment is not
checkpointed), ``s`` when every segment is.

Measured with torch 2.13 on the default specs (6 or 7 Linear layers, s = 2, 3),
every honest style saves at most about 85% of the plain bytes; with fewer
layers or more segments the boundaries kept can cost as much as the plain
forward saves, so keep ``depths`` >= 6 when ``segments`` goes up to 3.
"""

from __future__ import annotations

import itertools
import math
import random
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from grader.checks import Check, JudgeContext, raised_message, raised_verdict, read_answer, register
from grader.checks.compare import close
from grader.checks.schema import kind_params, param, tolerance_params
from grader.probes import wire
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Verdict
from grader.shorten import shorten

ACTIVATIONS = ("tanh", "relu", "sigmoid", "gelu")
Expected = tuple[list[int], list[float]]
RunsJudged = tuple[list[tuple[float, str]], str]  # each run's credit and problem, and the message when every run is right


def random_sequential(rng: random.Random, depths: Sequence[int], activations: Sequence[str]) -> dict[str, Any]:
    """A Sequential spec with explicit weights: layers, input ``x`` and the ``upstream`` gradient."""
    depth = rng.choice(list(depths))
    width, batch = rng.randint(5, 8), rng.randint(3, 5)
    sizes = [rng.randint(3, 6)] + [width] * (depth - 1) + [rng.randint(2, 4)]
    activation = rng.choice(list(activations))
    layers: list[dict[str, Any]] = []
    for number, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        scale = 1.5 / math.sqrt(fan_in)
        weight = [[round(rng.uniform(-scale, scale), 6) for _ in range(fan_in)] for _ in range(fan_out)]
        bias = [round(rng.uniform(-0.5, 0.5), 6) for _ in range(fan_out)]
        layers.append({"linear": [weight, bias]})
        if number < depth - 1:
            layers.append({"activation": activation})
    return {
        "layers": layers,
        "x": [[round(rng.gauss(0, 1), 6) for _ in range(sizes[0])] for _ in range(batch)],
        "upstream": [[round(rng.gauss(0, 1), 6) for _ in range(sizes[-1])] for _ in range(batch)],
    }


def plain_reference(spec: dict[str, Any]) -> dict[str, Expected | dict[str, Expected]]:
    """Output, input gradient and parameter gradients of a plain forward/backward, in the grader's process."""
    import torch
    from torch import nn

    kinds = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}
    modules: list[nn.Module] = []
    for layer in spec["layers"]:
        if "linear" in layer:
            weight, bias = (torch.tensor(v, dtype=torch.float64) for v in layer["linear"])
            linear = nn.Linear(weight.shape[1], weight.shape[0], dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(weight)
                linear.bias.copy_(bias)
            modules.append(linear)
        else:
            modules.append(kinds[layer["activation"]]())
    model = nn.Sequential(*modules)
    x = torch.tensor(spec["x"], dtype=torch.float64, requires_grad=True)
    output = model(x)
    output.backward(torch.tensor(spec["upstream"], dtype=torch.float64))

    def plain(t: Any) -> Expected:
        return list(t.shape), t.detach().reshape(-1).tolist()

    grads = {name: plain(p.grad) for name, p in model.named_parameters()}
    return {"output": plain(output), "x_grad": plain(x.grad), "param_grads": grads}


def tensor_problem(label: str, encoded: Any, expected: Expected, rtol: float, atol: float) -> str:
    """What is wrong with an encoded tensor against the expected one ('' when it matches)."""
    shape, values = expected
    if encoded is None:
        return f"{label} is None"
    if not isinstance(encoded, dict) or "rejected" in encoded:
        what = encoded.get("rejected", "value") if isinstance(encoded, dict) else "value"
        return f"{label} is {what}, not a tensor"
    if encoded.get("shape") != shape:
        return f"{label} has shape {tuple(encoded.get('shape') or ())}, expected {tuple(shape)}"
    try:
        _, _, got, truncated = wire.decode_tensor(encoded, label)
    except wire.WireError:
        return f"{label} could not be read"
    if not all(math.isfinite(g) for g in got):
        return f"{label} contains NaN or infinity"
    if truncated or len(got) != len(values):
        return f"{label} could not be read"
    worst = max((abs(g - e) for g, e in zip(got, values, strict=True) if not close(g, e, rtol, atol)), default=0.0)
    return f"{label} differs from a plain forward/backward (largest difference {worst:.3g})" if worst else ""


def recompute_groups(order: Sequence[int]) -> int:
    """The number of ascending runs of layer positions: one per segment recomputed during backward."""
    groups, previous = 0, None
    for position in order:
        if previous is None or position <= previous:
            groups += 1
        previous = position
    return groups


def by_segments(problems: Sequence[tuple[Any, str]]) -> str:
    """Problems per segment count, the counts that share a problem named together ("with segments=2 and 3: ...")."""
    grouped: dict[str, list[str]] = {}
    for segments, problem in problems:
        grouped.setdefault(problem, []).append(str(segments))
    return "; ".join(f"with segments={' and '.join(counts)}: {problem}" for problem, counts in grouped.items())


def _layer_names(spec: dict[str, Any]) -> list[str]:
    return ["Linear" if "linear" in layer else str(layer["activation"]) for layer in spec["layers"]]


class _CheckpointCheck(Check):
    """Shared plumbing: one ``checkpoint_run`` call and the reading of its runs."""

    params_schema = kind_params(
        {
            "function": param("string", "the student's function(model, x, segments) that runs an nn.Sequential with checkpointing"),
            "depths": param("array", "the numbers of Linear layers the grader's Sequential is drawn from (keep >= 6 for 3 segments)",
                            default=[6, 7], minItems=1, items={"type": "integer", "minimum": 2, "maximum": 12}),
            "segments": param("array", "the segment counts the function is run with", default=[2, 3], minItems=1,
                              items={"type": "integer", "minimum": 1, "maximum": 8}),
            "activations": param("array", "the activations the grader's Sequential is drawn from", default=list(ACTIVATIONS),
                                 minItems=1, items={"enum": list(ACTIVATIONS)}),
            **tolerance_params(rtol=1e-6, atol=1e-9),
        },
        required=["function"],
        example={"function": "checkpointed_forward"},
    )

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        spec = random_sequential(rng, self.param("depths"), self.param("activations"))
        segments = list(self.param("segments"))
        return [ProbeCall("checkpoint_run", {"function": self.params["function"], "spec": spec, "segments": segments})]

    def warm_up(self, calls: Sequence[ProbeCall]) -> None:
        plain_reference(calls[0].args["spec"])  # the grader's first torch backward pays a one-off set-up

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        read = self._runs(answers[0], ctx)
        if isinstance(read, Verdict):
            return read
        plain, runs = read
        judged = self._judge_runs(calls[0].args["spec"], plain, runs)
        if isinstance(judged, Verdict):
            return judged
        per_run, all_right = judged
        problems = [(run.get("segments"), problem) for run, (_, problem) in zip(runs, per_run, strict=True) if problem]
        if not problems:
            return Verdict.passed(all_right)
        return Verdict.partial(sum(score for score, _ in per_run) / len(runs), by_segments(problems))

    @abstractmethod
    def _judge_runs(self, spec: dict[str, Any], plain: dict[str, Any], runs: list[dict[str, Any]]) -> RunsJudged | Verdict:
        """Each run's credit and problem ('' when none), and the message when every run is right; or the verdict outright."""

    def _runs(self, answer: Answer, ctx: JudgeContext) -> tuple[dict[str, Any], list[dict[str, Any]]] | Verdict:
        name = self.params["function"]
        value = read_answer(answer, name, ctx)
        if isinstance(value, Verdict):
            return value
        plain, runs = value.get("plain"), value.get("runs")
        if not isinstance(plain, dict) or not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
            return Verdict.failed(f"the checkpointing probe gave no usable results for `{name}`")
        if all("raised" in run for run in runs):
            stub = all(_dict(run["raised"]).get("type") == "NotImplementedError" for run in runs)
            return raised_verdict(runs[0]["raised"], f"`{name}`" if stub else self._call_text(runs[0]))
        return plain, runs

    def _call_text(self, run: dict[str, Any]) -> str:
        return f"{self.params['function']}(model, x, {run.get('segments')})"

    def _raised(self, run: dict[str, Any]) -> str:
        return raised_message(run["raised"], self._call_text(run)) if "raised" in run else ""

    @staticmethod
    def _backward_problem(run: dict[str, Any]) -> str:
        error = run.get("backward_error")
        if not isinstance(error, dict):
            return ""
        if error.get("type") == "NoGraph":
            return "the output is not attached to a graph, so no gradient flows back"
        return f"backward through the output failed ({error.get('type', 'an error')}: {shorten(str(error.get('message', '')), 160)})"


@register
class CheckpointNumbers(_CheckpointCheck):
    """Output, input gradient and parameter gradients must match a plain forward/backward, for every segment count.

    Each run earns a third for the output, a third for ``x.grad`` and a third
    for the parameter gradients; the credit is the mean over segment counts.
    """

    kind = "checkpoint_numbers"

    def _judge_runs(self, spec: dict[str, Any], plain: dict[str, Any], runs: list[dict[str, Any]]) -> RunsJudged | Verdict:
        expected = plain_reference(spec)
        per_run = [self._run_score(run, expected, _layer_names(spec)) for run in runs]
        counts = " and ".join(str(run.get("segments")) for run in runs)
        n_params = len(expected["param_grads"])
        return per_run, f"output, x.grad and all {n_params} parameter gradients match a plain forward/backward (segments = {counts})"

    def _run_score(self, run: dict[str, Any], expected: dict[str, Any], layers: list[str]) -> tuple[float, str]:
        if "raised" in run:
            return 0.0, self._raised(run)
        rtol, atol = self.tolerance()
        output = tensor_problem("the output", run.get("output"), expected["output"], rtol, atol)
        if output:
            output += _skipped(run, layers)
        backward = self._backward_problem(run)
        if not backward and run.get("upstream") == "ones":
            backward = "the gradients cannot be compared (the output has the wrong shape)"
        x_grad = backward or tensor_problem("x.grad", run.get("x_grad"), expected["x_grad"], rtol, atol)
        grads = _dict(run.get("param_grads"))
        wrong = [
            problem
            for name, want in expected["param_grads"].items()
            if (problem := tensor_problem(f"the gradient of {name}", grads.get(name), want, rtol, atol))
        ]
        params = "" if backward or not wrong else (
            f"{len(wrong)} of {len(expected['param_grads'])} parameter gradients are wrong (e.g. {wrong[0]})"
        )
        score = sum((not output, not x_grad, not backward and not wrong)) / 3
        return score, "; ".join(p for p in (output, x_grad, params) if p)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _skipped(run: dict[str, Any], layers: list[str]) -> str:
    calls = run.get("forward_calls")
    if not isinstance(calls, list) or len(calls) != len(layers):
        return ""
    never = [f"{position} ({layers[position]})" for position, count in enumerate(calls) if count == 0]
    if not never or len(never) == len(layers):
        return ""
    return f"; layer{'s' if len(never) > 1 else ''} {', '.join(never)} never ran in the forward pass"


@register
class CheckpointSavesMemory(_CheckpointCheck):
    """Each run must save fewer bytes for backward than a plain forward and re-run layers during backward."""

    kind = "checkpoint_saves_memory"

    def _judge_runs(self, spec: dict[str, Any], plain: dict[str, Any], runs: list[dict[str, Any]]) -> RunsJudged | Verdict:
        baseline = plain.get("saved_bytes")
        if type(baseline) is not int or baseline <= 0:
            return Verdict.broken("the grader could not measure a plain forward's saved activations")
        judged = [self._run_problem(run, baseline) for run in runs]
        notes = "; ".join(f"segments={run.get('segments')}: {note}" for run, (_, note) in zip(runs, judged, strict=True))
        return [(0.0 if problem else 1.0, problem) for problem, _ in judged], notes

    def _run_problem(self, run: dict[str, Any], baseline: int) -> tuple[str, str]:
        if "raised" in run:
            return self._raised(run), ""
        backward = self._backward_problem(run)
        if backward:
            return f"cannot measure: {backward}", ""
        saved, order = run.get("saved_bytes"), run.get("backward_order")
        if type(saved) is not int or not isinstance(order, list):
            return "the grader could not measure this run", ""
        measured = f"{saved:,} bytes saved for backward against {baseline:,} in a plain forward"
        if saved >= baseline and not order:
            return f"{measured}, and no layer ran again during the backward pass: nothing was checkpointed", ""
        if saved >= baseline:
            return f"{measured}: layers were recomputed but no activations were dropped", ""
        if not order:
            return f"{measured}, but no layer ran again during the backward pass, so the dropped activations were never recomputed", ""
        return "", f"{measured}, {len(order)} layer calls recomputed during backward"


@register
class CheckpointSegments(_CheckpointCheck):
    """The backward pass must recompute one group of layers per checkpointed segment (``s - 1`` or ``s`` groups)."""

    kind = "checkpoint_segments"

    def _judge_runs(self, spec: dict[str, Any], plain: dict[str, Any], runs: list[dict[str, Any]]) -> RunsJudged | Verdict:
        problems = [self._run_problem(run) for run in runs]
        return [(0.0 if problem else 1.0, problem) for problem in problems], "the layers are recomputed segment by segment for every segment count"

    def _run_problem(self, run: dict[str, Any]) -> str:
        segments = run.get("segments")
        problem = self._raised(run) or self._backward_problem(run)
        order = run.get("backward_order")
        groups = recompute_groups([p for p in order if type(p) is int] if isinstance(order, list) else [])
        if not problem and not groups:
            return "no layer ran again during the backward pass, so there are no checkpointed segments"
        if not problem and type(segments) is int and groups not in (segments - 1, segments):
            return (
                f"the backward pass recomputed {groups} group{'s' if groups != 1 else ''} of layers, "
                f"but checkpointing over {segments} segments recomputes {segments - 1} or {segments}"
            )
        return problem
