"""How the class did: a terminal table and ``summary.html`` with matplotlib pictures.

The page is self-contained: plots are PNGs embedded as base64 data URIs, drawn
with matplotlib's Agg canvas (no display, no pyplot state). Submissions that
could not be graded are left out of the score statistics and listed instead.
Every student's name links to their feedback page (``feedback/<name>.html``,
relative, so the results folder can be moved or zipped). The rubric's
mutation score is shown when ``grade check-rubric`` recorded one for this very
rubric (:mod:`grader.mutation.scores`); with a roster, the students who
submitted nothing and the submissions not on the roster are listed.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from grader.reporters import clean_text
from grader.reporters.feedback import page
from grader.reporters.gradebook import student_sort_key
from grader.results import RosterMatch, SubmissionResult
from grader.rubric import ExerciseSpec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TOP = 10


@dataclass(frozen=True)
class FailedCheck:
    """A check and how many graded submissions did not get full marks on it."""

    key: str  # "ex1/values"
    title: str
    not_passed: int
    graded: int


def most_failed(results: Sequence[SubmissionResult], top: int = TOP) -> list[FailedCheck]:
    """The checks most often not passed among graded submissions (ties in rubric order)."""
    graded = [r for r in results if r.status == "graded"]
    counts: Counter[str] = Counter()
    titles: dict[str, str] = {}
    for result in graded:
        for exercise in result.exercises:
            for check in exercise.checks:
                key = f"{exercise.id}/{check.id}"
                titles.setdefault(key, check.title)
                counts[key] += 0 if check.passed else 1
    ranked = sorted(titles, key=lambda k: -counts[k])
    return [FailedCheck(k, titles[k], counts[k], len(graded)) for k in ranked if counts[k] > 0][:top]


def problem_kind(result: SubmissionResult) -> str:
    """``could not be graded``, ``timed out``, ``crashed``, ``raised errors`` or ``""`` for a clean run."""
    if result.status != "graded":
        return "could not be graded"
    text = " ".join(result.errors)
    if "ran past" in text:
        return "timed out"
    if "stopped the kernel" in text or "kernel died" in text or "kernel exited" in text:
        return "crashed"
    return "raised errors" if result.errors else ""


def problems(results: Sequence[SubmissionResult]) -> list[tuple[SubmissionResult, str]]:
    """Submissions that errored, timed out or crashed, worst first."""
    order = ["could not be graded", "timed out", "crashed", "raised errors"]
    found = [(r, problem_kind(r)) for r in results if problem_kind(r)]
    return sorted(found, key=lambda item: (order.index(item[1]), student_sort_key(item[0].student)))


def slowest(results: Sequence[SubmissionResult], top: int = TOP) -> list[SubmissionResult]:
    """The submissions that took longest to grade."""
    return sorted(results, key=lambda r: (-r.duration_s, student_sort_key(r.student)))[:top]


def render_table(results: Sequence[SubmissionResult], exercises: Sequence[ExerciseSpec]) -> str:
    """The class's statistics per exercise and total, as a plain-text table."""
    graded = [r for r in results if r.status == "graded"]
    lines = [f"{'':<10}{'mean':>8}{'median':>8}{'min':>8}{'max':>8}{'of':>8}"]
    for label, values, top in _columns(graded, exercises):
        if values:
            mean, median, low, high = _stats(values)
            lines.append(f"{label:<10}{mean:>8.1f}{median:>8.1f}{low:>8g}{high:>8g}{top:>8g}")
        else:
            lines.append(f"{label:<10}{'-':>8}{'-':>8}{'-':>8}{'-':>8}{top:>8g}")
    errored = len(results) - len(graded)
    lines.append(f"{len(results)} submissions: {len(graded)} graded, {errored} could not be graded")
    return "\n".join(lines) + "\n"


def _columns(graded: Sequence[SubmissionResult], exercises: Sequence[ExerciseSpec]) -> list[tuple[str, list[float], float]]:
    columns = []
    for spec in exercises:
        values = [ex.score for r in graded for ex in r.exercises if ex.id == spec.id]
        columns.append((spec.id, values, spec.max_score))
    columns.append(("total", [r.score for r in graded], sum(spec.max_score for spec in exercises)))
    return columns


def _stats(values: list[float]) -> tuple[float, float, float, float]:
    return statistics.fmean(values), statistics.median(values), min(values), max(values)


