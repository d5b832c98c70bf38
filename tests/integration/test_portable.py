"""Portable mode, forced on Linux, grades exactly as the sandbox does; hanging probes are timed out by interrupt.

Portable mode is what macOS and Windows get (``grader.kernel.sandbox.choose_mode``):
a kernel started the standard way, no launcher, and probe time limits kept by
the grader's watchdog and a kernel interrupt instead of SIGALRM. The same
notebooks are graded in both modes here and must get the same score and the
same message for every check. To run another corpus in both modes, parametrize
over ``MODES`` (``Options(portable=True)`` is the switch).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from grader.pipeline import Options, grade_submission
from grader.results import Outcome, SubmissionResult
from grader.rubric import Rubric
from tests.conftest import ROOT, SOLUTION, MakeNotebook, check, exercise_score, solution_answers
from tests.integration.test_ex1_ex2 import dual_class
from tests.integration.test_ex3 import SEQUENTIAL
from tests.integration.test_ex3 import WRONG as EX3_WRONG
from tests.integration.test_ex4 import WRONG as EX4_WRONG
from tests.unit.test_portable_imports import WITHOUT_POSIX

pytestmark = pytest.mark.kernel

MODES = {"sandbox": Options(), "portable": Options(portable=True)}


def per_check(result: SubmissionResult) -> list[tuple[str, str, float, str, str]]:
    return [(ex.id, c.id, c.score, c.outcome.value, c.message) for ex in result.exercises for c in ex.checks]


def grade_both(path: Path, rubric: Rubric, **changes: Any) -> dict[str, SubmissionResult]:
    limits = replace(rubric.limits, **changes)
    return {name: grade_submission(path, rubric, replace(options, limits=limits)) for name, options in MODES.items()}


def assert_same_grades(results: dict[str, SubmissionResult]) -> None:
    sandbox, portable = results["sandbox"], results["portable"]
    assert (sandbox.environment["mode"], portable.environment["mode"]) == ("sandbox", "portable")
    assert per_check(portable) == per_check(sandbox)
    assert portable.score == sandbox.score
    assert portable.errors == sandbox.errors


def test_the_solution_scores_100_in_both_modes(rubric: Rubric) -> None:
    results = grade_both(SOLUTION, rubric)
    assert_same_grades(results)
    assert results["portable"].score == 100 and results["portable"].errors == ()
    environment = results["portable"].environment
    assert environment["warm_kernel"] is False and environment["pid_namespace"] is False
    assert environment["not_isolated"] == ["processes", "network", "files", "user", "resource limits"]


# The template in both modes: tests/conformance/test_conformance.py grades it with its stubs written four ways, each
# scoring 0 with every check "not attempted" and the same score and message per check in both modes.


def _wrong_notebooks() -> dict[str, tuple[str, ...]]:
    answers = solution_answers()
    return {
        # a wrong ex1 gradient, sin ignoring u', a chain that stops at the first bias, no checkpointing at all
        "wrong_everywhere": (
            answers["ex1"].replace('"dy_dx3": s}', '"dy_dx3": x3}'),
            dual_class("math.cos(self.value)", "-self.deriv * math.sin(self.value)"),
            *EX3_WRONG["chain_stops_at_first_bias"][0],
            *EX4_WRONG["plain_forward_and_empty_answer"][0],
        ),
        # faults: a cell that raises, one that kills the kernel, one that loops past its time limit (run once: after the rerun)
        "faults_and_mistakes": (
            "x1, x2, x3 = 1.0, 2.0, 3.0\ns = x1 + x2\ny = s * x3\ndy_ds = x3 / 0\ndy_dx1 = dy_dx2 = dy_ds\ndy_dx3 = s",
            "import os\nos._exit(3)",
            "while True:\n    pass",
            answers["ex2"],
            *EX3_WRONG["detached_output"][0],
            *EX4_WRONG["segments_ignored_and_off_topic_answer"][0],
        ),
    }


@pytest.mark.parametrize("name", ["wrong_everywhere", "faults_and_mistakes"])
def test_wrong_answers_and_faults_grade_alike_in_both_modes(make_notebook: MakeNotebook, rubric: Rubric, name: str) -> None:
    # A portable kernel is a cold one: its first cell imports torch, so the cell limit leaves room for that on a busy machine.
    results = grade_both(make_notebook(name, *_wrong_notebooks()[name]), rubric, cell_timeout_s=15)
    assert_same_grades(results)
    portable = results["portable"]
    assert 0 < portable.score < 100
    if name == "faults_and_mistakes":  # the interrupt ended the loop; the kernel's death cost its cell only
        lines = " | ".join(portable.errors)
        assert "cell 2 raised ZeroDivisionError" in lines
        assert "cell 3 stopped the kernel: the kernel exited (status 3); the notebook was run again without it" in lines
        assert "cell 4 ran past its 15s time limit and was interrupted" in lines
        assert exercise_score(portable, "ex2") == 25


HANGS_PLAIN = "def grad_fn_chain(t):\n    while True:\n        pass"
HANGS_AND_CATCHES_KEYBOARD_INTERRUPT = """
def grad_fn_chain(t):
    while True:
        try:
            while True:
                pass
        except KeyboardInterrupt:
            continue
