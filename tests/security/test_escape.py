"""The kernel's box: what student code must not reach (files, secrets, network, the grader) and the quotas it meets.

Each hostile cell either fails by itself (the expected fault line names the
error) or checks a property and raises ``BREACH`` when it does not hold, so one
notebook tests many walls and the report says which one fell.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.rubric import Rubric
from tests.conftest import ROOT
from tests.security.corpus import EX1, EX2, Expect, assert_outcome, grade, needs_namespaces, write_notebook

pytestmark = pytest.mark.kernel

SECRET = "GRADER_SECRET_TOKEN"


@pytest.fixture
def secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(SECRET, "s3cr3t-value-the-kernel-must-not-see")
    return SECRET


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP server on the host's loopback, recording every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[1])
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(2)
    server.close()


def _cells(port: int) -> list[str]:
    rubric_file = ROOT / "rubrics" / "04_automatic_differentiation.yaml"
    reference_file = ROOT / "reference" / "autodiff04.py"
    return [
        f"open({str(rubric_file)!r}).read()",  # cell 3
        f"open({str(reference_file)!r}).read()",  # cell 4
        f"open({str(ROOT / '.git' / 'HEAD')!r}).read()",  # cell 5: the reference is in the git history too
        f"import socket\nconnection = socket.create_connection(('127.0.0.1', {port}), timeout=3)",  # cell 6
        "import socket\nsocket.getaddrinfo('example.com', 443)",  # cell 7
        "import sys\nopen(sys.executable + '-tampered', 'w')",  # cell 8: the interpreter is read-only
        "open('/tmp/filler', 'wb').write(b'0' * (100 * 1024 * 1024))",  # cell 9: RLIMIT_FSIZE (64 MB)
        "for i in range(30_000):\n    open(f'/tmp/inode-{i}', 'w').close()",  # cell 10: the tmpfs's inodes
        "handles = [open('/dev/null') for _ in range(100_000)]",  # cell 11: RLIMIT_NOFILE
        f"""
        import os, pathlib
        assert {SECRET!r} not in os.environ, 'BREACH: the grader environment leaked'
        assert not any('SECRET' in k or 'TOKEN' in k for k in os.environ), 'BREACH: a secret-looking variable'
        assert os.environ['HOME'] == os.getcwd(), 'BREACH: HOME is not the scratch folder'
        assert os.getuid() != 0 and os.geteuid() != 0, 'BREACH: the kernel runs as root'
        assert len([p for p in os.listdir('/proc') if p.isdigit()]) < 10, 'BREACH: host processes visible'
        assert {SECRET!r}.encode() not in pathlib.Path('/proc/1/environ').read_bytes(), 'BREACH: secret in /proc'
        for name in ('rubrics', 'reference', '.git', 'grader', 'tests'):
            assert not os.path.exists({str(ROOT)!r} + '/' + name), 'BREACH: ' + name + ' reachable'
        """,  # cell 12
        f"import os\nos.listdir({str(ROOT / 'reference')!r})",  # cell 13
        "import os, sys\nopen(os.path.join(os.path.dirname(sys.argv[-1]), 'filler'), 'w')",  # cell 14: the shared folder
    ]


@needs_namespaces
@pytest.mark.parametrize("warm", [True, False], ids=["forked-warm-kernel", "launched-kernel"])
def test_walls_of_the_box(
    tmp_path: Path, rubric: Rubric, secret_in_environment: str, listener: tuple[int, list[object]], warm: bool
) -> None:
    port, accepted = listener
    result = grade(write_notebook(tmp_path, "escape", EX1, *_cells(port), EX2), rubric, warm=warm)
    expect = Expect(errors=(
        "cell 3 raised FileNotFoundError",
        "cell 4 raised FileNotFoundError",
        "cell 5 raised FileNotFoundError",
        "cell 6 raised OSError: [Errno 101] Network is unreachable",
        "cell 7 raised gaierror",
        "cell 8 raised OSError: [Errno 30] Read-only file system",
        "cell 9 raised OSError: [Errno 27] File too large",
        "cell 10 raised OSError: [Errno 28] No space left on device",
        "cell 11 raised OSError: [Errno 24] Too many open files",
        "cell 13 raised FileNotFoundError",
        "cell 14 raised PermissionError",
    ))
    assert_outcome(result, expect)
    assert "cell 12" not in "\n".join(result.errors)
    assert accepted == [], "the kernel reached a service on the host's loopback"
    assert os.environ[SECRET]  # the grader's own environment was set all along
    walls = {key: result.environment[key] for key in ("pid_namespace", "network_isolated", "unprivileged_user", "private_filesystem")}
    assert walls == dict.fromkeys(walls, True)
    assert result.environment["warm_kernel"] is warm


def test_the_report_says_how_the_kernel_was_boxed(tmp_path: Path, rubric: Rubric) -> None:
    """Wherever it runs, the result tells whether the network and the filesystem were cut off."""
    from grader.sandbox import detect_isolation

    result = grade(write_notebook(tmp_path, "plain", EX1, EX2), rubric)
    isolated = detect_isolation().namespaces
    assert result.environment["network_isolated"] is isolated and result.environment["private_filesystem"] is isolated


LEAVES_TRACES = """
import os, pathlib
traces = [pathlib.Path('/dev/shm/grader-trace'), pathlib.Path('/tmp/grader-trace'), pathlib.Path('grader-trace'),
          pathlib.Path.home() / '.ipython/profile_default/startup/00-trace.py']
if 'TRACE_FROM_STARTUP' in globals() or any(t.exists() for t in traces):
    raise SystemError('BREACH: state survived into a fresh kernel')
for trace in traces:
    trace.parent.mkdir(parents=True, exist_ok=True)
    trace.write_text('TRACE_FROM_STARTUP = True')
"""


@needs_namespaces
def test_nothing_persists_into_the_fresh_kernel(tmp_path: Path, rubric: Rubric) -> None:
    """S10: files left in /dev/shm, /tmp, the home folder or IPython's startup folder are gone after a restart."""
    path = write_notebook(tmp_path, "persist", EX1, LEAVES_TRACES, "import os\nos._exit(0)", EX2)  # cell 3 runs in both kernels
    assert_outcome(grade(path, rubric), Expect(errors=("cell 4 stopped the kernel",)))
