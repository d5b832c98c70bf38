"""The warm-kernel server (the *zygote*): imports once, then forks one kernel per request.

Runs as ``python -m grader.kernel.zygote``, started and fed by :mod:`grader.kernel.warm`. It
imports only the standard library until it is started, then what every
submission of this course imports, runs the first checkpointed backward pass
(which pulls in some 800 modules) and the first forward-mode product, and
imports what ``IPKernelApp.initialize`` would; then it answers "ready".

For each request it forks::

    zygote ──fork──> keeper ──(new PID, network and mount namespaces)──fork──> kernel (PID 1)

The keeper only waits for the kernel and writes its exit status to a file the
grader reads. The kernel confines itself exactly like a freshly launched one
(``grader.kernel.sandbox.confine``: a private filesystem root with a fresh /proc,
resource limits, a throw-away user), replaces its environment, and only then
builds a new IPython kernel application: it starts with an empty namespace and
shares nothing writable with the zygote or with other kernels (memory is
copy-on-write). The zygote is single-threaded when it forks, never creates a
ZeroMQ context, and never runs student code: between requests it only reads
JSON lines and forks, so its state is the same for every request, however
many it has served. If the grader dies, the zygote leaves, its keepers die
with it (parent-death signal) and their kernels with them.

A *kept* zygote (``--idle S``, started by ``grade`` on the command line,
see :mod:`grader.kernel.warm`) outlives the grader that started it: it leaves
when no grader has been connected for ``S`` seconds, or when its socket was
removed or replaced, and takes its socket and home folder with it. Each
kernel still dies with the grading process that asked for it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import select
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from grader.kernel.syscalls import CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, PR_SET_DUMPABLE, die_with_parent, libc, unshare

WARM_MODULES = (
    # what nearly every submission imports first
    "numpy", "torch", "torch.nn", "matplotlib", "matplotlib.pyplot", "ipykernel.kernelapp", "IPython",
    # what IPKernelApp.initialize() would otherwise import in every kernel
    "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger", "ipykernel.comm", "IPython.display",
    "IPython.core.interactiveshell", "IPython.core.completer", "IPython.core.history",
    "sqlite3", "pdb", "pydoc", "faulthandler", "tornado.ioloop", "tornado.platform.asyncio",
    "IPython.core.debugger", "IPython.core.completerlib", "IPython.core.oinspect", "IPython.extensions.storemagic",
    "IPython.utils.wildcard", "importlib.resources.readers",
    # what the lesson's cells import on first use (drawing with the inline backend, torch's autograd function checks)
    "matplotlib.backends.backend_agg", "PIL.features", "torch._subclasses.schema_check_mode",
    # what each forked kernel runs to confine itself
    "grader.kernel.sandbox",
)


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        try:
            __import__(name)
        except ImportError:  # an optional piece of a newer or older ipykernel: the kernel imports it itself
            pass


def _warm_autodiff() -> None:
    """Do once, here, what each kernel would pay for on first use.

    The first checkpointed backward pass imports torch._dynamo, sympy and more
    (~1 s); the first forward-mode product (``torch.func.jvp``) sets up
    functorch's dispatch (~0.1 s per kernel, measured on the lesson's solution).
    """
    import torch
    from torch.utils.checkpoint import checkpoint_sequential

    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    inputs = torch.randn(2, 3, requires_grad=True)
    checkpoint_sequential(model, 2, inputs, use_reentrant=False).sum().backward()
    torch.func.jvp(torch.sin, (torch.zeros(2),), (torch.ones(2),))


_IDLE_BEFORE_LATER_S = 0.05


def _warm_tracebacks() -> None:
    """Format one exception as a kernel's shell does.

    A kernel's first error otherwise imports stack_data, executing and pygments'
    formatters, and fills inspect's table of every loaded module's file: ~0.1 s
    for each kernel whose cell raises or is interrupted (measured on the
    lesson's notebooks). Best effort: an IPython that formats differently only
    loses the head start.
    """
    from IPython.core import ultratb

    try:
        raise ValueError("warm-up")
    except ValueError as error:
        with contextlib.suppress(Exception):
            formatter = ultratb.AutoFormattedTB(mode="Context", theme_name="neutral", tb_offset=0)
            formatter.structured_traceback(type(error), error, error.__traceback__)


_prebooted = ""  # the digest of the probe runtime booted here, handed to every kernel (see grader.probes.preboot)


def _preboot() -> None:
    """Boot the probe runtime once, here: each kernel's first cell takes it instead of compiling the probe code again."""
    global _prebooted
    try:
        from grader.probes import preboot

        _prebooted = preboot()
    except Exception:  # noqa: BLE001 - each kernel's first cell then boots the runtime itself, as a launched one does
        _prebooted = ""


def _single_threaded() -> None:
    threads = threading.active_count()
    if threads != 1:
        raise RuntimeError(f"the zygote must be single-threaded before forking, it has {threads} threads")


def serve(listen: str | None = None, idle_s: float | None = None, home: str | None = None) -> None:
    """The zygote's loop: one JSON request per line, one JSON reply per line.

    Requests come on stdin, or, with ``listen``, from any number of grading
    processes connected to a Unix socket at that path (a batch's workers share
    one zygote). Either way the zygote leaves when its parent does or closes stdin;
    with ``idle_s`` (a kept zygote) it ignores both and leaves when idle instead.
    """
    listener = _listen(listen) if listen else None  # clients may connect and queue requests while it warms up
    if idle_s is None or listener is None:
        _serve(listener, None)
        return
    socket_id = _file_id(listen)
    try:
        _serve(listener, lambda: _file_id(listen) == socket_id, idle_s)
    finally:
        _leave(listen, socket_id, home)


def _serve(listener: socket.socket | None, still_ours: Any, idle_s: float = 0.0) -> None:
    """Warm up, then answer requests; ``still_ours`` (a kept zygote's) says whether its socket is still in place."""
    kept = still_ours is not None
    # The warm-up allocates much and frees little: the collector's passes over the growing heap were a quarter of
    # its time (measured: imports 1.56 -> 1.24 s, the first checkpoint 1.06 -> 0.81 s). Each kernel turns it back on.
    gc.disable()
    # kernels without ipykernel's debugger (~0.13 s of imports): nothing here sends them debug requests
    sys.modules.setdefault("debugpy", None)  # type: ignore[arg-type]
    _import_all(WARM_MODULES)
    _warm_autodiff()
    _preboot()
    _single_threaded()
    gc.freeze()  # the children's collector then leaves these objects alone: no copy-on-write of the whole heap
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)  # nothing printed by a library may corrupt the reply channel
    stdin = sys.stdin.buffer
    channels: dict[Any, Any] = {} if listener else {stdin: out}
    if not kept:
        out.write(b'{"ready": true}\n')
    grader = os.getppid()
    last_active = time.monotonic()
    later = [_warm_tracebacks]  # what few kernels need: done once no request has come for a moment, not before the first kernel
    while True:
        _reap()
        if kept:
            if not channels and (time.monotonic() - last_active > idle_s or not still_ours()):
                return
        elif os.getppid() != grader:  # the grader died: its kernels die with their keepers (see _run_keeper)
            return
        watched = ([] if kept else [stdin]) + [*channels] + ([listener] if listener else [])
        ready, _, _ = select.select(list(dict.fromkeys(watched)), [], [], _IDLE_BEFORE_LATER_S if later else 0.5)
        if ready:
            last_active = time.monotonic()
        elif later:
            later.pop(0)()
            gc.freeze()
        for source in ready:
            if source is listener:
                connection, _ = listener.accept()
                reader = connection.makefile("rb")
                channels[reader] = connection.makefile("wb", buffering=0)
                connection.close()  # the socket closes with its two files (a kept zygote must not keep old graders' sockets)
                continue
            line = source.readline()
            if not line:
                if source is stdin:
                    return
                channels.pop(source).close()
                source.close()
                continue
            channels[source].write(_answer(line))


