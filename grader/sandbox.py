"""The kernel's box: environment, limits, namespaces and privileges.

The grader starts each kernel through this module's launcher::

    [unshare --pid --fork --kill-child --net --mount --]  python -m grader.sandbox LIMITS -- python -m ipykernel_launcher -f CONN

When Linux namespaces are available (as root, or through an unprivileged user
namespace) the kernel is process 1 of its own PID namespace, so killing it (or
the ``unshare`` parent) takes every process the student started with it, even
those that detach; it has no network interface but a down loopback; and the
folders named with ``--hide`` (rubrics, references, results) are covered by an
empty tmpfs. The launcher then sets resource limits, drops root privileges to a
throw-away user id and ``exec``s the kernel, so nothing of the grader stays in
the kernel's memory.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.rubric import Limits

# Environment variables a kernel may inherit from the caller: nothing secret.
_INHERITED = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# Throw-away user ids for kernels started by root; one per concurrent kernel.
SANDBOX_UID_BASE = 61000


@dataclass(frozen=True)
class Isolation:
    """What the kernel's box could use on this machine (reported with each result)."""

    namespaces: bool
    network_isolated: bool
    unprivileged_user: bool
    prefix: tuple[str, ...]

    def describe(self) -> dict[str, bool]:
        return {
            "pid_namespace": self.namespaces,
            "network_isolated": self.network_isolated,
            "unprivileged_user": self.unprivileged_user,
        }


@functools.cache
def detect_isolation() -> Isolation:
    """Find out once whether namespaces work here, as root or through a user namespace."""
    unshare = shutil.which("unshare")
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    candidates: list[tuple[str, ...]] = []
    if unshare:
        base = (unshare, "--pid", "--fork", "--kill-child", "--net")
        if is_root:
            candidates.append((*base, "--mount"))
        candidates.append((unshare, "--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--net", "--mount"))
    for prefix in candidates:
        try:
            done = subprocess.run([*prefix, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return Isolation(True, True, is_root and "--user" not in prefix, (*prefix, "--"))
    return Isolation(False, False, False, ())


def kernel_env(workdir: Path) -> dict[str, str]:
    """The scrubbed environment of a kernel: only what it needs, HOME in its own folder."""
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(workdir),
        "TMPDIR": str(workdir / ".tmp"),
        "IPYTHONDIR": str(workdir / ".ipython"),
        "MPLCONFIGDIR": str(workdir / ".matplotlib"),
        "MPLBACKEND": "Agg",
        "LANG": "C.UTF-8",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    env.update({name: os.environ[name] for name in _INHERITED if name in os.environ})
    return env


def kernel_argv(limits: Limits, isolation: Isolation, uid: int | None, hide: list[Path]) -> list[str]:
    """The command that starts one sandboxed kernel (``{connection_file}`` is filled in by jupyter_client)."""
    launcher = [
        sys.executable, "-m", "grader.sandbox",
        "--memory-mb", str(limits.memory_mb),
        "--cpu-s", str(limits.cpu_time_s),
        "--file-mb", str(limits.file_size_mb),
        "--processes", str(limits.max_processes),
    ]
    if uid is not None:
        launcher += ["--uid", str(uid)]
    if isolation.namespaces:
        for path in hide:
            launcher += ["--hide", str(path)]
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    return [*isolation.prefix, *launcher, "--", *kernel]


def _hide(paths: list[str]) -> None:
    for path in paths:
        if os.path.isdir(path):
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k,mode=0555", "tmpfs", path], check=False, capture_output=True)


def _needed_paths() -> list[str]:
    """What the kernel must reach after privileges are dropped: the interpreter and its packages."""
    import site
    import sysconfig

    paths = {sys.base_prefix, sys.prefix, sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    return sorted(os.path.realpath(p) for p in paths if os.path.isdir(p))


def _expose(paths: list[str]) -> None:
    """Let an unprivileged kernel through closed parent folders (such as /root) inside its mount namespace.

    A closed folder on the way is covered with an empty tmpfs that holds only
    the child folders the kernel needs, bound back in place: the rest of it
    (keys, tokens, other projects) stays out of the kernel's sight.
    """
    staging = tempfile.mkdtemp(prefix="grader-expose-")
    for path in paths:
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            parent = "/" + "/".join(parts[:depth])
            child = parent.rstrip("/") + "/" + parts[depth]
            if os.stat(parent).st_mode & 0o001:
                continue
            keep = os.path.join(staging, str(abs(hash(child))))
            os.mkdir(keep)
            subprocess.run(["mount", "--rbind", child, keep], check=True, capture_output=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", parent], check=True, capture_output=True)
            os.mkdir(child)
            subprocess.run(["mount", "--move", keep, child], check=True, capture_output=True)


def _set_limits(args: argparse.Namespace) -> None:
    mib = 1024 * 1024
    wanted = {
        resource.RLIMIT_AS: args.memory_mb * mib,
        resource.RLIMIT_CPU: args.cpu_s,
        resource.RLIMIT_FSIZE: args.file_mb * mib,
        resource.RLIMIT_NPROC: args.processes,
        resource.RLIMIT_NOFILE: 1024,
        resource.RLIMIT_CORE: 0,
    }
    for which, value in wanted.items():
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def main(argv: list[str] | None = None) -> None:
    """The launcher: hide folders, set limits, drop privileges, then become the kernel."""
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m grader.sandbox")
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--cpu-s", type=int, required=True)
    parser.add_argument("--file-mb", type=int, required=True)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--uid", type=int)
    parser.add_argument("--hide", action="append", default=[])
    args = parser.parse_args(argv[:split])
    command = argv[split + 1 :]
    if os.geteuid() == 0:
        _hide(args.hide)
    _set_limits(args)
    if args.uid is not None and os.geteuid() == 0:
        _expose(_needed_paths())
        _drop_privileges(args.uid)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
