"""A kept grading process: a second ``grade`` on the command line is answered by a process that is already warm.

The first ``grade`` (with the kept warm-kernel server on, see
:func:`grader.kernel.private.keep_warm_wanted`) grades in its own process as
always and starts, beside the kept warm-kernel server, a kept *grading* server
(:mod:`grader.kept.server`) that has imported the pipeline, the check kinds and
torch, with no thread of its own (it forks). A later ``grade`` of the same user, grader and Python environment (the
same :func:`~grader.kernel.private.server_key`) sends it the paths and the limits
and reads back the result as JSON: it never imports torch itself. The server
forks one child per request, so no state passes from one grade to the next, and
the child's kernels come from the kept warm-kernel server, sandboxed as ever.

A kept server that is not there, not ours, stale or that fails mid-answer costs
one slower run, never a wrong grade: :func:`grade_kept` returns None, the
caller grades in its own process and, once its report is written, starts a
server for the next ``grade`` (:func:`start_server_for_next_time`).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.results import SubmissionResult

MAX_REPLY_BYTES = 64 * 1024 * 1024
WAIT_S = 900.0  # longer than any rubric's submission limit the server applies; a hung server costs this once


def socket_path(environ: Mapping[str, str]) -> Path:
    """Where this user's kept grading server for this grader and environment listens."""
    from grader.kernel.private import key_parts, private_folder, server_key

    return private_folder(environ) / f"{server_key(key_parts())}.grade.sock"


def grade_kept(
    submission: Path, rubric: Path, only: tuple[str, ...], limit_changes: dict[str, float], on_progress: Callable[[str], None],
    environ: Mapping[str, str] = os.environ,
) -> SubmissionResult | None:
    """The result from the kept grading server, or None if it cannot give one (then the caller grades, and says why if it fails).

    ``limit_changes`` are the command line's changes to the rubric's limits; the server reads the rubric, applies them
    and checks ``only`` itself, so that this process needs neither the rubric's schema nor the check kinds.
    """
    from grader.kernel.private import connect_if_listening

    try:
        connection = connect_if_listening(socket_path(environ))
    except OSError:
        return None
    if connection is None:
        return None
    request = {"submission": str(submission.resolve()), "rubric": str(rubric.resolve()), "only": list(only), "limits": limit_changes}
    with connection:
        connection.settimeout(limit_changes.get("submission_timeout_s", WAIT_S) + 120)
        try:
            connection.sendall((json.dumps(request) + "\n").encode())
            return _read_answer(connection.makefile("rb"), on_progress)
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _read_answer(replies: Any, on_progress: Callable[[str], None]) -> SubmissionResult | None:
    from grader.results import SubmissionResult

    read = 0
    for line in replies:
        read += len(line)
        if read > MAX_REPLY_BYTES:
            return None
        reply = json.loads(line)
        if "progress" in reply:
            on_progress(str(reply["progress"]))
        elif "result" in reply:
            return SubmissionResult.from_dict(reply["result"])
        else:
            return None  # the server could not grade it: the caller grades in its own process, and says why if it fails there
    return None


def start_server_for_next_time(environ: Mapping[str, str] = os.environ) -> None:
    """Start a kept grading server in the background unless one answers (it outlives this process, and leaves idle).

    Called once this ``grade`` has written its report: the server's warm-up then does not compete with it.
    """
    from grader.kernel.private import connect_if_listening, idle_seconds

    with contextlib.suppress(OSError):
        path = socket_path(environ)
        running = connect_if_listening(path)
        if running is not None:
            running.close()
            return
        subprocess.Popen(
            [sys.executable, "-m", "grader.kept.server", "--listen", str(path), "--idle", str(idle_seconds(environ))],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd="/",
        )
