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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.load import Submission
from grader.rubric import Limits
from grader.sandbox import Isolation, detect_isolation, kernel_argv, kernel_env

TRUNCATED = "\n[... output truncated by the grader ...]\n"
_MAX_ATTEMPTS = 4
_WEDGE_GRACE_S = 5.0


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


def execute_submission(
    submission: Submission,
    prelude: str,
    probe_code: Any,
    limits: Limits,
    mime: str,
    hide: list[Path] | None = None,
) -> Execution:
    """Run ``submission`` in a sandboxed kernel: prelude, its code cells, then ``probe_code(first_call)``.

    ``probe_code`` is a function giving the source of the probe cell that starts
    at a given call index; answers are display outputs of MIME type ``mime``.
    """
    return asyncio.run(_execute(submission, prelude, probe_code, limits, mime, hide or []))


async def _execute(
    submission: Submission, prelude: str, probe_code: Any, limits: Limits, mime: str, hide: list[Path]
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
    for _ in range(_MAX_ATTEMPTS):
        attempt = await _run_attempt(submission, prelude, probe_code(first_call), skip, limits, mime, deadline, isolation, hide)
        cells.update(attempt.cells)
        answers.extend(attempt.probe_outputs)
        if attempt.fatal_reason == "kernel did not start":
            kernel_failed = attempt.fatal_reason
            break
        if attempt.out_of_time:
            events.append(f"the whole submission ran past its {limits.submission_timeout_s:g}s limit; what was not run yet is not graded")
            break
        if attempt.fatal_cell is not None:
            skip.add(attempt.fatal_cell)
            events.append(f"cell {attempt.fatal_cell}: {attempt.fatal_reason}; the notebook was run again without it")
            continue
        if attempt.fatal_probe:
            done = {_answer_index(text) for text in answers}
            first_call = max((i for i in done if i is not None), default=-1) + 2
            events.append(f"while grading: {attempt.fatal_reason}; grading went on in a fresh kernel")
            continue
        break
    ordered = tuple(cells[n] for n in sorted(cells))
    return Execution(ordered, tuple(answers), tuple(events), isolation.describe(), time.monotonic() - started, kernel_failed)


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
) -> _Attempt:
    import nbformat
    from nbclient.exceptions import DeadKernelError

    attempt = _Attempt()
    box = Path(tempfile.mkdtemp(prefix="grade-"))
    work = box / "work"
    try:
        km, uid = _prepare_box(box, work, submission, limits, isolation, hide)
        code_cells = [nbformat.v4.new_code_cell(prelude)]
        code_cells += [nbformat.v4.new_code_cell(cell.source) for cell in submission.code_cells]
        code_cells.append(nbformat.v4.new_code_cell(probe_source))
        nb = nbformat.v4.new_notebook(cells=code_cells)
        client = _client(nb, km, limits)
        try:
            await asyncio.wait_for(client.async_start_new_kernel(cwd=str(work), env=kernel_env(work)), 60)
            await client.async_start_new_kernel_client()
        except Exception:  # noqa: BLE001 - any failure to start is an infrastructure fault
            attempt.fatal_reason = "kernel did not start"
            return attempt
        try:
            await _run_cells(client, nb, submission, skip, limits, mime, deadline, attempt)
        except DeadKernelError:
            pass
        finally:
            await _kill(km, client)
    finally:
        shutil.rmtree(box, ignore_errors=True)
    return attempt


def _prepare_box(box: Path, work: Path, submission: Submission, limits: Limits, isolation: Isolation, hide: list[Path]) -> tuple[Any, int | None]:
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    work.mkdir()
    for sub in (".tmp", ".ipython", ".matplotlib"):
        (work / sub).mkdir()
    (work / submission.path.name).write_bytes(submission.raw)
    uid = _sandbox_uid() if isolation.unprivileged_user else None
    runtime = box / "runtime"
    runtime.mkdir()
    if uid is not None:
        os.chmod(box, 0o711)
        os.chmod(runtime, 0o777)
        for path in [work, *work.rglob("*")]:
            os.chown(path, uid, uid)
    argv = kernel_argv(limits, isolation, uid, hide)

    class _SpecManager(KernelSpecManager):  # the grader chooses the kernel, never the notebook
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:  # noqa: ARG002
            return KernelSpec(argv=argv, display_name="grader sandbox", language="python")

    class _KernelManager(AsyncKernelManager):
        def write_connection_file(self, **kwargs: Any) -> None:
            super().write_connection_file(**kwargs)
            if uid is not None:  # the kernel's own user must read it; the box folder is not listable
                os.chmod(self.connection_file, 0o644)

    km = _KernelManager(
        kernel_name="grader-sandbox",
        kernel_spec_manager=_SpecManager(),
        transport="ipc",
        ip=str(runtime / "kernel"),
    )
    km.connection_file = str(runtime / "connection.json")
    return km, uid


