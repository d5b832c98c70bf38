"""The kept grading server (see :mod:`grader.kept`): warm imports once, one forked child per ``grade``.

Run as ``python -m grader.kept.server --listen SOCKET --idle SECONDS``. It
binds the socket (only this user may connect; a peer of another user is
refused), then imports what grading needs, and forks a child for each
connection: the child reads one request, grades it with the same pipeline as an
in-process ``grade`` (its kernels forked by the kept warm-kernel server), sends
progress lines and the result, and exits. The server leaves after ``--idle``
seconds without a request, removing its socket; a second server for the same
socket (two first ``grade``s at once) leaves at once.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import socket
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

_ONE_THREAD = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# A child that outlives its submission's limit by this much is stuck: it dies, and its grade falls back to the client.
_CHILD_GRACE_S = 120


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m grader.kept.server")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--idle", type=float, default=300.0)
    args = parser.parse_args(argv)
    for variable in _ONE_THREAD:  # before torch is imported: see _warm_up
        os.environ[variable] = "1"
    listener = _bind(Path(args.listen))
    if listener is None:
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        gc.disable()  # as the warm-kernel server's: the warm-up allocates much and frees little (see grader.kernel.zygote)
        _warm_up()
        gc.freeze()  # each forked child's collector then leaves the warm state alone
        gc.enable()
        _serve(listener, args.idle)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(args.listen)


def _bind(path: Path) -> socket.socket | None:
    """The listening socket, mode 0600; None when another server already answers there."""
    from grader.kernel.private import connect_if_listening

    with contextlib.suppress(OSError):
        other = connect_if_listening(path)
        if other is not None:
            other.close()
            return None
        path.unlink()  # a dead server's socket
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        listener.bind(str(path))
    except OSError:
        listener.close()
        return None
    finally:
        os.umask(previous)
    listener.listen(16)
    return listener


def _warm_up() -> None:
    """What every grade imports and prepares, done once here so that each forked child starts past it.

    Nothing here may leave a thread behind: a child forked from a process with
    threads can inherit a lock that no thread of its own will release. So no
    kernel is run here (the Jupyter stack would start its threads), and torch
    computes on one thread (``main`` set ``OMP_NUM_THREADS=1`` before importing
    it), so that no OpenMP pool exists to be forked.
    """
    import jupyter_client  # noqa: F401
    import nbclient  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401

    from grader.assignments import installed_assignments
    from grader.checks.registry import CHECK_KINDS
    from grader.pipeline import plan_probes, prepare_judges
    from grader.rubric import load_rubric

    for assignment in installed_assignments():  # each check's first-time work (schemas compiled, the reference imported)
        with contextlib.suppress(Exception):
            rubric = load_rubric(assignment.rubric_path, CHECK_KINDS)
            planned, request = plan_probes(list(rubric.exercises), 0)
            prepare_judges(rubric.reference_path, planned)
            request.prelude(0, rubric.limits.probe_timeout_s)


def _serve(listener: socket.socket, idle_s: float) -> None:
    from grader.kernel.private import peer_credentials

    listener.settimeout(idle_s)
    while True:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            return
        _reap()
        if peer_credentials(connection)[1] != os.getuid():
            connection.close()
            continue
        if threading.active_count() > 1:  # see _warm_up: never fork a process with threads; the clients grade themselves
            connection.close()
            return
        pid = os.fork()
        if pid == 0:
            listener.close()
            status = 1
            try:
                _answer(connection)
                status = 0
            finally:
                from grader.kernel.execute import forget_killed_kernels  # here: this module imports the grader where it is used

                forget_killed_kernels()  # the graded submission's last kernel box: os._exit runs no exit handlers
                os._exit(status)
        connection.close()


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _answer(connection: socket.socket) -> None:
    """In the child: one request, graded; progress lines, then the result (or an error the client falls back on)."""
    connection.setblocking(True)
    writer = connection.makefile("wb", buffering=0)

    def send(reply: dict[str, Any]) -> None:
        writer.write((json.dumps(reply) + "\n").encode())

    try:
        request = json.loads(connection.makefile("rb").readline(1 << 20))
        limits = request.get("limits") or {}
        signal.alarm(int(float(limits.get("submission_timeout_s", 900)) + _CHILD_GRACE_S))
        result = _grade(request, lambda line: send({"progress": line}))
        result = replace(result, environment={**result.environment, "kept_grader": os.getppid()})
        send({"result": result.as_dict()})
    except Exception as exc:  # noqa: BLE001 - the client grades in its own process instead
        with contextlib.suppress(OSError):
            send({"error": f"{type(exc).__name__}: {exc}"})


_LIMITS_FROM_THE_COMMAND_LINE = ("cell_timeout_s", "submission_timeout_s", "memory_mb")


def _grade(request: dict[str, Any], progress: Any) -> Any:
    from grader.checks.registry import CHECK_KINDS
    from grader.kernel.warm import Zygote
    from grader.pipeline import Options, grade_submission
    from grader.reporters.terminal import progress_line
    from grader.rubric import load_rubric

    Zygote.keep = True  # kernels from the kept warm-kernel server
    rubric = load_rubric(Path(request["rubric"]), CHECK_KINDS)
    only = tuple(str(ex) for ex in request["only"])
    if set(only) - {ex.id for ex in rubric.exercises}:
        raise ValueError("an unknown exercise: the client says which")
    limits = replace(rubric.limits, **{str(k): v for k, v in request["limits"].items() if k in _LIMITS_FROM_THE_COMMAND_LINE})
    options = Options(only=only, limits=limits, on_progress=lambda p: progress(progress_line(p)))
    return grade_submission(Path(request["submission"]), rubric, options)


if __name__ == "__main__":
    main()
