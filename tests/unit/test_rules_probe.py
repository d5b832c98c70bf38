"""The rules probes (count_steps, watch_calls), run in this process on a plain namespace as the kernel runs them (no kernel)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from grader.checks.argspec import generate
from grader.probes import load_runtime
from tests.unit.test_kernel_probe import probes_on

STUDENT = '''
import sys, threading, functools
import torch
from torch import softmax as sm

def vectorised(x):
    return ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)

def looped_for(x):
    out = torch.zeros(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = x[i].sum()
    return out

def looped_by_c(x):
    return torch.stack(list(map(torch.sum, x.unbind(0))))

def hides_its_tracer(x):
    list(map(sys.settrace, [None]))
    return torch.stack([row.sum() for row in x])

def calls_settrace(x):
    sys.settrace(None)
    return x

def in_a_thread(x):
    out = []
    worker = threading.Thread(target=lambda: out.extend(row.sum() for row in x))
    worker.start()
    worker.join()
    return torch.stack(out)

def by_alias(x):
    return sm(x, 1)

def by_getattr(x):
    return getattr(torch, "soft" + "max")(x, 1)

def by_method(x):
    return x.softmax(1)

def by_module(x):
    return torch.nn.Softmax(dim=1)(x)

def by_formula(x):
    e = (x - x.max(1, keepdim=True).values).exp()
    return e / e.sum(1, keepdim=True)

def by_private_function(x):
    return torch._softmax(x, 1, False)

def by_aten_name(x):
    return getattr(torch.ops.aten, bytes.fromhex("5f736f66746d6178").decode())(x, 1, False)

def by_library(x):
    return torch.distributions.Categorical(logits=x).probs

def distances_by_vf(x):
    return torch._VF.cdist(x, x, 2.0, None) ** 2

def distances_by_formula(x):
    return ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)

def pops_the_dispatch_mode(x):
    from torch.utils._python_dispatch import _pop_mode
    _pop_mode()
    return torch._softmax(x, 1, False)

original = torch.softmax
torch.softmax = lambda x, dim: original(x, dim)

def through_rebound(x):
    return torch.softmax(x, 1)
'''

Ask = Callable[..., Any]


@pytest.fixture(scope="module")
def ask() -> Iterator[Ask]:
    original = torch.softmax
    yield probes_on(STUDENT, probe_timeout_s=20.0)
    torch.softmax = original


def sized(*rows: int) -> list[dict[str, Any]]:
    rng = random.Random(0)
    return [{"args": [generate({"tensor": {"shape": [n, 3]}}, rng, {})], "kwargs": {}} for n in rows]


def counts(ask: Ask, function: str, max_steps: int = 100_000) -> list[tuple[int, int, str]]:
    answer = ask("count_steps", target={"function": function}, calls=sized(10, 400), max_steps=max_steps)
    return [(r["steps"], r["torch_calls"], r.get("tampered", "")) for r in answer["results"]]


def test_broadcasting_takes_the_same_steps_and_torch_calls_at_any_size(ask: Ask) -> None:
    (small_steps, small_calls, _), (big_steps, big_calls, _) = counts(ask, "vectorised")
    assert (small_steps, small_calls) == (big_steps, big_calls) and small_steps <= 3


def test_a_python_loop_grows_its_steps_and_a_loop_run_by_c_its_torch_calls(ask: Ask) -> None:
    (small, _, _), (big, _, _) = counts(ask, "looped_for")
    assert big - small >= 390 * 2
    (steps_small, calls_small, _), (steps_big, calls_big, _) = counts(ask, "looped_by_c")
    assert steps_small == steps_big and calls_big - calls_small >= 390


def test_a_call_past_its_step_budget_is_stopped_and_said_to_be_over(ask: Ask) -> None:
    answer = ask("count_steps", target={"function": "looped_for"}, calls=sized(10, 400), max_steps=100)
    assert answer["results"][1]["over"] is True and answer["results"][1]["steps"] == 101
    assert answer["results"][0].get("over") is None


@pytest.mark.parametrize(
    ("function", "why"),
    [
        ("hides_its_tracer", "it replaced the grader's trace or profile function"),
        ("calls_settrace", "it changes the tracing hooks"),
        ("in_a_thread", "it starts a thread, whose steps cannot be counted"),
    ],
)
def test_code_that_undoes_or_dodges_the_watch_is_reported(ask: Ask, function: str, why: str) -> None:
    assert [tampered for _, _, tampered in counts(ask, function)] == [why, why]


def test_the_watch_is_taken_off_after_the_call() -> None:
    import sys

    module = load_runtime()
    namespace: dict[str, Any] = {}
    module["install"]("token", namespace, None, 20.0, publish=lambda data, metadata=None: None)
    exec("def f(x):\n    return [v for v in x]\n", namespace)
    before = (sys.gettrace(), sys.getprofile(), torch._C._len_torch_function_stack())
    ok, _, record = module["MODULES"]["rules"]["watched_call"](namespace["f"], ([1, 2, 3],), {})
    assert ok and record["steps"] >= 3
    assert (sys.gettrace(), sys.getprofile(), torch._C._len_torch_function_stack()) == before


@pytest.mark.parametrize(
    ("function", "seen"),
    [
        ("by_alias", ["torch.softmax"]),
        ("by_getattr", ["torch.softmax"]),
        ("through_rebound", ["torch.softmax"]),
        ("by_method", ["torch.Tensor.softmax"]),
        ("by_module", ["torch.nn.functional.softmax", "torch.Tensor.softmax"]),
        ("by_formula", []),
    ],
)
def test_a_watched_function_is_seen_however_it_is_reached(ask: Ask, function: str, seen: list[str]) -> None:
    names = ["torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax"]
    answer = ask("watch_calls", target={"function": function}, calls=sized(4), names=names)
    assert sorted(answer["results"][0]["seen"]) == sorted(seen)


@pytest.mark.parametrize(
    ("function", "seen"),
    [
        ("by_private_function", ["torch.ops.aten._softmax"]),
        ("by_aten_name", ["torch.ops.aten._softmax"]),
        ("by_library", ["torch.ops.aten._softmax"]),
        ("by_alias", ["torch.ops.aten._softmax"]),
        ("by_formula", []),
        ("distances_by_vf", ["torch.ops.aten._euclidean_dist"]),
        ("distances_by_formula", []),
    ],
)
def test_a_watched_operator_is_seen_at_the_dispatcher_whatever_python_reached_it(ask: Ask, function: str, seen: list[str]) -> None:
    names = ["torch.ops.aten._softmax", "torch.ops.aten._cdist_forward", "torch.ops.aten._euclidean_dist"]
    rng = random.Random(0)
    calls = [{"args": [generate({"tensor": {"shape": [30, 30]}}, rng, {})], "kwargs": {}}]  # cdist takes its matmul path at this size
    answer = ask("watch_calls", target={"function": function}, calls=calls, names=names)
    assert answer["results"][0]["seen"] == seen and "tampered" not in answer["results"][0]


def test_code_that_takes_off_the_operator_watch_is_reported(ask: Ask) -> None:
    answer = ask("watch_calls", target={"function": "pops_the_dispatch_mode"}, calls=sized(4), names=["torch.ops.aten._softmax"])
    assert answer["results"][0]["tampered"] == "it changed torch's dispatch modes"
    assert torch._C._len_torch_dispatch_stack() == 0


def test_a_name_the_kernel_cannot_resolve_is_unknown(ask: Ask) -> None:
    answer = ask("watch_calls", target={"function": "by_alias"}, calls=sized(4), names=["torch.sofmax", "exec"])
    assert answer == {"unknown": ["torch.sofmax"]}
