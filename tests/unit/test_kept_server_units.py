"""The kept warm-kernel server's rules, without a kernel: when it is kept, what names it, where its socket may live."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.kernel.warm import connect_if_listening, idle_seconds, keep_warm_wanted, key_parts, private_folder, server_key


@pytest.mark.parametrize(
    ("flag", "environ", "kept"),
    [
        (None, {}, True),                                        # on by default: the judge is kept warm too
        (None, {"CI": "true"}, False),                           # CI grades once per machine
        (None, {"CI": "1"}, False),
        (None, {"CI": "false"}, True),
        (None, {"GRADER_KEEP_WARM": "0"}, False),
        (None, {"GRADER_KEEP_WARM": "off", "CI": "false"}, False),
        (None, {"GRADER_KEEP_WARM": "1", "CI": "true"}, True),   # asked for explicitly
        (False, {"GRADER_KEEP_WARM": "1"}, False),               # --no-keep-warm wins
        (True, {"CI": "true"}, True),                            # --keep-warm wins
    ],
)
def test_when_the_server_is_kept(flag: bool | None, environ: dict[str, str], kept: bool) -> None:
    assert keep_warm_wanted(flag, environ) is kept


@pytest.mark.parametrize(("value", "seconds"), [(None, 300.0), ("2.5", 2.5), ("0", 300.0), ("soon", 300.0)])
def test_idle_seconds(value: str | None, seconds: float) -> None:
    assert idle_seconds({} if value is None else {"GRADER_WARM_IDLE_S": value}) == seconds


@pytest.mark.parametrize("part", ["grader_version", "grader_code", "executable", "prefix", "python", "torch", "site_packages"])
def test_any_change_of_grader_or_environment_names_another_server(part: str) -> None:
    parts = key_parts()
    assert server_key(parts) == server_key(dict(parts))
    assert server_key({**parts, part: parts[part] + "-changed"}) != server_key(parts)


@pytest.fixture
def runtime() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="gk", dir="/tmp"))  # short: a socket's path has at most 107 bytes
    yield folder
    shutil.rmtree(folder)


def test_the_socket_folder_is_private_to_the_user(runtime: Path) -> None:
    folder = private_folder({"XDG_RUNTIME_DIR": str(runtime)})
    assert folder.parent == runtime
    assert folder.stat().st_mode & 0o777 == 0o700 and folder.stat().st_uid == os.getuid()
    assert private_folder({"XDG_RUNTIME_DIR": str(runtime)}) == folder  # found again, as it is


def test_a_socket_folder_others_may_enter_is_refused(runtime: Path) -> None:
    folder = private_folder({"XDG_RUNTIME_DIR": str(runtime)})
    folder.chmod(0o755)
    with pytest.raises(PermissionError, match="mode 0700"):
        private_folder({"XDG_RUNTIME_DIR": str(runtime)})


def test_a_link_in_place_of_the_socket_folder_is_refused(runtime: Path) -> None:
    elsewhere = runtime / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (runtime / f"grader-warm-{os.getuid()}").symlink_to(elsewhere)
    with pytest.raises(PermissionError):
        private_folder({"XDG_RUNTIME_DIR": str(runtime)})


def test_only_a_listening_socket_is_connected_to(runtime: Path) -> None:
    path = runtime / "server.sock"
    assert connect_if_listening(path) is None  # no server yet: start one
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    assert connect_if_listening(path) is None  # a killed server's socket: start another
    path.unlink()
    path.write_text("not a socket")
    with pytest.raises(PermissionError, match="not a socket"):
        connect_if_listening(path)
