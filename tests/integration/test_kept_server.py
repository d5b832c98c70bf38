"""A `grade` on the command line leaves its warm-kernel server and its grading server for the next one, safely.

(grader/kernel/warm.py keeps the kernels warm, grader/kept/ the grading process.)

Each test keeps its servers in a folder of its own and stops them at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.kernel import warm
from tests.conftest import RUBRIC, SOLUTION, MakeNotebook
from tests.integration.test_warm_kernels import POLLUTER

pytestmark = pytest.mark.kernel

Grade = Callable[..., dict[str, Any]]


@pytest.fixture
def kept_env() -> Iterator[dict[str, str]]:
    runtime = Path(tempfile.mkdtemp(prefix="gk", dir="/tmp"))  # short: a socket's path has at most 107 bytes
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "GRADER_KEEP_WARM": "1", "GRADER_WARM_IDLE_S": "120"}
    env.pop("CI", None)
    yield env
    servers = _servers_under(runtime)
    for pid in servers:
        os.kill(pid, signal.SIGTERM)  # a kept server removes its socket and home folder when stopped
    _wait_until(lambda: not _servers_under(runtime), 30)
    for pid in _servers_under(runtime):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(runtime)


@pytest.fixture
def grade(kept_env: dict[str, str]) -> Grade:
    def run(path: Path, **env: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "grader", str(path), "--rubric", str(RUBRIC), "--format", "json", "--only", "ex1"], capture_output=True, text=True,
            timeout=600, check=False, env={**kept_env, **env},
        )
        assert done.returncode in (0, 1), done.stdout + done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        return report

    return run


def _servers_under(runtime: Path) -> list[int]:
    """Kept servers whose socket is in ``runtime`` (their command line names it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        kept = b"grader.kernel.zygote" in command or b"grader.kept.server" in command
        if kept and str(runtime).encode() in b" ".join(command) and state != "Z":
            pids.append(int(entry.name))
    return pids


def _wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _server(report: dict[str, Any]) -> tuple[int, bool, bool]:
    environment = report["environment"]
    return environment["warm_server_pid"], environment["warm_server_kept"], environment["warm_server_reused"]


def _open_sockets(pid: int) -> int:
    return sum(os.readlink(fd).startswith("socket:") for fd in Path(f"/proc/{pid}/fd").iterdir())


def test_the_next_grade_reuses_the_server_and_inherits_nothing(grade: Grade, make_notebook: MakeNotebook) -> None:
    first = grade(SOLUTION)
    pid, kept, reused = _server(first)
    assert (kept, reused) == (True, False) and first["score"] == first["max_score"] > 0
    polluted = grade(make_notebook("polluter", POLLUTER))  # patches torch and builtins, writes to /tmp: in its kernel only
    assert _server(polluted) == (pid, True, True) and polluted["score"] == 0
    again = grade(SOLUTION)
    assert _server(again) == (pid, True, True)
    assert again["score"] == first["score"] and again["exercises"] == first["exercises"]
    # the first grade graded in its own process; the later ones were answered by the kept grading server it left
    assert "kept_grader" not in first["environment"] and again["environment"]["kept_grader"] == polluted["environment"]["kept_grader"]
    assert _wait_until(lambda: _open_sockets(pid) == 1, 30), "the server keeps its graders' connections open"


def test_a_killed_server_costs_one_fresh_start_and_another_key_is_never_used(
    grade: Grade, kept_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = grade(SOLUTION)
    os.kill(_server(first)[0], signal.SIGKILL)  # its socket stays behind, refusing connections
    after = grade(SOLUTION)
    pid, kept, _ = _server(after)
    # a fresh server replaced it: started by this grade, or already by the kept grading server the first grade left
    assert kept is True and pid != _server(first)[0]
    assert after["score"] == first["score"] and after["exercises"] == first["exercises"]
    real = warm.key_parts()
    monkeypatch.setattr(warm, "key_parts", lambda: {**real, "grader_version": real["grader_version"] + ".newer"})
    connection, reused = warm.connect_kept_server(kept_env)  # a newer grader: the running server is not its own
    with connection:
        assert reused is False and warm.peer_credentials(connection)[0] != pid


def test_a_kept_server_leaves_when_idle(kept_env: dict[str, str]) -> None:
    connection, reused = warm.connect_kept_server({**kept_env, "GRADER_WARM_IDLE_S": "1"})
    pid = warm.peer_credentials(connection)[0]
    connection.close()
    folder = warm.private_folder(kept_env)
    assert not reused and [p.suffix for p in folder.iterdir() if p.suffix == ".sock"] == [".sock"]
    assert _wait_until(lambda: not any(p.suffix == ".sock" for p in folder.iterdir()), 180), "still there after idling"
    assert _wait_until(lambda: pid not in _servers_under(Path(kept_env["XDG_RUNTIME_DIR"])), 10)


def test_ci_keeps_no_server(grade: Grade, kept_env: dict[str, str]) -> None:
    report = grade(SOLUTION, CI="true", GRADER_KEEP_WARM="")
    assert report["environment"]["warm_server_kept"] is False and report["score"] == report["max_score"]
    assert _servers_under(Path(kept_env["XDG_RUNTIME_DIR"])) == []


def test_a_killed_grading_server_costs_one_grade_in_process(grade: Grade) -> None:
    first = grade(SOLUTION)
    second = grade(SOLUTION)
    grader_pid = second["environment"]["kept_grader"]
    os.kill(grader_pid, signal.SIGKILL)  # its socket stays behind, refusing connections
    after = grade(SOLUTION)
    assert "kept_grader" not in after["environment"]  # graded in its own process, as the first grade was
    again = grade(SOLUTION)
    assert again["environment"]["kept_grader"] not in (None, grader_pid)  # the grade after the fault started a new one
    assert first["exercises"] == second["exercises"] == after["exercises"] == again["exercises"]


def test_the_kept_grading_server_grades_each_assignment_in_turn_and_never_hangs(kept_env: dict[str, str]) -> None:
    """Children forked one after another grade 04, 05 and 06 to full marks (a child of a threaded server once hung)."""
    root = SOLUTION.parent

    def grade_notebook(name: str) -> dict[str, Any]:
        done = subprocess.run([sys.executable, "-m", "grader", str(root / name), "--format", "json"], capture_output=True, text=True,
                              timeout=120, check=False, env=kept_env)
        assert done.returncode == 0, done.stdout + done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        return report

    first = grade_notebook("solution.ipynb")
    later = [grade_notebook(name) for name in ("solution_05.ipynb", "solution_06.ipynb", "solution.ipynb", "solution_06.ipynb")]
    assert first["score"] == 100 and "kept_grader" not in first["environment"]
    assert [(r["assignment"][:2], r["score"]) for r in later] == [("05", 100), ("06", 100), ("04", 100), ("06", 100)]
    assert len({r["environment"]["kept_grader"] for r in later}) == 1  # one server, a fresh child each time
