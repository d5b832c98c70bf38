"""Execute stage: run a submission's cells, then the probe request, in a fresh sandboxed kernel.

Every cell runs separately (a failing cell does not stop later ones), with a
timeout. A kernel that dies or stops answering is killed; the notebook is then
run again in a fresh kernel without the fatal cell (or, when the probes were
the fatal part, with the probes resumed after the call that killed it), so the
rest of the submission is still graded. Stored outputs of the submission are
never read; outputs of this run are capped per cell and in total.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from subprocess import DEVNULL
from typing import Any

from grader.load import Submission
from grader.rubric import Limits
from grader.sandbox import Isolation, detect_isolation, kernel_argv, kernel_env

TRUNCATED = "\n[... output truncated by the grader ...]\n"
_MAX_ATTEMPTS = 4
_WEDGE_GRACE_S = 5.0
# libzmq drops any single message over this size before the grader allocates it (probe answers are <= 4 MiB,
# twice that once JSON-escaped), and queues at most this many unread output messages.
MAX_MESSAGE_BYTES = 9 * 1024 * 1024
_MAX_QUEUED_MESSAGES = 16  # with MAX_MESSAGE_BYTES, bounds what a flood can queue in the grader (~144 MB)
_SEND_TIMEOUT_MS = 10_000
OVERSIZED = f"it sent one output message over {MAX_MESSAGE_BYTES // (1024 * 1024)} MB, more than the grader reads"
# Share of the submission's wall-clock limit kept for the probes when the cells run out of time.
_PROBE_RESERVE = 0.25
_MAX_ERROR = 300  # characters of a student's exception message kept in the report
_PING = 0  # cell index under which the grader's own "pass" pings run (the prelude's)


@dataclass(frozen=True)
class CellRun:
    """What happened to one code cell of the submission (``number`` is its 1-based place in the file)."""

    number: int
    status: str  # ok | error | timeout | crashed | skipped | not_run
    error: str = ""
    stdout: str = ""


@dataclass(frozen=True)
class Execution:
    """The result of running a submission: per-cell records, probe answers and fault events."""

    cells: tuple[CellRun, ...]
    probe_outputs: tuple[str, ...]
    events: tuple[str, ...]
    isolation: dict[str, bool]
    duration_s: float
    kernel_failed: str = ""
    kernel_peak_mb: float = 0.0

    @property
    def printed_text(self) -> str:
        return "".join(cell.stdout for cell in self.cells)


@dataclass
class _Attempt:
    """Mutable record of one kernel's run; several attempts make one Execution."""

    cells: dict[int, CellRun] = field(default_factory=dict)
    probe_outputs: list[str] = field(default_factory=list)
    fatal_cell: int | None = None
    fatal_probe: bool = False
    fatal_reason: str = ""
    out_of_time: bool = False
    private_root: bool = False
    peak_mb: float = 0.0


def execute_submission(
    submission: Submission,
    prelude: str,
    probe_code: Any,
    limits: Limits,
    mime: str,
    hide: list[Path] | None = None,
    warm: bool = True,
) -> Execution:
    """Run ``submission`` in a sandboxed kernel: prelude, its code cells, then ``probe_code(first_call)``.

    ``probe_code`` is a function giving the source of the probe cell that starts
    at a given call index; answers are display outputs of MIME type ``mime``.
    With ``warm`` the kernel is forked from the warm-kernel server
    (:mod:`grader.warm`), falling back to a freshly launched one if that fails.
    """
    return asyncio.run(_execute(submission, prelude, probe_code, limits, mime, hide or [], warm))


