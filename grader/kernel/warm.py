"""Warm kernels: the grader's side of the fork server in :mod:`grader.kernel.zygote`.

Starting a kernel and importing torch, numpy and matplotlib (and the some 800
modules that the first ``torch.utils.checkpoint`` call pulls in) costs seconds
per submission, the same seconds every time. The zygote pays them once per
grading process. :class:`~grader.kernel.provisioner.WarmProvisioner` is a jupyter_client kernel
provisioner that asks the zygote for a kernel instead of starting a process;
the rest of jupyter_client and nbclient work as with any kernel, and the
kernel is confined exactly like a launched one.

A ``grade`` on the command line goes further (:func:`start_early` with
``keep``): it connects to a *kept* server, one left running by an earlier
``grade`` of the same user, grader and Python environment (:func:`server_key`),
in a private folder (:func:`private_folder`), or starts one that outlives it
and leaves by itself after ``GRADER_WARM_IDLE_S`` idle seconds. A kept server
that is gone, stale or unreachable costs one slower run, never a wrong grade:
a fresh server is started, and a kernel that cannot be forked is launched.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from grader.kernel.private import (  # noqa: F401 - re-exported: warm's callers and tests name them here
    DEFAULT_IDLE_S,
    IDLE_VARIABLE,
    KEEP_WARM_VARIABLE,
    REPLY_TIMEOUT_S,
    check_private,
    connect_if_listening,
    idle_seconds,
    keep_warm_wanted,
    key_parts,
    peer_credentials,
    private_folder,
    server_key,
)
from grader.kernel.sandbox import Mode, choose_mode, socket_folder

# ----------------------------------------------------------------- grader side

SHARED_SERVER_VARIABLE = "GRADER_ZYGOTE_SOCKET"


def _server_env(home: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": home,
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
    }
    env.update({k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ})
    return env


def _start_server(listen: str | None = None, idle_s: float | None = None) -> subprocess.Popen[bytes]:
    """Start a server: this process's (stdin and stdout), a batch's (``listen``) or a kept one (``listen`` and ``idle_s``).

    A kept server is not ours to stop: it removes its own home and socket when it leaves.
    """
    home = tempfile.mkdtemp(prefix="grader-zygote-")
    os.chmod(home, 0o755)
    command = [sys.executable, "-m", "grader.kernel.zygote", *(["--listen", listen] if listen else [])]
    if idle_s is not None:
        command += ["--idle", str(idle_s), "--home", home]
    kept = idle_s is not None
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL if kept else subprocess.PIPE, stdout=subprocess.DEVNULL if kept else subprocess.PIPE,
        stderr=subprocess.DEVNULL, env=_server_env(home), cwd=home, start_new_session=True,
    )
    if kept:
        return process
    atexit.register(_stop_server, process, home)
    assert process.stdout is not None
    if listen:  # it listens before it warms up: its clients queue their first requests meanwhile
        return process
    if _read_reply(process.stdout) != {"ready": True}:
        process.kill()
        raise RuntimeError("the warm-kernel server did not start")
    return process


def _stop_server(process: subprocess.Popen[bytes], home: str) -> None:
    """At exit: the server would die with us anyway; its home folder would stay in the temp folder."""
    if process.poll() is None:
        process.kill()
        process.wait()
    shutil.rmtree(home, ignore_errors=True)


def _read_reply(stream: Any) -> dict[str, Any]:
    try:
        reply = json.loads(stream.readline())
    except ValueError:
        return {}
    return reply if isinstance(reply, dict) else {}


class Zygote:
    """The grader's handle on a fork server: its own (started on first use), a batch's shared one or a kept one."""

    _lock = threading.Lock()
    _instance: Zygote | None = None
    keep = False  # use a kept server (set by start_early for a `grade` on the command line)

    def __init__(self) -> None:
        shared = os.environ.get(SHARED_SERVER_VARIABLE)
        self.process: subprocess.Popen[bytes] | None = None
        self.reader: Any
        self.writer: Any
        self.kept = self.reused = False
        connection = None
        if shared:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(shared)
        elif type(self).keep:
            with contextlib.suppress(Exception):  # anything wrong with the kept server: this process starts its own
                connection, self.reused = connect_kept_server()
                self.kept = True
        if connection is not None:
            self.server_pid = peer_credentials(connection)[0]
            self.reader, self.writer = connection.makefile("rb"), connection.makefile("wb", buffering=0)
        else:
            self.process = _start_server()
            self.server_pid = self.process.pid
            self.reader, self.writer = self.process.stdout, self.process.stdin

    @classmethod
    def shared(cls) -> Zygote:
        with cls._lock:
            if cls._instance is None or not cls._instance.alive():
                cls._instance = cls()
            return cls._instance

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request and read its reply (``{"error": …}`` when the server is gone)."""
        with self._lock:
            try:
                self.writer.write((json.dumps(request) + "\n").encode())
                self.writer.flush()
                return _read_reply(self.reader)
            except OSError as exc:
                return {"error": str(exc)}

    def spawn(self, request: dict[str, Any]) -> tuple[int, str]:
        """Ask for one kernel; returns its process id and the digest of the probe runtime it holds ("" for none)."""
        reply = self.ask(request)
        if "pid" not in reply:
            type(self)._instance = None  # start afresh next time
            raise RuntimeError(str(reply.get("error", "the warm-kernel server gave no answer")))
        prebooted = reply.get("prebooted")
        return int(reply["pid"]), prebooted if isinstance(prebooted, str) else ""

    @classmethod
    def spawn_kernel(cls, request: dict[str, Any]) -> tuple[int, str]:
        """Ask for one kernel; a kept server that went away since we connected is replaced once, then it is the caller's fault path."""
        zygote = cls.shared()
        try:
            return zygote.spawn(request)
        except RuntimeError:
            if not zygote.kept:
                raise
        return cls.shared().spawn(request)


