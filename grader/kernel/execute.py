# Over 500 lines on purpose: one run of a submission (cells, probes, a dead kernel's retry and the probes resumed
# after it) is one state machine over private attempt records; split across modules, its retries could not be read in one place.
"""Execute stage: run a submission's cells, then the probe request, in a fresh sandboxed kernel.

Every cell runs separately (a failing cell does not stop later ones), with a
timeout. A kernel that dies or stops answering is killed; the notebook is then
run again in a fresh kernel without the fatal cell (or, when the probes were
the fatal part, with the probes resumed after the call that killed it), so the
rest of the submission is still graded. Stored outputs of the submission are
never read; outputs of this run are capped per cell and in total.

In portable mode (:func:`grader.kernel.sandbox.choose_mode`) the kernel is started the
standard way, over TCP on the loopback, and the probes' time limit is kept by
the grader: when no answer came within the rubric's ``probe_timeout_s`` it
interrupts the kernel (a signal on POSIX, an event on Windows), which the probe
runtime turns into that call's timeout; a kernel that does not come back is
killed and the probes resume in a fresh one after that call.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from subprocess import DEVNULL, Popen
from typing import Any

from grader.kernel.caps import MAX_MESSAGE_BYTES
from grader.kernel.sandbox import (
    NO_ISOLATION,
    Isolation,
    Mode,
    detect_isolation,
    kernel_argv,
    kernel_env,
    sandbox_uid,
    socket_folder,
    standard_kernel_argv,
)
from grader.load import Submission
from grader.results import CellRun, Execution
from grader.rubric import Limits

KERNEL_DID_NOT_START = "kernel did not start"
_MAX_ATTEMPTS = 4
_WEDGE_GRACE_S = 5.0
OVERSIZED = f"it sent one output message over {MAX_MESSAGE_BYTES // (1024 * 1024)} MB, more than the grader reads"
# Share of the submission's wall-clock limit kept for the probes when the cells run out of time.
_PROBE_RESERVE = 0.25
# A student cell still running after PROGRESS_AFTER_S is reported (then every PROGRESS_EVERY_S) to ``on_progress``.
PROGRESS_AFTER_S, PROGRESS_EVERY_S = 5.0, 10.0


@dataclass(frozen=True)
class CellProgress:
    """A student cell that is still running: its place among the code cells, its source, how long it ran and may run."""

    code_cell: int
    source: str
    elapsed_s: float
    limit_s: float
_PING_INDEX = 0  # the grader's own "pass" pings run under the prelude's cell index (it has finished by then)
_WATCH_INTERVAL_S = 0.1  # how often portable mode's watchdog looks at the probes' progress


class ProbesHung(Exception):
    """Portable mode: a probe call ran past its time limit and the kernel did not come back when interrupted."""


class Role(Enum):
    """What a cell of a run is: the grader's prelude, a cell of the submission, or the grader's probe cell."""

    PRELUDE = "prelude"
    STUDENT = "student"
    PROBES = "probes"


@dataclass(frozen=True)
class Step:
    """One cell of a run; ``number`` is a student cell's 1-based place in the file (0 for the grader's cells)."""

    role: Role
    number: int = 0


class Ending(Enum):
    """How one kernel's attempt ended, which decides whether another attempt follows."""

    FINISHED = "finished"  # the probes ran to their end, or time ran out without a fault: no other attempt
    NO_KERNEL = "no kernel"  # the kernel did not start or did not run the prelude: an infrastructure fault
    CELL_STOPPED_KERNEL = "cell stopped the kernel"  # run the notebook again without that cell
    PROBES_STOPPED_KERNEL = "probes stopped the kernel"  # run it again, the probes resuming after the fatal call


@dataclass(frozen=True)
class RunPlan:
    """What stays the same for every attempt at one submission: what to run, its limits, its box."""

    submission: Submission
    prelude: Callable[..., str]  # the first cell's source, given ``prebooted=`` what the kernel's server prebooted ("" for nothing)
    probe_code: Callable[[int, bool, frozenset[int]], str]  # the probe cell's source: from a call index, careful or not, calls to skip
    limits: Limits
    mime: str  # the MIME type of probe answers
    hide: tuple[Path, ...]
    isolation: Isolation
    deadline: float  # time.monotonic() by which the whole run must end
    mode: Mode = Mode.SANDBOX
    on_progress: Callable[[CellProgress], None] | None = None
    call_exercises: tuple[str, ...] = ()  # the exercise of each probe call, by index (empty: not known)

    def steps(self) -> tuple[Step, ...]:
        """The cells of every attempt, in order: prelude, the submission's code cells, probes."""
        students = (Step(Role.STUDENT, cell.number) for cell in self.submission.code_cells)
        return (Step(Role.PRELUDE), *students, Step(Role.PROBES))


