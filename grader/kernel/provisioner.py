"""The warm-kernel provisioner: jupyter_client asks it for a kernel, it asks the zygote (see :mod:`grader.kernel.warm`).

Its own module so that starting the zygote (:func:`grader.kernel.warm.start_early`, the first thing a cold
``grade`` does) does not wait for jupyter_client's imports.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from grader.kernel.sandbox import detect_isolation
from grader.kernel.warm import Zygote


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

    prebooted = ""  # the digest of the probe runtime the zygote booted before forking this kernel

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        start = cmd.index("grader.kernel.sandbox") + 1
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
            "client_pid": os.getpid(),  # the kernel dies with this grading process, even with a shared server
        }
        pid, self.prebooted = await asyncio.get_running_loop().run_in_executor(None, Zygote.spawn_kernel, request)
        self.process = ForkedKernel(pid, status_file)  # type: ignore[assignment]  # duck-typed Popen
        self.pid = pid
        self.pgid = None  # signals go to the kernel itself; as PID 1 of its namespace it takes the rest with it
        self.cwd = request["cwd"]
        return self.connection_info

    async def wait(self) -> int | None:
        """Wait for the kernel to be gone, polling more often than LocalProvisioner's 0.1 s (once per submission)."""
        while self.process is not None and self.process.poll() is None:
            await asyncio.sleep(0.01)
        return await super().wait()

