"""The ``grade`` command: the one place that turns errors into messages and exit statuses.

Exit status: 0 graded; 1 graded but under ``--fail-under``; 2 the submission
or the arguments could not be used. Heavy modules are imported inside the
command so that ``grade --help`` answers at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from grader.rubric import Limits, Rubric

EXIT_GRADED, EXIT_UNDER, EXIT_UNUSABLE = 0, 1, 2

# Subcommands: name -> "module:click command", imported only when used (``grade --help`` stays fast).
# A submission is a .ipynb or .py file, so these names can never be mistaken for one.
SUBCOMMANDS: dict[str, str] = {
    "assign": "grader.assign:assign",
    "check-rubric": "grader.mutation.cli:check_rubric",
}


class _GradeCommand(click.Command):
    """``grade SUBMISSION...`` itself, which hands ``grade NAME ...`` over to a subcommand."""

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        if argv and argv[0] in SUBCOMMANDS:
            return _subcommand(argv[0]).main(argv[1:], prog_name=f"{prog_name or 'grade'} {argv[0]}", **extra)
        return super().main(argv, prog_name=prog_name, **extra)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if SUBCOMMANDS:
            with formatter.section("Other commands (grade COMMAND --help for each)"):
                formatter.write_dl([(name, _subcommand_summary(name)) for name in sorted(SUBCOMMANDS)])
        super().format_epilog(ctx, formatter)


def _subcommand(name: str) -> click.Command:
    import importlib

    module, _, attribute = SUBCOMMANDS[name].partition(":")
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command), SUBCOMMANDS[name]
    return command


def _subcommand_summary(name: str) -> str:
    return _subcommand(name).get_short_help_str(limit=80)


@click.command(cls=_GradeCommand, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("submissions", nargs=-1, required=True, metavar="SUBMISSION...")
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
@click.option("--junit", type=click.Path(path_type=Path, dir_okay=False), help="Also write JUnit XML here.")
@click.option("--gradescope", type=click.Path(path_type=Path, dir_okay=False), help="Also write Gradescope results.json here.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Batch mode: grade every submission into this folder (gradebook.csv, results.jsonl, feedback/, summary.html).")
@click.option("--jobs", type=int, metavar="N", help="Batch mode: submissions graded at once (default: the number of cores).")
@click.option("--force", is_flag=True, help="Batch mode: regrade everything, even what is already in --out.")
@click.option("--dask-scheduler", metavar="ADDRESS", help="Batch mode: grade on this Dask distributed cluster.")
@click.version_option(package_name="autodiff-grader")
def main(submissions: tuple[str, ...], **options: object) -> None:
    """Grade SUBMISSION (a .ipynb notebook or a .py module) and report a score per exercise.

    Several submissions, folders or globs, or --out, switch to batch mode.
    """
    from grader.errors import GraderError

    try:
        if len(submissions) > 1 or options["out"] is not None:
            status = _grade_batch(list(submissions), options)
        else:
            status = _grade_one(Path(submissions[0]), options)
    except GraderError as exc:
        click.echo(f"grade: error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(status)


def _rubric_and_limits(options: dict[str, Any]) -> tuple[Rubric, Limits]:
    from dataclasses import replace

    from grader.errors import UsageError
    from grader.rubric import default_rubric_path, load_rubric

    rubric = load_rubric(options["rubric"] or default_rubric_path())
    unknown = [ex for ex in options["only"] if ex not in {e.id for e in rubric.exercises}]
    if unknown:
        raise UsageError(f"--only {unknown[0]}: no such exercise (choose from {', '.join(e.id for e in rubric.exercises)})")
    changes = {"cell_timeout_s": options["cell_timeout"], "submission_timeout_s": options["timeout"], "memory_mb": options["memory_mb"]}
    return rubric, replace(rubric.limits, **{k: v for k, v in changes.items() if v is not None})


def _grade_one(submission: Path, options: dict[str, Any]) -> int:
    import os

    from grader.pipeline import Options, grade_submission
    from grader.reporters.json_report import render_json
    from grader.reporters.terminal import render_text
    from grader.scoring import apply_overrides, load_overrides

    rubric, limits = _rubric_and_limits(options)
    result = grade_submission(submission, rubric, Options(only=tuple(options["only"]), limits=limits))
    if options["overrides"] is not None:
        result = apply_overrides(result, load_overrides(options["overrides"]).get(result.student, {}))
    if options["fmt"] == "json":
        click.echo(render_json(result))
    else:
        click.echo(render_text(result, color=sys.stdout.isatty()), nl=False)
    if options["junit"] is not None:
        from grader.reporters.junit import write_junit

        write_junit([result], options["junit"])
    if options["gradescope"] is not None:
        from grader.reporters.gradescope import write_gradescope

        write_gradescope(result, options["gradescope"])
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        from grader.reporters.github import append_step_summary

        append_step_summary(result, Path(os.environ["GITHUB_STEP_SUMMARY"]), options["fail_under"])
    if result.status != "graded":
        return EXIT_UNUSABLE
    if options["fail_under"] is not None and result.score < options["fail_under"]:
        return EXIT_UNDER
    return EXIT_GRADED


def _grade_batch(submissions: list[str], options: dict[str, Any]) -> int:
    from grader.batch import BatchOptions, run_batch
    from grader.errors import UsageError
    from grader.scoring import load_overrides

    if options["out"] is None:
        raise UsageError("several submissions need --out RESULTS_DIR (where the gradebook and feedback go)")
    rubric, limits = _rubric_and_limits(options)
    batch = BatchOptions(
        out=options["out"],
        jobs=options["jobs"],
        force=options["force"],
        dask_scheduler=options["dask_scheduler"],
        limits=limits,
        only=tuple(options["only"]),
        overrides=load_overrides(options["overrides"]) if options["overrides"] is not None else {},
    )
    return run_batch(submissions, rubric, batch)


if __name__ == "__main__":
    main()
