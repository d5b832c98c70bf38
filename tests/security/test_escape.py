"""The kernel's box: what student code must not reach (files, secrets, network, the grader) and the quotas it meets.

Each hostile cell either fails by itself (the expected fault line names the
error) or checks a property and raises ``BREACH`` when it does not hold, so one
notebook tests many walls and the report says which one fell. A cell that
must report what it saw raises it on purpose (``raise RuntimeError("BOX {...}")``):
its fault line is the only way out of the kernel, and a cell that did not run
leaves no such line, so the test fails instead of passing unseen.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.rubric import Rubric
from tests.conftest import ROOT
from tests.security.corpus import EX1, EX2, Expect, assert_outcome, grade, needs_namespaces, write_notebook

pytestmark = pytest.mark.kernel

SECRET = "GRADER_SECRET_TOKEN"
SECRET_VALUE = "s3cr3t-value-the-kernel-must-not-see"
# What a kernel's environment may hold: the sandbox's own (docs/security.md, "Environment") and what
# jupyter_client and ipykernel set in every kernel. Written out here, not read from grader.kernel.sandbox,
# so that a sandbox that passed more on would fail this test rather than widen it.
SANDBOX_VARIABLES = {
    "PATH", "HOME", "TMPDIR", "IPYTHONDIR", "MPLCONFIGDIR", "MPLBACKEND", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
    "PYTHONNOUSERSITE", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "MALLOC_ARENA_MAX",
}
KERNEL_RUNTIME_VARIABLES = {
    "JPY_PARENT_PID", "JPY_SESSION_NAME", "PYDEVD_USE_FRAME_EVAL",  # jupyter_client, ipykernel's debugger
    "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "PAGER", "GIT_PAGER", "TERM",  # ipykernel's shell
}


@pytest.fixture
def secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret in the grader's environment, which any child process would inherit unless the sandbox scrubs it."""
    monkeypatch.setenv(SECRET, SECRET_VALUE)
    child = subprocess.run([sys.executable, "-c", f"import os; print(os.environ.get({SECRET!r}))"], capture_output=True, text=True, timeout=60)
    assert child.stdout.strip() == SECRET_VALUE  # the control: without the sandbox's scrubbing it would leak
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
        raise RuntimeError('WALLS-HELD')
        """,  # cell 12: its fault line proves it ran to the end
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
        "cell 12 raised RuntimeError: WALLS-HELD",
        "cell 13 raised FileNotFoundError",
        "cell 14 raised PermissionError",
    ))
    assert_outcome(result, expect)
    assert accepted == [], "the kernel reached a service on the host's loopback"
    walls = {key: result.environment[key] for key in ("pid_namespace", "network_isolated", "unprivileged_user", "private_filesystem")}
    assert walls == dict.fromkeys(walls, True)
    assert result.environment["warm_kernel"] is warm


def reported(result: Any, tag: str) -> list[str]:
    """What the cells raising ``RuntimeError("<tag> ...")`` reported, in cell order."""
    return re.findall(rf"raised RuntimeError: {tag} (.*?) \((?:no graded answer|it may cost)", "\n".join(result.errors))


def wait_for(condition: Any, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(condition())


def test_the_report_tells_the_truth_about_the_box(tmp_path: Path, rubric: Rubric, listener: tuple[int, list[object]]) -> None:
    """Wherever it runs, with or without namespaces: what the result says about the box is what a submission finds.

    The kernel really tries a connection to a server on the host's loopback; it must fail exactly when the result
    says ``network_isolated`` (and the server must see it arrive otherwise). The kernel is PID 1 exactly when the
    result says ``pid_namespace``; with ``private_filesystem`` the rubric is not there; with
    ``unprivileged_user`` the kernel is neither root nor the grader's user.
    """
    port, accepted = listener
    probe = f"""
    import json, os, socket
    facts = {{'pid': os.getpid(), 'euid': os.geteuid(), 'rubric_visible': os.path.exists({str(rubric.path)!r})}}
    try:
        socket.create_connection(('127.0.0.1', {port}), timeout=3).close()
        facts['connected'] = True
    except OSError as error:
        facts['connected'] = False
        facts['error'] = type(error).__name__
    raise RuntimeError('BOX ' + json.dumps(facts))
    """
    result = grade(write_notebook(tmp_path, "box", EX1, probe, EX2), rubric)
    assert_outcome(result, Expect(errors=("cell 3 raised RuntimeError: BOX",)))
    [text] = reported(result, "BOX")
    box, said = json.loads(text), result.environment
    assert box["connected"] is not said["network_isolated"], (box, said)
    if box["connected"]:
        assert wait_for(lambda: len(accepted) == 1), "the kernel says it connected, the server saw nothing"
    else:
        assert accepted == [], "the kernel's connection failed, yet the server accepted one"
    assert (box["pid"] == 1) is said["pid_namespace"], (box, said)
    if said["private_filesystem"]:
        assert not box["rubric_visible"], box
    if said["unprivileged_user"]:
        assert box["euid"] not in (0, os.geteuid()), box


ENVIRONMENT_CELLS = [  # the names, ten per cell (a fault line keeps 300 characters of a message), then checks on values
    *(f"import os\nraise RuntimeError('ENV ' + ' '.join(sorted(os.environ)[{k * 10}:{k * 10 + 10}]) + ' END')" for k in range(6)),
    f"""
    import json, os, pathlib
    values = {{
        'count': len(os.environ),
        'secret_in_a_value': any({SECRET_VALUE!r} in value for value in os.environ.values()),
        'secret_in_proc_1': {SECRET_VALUE!r}.encode() in pathlib.Path('/proc/1/environ').read_bytes()
        if os.path.exists('/proc/1/environ') and os.getpid() == 1 else None,
        'home_is_cwd': os.environ.get('HOME') == os.getcwd(),
    }}
    raise RuntimeError('VALUES ' + json.dumps(values))
    """,
]


@pytest.mark.parametrize("warm", [True, False], ids=["forked-warm-kernel", "launched-kernel"])
def test_the_kernel_environment_holds_only_what_the_sandbox_gives(
    tmp_path: Path, rubric: Rubric, secret_in_environment: str, warm: bool
) -> None:
    """A submission lists its kernel's environment variables: only the sandbox's and the kernel's own, never the grader's secret."""
    result = grade(write_notebook(tmp_path, "environment", EX1, *ENVIRONMENT_CELLS, EX2), rubric, warm=warm)
    chunks = reported(result, "ENV")
    assert len(chunks) == 6, result.errors  # every cell ran and reported
    names = {name for chunk in chunks for name in chunk.removesuffix("END").split()}
    [text] = reported(result, "VALUES")
    values = json.loads(text)
    assert values["count"] == len(names), (values, sorted(names))  # nothing lost between the cells
    assert {"PATH", "HOME", "MPLBACKEND"} <= names  # the listing works
    assert secret_in_environment not in names
    assert names <= SANDBOX_VARIABLES | KERNEL_RUNTIME_VARIABLES, sorted(names - SANDBOX_VARIABLES - KERNEL_RUNTIME_VARIABLES)
    assert values["secret_in_a_value"] is False and values["secret_in_proc_1"] is not True and values["home_is_cwd"] is True


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
