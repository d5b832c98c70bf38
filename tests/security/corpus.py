"""Building blocks of the security corpus: notebooks from cell sources, expected outcomes, process scans.

Every hostile submission is generated here from a few lines of code, so the
corpus stays readable and nothing binary is checked in. Kernel cases are
graded with ``--only ex1 ex2``: the answers of those two exercises sit before
and after the hostile cells, so "the rest is still graded" is visible in
their scores.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nbformat
import pytest

from grader.kernel.sandbox import detect_isolation
from grader.pipeline import Options, grade_submission
from grader.results import SubmissionResult
from grader.rubric import Rubric
from tests.conftest import SETUP, solution_answers

ONLY = ("ex1", "ex2")
FULL = {"ex1": 25.0, "ex2": 25.0}
ANSWERS = solution_answers()
EX1, EX2 = ANSWERS["ex1"], ANSWERS["ex2"]
# Walls that only namespaces build (no network, private files, an init that takes its children along).
needs_namespaces = pytest.mark.skipif(
    not detect_isolation().namespaces, reason="Linux namespaces are not available here (run as root or allow user namespaces)"
)
# Put in the command line of every process a hostile cell starts, so that a leftover can be found.
MARKER = f"grader-security-marker-{os.getpid()}"  # this test process's own: xdist workers scan separately


@dataclass(frozen=True)
class Expect:
    """The outcome a submission must get: status, score per exercise, fragments of its fault lines."""

    status: str = "graded"
    scores: dict[str, float] = field(default_factory=lambda: dict(FULL))
    errors: tuple[str, ...] = ()
    not_in_errors: tuple[str, ...] = ("BREACH",)


def write_notebook(folder: Path, name: str, *cells: str, setup: bool = True, **extra: Any) -> Path:
    """A notebook of code cells (dedented), after the lesson's setup cell; ``extra`` merges into the JSON."""
    sources = ([SETUP] if setup else []) + [textwrap.dedent(cell).strip("\n") for cell in cells]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    data = json.loads(nbformat.writes(nb))
    for key, value in extra.items():
        data[key] = value if not isinstance(value, dict) else {**data.get(key, {}), **value}
    path = folder / f"{name}.ipynb"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def grade(path: Path, rubric: Rubric, warm: bool = True, **limits: Any) -> SubmissionResult:
    """Grade ex1 and ex2 of ``path``, with some of the rubric's limits replaced (e.g. ``cell_timeout_s=3``).

    ``warm=False`` launches the kernel afresh instead of forking it from the warm-kernel server.
    """
    options = Options(only=ONLY, limits=replace(rubric.limits, **limits), warm_kernels=warm)
    return grade_submission(path, rubric, options)


def assert_outcome(result: SubmissionResult, expect: Expect) -> None:
    """Check status, per-exercise scores and fault lines, with the whole report in the failure message."""
    shown = json.dumps(result.as_dict(), indent=1)[:6000]
    assert result.status == expect.status, shown
    scores = {ex.id: ex.score for ex in result.exercises if ex.id in expect.scores}
    assert scores == expect.scores, shown
    text = "\n".join(result.errors)
    for fragment in expect.errors:
        assert fragment in text, f"{fragment!r} not in the fault lines:\n{text}"
    for fragment in expect.not_in_errors:
        assert fragment not in text, shown
    assert all("\n" not in line for line in result.errors), result.errors


def check_score(result: SubmissionResult, exercise: str, check_id: str) -> float:
    """One check's score."""
    ex = next(e for e in result.exercises if e.id == exercise)
    return next(c.score for c in ex.checks if c.id == check_id)


def messages(result: SubmissionResult, exercise: str) -> str:
    """All check messages of one exercise, joined."""
    ex = next(e for e in result.exercises if e.id == exercise)
    return "\n".join(c.message for c in ex.checks)


def sandbox_uid() -> int:
    """The throw-away user id this process's kernels run as (see ``grader.kernel.sandbox``)."""
    from grader.kernel.sandbox import sandbox_uid as uid

    return uid()


def leftover_processes(marker: str = MARKER) -> list[str]:
    """Processes of this process's sandbox user, or carrying ``marker`` in their command line."""
    uid = sandbox_uid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        owner = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("Uid:")), -1)
        if owner == uid or marker in cmdline:
            found.append(f"{entry.name} uid={owner}: {cmdline[:160]}")
    return found


def wait_for_no_leftovers(marker: str = MARKER, within_s: float = 10.0) -> list[str]:
    """Leftover processes still there after ``within_s`` seconds (teardown is asynchronous)."""
    deadline = time.monotonic() + within_s
    while True:
        found = leftover_processes(marker)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def peak_rss_kb() -> int:
    """This process's peak resident memory (VmHWM), in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, writing 5 to clear_refs); False when not allowed."""
    try:
        Path(f"/proc/{os.getpid()}/clear_refs").write_text("5")
    except OSError:
        return False
    return True
