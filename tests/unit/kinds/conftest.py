"""Fixtures of the check-kind tests: the bundled rubric, its reference, and a context with a failed cell."""

from __future__ import annotations

from typing import Any

import pytest

from grader import load_rubric
from grader.checks import JudgeContext
from grader.kernel.execute import CellRun, Execution
from grader.pipeline import load_reference
from grader.rubric import Rubric
from tests.conftest import RUBRIC


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load_rubric(RUBRIC)


@pytest.fixture(scope="module")
def reference(rubric: Rubric) -> Any:
    return load_reference(rubric.reference_path)


@pytest.fixture(scope="module")
def ctx(reference: Any) -> JudgeContext:
    """Cell 3, which defines s and y, raised: a missing name is explained by it."""
    execution = Execution(cells=(CellRun(3, "error", "ZeroDivisionError: division by zero"),), probe_outputs=(),
                          events=(), isolation={}, duration_s=0.0)
    return JudgeContext(reference, execution, {3: "s = 1 / 0\ny = s * x3"})