@dataclass(frozen=True)
class Resume:
    """What an attempt leaves out of the plan: cells that stopped an earlier kernel, probe calls done before."""

    skip: frozenset[int] = frozenset()
    first_call: int = 0
    warm: bool = True
    careful: bool = False  # each probe answer waited for until it has left the kernel (after a kernel died in the probes)
    skip_calls: frozenset[int] = frozenset()  # probe calls not asked again: the rest of an exercise whose calls stopped two kernels
    stopped_in: frozenset[str] = frozenset()  # exercises one of whose probe calls has stopped a kernel


@dataclass
class _Attempt:
    """What one kernel did, filled in while it runs; several attempts make one Execution."""

    warm: bool
    cells: dict[int, CellRun] = field(default_factory=dict)
    probe_outputs: list[str] = field(default_factory=list)
    ending: Ending = Ending.FINISHED
    fatal_cell: int | None = None  # with CELL_STOPPED_KERNEL: that cell's number
    reason: str = ""  # with a *_STOPPED_KERNEL ending: what stopped the kernel, in a student's words
    died: bool = False  # with a *_STOPPED_KERNEL ending: the kernel exited or died (rather than stopped answering)
    out_of_time: bool = False
    private_root: bool = False
    peak_mb: float = 0.0

    @property
    def stopped_kernel(self) -> bool:
        return self.ending in (Ending.CELL_STOPPED_KERNEL, Ending.PROBES_STOPPED_KERNEL)


def execute_submission(
    submission: Submission,
    prelude: Callable[..., str],
    probe_code: Callable[[int, bool, frozenset[int]], str],
    limits: Limits,
    mime: str,
    hide: list[Path] | None = None,
    warm: bool = True,
    mode: Mode = Mode.SANDBOX,
    on_progress: Callable[[CellProgress], None] | None = None,
    call_exercises: Sequence[str] = (),
) -> Execution:
    """Run ``submission`` in a sandboxed kernel: ``prelude(prebooted=…)``, its code cells, then ``probe_code(first_call)``.

    ``prebooted`` is the digest of the probe runtime the warm-kernel server booted
    before forking the kernel ("" for a launched kernel): see ``ProbeRequest.prelude``.

    ``probe_code`` is a function giving the source of the probe cell that starts
    at a given call index, careful or not (see ``Resume.careful``); answers are
    display outputs of MIME type ``mime``.
    With ``warm`` the kernel is forked from the warm-kernel server
    (:mod:`grader.kernel.warm`), falling back to a freshly launched one if that fails.
    In portable ``mode`` the kernel is a plain one (never warm) and the prelude
    must have installed the probe runtime for interrupts (see ``ProbeRequest.prelude``).
    ``on_progress`` hears of a student cell that runs for more than ``PROGRESS_AFTER_S``.
    ``call_exercises`` names each probe call's exercise: once two of one exercise's
    calls have stopped a kernel, the rest of that exercise's calls are not asked
    again, so that the other exercises still get their attempts.
    """
    started = time.monotonic()
    portable = mode is Mode.PORTABLE
    isolation = NO_ISOLATION if portable else detect_isolation()
    deadline = started + limits.submission_timeout_s
    plan = RunPlan(submission, prelude, probe_code, limits, mime, tuple(hide or ()), isolation, deadline, mode, on_progress, tuple(call_exercises))
    return _run_loop(_execute(plan, Resume(warm=warm and not portable), started))


def prepare_first_run() -> None:
    """Do now what a process's first run would do on its way: import the Jupyter stack, build a notebook."""
    import nbformat  # here: the Jupyter stack loads when asked, not with the module
    from jupyter_client.kernelspec import KernelSpec  # noqa: F401
    from nbclient.exceptions import DeadKernelError  # noqa: F401

    from grader.kernel.clients import CappedNotebookClient  # noqa: F401

    nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])


def _run_loop(main: Coroutine[Any, Any, Execution]) -> Execution:
    if sys.platform == "win32" and hasattr(asyncio, "Runner"):  # ZeroMQ's asyncio needs add_reader: Windows' default loop lacks it
        with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
            return runner.run(main)
    return asyncio.run(main)


