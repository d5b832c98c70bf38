"""``grade assign SOLUTION.ipynb --out DIR``: write the student notebook made from a solution notebook.

The work is done by the pure functions of :mod:`grader.authoring.notebook`; this module
reads and writes the files, picks the assignment id and the file name, and
compares with what is already there (``--check``, for CI).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

import click
import nbformat

from grader.authoring.notebook import SolutionNotebookError, answer_regions, cell_label, cell_source, make_student_notebook, notebook_assignment
from grader.checks.registry import CHECK_KINDS
from grader.errors import ExitCode, GraderError
from grader.rubric import load_rubric


def render_notebook(nb: Any) -> str:
    """The notebook as ``nbformat.write`` would store it (validated), so that ``--check`` can compare bytes."""
    nbformat.validate(nb)
    text: str = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def first_difference(old: Any, new: Any) -> str:
    """Where two versions of a notebook first differ, in words (a cell, the metadata, or only the formatting)."""
    for index, (a, b) in enumerate(zip(old["cells"], new["cells"], strict=False)):
        if (a["cell_type"], a.get("id"), cell_source(a)) != (b["cell_type"], b.get("id"), cell_source(b)):
            return cell_label(index, b)
    if len(old["cells"]) != len(new["cells"]):
        return f"the number of cells ({len(old['cells'])} instead of {len(new['cells'])})"
    if old["metadata"] != new["metadata"]:
        return "the notebook's metadata"
    return "cell metadata, outputs or formatting"


@click.command("assign", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("solution", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False), help="Folder for the student notebook.")
@click.option("--assignment", metavar="ID", help="The assignment id written into the notebook's metadata.")
@click.option("--rubric", type=click.Path(path_type=Path, dir_okay=False),
              help="Take the assignment id and the notebook's file name from this rubric.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the notebook in --out differs from what would be written.")
def assign(solution: Path, out_dir: Path, assignment: str | None, rubric: Path | None, check: bool) -> None:
    """Write the student notebook made from the solution notebook SOLUTION.

    Answers are marked in SOLUTION with "# BEGIN SOLUTION" / "# END SOLUTION"
    lines, the cell tag "solution", or "<!-- BEGIN SOLUTION -->" /
    "<!-- END SOLUTION -->" lines in markdown; the tag "answer:NAME" on a
    markdown cell makes it the written answer NAME (kept in the student
    notebook, where the grader reads it). The file is named after the
    rubric's notebook, else <assignment id>.ipynb. Exit status: 0 written (or up
    to date with --check), 1 out of date (--check), 2 a refusal.
    """
    try:
        target, text, count = _build(solution, out_dir, assignment, rubric)
        if check:
            status = _check(target, text, solution)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            click.echo(f"wrote {target} ({count} answer region{'s' if count != 1 else ''} stubbed)")
            status = ExitCode.OK
    except GraderError as exc:
        click.echo(f"grade assign: error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(status)


def _build(solution: Path, out_dir: Path, assignment: str | None, rubric_path: Path | None) -> tuple[Path, str, int]:
    try:
        nb = nbformat.read(solution, as_version=4)
        nbformat.validate(nb)
    except (OSError, ValueError, nbformat.ValidationError) as exc:  # unreadable, not JSON, not nbformat 4
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise SolutionNotebookError(f"{solution}: cannot read the solution notebook ({reason})") from None
    named = {"--assignment": assignment, "the solution's metadata.grader.assignment": notebook_assignment(nb)}
    notebook_name = ""
    if rubric_path is not None:
        rubric = load_rubric(rubric_path, CHECK_KINDS)
        named["the rubric"] = rubric.assignment
        notebook_name = rubric.notebook
    given = {source: value for source, value in named.items() if value}
    if not given:
        raise SolutionNotebookError(
            f"{solution}: no assignment id: give --assignment ID or --rubric RUBRIC, or set metadata.grader.assignment in the notebook")
    if len(set(given.values())) > 1:
        raise SolutionNotebookError("the assignment ids disagree: " + ", ".join(f"{source} says {value!r}" for source, value in given.items()))
    assignment_id = next(iter(given.values()))
    name = notebook_name or f"{assignment_id}.ipynb"
    if Path(name).name != name or name.startswith("."):
        raise SolutionNotebookError(f"cannot name the student notebook {name!r}: give a rubric whose notebook is a plain file name")
    target = out_dir / name
    if target.resolve() == solution.resolve():
        raise SolutionNotebookError(f"{target}: this is the solution itself; choose another --out folder")
    try:
        student = make_student_notebook(nb, assignment_id)
    except SolutionNotebookError as exc:
        raise SolutionNotebookError(f"{solution}: {exc.message}") from None
    return target, render_notebook(student), len(answer_regions(nb))


def _check(target: Path, text: str, solution: Path) -> ExitCode:
    if not target.is_file():
        click.echo(f"{target}: missing; `grade assign {solution}` would write it")
        return ExitCode.FAILED
    current = target.read_text(encoding="utf-8")
    if current == text:
        click.echo(f"{target}: up to date with {solution}")
        return ExitCode.OK
    try:
        where = first_difference(nbformat.reads(current, as_version=4), nbformat.reads(text, as_version=4))
    except ValueError:
        where = "it is not a readable notebook"
    click.echo(f"{target}: out of date with {solution} (first difference: {where}); run `grade assign` without --check to rewrite it")
    diff = difflib.unified_diff(current.splitlines(), text.splitlines(), str(target), "grade assign", lineterm="", n=1)
    for line in list(diff)[:40]:
        click.echo(line)
    return ExitCode.FAILED
