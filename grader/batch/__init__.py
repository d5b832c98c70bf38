"""Batch grading: a class of submissions, graded in parallel processes or on a Dask cluster, with resume.

:func:`run_batch` (called by ``grade SUBMISSIONS... --out RESULTS_DIR``):

1. finds one candidate per student in files, folders and globs (:mod:`.discovery`);
2. reuses every stored result whose resume key still matches, unless ``--force`` (:mod:`.store`);
3. grades the rest, those that took longest last time first (:func:`longest_first`),
   one submission at a time per worker process (:mod:`.workers`)
   or per Dask task (:mod:`.remote`), appending each result to ``results.jsonl``
   as it arrives, with a progress bar on stderr;
4. writes ``gradebook.csv``, the LMS gradebooks asked for (``gradebook-canvas.csv``,
   ``gradebook-moodle.csv``, matched to the class roster by :mod:`.roster`),
   ``feedback/<student>.md|.html`` and ``summary.html`` (formatted by
   :mod:`grader.reporters`), and prints a summary table.

Instructor overrides are applied to every result, new or reused (a stored
result keeps the automatic scores under its overrides, so a changed overrides
file needs no regrading). Without ``--overrides`` the class folder's own
``overrides.yaml`` is used when it exists (``grade review`` writes it).
``reports.json`` records how the reports were written (the rubric, the
roster, the gradebook formats), so that :func:`rewrite_reports` can write them
again from ``results.jsonl`` and the overrides without regrading anything.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from grader.batch.discovery import Candidate, discover, unmatched_globs
from grader.batch.roster import Roster, RosterMatch, check_roster_for, match_roster
from grader.batch.store import (
    RESULTS_FILE,
    Record,
    ResumeKey,
    Settings,
    append_line,
    exclusive,
    load_records,
    resume_key,
    reusable,
    without_overrides,
    write_atomic,
)
from grader.batch.workers import Job, LocalPool, Reply, warm_up
from grader.errors import ExitCode, UsageError
from grader.mutation.scores import find_mutation_score
from grader.reporters import clean_text
from grader.reporters.gradebook import render_gradebook, rubric_points, score_decimals, student_sort_key
from grader.reporters.lms import RENDERERS, gradebook_file
from grader.results import Blame, SubmissionResult
from grader.rubric import ExerciseSpec, Limits, Rubric
from grader.scoring import apply_overrides

__all__ = ["BatchOptions", "ReportSettings", "default_jobs", "discover", "plan", "rewrite_reports", "run_batch", "write_outputs"]

OVERRIDES_FILE = "overrides.yaml"
REPORT_SETTINGS_FILE = "reports.json"
GRADEBOOK_FORMATS = ("csv", "canvas", "moodle")
MISSING_POLICIES = ("empty", "zero")


@dataclass(frozen=True)
class BatchOptions:
    """How to grade a batch (built by the CLI from its flags; ``limits`` None means the rubric's).

    ``gradebooks`` are the formats written besides ``gradebook.csv`` (always
    written): ``canvas``, ``moodle`` (they need a ``roster``); ``missing`` is
    what an LMS gradebook gives a roster student with no submission:
    ``empty`` (no grade) or ``zero``.
    """

    out: Path
    jobs: int | None = None
    force: bool = False
    dask_scheduler: str | None = None
    limits: Limits | None = None
    only: tuple[str, ...] = ()
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    gradebooks: tuple[str, ...] = ("csv",)
    roster: Roster | None = None
    missing: str = "empty"

    def check(self) -> None:
        """Refuse, before anything is graded, options that cannot work together."""
        if self.jobs is not None and self.jobs < 1:
            raise UsageError(f"--jobs {self.jobs}: expected at least 1")
        unknown = [f for f in self.gradebooks if f not in GRADEBOOK_FORMATS]
        if unknown:
            raise UsageError(f"--gradebook {unknown[0]}: choose from {', '.join(GRADEBOOK_FORMATS)}")
        if self.missing not in MISSING_POLICIES:
            raise UsageError(f"--missing {self.missing}: choose from {', '.join(MISSING_POLICIES)}")
        lms = [f for f in self.gradebooks if f != "csv"]
        if lms and self.roster is None:
            raise UsageError(f"--gradebook {lms[0]} needs --roster ROSTER.csv: the LMS finds students by the identifiers the roster gives")
        if self.roster is not None:
            check_roster_for(self.roster, lms)


def run_batch(submissions: list[str], rubric: Rubric, options: BatchOptions, candidates: Sequence[Candidate] | None = None) -> ExitCode:
    """Grade every submission into ``options.out``; the exit status: OK when done (error rows included), INTERRUPTED.

    ``candidates`` are the students already found in ``submissions`` (when a
    class folder holding several assignments was split by assignment).
    """
    started = time.monotonic()
    options.check()
    out = options.out
    if not options.overrides and (out / OVERRIDES_FILE).is_file():
        from grader.scoring import load_overrides

        options = replace(options, overrides=load_overrides(out / OVERRIDES_FILE))
    candidates = list(candidates) if candidates is not None else discover(submissions, rubric.notebook, exclude=out)
    for pattern in unmatched_globs(submissions):
        _say(f"warning: {pattern} matches no file")
    if not candidates:
        raise UsageError(f"no submissions found in {', '.join(submissions)}")
    out.mkdir(parents=True, exist_ok=True)
    with exclusive(out):
        settings = Settings(options.only, options.limits or rubric.limits, hidden_folders(candidates, out))
        stored = load_records(out / RESULTS_FILE)
        records, jobs = plan(candidates, rubric, settings, stored, options)
        _restart_results_file(out / RESULTS_FILE, records, [stored[j.student] for j in jobs if j.student in stored])
        unusable_count = sum(1 for c in candidates if c.problem)
        reused = len(records) - unusable_count
        _say(f"{len(candidates)} students: {len(jobs)} to grade, {reused} unchanged since the last run, {unusable_count} without a usable file")
        feedback = FeedbackFiles(out, [*records, *(job.student for job in jobs)])
        if not _grade_into(out / RESULTS_FILE, records, jobs, rubric, settings, options, feedback):
            _say(f"interrupted: what was graded is kept in {out / RESULTS_FILE}; run the same command again to go on")
            return ExitCode.INTERRUPTED
        ordered = _in_order(records)
        matched = match_roster(options.roster, [r.result for r in ordered]) if options.roster else None
        for warning in matched.warnings() if matched else []:
            _say(f"warning: {warning}")
        ReportSettings.of(rubric, options).save(out)
        write_outputs(out, ordered, rubric, options.only, options, matched, feedback)
    counts = f"graded now: {len(jobs)}, reused: {reused}, in {time.monotonic() - started:.1f}s"
    _print_summary([r.result for r in ordered], graded_exercises(rubric, options.only), out, counts, options, matched)
    return ExitCode.OK


def _restart_results_file(path: Path, records: dict[str, Record], superseded: list[dict[str, Any]]) -> None:
    """Rewrite the results file without cut-off lines or students gone from the batch.

    Old lines of submissions about to be regraded stay until their new line is
    appended: a ``--force`` run cut short still leaves a result for everyone.
    """
    lines = [record.line() for record in records.values()] + [json.dumps(data, ensure_ascii=True) for data in superseded]
    write_atomic(path, "".join(line + "\n" for line in lines))


def _grade_into(
    path: Path,
    records: dict[str, Record],
    jobs: Sequence[Job],
    rubric: Rubric,
    settings: Settings,
    options: BatchOptions,
    feedback: FeedbackFiles,
) -> bool:
    """Grade ``jobs``, appending each result to ``path`` and writing its feedback as it arrives; False when interrupted (Ctrl-C, SIGTERM)."""
    try:
        with _terminate_like_interrupt(), contextlib.closing(_grade_all(jobs, rubric, settings, options, records)) as graded:
            for record in graded:
                records[record.result.student] = record
                append_line(path, record.line())
                feedback.write(record.result)
    except KeyboardInterrupt:
        return False
    return True


def plan(
    candidates: Sequence[Candidate], rubric: Rubric, settings: Settings, stored: dict[str, dict[str, Any]], options: BatchOptions
) -> tuple[dict[str, Record], list[Job]]:
    """Split the candidates into finished records (error rows, reusable results) and jobs to grade."""
    from grader.pipeline import unusable  # here: the workers grade; this process needs the pipeline only for error rows

    records: dict[str, Record] = {}
    jobs: list[Job] = []
    for candidate in candidates:
        if candidate.problem:
            result = unusable(candidate.path, rubric, candidate.problem, time.monotonic(), candidate.student)
            records[candidate.student] = _record(result, None, options)
            continue
        key = resume_key(candidate.path, rubric, settings)
        previous = stored.get(candidate.student)
        reused = None if options.force else reusable(previous, key)
        if reused is not None and previous is not None:
            result = replace(reused, submission=str(candidate.path))
            records[candidate.student] = _record(result, key, options, previous["batch"].get("graded_at", ""))
        else:
            jobs.append(Job(candidate.student, candidate.path, key, candidate.note))
    return records, longest_first(jobs, {student: data.get("duration_s") for student, data in stored.items()})


def longest_first(jobs: Sequence[Job], last_durations: dict[str, Any]) -> list[Job]:
    """``jobs`` with those that took longest in the last run first; a job never timed counts as a typical one.

    A submission that ran until its time limit holds a worker for that long: started last, it
    alone decides when the class ends (measured in docs/speed.md). The order changes no grade.
    """
    known = {student: float(d) for student, d in last_durations.items() if _is_duration(d)}
    if not known:
        return list(jobs)
    typical = statistics.median(known.values())
    return sorted(jobs, key=lambda job: -known.get(job.student, typical))  # stable: ties keep the class's order


def _is_duration(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _grade_all(
    jobs: Sequence[Job], rubric: Rubric, settings: Settings, options: BatchOptions, records: dict[str, Record]
) -> Generator[Record, None, None]:
    if not jobs:
        return
    scores = [r.result.score for r in records.values() if r.result.status == "graded"]
    with tqdm(total=len(jobs), desc="grading", unit="sub", file=sys.stderr, dynamic_ncols=True, smoothing=0.1) as bar:
        for job, reply in _backend(jobs, rubric, settings, options):
            record = _finish(job, reply, rubric, options)
            if record.result.status == "graded":
                scores.append(record.result.score)
            bar.set_postfix_str(f"mean score {sum(scores) / len(scores):.1f}" if scores else "mean score -", refresh=False)
            bar.update(1)
            yield record


def _backend(jobs: Sequence[Job], rubric: Rubric, settings: Settings, options: BatchOptions) -> Iterator[tuple[Job, Reply]]:
    if options.dask_scheduler:
        from grader.batch.remote import run_dask  # here: only with --dask-scheduler (it loads the check kinds to ship rubrics)

        yield from run_dask(options.dask_scheduler, jobs, rubric, settings)
        return
    from grader.kernel.warm import shared_server  # here: jupyter_client (~0.5 s), which the spawned workers importing this package do not need

    # This process mostly waits while workers grade: meanwhile, import what the summary page will need.
    threading.Thread(target=_import_reporters, daemon=True).start()
    with shared_server(), LocalPool(options.jobs or default_jobs(), rubric, settings, warm_up=warm_up) as pool:
        yield from pool.run(jobs)


def _import_reporters() -> None:
    """Import the HTML reporters and compile their templates now, in a background thread, while the workers grade.

    Compiling the feedback and summary templates after the last result was ~60 ms of a batch's tail (measured).
    """
    import grader.reporters.summary  # noqa: F401
    from grader.reporters.pages import compile_templates

    compile_templates("feedback.html.j2", "summary.html.j2")


def _finish(job: Job, reply: Reply, rubric: Rubric, options: BatchOptions) -> Record:
    """A finished job's record: its result (or an error row), with the student's overrides applied."""
    from grader.pipeline import unusable  # here: the workers grade; this process needs the pipeline only for error rows

    status, payload = reply
    if status == "ok":
        result = SubmissionResult.from_dict(payload)
    else:  # the worker or the cluster failed, not the submission: never reused, graded again next time
        result = unusable(job.path, rubric, payload, time.monotonic(), job.student, Blame.INFRASTRUCTURE)
    result = replace(result, submission=str(job.path), student=job.student)
    if job.note:
        result = replace(result, errors=(*result.errors, job.note))
    cacheable = status == "ok" and not result.blame.graders_fault
    return _record(result, job.key if cacheable else None, options)


def _record(result: SubmissionResult, key: ResumeKey | None, options: BatchOptions, graded_at: str = "") -> Record:
    result = apply_overrides(result, options.overrides.get(result.student, {}))
    return Record(result, key, graded_at or datetime.now(timezone.utc).isoformat(timespec="milliseconds"))


def _in_order(records: dict[str, Record]) -> list[Record]:
    return [records[student] for student in sorted(records, key=student_sort_key)]


@contextlib.contextmanager
def _terminate_like_interrupt() -> Iterator[None]:
    """SIGTERM (``kill``, a cancelled CI job) stops the batch as Ctrl-C does: workers and kernels stopped, results kept."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def hidden_folders(candidates: Sequence[Candidate], out: Path) -> tuple[Path, ...]:
    """Folders no kernel may see: the results and every folder the submissions came from.

    A folder that holds the grader's own Python, the temporary folder or the
    package cannot be hidden from a kernel that needs them, so it is left out.
    """
    folders = {out.resolve()}
    for candidate in candidates:
        where = candidate.path.resolve()
        folders.add(where if where.is_dir() else where.parent)
    needed = [Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir())]
    needed.append(Path(__file__).resolve().parent.parent)
    safe = [f for f in folders if not any(n == f or f in n.parents for n in needed)]
    return tuple(sorted(f for f in safe if not any(other in f.parents for other in safe)))


