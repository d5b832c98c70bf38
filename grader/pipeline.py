"""The orchestrator: load -> execute -> probe -> judge -> score, for one submission."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import random
import re
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.checks import Check, JudgeContext, cell_label, split_cell_error, where_in_cell
from grader.checks.registry import CHECK_KINDS
from grader.errors import ReferenceError_, SubmissionError
from grader.kernel.execute import CellProgress, execute_submission
from grader.kernel.sandbox import Mode, choose_mode
from grader.load import Submission, load_submission, written_answers
from grader.probes import prepare_answer_checks, request_problem
from grader.probes.protocol import Answer, ProbeCall, ProbeRequest, parse_answers
from grader.results import Blame, CheckResult, Execution, ExerciseResult, Outcome, SubmissionResult, Verdict
from grader.rubric import ExerciseSpec, Limits, Rubric
from grader.scoring import check_result, exercise_result, total
from grader.version import __version__


@dataclass(frozen=True)
class Options:
    """How to grade: which exercises, which limits, what to keep out of the kernel's sight."""

    only: tuple[str, ...] = ()
    limits: Limits | None = None
    hide: tuple[Path, ...] = ()
    student: str = ""
    warm_kernels: bool = True
    portable: bool = False  # force portable mode; it is automatic where the Linux sandbox cannot run (grader.kernel.sandbox.choose_mode)
    # A fixed seed for the random test points instead of derive_seed's: `grade check-rubric` grades a
    # solution and its mutants at the same points, so that equal answers mean equal behaviour.
    seed: int | None = None
    # The reference module to judge with instead of importing the rubric's: `grade kit` passes the rubric's own reference
    # wrapped so that every question the judges ask of it is recorded (grader/kit/replay.py).
    reference: ModuleType | None = None
    # Also put a digest of each exercise's probe answers in the result's environment (:func:`answer_digests`): `grade
    # check-rubric` asks for them to tell equivalent mutants; other results do not carry them.
    answer_digests: bool = False
    # Told about a student cell that is still running after a few seconds (`grade` prints which, and how long it has left).
    on_progress: Callable[[CellProgress], None] | None = None


@dataclass
class PlannedCheck:
    """A check with the slice of the probe request that holds its calls (made by :func:`plan_probes`)."""

    exercise: ExerciseSpec
    check: Check
    calls: list[ProbeCall] = field(default_factory=list)
    start: int = 0
    states_at: int = -1  # the index of the exercise's answer_states call, if it has one
    plan_error: str = ""  # a planned request its probe does not accept: a grader bug, judged as such


def grade_submission(path: Path, rubric: Rubric, options: Options = Options()) -> SubmissionResult:
    """Grade one submission file against ``rubric``. Never raises for anything the submission does."""
    started = time.monotonic()
    limits = options.limits or rubric.limits
    try:
        submission = load_submission(path, limits.max_submission_mb)
    except SubmissionError as exc:
        return unusable(path, rubric, exc.message, started, options.student)
    exercises = [ex for ex in rubric.exercises if not options.only or ex.id in options.only]
    seed = options.seed if options.seed is not None else derive_seed(rubric, submission)
    planned, request = plan_probes(exercises, seed)
    mode = choose_mode(options.portable)
    with ThreadPoolExecutor(max_workers=1) as pool:  # the reference's torch import overlaps the kernel's run
        reference = pool.submit(prepare_judges, rubric.reference_path, planned, options.reference)
        execution = execute_submission(
            submission, functools.partial(request.prelude, seed, limits.probe_timeout_s, portable=mode is Mode.PORTABLE),
            request.cell_source, limits,
            request.mime, hide=[*default_hidden(rubric), *options.hide], warm=options.warm_kernels, mode=mode,
            on_progress=options.on_progress, call_exercises=call_exercises(planned, len(request.calls)),
        )
        if execution.kernel_failed:
            return unusable(path, rubric, execution.kernel_failed, started, options.student, Blame.INFRASTRUCTURE)
        answers = parse_answers(execution.probe_outputs, request.calls, execution.left_out_calls)
        sources = {cell.number: cell.source for cell in submission.code_cells}
        context = JudgeContext(_reference(reference), execution, sources, written_answers(submission.answer_cells))
    results = judge_and_score(planned, answers, context, exercises)
    score, max_score = total(results)
    return SubmissionResult(
        submission=str(path),
        student=options.student or submission.student,
        assignment=rubric.assignment,
        status="graded",
        score=score,
        max_score=max_score,
        exercises=results,
        errors=tuple(fault_lines(execution, planned, sources)),
        duration_s=round(time.monotonic() - started, 3),
        sha256=submission.sha256,
        rubric_sha256=rubric.sha256,
        grader_version=__version__,
        seed=seed,
        environment={**environment(execution, answer_digests(planned, answers) if options.answer_digests else None),
                     **({"grade": "kit"} if rubric.is_kit else {})},
    )