def _listen(path: str) -> socket.socket:
    """Listen at ``path``; the socket appears there only once it accepts (bound elsewhere, then renamed into place)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = f"{path}.{os.getpid()}"
    listener.bind(staging)
    os.chmod(staging, 0o600)
    listener.listen(64)
    os.rename(staging, path)
    return listener


def _file_id(path: str | None) -> tuple[int, int] | None:
    try:
        info = os.stat(path) if path else None
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if info else None


def _leave(listen: str | None, socket_id: tuple[int, int] | None, home: str | None) -> None:
    """A kept zygote's last act: remove its socket (unless another zygote's replaced it) and its home folder."""
    if listen and socket_id is not None and _file_id(listen) == socket_id:
        with contextlib.suppress(OSError):
            os.unlink(listen)
    if home:
        shutil.rmtree(home, ignore_errors=True)


def _answer(line: bytes) -> bytes:
    try:
        request = json.loads(line)
        # a ping is answered once the warm-up is over (requests wait for it): a grader asks before it needs a kernel
        reply: dict[str, Any] = {"ready": True, "prebooted": _prebooted} if request.get("ping") else {"pid": _spawn(request), "prebooted": _prebooted}
    except Exception as exc:  # noqa: BLE001 - a failed spawn is reported, the zygote lives on
        reply = {"error": f"{type(exc).__name__}: {exc}"}
    return (json.dumps(reply) + "\n").encode()


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _spawn(request: dict[str, Any]) -> int:
    """Fork a keeper that forks the kernel; return the kernel's process id (as this namespace sees it)."""
    read_end, write_end = os.pipe()
    keeper = os.fork()
    if keeper == 0:  # pragma: no cover - runs in the forked keeper
        os.close(read_end)
        _run_keeper(request, write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read(64)
    if not answer.strip().isdigit():
        raise RuntimeError(f"the kernel could not be started ({answer.decode(errors='replace') or 'no reply'})")
    return int(answer)


def _run_keeper(request: dict[str, Any], report_fd: int) -> None:  # pragma: no cover - forked process
    status = 70
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a kept zygote's handler (see main) is not for its keepers and kernels
        die_with_parent()  # if the zygote goes, the keeper goes, and the kernel with it
        if request["namespaces"]:
            unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET)
        kernel = os.fork()
        if kernel == 0:
            os.close(report_fd)
            _become_kernel(request)
        os.write(report_fd, str(kernel).encode())
        os.close(report_fd)
        raw = _wait_kernel(kernel, request.get("client_pid"))
        status = -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)
        Path(request["status_file"]).write_text(str(status))
        status = 0
    except BaseException as exc:  # noqa: BLE001
        try:
            os.write(report_fd, f"{type(exc).__name__}: {exc}".encode()[:60])
        except OSError:
            pass
    os._exit(status)


