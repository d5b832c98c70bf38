"""The rule kinds' judges (vectorised, calls, source_rule), with hand-built records and sources: no kernel."""

from __future__ import annotations

import random
import textwrap
from typing import Any

import pytest

from grader.checks import JudgeContext
from grader.checks.registry import CHECK_KINDS
from grader.checks.rules import GROWTH_FLOOR, STEP_ALLOWANCE, calls_verdict, loop_verdict
from grader.kernel.execute import CellRun, Execution
from grader.probes.protocol import Answer
from grader.results import Failure, Outcome
from grader.rubric import CheckSpec


def counted(steps: int, torch_calls: int = 5, **extra: Any) -> dict[str, Any]:
    return {"steps": steps, "torch_calls": torch_calls, "seen": [], **extra}


# ---------------------------------------------------------------- vectorised


@pytest.mark.parametrize(
    ("small", "big", "message"),
    [
        (counted(24, 33), counted(1004, 1503), "`d` runs a Python loop: its Python steps grew 41.8× for 100× more rows (24 → 1004)"),
        (counted(2, 12), counted(2, 1002), "`d` loops over its data: its torch calls grew 83.5× for 100× more rows (12 → 1002)"),
        (counted(0, 0), counted(990, 0), "`d` runs a Python loop: its Python steps grew from 0 to 990 for 100× more rows (0 → 990)"),
        # steps wasted at the small size cannot hide a loop: the large size alone is over the threshold plus the allowance
        (counted(5000, 5), counted(5000, 5),
         "`d` runs a Python loop: it took 5000 Python steps for 1000 rows (vectorised code takes fewer than 745)"),
        (counted(10, over=True), counted(10), "`d` runs a Python loop: it took more than 10 Python steps for 10 rows"),
    ],
)
def test_a_count_that_grows_with_the_size_is_a_loop(small: dict[str, Any], big: dict[str, Any], message: str) -> None:
    verdict = loop_verdict("d", (10, 1000), "rows", small, big)
    assert (verdict.outcome, verdict.message, verdict.failure) == (Outcome.FAILED, message, Failure.LOOPED)


@pytest.mark.parametrize(
    ("small", "big"),
    [
        (counted(2, 5), counted(2, 5)),  # broadcasting: the same steps at any size
        (counted(30, 8), counted(30 + GROWTH_FLOOR - 1, 8)),  # a little size-dependent branching
        (counted(40, 10), counted(40 + 494, 10)),  # just under half a step per extra row: a loop over chunks of 2 rows or more
        (counted(400, 10), counted(400, 10)),  # a long vectorised function: under threshold + allowance at the large size
    ],
)
def test_counts_that_do_not_grow_with_the_size_pass(small: dict[str, Any], big: dict[str, Any]) -> None:
    verdict = loop_verdict("d", (10, 1000), "rows", small, big)
    assert verdict.outcome is Outcome.PASSED, verdict.message
    assert verdict.message == "`d` takes as many Python steps and torch calls for 100× more rows: no loop over them"


def test_the_threshold_is_half_a_step_per_extra_item_and_a_long_function_has_an_allowance() -> None:
    assert loop_verdict("d", (10, 1000), "rows", counted(40), counted(40 + 495)).outcome is Outcome.FAILED
    assert loop_verdict("d", (10, 1000), "rows", counted(0), counted(495 + STEP_ALLOWANCE - 1)).outcome is Outcome.FAILED  # grows by 744
    assert loop_verdict("d", (10, 1000), "rows", counted(400), counted(400 + 94)).outcome is Outcome.PASSED
    assert loop_verdict("d", (10, 1000), "rows", counted(700), counted(745)).outcome is Outcome.FAILED  # 745 >= 495 + 250


def test_a_watch_the_code_undid_fails_the_rule_and_an_error_is_the_codes() -> None:
    tampered = loop_verdict("d", (10, 1000), "rows", counted(2), counted(2, tampered="it changes the tracing hooks"))
    assert tampered.outcome is Outcome.FAILED and tampered.failure is Failure.LOOPED
    assert tampered.message == ("`d` could not be checked for Python loops: it changes the tracing hooks, "
                                "which the grader's step count does not allow")
    raised = loop_verdict("d", (10, 1000), "rows", counted(2), counted(2, raised={"type": "ValueError", "message": "bad"}))
    assert (raised.outcome, raised.message) == (Outcome.ERROR, "`d` called with 1000 rows raised ValueError: bad")


def make(kind: str, params: dict[str, Any]) -> Any:
    problems = CHECK_KINDS[kind].rubric_problems(params)
    assert problems == [], problems
    return CHECK_KINDS[kind](CheckSpec("c", kind, "c", 1.0, params))


def ctx(sources: dict[int, str] | None = None) -> JudgeContext:
    execution = Execution(cells=(CellRun(1, "ok", ""),), probe_outputs=(), events=(), isolation={}, duration_s=0.0)
    return JudgeContext(None, execution, sources or {1: ""})  # type: ignore[arg-type]