def environment(execution: Execution, digests: dict[str, str] | None) -> dict[str, Any]:
    """Where and how the submission ran (isolation, mode, the kernel's peak memory), and its answer digests when asked for."""
    found: dict[str, Any] = {**execution.isolation, **_warm_server(execution), "kernel_peak_mb": execution.kernel_peak_mb}
    if digests is not None:
        found["answer_digests"] = digests
    return found


def _warm_server(execution: Execution) -> dict[str, object]:
    """Which warm-kernel server forked the kernel (grader.kernel.warm.server_facts), when one did."""
    if not execution.isolation.get("warm_kernel"):
        return {}
    from grader.kernel.warm import server_facts  # only for a warm kernel: it imports the server's client side

    return server_facts()


def unusable(
    path: Path, rubric: Rubric, reason: str, started: float, student: str = "", blame: Blame = Blame.SUBMISSION
) -> SubmissionResult:
    """The result for a submission that could not be graded at all: every exercise 0, one reason, whose fault."""
    verdict = Verdict(Outcome.ERROR, 0.0, reason, blame) if blame.students_fault else Verdict.broken(reason, blame)
    exercises = tuple(
        ExerciseResult(ex.id, ex.title, 0.0, ex.max_score, tuple(check_result(c, verdict) for c in ex.checks))
        for ex in rubric.exercises
    )
    return SubmissionResult(
        submission=str(path),
        student=student or Path(path).stem,
        assignment=rubric.assignment,
        status="error",
        score=0.0,
        max_score=rubric.max_score,
        exercises=exercises,
        errors=(reason,),
        duration_s=round(time.monotonic() - started, 3),
        reason=reason,
        rubric_sha256=rubric.sha256,
        grader_version=__version__,
        blame=blame,
    )


def unreadable(path: Path, reason: str) -> SubmissionResult:
    """The result for a file that could not be read, when not even its assignment is known (no rubric, no exercises)."""
    return SubmissionResult(
        submission=str(path), student=Path(path).stem, assignment="", status="error", score=0.0, max_score=0.0,
        exercises=(), errors=(reason,), duration_s=0.0, reason=reason, grader_version=__version__, blame=Blame.SUBMISSION,
    )


