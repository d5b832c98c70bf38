"""The execute stage's bookkeeping, without a kernel."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from grader.kernel.execute import KERNEL_DID_NOT_START, Ending, _Attempt, _no_kernel
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