async def _execute(plan: RunPlan, resume: Resume | None, started: float) -> Execution:
    attempts: list[_Attempt] = []
    left_out: frozenset[int] = frozenset()
    while resume is not None:
        attempt = await _run_attempt(plan, resume)
        if attempt.ending is Ending.NO_KERNEL and resume.warm:
            resume = replace(resume, warm=False)  # an infrastructure fault of the warm server: a launched kernel does the job
            warm_failure, attempt = attempt.reason, await _run_attempt(plan, resume)
            if attempt.ending is Ending.NO_KERNEL:
                attempt.reason = f"a warm kernel: {warm_failure or 'no reason given'}; a launched kernel: {attempt.reason or 'no reason given'}"
        attempts.append(attempt)
        left_out = resume.skip_calls
        resume = _next_attempt(resume, attempts, plan.call_exercises)
    return replace(_execution(plan, attempts, time.monotonic() - started), left_out_calls=tuple(sorted(left_out)))


def _next_attempt(resume: Resume, attempts: list[_Attempt], call_exercises: Sequence[str] = ()) -> Resume | None:
    """What the next attempt leaves out, or None when the last one needs no successor.

    A cell that stopped a kernel is left out of the next attempts and adds one
    attempt to the limit: helper cells that each kill the kernel cost nothing
    but themselves (each is left out once; the submission's time limit bounds
    the reruns). Each exercise whose probe calls stop kernels adds two attempts,
    and its second such call leaves the rest of its calls out: a function that
    kills every kernel it runs in costs its own exercise, and the other
    exercises' calls are still asked.
    """
    attempt = attempts[-1]
    answered = [index for past in attempts for index in map(_answer_index, past.probe_outputs) if index is not None]
    after = max(max(answered, default=-1) + 1, resume.first_call)  # the first call not answered
    if attempt.ending is Ending.PROBES_STOPPED_KERNEL and attempt.died and not resume.careful:
        # answers sent just before the kernel died may not have left it: run the unanswered calls again, carefully
        return replace(resume, first_call=after, careful=True)
    if not attempt.stopped_kernel or len(attempts) >= _MAX_ATTEMPTS + resume.careful + len(resume.skip) + 2 * len(resume.stopped_in):
        return None
    if attempt.ending is Ending.CELL_STOPPED_KERNEL and attempt.fatal_cell is not None:
        return replace(resume, skip=resume.skip | {attempt.fatal_cell})
    # the first call neither answered nor left out stopped the kernel: skip it (and always move on)
    fatal = next((i for i in range(after, len(call_exercises)) if i not in resume.skip_calls), after)
    resume = replace(resume, first_call=fatal + 1)
    if fatal < len(call_exercises) and call_exercises[fatal]:
        exercise = call_exercises[fatal]
        if exercise in resume.stopped_in:
            rest = {i for i in range(fatal + 1, len(call_exercises)) if call_exercises[i] == exercise}
            resume = replace(resume, skip_calls=resume.skip_calls | rest)
        resume = replace(resume, stopped_in=resume.stopped_in | {exercise})
    return resume


def _no_kernel(attempts: list[_Attempt]) -> str:
    """Why no kernel ran: each failed try's reason, for whoever has to find out (the student is told it is not their fault)."""
    reasons = [a.reason for a in attempts if a.ending is Ending.NO_KERNEL and a.reason]
    return f"{KERNEL_DID_NOT_START} ({'; '.join(dict.fromkeys(reasons))[:300]})" if reasons else KERNEL_DID_NOT_START


