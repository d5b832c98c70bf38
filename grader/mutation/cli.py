"""``grade check-rubric RUBRIC``: how strong is a rubric? Break its solution in small ways and see what it catches.

Exit status: 0 measured; 1 measured but the mutation score is under
``--fail-under``; 2 the rubric cannot be checked (an invalid rubric or
reference, an unreadable notebook, a solution without full marks, a template
with points, bad arguments); 130 interrupted (Ctrl-C, SIGTERM: the workers
and their kernels are stopped).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from grader.authoring.layout import solution_path, template_path
from grader.batch import default_jobs
from grader.checks.registry import CHECK_KINDS
from grader.errors import ExitCode, GraderError, UsageError
from grader.mutation import runner  # the module: its check_rubric shares this command's name
from grader.mutation.report import render_html, render_json, render_text, summary, tally
from grader.mutation.scores import record_mutation_score
from grader.rubric import Limits, Rubric, load_rubric


@click.command("check-rubric", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("rubric_path", metavar="RUBRIC", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--solution", type=click.Path(path_type=Path, dir_okay=False),
              help="The solved notebook (default: the rubric's `solution:`, else the one notebook beside the reference module "
                   "that names the assignment in its metadata, else solution.ipynb there).")
@click.option("--template", type=click.Path(path_type=Path, dir_okay=False),
              help="The student notebook (default: the rubric's `template:`, else exercises/<the rubric's notebook> "
                   "next to the rubric's folder, else the one `grade assign` would make from the solution).")
@click.option("--jobs", type=int, metavar="N", help="Notebooks graded at once (default: the number of cores).")
@click.option("--max-mutants", type=int, metavar="N", help="Grade at most N mutants, sampled deterministically across exercises and operators.")
@click.option("--only", multiple=True, metavar="EXERCISE", help="Mutate only this exercise (e.g. ex2); repeatable.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --max-mutants sample.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for programs (exactly one JSON object on stdout).")
@click.option("--html", "html_path", type=click.Path(path_type=Path, dir_okay=False), help="Also write an HTML report here.")
@click.option("--fail-under", type=float, metavar="PERCENT", help="Exit with status 1 when the mutation score is below PERCENT.")
@click.option("--cell-timeout", type=float, default=10.0, show_default=True, metavar="S",
              help="Time limit per cell for every notebook graded (at most the rubric's): a mutant that hangs is killed by it.")
@click.option("--timeout", type=float, default=60.0, show_default=True, metavar="S",
              help="Wall-clock limit per notebook graded (at most the rubric's).")
@click.option("--whole", is_flag=True,
              help="Grade each mutant on its whole notebook instead of the cells its exercise depends on (slower; the same verdicts).")
@click.option("--no-record", is_flag=True, help="Do not store the score for the batch's summary.html (never stored with --only).")
def check_rubric(rubric_path: Path, **options: Any) -> None:
    """Measure how many small mistakes (mutants) in the solution notebook RUBRIC's checks catch.

    The solution must get full marks and the template 0. Then every answer
    region of the solution is mutated (operators swapped, signs flipped,
    constants, calls and indices changed, terms dropped, .detach() or
    torch.no_grad() added, ...), one change per mutant, and each mutant is
    graded on its exercise alone. A mutant is killed when it loses points,
    survives with full marks, and is equivalent-suspected when it also answers
    every probe exactly as the solution does. The mutation score is killed /
    (mutants - equivalent-suspected).
    """
    try:
        with _terminate_like_interrupt():
            status = _run(rubric_path, options)
    except GraderError as exc:
        click.echo(f"grade check-rubric: error: {exc.message}", err=True)
        sys.exit(ExitCode.UNUSABLE)
    except KeyboardInterrupt:
        click.echo("grade check-rubric: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    sys.exit(status)


def _run(rubric_path: Path, options: dict[str, Any]) -> ExitCode:
    rubric = load_rubric(rubric_path, CHECK_KINDS)
    for flag in ("jobs", "max_mutants"):
        if options[flag] is not None and options[flag] < 1:
            raise UsageError(f"--{flag.replace('_', '-')} {options[flag]}: expected at least 1")
    solution, template = solution_path(rubric, options["solution"]), template_path(rubric, options["template"])
    check = runner.CheckOptions(
        solution=solution, template=template, jobs=options["jobs"] or default_jobs(), limits=_limits(rubric, options),
        max_mutants=options["max_mutants"], only=tuple(options["only"]), seed=options["seed"],
        whole=options["whole"],
    )
    with _ProgressBar() as bar:
        run = runner.check_rubric(rubric, check, bar.update)
    click.echo(render_json(run) if options["fmt"] == "json" else render_text(run), nl=options["fmt"] == "json")
    if options["html_path"] is not None:
        options["html_path"].write_text(render_html(run), encoding="utf-8")
        click.echo(f"grade check-rubric: wrote {options['html_path']}", err=True)
    if not options["no_record"] and not options["only"]:
        _record(summary(run))
    score = tally(run.results).score_percent
    return ExitCode.FAILED if options["fail_under"] is not None and score < options["fail_under"] else ExitCode.OK


@contextlib.contextmanager
def _terminate_like_interrupt() -> Iterator[None]:
    """SIGTERM stops the run as Ctrl-C does: the worker pool unwinds and stops its workers and their kernels."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _limits(rubric: Rubric, options: dict[str, Any]) -> Limits:
    limits = rubric.limits
    cell = min(limits.cell_timeout_s, options["cell_timeout"])
    return replace(limits, cell_timeout_s=cell, probe_timeout_s=min(limits.probe_timeout_s, cell),
                   submission_timeout_s=min(limits.submission_timeout_s, options["timeout"]))


def _record(data: dict[str, Any]) -> None:
    try:
        where = record_mutation_score(data)
    except (OSError, ValueError) as exc:
        click.echo(f"grade check-rubric: warning: the score was not recorded ({exc})", err=True)
        return
    click.echo(f"grade check-rubric: recorded the mutation score for summary.html in {where}", err=True)


class _ProgressBar:
    """A progress bar on stderr (tqdm), started when the number of notebooks to grade is known."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.total = 0

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, done: int, total: int) -> None:
        if self.bar is None or total != self.total:
            if self.bar is not None:
                self.bar.close()
            self.total = total
            self.bar = tqdm(total=total, desc="grading mutants", unit="nb", file=sys.stderr, dynamic_ncols=True, leave=False)
        self.bar.update(done - self.bar.n)