async def _execute(
    submission: Submission, prelude: str, probe_code: Any, limits: Limits, mime: str, hide: list[Path], warm: bool
) -> Execution:
    started = time.monotonic()
    deadline = started + limits.submission_timeout_s
    isolation = detect_isolation()
    skip: set[int] = set()
    events: list[str] = []
    answers: list[str] = []
    first_call = 0
    cells: dict[int, CellRun] = {}
    kernel_failed = ""
    private_root, out_of_time = True, False
    peak_mb = 0.0
    for tries in range(1, _MAX_ATTEMPTS + 1):
        attempt = await _run_attempt(submission, prelude, probe_code(first_call), skip, limits, mime, deadline, isolation, hide, warm)
        if attempt.fatal_reason == "kernel did not start" and warm:
            warm = False  # an infrastructure fault of the warm server: a freshly launched kernel does the job
            attempt = await _run_attempt(submission, prelude, probe_code(first_call), skip, limits, mime, deadline, isolation, hide, warm)
        peak_mb = max(peak_mb, attempt.peak_mb)
        private_root = private_root and attempt.private_root
        cells.update({n: run for n, run in attempt.cells.items() if run.status != "skipped" or n not in cells})
        answers.extend(attempt.probe_outputs)
        if attempt.fatal_reason == "kernel did not start":
            kernel_failed = attempt.fatal_reason
            break
        if attempt.out_of_time and not out_of_time:
            out_of_time = True
            events.append(
                f"the whole submission ran past its {limits.submission_timeout_s:g}s limit; cells not run by then were skipped "
                "and only what was defined before was graded"
            )
        if attempt.out_of_time and attempt.fatal_cell is None and not attempt.fatal_probe:
            break
        if (attempt.fatal_cell is not None or attempt.fatal_probe) and tries == _MAX_ATTEMPTS:
            events.append(f"the kernel was stopped {tries} times; the grader gave up on what was not run by then")
            break
        if attempt.fatal_cell is not None:
            skip.add(attempt.fatal_cell)
            crashed = cells[attempt.fatal_cell]
            cells[attempt.fatal_cell] = replace(crashed, error=f"{crashed.error}; the notebook was run again without it")
            continue
        if attempt.fatal_probe:
            done = {_answer_index(text) for text in answers}
            # the call after the last answer killed the kernel: skip it (and always move on)
            first_call = max(max((i for i in done if i is not None), default=-1) + 2, first_call + 1)
            events.append(f"while grading: {attempt.fatal_reason}; grading went on in a fresh kernel")
            continue
        break
    ordered = tuple(cells[n] for n in sorted(cells))
    described = {**isolation.describe(), "private_filesystem": isolation.namespaces and private_root, "warm_kernel": warm}
    return Execution(ordered, tuple(answers), tuple(events), described, time.monotonic() - started, kernel_failed, round(peak_mb, 1))


def _answer_index(text: str) -> int | None:
    import json

    try:
        value = json.loads(text).get("i")
    except (ValueError, AttributeError):
        return None
    return value if type(value) is int else None


async def _run_attempt(
    submission: Submission,
    prelude: str,
    probe_source: str,
    skip: set[int],
    limits: Limits,
    mime: str,
    deadline: float,
    isolation: Isolation,
    hide: list[Path],
    warm: bool,
) -> _Attempt:
    import nbformat
    from nbclient.exceptions import DeadKernelError

    attempt = _Attempt()
    box = Path(tempfile.mkdtemp(prefix="grade-"))
    work = box / "work"
    try:
        km, uid = _prepare_box(box, work, submission, limits, isolation, hide, warm)
        code_cells = [nbformat.v4.new_code_cell(prelude)]
        code_cells += [nbformat.v4.new_code_cell(cell.source) for cell in submission.code_cells]
        code_cells.append(nbformat.v4.new_code_cell(probe_source))
        nb = nbformat.v4.new_notebook(cells=code_cells)
        client = _client(nb, km, limits, mime)
        try:
            started = client.async_start_new_kernel(cwd=str(work), env=kernel_env(work), stdout=DEVNULL, stderr=DEVNULL)
            await asyncio.wait_for(started, 60)
            await client.async_start_new_kernel_client()
        except Exception:  # noqa: BLE001 - any failure to start is an infrastructure fault
            attempt.fatal_reason = "kernel did not start"
            await _kill(km, client)
            return attempt
        attempt.private_root = _sandbox_report(box).get("private_root") is True
        if uid is not None:  # its sockets exist now: the kernel may not write anything else on the host's disk
            os.chmod(box / "runtime", 0o711)
        try:
            await _run_cells(client, nb, submission, skip, limits, mime, deadline, attempt)
        except DeadKernelError:
            pass
        finally:
            attempt.peak_mb = _peak_memory_mb(km)
            await _kill(km, client)
    finally:
        shutil.rmtree(box, ignore_errors=True)
    return attempt


