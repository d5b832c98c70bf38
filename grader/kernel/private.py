"""Which kept server is ours, where it listens and how to reach it safely: what a ``grade`` needs before it imports anything heavy.

Kept by :mod:`grader.kernel.warm` (the warm-kernel server) and :mod:`grader.kept`
(the grading server): both live in this user's private folder, named by
:func:`server_key` of what they were started from, so that a newer grader or a
changed environment is never handed an old server. Standard library only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import struct
import sys
import sysconfig
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from grader.version import __version__

KEEP_WARM_VARIABLE = "GRADER_KEEP_WARM"
IDLE_VARIABLE = "GRADER_WARM_IDLE_S"
DEFAULT_IDLE_S = 300.0
_SOCKET_PATH_MAX = 107
REPLY_TIMEOUT_S = 120.0  # a kept server that hangs costs this once (then a launched kernel); warming up under load takes far less


def keep_warm_wanted(flag: bool | None, environ: Mapping[str, str]) -> bool:
    """``--keep-warm/--no-keep-warm`` if given, else ``GRADER_KEEP_WARM``, else on, except in CI (``CI`` set and not false).

    On by default since the judge is kept warm too (:mod:`grader.kept`): a second ``grade`` of the solution takes
    0.3x plain nbclient. CI grades once per machine, where a kept server gains nothing and outlives the job.
    """
    if flag is not None:
        return flag
    value = environ.get(KEEP_WARM_VARIABLE, "").strip().lower()
    if value:
        return value not in ("0", "false", "no", "off")
    return environ.get("CI", "").strip().lower() in ("", "0", "false", "no")


def idle_seconds(environ: Mapping[str, str]) -> float:
    """How long a kept server waits for the next ``grade`` before leaving (``GRADER_WARM_IDLE_S``)."""
    try:
        value = float(environ.get(IDLE_VARIABLE, DEFAULT_IDLE_S))
    except ValueError:
        return DEFAULT_IDLE_S
    return value if value > 0 else DEFAULT_IDLE_S


def server_key(parts: Mapping[str, str]) -> str:
    """The name of a kept server: what it was started from (see :func:`key_parts`); any change means another server."""
    return hashlib.sha256(json.dumps(dict(parts), sort_keys=True).encode()).hexdigest()[:24]


@cache
def key_parts() -> dict[str, str]:
    """What a kept server's kernels depend on: this grader's version and code, this Python, its installed packages, torch."""
    return {
        "grader_version": __version__,
        "grader_code": _code_digest(Path(__file__).resolve().parent.parent),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "python": sys.version,
        "torch": _torch_version(),
        "site_packages": _site_packages_stamp(),
    }


def _code_digest(package: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _torch_version() -> str:
    """torch's version.py, read without importing torch (importlib.metadata takes a quarter second)."""
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return "none"
    try:
        return hashlib.sha256(Path(spec.origin).with_name("version.py").read_bytes()).hexdigest()
    except OSError:
        return spec.origin


def _site_packages_stamp() -> str:
    """Installing, upgrading or removing a package changes its site-packages folder's modification time."""
    folders = dict.fromkeys(sysconfig.get_paths()[name] for name in ("purelib", "platlib"))
    stamps = []
    for folder in folders:
        with contextlib.suppress(OSError):
            stamps.append(f"{folder}:{os.stat(folder).st_mtime_ns}")
    return ";".join(stamps)


def private_folder(environ: Mapping[str, str]) -> Path:
    """This user's folder of kept servers, mode 0700: under ``XDG_RUNTIME_DIR``, or ``/tmp``. Refused unless it is ours alone."""
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    name = f"grader-warm-{os.getuid()}"
    base = Path(runtime) if runtime and os.path.isabs(runtime) and len(runtime) + len(name) + 32 <= _SOCKET_PATH_MAX else Path("/tmp")
    folder = base / name
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    check_private(folder)
    return folder


def check_private(folder: Path) -> None:
    """Raise PermissionError unless ``folder`` is a real folder (no link) owned by this user that nobody else may enter."""
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(
            f"{folder}: expected a folder of user {os.getuid()} with mode 0700, found owner {info.st_uid}, "
            f"mode {stat.filemode(info.st_mode)}: no kept warm-kernel server"
        )


def peer_credentials(connection: socket.socket) -> tuple[int, int, int]:
    """The process id, user id and group id of the process at the other end of a Unix socket."""
    raw = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def connect_if_listening(path: Path) -> socket.socket | None:
    """Connect to the server at ``path``; None if there is none listening. Refuses a socket or a server of another user."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{path}: not a socket of user {os.getuid()}")
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        connection.close()
        return None
    if peer_credentials(connection)[1] != os.getuid():
        connection.close()
        raise PermissionError(f"{path}: the server there runs as another user")
    connection.settimeout(REPLY_TIMEOUT_S)
    return connection