def _execution(plan: RunPlan, attempts: list[_Attempt], duration_s: float) -> Execution:
    """One Execution from all attempts: the latest record of each cell, every answer, one line per fault."""
    cells: dict[int, CellRun] = {}
    answers: list[str] = []
    events: list[str] = []
    for tries, attempt in enumerate(attempts, 1):
        cells.update({n: run for n, run in attempt.cells.items() if run.status != "skipped" or n not in cells})
        answers.extend(attempt.probe_outputs)
        if attempt.ending is Ending.NO_KERNEL:
            break
        if attempt.out_of_time and not any(earlier.out_of_time for earlier in attempts[: tries - 1]):
            events.append(
                f"the whole submission ran past its {plan.limits.submission_timeout_s:g}s limit; cells not run by then were skipped "
                "and only what was defined before was graded"
            )
        if not attempt.stopped_kernel:
            continue
        if tries == len(attempts):  # stopped, and no attempt followed: the limit was reached
            events.append(f"the kernel was stopped {tries} times; the grader gave up on what was not run by then")
        elif attempt.ending is Ending.CELL_STOPPED_KERNEL and attempt.fatal_cell is not None:
            crashed = cells[attempt.fatal_cell]
            cells[attempt.fatal_cell] = replace(crashed, error=f"{crashed.error}; the notebook was run again without it")
        else:
            events.append(f"while grading: {attempt.reason}; grading went on in a fresh kernel")
    last = attempts[-1]
    return Execution(
        cells=tuple(cells[n] for n in sorted(cells)),
        probe_outputs=tuple(answers),
        events=tuple(events),
        isolation=_environment(plan, all(attempt.private_root for attempt in attempts), last.warm),
        duration_s=duration_s,
        kernel_failed=_no_kernel(attempts) if last.ending is Ending.NO_KERNEL else "",
        kernel_peak_mb=round(max((attempt.peak_mb for attempt in attempts), default=0.0), 1),
    )


def _environment(plan: RunPlan, private_root: bool, warm: bool) -> dict[str, Any]:
    """What the kernel's box held: each wall, the mode, and the plain names of what was not isolated."""
    isolation = plan.isolation
    walls = {**isolation.describe(), "private_filesystem": isolation.namespaces and private_root}
    held = {
        "processes": walls["pid_namespace"],
        "network": walls["network_isolated"],
        "files": walls["private_filesystem"],
        "user": isolation.namespaces or isolation.unprivileged_user,
        "resource limits": plan.mode is Mode.SANDBOX,
    }
    not_isolated = [name for name, holds in held.items() if not holds]
    return {**walls, "warm_kernel": warm, "mode": plan.mode.value, "not_isolated": not_isolated}


def _answer_index(text: str) -> int | None:
    try:
        value = json.loads(text).get("i")
    except (ValueError, AttributeError):
        return None
    return value if type(value) is int else None


async def _run_attempt(plan: RunPlan, resume: Resume) -> _Attempt:
    from nbclient.exceptions import DeadKernelError  # here: the Jupyter stack loads when a kernel runs, not with the module

    await _bury_killed_kernels()  # nothing of an earlier kernel outlives it into this one
    attempt = _Attempt(warm=resume.warm)
    box = socket_folder("grade-", "runtime/kernel-65535")  # the kernel's ipc sockets live in box/runtime
    work = box / "work"
    km = None
    try:
        km, uid = _prepare_box(box, work, plan, resume.warm)
        sources = ["", *(cell.source for cell in plan.submission.code_cells), plan.probe_code(resume.first_call, resume.careful, resume.skip_calls)]
        nb = _notebook_of(sources)
        client = _notebook_client(nb, km, plan)
        try:
            started = client.async_start_new_kernel(cwd=str(work), env=kernel_env(work), stdout=DEVNULL, stderr=DEVNULL)
            await asyncio.wait_for(started, 60)
            await client.async_start_new_kernel_client()
        except Exception as exc:  # noqa: BLE001 - any failure to start is an infrastructure fault
            attempt.ending, attempt.reason = Ending.NO_KERNEL, f"{type(exc).__name__}: {exc}".rstrip(": ")
            await _kill(km, client)
            return attempt
        nb.cells[0].source = plan.prelude(prebooted=getattr(km.provisioner, "prebooted", ""))
        attempt.private_root = _sandbox_report(box).get("private_root") is True
        if uid is not None:  # its sockets exist now: the kernel may not write anything else on the host's disk
            os.chmod(box / "runtime", 0o711)
        try:
            await _run_cells(client, nb, plan, resume.skip, attempt)
        except DeadKernelError:
            pass
        finally:
            attempt.peak_mb = _peak_memory_mb(km)
            await _kill(km, client)
    finally:
        _killed.append(_Killed(km, box))  # seen gone and its box removed before this process needs another kernel
    return attempt


def _notebook_of(sources: Sequence[str]) -> Any:
    """The notebook a kernel runs: one code cell per source. Built without nbformat's schema validation of each
    cell and of the whole (4 ms of every attempt, measured): it is the grader's own, never written to disk."""
    import nbformat  # here: the Jupyter stack loads when a kernel runs, not with the module

    cells: list[dict[str, Any]] = [
        {"id": f"cell-{index}", "cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}
        for index, source in enumerate(sources)
    ]
    return nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells})