def derive_seed(rubric: Rubric, submission: Submission) -> int:
    """Random test points depend on the rubric's seed and the submission, never on the clock.

    A rubric with ``fixed_points: true`` (a student kit's) gives every submission
    the same points, :func:`fixed_seed`'s: the kit holds expected values recorded
    at those points only.
    """
    if rubric.fixed_points:
        return fixed_seed(rubric)
    digest = hashlib.sha256(f"{rubric.assignment}:{rubric.seed}:{submission.sha256}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


def fixed_seed(rubric: Rubric) -> int:
    """The seed of a rubric's fixed test points, the same for every submission.

    ``%grade`` asks these points too (``live_seed`` in grader/live/judge.py
    computes the same value), so that a student kit, whose expected values exist
    only at these points, grades alike in a terminal and in a notebook.
    """
    digest = hashlib.sha256(f"{rubric.assignment}:{rubric.seed}:live".encode()).digest()
    return int.from_bytes(digest[:6], "big")


def plan_probes(exercises: list[ExerciseSpec], seed: int) -> tuple[list[PlannedCheck], ProbeRequest]:
    """Instantiate every check and gather their probe calls into one request.

    An exercise that names its ``answers`` first asks whether they are still
    stubs (the call right before its checks' calls; see :func:`unattempted`).
    """
    planned: list[PlannedCheck] = []
    calls: list[ProbeCall] = []
    for exercise in exercises:
        states_at = len(calls) if exercise.answers else -1
        if exercise.answers:
            calls.append(ProbeCall("answer_states", {"answers": list(exercise.answers)}))
        for spec in exercise.checks:
            check = CHECK_KINDS[spec.kind](spec)
            rng = random.Random(f"{seed}:{exercise.id}:{spec.id}")
            own = check.plan(rng)
            problem = next((p for call in own if (p := request_problem(call.probe, call.args))), "")
            planned.append(PlannedCheck(exercise, check, [] if problem else own, len(calls), states_at, problem))
            calls.extend([] if problem else own)
    return planned, ProbeRequest(tuple(calls))


def answer_digests(planned: list[PlannedCheck], answers: list[Answer]) -> dict[str, str]:
    """Per exercise, a SHA-256 of the kernel's answers to that exercise's probe calls (its stub question included).

    Two submissions graded with the same seed whose digests agree for an exercise
    gave the same answer to every question its checks asked: ``grade
    check-rubric`` calls a surviving mutant with its solution's digest
    "equivalent-suspected".
    """
    indices: dict[str, set[int]] = {}
    for item in planned:
        own = indices.setdefault(item.exercise.id, set())
        own.update(range(item.start, item.start + len(item.calls)))
        if item.states_at >= 0:
            own.add(item.states_at)
    digests = {}
    for exercise, numbers in indices.items():
        seen = [[a.ok, a.value, a.error_type, a.error_message] for a in (answers[i] for i in sorted(numbers))]
        digests[exercise] = hashlib.sha256(json.dumps(seen, sort_keys=True, default=repr).encode()).hexdigest()
    return digests


def load_reference(path: Path) -> ModuleType:
    """Import the rubric's reference module from its file (in the grader's process only)."""
    spec = importlib.util.spec_from_file_location(f"grader_reference_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ReferenceError_(f"{path}: cannot load the reference module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare_judges(path: Path, planned: list[PlannedCheck], given: ModuleType | None = None) -> ModuleType:
    """Load the reference (unless one is given) and let checks do their slow first-time work, while the kernel runs."""
    module = given if given is not None else load_reference(path)
    prepare_answer_checks({call.probe for item in planned for call in item.calls})
    for item in planned:
        try:
            item.check.warm_up(item.calls)
        except Exception:  # noqa: BLE001 - only a head start: judge() meets any real problem itself
            pass
    return module


def call_exercises(planned: list[PlannedCheck], count: int) -> list[str]:
    """The exercise of each of the ``count`` probe calls, by index (its stub question included)."""
    owners = [""] * count
    for item in planned:
        for index in [*range(item.start, item.start + len(item.calls)), *([item.states_at] if item.states_at >= 0 else [])]:
            owners[index] = item.exercise.id
    return owners


def default_hidden(rubric: Rubric) -> list[Path]:
    """Folders the kernel must not see: the rubric's and the reference's."""
    return sorted({rubric.path.resolve().parent, rubric.reference_path.parent})


def _reference(future: Future[ModuleType]) -> ModuleType:
    try:
        return future.result()
    except ReferenceError_:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to import the reference is a rubric fault
        raise ReferenceError_(f"the reference module failed to load: {type(exc).__name__}: {exc}") from None


def judge_and_score(
    planned: list[PlannedCheck], answers: list[Answer], context: JudgeContext, exercises: list[ExerciseSpec]
) -> tuple[ExerciseResult, ...]:
    """The judge and score stages: every planned check judged from its answers, then scored per exercise.

    Shared by :func:`grade_submission` and the ``%grade`` magic's judge
    process (:mod:`grader.live.judge`), so both grade the same answers alike.
    """
    return tuple(exercise_result(exercise, [judged for _, judged in checks]) for exercise, checks in _judge_all(planned, answers, context, exercises))


def _judge_all(
    planned: list[PlannedCheck], answers: list[Answer], context: JudgeContext, exercises: list[ExerciseSpec]
) -> list[tuple[ExerciseSpec, list[tuple[PlannedCheck, CheckResult]]]]:
    by_exercise: dict[str, list[tuple[PlannedCheck, CheckResult]]] = {ex.id: [] for ex in exercises}
    for item in planned:
        stubs = unattempted(item.exercise, answers[item.states_at], context) if item.states_at >= 0 else ""
        if item.plan_error:
            verdict = Verdict.broken(f"the grader planned a question the kernel does not accept ({item.plan_error})")
        elif stubs:
            verdict = Verdict.not_attempted(stubs)
        else:
            verdict = _with_failed_cell(_judge_one(item, answers[item.start : item.start + len(item.calls)], context), item, context)
        by_exercise[item.exercise.id].append((item, check_result(item.check.spec, verdict)))
    return [(ex, by_exercise[ex.id]) for ex in exercises]


_STATE_WORDS = {"missing": "not defined", "none": "None", "stub": "a stub", "foreign": "imported, not written"}


def unattempted(exercise: ExerciseSpec, answer: Answer, context: JudgeContext) -> str:
    """The "not attempted" message when every answer of ``exercise`` is still a stub ('' when one is not).

    CONTRACT-04: an exercise whose answers are all still stubs scores 0,
    including any check of code the lesson gave. Without a usable answer (the
    kernel died while asking), or when an answer is missing because the cell
    that defines it failed, the checks judge for themselves and name the fault.
    """
    states = answer.value if answer.ok and isinstance(answer.value, dict) else None
    if states is None or any(states.get(name) not in _STATE_WORDS for name in exercise.answers):
        return ""
    if any(context.written.get(name) for name in exercise.answers):  # written in its markdown answer cell
        return ""
    if any(states[name] == "missing" and context.why_missing(name.split(".")[0]) for name in exercise.answers):
        return ""
    grouped: dict[str, list[str]] = {}
    for name in exercise.answers:
        unwritten = states[name] == "missing" and name in context.written  # its tagged markdown cell holds the placeholder
        grouped.setdefault("its markdown cell still the placeholder" if unwritten else _STATE_WORDS[str(states[name])], []).append(f"`{name}`")
    shown = "; ".join(f"{', '.join(names)}: {word}" for word, names in grouped.items())
    return f"not attempted: every answer of this exercise is still a stub ({shown})"


def _with_failed_cell(verdict: Verdict, item: PlannedCheck, context: JudgeContext) -> Verdict:
    """A "not attempted" verdict names the failed cell that defines what it looked for (a syntax error, say)."""
    if verdict.outcome is not Outcome.NOT_ATTEMPTED or "did not finish" in verdict.message:
        return verdict
    for name in sorted(item.check.names()):
        hint = context.why_missing(name.split(".")[0])
        if hint:
            return replace(verdict, message=verdict.message + hint)
    return verdict


def _judge_one(item: PlannedCheck, answers: list[Answer], context: JudgeContext) -> Verdict:
    try:
        return item.check.judge(item.calls, answers, context)
    except Exception as exc:  # noqa: BLE001 - a grader bug must not cost the rest of the submission
        return Verdict.broken(f"the grader failed on this check ({type(exc).__name__}: {exc})")


def fault_lines(execution: Execution, planned: list[PlannedCheck], sources: dict[int, str]) -> list[str]:
    """One plain line per fault: which cell, what happened, what it may cost."""
    lines = []
    for cell in execution.cells:
        if cell.status in ("ok", "not_run", "skipped"):
            continue
        error, line = split_cell_error(cell.error)
        error = error.rstrip(": ")  # `raise NotImplementedError` has no message: no dangling colon
        what = {"error": f"raised {error}", "timeout": error, "crashed": f"stopped the kernel: {error}"}[cell.status]
        affected = _exercises_using(sources.get(cell.number, ""), planned)
        if affected and cell.status == "error" and error.startswith(("SyntaxError", "IndentationError", "TabError")):
            cost = f"nothing in that cell ran, so what it defines is missing: it may cost {', '.join(affected)}"
        else:
            cost = f"it may cost {', '.join(affected)}" if affected else "no graded answer is defined there"
        where = where_in_cell(cell.number, sources, line)
        lines.append(f"{cell_label(cell.number, sources)} {what} ({cost})" + (f"; {where}" if where else ""))
    lines.extend(execution.events)
    return [" ".join(line.split()) for line in lines]  # student text may hold line breaks: one line each


def _exercises_using(source: str, planned: list[PlannedCheck]) -> list[str]:
    found: list[str] = []
    for item in planned:
        if item.exercise.id in found:
            continue
        if any(re.search(rf"\b{re.escape(name)}\b", source) for name in item.check.names()):
            found.append(item.exercise.id)
    return found