VECTORISED = {"function": "d", "scale": "N", "sizes": [10, 1000], "unit": "rows", "dims": {"D": [2, 4]},
              "args": [{"tensor": {"shape": ["N", "D"], "dtype": "float64"}}]}


def test_vectorised_plans_the_two_sizes_into_the_specs_and_keeps_the_other_dims() -> None:
    [call] = make("vectorised", VECTORISED).plan(random.Random(3))
    assert call.probe == "count_steps" and call.args["target"] == {"function": "d"}
    shapes = [c["args"][0]["tensor"]["shape"] for c in call.args["calls"]]
    assert [s[0] for s in shapes] == [10, 1000] and shapes[0][1] == shapes[1][1] and 2 <= shapes[0][1] <= 4
    assert call.args["max_steps"] > 1000


def test_vectorised_judges_the_two_records_the_kernel_sent() -> None:
    check = make("vectorised", VECTORISED)
    calls = check.plan(random.Random(3))
    verdict = check.judge(calls, [Answer(True, {"results": [counted(24, 33), counted(1004, 1503)]})], ctx())
    assert verdict.failure is Failure.LOOPED and verdict.message.startswith("`d` runs a Python loop")
    missing = check.judge(calls, [Answer(True, {"missing": "d"})], ctx())
    assert missing.outcome is Outcome.NOT_ATTEMPTED


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"sizes": [10, 50]}, ("sizes", "the large size must exceed the small one by at least 64 (got 10, 50)")),
        ({"dims": {"N": [2, 3], "D": [2, 3]}}, ("scale", "'N' is also in dims: the scale dim takes its sizes from sizes")),
        ({"args": [{"tensor": {"shape": ["M"]}}]}, ("args[0]", "the size 'M' is not one of the dims (D, N)")),
    ],
)
def test_vectorised_refuses_a_rubric_it_cannot_judge(change: dict[str, Any], problem: tuple[str, str]) -> None:
    assert problem in CHECK_KINDS["vectorised"].rubric_problems({**VECTORISED, **change})


# ---------------------------------------------------------------- calls

FORBIDDEN = ["torch.softmax", "torch.nn.functional.softmax"]


def test_a_forbidden_call_fails_whatever_else_the_function_did() -> None:
    records = [counted(2, seen=["torch.softmax"]), counted(2, seen=[], raised={"type": "ValueError", "message": "x"})]
    verdict = calls_verdict("softmax", FORBIDDEN, [], records)
    assert (verdict.outcome, verdict.failure) == (Outcome.FAILED, Failure.FORBIDDEN_CALL)
    assert verdict.message == "`softmax` calls torch.softmax, which the contract forbids"
    both = calls_verdict("softmax", FORBIDDEN, [], [counted(2, seen=["torch.nn.functional.softmax", "torch.softmax"])])
    assert both.message == "`softmax` calls torch.softmax (and torch.nn.functional.softmax), which the contract forbids"


def test_a_required_call_never_made_fails_and_one_made_once_passes() -> None:
    verdict = calls_verdict("step", [], ["torch.Tensor.backward"], [counted(2), counted(2)])
    assert (verdict.outcome, verdict.failure) == (Outcome.FAILED, Failure.MISSING_CALL)
    assert verdict.message == "`step` never calls torch.Tensor.backward, which the contract requires"
    made = calls_verdict("step", [], ["torch.Tensor.backward"], [counted(2), counted(2, seen=["torch.Tensor.backward"])])
    assert (made.outcome, made.message) == (Outcome.PASSED, "`step` calls torch.Tensor.backward")


def test_calls_that_could_not_be_watched_fail_and_an_error_without_a_forbidden_call_is_the_codes() -> None:
    tampered = calls_verdict("softmax", FORBIDDEN, [], [counted(2, tampered="it changes the tracing hooks")])
    assert (tampered.outcome, tampered.failure) == (Outcome.FAILED, Failure.FORBIDDEN_CALL)
    assert tampered.message.startswith("`softmax` could not be watched: it changes the tracing hooks")
    raised = calls_verdict("softmax", FORBIDDEN, [], [counted(2, raised={"type": "ValueError", "message": "x"})])
    assert (raised.outcome, raised.message) == (Outcome.ERROR, "`softmax` raised ValueError: x")
    clean = calls_verdict("softmax", FORBIDDEN, [], [counted(2, seen=["torch.exp"])])
    assert (clean.outcome, clean.message) == (Outcome.PASSED, "`softmax` calls none of torch.softmax, torch.nn.functional.softmax")


def test_the_calls_kind_says_an_unknown_name_is_the_rubrics_fault() -> None:
    check = make("calls", {"function": "softmax", "forbidden": ["torch.sofmax"], "args": [{"tensor": {"shape": [2, 3]}}]})
    verdict = check.judge(check.plan(random.Random(1)), [Answer(True, {"unknown": ["torch.sofmax"]})], ctx())
    assert verdict.outcome is Outcome.BROKEN and "torch.sofmax" in verdict.message