class FeedbackFiles:
    """The students' feedback files in ``out/feedback``, each written as its result arrives (the batch's tail is then short).

    File names are chosen among all of the class's ``students`` at once (see
    :func:`~grader.reporters.feedback.feedback_names`); :func:`write_outputs`
    writes only the files of results not written here.
    """

    def __init__(self, out: Path, students: Sequence[str]) -> None:
        self.out = out
        self.students = frozenset(students)
        self.written: dict[str, SubmissionResult] = {}
        self._names: dict[str, str] | None = None

    @property
    def names(self) -> dict[str, str]:
        # Here, not in __init__: the HTML reporters (Jinja2) are imported while the workers grade (_import_reporters).
        from grader.reporters.feedback import feedback_names

        if self._names is None:
            self._names = feedback_names(self.students)
        return self._names

    def write(self, result: SubmissionResult) -> None:
        from grader.reporters.feedback import render_html, render_markdown

        name = self.names[result.student]
        write_atomic(self.out / "feedback" / f"{name}.md", render_markdown(result))
        write_atomic(self.out / "feedback" / f"{name}.html", render_html(result))
        self.written[result.student] = result

    def current(self, result: SubmissionResult) -> bool:
        return self.written.get(result.student) is result


def write_outputs(
    out: Path,
    records: Sequence[Record],
    rubric: Rubric,
    only: Sequence[str],
    options: BatchOptions | None = None,
    matched: RosterMatch | None = None,
    feedback: FeedbackFiles | None = None,
) -> None:
    """Write results.jsonl (compacted, in order), the gradebooks, feedback/ and summary.html, each atomically.

    ``feedback``: the files already written while the class was graded (only the other results' are written here).
    """
    from grader.reporters.summary import render_summary_html

    exercises = graded_exercises(rubric, only)
    decimals = score_decimals(rubric_points(exercises))
    results = [record.result for record in records]
    write_atomic(out / RESULTS_FILE, "".join(record.line() + "\n" for record in records))
    write_atomic(out / gradebook_file("csv"), render_gradebook(results, [ex.id for ex in exercises], decimals))
    if matched is not None and options is not None:
        max_score = sum(ex.max_score for ex in exercises)
        for fmt in dict.fromkeys(f for f in options.gradebooks if f in RENDERERS):
            write_atomic(out / gradebook_file(fmt), RENDERERS[fmt](matched, rubric.title, max_score, decimals, options.missing))
    students = [r.student for r in results]
    if feedback is None or feedback.students != frozenset(students):
        feedback = FeedbackFiles(out, students)
    for result in results:
        if not feedback.current(result):
            feedback.write(result)
    links = {student: f"{name}.html" for student, name in feedback.names.items()}
    page = render_summary_html(results, exercises, rubric.title, links, mutation=find_mutation_score(rubric.sha256), roster=matched)
    write_atomic(out / "summary.html", page)


