"""The execute stage's bookkeeping, without a kernel."""

from __future__ import annotations

from grader.execute import KERNEL_DID_NOT_START, Ending, _Attempt, _no_kernel


def _failed(reason: str) -> _Attempt:
    return _Attempt(warm=False, ending=Ending.NO_KERNEL, reason=reason)


def test_a_kernel_that_did_not_start_says_why() -> None:
    message = _no_kernel([_failed("a warm kernel: TimeoutError; a launched kernel: RuntimeError: Kernel died before replying to kernel_info")])
    assert message.startswith(KERNEL_DID_NOT_START + " (a warm kernel: TimeoutError; a launched kernel: RuntimeError: Kernel died")


def test_without_a_reason_the_message_is_the_plain_one() -> None:
    assert _no_kernel([_failed("")]) == KERNEL_DID_NOT_START
    assert _no_kernel([_Attempt(warm=True)]) == KERNEL_DID_NOT_START


def test_the_reason_is_kept_short() -> None:
    assert len(_no_kernel([_failed("x" * 5000)])) < len(KERNEL_DID_NOT_START) + 310
