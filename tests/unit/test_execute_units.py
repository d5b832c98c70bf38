"""The execute stage's bookkeeping, without a kernel."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

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
