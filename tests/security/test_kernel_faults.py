"""Faults are graded, not fatal: raising, looping, exiting, crashing and hogging cells cost only what they should.

Each case is a notebook: the lesson's setup (cell 1), the ex1 answer (cell 2),
the hostile cells, then the ex2 answer (last), so a fault that wrongly stopped
the run would show in ex2's score. Cell numbers in the expected fault lines
count every cell of the file from 1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
import pytest

from grader.pipeline import Options, grade_submission
from grader.rubric import Rubric
from tests.conftest import ROOT
from tests.security.corpus import (
    EX1,
    EX2,
    Expect,
    assert_outcome,
    check_score,
    grade,
    messages,
    needs_namespaces,
    write_notebook,
)

pytestmark = pytest.mark.kernel

RAISES = "raise ValueError('a mistake in a helper cell')"
SYS_EXIT = "import sys\nsys.exit(3)"
IPYTHON_EXIT = "exit()"
READS_STDIN = "name = input('your name? ')"
LOOPS = "while True:\n    pass"
IGNORES_SIGINT = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
SWALLOWS_INTERRUPTS = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"
OS_EXIT = "import os\nos._exit(0)"
SEGFAULT = "import ctypes\nctypes.string_at(0)"
STACK_OVERFLOW = "import sys\nsys.setrecursionlimit(10**8)\nnested = []\nfor _ in range(10**6):\n    nested = [nested]\nrepr(nested)"
MEMORY_LOOP = "def hog():\n    held = []\n    while True:\n        held.append(bytearray(10**8))\nhog()"
HUGE_TENSOR = "import torch\nbig_tensor = torch.empty(10**11)"
HUGE_BYTES = "big_bytes = bytearray(10**11)"
KILL_PARENT = "import os\nos.kill(os.getppid(), 9)"
KILL_EVERYONE = "import os\nos.kill(-1, 9)"
KILL_GROUP = "import os\nos.killpg(0, 9)"
KILL_GRADER = f"import os\nos.kill({os.getpid()}, 9)"  # the grader's pid does not exist in the kernel's PID namespace
SLEEPS = "import time\ntime.sleep(4)"
BACKPROP_LOOPS = "def manual_backprop(x1, x2, x3):\n    while True:\n        pass"
BACKPROP_EXITS = "def manual_backprop(x1, x2, x3):\n    import os\n    os._exit(0)"

# cells between the ex1 and ex2 answers, limits, expected outcome
CASES: list[Any] = [
    pytest.param(
        [RAISES, SYS_EXIT, IPYTHON_EXIT, READS_STDIN],
        {},
        Expect(errors=(
            "cell 3 raised ValueError: a mistake in a helper cell (no graded answer is defined there)",
            "cell 4 raised SystemExit: 3",
            "cell 5 raised SystemExit: exit() or quit() was called",  # in ipykernel it would stop the kernel later
            "cell 6 raised StdinNotImplementedError",
        )),
        id="R13-raise-exit-stdin",
    ),
    pytest.param(
        [LOOPS, IGNORES_SIGINT, SWALLOWS_INTERRUPTS],
        {"cell_timeout_s": 3},
        Expect(errors=(
            "cell 3 ran past its 3s time limit and was interrupted",
            "cell 4 stopped the kernel: it ran past its time limit, then the kernel stopped answering; "
            "the notebook was run again without it",
            "cell 5 stopped the kernel: it ran past its time limit, then the kernel stopped answering",
        )),
        id="R01-R03-loops-past-the-timeout",
    ),
    pytest.param(
        [OS_EXIT, SEGFAULT, STACK_OVERFLOW],
        {},
        Expect(errors=(
            "cell 3 stopped the kernel: the kernel exited (status 0); the notebook was run again without it",
            "cell 4 stopped the kernel: the kernel died (SIGSEGV)",
            "cell 5 stopped the kernel: the kernel died (SIGSEGV)",
        )),
        id="R12-dead-kernels-mid-notebook",
    ),
    pytest.param(
        [MEMORY_LOOP, HUGE_TENSOR, HUGE_BYTES],
        {"memory_mb": 1536},
        Expect(errors=("cell 3 raised MemoryError", "cell 4 raised RuntimeError", "cell 5 raised MemoryError")),
        id="R05-memory-bombs-under-1.5GB",
    ),
    pytest.param(
        ["import torch\ntorch.zeros(1).cuda()", "import tensorflow"],
        {},
        Expect(errors=("cell 3 raised AssertionError: Torch not compiled with CUDA", "cell 4 raised ModuleNotFoundError")),
        id="R15-B06-cuda-and-a-missing-package",
    ),
    pytest.param(
        [KILL_PARENT, KILL_EVERYONE, KILL_GROUP, KILL_GRADER],
        {},
        Expect(errors=("cell 6 raised ProcessLookupError",)),
        id="R14-signals-against-the-grader",
        marks=needs_namespaces,  # without them, as the same user, os.kill(-1, 9) reaches the grader: see docs/security.md
    ),
]


@pytest.mark.parametrize(("cells", "limits", "expect"), CASES)
def test_fault_costs_only_its_cell(
    tmp_path: Path, rubric: Rubric, cells: list[str], limits: dict[str, Any], expect: Expect
) -> None:
    result = grade(write_notebook(tmp_path, "faulty", EX1, *cells, EX2), rubric, **limits)
    assert_outcome(result, expect)


def test_exit_status_0_is_not_success(tmp_path: Path, rubric: Rubric) -> None:
    """A kernel that exits cleanly in the middle of the ex1 cell has not answered ex1."""
    result = grade(write_notebook(tmp_path, "exit0", EX1 + "\n" + OS_EXIT, EX2), rubric)
    assert_outcome(result, Expect(scores={"ex1": 0.0, "ex2": 25.0}, errors=("cell 2 stopped the kernel: the kernel exited (status 0)",)))
    assert "cell 2, which defines it, did not finish" in messages(result, "ex1")


def test_submission_wall_clock_limit_keeps_what_ran(tmp_path: Path, rubric: Rubric) -> None:
    """R04: past the per-submission limit the remaining cells are skipped, the probes still run on what was defined."""
    path = write_notebook(tmp_path, "slow", EX1, *[SLEEPS] * 6, EX2)
    result = grade(path, rubric, submission_timeout_s=16, cell_timeout_s=5)
    assert_outcome(result, Expect(scores={"ex1": 25.0, "ex2": 0.0}, errors=("ran past its 16s limit",)))
    assert result.duration_s < 16 + 30  # generous: two cores shared with another test worker
    assert "did not finish: not run" in messages(result, "ex2")


def test_probe_timeout_costs_only_that_function(tmp_path: Path, rubric: Rubric) -> None:
    """A graded function that never returns: its checks fail with a timeout, the rest is graded."""
    result = grade(write_notebook(tmp_path, "slowfn", EX1, BACKPROP_LOOPS, EX2), rubric, probe_timeout_s=2)
    assert_outcome(result, Expect(scores={"ex1": 7.0, "ex2": 25.0}))
    assert check_score(result, "ex1", "values") == 7 and "did not finish in time" in messages(result, "ex1")


def test_probe_that_kills_the_kernel_resumes_in_a_fresh_one(tmp_path: Path, rubric: Rubric) -> None:
    result = grade(write_notebook(tmp_path, "exitfn", EX1, BACKPROP_EXITS, EX2), rubric)
    expect = Expect(scores={"ex1": 7.0, "ex2": 25.0}, errors=("while grading: the kernel exited (status 0); grading went on in a fresh kernel",))
    assert_outcome(result, expect)
    assert "no answer while checking `manual_backprop`" in messages(result, "ex1")


SIN_EXITS = "def _exits(self):\n    import os\n    os._exit(0)\n\nDualNumber.sin = _exits"


def test_a_function_that_kills_every_kernel_costs_its_exercise_and_no_answer_before_it(tmp_path: Path, rubric: Rubric) -> None:
    """The solution, then DualNumber.sin made to call os._exit: every ex2 call that uses sin kills its kernel.

    ex1's answers are the last ones out before the first death: they may not have left the dying kernel, and are
    asked for again rather than an innocent call blamed. ex2's second fatal call leaves its other calls out, so ex3
    and ex4 are still graded (they used to run out of attempts and get nothing).
    """
    nb = nbformat.read(ROOT / "reference" / "solution.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(SIN_EXITS))
    path = tmp_path / "exitsin.ipynb"
    nbformat.write(nb, path)
    result = grade_submission(path, rubric, Options())
    scores = {exercise.id: exercise.score for exercise in result.exercises}
    assert scores == {"ex1": 25, "ex2": 0, "ex3": 25, "ex4": 25}, result.errors
    assert "no answer while checking `DualNumber`" in messages(result, "ex2")  # the two calls that killed
    assert "`DualNumber` was not checked here: two earlier checks of this exercise stopped the kernel" in messages(result, "ex2")
    assert "the kernel exited (status 0); grading went on in a fresh kernel" in " ".join(result.errors)


def test_helper_cells_that_each_kill_the_kernel_cost_only_themselves(tmp_path: Path, rubric: Rubric) -> None:
    """Five cells that call os._exit, none holding a graded answer: each is left out in turn and both exercises are graded.

    Four such cells used to use up every attempt, and the correct answers after them got 0.
    """
    result = grade(write_notebook(tmp_path, "exits", *[OS_EXIT] * 5, EX1, EX2), rubric)
    assert {exercise.id: exercise.score for exercise in result.exercises} == {"ex1": 25, "ex2": 25}, result.errors
    stopped = [line for line in result.errors if "stopped the kernel: the kernel exited (status 0); the notebook was run again without it" in line]
    assert [line.split(" stopped")[0] for line in stopped] == [f"code cell {n}" for n in range(2, 7)], result.errors


def test_python_module_with_faults(tmp_path: Path, rubric: Rubric) -> None:
    """A .py submission is split at "# %%" lines into cells that fail separately."""
    path = tmp_path / "module.py"
    cells = ["import math\nimport numpy as np\nimport torch", EX1, RAISES, OS_EXIT, EX2]
    path.write_text("\n\n".join(f"# %%\n{cell}" for cell in cells) + "\n", encoding="utf-8")
    assert_outcome(grade(path, rubric), Expect(errors=("cell 3 raised ValueError", "cell 4 stopped the kernel: the kernel exited (status 0)")))
