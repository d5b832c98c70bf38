"""The grader's subclasses of jupyter_client and nbclient, used by :mod:`grader.kernel.execute`.

Some of what they do (capping outputs, bounding ZeroMQ queues, a faster start)
has no public hook, so they override or call private members of those
libraries. Every such member is listed in ``tests/unit/test_private_members.py``,
which fails by name when an upgrade removes or changes one; ``pyproject.toml``
pins the versions they were tested with. This module imports nbclient, so the
execute stage imports it only when a kernel is about to run.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from queue import Empty
from typing import Any

import fastjsonschema
import nbformat
import zmq
import zmq.asyncio
from jupyter_client import AsyncKernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbformat.validator import NotebookValidationError, ValidationError

from grader.kernel.caps import MAX_ERROR_CHARS, MAX_MESSAGE_BYTES, MAX_QUEUED_MESSAGES, SEND_TIMEOUT_MS, TRUNCATED
from grader.rubric import Limits


class FixedKernelSpecs(KernelSpecManager):
    """Knows one kernel, the grader's: the notebook's kernelspec never chooses what runs."""

    def __init__(self, spec: KernelSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.grader_spec = spec

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self.grader_spec


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose connection file the kernel can read after it dropped to its throw-away user."""

    def __init__(self, *, readable_connection_file: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.readable_connection_file = readable_connection_file

    def write_connection_file(self, **kwargs: Any) -> None:
        super().write_connection_file(**kwargs)
        if self.readable_connection_file:  # the kernel's own user must read it; the box folder is not listable
            os.chmod(self.connection_file, 0o644)

    # jupyter_client wraps starting and stopping a kernel in a "pending state" that ends with a fixed 10 ms sleep (for its
    # own tests): measured, a warm kernel's kill took 27 ms with it and 15 ms without. The wrapper also resolves
    # ``km.ready``, which nothing here awaits (interrupting a dead kernel fails the same way without it).
    start_kernel: Callable[..., Awaitable[None]] = KernelManager._async_start_kernel.__wrapped__  # type: ignore[attr-defined]
    shutdown_kernel: Callable[..., Awaitable[None]] = KernelManager._async_shutdown_kernel.__wrapped__  # type: ignore[attr-defined]


class CappedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets refuse oversized messages and bound their queues, inside libzmq.

    On an oversized message libzmq drops that connection for good; the execute
    stage notices because the cell's end of output never arrives.
    """

    def _context_default(self) -> zmq.asyncio.Context:
        self._created_context = True
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        context.setsockopt(zmq.RCVHWM, MAX_QUEUED_MESSAGES)
        context.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)  # a send to a lost peer fails instead of blocking
        # The client connects while a forked kernel is still binding its sockets; libzmq's default first retry
        # after 100 ms was a sixth of a warm submission's time (measured: kernel ready to first reply, 200 -> 95 ms)
        context.setsockopt(zmq.RECONNECT_IVL, 5)
        context.setsockopt(zmq.RECONNECT_IVL_MAX, 20)
        return context

    def start_channels(
        self, shell: bool = True, iopub: bool = True, stdin: bool = True, hb: bool = True, control: bool = True
    ) -> None:
        # stdin and control are never read: opened, they would queue whatever the kernel pushed into them
        super().start_channels(shell=shell, iopub=iopub, stdin=False, hb=hb, control=False)

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        """Like jupyter_client's, without its fixed 0.2 s idle wait at the end (a kernel per submission adds up)."""
        deadline = time.monotonic() + (timeout if timeout is not None else 60.0)
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=0.5)
                if reply["msg_type"] == "kernel_info_reply":
                    await self.iopub_channel.get_msg(timeout=0.5)  # IOPub is subscribed once it carries a message
                    self._handle_kernel_info_reply(reply)
                    break
            except Empty:
                pass
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")
        while True:  # what is left of the kernel_info exchange on IOPub
            try:
                await self.iopub_channel.get_msg(timeout=0.01)
            except Empty:
                break

    wait_for_ready = _async_wait_for_ready


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_FRAME = re.compile(r"^\s*Cell In\[\d*\], line (\d+)")


def cell_line_of(traceback: Any) -> int | None:
    """The line of the running cell where an exception was raised: its first ``Cell In[n], line L`` frame (IPython 8+)."""
    if not isinstance(traceback, list):
        return None
    for entry in traceback[:50]:
        match = _CELL_FRAME.match(_ANSI.sub("", str(entry)[:2000]))
        if match:
            return int(match.group(1))
    return None


