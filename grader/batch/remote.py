"""Grading on a Dask ``distributed`` cluster: submissions travel as bytes, results come back as plain dicts.

No shared filesystem is needed: the rubric and its reference module are sent
once (scattered to every worker), each submission as its bytes; a worker
writes them to a private temporary folder, grades there with the same
pipeline as a local worker, and returns ``SubmissionResult.as_dict()``. Only a
bounded number of submissions is in flight at a time, so a class of thousands
does not sit in the cluster's memory at once. Dask is imported here only.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.batch.store import Settings
from grader.batch.workers import Job, Reply, warm_up
from grader.checks.registry import CHECK_KINDS
from grader.errors import SubmissionError, UsageError
from grader.load import load_submission
from grader.rubric import Limits, Rubric, load_rubric
from grader.version import __version__


@dataclass(frozen=True)
class RubricBundle:
    """The rubric file and its reference module as bytes, to rebuild the very same rubric on a worker."""

    rubric_name: str
    rubric_bytes: bytes
    reference_relative: str  # the reference's path relative to the rubric's folder
    reference_bytes: bytes

    @classmethod
    def of(cls, rubric: Rubric) -> RubricBundle:
        relative = os.path.relpath(rubric.reference_path, rubric.path.resolve().parent)
        return cls(rubric.path.name, rubric.path.read_bytes(), relative, rubric.reference_path.read_bytes())

    def materialize(self, root: Path) -> Rubric:
        """Write the rubric and its reference under ``root`` in the same relative layout, and load it."""
        relative = os.path.normpath(self.reference_relative)
        ups = Path(relative).parts.count("..")
        folder = root.joinpath("rubric", *(["up"] * ups))  # deep enough for "../" to stay inside root
        reference = Path(os.path.normpath(folder / relative))
        reference.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        reference.write_bytes(self.reference_bytes)
        (folder / self.rubric_name).write_bytes(self.rubric_bytes)
        return load_rubric(folder / self.rubric_name, CHECK_KINDS)


@dataclass(frozen=True)
class Parcel:
    """One submission as it travels to a worker."""

    student: str
    name: str
    raw: bytes
    only: tuple[str, ...]
    limits: Limits


_WORKER_WAIT_S = 300

# The sandbox's user id is per process: a worker process with several threads grades one submission at a time.
_ONE_AT_A_TIME = threading.Lock()
_warmed_up = threading.Event()  # this process paid its start-up (see grader.batch.workers.warm_up)


def grade_remote(bundle: RubricBundle, parcel: Parcel) -> dict[str, Any]:
    """The Dask task: grade one submission, sent as bytes, in a private temporary folder."""
    from grader.pipeline import Options, grade_submission  # here: runs on a Dask worker, which imports what it grades with

    with _ONE_AT_A_TIME, tempfile.TemporaryDirectory(prefix="grader-remote-") as temp:
        root = Path(temp)
        rubric = bundle.materialize(root)
        path = root / "submission" / parcel.name
        path.parent.mkdir()
        path.write_bytes(parcel.raw)
        if not _warmed_up.is_set() and warm_up(path, rubric, Settings(parcel.only, parcel.limits, (path.parent,))):
            _warmed_up.set()  # this process's start-up is not in this submission's duration_s
        options = Options(only=parcel.only, limits=parcel.limits, hide=(path.parent,), student=parcel.student)
        return grade_submission(path, rubric, options).as_dict()


def worker_version() -> str:
    """The grader version installed where this runs (asked of every worker before grading)."""
    return __version__


def run_dask(address: str, jobs: Sequence[Job], rubric: Rubric, settings: Settings) -> Iterator[tuple[Job, Reply]]:
    """Grade ``jobs`` on the cluster at ``address``; yield each with its reply as it finishes."""
    try:
        from distributed import Client, as_completed  # optional: the [dask] extra
    except ImportError:
        raise UsageError("--dask-scheduler needs Dask: pip install 'autodiff-grader[dask]'") from None
    try:
        client = Client(address, timeout=30, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"--dask-scheduler {address}: cannot reach the scheduler ({exc})") from None
    with client:
        _check_workers(client)
        bundle = client.scatter(RubricBundle.of(rubric), broadcast=True)
        queue = deque(jobs)
        owners: dict[Any, Job] = {}
        flow = as_completed(loop=client.loop)

        def refill() -> Iterator[tuple[Job, Reply]]:
            while queue and len(owners) < _window(client):
                job = queue.popleft()
                parcel = _parcel(job, rubric, settings)
                if isinstance(parcel, Parcel):
                    future = client.submit(grade_remote, bundle, parcel, pure=False)
                    owners[future] = job
                    flow.add(future)
                else:
                    yield job, ("ok", parcel)

        yield from refill()
        for future in flow:
            yield owners.pop(future), _reply(future)
            yield from refill()


def _window(client: Any) -> int:
    """Submissions in flight: two per worker thread, so that no worker waits for its next one."""
    return max(2, 2 * sum(client.nthreads().values()))


def _reply(future: Any) -> Reply:
    try:
        return ("ok", future.result())
    except Exception as exc:  # noqa: BLE001 - a lost worker or a failed task costs this submission only
        return ("failed", f"the Dask task failed ({type(exc).__name__}: {exc})")


def _check_workers(client: Any) -> None:
    """Wait for a first worker, then make sure every worker runs this grader version."""
    if not client.nthreads():
        print(f"grade: waiting up to {_WORKER_WAIT_S}s for a Dask worker to join the scheduler", file=sys.stderr, flush=True)
        try:
            client.wait_for_workers(1, timeout=_WORKER_WAIT_S)
        except TimeoutError:
            raise UsageError(f"no Dask worker joined the scheduler within {_WORKER_WAIT_S}s: start one with dask worker ADDRESS") from None
    try:
        versions = client.run(worker_version)
    except Exception as exc:  # noqa: BLE001 - typically the package is missing on a worker
        raise UsageError(f"the Dask workers cannot run the grader ({type(exc).__name__}: {exc}); install this package on every worker") from None
    for worker, version in versions.items():
        if version != __version__:
            raise UsageError(f"Dask worker {worker} has grader {version}, this machine {__version__}: install the same version everywhere")


def _parcel(job: Job, rubric: Rubric, settings: Settings) -> Parcel | dict[str, Any]:
    """The submission's bytes for a worker, or at once its error result when it cannot be used at all."""
    from grader.pipeline import unusable  # here: the client process needs the pipeline only for error rows

    started = time.monotonic()
    try:
        submission = load_submission(job.path, settings.limits.max_submission_mb)
    except SubmissionError as exc:
        return unusable(job.path, rubric, exc.message, started, job.student).as_dict()
    return Parcel(job.student, job.path.name, submission.raw, settings.only, settings.limits)
