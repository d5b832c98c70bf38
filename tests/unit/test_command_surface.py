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
    assert listed == sorted(COMMANDS) == ["assign", "check-rubric", "kinds", "kit", "new-course", "review", "similarity", "trace"]


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


# ------------------------------------------------------------------ refusals are reports, and a wrong assignment is said


def test_every_refusal_is_one_json_report_and_never_score_0_of_0(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    (tmp_path / "class").mkdir()
    named = tmp_path / "hw.ipynb"
    cell = {"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": [], "execution_count": None}
    named.write_text(json.dumps({"cells": [cell], "metadata": {"grader": {"assignment": "99_not_installed"}}, "nbformat": 4,
                                 "nbformat_minor": 4}))
    for path, reason in ((tmp_path / "class", "is a folder, expected a .ipynb or .py file; to grade a class, give the folder "
                                               "with --out RESULTS_DIR"),
                         (named, "the notebook says it is assignment '99_not_installed', which is not installed")):
        done = CliRunner().invoke(main, [str(path), "--format", "json"], prog_name="grade")
        assert done.exit_code == ExitCode.UNUSABLE
        (report,) = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        assert report["status"] == "error" and reason in report["reason"], report
        text = CliRunner().invoke(main, [str(path)], prog_name="grade")
        assert text.exit_code == ExitCode.UNUSABLE and reason in text.output and "Score: 0 / 0" not in text.output


def test_a_file_graded_as_an_assignment_whose_answers_it_does_not_define_says_so_in_its_report(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from grader import pipeline
    from grader.results import SubmissionResult

    monkeypatch.setattr(pipeline, "grade_submission",
                        lambda path, rubric, options: SubmissionResult(str(path), "hw", rubric.assignment, "graded", 0.0, 100.0, (), (), 0.1))
    cells = ["class LeakyReLUFunction(torch.autograd.Function):\n    def forward(ctx, x, s):\n        return x\n",
             "def softmax(z):\n    return z\n\ndef cross_entropy(a, b):\n    return a\n", "def cross_entropy_grad(a, b):\n    return a\n",
             "def build_mlp(a, b, c):\n    return None\n"]
    path = tmp_path / "hw.ipynb"
    body = [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [], "execution_count": None} for s in cells]
    path.write_text(json.dumps({"cells": body, "metadata": {"grader": {"assignment": "04_automatic_differentiation"}}, "nbformat": 4,
                                "nbformat_minor": 4}))
    done = CliRunner().invoke(main, [str(path), "--format", "json"], prog_name="grade")
    report = json.loads(done.stdout)
    assert report["errors"][0].startswith("this file defines the answers of assignment 05_custom_autograd_and_training "
                                          "(4 of 4 exercises), not those of 04_automatic_differentiation")
    assert "grade: warning: this file defines the answers of assignment 05" in done.stderr


def test_grade_kinds_lists_every_kind_and_shows_one_from_its_own_schema() -> None:
    import yaml

    from grader.checks.registry import CHECK_KINDS

    listed = CliRunner().invoke(main, ["kinds"], prog_name="grade")
    assert listed.exit_code == 0 and [line.split()[0] for line in listed.output.splitlines()] == sorted(CHECK_KINDS)
    shown = CliRunner().invoke(main, ["kinds", "key_ideas"], prog_name="grade")
    assert shown.exit_code == 0
    assert "  sentences: boolean, default true\n      the answer must be written in sentences" in shown.output
    example = yaml.safe_load(shown.output.split("Example (one item of an exercise's checks:):\n")[1])
    assert example[0]["kind"] == "key_ideas" and set(example[0]["params"]) >= {"name", "ideas"}
    wrong = CliRunner().invoke(main, ["kinds", "call_vs_refrence"], prog_name="grade")
    assert wrong.exit_code == ExitCode.UNUSABLE and "did you mean 'call_vs_reference'?" in wrong.output


def test_grade_trace_writes_the_table_a_course_commits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import ROOT

    out = tmp_path / "TRACE.md"
    done = CliRunner().invoke(main, ["trace", str(ROOT / "rubrics" / "04_automatic_differentiation.yaml"), "--out", str(out)],
                              prog_name="grade")
    assert done.exit_code == 0, done.output
    assert out.read_text(encoding="utf-8") == (ROOT / "rubrics" / "CONTRACT-04-TRACE.md").read_text(encoding="utf-8")