def _prepare_box(box: Path, work: Path, plan: RunPlan, warm: bool) -> tuple[Any, int | None]:
    from jupyter_client.kernelspec import KernelSpec  # here: the Jupyter stack loads when a kernel runs, not with the module

    from grader.kernel.clients import CappedKernelClient, FixedKernelSpecs, SandboxKernelManager

    work.mkdir()
    for sub in (".tmp", ".ipython", ".matplotlib"):
        (work / sub).mkdir()
    submission = plan.submission
    (work / submission.path.name).write_bytes(submission.raw)
    runtime = box / "runtime"
    runtime.mkdir()
    if plan.mode is Mode.PORTABLE:
        # TCP on the loopback: ipc sockets are POSIX-only (and macOS caps their path at 104 bytes); messages stay signed
        spec = KernelSpec(argv=standard_kernel_argv(), display_name="grader (portable)", language="python")
        km = SandboxKernelManager(
            readable_connection_file=False,
            client_factory=CappedKernelClient,
            kernel_name="grader-portable",
            kernel_spec_manager=FixedKernelSpecs(spec),
            transport="tcp",
            ip="127.0.0.1",
        )
        km.connection_file = str(runtime / "connection.json")
        return km, None
    uid = sandbox_uid() if plan.isolation.unprivileged_user else None
    (box / "root").mkdir(mode=0o700)
    if uid is not None:
        os.chmod(box, 0o711)
        os.chmod(runtime, 0o777)
        for path in [work, *work.rglob("*")]:
            os.chown(path, uid, uid)
    argv = kernel_argv(plan.limits, plan.isolation, uid, list(plan.hide), box)
    metadata = {"kernel_provisioner": {"provisioner_name": "grader-warm"}} if warm else {}
    spec = KernelSpec(argv=argv, display_name="grader sandbox", language="python", metadata=metadata)
    km = SandboxKernelManager(
        readable_connection_file=uid is not None,
        client_factory=CappedKernelClient,
        kernel_name="grader-sandbox",
        kernel_spec_manager=FixedKernelSpecs(spec),
        transport="ipc",
        ip=str(runtime / "kernel"),
    )
    km.connection_file = str(runtime / "connection.json")
    return km, uid


