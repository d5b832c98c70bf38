"""Kernels forked from the warm-kernel server are as fresh and as boxed as launched ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from grader.kernel.warm import Zygote
from grader.pipeline import Options, grade_submission
from grader.probes import sources_digest
from grader.rubric import Rubric
from tests.conftest import SOLUTION, MakeNotebook, solution_answers

pytestmark = pytest.mark.kernel

POLLUTER = """
import builtins, math, sys
import numpy as np
import torch

torch.Tensor.backward = lambda *a, **k: None          # patch torch's classes, shared by every kernel if forks leaked
torch.autograd.grad = lambda *a, **k: (torch.zeros(()),) * 3
torch.nn.Linear.forward = lambda self, x: x * 0
torch.allclose = lambda *a, **k: True
np.allclose = math.isclose = lambda *a, **k: True
builtins.float = int                                  # and the interpreter's own builtins
builtins.isinstance = lambda *a: True
sys.modules["torch.utils.checkpoint"] = None
open("/tmp/left-behind", "w").write("state for the next student")
x1, x2, x3, s, y, dy_ds, dy_dx1, dy_dx2, dy_dx3 = (0.0,) * 9
"""


def test_a_polluting_submission_leaves_nothing_for_the_next_one(make_notebook: MakeNotebook, rubric: Rubric) -> None:
    answers = solution_answers()
    polluter = make_notebook("polluter", POLLUTER)
    honest = make_notebook("honest", answers["ex1"], answers["ex2"], answers["ex3"], answers["ex4"])
    options = Options(warm_kernels=True)
    first = grade_submission(polluter, rubric, options)
    second = grade_submission(honest, rubric, options)  # same grading process, so the same warm-kernel server
    assert first.environment["warm_kernel"] is True and second.environment["warm_kernel"] is True
    assert first.score == 0
    assert second.score == second.max_score == 100, second.exercises
    assert second.errors == ()


def test_forked_and_launched_kernels_grade_alike(make_notebook: MakeNotebook, rubric: Rubric) -> None:
    answers = solution_answers()
    wrong_ex1 = answers["ex1"].replace('"dy_dx3": s}', '"dy_dx3": x3}')
    path = make_notebook("mixed", wrong_ex1, answers["ex2"], answers["ex3"], answers["ex4"])
    warm = grade_submission(path, rubric, Options(warm_kernels=True))
    cold = grade_submission(path, rubric, Options(warm_kernels=False))
    assert (warm.environment["warm_kernel"], cold.environment["warm_kernel"]) == (True, False)
    assert warm.score == cold.score == 96
    assert [c.message for ex in warm.exercises for c in ex.checks] == [c.message for ex in cold.exercises for c in ex.checks]


def test_a_forked_kernel_runs_student_code_with_the_collector_on(make_notebook: MakeNotebook, rubric: Rubric) -> None:
    # the warm-kernel server warms up with the collector off; a kernel must not inherit that
    path = make_notebook("collector", "import gc\nassert gc.isenabled(), 'the garbage collector is off'")
    result = grade_submission(path, rubric, Options(warm_kernels=True))
    assert result.environment["warm_kernel"] is True
    assert not [line for line in result.errors if "garbage collector" in line], result.errors


KERNEL_CONFIGURATION = """
import sys
shell = get_ipython()
assert shell.kernel._execute_sleep == 0, "the kernel sleeps after each cell"
assert shell.history_manager.hist_file == ":memory:", "the kernel keeps its history on disk"
assert sys.argv[1] == "-f" and sys.argv[2] == shell.kernel.parent.connection_file, "the kernel's command line is not a kernel's"
"""


def test_a_forked_kernel_is_configured_as_its_command_line_would_configure_it(make_notebook: MakeNotebook, rubric: Rubric) -> None:
    result = grade_submission(make_notebook("configured", KERNEL_CONFIGURATION), rubric, Options(warm_kernels=True))
    assert result.environment["warm_kernel"] is True
    assert not [line for line in result.errors if "AssertionError" in line], result.errors


WARM_TRACEBACKS = """
import inspect, sys
assert "stack_data" in sys.modules and "inspect" in inspect.modulesbyfile.values(), "the traceback formatter is cold"
"""


def test_once_it_has_forked_a_kernel_the_server_warms_what_a_kernel_needs_to_show_an_error(make_notebook: MakeNotebook, rubric: Rubric) -> None:
    # formatting a kernel's first error imports the formatter and maps every module's file (~0.1 s); the server does that
    # once, when no request waits, so that the first kernel is not kept waiting for something few kernels need
    first = grade_submission(make_notebook("first", "pass"), rubric, Options(warm_kernels=True))
    later = grade_submission(make_notebook("later", WARM_TRACEBACKS), rubric, Options(warm_kernels=True))
    assert first.environment["warm_kernel"] is later.environment["warm_kernel"] is True
    assert not [line for line in later.errors if "cold" in line], later.errors


KERNEL_SIDE = {"grader", "grader.kernel", "grader.kernel.sandbox", "grader.kernel.syscalls", "grader.probes", "grader.probes.boot", "grader.version"}
GRADER_MODULES_IN_KERNEL = f"""
import sys
found = sorted(name for name in sys.modules if name.split(".")[0] == "grader" and name not in {sorted(KERNEL_SIDE)!r})
assert not found, f"the grader's own modules in the kernel: {{found}}"
"""


@pytest.mark.parametrize("warm", [True, False], ids=["forked", "launched"])
def test_a_kernel_holds_only_what_confines_it_and_boots_the_probes(make_notebook: MakeNotebook, rubric: Rubric, warm: bool) -> None:
    # rubric, checks, scoring and results stay in the grading process (the sandbox once imported the rubric module)
    path = make_notebook("modules", GRADER_MODULES_IN_KERNEL)
    result = grade_submission(path, rubric, Options(warm_kernels=warm))
    assert result.environment["warm_kernel"] is warm
    assert not [line for line in result.errors if "own modules" in line], result.errors


def test_kernels_take_the_probe_runtime_their_server_booted_and_a_missing_one_is_never_graded_without(
    make_notebook: MakeNotebook, rubric: Rubric, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = solution_answers()
    path = make_notebook("solved", answers["ex1"], answers["ex2"], answers["ex3"], answers["ex4"])
    warm = grade_submission(path, rubric, Options(warm_kernels=True))
    assert Zygote.shared().ask({"ping": True}) == {"ready": True, "prebooted": sources_digest()}
    assert (warm.environment["warm_kernel"], warm.score) == (True, 100)
    # the first cell looks for the runtime where the server did not put it: it fails, and a launched kernel grades instead
    monkeypatch.setattr("grader.probes.protocol.PREBOOTED", "_grader_probe_elsewhere")
    fallback = grade_submission(path, rubric, Options(warm_kernels=True))
    assert (fallback.environment["warm_kernel"], fallback.score, fallback.errors) == (False, 100, ())


def test_a_deep_temp_folder_grades_and_leaves_no_server_folder_behind(tmp_path: Path) -> None:
    temp = tmp_path / ("a-temp-folder-deep-enough-that-" * 3 + "kernel-sockets-would-not-fit")  # past a Unix socket's 107 bytes
    temp.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "grader", str(SOLUTION), "--only", "ex1"], capture_output=True, text=True, timeout=300,
        check=False, env={**os.environ, "TMPDIR": str(temp)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in temp.iterdir() if p.name.startswith("grader-zygote")] == []


def test_a_grade_and_a_batch_leave_no_kernel_box_behind(tmp_path: Path) -> None:
    """A killed kernel's box is removed once it is seen gone: by the next attempt, or by the process on leaving."""
    temp = Path(tempfile.mkdtemp(prefix="t-", dir="/tmp"))  # short: pytest's folder is too deep for kernel sockets
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("first", "second"):
        (folder / f"{name}.ipynb").write_bytes(SOLUTION.read_bytes())
    env = {**os.environ, "TMPDIR": str(temp), "GRADER_KEEP_WARM": "0"}
    single = [sys.executable, "-m", "grader", str(SOLUTION), "--only", "ex1"]
    batch = [sys.executable, "-m", "grader", str(folder), "--out", str(tmp_path / "out"), "--jobs", "1", "--only", "ex1"]
    try:
        for command in (single, batch):
            done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, env=env)
            assert done.returncode == 0, done.stdout + done.stderr
            assert [p.name for p in temp.iterdir() if p.name.startswith("grade-")] == []
    finally:
        shutil.rmtree(temp, ignore_errors=True)