class CappedNotebookClient(NotebookClient):
    """nbclient with capped outputs and a record of what each cell did.

    In the probe cell (the notebook's last) only the answers, display outputs
    of the run's MIME type, are kept: what student code prints while it is
    probed costs nothing. ``timed_out``, ``idle_seen`` and ``raised`` are keyed
    by cell index; ``last_answer_at`` is when the latest probe answer arrived.
    """

    def __init__(self, nb: Any, km: Any, limits: Limits, mime: str, **kwargs: Any) -> None:
        super().__init__(nb, km=km, **kwargs)
        self.mime = mime
        self.budget_total = limits.total_output_kb * 1024
        self.budget_cell = limits.cell_output_kb * 1024
        self.used_total = 0
        self.used_cell: dict[int, int] = {}
        self.timed_out: set[int] = set()
        self.current_cell = -1
        self.idle_seen: set[int] = set()
        self.raised: dict[int, str] = {}
        self.last_answer_at = time.monotonic()

    async def _check_raise_for_error(self, cell: Any, cell_index: int, exec_reply: Any) -> None:
        content = exec_reply.get("content", {}) if isinstance(exec_reply, dict) else {}
        if content.get("status") == "error":  # from the reply: an error output may have been cut by the caps
            raised = f"{content.get('ename', 'Error')!s:.100}: {content.get('evalue', '')!s:.{MAX_ERROR_CHARS}}"
            line = cell_line_of(content.get("traceback"))
            self.raised[cell_index] = raised + (f" (cell line {line})" if line and "line" not in raised[-20:] else "")
        await super()._check_raise_for_error(cell, cell_index, exec_reply)

    def handle_comm_msg(self, outs: list[Any], msg: dict[str, Any], cell_index: int) -> None:
        return None  # widget state is not graded, and it would grow without bound

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        return None  # an update would replace an output past the caps

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        if msg.get("msg_type") == "status" and msg.get("content", {}).get("execution_state") == "idle":
            self.idle_seen.add(cell_index)
        return super().process_message(msg, cell, cell_index)

    async def _async_handle_timeout(self, timeout: int, cell: Any = None) -> Any:
        self.timed_out.add(self.current_cell)
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        is_probe = cell_index == len(self.nb.cells) - 1
        if is_probe:
            if not is_answer(msg, self.mime):
                return None
            self.last_answer_at = time.monotonic()
        size = _message_size(msg)
        used = self.used_cell.get(cell_index, 0)
        limit_cell = 64 * self.budget_cell if is_probe else self.budget_cell
        if used + size > limit_cell or (not is_probe and self.used_total + size > self.budget_total):
            if used <= limit_cell:
                self.used_cell[cell_index] = limit_cell + 1
                outs.append(nbformat.v4.new_output("stream", name="stdout", text=TRUNCATED))
            return None
        self.used_cell[cell_index] = used + size
        if not is_probe:
            self.used_total += size
        parent = msg["parent_header"].get("msg_id")
        if display_id or self.clear_before_next_output or self.output_hook_stack[parent]:
            return super().output(outs, msg, display_id, cell_index)  # the rare cases nbclient handles besides appending
        out = output_node(msg)
        if out is not None:
            outs.append(out)
        return out


_OUTPUT_FIELDS = {
    "execute_result": ("metadata", "data", "execution_count"),
    "stream": ("name", "text"),
    "display_data": ("metadata", "data"),
    "error": ("ename", "evalue", "traceback"),
}


def output_node(msg: dict[str, Any]) -> Any:
    """``nbformat.v4.output_from_msg``, checked against the same schema compiled once: None for a message of no output type.

    nbformat checks each output with jsonschema resolving a sub-schema, 0.14 ms each (measured), a tenth of a
    grading process's CPU; the compiled check takes 2 us. A message nbformat would refuse raises its error here too.
    """
    kind = msg["header"]["msg_type"]
    fields = _OUTPUT_FIELDS.get(kind)
    if fields is None:
        return None  # nbclient logs such a message and keeps nothing
    content = msg["content"]
    node = nbformat.from_dict({"output_type": kind, **{name: content[name] for name in fields}})
    try:
        _output_checks()[kind](node)
    except fastjsonschema.JsonSchemaException as exc:
        raise NotebookValidationError(ValidationError(str(exc)), ref=kind) from None
    return node


@functools.cache
def _output_checks() -> dict[str, Callable[[Any], Any]]:
    """nbformat's own schema of each output type (the current minor version's, as nbformat uses), compiled."""
    folder = Path(nbformat.v4.__file__).parent
    schema = json.loads((folder / nbformat.v4.nbformat_schema[(4, nbformat.v4.nbformat_minor)]).read_text(encoding="utf-8"))
    return {kind: fastjsonschema.compile({**schema, "$ref": f"#/definitions/{kind}"}) for kind in _OUTPUT_FIELDS}


def is_answer(msg: dict[str, Any], mime: str) -> bool:
    """Whether an output message is a probe answer: display data of the run's MIME type, as a string."""
    data = msg.get("content", {}).get("data")
    return msg.get("msg_type") == "display_data" and isinstance(data, dict) and isinstance(data.get(mime), str)


def _message_size(msg: dict[str, Any]) -> int:
    content = msg.get("content", {})
    size = len(content.get("text", ""))
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else 64
    return size + len(str(content.get("traceback", "")))