def _sandbox_report(box: Path) -> dict[str, Any]:
    """What the launcher says it achieved (written before it dropped privileges; absent without namespaces)."""
    try:
        data = json.loads((box / "runtime" / "sandbox.json").read_text(encoding="utf-8")[:4096])
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _notebook_client(nb: Any, km: Any, plan: RunPlan) -> Any:
    from grader.kernel.clients import CappedNotebookClient  # here: the Jupyter stack loads when a kernel runs, not with the module

    limits = plan.limits
    return CappedNotebookClient(
        nb,
        km,
        limits,
        plan.mime,
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


async def _run_cells(client: Any, nb: Any, plan: RunPlan, skip: frozenset[int], attempt: _Attempt) -> None:
    limits = plan.limits
    steps = plan.steps()
    for index, (step, cell) in enumerate(zip(steps, nb.cells, strict=True)):
        is_probe = step.role is Role.PROBES
        if step.role is Role.STUDENT and step.number in skip:
            attempt.cells[step.number] = CellRun(step.number, "skipped", "not run again after it stopped the kernel")
            continue
        remaining = plan.deadline - time.monotonic() - (0 if is_probe else _PROBE_RESERVE * limits.submission_timeout_s)
        if remaining <= 0 and not is_probe:  # out of time: skip to the probes, which have time kept for them
            attempt.out_of_time = True
            _mark_not_run(attempt, [step])
            continue
        client.current_cell = index
        cell_limit = limits.probe_timeout_s * 50 if is_probe else limits.cell_timeout_s
        client.timeout = int(min(cell_limit, max(remaining, 1)))
        try:
            wedged_after = client.timeout + client.iopub_timeout + _WEDGE_GRACE_S  # past what nbclient itself waits
            running = client.async_execute_cell(cell, index, store_history=False)
            if is_probe and plan.mode is Mode.PORTABLE:
                running = _watch_probes(client, running, limits.probe_timeout_s)
            elif step.role is Role.STUDENT and plan.on_progress is not None:
                running = _reporting_progress(running, plan, step.number, client.timeout)
            await asyncio.wait_for(running, wedged_after)
        except Exception as exc:  # noqa: BLE001 - whatever the kernel does or sends costs this run only
            _fatal(attempt, steps, index, cell, plan.mime, await _fault_reason(exc, client))
            attempt.died = not isinstance(exc, (asyncio.TimeoutError, ProbesHung))
            return
        if index not in client.idle_seen and index not in client.timed_out and not await _output_flows(client):
            _fatal(attempt, steps, index, cell, plan.mime, OVERSIZED)
            return
        if is_probe:
            attempt.probe_outputs = _probe_answers(cell, plan.mime)
        elif step.role is Role.PRELUDE and index in client.raised:  # no probe runtime: this kernel cannot grade
            attempt.ending, attempt.reason = Ending.NO_KERNEL, f"the probe runtime was not installed ({client.raised[index]})"
            return
        elif step.role is Role.STUDENT:
            timed_out = index in client.timed_out
            attempt.cells[step.number] = _cell_run(step.number, cell, client.raised.get(index), timed_out, client.timeout)
            if timed_out and not await _still_answers(client):
                _fatal(attempt, steps, index, cell, plan.mime, "it ran past its time limit, then the kernel stopped answering")
                return


async def _reporting_progress(running: Awaitable[Any], plan: RunPlan, number: int, limit_s: float) -> Any:
    """Await a student cell, telling ``plan.on_progress`` while it runs long; a failing listener costs nothing."""
    assert plan.on_progress is not None
    task = asyncio.ensure_future(running)
    code_cells = plan.submission.code_cells
    position = next((k for k, cell in enumerate(code_cells, 1) if cell.number == number), 0)
    source = next((cell.source for cell in code_cells if cell.number == number), "")
    started, wait = time.monotonic(), PROGRESS_AFTER_S
    try:
        while not (await asyncio.wait({task}, timeout=wait))[0]:
            with contextlib.suppress(Exception):
                plan.on_progress(CellProgress(position, source, time.monotonic() - started, limit_s))
            wait = PROGRESS_EVERY_S
        return task.result()
    finally:
        task.cancel()  # when the wait for this cell was itself given up (no-op once it is done)


async def _watch_probes(client: Any, running: Awaitable[Any], timeout_s: float) -> Any:
    """Run the probe cell, interrupting the kernel when no answer came within ``timeout_s`` (portable mode).

    The probe runtime turns the interrupt into the running call's timeout
    answer and goes on with the next call. When no answer comes within
    ``timeout_s`` of the interrupt either, the kernel is given up: ``ProbesHung``
    ends this attempt, and the probes resume in a fresh kernel after that call.
    """
    task = asyncio.ensure_future(running)
    client.last_answer_at = time.monotonic()
    interrupted_at: float | None = None
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=_WATCH_INTERVAL_S)
            now = time.monotonic()
            if task.done():
                break
            if interrupted_at is not None and client.last_answer_at >= interrupted_at:
                interrupted_at = None  # it answered: the next call has its own time
            if interrupted_at is None and now - client.last_answer_at >= timeout_s:
                interrupted_at = now
                try:
                    await client.km.interrupt_kernel()
                except Exception:  # noqa: BLE001 - a kernel that cannot be interrupted is given up below, or has died
                    pass
            elif interrupted_at is not None and now - interrupted_at >= timeout_s:
                raise ProbesHung(f"a check's call ran past its {timeout_s:g}s limit and did not stop when interrupted")
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return task.result()


async def _output_flows(client: Any) -> bool:
    """Whether the kernel's output still reaches the grader (a cell's end of output went missing)."""
    import nbformat  # here: the Jupyter stack loads when a kernel runs, not with the module

    client.idle_seen.discard(_PING_INDEX)
    ping = nbformat.v4.new_code_cell("pass")
    try:
        await asyncio.wait_for(client.async_execute_cell(ping, _PING_INDEX, store_history=False), 2 * _WEDGE_GRACE_S)
    except Exception:  # noqa: BLE001
        return False
    return _PING_INDEX in client.idle_seen


