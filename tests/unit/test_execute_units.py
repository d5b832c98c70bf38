"""The execute stage's bookkeeping, without a kernel."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from grader.kernel import execute
from grader.kernel.execute import _MAX_ATTEMPTS, KERNEL_DID_NOT_START, Ending, Resume, _Attempt, _next_attempt, _no_kernel
from grader.kernel.sandbox import socket_folder


def _failed(reason: str) -> _Attempt:
    return _Attempt(warm=False, ending=Ending.NO_KERNEL, reason=reason)


def test_a_kernel_that_did_not_start_says_why() -> None:
    message = _no_kernel([_failed("a warm kernel: TimeoutError; a launched kernel: RuntimeError: Kernel died before replying to kernel_info")])
    assert message.startswith(KERNEL_DID_NOT_START + " (a warm kernel: TimeoutError; a launched kernel: RuntimeError: Kernel died")


def test_without_a_reason_the_message_is_the_plain_one() -> None:
    assert _no_kernel([_failed("")]) == KERNEL_DID_NOT_START
    assert _no_kernel([_Attempt(warm=True)]) == KERNEL_DID_NOT_START


def test_a_huge_reason_is_cut_to_its_beginning() -> None:
    reason = "RuntimeError: " + "x" * 5000 + " the end"
    message = _no_kernel([_failed(reason)])
    assert message.startswith(f"{KERNEL_DID_NOT_START} (RuntimeError: xxx") and message.endswith(")")
    assert "the end" not in message and len(message) < len(reason) // 10


def test_each_reason_is_given_once_in_the_order_of_the_tries() -> None:
    tries = [_failed("TimeoutError"), _failed("RuntimeError: Kernel died"), _failed("TimeoutError"), _Attempt(warm=True)]
    assert _no_kernel(tries) == f"{KERNEL_DID_NOT_START} (TimeoutError; RuntimeError: Kernel died)"


def _probes_died(answered: range, died: bool = True) -> _Attempt:
    outputs = [json.dumps({"i": i, "ok": True}) for i in answered]
    return _Attempt(warm=True, probe_outputs=outputs, ending=Ending.PROBES_STOPPED_KERNEL, died=died)


def test_a_kernel_that_died_in_fast_probes_runs_the_unanswered_calls_again_carefully() -> None:
    """Answers sent just before an abrupt exit may be lost: the call after the last one received is not blamed yet."""
    first = _next_attempt(Resume(), [_probes_died(range(0, 5))])
    assert first == Resume(first_call=5, careful=True)  # call 5 runs again: the exit may have come in call 7
    second = _next_attempt(first, [_probes_died(range(0, 5)), _probes_died(range(5, 7))])
    assert second == Resume(first_call=8, careful=True)  # careful answers all left the kernel: call 7 stopped it, skipped


def test_a_careful_retry_that_got_no_further_still_moves_on() -> None:
    resume = _next_attempt(Resume(first_call=3, careful=True), [_probes_died(range(0, 3)), _probes_died(range(0, 0))])
    assert resume is not None and resume.first_call == 4


def test_a_kernel_that_stopped_answering_in_the_probes_is_not_retried_carefully() -> None:
    """A wedged kernel is alive: ZeroMQ's own thread has sent what it was handed; the next call stopped it."""
    assert _next_attempt(Resume(), [_probes_died(range(0, 5), died=False)]) == Resume(first_call=6)


def test_the_careful_retry_does_not_use_up_an_attempt() -> None:
    cells = [_Attempt(warm=True, ending=Ending.CELL_STOPPED_KERNEL, fatal_cell=n) for n in range(1, _MAX_ATTEMPTS)]
    last = _next_attempt(Resume(), [*cells, _probes_died(range(0, 2))])
    assert last is not None and last.careful  # the last attempt died in fast probes: one careful attempt more
    assert _next_attempt(last, [*cells, _probes_died(range(0, 2)), _probes_died(range(2, 4))]) is None
    assert _next_attempt(Resume(careful=True), [*cells, _probes_died(range(0, 2))]) is not None
    assert _next_attempt(Resume(), [*cells, _probes_died(range(0, 2), died=False)]) is None


