"""One command surface: ``grade`` and its subcommands, one exit-code enum, and the small public API of ``grader``."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import grader
from grader.cli import COMMANDS, main
from grader.errors import ExitCode


def test_grade_help_lists_every_command_with_one_line() -> None:
    done = CliRunner().invoke(main, ["--help"], prog_name="grade")
    assert done.exit_code == 0
    assert "Usage: grade [OPTIONS] SUBMISSION..." in done.output and "--fail-under" in done.output
    section = done.output.split("Commands (grade COMMAND --help for each):\n")[1]
    listed = [line.split()[0] for line in section.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    assert listed == sorted(COMMANDS) == ["assign", "check-rubric", "kit", "review", "similarity"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_loads_under_its_name_with_a_one_line_summary(name: str) -> None:
    command = COMMANDS[name].load()
    assert isinstance(command, click.Command) and command.name == name
    assert "\n" not in COMMANDS[name].summary and len(COMMANDS[name].summary) <= 100
    assert CliRunner().invoke(main, [name, "--help"], prog_name="grade").output.startswith(f"Usage: grade {name} [OPTIONS]")


def test_help_imports_no_command_module_nor_the_pipeline() -> None:
    modules = ", ".join(repr(command.target.partition(":")[0]) for command in COMMANDS.values())
    code = (
        "import sys; from grader.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"loaded = sorted(m for m in ({modules}, 'grader.pipeline', 'torch', 'nbclient') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_a_path_is_graded_by_the_default_command_and_its_errors_name_grade() -> None:
    done = CliRunner().invoke(main, ["my_notebook.ipynb", "--no-such-flag"], prog_name="grade")
    assert done.exit_code == ExitCode.UNUSABLE
    assert "Usage: grade [OPTIONS] SUBMISSION..." in done.output and "No such option '--no-such-flag'" in done.output
    nothing = CliRunner().invoke(main, [], prog_name="grade")
    assert nothing.exit_code == ExitCode.UNUSABLE and "give a submission to grade" in nothing.output


def test_exit_codes_keep_their_documented_values() -> None:
    assert [(code.name, int(code)) for code in ExitCode] == [("OK", 0), ("FAILED", 1), ("UNUSABLE", 2), ("INTERRUPTED", 130)]


def test_importing_grader_imports_nothing_else() -> None:
    code = "import sys, grader; print(sorted(m for m in sys.modules if m.startswith('grader')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['grader', 'grader.version']"


@pytest.mark.parametrize("name", sorted(set(grader.__all__) - {"__version__", "load_rubric"}))
def test_every_public_name_is_there_on_first_use(name: str) -> None:
    value = getattr(grader, name)
    assert value.__name__ == name and value.__module__.startswith("grader.")


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'grader' has no attribute 'grade'"):
        grader.grade  # noqa: B018
