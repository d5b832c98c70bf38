"""Floods and escaping processes: the grader's memory stays flat, and nothing the student starts outlives grading."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.kernel.caps import TRUNCATED
from grader.kernel.execute import OVERSIZED, execute_submission
from grader.load import load_submission
from grader.pipeline import load_reference
from grader.probes.protocol import ProbeRequest
from grader.rubric import Rubric
from tests.conftest import ROOT
from tests.security.corpus import (
    EX1,
    EX2,
    MARKER,
    Expect,
    assert_outcome,
    grade,
    leftover_processes,
    needs_namespaces,
    peak_rss_kb,
    reset_peak_rss,
    wait_for_no_leftovers,
    write_notebook,
)

pytestmark = pytest.mark.kernel

PRINTS_200MB = "print('x' * (200 * 1024 * 1024))"
# ipykernel's own write, past the kernel-side cap of the prelude: 200 MB reach the grader in 5 MB messages
BYPASSES_THE_KERNEL_CAP = """
import sys
raw_write = type(sys.stdout).write
for _ in range(40):
    raw_write(sys.stdout, 'y' * (5 * 1024 * 1024))
    sys.stdout.flush()
"""
# Outputs and widgets that nbclient would keep outside the output caps: 50 x 5 MB each.
UPDATES_DISPLAYS = """
from IPython.display import display
handles = [display('.', display_id=True) for _ in range(50)]
for handle in handles:
    handle.update('u' * (5 * 1024 * 1024))
"""
OPENS_WIDGETS = """
from comm import create_comm
comms = [create_comm(target_name='jupyter.widget', data={'state': {'v': 'w' * (5 * 1024 * 1024)}}) for _ in range(50)]
"""
ONE_20MB_MESSAGE = "from IPython.display import publish_display_data\npublish_display_data({'text/plain': 'z' * (20 * 1024 * 1024)})"
DETACHES = f"""
import subprocess, sys
sleeper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', '{MARKER}-detached'], start_new_session=True)
"""
DAEMONIZES = f"""
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)', '{MARKER}-daemon'])
    os._exit(0)
"""
FORKS_UNTIL_REFUSED = """
import os, time
children = 0
while children < 10_000:
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)
    children += 1
"""


def test_output_flood_is_truncated_and_grader_memory_stays_flat(tmp_path: Path, rubric: Rubric) -> None:
    load_reference(rubric.reference_path)  # torch in this process before measuring
    cells = [PRINTS_200MB, BYPASSES_THE_KERNEL_CAP, UPDATES_DISPLAYS, OPENS_WIDGETS, ONE_20MB_MESSAGE, "print('still here')"]
    submission = load_submission(write_notebook(tmp_path, "flood", *cells))
    request = ProbeRequest(())
    exact = reset_peak_rss()
    before = peak_rss_kb() if exact else int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    prelude = functools.partial(request.prelude, 1, 5.0)
    execution = execute_submission(submission, prelude, request.cell_source, rubric.limits, request.mime)
    growth_mb = (peak_rss_kb() - before) / 1024
    print(f"grader peak RSS during a 900 MB output flood: {peak_rss_kb() / 1024:.0f} MB (+{growth_mb:.0f} MB)")
    assert growth_mb < 150, f"the grader's memory grew by {growth_mb:.0f} MB"
    cells_run = {cell.number: cell for cell in execution.cells}
    cap = rubric.limits.cell_output_kb * 1024
    for number in (2, 3):
        assert cells_run[number].status == "ok" and cells_run[number].stdout.endswith(TRUNCATED)
        assert len(cells_run[number].stdout) <= cap + len(TRUNCATED)
    assert cells_run[4].status == cells_run[5].status == "ok"
    assert cells_run[6].status == "crashed" and OVERSIZED in cells_run[6].error
    assert cells_run[7].stdout == "still here\n"
    assert sum(len(cell.stdout) for cell in execution.cells) <= rubric.limits.total_output_kb * 1024 + 10 * len(TRUNCATED)


def test_children_that_detach_or_fork_do_not_outlive_grading(tmp_path: Path, rubric: Rubric) -> None:
    path = write_notebook(tmp_path, "forks", EX1, DETACHES, DAEMONIZES, FORKS_UNTIL_REFUSED, EX2)
    result = grade(path, rubric, max_processes=64)
    assert_outcome(result, Expect(errors=("cell 5 raised BlockingIOError",)))
    assert wait_for_no_leftovers() == []


@needs_namespaces
def test_a_killed_grader_takes_its_kernel_with_it(tmp_path: Path) -> None:
    """B02: the grader dies mid-run (SIGKILL, no cleanup): its kernel and the kernel's children die too."""
    marker = f"{MARKER}-orphan-{os.getpid()}"
    detach = DETACHES.replace(f"{MARKER}-detached", marker)
    path = write_notebook(tmp_path, "orphan", detach, "import time\ntime.sleep(120)")
    grader = subprocess.Popen(
        [sys.executable, "-m", "grader", str(path), "--only", "ex1", "--rubric", "04_automatic_differentiation"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # the box it cannot clean up stays in pytest's folder
    )
    try:
        deadline = time.monotonic() + 60
        while not leftover_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert leftover_processes(marker), "the hostile cell never started"
    finally:
        grader.send_signal(signal.SIGKILL)
        grader.wait()
    assert wait_for_no_leftovers(marker) == []


def _descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid`` (Linux /proc), zombies left out."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@needs_namespaces
def test_a_killed_batch_takes_its_workers_their_fork_server_and_kernels_with_it(tmp_path: Path) -> None:
    """B02 for a batch: workers come from multiprocessing's fork server, not from the batch process itself."""
    marker = f"{MARKER}-batch-orphan-{os.getpid()}"
    detach = DETACHES.replace(f"{MARKER}-detached", marker)
    folder = tmp_path / "class"
    folder.mkdir()
    write_notebook(folder, "orphan", detach, "import time\ntime.sleep(120)")
    batch = subprocess.Popen(
        [sys.executable, "-m", "grader", str(folder), "--out", str(tmp_path / "out"), "--jobs", "1", "--rubric", "04_automatic_differentiation"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        deadline = time.monotonic() + 90
        while not leftover_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert leftover_processes(marker), "the hostile cell never started"
        family = _descendants(batch.pid)  # the fork server, the worker, the warm-kernel server, its keeper and kernel
        assert len(family) >= 4, family
    finally:
        batch.send_signal(signal.SIGKILL)
        batch.wait()
    assert wait_for_no_leftovers(marker) == []
    deadline = time.monotonic() + 20
    while [pid for pid in family if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in family if _alive(pid)] == []