def test_an_exercise_whose_calls_stop_two_kernels_leaves_its_other_calls_to_the_other_exercises() -> None:
    """A function that kills every kernel it runs in costs its own exercise; the later exercises' calls are still asked."""
    owners = ("ex1", "ex2", "ex2", "ex2", "ex2", "ex3", "ex3")
    died_at = {1, 2, 3, 4}  # every ex2 call kills its kernel
    resume: Resume | None = Resume()
    attempts: list[_Attempt] = []
    while resume is not None:
        asked = [i for i in range(resume.first_call, len(owners)) if i not in resume.skip_calls]
        fatal = next((i for i in asked if i in died_at), None)
        answered = asked if fatal is None else asked[: asked.index(fatal)]
        attempts.append(_probes_died(range(0)) if fatal is not None else _Attempt(warm=True))
        attempts[-1].probe_outputs = [json.dumps({"i": i, "ok": True}) for i in answered]
        resume = _next_attempt(resume, attempts, owners)
    answered = sorted(i for a in attempts for i in (json.loads(t)["i"] for t in a.probe_outputs))
    assert answered == [0, 5, 6]  # ex1's call and both of ex3's; ex2's last two calls were not asked again
    assert len(attempts) == 4  # ex2's first fatal call (fast, then careful), its second, then ex3


def test_without_the_calls_exercises_the_attempts_are_as_many_as_before() -> None:
    attempts = [_probes_died(range(0, 0)) for _ in range(_MAX_ATTEMPTS + 1)]  # the careful retry's attempt included
    assert _next_attempt(Resume(careful=True), attempts) is None
    assert _next_attempt(Resume(careful=True), attempts[:-1]) == Resume(first_call=1, careful=True)


def test_socket_folders_fit_a_unix_socket_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = tmp_path / ("x" * 90)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    folder = socket_folder("grade-", "runtime/kernel-65535")
    assert folder.parent == Path("/tmp") and len(str(folder / "runtime/kernel-65535")) <= 107
    folder.rmdir()
    shallow = Path(tempfile.mkdtemp(prefix="t", dir="/tmp"))  # pytest's own tmp_path may already be too deep
    monkeypatch.setattr(tempfile, "tempdir", str(shallow))
    try:
        assert socket_folder("grade-", "runtime/kernel-65535").parent == shallow  # the temp folder as usual when it fits
    finally:
        shutil.rmtree(shallow)


class _DyingProvisioner:
    """A killed kernel that is seen gone on the third look; each look records whether its box was still there."""

    has_process = True
    process = None

    def __init__(self, box: Path) -> None:
        self.box = box
        self.looks: list[bool] = []

    async def poll(self) -> int | None:
        self.looks.append(self.box.exists())
        return None if len(self.looks) < 3 else -9


class _KilledManager:
    def __init__(self, box: Path) -> None:
        self.provisioner = _DyingProvisioner(box)
        self.shut_down = False

    async def shutdown_kernel(self, now: bool = False) -> None:
        self.shut_down = now


def test_a_killed_kernel_is_seen_gone_before_its_box_is_removed(tmp_path: Path) -> None:
    box = tmp_path / "box"
    box.mkdir()
    manager = _KilledManager(box)
    execute._killed.append(execute._Killed(manager, box))
    asyncio.run(execute._bury_killed_kernels())
    assert manager.provisioner.looks == [True, True, True]  # its box stayed until it was gone
    assert manager.shut_down and not box.exists() and execute._killed == []


def test_each_attempt_buries_the_kernels_killed_before_it_first(monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []

    async def bury() -> None:
        order.append("bury")

    def box(*_: object) -> Path:
        order.append("box")
        raise RuntimeError("stop here")

    monkeypatch.setattr(execute, "_bury_killed_kernels", bury)
    monkeypatch.setattr(execute, "socket_folder", box)
    with pytest.raises(RuntimeError, match="stop here"):
        asyncio.run(execute._run_attempt(None, Resume()))  # type: ignore[arg-type]  # it stops before reading the plan
    assert order == ["bury", "box"]


def test_a_leaving_process_removes_the_boxes_of_the_kernels_it_killed(tmp_path: Path) -> None:
    boxes = [tmp_path / "one", tmp_path / "two"]
    for box in boxes:
        (box / "runtime").mkdir(parents=True)
        execute._killed.append(execute._Killed(None, box))
    execute.forget_killed_kernels()
    assert [box.exists() for box in boxes] == [False, False] and execute._killed == []


def test_a_leaving_process_waits_for_a_launched_kernel_it_killed_before_removing_its_box(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child.kill()
    manager = SimpleNamespace(provisioner=SimpleNamespace(process=child))
    execute._killed.append(execute._Killed(manager, tmp_path / "box"))
    execute.forget_killed_kernels()
    assert child.returncode is not None  # reaped: on Windows its files could not have been removed before