def test_the_calls_kind_needs_a_rule() -> None:
    problems = CHECK_KINDS["calls"].rubric_problems({"function": "f"})
    assert problems == [("(rule)", "name the functions that are forbidden, required, or both")]
    clash = CHECK_KINDS["calls"].rubric_problems({"function": "f", "forbidden": ["torch.exp"], "required": ["torch.exp"]})
    assert clash == [("required", "torch.exp cannot be both forbidden and required")]


# ---------------------------------------------------------------- source_rule


def source_verdict(params: dict[str, Any], *cells: str) -> Any:
    check = make("source_rule", params)
    assert check.plan(random.Random(1)) == []
    sources = {2 * number + 1: textwrap.dedent(cell).strip("\n") for number, cell in enumerate(cells)}
    return check.judge([], [], ctx(sources))


NO_LOOPS = {"function": "f", "forbid": ["for", "while", "comprehension"]}


@pytest.mark.parametrize(
    ("code", "message", "failure"),
    [
        ("def f(x):\n    s = 0\n    for v in x:\n        s += v\n    return s",
         "`f` uses a `for` loop (line 3 of its definition in code cell 2), which the contract forbids", Failure.LOOPED),
        ("def f(x):\n    while x:\n        x = x[1:]",
         "`f` uses a `while` loop (line 2 of its definition in code cell 2), which the contract forbids", Failure.LOOPED),
        ("def f(x):\n    return sum(v for v in x)",
         "`f` uses a comprehension (line 2 of its definition in code cell 2), which the contract forbids", Failure.LOOPED),
        ("def g(v):\n    return [w for w in v]\n\ndef f(x):\n    return g(x)",
         "`f` calls `g`, which uses a comprehension (line 2 of its definition in code cell 2), which the contract forbids",
         Failure.LOOPED),
    ],
)
def test_a_forbidden_construct_in_the_def_or_a_helper_fails(code: str, message: str, failure: Failure) -> None:
    verdict = source_verdict(NO_LOOPS, "import torch", code)
    assert (verdict.outcome, verdict.message, verdict.failure) == (Outcome.FAILED, message, failure)


def test_a_forbidden_name_is_found_through_the_submissions_imports_and_aliases() -> None:
    rule = {"function": "f", "forbid_names": ["torch.func"]}
    for setup, body in [
        ("import torch", "torch.func.grad(g)(x)"),
        ("import torch.func as tf", "tf.grad(g)(x)"),
        ("from torch import func", "func.grad(g)(x)"),
        ("from torch.func import grad as gr", "gr(g)(x)"),
        ("import torch\nF = torch.func", "F.grad(g)(x)"),
        ("import torch", "__import__('math')\n    from torch.func import grad\n    return grad(g)(x)"),
    ]:
        verdict = source_verdict(rule, setup, f"def f(x, g):\n    return {body}")
        assert verdict.outcome is Outcome.FAILED, (setup, body)
        assert verdict.failure is Failure.FORBIDDEN_CALL and "uses torch.func (line" in verdict.message


def test_clean_source_passes_the_last_definition_counts_and_a_magic_line_is_no_syntax_error() -> None:
    passed = source_verdict(NO_LOOPS, "%matplotlib inline\nimport torch", "def f(x):\n    for v in x:\n        pass",
                            "def f(x):\n    return (x[:, None] - x[None]).pow(2).sum(-1)")
    assert (passed.outcome, passed.message) == (Outcome.PASSED, "`f` uses none of: a `for` loop, a `while` loop, a comprehension")
    method = source_verdict({"function": "M.f", "forbid": ["lambda"]}, "class M:\n    def f(self, x):\n        return (lambda y: y)(x)")
    assert method.outcome is Outcome.FAILED and method.message.startswith("`M.f` uses a lambda (line 2")


def test_a_function_the_source_does_not_define_or_only_stubs_is_not_attempted() -> None:
    verdict = source_verdict(NO_LOOPS, "def g(x):\n    return x")
    assert (verdict.outcome, verdict.message) == (Outcome.NOT_ATTEMPTED, "not found: the submission defines no `f`")
    for body in ('"""Distances."""\n    raise NotImplementedError("write me")', "pass", "...", "return None", "# TODO\n    pass"):
        stub = source_verdict(NO_LOOPS, f"def f(x):\n    {body}")
        assert (stub.outcome, stub.message) == (Outcome.NOT_ATTEMPTED, "not attempted: `f` is still a stub"), body
    assert source_verdict(NO_LOOPS, "def f(x):\n    return x").outcome is Outcome.PASSED
    assert CHECK_KINDS["source_rule"].rubric_problems({"function": "f"}) != []