def _fatal(attempt: _Attempt, steps: tuple[Step, ...], index: int, cell: Any, mime: str, reason: str) -> None:
    """Record that the cell at ``index`` stopped this kernel; later cells were not run in it."""
    step = steps[index]
    if step.role is Role.PROBES:
        attempt.probe_outputs = _probe_answers(cell, mime)
        attempt.ending, attempt.reason = Ending.PROBES_STOPPED_KERNEL, reason
    elif step.role is Role.PRELUDE:
        attempt.ending, attempt.reason = Ending.NO_KERNEL, f"the grader's set-up cell failed: {reason}"
    else:
        previous = attempt.cells.get(step.number)
        stdout = previous.stdout if previous is not None else _stdout(cell)
        attempt.cells[step.number] = CellRun(step.number, "crashed", reason, stdout)
        attempt.ending, attempt.fatal_cell, attempt.reason = Ending.CELL_STOPPED_KERNEL, step.number, reason
    _mark_not_run(attempt, steps[index + 1 :])


async def _still_answers(client: Any) -> bool:
    import nbformat  # here: the Jupyter stack loads when a kernel runs, not with the module

    ping = nbformat.v4.new_code_cell("pass")
    try:
        await asyncio.wait_for(client.async_execute_cell(ping, _PING_INDEX, store_history=False), _WEDGE_GRACE_S)
    except Exception:  # noqa: BLE001
        return False
    return True


def _mark_not_run(attempt: _Attempt, steps: Iterable[Step]) -> None:
    for step in steps:
        if step.role is Role.STUDENT and step.number not in attempt.cells:
            attempt.cells[step.number] = CellRun(step.number, "not_run")


async def _fault_reason(exc: Exception, client: Any) -> str:
    """What stopped the kernel, in a student's words: its exit, its silence, or what it sent."""
    from nbclient.exceptions import DeadKernelError  # here: the Jupyter stack loads when a kernel runs, not with the module

    if isinstance(exc, ProbesHung):
        return str(exc)
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
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc (macOS, Windows): unknown
        return 0.0
    for entry in entries:
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
    """Kill the kernel at once: its process group, and with it its PID namespace (on Windows, the kernel process).

    After SIGKILL the kernel runs no more code. Seeing it gone (a warm kernel's PID namespace takes
    some 15 ms to tear down) waits for :func:`_bury_killed_kernels`, while this process judges.
    """
    try:
        if client.kc is not None:
            client.kc.stop_channels()
    except Exception:  # noqa: BLE001
        pass
    provisioner = getattr(km, "provisioner", None)
    try:
        if provisioner is not None and provisioner.has_process:
            await provisioner.kill()
    except Exception:  # noqa: BLE001
        pass
    _kill_group(km)


def _kill_group(km: Any) -> None:
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is not None and hasattr(os, "killpg"):  # Windows has no process groups to kill: the kill above is all
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass
class _Killed:
    """A kernel sent SIGKILL (None: none started) and its box, until both are gone."""

    km: Any
    box: Path


_killed: list[_Killed] = []  # this process's killed kernels not yet seen gone


async def _bury_killed_kernels() -> None:
    """See each killed kernel gone, then remove its box: before this process starts another kernel.

    A warm kernel is PID 1 of its namespace: once it is seen gone, so is every process
    it started. Nothing of one submission then runs while the next one's kernel does.
    """
    while _killed:
        killed = _killed.pop(0)
        provisioner = getattr(killed.km, "provisioner", None)
        try:  # watch it go ourselves: jupyter_client would poll only every 0.1 s
            if provisioner is not None and provisioner.has_process:
                for _ in range(400):
                    if await provisioner.poll() is not None:
                        break
                    await asyncio.sleep(0.005)
        except Exception:  # noqa: BLE001
            pass
        try:
            if killed.km is not None:
                await killed.km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001
            pass
        _kill_group(killed.km)
        shutil.rmtree(killed.box, ignore_errors=True)


def forget_killed_kernels() -> None:
    """On leaving: remove the boxes of killed kernels not yet seen gone (SIGKILL stopped them; no kernel follows them here).

    A launched kernel, this process's child, is waited for first (Windows removes no file a live process holds open).
    A warm kernel's end is reported by the warm-kernel server, which may already be gone: it is not waited for.
    """
    while _killed:
        killed = _killed.pop()
        process = getattr(getattr(killed.km, "provisioner", None), "process", None)
        if isinstance(process, Popen):
            with contextlib.suppress(Exception):
                process.wait(timeout=2)
        shutil.rmtree(killed.box, ignore_errors=True)


atexit.register(forget_killed_kernels)  # a process that leaves by os._exit calls it itself