def _sandbox_uid() -> int:
    # One id per grading process keeps parallel kernels from sharing RLIMIT_NPROC.
    return 61000 + os.getpid() % 4000


def _client(nb: Any, km: Any, limits: Limits) -> Any:
    from nbclient import NotebookClient

    class _CappedClient(NotebookClient):
        """nbclient with capped outputs and a record of cells that timed out."""

        budget_total = limits.total_output_kb * 1024
        budget_cell = limits.cell_output_kb * 1024
        used_total = 0
        used_cell: dict[int, int] = {}  # noqa: RUF012
        timed_out: set[int] = set()  # noqa: RUF012
        current_cell = -1

        async def _async_handle_timeout(self, timeout: int, cell: Any = None) -> Any:
            self.timed_out.add(self.current_cell)
            return await super()._async_handle_timeout(timeout, cell)

        def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
            size = _message_size(msg)
            used = self.used_cell.get(cell_index, 0)
            is_probe = cell_index == len(self.nb.cells) - 1
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
        shutdown_kernel="immediate",
        record_timing=False,
        skip_cells_with_tag="\x00never",
    )
    client.used_cell = {}
    client.timed_out = set()
    return client


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
    from nbclient.exceptions import DeadKernelError

    numbers = [0] + [cell.number for cell in submission.code_cells] + [-1]
    for index, cell in enumerate(nb.cells):
        number = numbers[index]
        is_probe = number == -1
        if number in skip:
            attempt.cells[number] = CellRun(number, "skipped", "not run again after it stopped the kernel")
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            attempt.out_of_time = True
            _mark_not_run(attempt, numbers[index:])
            return
        client.current_cell = index
        cell_limit = limits.probe_timeout_s * 50 if is_probe else limits.cell_timeout_s
        client.timeout = int(min(cell_limit, max(remaining, 1)))
        try:
            await asyncio.wait_for(client.async_execute_cell(cell, index, store_history=False), client.timeout + _WEDGE_GRACE_S)
        except (DeadKernelError, asyncio.TimeoutError, RuntimeError) as exc:
            reason = "the kernel stopped answering after a timeout" if isinstance(exc, asyncio.TimeoutError) else _death_reason(client)
            if is_probe:
                attempt.probe_outputs = _probe_answers(cell, mime)
                attempt.fatal_probe, attempt.fatal_reason = True, reason
            elif number == 0:
                attempt.fatal_reason = "kernel did not start"
            else:
                attempt.cells[number] = CellRun(number, "crashed", reason, _stdout(cell))
                attempt.fatal_cell, attempt.fatal_reason = number, reason
            _mark_not_run(attempt, [n for n in numbers[index + 1 :] if n > 0])
            return
        if is_probe:
            attempt.probe_outputs = _probe_answers(cell, mime)
        elif number > 0:
            attempt.cells[number] = _cell_run(number, cell, index in client.timed_out, limits)
            if index in client.timed_out and not await _still_answers(client):
                attempt.fatal_cell, attempt.fatal_reason = number, "it ran past its time limit and the kernel ignored the interrupt"
                _mark_not_run(attempt, [n for n in numbers[index + 1 :] if n > 0])
                return


async def _still_answers(client: Any) -> bool:
    import nbformat

    ping = nbformat.v4.new_code_cell("pass")
    try:
        await asyncio.wait_for(client.async_execute_cell(ping, 0, store_history=False), _WEDGE_GRACE_S)
    except Exception:  # noqa: BLE001
        return False
    return True


def _mark_not_run(attempt: _Attempt, numbers: list[int]) -> None:
    for number in numbers:
        if number > 0 and number not in attempt.cells:
            attempt.cells[number] = CellRun(number, "not_run")


def _death_reason(client: Any) -> str:
    km = client.km
    code = None
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    if process is not None:
        code = process.poll()
    if code is None:
        return "the kernel died"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the kernel died ({name})"
    return f"the kernel exited (status {code})"


def _cell_run(number: int, cell: Any, timed_out: bool, limits: Limits) -> CellRun:
    stdout = _stdout(cell)
    if timed_out:
        return CellRun(number, "timeout", f"ran past its {limits.cell_timeout_s:g}s time limit and was interrupted", stdout)
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return CellRun(number, "error", f"{out.get('ename', 'Error')}: {out.get('evalue', '')}", stdout)
    return CellRun(number, "ok", "", stdout)


def _stdout(cell: Any) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream" and out.get("name") == "stdout")


def _probe_answers(cell: Any, mime: str) -> list[str]:
    answers = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "display_data":
            value = out.get("data", {}).get(mime)
            if isinstance(value, str):
                answers.append(value)
    return answers


async def _kill(km: Any, client: Any) -> None:
    """Kill the kernel at once: its process group, and with it its PID namespace."""
    try:
        if client.kc is not None:
            client.kc.stop_channels()
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
