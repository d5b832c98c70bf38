"""Linux system calls without a Python wrapper, shared by the sandbox launcher and the warm-kernel server.

Only :mod:`grader.kernel.sandbox` (inside a kernel's launcher) and :mod:`grader.kernel.zygote`
call these, and only on Linux; ``ctypes`` is imported when a call is made, so
importing this module costs nothing anywhere.
"""

from __future__ import annotations

import ctypes
import os
import signal
from typing import Any

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38
CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x20000000, 0x40000000


def libc() -> Any:
    """The C library of this process, with ``errno`` kept for :func:`check`."""
    return ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    """Raise ``OSError`` with the C library's errno when a call returned non-zero."""
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def die_with_parent() -> None:
    """Be killed (SIGKILL) when the parent process dies; a change of user clears this, so set it last."""
    libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def unshare(flags: int) -> None:
    """Move this process into new namespaces (``CLONE_NEW*`` flags)."""
    check(libc().unshare(flags), "unshare")
