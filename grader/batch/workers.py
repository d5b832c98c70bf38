"""Grading processes: each submission is graded behind a process boundary, one at a time per worker.

The kernel sandbox derives its throw-away user id from the grading process id,
so parallel grading needs separate processes, never threads. A worker that
dies, or hangs past a watchdog, costs only the submission it held: it comes
back as a failure and a fresh worker takes the next one.

A fresh grading process pays once for what every later submission finds
ready: importing torch, nbclient and the reference, compiling nbformat's
schema and the checks' schemas, and reaching the warm-kernel server (which may
still be importing); several seconds on a busy machine. Paid inside the
first submission, that start-up would be counted in its ``duration_s`` (the
first submissions of every worker would top the "slowest" list), so a worker
pays it with :func:`warm_up` before the first job that needs a kernel.

On POSIX the workers are forked by multiprocessing's fork server, which has
imported the pipeline, torch and the Jupyter client stack once
(:data:`WORKER_PRELOAD`): a pool of N workers imports torch once, not N times.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from grader.assignments import Assignment, installed_assignments, wrong_assignment_warning
from grader.batch.store import ResumeKey, Settings
from grader.errors import GraderError, SubmissionError
from grader.kernel.execute import forget_killed_kernels
from grader.load import load_submission
from grader.rubric import Rubric

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Job:
    """A submission to grade: who, where, its resume key and what to tell the student besides."""

    student: str
    path: Path
    key: ResumeKey | None
    note: str = ""


# What the fork server imports once before it forks the workers (POSIX; elsewhere each spawned worker imports it).
WORKER_PRELOAD = ("grader.pipeline", "grader.checks.registry", "grader.kernel.clients", "grader.kernel.execute",
                  "torch", "numpy", "nbformat", "nbclient", "jupyter_client",
                  # what a checkpointed backward pass (the checkpointing checks' warm-up) imports first: sympy, 0.5 s a worker
                  "torch.fx.experimental.symbolic_shapes")
Reply = tuple[str, Any]  # ("ok", SubmissionResult.as_dict()) | ("failed", reason)
GradeFn = Callable[[Job, Rubric, Settings], dict[str, Any]]
WarmUpFn = Callable[[Path, Rubric, Settings], bool]


def grade_job(job: Job, rubric: Rubric, settings: Settings) -> dict[str, Any]:
    """Grade one submission in this process; the result as plain data (``SubmissionResult.as_dict``)."""
    from grader.pipeline import Options, grade_submission  # here: worker processes grade; the process that starts them stays light

    options = Options(only=settings.only, limits=settings.limits, hide=settings.hide, student=job.student)
    result = grade_submission(job.path, rubric, options)
    warning = wrong_assignment_warning(job.path, rubric.assignment, _installed())
    if warning:  # first among its errors: the summary page lists it, the feedback page and gradebooks carry it
        result = replace(result, errors=(warning, *result.errors))
    return result.as_dict()


@functools.cache
def _installed() -> list[Assignment]:
    """The installed assignments, read once per worker (for the wrong-assignment warning)."""
    try:
        return installed_assignments()
    except GraderError:
        return []  # a broken course package is reported where assignments are chosen, not once per submission


def warm_up(path: Path, rubric: Rubric, settings: Settings) -> bool:
    """Pay this process's one-time start-up now, not in the time of the submission at ``path``.

    That imports and loads everything the pipeline needs (the reference and
    each check's first-time work) and waits until the warm-kernel server is
    ready to fork; no kernel is run. Returns False, having done nothing, when
    ``path`` cannot be loaded: that submission needs no kernel, so there is no
    start-up to keep out of its time (the next one may). A failure of the
    warm-up itself is left for the real submissions to meet and report.
    """
    from grader.kernel.execute import prepare_first_run  # here: worker processes grade; the process that starts them stays light
    from grader.kernel.warm import wait_until_ready
    from grader.pipeline import plan_probes, prepare_judges

    try:
        load_submission(path, settings.limits.max_submission_mb)
    except SubmissionError:
        return False
    try:
        planned, _ = plan_probes([ex for ex in rubric.exercises if not settings.only or ex.id in settings.only], 0)
        prepare_judges(rubric.reference_path, planned)
        prepare_first_run()
        wait_until_ready()
    except Exception:  # noqa: BLE001 - only a head start
        pass
    return True


def attempt(grade: GradeFn, job: Job, rubric: Rubric, settings: Settings) -> Reply:
    """Run ``grade``; a grader bug becomes a failure of this submission, not of the batch."""
    try:
        return ("ok", grade(job, rubric, settings))
    except Exception as exc:  # noqa: BLE001
        return ("failed", f"the grader failed on this submission ({type(exc).__name__}: {exc})")


def _worker_main(
    conn: Connection, rubric: Rubric, settings: Settings, grade: GradeFn, warm: WarmUpFn | None, environ: dict[str, str]
) -> None:
    """A worker process: grade each job received until told to stop (None) or orphaned, warming up before the first that needs it.

    ``environ`` is the pool's environment when it started this worker (a forked one would have the fork server's).
    """
    os.environ.clear()
    os.environ.update(environ)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _stop_worker)
    _stop_with_parent()
    _stop_with_pool()
    try:
        while True:
            try:
                job = conn.recv()
            except (EOFError, OSError):
                return
            if job is None:
                _leave_now()
            if warm is not None and _warmed(warm, job, rubric, settings):  # before the job's clock starts
                warm = None
            try:
                conn.send(attempt(grade, job, rubric, settings))
            except OSError:
                return
    finally:  # stopped (SIGTERM) or orphaned: a worker leaves by os._exit, which runs no exit handlers
        forget_killed_kernels()


def _leave_now() -> None:
    """A finished worker exits without Python's teardown (torch's takes ~0.4 s): its grades cleaned up after themselves."""
    forget_killed_kernels()  # the box of the last kernel it killed
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _warmed(warm: WarmUpFn, job: Job, rubric: Rubric, settings: Settings) -> bool:
    try:
        return warm(job.path, rubric, settings)
    except Exception:  # noqa: BLE001 - a failed warm-up must not cost the job; do not try again
        return True


def _stop_worker(signum: int, _frame: Any) -> None:
    # Kernels run in sessions of their own: a stopped worker must take them along. Then the
    # exception unwinds the grading in progress, whose cleanup removes its temporary folders.
    kill_descendants()
    raise SystemExit(128 + signum)


def _stop_with_parent() -> None:
    """Ask Linux for SIGTERM when the batch process dies, even by SIGKILL (elsewhere: an idle worker sees EOF)."""
    try:
        import ctypes  # here: only on Linux, inside the try

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent was already gone
        raise SystemExit(1)


def _stop_with_pool() -> None:
    """A worker forked by the fork server stops (SIGTERM, its kernels with it) when the pool's process dies, even by SIGKILL.

    Its parent is the fork server, which itself waits for its workers to leave
    before it does: without this, a killed batch's worker graded on until its
    submission's time limit.
    """
    pool = multiprocessing.parent_process()
    if pool is None or pool.pid == os.getppid():  # spawned: _stop_with_parent covers it
        return

    def watch() -> None:
        wait([pool.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="grader-pool-watch", daemon=True).start()


def kill_descendants() -> None:
    """SIGKILL every descendant of this process and their process groups (Linux /proc; elsewhere a no-op)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [os.getpid()]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    for pid in found:
        for kill in (os.killpg, os.kill):  # killpg takes a kernel's whole session; kill covers the others
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass


