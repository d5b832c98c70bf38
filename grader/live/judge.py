"""The judge side of ``%grade``: a process of its own that plans, judges and scores; no student code runs here.

The magic (:mod:`grader.live.magic`) starts it as ``python -m grader.live.judge``
when the extension loads and keeps it for the kernel's life, so that its
imports (yaml, jsonschema, torch for the reference) are paid once, before the
first ``%grade``. It reads one JSON request per line on stdin and writes one
JSON reply per line on stdout; nothing is ever pickled. Every request has an
``id`` and an ``op``; every reply repeats the ``id`` and says ``ok``:

``warm`` {rubric, notebook}
    Load the assignment and its reference and warm the checks up (no reply
    needed by the kernel, but one is sent).
``plan`` {rubric, notebook, only, have_sources}
    The probe calls for the chosen exercises, as the request text the probe
    runtime's ``run`` takes, the rubric's probe timeout, a token, and the probe
    sources (runtime first) unless the kernel already has those
    (``have_sources`` is their digest).
``judge`` {answers, interrupted, printed}
    The answers the kernel collected (the runtime's JSON texts), judged and
    scored with the pipeline's own code (:func:`grader.pipeline.judge_and_score`):
    the result as JSON, and rendered as text and HTML.
``render_fresh`` {report, notebook}
    The official grade's JSON report (``python -m grader NOTEBOOK --format
    json``), rendered the same way.

The seed of the random test points is fixed per rubric (the rubric's seed),
so repeated ``%grade`` calls ask the same questions. Checks that read what the
notebook *printed* (``reads_printed_output`` on the kind) are judged against the
outputs stored in the saved notebook file; when there is no such file, or it
holds no outputs, they are left out of the live score and the report says so.
Written answers in markdown cells tagged ``answer:NAME`` (read by kinds with
``reads_answer_cells``) are read from the saved notebook file too; when the kernel
does not know its file, only the string variables are judged, and a report in
which such a check did not pass says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

from grader.assignments import answer_fit, choose_assignment, choose_by_names, installed_assignments
from grader.checks import JudgeContext
from grader.checks.registry import CHECK_KINDS
from grader.errors import GraderError, UsageError
from grader.load import answer_cells_of, written_answers
from grader.pipeline import PlannedCheck, judge_and_score, load_reference, plan_probes, prepare_judges
from grader.probes import probe_sources
from grader.probes.protocol import ProbeRequest, parse_answers
from grader.reporters import grade_note
from grader.reporters.notebook import LIVE_NOTE, NotebookReport, deferred_note, render_notebook_html, render_notebook_text
from grader.results import CellRun, Execution, ExerciseResult, Outcome, SubmissionResult
from grader.rubric import CheckSpec, ExerciseSpec, Rubric, load_rubric
from grader.scoring import total
from grader.version import __version__


def reads_printed_output(check: CheckSpec) -> bool:
    """Whether the check's judge reads the notebook's printed output (``ctx.execution.printed_text``), not a definition."""
    return CHECK_KINDS[check.kind].reads_printed_output


def reads_answer_cells(check: CheckSpec) -> bool:
    """Whether the check's judge reads written answers from the notebook's markdown cells (``ctx.written``)."""
    return CHECK_KINDS[check.kind].reads_answer_cells


UNKNOWN_FILE_WRITTEN = ("The kernel does not know which notebook file it runs, so answers written in markdown cells "
                        "(tagged answer:NAME) cannot be read here: only answers stored in string variables were judged.")


MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024


def live_seed(rubric: Rubric) -> int:
    """The seed of the live grade's test points: the rubric's, fixed, so that every ``%grade`` asks the same questions."""
    digest = hashlib.sha256(f"{rubric.assignment}:{rubric.seed}:live".encode()).digest()
    return int.from_bytes(digest[:6], "big")


@dataclass(frozen=True)
class SavedOutputs:
    """What a saved notebook printed, cell by cell, or why it cannot be read (``cells`` is None then).

    ``written`` holds its written answers (:func:`grader.load.written_answers`),
    None when the file is unknown or unreadable.
    """

    cells: tuple[CellRun, ...] | None
    sources: dict[int, str]
    note: str
    written: dict[str, str] | None = None


def read_saved_outputs(notebook: Path | None, now: float | None = None) -> SavedOutputs:
    """The stdout stored in a saved notebook's code cells (the output the student saw when they last saved).

    A notebook with no stored output at all has never been saved after running
    (or its outputs were cleared): its printed output is unknown, not empty.
    """
    if notebook is None:
        return SavedOutputs(None, {}, "The kernel does not know which notebook file it runs, so what the notebook printed cannot be read here.")
    try:
        with notebook.open("rb") as handle:
            data = json.loads(handle.read(MAX_NOTEBOOK_BYTES))
        saved = notebook.stat().st_mtime
    except (OSError, ValueError) as exc:
        return SavedOutputs(None, {}, f"The saved notebook {notebook.name} cannot be read ({type(exc).__name__}).")
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        return SavedOutputs(None, {}, f"The saved file {notebook.name} is not a notebook with cells.")
    written = written_answers(answer_cells_of(cells))
    runs, sources, any_output = [], {}, False
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        stored = cell.get("outputs")
        outputs = stored if isinstance(stored, list) else []
        any_output = any_output or bool(outputs)
        runs.append(CellRun(number, "ok", stdout="".join(_stdout_text(output) for output in outputs)))
        sources[number] = _text(cell.get("source"))
    if not any_output:
        return SavedOutputs(None, {}, f"The saved file {notebook.name} holds no outputs: save the notebook after running it.", written)
    age = max(0.0, (time.time() if now is None else now) - saved)
    note = f"What the notebook printed is read from the saved file {notebook.name} (saved {_ago(age)})."
    return SavedOutputs(tuple(runs), sources, note, written)


def _stdout_text(output: Any) -> str:
    if isinstance(output, dict) and output.get("output_type") == "stream" and output.get("name") == "stdout":
        return _text(output.get("text"))
    return ""


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def resolve_rubric(rubric: str | None, notebook: str | None, names: list[str] | None = None) -> tuple[Path, str]:
    """The rubric to grade with, and why that one: ``--rubric``, else the notebook's assignment, else the one whose answers
    the kernel's names clearly define (``names``: what the live namespace defines), else the only one installed."""
    if rubric:
        by_id = {} if Path(rubric).exists() else {a.id: a.rubric_path for a in installed_assignments()}
        return by_id.get(rubric, Path(rubric)), "given with --rubric"
    assignments = installed_assignments()
    if notebook:
        try:
            choice = choose_assignment(Path(notebook), assignments)
        except UsageError as exc:
            raise UsageError(f"{exc.message.replace('give the rubric with --rubric', 'choose one with %grade --rubric PATH')}") from None
        return choice.assignment.rubric_path, choice.reason
    if len(assignments) == 1:
        return assignments[0].rubric_path, "the only assignment installed"
    by_names = choose_by_names({str(n) for n in names or ()}, assignments)
    if by_names is not None:
        present, total = answer_fit({str(n) for n in names or ()}, by_names)
        return by_names.rubric_path, f"the kernel defines the answers of this assignment ({present} of {total} exercises)"
    listed = "; ".join(f"{a.id} ({a.title}): {a.rubric_path}" for a in assignments) or "none"
    raise UsageError(
        "this kernel does not say which notebook file it runs, so the assignment cannot be read from it. "
        f"Installed assignments: {listed}. Choose one with %grade --rubric PATH (or open the notebook from its file in JupyterLab, "
        "Notebook 7 or VS Code)."
    )