@dataclass(frozen=True)
class ReportSettings:
    """How a class folder's reports were written, kept in ``reports.json`` so that they can be written again."""

    rubric: str
    only: tuple[str, ...] = ()
    gradebooks: tuple[str, ...] = ("csv",)
    roster: str | None = None
    missing: str = "empty"

    @classmethod
    def of(cls, rubric: Rubric, options: BatchOptions) -> ReportSettings:
        roster = str(options.roster.path.resolve()) if options.roster is not None else None
        return cls(str(rubric.path.resolve()), tuple(options.only), tuple(options.gradebooks), roster, options.missing)

    def save(self, out: Path) -> None:
        write_atomic(out / REPORT_SETTINGS_FILE, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, out: Path) -> ReportSettings:
        path = out / REPORT_SETTINGS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(str(data["rubric"]), tuple(data["only"]), tuple(data["gradebooks"]), data["roster"], str(data["missing"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}: cannot read how the reports were written ({exc}); grade the class again with --out {out}") from None


def rewrite_reports(out: Path, overrides: dict[str, dict[str, Any]]) -> list[Record]:
    """Write a class folder's reports again from its ``results.jsonl`` and ``overrides``, regrading nothing; the records.

    Each stored result's old overrides are taken out and ``overrides`` put in,
    so a removed override is removed from the reports too.
    """
    from grader.batch.roster import load_roster
    from grader.checks.registry import CHECK_KINDS  # the kinds' modules: only when a review rewrites the reports
    from grader.rubric import load_rubric

    settings = ReportSettings.load(out)
    rubric = load_rubric(Path(settings.rubric), CHECK_KINDS)
    roster = load_roster(Path(settings.roster)) if settings.roster else None
    options = BatchOptions(out=out, only=settings.only, overrides=overrides, gradebooks=settings.gradebooks, roster=roster, missing=settings.missing)
    records = {}
    for student, data in load_records(out / RESULTS_FILE).items():
        result = apply_overrides(without_overrides(SubmissionResult.from_dict(data)), overrides.get(student, {}))
        key = data["batch"].get("key")
        records[student] = Record(result, ResumeKey(**key) if isinstance(key, dict) else None, str(data["batch"].get("graded_at", "")))
    ordered = _in_order(records)
    with exclusive(out):
        matched = match_roster(roster, [r.result for r in ordered]) if roster else None
        write_outputs(out, ordered, rubric, settings.only, options, matched)
    return ordered


def graded_exercises(rubric: Rubric, only: Sequence[str]) -> list[ExerciseSpec]:
    """The rubric's exercises that this batch grades, in rubric order."""
    return [ex for ex in rubric.exercises if not only or ex.id in only]


def _print_summary(
    results: Sequence[SubmissionResult],
    exercises: Sequence[ExerciseSpec],
    out: Path,
    counts: str,
    options: BatchOptions,
    matched: RosterMatch | None,
) -> None:
    from grader.reporters.summary import problems, render_table  # here: see write_outputs

    print(render_table(results, exercises), end="")
    print(counts)
    for result, kind in problems(results):
        if kind == "could not be graded":
            print(f"  {clean_text(result.student, 40)}: {clean_text(result.reason, 200)}")
    if matched is not None:
        print(_roster_line(matched))
    lms = [gradebook_file(f) for f in dict.fromkeys(options.gradebooks) if f in RENDERERS and matched is not None]
    print(f"wrote {out}/: {', '.join([gradebook_file('csv'), *lms])}, {RESULTS_FILE}, feedback/, summary.html")


def _roster_line(matched: RosterMatch, listed: int = 10) -> str:
    missing = [clean_text(entry.submission, 40) for entry in matched.missing]
    names = ", ".join(missing[:listed]) + (f" and {len(missing) - listed} more" if len(missing) > listed else "")
    line = f"roster: {len(matched.rows)} students, {len(missing)} without a submission{': ' + names if missing else ''}"
    return line + (f"; {len(matched.unknown)} submissions not on the roster (see the warnings)" if matched.unknown else "")


def _say(message: str) -> None:
    print(f"grade: {message}", file=sys.stderr, flush=True)