def _prepare_box(
    box: Path, work: Path, submission: Submission, limits: Limits, isolation: Isolation, hide: list[Path], warm: bool
) -> tuple[Any, int | None]:
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    work.mkdir()
    for sub in (".tmp", ".ipython", ".matplotlib"):
        (work / sub).mkdir()
    (work / submission.path.name).write_bytes(submission.raw)
    uid = _sandbox_uid() if isolation.unprivileged_user else None
    runtime = box / "runtime"
    runtime.mkdir()
    (box / "root").mkdir(mode=0o700)
    if uid is not None:
        os.chmod(box, 0o711)
        os.chmod(runtime, 0o777)
        for path in [work, *work.rglob("*")]:
            os.chown(path, uid, uid)
    argv = kernel_argv(limits, isolation, uid, hide, box)

    metadata = {"kernel_provisioner": {"provisioner_name": "grader-warm"}} if warm else {}

    class _SpecManager(KernelSpecManager):  # the grader chooses the kernel, never the notebook
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return KernelSpec(argv=argv, display_name="grader sandbox", language="python", metadata=metadata)

    class _KernelManager(AsyncKernelManager):
        def write_connection_file(self, **kwargs: Any) -> None:
            super().write_connection_file(**kwargs)
            if uid is not None:  # the kernel's own user must read it; the box folder is not listable
                os.chmod(self.connection_file, 0o644)

    km = _KernelManager(
        client_factory=_capped_client_class(),
        kernel_name="grader-sandbox",
        kernel_spec_manager=_SpecManager(),
        transport="ipc",
        ip=str(runtime / "kernel"),
    )
    km.connection_file = str(runtime / "connection.json")
    return km, uid


def _sandbox_report(box: Path) -> dict[str, Any]:
    """What the launcher says it achieved (written before it dropped privileges; absent without namespaces)."""
    import json

    try:
        data = json.loads((box / "runtime" / "sandbox.json").read_text(encoding="utf-8")[:4096])
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _sandbox_uid() -> int:
    # One id per grading process keeps parallel kernels from sharing RLIMIT_NPROC.
    return 61000 + os.getpid() % 4000


def _capped_client_class() -> type:
    """A kernel client whose sockets refuse oversized messages and bound their queues, inside libzmq."""
    import zmq
    import zmq.asyncio
    from jupyter_client.asynchronous import AsyncKernelClient

    class _CappedKernelClient(AsyncKernelClient):
        """On an oversized message libzmq drops that connection for good; ``_output_flows`` notices."""

        def _context_default(self) -> zmq.asyncio.Context:
            self._created_context = True
            context = zmq.asyncio.Context()
            context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
            context.setsockopt(zmq.RCVHWM, _MAX_QUEUED_MESSAGES)
            context.setsockopt(zmq.SNDTIMEO, _SEND_TIMEOUT_MS)  # a send to a lost peer fails instead of blocking
            return context

        def start_channels(
            self, shell: bool = True, iopub: bool = True, stdin: bool = True, hb: bool = True, control: bool = True
        ) -> None:
            # stdin and control are never read: opened, they would queue whatever the kernel pushed into them
            super().start_channels(shell=shell, iopub=iopub, stdin=False, hb=hb, control=False)

        async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
            """Like jupyter_client's, without its fixed 0.2 s idle wait at the end (a kernel per submission adds up)."""
            from queue import Empty

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

    return _CappedKernelClient


