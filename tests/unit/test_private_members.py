"""Every private member of nbclient and jupyter_client that the grader overrides or calls still exists, alike.

``grader/kernel/clients.py`` overrides or calls members of nbclient and
jupyter_client that are not public API. An upgrade that renames one would not
crash: the grader's override would silently stop being called (outputs no
longer capped, timeouts no longer recorded), and it would grade wrongly. These
tests fail first, naming the member, so that the pins in ``pyproject.toml``
are moved only together with a look at the override.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import pytest
import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.client import KernelClient
from nbclient import NotebookClient

from grader.kernel.caps import MAX_MESSAGE_BYTES, MAX_QUEUED_MESSAGES
from grader.kernel.clients import CappedKernelClient, CappedNotebookClient


@dataclass(frozen=True)
class Private:
    """A private method of a library class: what we do with it and the parameters it must take."""

    owner: type
    name: str
    use: str  # "overridden" (our subclass replaces it and the library calls ours) or "called" (we call it)
    parameters: tuple[str, ...]
    coroutine: bool
    ours: type | None = None  # the grader's subclass that overrides it

    def __str__(self) -> str:
        return f"{self.owner.__module__}.{self.owner.__qualname__}.{self.name} ({self.use} by grader/kernel/clients.py)"


PRIVATE_METHODS = (
    Private(NotebookClient, "_check_raise_for_error", "overridden", ("self", "cell", "cell_index", "exec_reply"), True, CappedNotebookClient),
    Private(NotebookClient, "_update_display_id", "overridden", ("self", "display_id", "msg"), False, CappedNotebookClient),
    Private(NotebookClient, "_async_handle_timeout", "overridden", ("self", "timeout", "cell"), True, CappedNotebookClient),
    Private(AsyncKernelClient, "_context_default", "overridden", ("self",), False, CappedKernelClient),
    Private(AsyncKernelClient, "_async_wait_for_ready", "overridden", ("self", "timeout"), True, CappedKernelClient),
    Private(AsyncKernelClient, "_handle_kernel_info_reply", "called", ("self", "msg"), False),
    Private(AsyncKernelClient, "_async_is_alive", "called", ("self",), True),
)
# Public methods nbclient calls on our subclasses with the same parameters (a change there breaks the caps as surely).
PUBLIC_OVERRIDES = (
    Private(NotebookClient, "output", "overridden", ("self", "outs", "msg", "display_id", "cell_index"), False, CappedNotebookClient),
    Private(NotebookClient, "process_message", "overridden", ("self", "msg", "cell", "cell_index"), False, CappedNotebookClient),
    Private(NotebookClient, "handle_comm_msg", "overridden", ("self", "outs", "msg", "cell_index"), False, CappedNotebookClient),
    Private(KernelClient, "start_channels", "overridden", ("self", "shell", "iopub", "stdin", "hb", "control"), False, CappedKernelClient),
)


def _library_member(member: Private) -> Any:
    # The library's own definition, looked up past our subclass (which would hide a removal).
    for klass in member.owner.__mro__:
        if member.name in vars(klass):
            return vars(klass)[member.name]
    pytest.fail(f"{member} is gone: the grader's code that relies on it no longer works; see grader/kernel/clients.py")


def _parameters(function: Any) -> tuple[str, ...]:
    return tuple(inspect.signature(function).parameters)


@pytest.mark.parametrize("member", PRIVATE_METHODS + PUBLIC_OVERRIDES, ids=lambda m: f"{m.owner.__name__}.{m.name}")
def test_the_member_exists_with_the_parameters_the_grader_uses(member: Private) -> None:
    found = _library_member(member)
    assert callable(found), f"{member} is no longer a method"
    assert _parameters(found) == member.parameters, (
        f"{member} changed its parameters: {_parameters(found)}, the grader was written for {member.parameters}"
    )
    assert inspect.iscoroutinefunction(found) == member.coroutine, (
        f"{member} is {'now' if inspect.iscoroutinefunction(found) else 'no longer'} a coroutine function"
    )


@pytest.mark.parametrize(
    "member", [m for m in PRIVATE_METHODS + PUBLIC_OVERRIDES if m.ours is not None], ids=lambda m: f"{m.ours.__name__}.{m.name}"
)
def test_the_grader_override_takes_what_the_library_passes(member: Private) -> None:
    assert member.ours is not None
    ours = vars(member.ours).get(member.name)
    assert ours is not None, f"{member.ours.__name__} no longer overrides {member.name}; update this list"
    assert _parameters(ours) == _parameters(_library_member(member)), f"{member.ours.__name__}.{member.name} and {member} differ"
    assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(_library_member(member)), member.name


def test_created_context_is_still_the_flag_that_closes_the_client_context() -> None:
    assert "_created_context" in KernelClient.class_traits(), (
        "jupyter_client.client.KernelClient._created_context is gone: CappedKernelClient._context_default sets it "
        "so that the client closes the ZeroMQ context it made"
    )


def test_the_context_override_is_what_jupyter_client_uses() -> None:
    # _context_default is a traitlets default: if jupyter_client stopped consulting it, the socket caps would vanish silently.
    client = CappedKernelClient()
    try:
        assert client.context.getsockopt(zmq.MAXMSGSIZE) == MAX_MESSAGE_BYTES, "the ZeroMQ message-size cap is not applied"
        assert client.context.getsockopt(zmq.RCVHWM) == MAX_QUEUED_MESSAGES, "the ZeroMQ queue bound is not applied"
        assert client._created_context is True
    finally:
        client.context.term()


def test_wait_for_ready_is_the_name_nbclient_calls() -> None:
    source = inspect.getsource(NotebookClient.async_start_new_kernel_client)
    assert "wait_for_ready" in source, "nbclient no longer calls kc.wait_for_ready: CappedKernelClient's faster start is bypassed"
    assert CappedKernelClient.wait_for_ready is CappedKernelClient._async_wait_for_ready


@pytest.mark.parametrize(("name", "parameters"), [("_async_start_kernel", ("self", "kw")), ("_async_shutdown_kernel", ("self", "now", "restart"))])
def test_starting_and_stopping_a_kernel_are_still_the_methods_inside_the_pending_state_wrapper(name: str, parameters: tuple[str, ...]) -> None:
    # SandboxKernelManager calls what jupyter_client's in_pending_state wraps, without the wrapper's 10 ms sleep
    from jupyter_client import AsyncKernelManager
    from jupyter_client.manager import KernelManager

    from grader.kernel.clients import SandboxKernelManager

    public = {"_async_start_kernel": "start_kernel", "_async_shutdown_kernel": "shutdown_kernel"}[name]
    wrapper = vars(KernelManager).get(name)
    assert wrapper is not None and getattr(AsyncKernelManager, public) is wrapper, f"AsyncKernelManager.{public} is no longer {name}"
    inner = getattr(wrapper, "__wrapped__", None)
    assert inner is not None, f"jupyter_client's {name} is no longer wrapped: SandboxKernelManager.{public} would skip its own work"
    assert _parameters(inner) == parameters and inspect.iscoroutinefunction(inner), f"{name} changed"
    assert "asyncio.sleep(0.01)" in inspect.getsource(inspect.getmodule(KernelManager).in_pending_state), "the wrapper changed"  # type: ignore[union-attr]
    assert getattr(SandboxKernelManager, public) is inner


def test_nbclient_output_still_appends_output_from_msg_unless_a_hook_a_clear_or_a_display_id() -> None:
    # CappedNotebookClient.output appends grader.kernel.clients.output_node itself in that common case, and hands the others to nbclient
    source = inspect.getsource(NotebookClient.output)
    expected: tuple[str, ...] = ("self.output_hook_stack[parent_msg_id]", "output_from_msg(msg)", "self.clear_before_next_output")
    expected += ("if display_id:", "outs.append(out)")
    for needed in expected:
        assert needed in source, f"nbclient's NotebookClient.output changed ({needed!r} is gone): see CappedNotebookClient.output"