"""


def _with_ex3_chain(chain: str) -> tuple[str, ...]:
    answers = solution_answers()
    return (answers["ex1"], answers["ex2"], SEQUENTIAL, chain, answers["ex4"])


def _assert_chain_timed_out_and_rest_graded(result: SubmissionResult) -> None:
    for check_id in ("chain_is_path", "chain_through_layers", "chain_printed"):
        found = check(result, "ex3", check_id)
        assert found.score == 0, (check_id, found.message)
        assert found.outcome in (Outcome.ERROR, Outcome.FAILED), (check_id, found.outcome)
        assert "did not finish in time" in found.message, (check_id, found.message)
    assert check(result, "ex3", "structure").score == 5 and check(result, "ex3", "output_attached").score == 5
    assert [exercise_score(result, ex) for ex in ("ex1", "ex2", "ex4")] == [25, 25, 25]


@pytest.mark.parametrize("name", ["plain_loop", "catches_keyboard_interrupt"])
def test_a_hanging_student_function_is_a_timeout_and_the_rest_is_graded(make_notebook: MakeNotebook, rubric: Rubric, name: str) -> None:
    chain = {"plain_loop": HANGS_PLAIN, "catches_keyboard_interrupt": HANGS_AND_CATCHES_KEYBOARD_INTERRUPT}[name]
    # 8 s: the probe limit must leave room for ex4's first checkpointed call in a cold portable kernel (it imports some
    # 800 modules; past 3 s on a loaded CI machine), while the hanging chain still costs one timeout, not one per call.
    results = grade_both(make_notebook(name, *_with_ex3_chain(chain)), rubric, probe_timeout_s=8)
    assert_same_grades(results)  # SIGALRM in the sandbox, the grader's interrupt in portable mode: one outcome
    _assert_chain_timed_out_and_rest_graded(results["portable"])
    assert results["portable"].errors == ()  # the kernel came back: no fresh kernel was needed
    # One timeout, not one per call, and long before nbclient's own limit on the probe cell (50 x 8 s) would end it.
    assert results["portable"].duration_s < 60


def test_a_call_that_swallows_every_interrupt_is_given_up_and_grading_goes_on(make_notebook: MakeNotebook, rubric: Rubric) -> None:
    swallows = """
    def manual_backprop(x1, x2, x3):
        while True:
            try:
                while True:
                    pass
            except BaseException:
                continue
    """
    answers = solution_answers()
    values = answers["ex1"].split("def manual_backprop")[0]
    path = make_notebook("swallows", values, swallows, answers["ex2"], answers["ex3"], answers["ex4"])
    limits = replace(rubric.limits, probe_timeout_s=8)  # room for ex4's cold first call, as above
    result = grade_submission(path, rubric, Options(portable=True, limits=limits))
    assert check(result, "ex1", "values").score == check(result, "ex1", "values").max_score
    assert check(result, "ex1", "gradient_anywhere").score == 0
    assert any("did not stop when interrupted; grading went on in a fresh kernel" in line for line in result.errors), result.errors
    assert [exercise_score(result, ex) for ex in ("ex2", "ex3", "ex4")] == [25, 25, 25]


def test_the_grade_command_grades_in_portable_mode_where_posix_only_modules_are_missing() -> None:
    # The whole CLI path, in a grader process without resource, fcntl, termios or os.fork (as on Windows):
    # portable mode must be chosen by itself and the solution must still get 100.
    script = WITHOUT_POSIX + (
        "import grader.cli\n"
        f"grader.cli.main([{str(SOLUTION)!r}, '--fail-under', '100'])\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "GRADER_PORTABLE"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT, env=environment)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    assert "Score: 100 / 100" in done.stdout
    assert "Portable mode: no sandbox here" in done.stdout