def _wait_kernel(kernel: int, client: int | None) -> int:  # pragma: no cover - forked process
    """Wait for the kernel to end; kill it if the grading process that asked for it ends first."""
    watch = [os.pidfd_open(kernel)]
    if client:
        try:
            watch.append(os.pidfd_open(client))
        except OSError:  # already gone
            os.kill(kernel, signal.SIGKILL)
    while True:
        ready, _, _ = select.select(watch, [], [])
        if watch[0] in ready:
            return os.waitpid(kernel, 0)[1]
        os.kill(kernel, signal.SIGKILL)  # the grader that owns this kernel is gone
        watch = watch[:1]


def _become_kernel(request: dict[str, Any]) -> None:  # pragma: no cover - forked process
    try:
        gc.enable()  # the student's program runs with a collector, as in a launched kernel
        from grader.kernel.sandbox import confine, launcher_parser

        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        log = os.open(request["log_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(log, 2)  # what a crashing kernel says goes to the grader, not to student code
        os.closerange(3, 4096)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        confine(launcher_parser().parse_args(request["sandbox_args"]))
        libc().prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # as after the execve of a launched kernel (its own /proc files)
        sys.argv = ["ipykernel_launcher", "-f", request["connection_file"]]
        app = _kernel_app(request["connection_file"])
        app.initialize([])
        app.start()
    except BaseException:  # noqa: BLE001
        import traceback

        traceback.print_exc()
    finally:
        os._exit(1)


def _kernel_app(connection_file: str) -> Any:  # pragma: no cover - runs in the forked kernel
    """The kernel's IPKernelApp, configured as ``-f connection_file`` and the options below would configure it.

    Given as a config object: traitlets builds a command-line parser for every
    configurable class to read even an empty command line (~10 ms of each
    kernel's start, measured). ``initialize`` then treats it as command-line
    configuration, above any configuration file, as it treats parsed options.
    """
    from ipykernel.kernelapp import IPKernelApp
    from traitlets.config import Config

    config = Config()
    config.IPKernelApp.connection_file = connection_file
    config.IPKernelApp.parent_handle = 0
    config.HistoryManager.hist_file = ":memory:"
    # ipykernel sleeps 0.5 ms after each cell before replying, for clients that stop reading output at the reply;
    # nbclient reads it until the kernel says it is idle (measured: 8 ms of every submission)
    config.IPythonKernel._execute_sleep = 0.0

    class ConfiguredKernelApp(IPKernelApp):
        def parse_command_line(self, argv: Any = None) -> None:
            self.cli_config = Config(config)
            self.update_config(self.cli_config)

    return ConfiguredKernelApp.instance()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m grader.kernel.zygote")
    parser.add_argument("--listen", metavar="SOCKET", help="serve the grading processes that connect here, not stdin")
    parser.add_argument("--idle", type=float, metavar="S", help="kept: outlive the parent, leave after S seconds with no client")
    parser.add_argument("--home", help="kept: the home folder to remove when leaving")
    args = parser.parse_args(argv)
    if args.idle is not None and args.listen:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a polite stop still cleans up
    serve(args.listen, args.idle, args.home)


if __name__ == "__main__":
    main(sys.argv[1:])
