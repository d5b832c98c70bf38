"""Warm kernels: the grader's side of the fork server in :mod:`grader.zygote`.

Starting a kernel and importing torch, numpy and matplotlib (and the some 800
modules that the first ``torch.utils.checkpoint`` call pulls in) costs seconds
per submission, the same seconds every time. The zygote pays them once per
grading process. :class:`WarmProvisioner` is a jupyter_client kernel
provisioner that asks the zygote for a kernel instead of starting a process;
the rest of jupyter_client and nbclient work as with any kernel, and the
kernel is confined exactly like a launched one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

# ----------------------------------------------------------------- grader side

class Zygote:
    """The grader's handle on its fork server (one per grading process, started on first use)."""

    _lock = threading.Lock()
    _instance: Zygote | None = None

    def __init__(self) -> None:
        self.home = tempfile.mkdtemp(prefix="grader-zygote-")
        os.chmod(self.home, 0o755)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.home,
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": self.home,
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "LANG": "C.UTF-8",
        }
        env.update({k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grader.zygote"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, cwd=self.home, start_new_session=True,
        )
        if self._read() != {"ready": True}:
            raise RuntimeError("the warm-kernel server did not start")

    @classmethod
    def shared(cls) -> Zygote:
        with cls._lock:
            if cls._instance is None or cls._instance.process.poll() is not None:
                cls._instance = cls()
            return cls._instance

    def spawn(self, request: dict[str, Any]) -> int:
        """Ask for one kernel; returns its process id."""
        with self._lock:
            assert self.process.stdin is not None
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
            reply = self._read()
        if "pid" not in reply:
            raise RuntimeError(str(reply.get("error", "the warm-kernel server gave no answer")))
        return int(reply["pid"])

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        try:
            reply = json.loads(line)
        except ValueError:
            return {}
        return reply if isinstance(reply, dict) else {}


class ForkedKernel:
    """A Popen look-alike for a kernel the zygote started (not our child: its status comes by file)."""

    def __init__(self, pid: int, status_file: Path) -> None:
        self.pid = pid
        self.status_file = status_file
        self.returncode: int | None = None
        self.stdin = self.stdout = self.stderr = None  # what LocalProvisioner.wait() closes

    def poll(self) -> int | None:
        if self.returncode is None and self.status_file.exists():
            text = self.status_file.read_text().strip()
            self.returncode = int(text) if text.lstrip("-").isdigit() else -9
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("kernel", timeout or 0)
            time.sleep(0.02)
        return self.returncode or 0

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class WarmProvisioner(LocalProvisioner):
    """A kernel provisioner whose kernels come from the zygote, confined like launched ones."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        from grader.sandbox import detect_isolation

        start = cmd.index("grader.sandbox") + 1
        split = cmd.index("--", start)
        connection_file = cmd[cmd.index("-f", split) + 1]
        status_file = Path(connection_file).with_name("kernel.status")
        request = {
            "connection_file": connection_file,
            "status_file": str(status_file),
            "log_file": str(status_file.with_name("kernel.log")),
            "cwd": str(kwargs.get("cwd") or os.getcwd()),
            "env": {k: v for k, v in (kwargs.get("env") or {}).items() if not k.startswith("JPY_")},
            "sandbox_args": cmd[start:split],
            "namespaces": detect_isolation().namespaces and os.geteuid() == 0,
        }
        pid = await asyncio.get_running_loop().run_in_executor(None, Zygote.shared().spawn, request)
        self.process = ForkedKernel(pid, status_file)  # type: ignore[assignment]  # duck-typed Popen
        self.pid = pid
        self.pgid = None  # signals go to the kernel itself; as PID 1 of its namespace it takes the rest with it
        self.cwd = request["cwd"]
        return self.connection_info