def render_summary_html(
    results: Sequence[SubmissionResult],
    exercises: Sequence[ExerciseSpec],
    assignment: str,
    links: dict[str, str],
    *,
    mutation: dict[str, Any] | None = None,
    roster: RosterMatch | None = None,
) -> str:
    """The class summary page.

    ``links`` maps a student to the file name of their HTML feedback (in ``feedback/``);
    ``mutation`` is the rubric's stored mutation summary (:func:`grader.mutation.scores.find_mutation_score`);
    ``roster`` the results matched to the class roster.
    """
    graded = [r for r in results if r.status == "graded"]
    body = [
        f"<h1>Class summary: {_h(assignment, 120)}</h1>",
        f"<p>{len(results)} submissions: {len(graded)} graded, {len(results) - len(graded)} could not be graded.</p>",
        *_roster_section(roster),
        "<h2>Score distribution</h2>",
        _statistics_table(graded, exercises),
        _distribution_picture(graded, exercises) if graded else "<p>No submission could be graded.</p>",
        *_mutation_section(mutation),
        *_failed_section(results),
        *_problems_section(results, links),
        *_slowest_section(results, links),
        *_scores_section(results, exercises, links),
    ]
    return page(f"Class summary: {clean_text(assignment, 120)}", "\n".join(body))


def _statistics_table(graded: Sequence[SubmissionResult], exercises: Sequence[ExerciseSpec]) -> str:
    rows = []
    for label, values, top in _columns(graded, exercises):
        cells = [f"{v:.1f}" for v in _stats(values)] if values else ["-"] * 4
        rows.append(f"<tr><td>{_h(label, 40)}</td>{''.join(f'<td>{c}</td>' for c in cells)}<td>{top:g}</td></tr>")
    head = "<tr><th></th><th>mean</th><th>median</th><th>min</th><th>max</th><th>out of</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _failed_section(results: Sequence[SubmissionResult]) -> list[str]:
    failed = most_failed(results)
    if not failed:
        return ["<h2>Checks most often failed</h2>", "<p>Every graded submission passed every check.</p>"]
    rows = "".join(
        f"<tr><td>{_h(f.key, 80)}</td><td>{_h(f.title, 200)}</td><td>{f.not_passed} of {f.graded}</td></tr>" for f in failed
    )
    return [
        "<h2>Checks most often failed</h2>",
        _failed_picture(failed),
        f"<table><tr><th>check</th><th>title</th><th>not passed</th></tr>{rows}</table>",
    ]


def _problems_section(results: Sequence[SubmissionResult], links: dict[str, str]) -> list[str]:
    found = problems(results)
    if not found:
        return ["<h2>Errors and timeouts</h2>", "<p>Every submission ran without errors.</p>"]
    rows = []
    for result, kind in found:
        detail = result.reason if result.status != "graded" else "; ".join(result.errors[:3])
        rows.append(f"<tr><td>{_student(result.student, links)}</td><td>{kind}</td><td>{_h(detail)}</td></tr>")
    return [
        "<h2>Errors and timeouts</h2>",
        _problems_picture(found),
        f"<table><tr><th>student</th><th>what happened</th><th>detail</th></tr>{''.join(rows)}</table>",
    ]


def _slowest_section(results: Sequence[SubmissionResult], links: dict[str, str]) -> list[str]:
    slow = slowest(results)
    rows = "".join(
        f"<tr><td>{_student(r.student, links)}</td><td>{r.duration_s:.1f}</td><td>{_h(r.status, 20)}</td></tr>" for r in slow
    )
    return [
        "<h2>Slowest submissions</h2>",
        _slowest_picture(slow),
        f"<table><tr><th>student</th><th>seconds</th><th>status</th></tr>{rows}</table>",
    ]


def _scores_section(results: Sequence[SubmissionResult], exercises: Sequence[ExerciseSpec], links: dict[str, str]) -> list[str]:
    head = "".join(f"<th>{_h(spec.id, 40)}</th>" for spec in exercises)
    rows = []
    for result in sorted(results, key=lambda r: student_sort_key(r.student)):
        scores = {ex.id: ex.score for ex in result.exercises}
        cells = "".join(f"<td>{scores[s.id]:g}</td>" if s.id in scores else "<td></td>" for s in exercises)
        rows.append(f"<tr><td>{_student(result.student, links)}</td><td>{result.score:g}</td>{cells}<td>{_h(result.status, 20)}</td></tr>")
    return [
        "<h2>All students</h2>",
        f"<table><tr><th>student</th><th>total</th>{head}<th>status</th></tr>{''.join(rows)}</table>",
    ]


def _student(student: str, links: dict[str, str]) -> str:
    name = _h(student, 80)
    target = links.get(student)
    return f'<a href="{html.escape(feedback_href(target))}">{name}</a>' if target else name


def feedback_href(file_name: str) -> str:
    """The relative link to a feedback file: percent-encoded (a name may hold ``é``, ``+`` or ``@``), then HTML-escaped by the caller."""
    return "feedback/" + quote(file_name, safe="")


