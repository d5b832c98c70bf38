"""The ``grade`` command: the one place that turns errors into messages and exit statuses.

Exit status: 0 graded; 1 graded but under ``--fail-under``; 2 the submission
or the arguments could not be used. Heavy modules are imported inside the
command so that ``grade --help`` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

EXIT_GRADED, EXIT_UNDER, EXIT_UNUSABLE = 0, 1, 2


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("submission", type=click.Path(path_type=Path))
@click.option("--rubric", type=click.Path(path_type=Path), help="Rubric YAML (default: the bundled assignment 04).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for programs (exactly one JSON object on stdout).")
@click.option("--only", multiple=True, metavar="EXERCISE", help="Grade only this exercise (e.g. ex2); repeatable.")
@click.option("--fail-under", type=float, metavar="SCORE", help="Exit with status 1 when the score is below SCORE.")
@click.option("--overrides", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="YAML of instructor scores: {student: {'ex4/written_answer': {score: 6, comment: ...}}}.")
@click.option("--cell-timeout", type=float, metavar="S", help="Time limit per cell, seconds.")
@click.option("--timeout", type=float, metavar="S", help="Wall-clock limit for the whole submission, seconds.")
@click.option("--memory-mb", type=int, metavar="MB", help="Address-space limit of the kernel.")
@click.version_option(package_name="autodiff-grader")
def main(
    submission: Path, rubric: Path | None, fmt: str, only: tuple[str, ...], fail_under: float | None,
    overrides: Path | None, cell_timeout: float | None, timeout: float | None, memory_mb: int | None,
) -> None:
    """Grade SUBMISSION (a .ipynb notebook or a .py module) and report a score per exercise."""
    from grader.errors import GraderError

    try:
        status = _grade_one(submission, rubric, fmt, only, fail_under, overrides, cell_timeout, timeout, memory_mb)
    except GraderError as exc:
        click.echo(f"grade: error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(status)


def _grade_one(
    submission: Path, rubric_path: Path | None, fmt: str, only: tuple[str, ...], fail_under: float | None,
    overrides_path: Path | None, cell_timeout: float | None, timeout: float | None, memory_mb: int | None,
) -> int:
    from dataclasses import replace

    from grader.errors import UsageError
    from grader.pipeline import Options, grade_submission
    from grader.reporters.json_report import render_json
    from grader.reporters.terminal import render_text
    from grader.rubric import default_rubric_path, load_rubric
    from grader.scoring import apply_overrides, load_overrides

    rubric = load_rubric(rubric_path or default_rubric_path())
    unknown = [ex for ex in only if ex not in {e.id for e in rubric.exercises}]
    if unknown:
        raise UsageError(f"--only {unknown[0]}: no such exercise (choose from {', '.join(e.id for e in rubric.exercises)})")
    changes = {"cell_timeout_s": cell_timeout, "submission_timeout_s": timeout, "memory_mb": memory_mb}
    limits = replace(rubric.limits, **{k: v for k, v in changes.items() if v is not None})
    result = grade_submission(submission, rubric, Options(only=only, limits=limits))
    if overrides_path is not None:
        result = apply_overrides(result, load_overrides(overrides_path).get(result.student, {}))
    if fmt == "json":
        click.echo(render_json(result))
    else:
        click.echo(render_text(result, color=sys.stdout.isatty()), nl=False)
    if result.status != "graded":
        return EXIT_UNUSABLE
    if fail_under is not None and result.score < fail_under:
        return EXIT_UNDER
    return EXIT_GRADED


if __name__ == "__main__":
    main()
