"""Grade a solution, its template and its mutants, and say which mutants the rubric caught.

Everything is graded in one :class:`~grader.batch.workers.LocalPool` of
worker processes sharing one warm-kernel server, at one seed for the random
test points (the solution's own), so the solution and every mutant answer the
same questions:

1. the solution (must get full marks) and the template (must get 0), both
   whole; the run stops with :class:`RubricCheckRefused` as soon as either
   fails;
2. per exercise, the solution cut down to the cells that exercise can depend
   on (:mod:`grader.mutation.slicing`), graded ``only`` that exercise: its
   mutants are graded on the same cut when it gets full marks and the same
   answers as the whole solution, else on the whole notebook;
3. every mutant, ``only`` its exercise (on its whole notebook with ``CheckOptions.whole``, which
   ``tests/integration/test_check_rubric.py`` uses to show that the cut gives the same verdicts).

A mutant is *killed* when its exercise loses points on some check (a crash,
a timeout or a dead kernel costs points too, and the fault is kept), and
*survives* otherwise; a survivor whose answers to every probe of its exercise
are the solution's is *equivalent-suspected* (see
``grader.pipeline.answer_digests``).
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat

from grader.authoring.notebook import answer_regions, cell_label, make_student_notebook
from grader.batch.store import Settings
from grader.batch.workers import Job, LocalPool, Reply
from grader.errors import GraderError, SubmissionError
from grader.kernel.warm import shared_server
from grader.load import load_submission
from grader.mutation.plan import Mutant, generate_mutants, mutant_notebook, sample
from grader.mutation.slicing import exercise_names, exercise_slice
from grader.pipeline import Options, derive_seed, grade_submission, load_reference
from grader.reporters import clean_text
from grader.results import Outcome, SubmissionResult
from grader.rubric import Limits, Rubric
from grader.shorten import shorten, shorten_items

Progress = Callable[[int, int], None]  # (done, total)
_CELL = re.compile(r"\bcell (\d+)\b")


class RubricCheckRefused(GraderError):
    """The rubric cannot be checked: its solution does not get full marks, its template gets points, a file is unusable."""


@dataclass(frozen=True)
class GradingJob(Job):
    """A notebook to grade in a worker: only these exercises, at this seed (None: the submission's own)."""

    only: tuple[str, ...] = ()
    seed: int | None = None


def grade_job(job: Job, rubric: Rubric, settings: Settings) -> dict[str, Any]:
    """Grade one notebook in a worker process (a :data:`grader.batch.workers.GradeFn`)."""
    only = job.only if isinstance(job, GradingJob) else settings.only
    seed = job.seed if isinstance(job, GradingJob) else None
    options = Options(only=only, limits=settings.limits, hide=settings.hide, student=job.student, seed=seed, answer_digests=True)
    return grade_submission(job.path, rubric, options).as_dict()


@dataclass(frozen=True)
class CheckOptions:
    """What to check: the solution and template notebooks (template None: made from the solution), and how."""

    solution: Path
    template: Path | None
    jobs: int
    limits: Limits
    max_mutants: int | None = None
    only: tuple[str, ...] = ()
    seed: int = 0
    whole: bool = False  # grade every mutant on its whole notebook, never on its exercise's cut (slower; the same verdicts)


@dataclass(frozen=True)
class MutantResult:
    """What grading one mutant showed.

    ``checks`` are the checks of its exercise that lost points (empty for a
    survivor); ``fault`` what went wrong while it ran (a crash, a timeout, a
    raised cell, a grader problem), if anything; ``equivalent`` that it
    survived with the solution's answers to every probe of its exercise.
    """

    mutant: Mutant
    killed: bool
    equivalent: bool
    checks: tuple[str, ...]
    fault: str
    duration_s: float

    @property
    def status(self) -> str:
        """``killed``, ``survived`` or ``equivalent-suspected``."""
        return "killed" if self.killed else "equivalent-suspected" if self.equivalent else "survived"


@dataclass(frozen=True)
class RubricCheck:
    """A whole ``check-rubric`` run: the baselines and every mutant's result.

    ``seed`` is the seed of the random test points (the solution's own, as
    ``grade`` would draw them); ``sample_seed`` chose the mutants when there
    were more than ``--max-mutants`` of the ``generated`` ones. ``sliced`` are
    the exercises whose mutants were graded on that exercise's cells only.
    """

    rubric: Rubric
    solution: Path
    template: str
    exercises: tuple[str, ...]
    seed: int
    sample_seed: int
    generated: int
    results: tuple[MutantResult, ...]
    sliced: tuple[str, ...]
    notes: tuple[str, ...]
    jobs: int
    duration_s: float
    generated_at: str
    max_mutants: int | None = None
    solution_score: float = 0.0
    template_score: float = 0.0
    max_score: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def check_rubric(rubric: Rubric, options: CheckOptions, progress: Progress | None = None) -> RubricCheck:
    """Grade the solution, the template and the mutants of ``rubric``'s solution; raise :class:`RubricCheckRefused` when a baseline fails."""
    started = time.monotonic()
    reference = _ReferenceLoader(rubric)
    nb = read_notebook(options.solution, "solution")
    exercises = _exercises(rubric, options.only)
    all_mutants = generate_mutants(nb, set(exercises))
    chosen = sample(all_mutants, options.max_mutants, options.seed)
    notes = _region_notes(rubric, exercises, all_mutants)
    seed = _solution_seed(rubric, options.solution)
    settings = Settings((), options.limits)
    timings = {"generate_s": round(time.monotonic() - started, 3)}
    with tempfile.TemporaryDirectory(prefix="grader-check-rubric-") as folder:
        work = Path(folder)
        template = options.template or _made_template(nb, rubric, work)
        cut_solutions: dict[str, Path]
        labels: dict[str, dict[int, str]]
        if options.whole:
            cut_solutions, notebooks, labels = {}, _write_whole(nb, chosen, work), {}
        else:
            cut_solutions, notebooks, labels = _write_slices(nb, rubric, exercises, chosen, work)
        jobs = [
            GradingJob("solution", options.solution, None, only=(), seed=seed),
            GradingJob("template", template, None, only=(), seed=seed),
            *(GradingJob(f"solution:{ex}", path, None, only=(ex,), seed=seed) for ex, path in cut_solutions.items()),
            *(GradingJob(m.id, notebooks[m.id], None, only=(m.exercise,), seed=seed) for m in chosen),
        ]
        baselines = _Baselines(rubric, options.solution, template)
        replies = run_jobs(jobs, rubric, settings, options.jobs, progress, baselines.check)
        reference.result()
        # exercises whose cut-down solution did not hold: their mutants are graded again, whole
        fallback = [ex for ex in cut_solutions if not baselines.slice_holds(ex, replies[f"solution:{ex}"])]
        if fallback:
            notes.append(f"graded on the whole notebook (the solution's cut-down notebook did not give the same answers): {', '.join(fallback)}")
            redo = [m for m in chosen if m.exercise in fallback]
            notebooks.update(_write_whole(nb, redo, work))
            for mutant in redo:
                labels.pop(mutant.id, None)
            replies.update(run_jobs([GradingJob(m.id, notebooks[m.id], None, only=(m.exercise,), seed=seed) for m in redo],
                                    rubric, settings, options.jobs, progress, None))
    timings["grade_s"] = round(time.monotonic() - started - timings["generate_s"], 3)
    solution_result = baselines.solution
    assert solution_result is not None and baselines.template is not None
    digests = solution_result.environment.get("answer_digests", {})
    results = tuple(judge_mutant(m, replies[m.id], digests.get(m.exercise), labels.get(m.id)) for m in chosen)
    return RubricCheck(
        rubric=rubric, solution=options.solution, template=str(options.template or "made from the solution"),
        exercises=tuple(exercises), seed=seed, sample_seed=options.seed, generated=len(all_mutants), results=results,
        sliced=tuple(ex for ex in cut_solutions if ex not in fallback), notes=tuple(notes), jobs=options.jobs,
        duration_s=round(time.monotonic() - started, 3), generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        max_mutants=options.max_mutants, solution_score=solution_result.score, template_score=baselines.template.score,
        max_score=solution_result.max_score, timings=timings,
    )


def judge_mutant(mutant: Mutant, reply: Reply, solution_digest: str | None, labels: dict[int, str] | None = None) -> MutantResult:
    """Killed, survived or equivalent-suspected, from the mutant's grading reply.

    ``labels`` name the cells of a cut-down notebook as the whole notebook does
    (``{2: "cell 29 (ex3-answer)"}``), so that a fault says where it is in the solution.
    """
    status, payload = reply
    if status != "ok":
        return MutantResult(mutant, True, False, (), _short(str(payload)), 0.0)
    result = SubmissionResult.from_dict(payload)
    if result.status != "graded":
        return MutantResult(mutant, True, False, (), _short(result.reason), result.duration_s)
    exercise = next((ex for ex in result.exercises if ex.id == mutant.exercise), None)
    if exercise is None:
        return MutantResult(mutant, True, False, (), f"grader problem: exercise {mutant.exercise} was not graded", result.duration_s)
    lost = tuple(check.id for check in exercise.checks if check.score < check.max_score)
    crashed = [f"{c.id}: {c.message}" for c in exercise.checks if c.outcome is Outcome.ERROR]  # raised or timed out when probed
    broken = [f"grader problem on {c.id}: {c.message}" for c in exercise.checks if c.outcome is Outcome.BROKEN]
    fault = _short(_renumber("; ".join([*result.errors[:2], *crashed[:1], *broken[:1]]), labels or {}))
    if lost:
        return MutantResult(mutant, True, False, lost, fault, result.duration_s)
    digest = result.environment.get("answer_digests", {}).get(mutant.exercise)
    return MutantResult(mutant, False, digest is not None and digest == solution_digest, (), fault, result.duration_s)


def run_jobs(
    jobs: Sequence[GradingJob], rubric: Rubric, settings: Settings, size: int, progress: Progress | None,
    watch: Callable[[Job, Reply], None] | None,
) -> dict[str, Reply]:
    """Grade ``jobs`` in ``size`` worker processes sharing one warm-kernel server; the replies by job name.

    ``watch`` sees each reply as it arrives and may raise to stop everything at once.
    """
    replies: dict[str, Reply] = {}
    if not jobs:
        return replies
    with shared_server(), LocalPool(max(1, min(size, len(jobs))), rubric, settings, grade=grade_job) as pool:
        for job, reply in pool.run(jobs):
            replies[job.student] = reply
            if progress is not None:
                progress(len(replies), len(jobs))
            if watch is not None:
                watch(job, reply)
    return replies


class _Baselines:
    """The solution's and the template's results, checked as they arrive."""

    def __init__(self, rubric: Rubric, solution: Path, template: Path) -> None:
        self.rubric = rubric
        self.paths = {"solution": solution, "template": template}
        self.solution: SubmissionResult | None = None
        self.template: SubmissionResult | None = None

    def check(self, job: Job, reply: Reply) -> None:
        if job.student not in self.paths:
            return
        path = self.paths[job.student]
        status, payload = reply
        if status != "ok":
            raise RubricCheckRefused(f"the {job.student} {path} could not be graded: {_short(str(payload))}")
        result = SubmissionResult.from_dict(payload)
        if result.status != "graded":
            raise RubricCheckRefused(f"the {job.student} {path} could not be graded: {_short(result.reason)}")
        if job.student == "solution":
            self.solution = result
            if result.score < result.max_score:
                raise RubricCheckRefused(
                    f"the solution {path} gets {result.score:g} / {result.max_score:g}, not full marks, so the rubric "
                    f"cannot be measured against it: {_checks_with(result, lambda c: c.score < c.max_score)}")
        else:
            self.template = result
            if result.score > 0:
                raise RubricCheckRefused(
                    f"the template {path} gets {result.score:g} / {result.max_score:g} instead of 0 (the rubric gives "
                    f"points for the stubs): {_checks_with(result, lambda c: c.score > 0)}")

    def slice_holds(self, exercise: str, reply: Reply) -> bool:
        """The solution cut down to ``exercise``'s cells got full marks on it and the same answers as the whole solution."""
        status, payload = reply
        if status != "ok" or self.solution is None:
            return False
        result = SubmissionResult.from_dict(payload)
        graded = next((ex for ex in result.exercises if ex.id == exercise), None)
        digest = result.environment.get("answer_digests", {}).get(exercise)
        whole = self.solution.environment.get("answer_digests", {}).get(exercise)
        return result.status == "graded" and graded is not None and graded.score == graded.max_score and digest == whole


class _ReferenceLoader:
    """Imports the rubric's reference module in a thread (it imports torch) while the rest gets ready."""

    def __init__(self, rubric: Rubric) -> None:
        self.error: GraderError | None = None
        self.thread = threading.Thread(target=self._load, args=(rubric,), daemon=True)
        self.thread.start()

    def _load(self, rubric: Rubric) -> None:
        try:
            load_reference(rubric.reference_path)
        except GraderError as exc:
            self.error = exc
        except Exception as exc:  # noqa: BLE001 - any failure to import the reference is the rubric's
            self.error = RubricCheckRefused(f"{rubric.reference_path}: the reference module failed to load: {type(exc).__name__}: {exc}")

    def result(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise RubricCheckRefused(self.error.message)


def read_notebook(path: Path, what: str) -> Any:
    """Read and validate a notebook, or refuse naming the file."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except (OSError, ValueError, nbformat.ValidationError) as exc:
        reason = shorten(str(exc).strip().splitlines()[0], 200) if str(exc).strip() else type(exc).__name__
        raise RubricCheckRefused(f"{path}: cannot read the {what} notebook ({reason})") from None
    return nb


def _exercises(rubric: Rubric, only: Sequence[str]) -> list[str]:
    ids = [ex.id for ex in rubric.exercises]
    unknown = [ex for ex in only if ex not in ids]
    if unknown:
        raise RubricCheckRefused(f"--only {unknown[0]}: no such exercise (choose from {', '.join(ids)})")
    return [ex for ex in ids if not only or ex in only]


def _region_notes(rubric: Rubric, exercises: Sequence[str], mutants: Sequence[Mutant]) -> list[str]:
    made = {m.exercise for m in mutants}
    return [f"{ex}: the solution has no code answer region for this exercise, so no mutants" for ex in exercises if ex not in made]


def _solution_seed(rubric: Rubric, solution: Path) -> int:
    try:
        return derive_seed(rubric, load_submission(solution, rubric.limits.max_submission_mb))
    except SubmissionError as exc:
        raise RubricCheckRefused(f"the solution {solution} cannot be graded: {exc.message}") from None


def _made_template(nb: Any, rubric: Rubric, work: Path) -> Path:
    path = work / "template.ipynb"
    _write(make_student_notebook(nb, rubric.assignment), path)
    return path


def _write_slices(
    nb: Any, rubric: Rubric, exercises: Sequence[str], mutants: Sequence[Mutant], work: Path
) -> tuple[dict[str, Path], dict[str, Path], dict[str, dict[int, str]]]:
    """Each exercise's cut-down solution and each mutant's cut-down notebook, written to ``work``.

    Returns their paths (by exercise, by mutant id) and, by mutant id, the
    whole notebook's name of each cell of the cut-down one (by its number there).
    """
    regions = answer_regions(nb)
    cells = {ex: {r.cell_index for r in regions if r.exercise == ex} for ex in exercises}
    names = {ex: exercise_names(rubric.exercise(ex)) for ex in exercises}
    solutions: dict[str, Path] = {}
    for number, ex in enumerate(exercises):
        solutions[ex] = work / f"solution-{number}.ipynb"
        _write(exercise_slice(nb, cells[ex], names[ex])[0], solutions[ex])
    notebooks: dict[str, Path] = {}
    labels: dict[str, dict[int, str]] = {}
    for mutant in mutants:
        notebooks[mutant.id] = work / f"{mutant.id}.ipynb"
        cut, kept = exercise_slice(mutant_notebook(nb, mutant), cells[mutant.exercise], names[mutant.exercise])
        _write(cut, notebooks[mutant.id])
        labels[mutant.id] = {number: cell_label(index, nb["cells"][index]) for number, index in enumerate(kept, start=1)}
    return solutions, notebooks, labels


def _write_whole(nb: Any, mutants: Sequence[Mutant], work: Path) -> dict[str, Path]:
    """Each mutant's whole notebook, written to ``work``: its path by mutant id."""
    paths = {}
    for mutant in mutants:
        paths[mutant.id] = work / f"{mutant.id}-whole.ipynb"
        _write(mutant_notebook(nb, mutant), paths[mutant.id])
    return paths


def _renumber(text: str, labels: dict[int, str]) -> str:
    """Fault lines of a cut-down notebook say "cell 2": name the cell as the whole notebook does."""
    return _CELL.sub(lambda found: labels.get(int(found.group(1)), found.group(0)), text) if labels else text


def _write(nb: Any, path: Path) -> None:
    path.write_text(nbformat.writes(nb), encoding="utf-8")


def _checks_with(result: SubmissionResult, pick: Callable[[Any], bool]) -> str:
    found = [f"{ex.id}/{c.id} {c.score:g}/{c.max_score:g} ({_short(c.message, 120)})" for ex in result.exercises for c in ex.checks if pick(c)]
    return shorten_items(found, most=6)


def _short(text: str, limit: int = 300) -> str:
    return clean_text(" ".join(text.split()), limit)