@dataclass(frozen=True)
class LivePlan:
    """One ``%grade`` request, planned: what the kernel is asked and what the judge needs afterwards."""

    rubric: Rubric
    exercises: list[ExerciseSpec]
    planned: list[PlannedCheck]
    request: ProbeRequest
    reference: ModuleType
    deferred: tuple[tuple[str, str, float], ...]
    outputs: SavedOutputs
    chosen_because: str
    notebook: Path | None


class Judge:
    """The judge process's state: loaded rubrics and references, the plans made so far, the plan being answered."""

    def __init__(self) -> None:
        self._rubrics: dict[Path, tuple[int, Rubric]] = {}
        self._references: dict[Path, ModuleType] = {}
        self._plans: dict[tuple[Any, ...], tuple[list[PlannedCheck], ProbeRequest]] = {}
        self._pending: LivePlan | None = None
        self._sources = [[source.label, source.source] for source in probe_sources()]
        self._sources_sha = hashlib.sha256(json.dumps(self._sources).encode()).hexdigest()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """One reply for one request (never raises: a failure is an ``ok: false`` reply with a message)."""
        op = request.get("op")
        handlers = {"warm": self.warm, "plan": self.plan, "judge": self.judge, "render_fresh": self.render_fresh}
        try:
            if op not in handlers:
                raise UsageError(f"unknown request {op!r}")
            reply = handlers[op](request)
        except GraderError as exc:
            reply = {"ok": False, "message": exc.message}
        except Exception as exc:  # noqa: BLE001 - the judge stays up; the magic shows the fault as the grader's
            reply = {"ok": False, "message": f"the grader failed ({type(exc).__name__}: {exc}); this is not your fault", "bug": True}
        return {"id": request.get("id"), **reply}

    def warm(self, request: dict[str, Any]) -> dict[str, Any]:
        """Load the assignment the kernel will most likely ask for, and plan all of it, before the first ``%grade``.

        When the kernel cannot say which (no notebook file, nothing defined yet),
        every installed assignment is warmed: after torch's import each costs a
        fraction of a second, and the first ``%grade --rubric ID`` then answers at once.
        """
        try:
            self._plan(request.get("rubric"), request.get("notebook"), (), request.get("names"))
        except GraderError:
            for assignment in installed_assignments():
                with contextlib.suppress(GraderError):  # %grade itself will say what is wrong
                    self._plan(str(assignment.rubric_path), None, ())
        return {"ok": True}

    def warmed(self) -> set[Path]:
        """The rubrics whose checks are planned and whose reference is imported."""
        return {path for path, _, _ in self._plans}

    def plan(self, request: dict[str, Any]) -> dict[str, Any]:
        """The probe calls for one ``%grade`` (see the module docstring)."""
        only = tuple(str(ex) for ex in request.get("only") or ())
        plan = self._plan(request.get("rubric"), request.get("notebook"), only, request.get("names"))
        self._pending = plan
        reply = {
            "ok": True,
            "assignment": plan.rubric.assignment,
            "token": plan.request.token,
            "calls": json.dumps([call.as_json() for call in plan.request.calls]),
            "probe_timeout_s": plan.rubric.limits.probe_timeout_s,
            "sources_sha": self._sources_sha,
        }
        if request.get("have_sources") != self._sources_sha:
            reply["sources"] = self._sources
        return reply

    def judge(self, request: dict[str, Any]) -> dict[str, Any]:
        """Judge and score the answers to the last plan; the result as JSON, text and HTML."""
        plan = self._pending
        if plan is None:
            raise UsageError("nothing was planned: ask for a plan first")
        answers = parse_answers([str(a) for a in request.get("answers") or [] if isinstance(a, str)], plan.request.calls)
        cells = plan.outputs.cells or ()
        execution = Execution(cells, (), (), {"mode": "live"}, 0.0)
        context = JudgeContext(plan.reference, execution, plan.outputs.sources, plan.outputs.written or {})
        exercises = judge_and_score(plan.planned, answers, context, plan.exercises)
        score, max_score = total(exercises)
        result = SubmissionResult(
            submission=str(plan.notebook or "running kernel"), student="", assignment=plan.rubric.assignment,
            status="graded", score=score, max_score=max_score, exercises=exercises, errors=tuple(_kernel_events(request)),
            duration_s=float(request.get("seconds") or 0.0), rubric_sha256=plan.rubric.sha256, grader_version=__version__,
            seed=live_seed(plan.rubric), environment={"mode": "live"},
        )
        notes = [LIVE_NOTE]
        if plan.deferred:
            notes.append(deferred_note(plan.deferred, plan.outputs.note))
        elif any(reads_printed_output(item.check.spec) for item in plan.planned):
            notes.append(plan.outputs.note)
        if plan.outputs.written is None and _written_unpassed(plan.planned, exercises):
            notes.append(UNKNOWN_FILE_WRITTEN)
        report = NotebookReport(f"Live check of {plan.rubric.assignment} ({plan.chosen_because})", tuple(notes), result)
        return {"ok": True, "result": result.as_dict(), "text": render_notebook_text(report), "html": render_notebook_html(report)}

    def render_fresh(self, request: dict[str, Any]) -> dict[str, Any]:
        """The official grade's JSON report as text and HTML."""
        report = request.get("report")
        if not isinstance(report, dict):
            raise UsageError("no report to show")
        result = SubmissionResult.from_dict(report)
        name = Path(str(request.get("notebook") or result.submission)).name
        notes = [grade_note(result), f"It grades the file as last saved ({name}): save the notebook first to grade your latest changes."]
        if result.environment.get("mode") == "portable":
            notes.append("Portable mode (no sandbox here): your code ran as you, with your files and network; grades are the same.")
        which = "Kit grade" if result.environment.get("grade") == "kit" else "Official grade"
        heading = f"{which} of {name} ({result.assignment}), {result.duration_s:.1f}s"
        shown = NotebookReport(heading, tuple(notes), result, errors_heading="While running your notebook:")
        return {"ok": True, "text": render_notebook_text(shown), "html": render_notebook_html(shown)}

    def _plan(self, rubric_arg: str | None, notebook_arg: str | None, only: tuple[str, ...], names: Any = None) -> LivePlan:
        rubric_path, why = resolve_rubric(rubric_arg, notebook_arg, names if isinstance(names, list) else None)
        rubric = self._rubric(rubric_path)
        known = [ex.id for ex in rubric.exercises]
        unknown = [ex for ex in only if ex not in known]
        if unknown:
            raise UsageError(f"{unknown[0]}: no such exercise in {rubric.assignment} (choose from {', '.join(known)})")
        notebook = Path(notebook_arg) if notebook_arg else None
        chosen = [ex for ex in rubric.exercises if not only or ex.id in only]
        needs_file = any(reads_printed_output(check) or reads_answer_cells(check) for ex in chosen for check in ex.checks)
        outputs = read_saved_outputs(notebook) if needs_file else SavedOutputs(None, {}, "")
        exercises, deferred = _judged_here(chosen, printed_known=outputs.cells is not None)
        key = (rubric.path.resolve(), rubric.sha256, tuple((ex.id, tuple(c.id for c in ex.checks)) for ex in exercises))
        if key not in self._plans:
            planned, request = plan_probes(exercises, live_seed(rubric))
            reference = prepare_judges(rubric.reference_path, planned)  # the reference's import and the checks' first-time work, once
            self._references.setdefault(rubric.reference_path, reference)
            self._plans[key] = (planned, request)
        planned, request = self._plans[key]
        return LivePlan(rubric, exercises, planned, request, self._reference(rubric.reference_path), deferred, outputs, why, notebook)

    def _rubric(self, path: Path) -> Rubric:
        resolved = path.resolve()
        try:
            stamp = resolved.stat().st_mtime_ns
        except OSError:
            stamp = -1  # load_rubric says what is wrong
        cached = self._rubrics.get(resolved)
        if cached is None or cached[0] != stamp:
            self._rubrics[resolved] = (stamp, load_rubric(path, CHECK_KINDS))
        return self._rubrics[resolved][1]

    def _reference(self, path: Path) -> ModuleType:
        if path not in self._references:
            self._references[path] = load_reference(path)
        return self._references[path]


