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

from grader import __version__

if TYPE_CHECKING:
    from grader.rubric import Limits, Rubric

EXIT_GRADED, EXIT_UNDER, EXIT_UNUSABLE = 0, 1, 2

# Subcommands: name -> "module:click command", imported only when used (``grade --help`` stays fast).
# A submission is a .ipynb or .py file, so these names can never be mistaken for one.
SUBCOMMANDS: dict[str, str] = {
    "assign": "grader.authoring.assign:assign",
    "kit": "grader.kit.build:kit",
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
@click.argument("submissions", nargs=-1, metavar="SUBMISSION...")
@click.option("--rubric", type=click.Path(path_type=Path),
              help="Rubric YAML, or an installed assignment's id (default: the installed assignment the notebook names in its "
                   "metadata, else the one its file name matches).")
@click.option("--list-assignments", is_flag=True, help="List the installed assignments and exit.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for programs (exactly one JSON object on stdout).")
@click.option("--only", multiple=True, metavar="EXERCISE", help="Grade only this exercise (e.g. ex2); repeatable.")
@click.option("--fail-under", type=float, metavar="SCORE", help="Exit with status 1 when the score is below SCORE.")
@click.option("--overrides", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="YAML of instructor scores: {student: {'ex4/written_answer': {score: 6, comment: ...}}}.")
@click.option("--cell-timeout", type=float, metavar="S", help="Time limit per cell, seconds.")
@click.option("--timeout", type=float, metavar="S", help="Wall-clock limit for the whole submission, seconds.")
@click.option("--memory-mb", type=int, metavar="MB", help="Address-space limit of the kernel.")
@click.option("--portable", is_flag=True,
              help="Run kernels the standard way, without the Linux sandbox (automatic on macOS and Windows). "
                   "Same grades; your code is not isolated from your machine.")
@click.option("--keep-warm/--no-keep-warm", default=None,
              help="Keep the warm-kernel server running for the next grade (default: on, off with CI=true or GRADER_KEEP_WARM=0).")
@click.option("--junit", type=click.Path(path_type=Path, dir_okay=False), help="Also write JUnit XML here.")
@click.option("--gradescope", type=click.Path(path_type=Path, dir_okay=False), help="Also write Gradescope results.json here.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Batch mode: grade every submission into this folder (gradebook.csv, results.jsonl, feedback/, summary.html).")
@click.option("--jobs", type=int, metavar="N", help="Batch mode: submissions graded at once (default: the number of cores).")
@click.option("--force", is_flag=True, help="Batch mode: regrade everything, even what is already in --out.")
@click.option("--dask-scheduler", metavar="ADDRESS", help="Batch mode: grade on this Dask distributed cluster.")
@click.option("--gradebook", "gradebooks", multiple=True, metavar="FORMAT",
              help="Batch mode: also write the gradebook an LMS imports: canvas, moodle (repeatable, or comma separated; "
                   "gradebook.csv, format csv, is always written). Needs --roster.")
@click.option("--roster", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Batch mode: CSV of the class (submission, name, student_id, email, login, canvas_id, section) "
                   "mapping each submission to its LMS student.")
@click.option("--missing", type=click.Choice(["empty", "zero"]), default=None,
              help="Batch mode: an LMS gradebook's grade for a roster student with no submission (default: empty).")
@click.version_option(version=__version__)  # the version of this code: a student kit installs it under another distribution name
def main(submissions: tuple[str, ...], **options: object) -> None:
    """Grade SUBMISSION (a .ipynb notebook or a .py module) and report a score per exercise.

    Several submissions, folders or globs, or --out, switch to batch mode.
    """
    from grader.errors import GraderError, UsageError

    try:
        if options.pop("list_assignments"):
            sys.exit(_list_assignments())
        if not submissions:
            raise UsageError("give a submission to grade (a .ipynb notebook or a .py module), or see grade --help")
        if len(submissions) > 1 or options["out"] is not None:
            status = _grade_batch(list(submissions), options)
        else:
            _refuse_batch_only(options)
            status = _grade_one(Path(submissions[0]), options)
    except GraderError as exc:
        click.echo(f"grade: error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(status)


def _list_assignments() -> int:
    from grader.assignments import installed_assignments

    assignments = installed_assignments()
    for assignment in assignments:
        click.echo(f"{assignment.id}  {assignment.title}  [{assignment.source}]  {assignment.rubric_path}")
    if not assignments:
        click.echo("no assignments installed")
    return EXIT_GRADED


def _rubric_for(submission: Path | None, options: dict[str, Any]) -> Path:
    """The rubric to grade ``submission`` with: ``--rubric``, or the installed assignment it belongs to (said on stderr)."""
    from grader.assignments import choose_assignment, installed_assignments, rubric_path
    from grader.errors import UsageError
    from grader.load import load_submission

    if options["rubric"] is not None:
        return rubric_path(options["rubric"])
    assignments = installed_assignments()
    try:
        choice = choose_assignment(submission or Path("submission"), assignments)
    except UsageError:
        if submission is not None:
            load_submission(submission)  # an unusable file: its own reason says more than "which assignment?"
        raise
    click.echo(f"grade: assignment {choice.assignment.id} ({choice.reason})", err=True)
    return choice.assignment.rubric_path


def _rubric_and_limits(options: dict[str, Any], rubric_path: Path) -> tuple[Rubric, Limits]:
    from dataclasses import replace

    from grader.errors import UsageError
    from grader.rubric import load_rubric

    rubric = load_rubric(rubric_path)
    unknown = [ex for ex in options["only"] if ex not in {e.id for e in rubric.exercises}]
    if unknown:
        raise UsageError(f"--only {unknown[0]}: no such exercise (choose from {', '.join(e.id for e in rubric.exercises)})")
    changes = {"cell_timeout_s": options["cell_timeout"], "submission_timeout_s": options["timeout"], "memory_mb": options["memory_mb"]}
    return rubric, replace(rubric.limits, **{k: v for k, v in changes.items() if v is not None})


def _refuse_batch_only(options: dict[str, Any]) -> None:
    from grader.errors import UsageError

    given = [flag for flag, key in (("--gradebook", "gradebooks"), ("--roster", "roster"), ("--missing", "missing")) if options[key]]
    if given:
        raise UsageError(f"{given[0]} is for batch mode: add --out RESULTS_DIR")


def gradebook_formats(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--gradebook`` values, repeated or comma separated, lower-cased and without repeats; ``("csv",)`` when none."""
    formats = [part.strip().lower() for value in values for part in value.split(",") if part.strip()]
    return tuple(dict.fromkeys(formats)) or ("csv",)


def _grade_one(submission: Path, options: dict[str, Any]) -> int:
    import os

    from grader.errors import SubmissionError
    from grader.pipeline import Options, grade_submission, unreadable
    from grader.reporters.json_report import render_json
    from grader.reporters.terminal import render_text
    from grader.scoring import apply_overrides, load_overrides

    _start_warm_server(options["portable"], options["keep_warm"])
    try:
        rubric_path = _rubric_for(submission, options)
    except SubmissionError as exc:  # unreadable, and so no assignment to read from it: still one report, with the reason
        result = unreadable(submission, exc.message)
    else:
        rubric, limits = _rubric_and_limits(options, rubric_path)
        result = grade_submission(submission, rubric, Options(only=tuple(options["only"]), limits=limits, portable=options["portable"]))
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


def _start_warm_server(portable: bool, keep_warm: bool | None) -> None:
    """In the sandbox mode, the warm-kernel server starts (or a kept one is reached) while the rubric is read (its imports take seconds)."""
    import os

    from grader.kernel.sandbox import Mode, choose_mode

    if choose_mode(portable) is Mode.SANDBOX:
        from grader.kernel.warm import keep_warm_wanted, start_early

        start_early(keep=keep_warm_wanted(keep_warm, os.environ))


def _grade_batch(submissions: list[str], options: dict[str, Any]) -> int:
    """A class: against ``--rubric``, or each submission against its own assignment (one results folder per assignment)."""
    import os

    from grader.errors import UsageError

    if options["out"] is None:
        raise UsageError("several submissions need --out RESULTS_DIR (where the gradebook and feedback go)")
    if options["portable"]:
        os.environ["GRADER_PORTABLE"] = "1"  # the batch's worker processes choose their kernels' mode from it
    if options["rubric"] is not None:
        return _grade_class(submissions, options, _rubric_for(None, options), options["out"], None)
    groups, unmatched = _by_assignment(submissions, options["out"])
    if len(groups) == 1 and unmatched:  # a class folder of one assignment: the files that do not say so belong to it too
        (assignment, (_, candidates)), = groups.items()
        click.echo(f"grade: {len(unmatched)} submissions do not name their assignment: graded as {assignment} like the others", err=True)
        candidates.extend(candidate for candidate, _ in unmatched)
        unmatched = []
    if not groups:
        raise UsageError(f"cannot tell which assignment these submissions are ({unmatched[0][1]}); give the rubric with --rubric")
    for candidate, why in unmatched:
        click.echo(f"grade: warning: {candidate.path} was not graded: {why}", err=True)
    if len(groups) == 1:
        (assignment, (rubric_path, candidates)), = groups.items()
        click.echo(f"grade: assignment {assignment} for all {len(candidates)} submissions", err=True)
        return _grade_class(submissions, options, rubric_path, options["out"], candidates)
    statuses = []
    for assignment, (rubric_path, candidates) in sorted(groups.items()):
        click.echo(f"grade: assignment {assignment}: {len(candidates)} submissions into {options['out'] / assignment}", err=True)
        statuses.append(_grade_class(submissions, options, rubric_path, options["out"] / assignment, candidates))
    return max(statuses, default=EXIT_GRADED)


def _by_assignment(submissions: list[str], out: Path) -> tuple[dict[str, tuple[Path, list[Any]]], list[tuple[Any, str]]]:
    """The class's submissions grouped by the assignment each belongs to, and those that belong to none."""
    from grader.assignments import choose_assignment, installed_assignments
    from grader.batch.discovery import discover
    from grader.errors import UsageError

    assignments = installed_assignments()
    notebooks = sorted({a.notebook for a in assignments if a.notebook})
    candidates = discover(submissions, notebooks[0] if len(notebooks) == 1 else "", exclude=out)
    groups: dict[str, tuple[Path, list[Any]]] = {}
    unmatched = []
    for candidate in candidates:
        try:
            assignment = choose_assignment(candidate.path, assignments).assignment
        except UsageError as exc:
            if len(assignments) == 1:
                assignment = assignments[0]
            else:
                unmatched.append((candidate, exc.message))
                continue
        groups.setdefault(assignment.id, (assignment.rubric_path, []))[1].append(candidate)
    if not groups and not unmatched:
        raise UsageError(f"no submissions found in {', '.join(submissions)}")
    return groups, unmatched


def _grade_class(submissions: list[str], options: dict[str, Any], rubric_path: Path, out: Path, candidates: list[Any] | None) -> int:
    from grader.batch import BatchOptions, run_batch
    from grader.batch.roster import load_roster
    from grader.scoring import load_overrides

    rubric, limits = _rubric_and_limits(options, rubric_path)
    batch = BatchOptions(
        out=out,
        jobs=options["jobs"],
        force=options["force"],
        dask_scheduler=options["dask_scheduler"],
        limits=limits,
        only=tuple(options["only"]),
        overrides=load_overrides(options["overrides"]) if options["overrides"] is not None else {},
        gradebooks=gradebook_formats(options["gradebooks"]),
        roster=load_roster(options["roster"]) if options["roster"] is not None else None,
        missing=options["missing"] or "empty",
    )
    return run_batch(submissions, rubric, batch, candidates)


if __name__ == "__main__":
    main()
