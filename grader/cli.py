"""The ``grade`` command and its subcommands: the one place that turns errors into messages and exit statuses.

``grade SUBMISSION...`` grades (the default command); ``grade COMMAND ...`` runs
one of :data:`COMMANDS`. Exit statuses are :class:`grader.errors.ExitCode`.

Every module that does the work is imported inside the command that needs it,
so that ``grade --help`` answers at once (it imports neither torch nor
nbclient, nor any subcommand's module).
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from grader.errors import ExitCode, GraderError, SubmissionError, UsageError
from grader.version import __version__

if TYPE_CHECKING:
    from grader.kernel.execute import CellProgress
    from grader.results import SubmissionResult
    from grader.rubric import Limits, Rubric

CONTEXT: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEFAULT = "submissions"  # the command that grades paths: ``grade PATH...`` is ``grade submissions PATH...``


@dataclass(frozen=True)
class LazyCommand:
    """A subcommand imported only when run: ``target`` is ``module:click command``; ``summary`` is its line in ``grade --help``."""

    target: str
    summary: str

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), self.target
        return command


# A submission is a .ipynb or .py file, a folder or a glob, so these names can never be mistaken for one.
COMMANDS: dict[str, LazyCommand] = {
    "assign": LazyCommand("grader.authoring.assign:assign", "Write the student notebook made from a solution notebook."),
    "check-rubric": LazyCommand("grader.mutation.cli:check_rubric", "Measure how many small mistakes in the solution a rubric's checks catch."),
    "kit": LazyCommand("grader.kit.build:kit", "Write the student kit of an assignment: the grader students install, without the answers."),
    "new-course": LazyCommand("grader.authoring.course:new_course", "Write an installable course package with one example assignment."),
    "kinds": LazyCommand("grader.authoring.tools:kinds", "List the installed check kinds, or show one kind's parameters and an example."),
    "trace": LazyCommand("grader.authoring.tools:trace", "Write a rubric's check-to-contract table (Markdown) for a course to commit."),
    "review": LazyCommand("grader.review.server:review", "Review a graded class folder in your browser: set scores and comments by keyboard."),
    "similarity": LazyCommand("grader.similarity.cli:similarity", "Rank every pair of a graded class's submissions by how alike their code is."),
}


class GradeGroup(click.Group):
    """``grade``: grading paths is the default command; the others are named first (``grade kit ...``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == DEFAULT:
            return grade_submissions
        return COMMANDS[cmd_name].load() if cmd_name in COMMANDS else None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in COMMANDS and args[0] not in (DEFAULT, *CONTEXT["help_option_names"], "--version")):
            args = [DEFAULT, *args]
        return super().parse_args(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """``grade --help`` is the default command's help, which lists the other commands."""
        grade_submissions.format_help(click.Context(grade_submissions, info_name=ctx.info_name, **CONTEXT), formatter)


class DefaultCommand(click.Command):
    """``grade SUBMISSION...``: its usage lines and errors say ``grade``, not ``grade submissions``, and its help lists the commands."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any) -> click.Context:
        return super().make_context(parent.info_name if parent else info_name, args, None, **extra)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_usage(ctx, formatter)
        formatter.write_usage(ctx.command_path, "COMMAND [ARGS]...", prefix="       ")

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands (grade COMMAND --help for each)"):
            formatter.write_dl([(name, command.summary) for name, command in sorted(COMMANDS.items())])
        super().format_epilog(ctx, formatter)


def run() -> None:
    """The ``grade`` command (its console script): :func:`main`, then leave without Python's teardown.

    With torch and the Jupyter stack loaded, the interpreter's teardown took
    ~0.5 s of every cold ``grade`` (measured), after the report was out. By
    then every command has cleaned up after itself; the exit handlers (which
    stop this process's warm-kernel server) still run, and the streams are flushed.
    """
    try:
        main()
        status: int = 0
    except SystemExit as stop:  # anything else (a grader bug) leaves the way Python does, with its traceback
        status = _exit_status(stop.code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def _exit_status(code: object) -> int:
    """The status ``sys.exit(code)`` would give: None is 0, a number is itself, anything else is printed and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


@click.group(cls=GradeGroup, context_settings=CONTEXT)
@click.version_option(version=__version__)  # the version of this code: a student kit installs it under another distribution name
def main() -> None:
    """Grade notebooks and modules; write student notebooks, kits, and measure rubrics."""


@main.command(DEFAULT, cls=DefaultCommand, context_settings=CONTEXT, hidden=True)
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
@click.option("--keep-warm/--no-keep-warm", default=None,
              help="Leave a warm kernel server and a warm grading server for the next grade on this machine, which then answers "
                   "in about a second (default: on, off in CI; GRADER_KEEP_WARM=0 turns it off).")
@click.option("--similarity", is_flag=True,
              help="Batch mode: also write similarity.html, every pair of submissions ranked by how alike their answer code is.")
@click.version_option(version=__version__)
def grade_submissions(submissions: tuple[str, ...], **options: object) -> None:
    """Grade SUBMISSION (a .ipynb notebook or a .py module) and report a score per exercise.

    Several submissions, folders or globs, or --out, switch to batch mode.
    """
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
        if options["fmt"] == "json" and len(submissions) == 1 and options["out"] is None:
            _echo_refusal(Path(submissions[0]), exc.message)  # --format json promises exactly one JSON object, a refusal too
        sys.exit(exc.exit_code)
    sys.exit(status)


def _echo_refusal(submission: Path, reason: str) -> None:
    """A refusal as the one JSON report ``--format json`` promises: status "error" and the reason."""
    from grader.pipeline import unreadable  # lazy: `grade --help` stays fast
    from grader.reporters.json_report import render_json

    click.echo(render_json(unreadable(submission, reason)))


def _list_assignments() -> int:
    from grader.assignments import installed_assignments  # lazy: `grade --help` stays fast

    assignments = installed_assignments()
    for assignment in assignments:
        click.echo(f"{assignment.id}  {assignment.title}  [{assignment.source}]  {assignment.rubric_path}")
    if not assignments:
        click.echo("no assignments installed")
    return ExitCode.OK


def _rubric_for(submission: Path | None, options: dict[str, Any]) -> tuple[Path, str]:
    """The rubric to grade ``submission`` with: ``--rubric``, or the installed assignment it belongs to (said on stderr),
    and a warning when the file's answers are another assignment's ('' when not)."""
    from grader.assignments import choose_assignment, installed_assignments, rubric_path  # lazy: `grade --help` stays fast
    from grader.load import load_submission

    if options["rubric"] is not None:
        return rubric_path(options["rubric"]), ""
    if submission is not None and submission.is_dir():
        raise UsageError(f"{submission} is a folder, expected a .ipynb or .py file; to grade a class, give the folder "
                         f"with --out RESULTS_DIR (grade {submission} --out results)")
    assignments = installed_assignments()
    try:
        choice = choose_assignment(submission or Path("submission"), assignments)
    except UsageError:
        if submission is not None:
            load_submission(submission)  # an unusable file: its own reason says more than "which assignment?"
        raise
    click.echo(f"grade: assignment {choice.assignment.id} ({choice.reason})", err=True)
    if choice.warning:
        click.echo(f"grade: warning: {choice.warning}", err=True)
    return choice.assignment.rubric_path, choice.warning


def _rubric_and_limits(options: dict[str, Any], rubric_path: Path) -> tuple[Rubric, Limits]:
    from grader.checks.registry import CHECK_KINDS  # lazy: `grade --help` stays fast
    from grader.rubric import load_rubric

    rubric = load_rubric(rubric_path, CHECK_KINDS)
    unknown = [ex for ex in options["only"] if ex not in {e.id for e in rubric.exercises}]
    if unknown:
        raise UsageError(f"--only {unknown[0]}: no such exercise (choose from {', '.join(e.id for e in rubric.exercises)})")
    return rubric, replace(rubric.limits, **_limit_changes(options))


def _limit_changes(options: dict[str, Any]) -> dict[str, Any]:
    """The rubric's limits the command line changes (``--cell-timeout``, ``--timeout``, ``--memory-mb``)."""
    changes = {"cell_timeout_s": options["cell_timeout"], "submission_timeout_s": options["timeout"], "memory_mb": options["memory_mb"]}
    return {name: value for name, value in changes.items() if value is not None}


def _refuse_batch_only(options: dict[str, Any]) -> None:
    batch_only = (("--gradebook", "gradebooks"), ("--roster", "roster"), ("--missing", "missing"), ("--similarity", "similarity"))
    given = [flag for flag, key in batch_only if options[key]]
    if given:
        raise UsageError(f"{given[0]} is for batch mode: add --out RESULTS_DIR")


def gradebook_formats(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--gradebook`` values, repeated or comma separated, lower-cased and without repeats; ``("csv",)`` when none."""
    formats = [part.strip().lower() for value in values for part in value.split(",") if part.strip()]
    return tuple(dict.fromkeys(formats)) or ("csv",)


def _tell_cell_progress(progress: CellProgress) -> None:
    """On stderr (stdout is the report): which cell is taking long, and when its time limit stops it."""
    from grader.reporters.terminal import progress_line  # lazy: `grade --help` stays fast

    click.echo(progress_line(progress), err=True)


def _grade_one(submission: Path, options: dict[str, Any]) -> int:
    from grader.reporters.json_report import render_json
    from grader.reporters.terminal import render_text
    from grader.scoring import apply_overrides, load_overrides

    kept = _keeps_warm(options["portable"], options["keep_warm"])
    if not kept:
        _start_warm_server(options["portable"], keep_warm=False)
    try:
        rubric_path, warning = _rubric_for(submission, options)
    except SubmissionError as exc:  # unreadable, and so no assignment to read from it: still one report, with the reason
        from grader.pipeline import unreadable  # lazy: a grade answered by the kept server imports no pipeline

        result = unreadable(submission, exc.message)
    else:
        by_kept_server = _graded_by_kept_server(submission, rubric_path, options) if kept else None
        if by_kept_server is not None:
            result = by_kept_server
        else:
            from grader.pipeline import Options, grade_submission

            rubric, limits = _rubric_and_limits(options, rubric_path)
            if kept:
                _start_warm_server(options["portable"], keep_warm=True)
            grading = Options(only=tuple(options["only"]), limits=limits, portable=options["portable"], on_progress=_tell_cell_progress)
            result = grade_submission(submission, rubric, grading)
        if warning:  # in every report, where the zeros it explains are
            result = replace(result, errors=(warning, *result.errors))
    if options["overrides"] is not None:
        result = apply_overrides(result, load_overrides(options["overrides"]).get(result.student, {}))
    if options["fmt"] == "json":
        click.echo(render_json(result))
    else:
        click.echo(render_text(result, color=sys.stdout.isatty()), nl=False)
    if options["junit"] is not None:
        from grader.reporters.junit import write_junit  # lazy: `grade --help` stays fast

        write_junit([result], options["junit"])
    if options["gradescope"] is not None:
        from grader.reporters.gradescope import write_gradescope  # lazy: `grade --help` stays fast

        write_gradescope(result, options["gradescope"])
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        from grader.reporters.github import append_step_summary  # lazy: `grade --help` stays fast

        append_step_summary(result, Path(os.environ["GITHUB_STEP_SUMMARY"]), options["fail_under"])
    if kept and not result.environment.get("kept_grader"):
        from grader.kept import start_server_for_next_time  # lazy: `grade --help` stays fast

        start_server_for_next_time()
    if result.status != "graded":
        return ExitCode.UNUSABLE
    if options["fail_under"] is not None and result.score < options["fail_under"]:
        return ExitCode.FAILED
    return ExitCode.OK


def _keeps_warm(portable: bool, keep_warm: bool | None) -> bool:
    """Whether this ``grade`` uses (and leaves) kept servers: the sandbox mode, and ``--keep-warm`` or its default."""
    from grader.kernel.private import keep_warm_wanted
    from grader.kernel.sandbox import Mode, choose_mode  # lazy: `grade --help` stays fast

    return choose_mode(portable) is Mode.SANDBOX and keep_warm_wanted(keep_warm, os.environ)


def _graded_by_kept_server(submission: Path, rubric_path: Path, options: dict[str, Any]) -> SubmissionResult | None:
    """The kept grading server's result (a warm process: this one imports no torch), or None to grade here."""
    from grader.kept import grade_kept  # lazy: `grade --help` stays fast

    return grade_kept(submission, rubric_path, tuple(options["only"]), _limit_changes(options), lambda line: click.echo(line, err=True))


def _start_warm_server(portable: bool, keep_warm: bool | None) -> None:
    """In the sandbox mode, the warm-kernel server starts (or a kept one is reached) while the rubric is read (its imports take seconds)."""
    from grader.kernel.sandbox import Mode, choose_mode  # lazy: `grade --help` stays fast

    if choose_mode(portable) is Mode.SANDBOX:
        from grader.kernel.warm import keep_warm_wanted, start_early  # lazy: `grade --help` stays fast

        start_early(keep=keep_warm_wanted(keep_warm, os.environ))


def _grade_batch(submissions: list[str], options: dict[str, Any]) -> int:
    """A class: against ``--rubric``, or each submission against its own assignment (one results folder per assignment)."""
    if options["out"] is None:
        raise UsageError("several submissions need --out RESULTS_DIR (where the gradebook and feedback go)")
    if options["portable"]:
        os.environ["GRADER_PORTABLE"] = "1"  # the batch's worker processes choose their kernels' mode from it
    if options["dask_scheduler"] is not None:
        return _grade_classes(submissions, options)
    from grader.kernel.warm import shared_server  # lazy: `grade --help` stays fast

    with shared_server():  # started first: the seconds of imports of both servers overlap reading the class and its rubric
        from grader.batch.workers import start_worker_server  # after: the warm-kernel server's start is on every batch's critical path

        start_worker_server()
        return _grade_classes(submissions, options)


def _grade_classes(submissions: list[str], options: dict[str, Any]) -> int:
    if options["rubric"] is not None:
        return _grade_class(submissions, options, _rubric_for(None, options)[0], options["out"], None)
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
    return max(statuses, default=ExitCode.OK)


def _by_assignment(submissions: list[str], out: Path) -> tuple[dict[str, tuple[Path, list[Any]]], list[tuple[Any, str]]]:
    """The class's submissions grouped by the assignment each belongs to, and those that belong to none."""
    from grader.assignments import choose_assignment, installed_assignments  # lazy: `grade --help` stays fast
    from grader.batch.discovery import discover

    assignments = installed_assignments()
    notebooks = sorted({a.notebook for a in assignments if a.notebook})
    candidates = discover(submissions, notebooks[0] if len(notebooks) == 1 else "", exclude=out)
    groups: dict[str, tuple[Path, list[Any]]] = {}
    unmatched = []
    for candidate in candidates:
        try:
            choice = choose_assignment(candidate.path, assignments)
            assignment = choice.assignment
            if choice.warning:
                click.echo(f"grade: warning: {candidate.path}: {choice.warning}", err=True)
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
    from grader.batch import BatchOptions, run_batch  # lazy: `grade --help` stays fast
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
    status = run_batch(submissions, rubric, batch, candidates)
    if options["similarity"] and status == ExitCode.OK:
        from grader.similarity.run import echo_summary, write_similarity_report

        echo_summary(write_similarity_report(out, rubric_path=rubric_path))
    return status