def _judged_here(exercises: list[ExerciseSpec], printed_known: bool) -> tuple[list[ExerciseSpec], tuple[tuple[str, str, float], ...]]:
    """The exercises with the checks the live grade can judge, and the checks left to the official grade."""
    if printed_known:
        return exercises, ()
    kept, deferred = [], []
    for exercise in exercises:
        checks = tuple(c for c in exercise.checks if not reads_printed_output(c))
        deferred += [(exercise.id, c.title, c.points) for c in exercise.checks if reads_printed_output(c)]
        kept.append(dataclasses.replace(exercise, checks=checks))
    return kept, tuple(deferred)


def _written_unpassed(planned: list[PlannedCheck], exercises: tuple[ExerciseResult, ...]) -> bool:
    """Whether a check that reads markdown answer cells did not pass (the answer may be in a cell this grade could not read)."""
    readers = {(item.exercise.id, item.check.spec.id) for item in planned if reads_answer_cells(item.check.spec)}
    return any((ex.id, check.id) in readers and check.outcome is not Outcome.PASSED for ex in exercises for check in ex.checks)


def _kernel_events(request: dict[str, Any]) -> list[str]:
    """One line per thing the kernel side saw while it asked: interrupted calls, printed output held back."""
    lines = []
    interrupted = request.get("interrupted")
    if isinstance(interrupted, int) and interrupted > 0:
        lines.append(
            f"your code was stopped {interrupted} time{'s' if interrupted != 1 else ''} after running past the time limit "
            "(a loop that never ends?); the check that called it says which"
        )
    printed = request.get("printed")
    if isinstance(printed, int) and printed > 0:
        lines.append(f"your functions printed {printed} characters while they were checked; that output is not shown")
    return lines


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Answer requests, one JSON line each, until stdin closes (the kernel is gone)."""
    judge = Judge()
    for line in stdin:
        try:
            request = json.loads(line)
        except ValueError:
            continue
        if not isinstance(request, dict):
            continue
        reply = judge.handle(request)
        stdout.write(json.dumps(reply, ensure_ascii=True).encode("ascii") + b"\n")
        stdout.flush()


def main() -> None:
    """``python -m grader.live.judge``: serve the kernel on stdin/stdout; anything else printed goes to stderr."""
    protocol_out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a print in an import or a reference module must never corrupt the protocol
    serve(sys.stdin.buffer, protocol_out)


if __name__ == "__main__":
    main()