def _mutation_section(mutation: dict[str, Any] | None) -> list[str]:
    if mutation is None:
        return [
            "<h2>Rubric mutation score</h2>",
            "<p>No mutation score is recorded for this rubric: <code>grade check-rubric</code> measures how many broken "
            "solutions its checks catch.</p>",
        ]
    caught = (
        f"{mutation['killed']} of {mutation['mutants']} mutants caught, {mutation['survived']} survived "
        f"({mutation['equivalent_suspected']} suspected equivalent)"
    )
    rows = "".join(
        f"<tr><td>{_h(exercise, 40)}</td><td>{_percent(counts['score_percent'])}</td><td>{counts['killed']}</td>"
        f"<td>{counts['survived']}</td><td>{counts['equivalent_suspected']}</td><td>{counts['mutants']}</td></tr>"
        for exercise, counts in mutation["per_exercise"].items()
    )
    head = "<tr><th>exercise</th><th>score</th><th>caught</th><th>survived</th><th>suspected equivalent</th><th>mutants</th></tr>"
    return [
        "<h2>Rubric mutation score</h2>",
        f"<p><strong>{_percent(mutation['score_percent'])}</strong>: {caught}; measured {_h(mutation['generated_at'], 40)} "
        "by <code>grade check-rubric</code> on this very rubric.</p>",
        f"<table>{head}{rows}</table>" if rows else "",
    ]


def _percent(value: float) -> str:
    return f"{value:.1f}%"


def _roster_section(roster: RosterMatch | None) -> list[str]:
    if roster is None:
        return []
    missing = roster.missing
    lines = [
        "<h2>Roster</h2>",
        f"<p>{len(roster.rows)} students on the roster: {len(roster.rows) - len(missing)} submitted, {len(missing)} missing; "
        f"{len(roster.unknown)} submissions not on the roster.</p>",
    ]
    if missing:
        names = ", ".join(_h(entry.display_name, 80) for entry in missing)
        lines.append(f"<p>Missing (no submission): {names}</p>")
    if roster.unknown:
        items = "".join(f"<li>{_h(warning, 300)}</li>" for warning in roster.warnings())
        lines.append(f"<p>Not on the roster (left out of the LMS gradebooks):</p><ul>{items}</ul>")
    return lines


def _distribution_picture(graded: Sequence[SubmissionResult], exercises: Sequence[ExerciseSpec]) -> str:
    columns = _columns(graded, exercises)
    columns = [columns[-1], *columns[:-1]]  # the total first
    ncols = min(3, len(columns))
    nrows = -(-len(columns) // ncols)
    fig = _figure(4.0 * ncols, 2.8 * nrows)
    for index, (label, values, top) in enumerate(columns, start=1):
        axes = fig.add_subplot(nrows, ncols, index)
        axes.hist(values, bins=10, range=(0, top or 1), color="#4c72b0", edgecolor="white")
        axes.set_title(f"{_label(label)} (out of {top:g})", fontsize=10)
        axes.set_xlabel("score")
        axes.set_ylabel("submissions")
        _whole_numbers(axes.yaxis)
    fig.tight_layout()
    return _img(fig, "Histograms of the total score and of each exercise's score")


def _failed_picture(failed: list[FailedCheck]) -> str:
    fig = _figure(7.0, 0.45 * len(failed) + 1.2)
    axes = fig.add_subplot()
    labels = [_label(f.key) for f in reversed(failed)]
    axes.barh(labels, [f.not_passed for f in reversed(failed)], color="#dd8452")
    axes.set_xlabel(f"graded submissions that did not pass (of {failed[0].graded})")
    _whole_numbers(axes.xaxis)
    fig.tight_layout()
    return _img(fig, "Bar chart of the checks most often failed")


def _problems_picture(found: list[tuple[SubmissionResult, str]]) -> str:
    counts = Counter(kind for _, kind in found)
    kinds = [k for k in ("could not be graded", "timed out", "crashed", "raised errors") if counts[k]]
    fig = _figure(6.0, 0.5 * len(kinds) + 1.2)
    axes = fig.add_subplot()
    axes.barh(kinds[::-1], [counts[k] for k in kinds[::-1]], color="#c44e52")
    axes.set_xlabel("submissions")
    _whole_numbers(axes.xaxis)
    fig.tight_layout()
    return _img(fig, "Bar chart of submissions that errored, timed out or crashed")


def _slowest_picture(slow: list[SubmissionResult]) -> str:
    colours = {"could not be graded": "#c44e52", "timed out": "#dd8452", "crashed": "#c44e52"}
    fig = _figure(7.0, 0.45 * len(slow) + 1.2)
    axes = fig.add_subplot()
    ordered = list(reversed(slow))
    axes.barh(
        [_label(r.student) for r in ordered],
        [r.duration_s for r in ordered],
        color=[colours.get(problem_kind(r), "#4c72b0") for r in ordered],
    )
    axes.set_xlabel("seconds to grade (red: error or crash, orange: timed out)")
    fig.tight_layout()
    return _img(fig, "Bar chart of the slowest submissions")


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=90)


def _whole_numbers(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _img(fig: Figure, alt: str) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a student name in a script the font lacks only warns
        FigureCanvasAgg(fig).print_png(buffer)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def _label(text: str) -> str:
    # "$" would start matplotlib mathtext, which can fail to parse on arbitrary names
    return clean_text(text, 40).replace("$", r"\$")


def _h(text: str, limit: int = 600) -> str:
    return html.escape(clean_text(text, limit))
