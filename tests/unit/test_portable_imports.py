"""Portable mode without a kernel: the grader imports where POSIX-only modules do not exist, and one switch picks the mode.

Windows has no ``resource``, ``fcntl`` or ``termios`` and no ``os.fork``,
``os.setsid`` or ``os.killpg``. The first test takes them away from a fresh
interpreter on this machine (a meta-path finder refuses the modules, the
functions are deleted) and imports everything the ``grade`` command, the
pipeline or a ``%grade`` magic would import, then runs ``grade --help``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from grader.kernel import sandbox
from grader.kernel.sandbox import PORTABLE_VARIABLE, Mode, choose_mode
from grader.reporters.terminal import PORTABLE_NOTE, render_text
from grader.results import SubmissionResult
from tests.conftest import ROOT

POSIX_ONLY_MODULES = ("resource", "fcntl", "termios")
POSIX_ONLY_FUNCTIONS = ("fork", "setsid", "killpg", "forkpty")

WITHOUT_POSIX = textwrap.dedent(
    f"""
    import importlib.abc, os, sys

    class RefusePosixOnly(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name in {POSIX_ONLY_MODULES!r}:
                raise ImportError(f"No module named {{name!r}} (refused: as on Windows)")
            return None

    sys.meta_path.insert(0, RefusePosixOnly())
    for name in {POSIX_ONLY_MODULES!r}:
        sys.modules.pop(name, None)
    for name in {POSIX_ONLY_FUNCTIONS!r}:
        if hasattr(os, name):
            delattr(os, name)
    """
)

IMPORTS_AND_HELP = WITHOUT_POSIX + textwrap.dedent(
    """
    import grader.cli, grader.pipeline, grader.kernel.execute, grader.probes.protocol, grader.kernel.sandbox, grader.kernel.clients
    import grader.reporters.terminal, grader.reporters.json_report
    from grader.kernel.sandbox import Mode, choose_mode

    leaked = [name for name in ("resource", "fcntl", "termios") if name in sys.modules]
    assert not leaked, f"imported anyway: {leaked}"
    assert choose_mode() is Mode.PORTABLE, "without os.fork the sandbox cannot run: portable mode must be automatic"
    try:
        grader.cli.main(["--help"])
    except SystemExit as stop:
        assert stop.code in (0, None), stop.code
    """
)


def test_the_grade_command_imports_and_answers_help_without_posix_only_modules() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_AND_HELP], capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, PORTABLE_VARIABLE: ""},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "--portable" in done.stdout and "SUBMISSION" in done.stdout


def test_the_blocker_really_blocks() -> None:
    # The test above is only worth something if the same set-up refuses the modules and functions it names.
    probe = WITHOUT_POSIX + "\ntry:\n    import resource\nexcept ImportError:\n    print('refused', hasattr(os, 'fork'))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "refused False", done.stderr


@pytest.fixture
def clean_switch(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(PORTABLE_VARIABLE, raising=False)
    return monkeypatch


def test_sandbox_is_the_default_on_this_linux_machine(clean_switch: pytest.MonkeyPatch) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the Linux sandbox only exists on Linux")
    assert choose_mode() is Mode.SANDBOX


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", " 1 "])
def test_the_environment_variable_forces_portable_mode(clean_switch: pytest.MonkeyPatch, value: str) -> None:
    clean_switch.setenv(PORTABLE_VARIABLE, value)
    assert choose_mode() is Mode.PORTABLE


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_other_values_leave_the_choice_automatic(clean_switch: pytest.MonkeyPatch, value: str) -> None:
    clean_switch.setenv(PORTABLE_VARIABLE, value)
    assert choose_mode() is (Mode.SANDBOX if sandbox.sandbox_available() else Mode.PORTABLE)


def test_the_option_forces_portable_mode(clean_switch: pytest.MonkeyPatch) -> None:
    assert choose_mode(force_portable=True) is Mode.PORTABLE


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_portable_mode_is_automatic_off_linux(clean_switch: pytest.MonkeyPatch, platform: str) -> None:
    clean_switch.setattr(sys, "platform", platform)
    assert choose_mode() is Mode.PORTABLE


def test_portable_mode_is_automatic_without_fork(clean_switch: pytest.MonkeyPatch) -> None:
    clean_switch.delattr(os, "fork", raising=False)
    assert choose_mode() is Mode.PORTABLE


def _result(environment: dict[str, object]) -> SubmissionResult:
    return SubmissionResult("a.ipynb", "a", "04", "graded", 10.0, 100.0, (), (), 1.0, environment=environment)


def test_the_terminal_report_says_portable_mode_in_one_line() -> None:
    text = render_text(_result({"mode": "portable", "not_isolated": ["processes", "network", "files", "user", "resource limits"]}))
    assert [line for line in text.splitlines() if line.startswith("Portable mode")] == [PORTABLE_NOTE]
    assert "\n" not in PORTABLE_NOTE and "your files and network" in PORTABLE_NOTE
    assert "Portable mode" not in render_text(_result({"mode": "sandbox", "not_isolated": []}))
