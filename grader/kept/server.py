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
import json
import os
import signal
import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m grader.kept.server")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--idle", type=float, default=300.0)
    args = parser.parse_args(argv)
    listener = _bind(Path(args.listen))
    if listener is None:
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        _warm_up()
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
    """What every grade does the first time, done once here so that each forked child starts past it.

    Each installed assignment's solution (else its template) is graded once: the imports, the compiled schemas,
    the reference modules, the Jupyter stack and the judges' first torch calls are then in this process, and a
    child's grade costs what the notebook's own run costs. The kernels come from the kept warm-kernel server; the
    connection is closed afterwards, so that no child shares it.
    """
    from grader.assignments import installed_assignments
    from grader.checks.registry import CHECK_KINDS
    from grader.kernel.warm import Zygote
    from grader.pipeline import Options, grade_submission
    from grader.rubric import load_rubric

    Zygote.keep = True
    for assignment in installed_assignments():
        with contextlib.suppress(Exception):
            rubric = load_rubric(assignment.rubric_path, CHECK_KINDS)
            notebook = next((p for p in (rubric.solution_path, rubric.template_path) if p is not None and p.is_file()), None)
            if notebook is not None:
                grade_submission(notebook, rubric, Options())
    _forget_warm_server(Zygote)


def _forget_warm_server(zygote: Any) -> None:
    """Close this process's connection to the warm-kernel server: each child opens its own."""
    instance = zygote._instance
    zygote._instance = None
    if instance is not None:
        for stream in (instance.reader, instance.writer):
            with contextlib.suppress(Exception):
                stream.close()


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
        pid = os.fork()
        if pid == 0:
            listener.close()
            status = 1
            try:
                _answer(connection)
                status = 0
            finally:
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