def start_worker_server() -> None:
    """Start the fork server now (POSIX): its imports then overlap reading the class and the kernel server's warm-up."""
    if _worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _worker_context() -> Any:
    """multiprocessing's fork server with the pipeline preloaded where there is one (POSIX), else spawn (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_PRELOAD))
    return context


@dataclass
class _Worker:
    process: Any  # a multiprocessing Process (forkserver or spawn)
    conn: Connection
    job: Job | None = None
    started: float = 0.0


class LocalPool:
    """``size`` worker processes (see :func:`_worker_context`), each grading one submission at a time.

    Each worker (a replacement too) calls ``warm_up`` (e.g. :func:`warm_up`),
    if given, before each job until it reports having warmed up. A worker that dies, or holds one submission
    past ``watchdog_s``, is stopped (with its kernels) and replaced; that
    submission comes back as a failure and the others go on.
    """

    def __init__(
        self,
        size: int,
        rubric: Rubric,
        settings: Settings,
        grade: GradeFn = grade_job,
        watchdog_s: float | None = None,
        warm_up: WarmUpFn | None = None,
    ) -> None:
        self.size = size
        self.rubric = rubric
        self.settings = settings
        self.grade = grade
        self.warm_up = warm_up
        # the pipeline stops a submission at its wall-clock limit; this only catches a grader that hangs
        # (a first job's time here includes its worker's warm-up: well within the margin)
        self.watchdog_s = watchdog_s or 2 * settings.limits.submission_timeout_s + 180
        self._context = _worker_context()
        self._workers: list[_Worker] = []

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        self.close(graceful=kind is None)

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Reply]]:
        """Grade ``jobs``; yield each with its reply as it finishes (not in input order)."""
        queue = deque(jobs)
        self._workers = [self._start() for _ in range(min(self.size, len(queue)))]
        for index in range(len(self._workers)):
            self._assign(index, queue)
        while any(w.job is not None for w in self._workers):
            busy = [w for w in self._workers if w.job is not None]
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=1.0)
            for index, worker in enumerate(self._workers):
                job = worker.job
                reply = self._collect(worker) if job is not None else None
                if job is None or reply is None:
                    continue
                worker.job = None
                if reply[0] == "crashed":
                    self._stop(worker, graceful=False)
                    self._workers[index] = self._start()
                    reply = ("failed", reply[1])
                yield job, reply
                self._assign(index, queue)

    def close(self, graceful: bool = True) -> None:
        """Stop every worker (not graceful: at once, with the kernels they are running)."""
        if graceful:  # all are told first, so that they leave together
            for worker in self._workers:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        for worker in self._workers:
            self._stop(worker, graceful)
        self._workers = []

    def _start(self) -> _Worker:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main,
            args=(child_end, self.rubric, self.settings, self.grade, self.warm_up, dict(os.environ)),
            name="grader-worker",
            daemon=True,
        )
        process.start()
        child_end.close()
        return _Worker(process, parent_end)

    def _assign(self, index: int, queue: deque[Job]) -> None:
        if not queue:
            return
        job = queue.popleft()
        worker = self._workers[index]
        try:
            worker.conn.send(job)
        except OSError:  # it died while idle: a fresh worker takes the job
            self._stop(worker, graceful=False)
            worker = self._workers[index] = self._start()
            worker.conn.send(job)
        worker.job, worker.started = job, time.monotonic()

    def _collect(self, worker: _Worker) -> Reply | None:
        if worker.conn.poll():
            try:
                reply: Reply = worker.conn.recv()
            except (EOFError, OSError):
                worker.process.join(5)
                return ("crashed", _death(worker.process.exitcode))
            return reply
        if not worker.process.is_alive():
            return ("crashed", _death(worker.process.exitcode))
        if time.monotonic() - worker.started > self.watchdog_s:
            return ("crashed", f"grading took longer than {self.watchdog_s:g}s and was stopped")
        return None

    def _stop(self, worker: _Worker, graceful: bool) -> None:
        if graceful and worker.process.is_alive():
            try:
                worker.conn.send(None)
            except OSError:
                pass
            worker.process.join(10)
        for stop in (worker.process.terminate, worker.process.kill):  # SIGTERM: the worker kills its kernels first
            if worker.process.is_alive():
                stop()
                worker.process.join(5)
        worker.conn.close()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    else:
        how = f"exit status {exitcode}"
    return f"the grading process died while grading this submission ({how}); it was not graded"