def _client(nb: Any, km: Any, limits: Limits, mime: str) -> Any:
    from nbclient import NotebookClient

    class _CappedClient(NotebookClient):
        """nbclient with capped outputs and a record of cells that timed out.

        In the probe cell only the answers (display outputs of the run's MIME type)
        are kept: what student code prints while it is probed costs nothing.
        """

        budget_total = limits.total_output_kb * 1024
        budget_cell = limits.cell_output_kb * 1024
        used_total = 0
        used_cell: dict[int, int] = {}
        timed_out: set[int] = set()
        current_cell = -1
        idle_seen: set[int] = set()
        raised: dict[int, str] = {}

        async def _check_raise_for_error(self, cell: Any, cell_index: int, exec_reply: Any) -> None:
            content = exec_reply.get("content", {}) if isinstance(exec_reply, dict) else {}
            if content.get("status") == "error":  # from the reply: an error output may have been cut by the caps
                self.raised[cell_index] = f"{content.get('ename', 'Error')!s:.100}: {content.get('evalue', '')!s:.{_MAX_ERROR}}"
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
            if is_probe and not _is_answer(msg, mime):
                return None
            size = _message_size(msg)
            used = self.used_cell.get(cell_index, 0)
            limit_cell = 64 * self.budget_cell if is_probe else self.budget_cell
            if used + size > limit_cell or (not is_probe and self.used_total + size > self.budget_total):
                if used <= limit_cell:
                    self.used_cell[cell_index] = limit_cell + 1
                    outs.append(_stream(TRUNCATED))
                return None
            self.used_cell[cell_index] = used + size
            if not is_probe:
                self.used_total += size
            return super().output(outs, msg, display_id, cell_index)

    client = _CappedClient(
        nb,
        km=km,
        timeout=int(limits.cell_timeout_s),
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeout", "evalue": f"the cell ran past its {limits.cell_timeout_s:g}s limit"},
        startup_timeout=60,
        iopub_timeout=8,  # a flooded or busy machine delivers a cell's last output late: wait for it, do not drop it
        shutdown_kernel="immediate",
        record_timing=False,
        skip_cells_with_tag="\x00never",
    )
    client.used_cell = {}
    client.timed_out = set()
    client.idle_seen = set()
    client.raised = {}
    return client


def _is_answer(msg: dict[str, Any], mime: str) -> bool:
    data = msg.get("content", {}).get("data")
    return msg.get("msg_type") == "display_data" and isinstance(data, dict) and isinstance(data.get(mime), str)


def _message_size(msg: dict[str, Any]) -> int:
    content = msg.get("content", {})
    size = len(content.get("text", ""))
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else 64
    return size + len(str(content.get("traceback", "")))


def _stream(text: str) -> Any:
    import nbformat

    return nbformat.v4.new_output("stream", name="stdout", text=text)


async def _run_cells(
    client: Any, nb: Any, submission: Submission, skip: set[int], limits: Limits, mime: str, deadline: float, attempt: _Attempt
) -> None:
    numbers = [0] + [cell.number for cell in submission.code_cells] + [-1]
    for index, cell in enumerate(nb.cells):
        number = numbers[index]
        is_probe = number == -1
        if number in skip:
            attempt.cells[number] = CellRun(number, "skipped", "not run again after it stopped the kernel")
            continue
        remaining = deadline - time.monotonic() - (0 if is_probe else _PROBE_RESERVE * limits.submission_timeout_s)
        if remaining <= 0 and not is_probe:  # out of time: skip to the probes, which have time kept for them
            attempt.out_of_time = True
            _mark_not_run(attempt, [number])
            continue
        client.current_cell = index
        cell_limit = limits.probe_timeout_s * 50 if is_probe else limits.cell_timeout_s
        client.timeout = int(min(cell_limit, max(remaining, 1)))
        try:
            wedged_after = client.timeout + client.iopub_timeout + _WEDGE_GRACE_S  # past what nbclient itself waits
            await asyncio.wait_for(client.async_execute_cell(cell, index, store_history=False), wedged_after)
        except Exception as exc:  # noqa: BLE001 - whatever the kernel does or sends costs this run only
            _fatal(attempt, numbers, index, cell, mime, await _fault_reason(exc, client))
            return
        if index not in client.idle_seen and index not in client.timed_out and not await _output_flows(client):
            _fatal(attempt, numbers, index, cell, mime, OVERSIZED)
            return
        if is_probe:
            attempt.probe_outputs = _probe_answers(cell, mime)
        elif number > 0:
            attempt.cells[number] = _cell_run(number, cell, client.raised.get(index), index in client.timed_out, client.timeout)
            if index in client.timed_out and not await _still_answers(client):
                _fatal(attempt, numbers, index, cell, mime, "it ran past its time limit, then the kernel stopped answering")
                return


async def _output_flows(client: Any) -> bool:
    """Whether the kernel's output still reaches the grader (a cell's end of output went missing)."""
    import nbformat

    client.idle_seen.discard(_PING)
    try:
        await asyncio.wait_for(client.async_execute_cell(nbformat.v4.new_code_cell("pass"), _PING, store_history=False), 2 * _WEDGE_GRACE_S)
    except Exception:  # noqa: BLE001
        return False
    return _PING in client.idle_seen