def wait_until_ready() -> bool:
    """Wait until this process's warm-kernel server has warmed up and can fork (starting it if need be); False if it cannot."""
    if choose_mode() is Mode.PORTABLE:
        return False
    return Zygote.shared().ask({"ping": True}).get("ready") is True


def server_facts() -> dict[str, Any]:
    """For the report: which server forked this process's kernels (its pid; kept: outlives us; reused: started by an earlier ``grade``)."""
    zygote = Zygote._instance
    if zygote is None:
        return {}
    return {"warm_server_pid": zygote.server_pid, "warm_server_kept": zygote.kept, "warm_server_reused": zygote.reused}


def start_early(keep: bool = False) -> None:
    """Start this process's warm-kernel server in the background now: its seconds of imports overlap the grader's own start.

    With ``keep`` (see :func:`keep_warm_wanted`) connect to a kept server instead, starting one if there is none.
    The kernel launch waits for it (``Zygote.shared`` holds the lock while it starts); if it fails here, the launch starts
    one itself and reports what goes wrong there.
    """
    if not os.environ.get(SHARED_SERVER_VARIABLE):
        Zygote.keep = keep
        threading.Thread(target=_start_quietly, name="grader-warm-server", daemon=True).start()


def _start_quietly() -> None:
    with contextlib.suppress(Exception):
        Zygote.shared()


# ------------------------------------------------------------ the kept server

def connect_kept_server(environ: Mapping[str, str] = os.environ) -> tuple[socket.socket, bool]:
    """A connection to this key's kept server, starting it if none answers; and whether it was already running."""
    import fcntl  # POSIX only, like the kept server

    folder = private_folder(environ)
    path = folder / f"{server_key(key_parts())}.sock"
    connection = connect_if_listening(path)
    if connection is not None:
        return connection, True
    with open(path.with_suffix(".lock"), "a") as lock:  # two `grade`s at once start one server
        fcntl.flock(lock, fcntl.LOCK_EX)
        connection = connect_if_listening(path)
        if connection is not None:
            return connection, True
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a crashed or killed server's socket
        process = _start_server(listen=str(path), idle_s=idle_seconds(environ))
        deadline = time.monotonic() + 30
        while not path.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        connection = connect_if_listening(path)
    if connection is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        raise RuntimeError("the kept warm-kernel server did not start")
    return connection, False


@contextlib.contextmanager
def shared_server() -> Iterator[None]:
    """For a batch: one warm-kernel server for every grading process started inside this block.

    In portable mode there are no warm kernels, so no server is started; inside
    another such block, that block's server serves this one too.
    """
    enclosing = os.environ.get(SHARED_SERVER_VARIABLE)
    if choose_mode() is Mode.PORTABLE or (enclosing and os.path.exists(enclosing)):
        yield
        return
    folder = str(socket_folder("grader-zygote-socket-", "socket"))
    path = os.path.join(folder, "socket")
    process = _start_server(listen=path)
    deadline = time.monotonic() + 10
    while not os.path.exists(path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if not os.path.exists(path):
        process.kill()
        shutil.rmtree(folder, ignore_errors=True)
        yield  # each grading process starts its own server instead
        return
    previous = os.environ.get(SHARED_SERVER_VARIABLE)
    os.environ[SHARED_SERVER_VARIABLE] = path
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(SHARED_SERVER_VARIABLE, None)
        else:
            os.environ[SHARED_SERVER_VARIABLE] = previous
        process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)
