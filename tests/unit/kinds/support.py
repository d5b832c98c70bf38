"""Helpers shared by the check-kind tests: a judge context, a check from the bundled rubric, a judged verdict."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from grader.checks import Check, JudgeContext
from grader.checks.registry import CHECK_KINDS
from grader.kernel.execute import CellRun, Execution
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Verdict
from grader.rubric import Rubric

Respond = Callable[[ProbeCall], Answer]


def context(reference: Any, printed: str = "") -> JudgeContext:
    """A context whose one cell ran fine and printed ``printed``."""
    execution = Execution(cells=(CellRun(1, "ok", "", printed),), probe_outputs=(), events=(), isolation={}, duration_s=0.0)
    return JudgeContext(reference, execution, {1: ""})


def make(rubric: Rubric, exercise: str, check_id: str) -> Check:
    """The check ``exercise/check_id`` of ``rubric``, instantiated."""
    spec = next(c for c in rubric.exercise(exercise).checks if c.id == check_id)
    return CHECK_KINDS[spec.kind](spec)


def judge(check: Check, ctx: JudgeContext, respond: Respond) -> Verdict:
    """Plan ``check`` (seed 7), answer each call with ``respond`` and judge."""
    calls = check.plan(random.Random(7))
    return check.judge(calls, [respond(call) for call in calls], ctx)