def _fatal(attempt: _Attempt, numbers: list[int], index: int, cell: Any, mime: str, reason: str) -> None:
    """Record that the cell at ``index`` stopped this kernel; later cells were not run in it."""
    number = numbers[index]
    if number == -1:
        attempt.probe_outputs = _probe_answers(cell, mime)
        attempt.fatal_probe, attempt.fatal_reason = True, reason
    elif number == 0:
        attempt.fatal_reason = "kernel did not start"
    else:
        previous = attempt.cells.get(number)
        stdout = previous.stdout if previous is not None else _stdout(cell)
        attempt.cells[number] = CellRun(number, "crashed", reason, stdout)
        attempt.fatal_cell, attempt.fatal_reason = number, reason
    _mark_not_run(attempt, [n for n in numbers[index + 1 :] if n > 0])


async def _still_answers(client: Any) -> bool:
    import nbformat

    ping = nbformat.v4.new_code_cell("pass")
    try:
        await asyncio.wait_for(client.async_execute_cell(ping, _PING, store_history=False), _WEDGE_GRACE_S)
    except Exception:  # noqa: BLE001
        return False
    return True


def _mark_not_run(attempt: _Attempt, numbers: list[int]) -> None:
    for number in numbers:
        if number > 0 and number not in attempt.cells:
            attempt.cells[number] = CellRun(number, "not_run")


async def _fault_reason(exc: Exception, client: Any) -> str:
    """What stopped the kernel, in a student's words: its exit, its silence, or what it sent."""
    from nbclient.exceptions import DeadKernelError

    if isinstance(exc, asyncio.TimeoutError):
        return "the kernel stopped answering after a timeout"
    code = None
    for _ in range(40):  # a kernel on its way out has dropped its connections already; its status may lag (busy machine)
        await asyncio.sleep(0.05)
        code = _exit_status(client)
        if code is not None:
            break
    if code is not None:
        return _describe_exit(code)
    if isinstance(exc, (DeadKernelError, RuntimeError)):
        return "the kernel died"
    return f"the connection to the kernel failed ({type(exc).__name__}: what it sent or did could not be handled)"


def _exit_status(client: Any) -> int | None:
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    return None if process is None else process.poll()


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the kernel died ({name})"
    return f"the kernel exited (status {code})"


def _cell_run(number: int, cell: Any, raised: str | None, timed_out: bool, timeout_s: float) -> CellRun:
    stdout = _stdout(cell)
    if timed_out:
        return CellRun(number, "timeout", f"ran past its {timeout_s:g}s time limit and was interrupted", stdout)
    if raised is not None:
        return CellRun(number, "error", raised, stdout)
    return CellRun(number, "ok", "", stdout)


def _stdout(cell: Any) -> str:
    """What the cell showed as text: what it printed, and the plain text of values it displayed (its last expression)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            parts.append(out.get("text", ""))
        elif out.get("output_type") in ("execute_result", "display_data"):
            text = (out.get("data") or {}).get("text/plain")
            parts.append(text + "\n" if isinstance(text, str) else "")
    return "".join(parts)


def _probe_answers(cell: Any, mime: str) -> list[str]:
    answers = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "display_data":
            value = out.get("data", {}).get(mime)
            if isinstance(value, str):
                answers.append(value)
    return answers


def _peak_memory_mb(km: Any) -> float:
    """The kernel's peak resident memory (VmHWM), read before it is killed; 0 when unknown."""
    pid = getattr(getattr(km, "provisioner", None), "pid", None)
    if not isinstance(pid, int):
        return 0.0
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    peak, todo = 0, [pid]  # the launcher's wrappers (setpriv, unshare) lead to the kernel
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            with open(f"/proc/{current}/status", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            continue
    return peak / 1024


async def _kill(km: Any, client: Any) -> None:
    """Kill the kernel at once: its process group, and with it its PID namespace."""
    try:
        if client.kc is not None:
            client.kc.stop_channels()
    except Exception:  # noqa: BLE001
        pass
    provisioner = getattr(km, "provisioner", None)
    try:  # kill and watch it go ourselves: jupyter_client would poll only every 0.1 s
        if provisioner is not None and provisioner.has_process:
            await provisioner.kill()
            for _ in range(400):
                if await provisioner.poll() is not None:
                    break
                await asyncio.sleep(0.005)
    except Exception:  # noqa: BLE001
        pass
    try:
        await km.shutdown_kernel(now=True)
    except Exception:  # noqa: BLE001
        pass
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is not None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
