"""How the class did: a terminal table and ``summary.html`` with its charts.

The page is ``templates/summary.html.j2``, self-contained: charts are inline
SVG (:mod:`grader.reporters.charts`). Submissions that
could not be graded are left out of the score statistics and listed instead.
Every student's name links to their feedback page (``feedback/<name>.html``,
relative, so the results folder can be moved or zipped). The rubric's
mutation score is shown when ``grade check-rubric`` recorded one for this very
rubric (:mod:`grader.mutation.scores`); with a roster, the students who
submitted nothing and the submissions not on the roster are listed.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from grader.reporters.charts import BLUE, ORANGE, RED, BarChart, Histogram, bar_chart, histogram
from grader.reporters.gradebook import student_sort_key
from grader.reporters.pages import render
from grader.results import RosterMatch, SubmissionResult
from grader.rubric import ExerciseSpec
from grader.shorten import shorten_items

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
    """The class summary page (``templates/summary.html.j2``).

    ``links`` maps a student to the file name of their HTML feedback (in ``feedback/``);
    ``mutation`` is the rubric's stored mutation summary (:func:`grader.mutation.scores.find_mutation_score`);
    ``roster`` the results matched to the class roster.
    """
    graded = [r for r in results if r.status == "graded"]
    failed = most_failed(results)
    found = problems(results)
    slow = slowest(results)
    return render(
        "summary.html.j2",
        assignment=assignment,
        results=results,
        graded=graded,
        roster=roster,
        statistics=[(label, _stats(values) if values else None, top) for label, values, top in _columns(graded, exercises)],
        distribution=_distribution_charts(graded, exercises) if graded else None,
        mutation=mutation,
        failed=failed,
        failed_chart=_failed_chart(failed) if failed else None,
        problems=[(r, kind, r.reason if r.status != "graded" else shorten_items(list(r.errors), most=3)) for r, kind in found],
        problems_chart=_problems_chart(found) if found else None,
        slowest=slow,
        slowest_chart=_slowest_chart(slow),
        exercises=exercises,
        students=[(r, [_score_of(r, spec.id) for spec in exercises]) for r in sorted(results, key=lambda r: student_sort_key(r.student))],
        hrefs={student: feedback_href(target) for student, target in links.items() if target},
    )


def _score_of(result: SubmissionResult, exercise: str) -> float | None:
    return next((ex.score for ex in result.exercises if ex.id == exercise), None)


def feedback_href(file_name: str) -> str:
    """The relative link to a feedback file, percent-encoded (a name may hold ``é``, ``+`` or ``@``); the template escapes it."""
    return "feedback/" + quote(file_name, safe="")


def _distribution_charts(graded: Sequence[SubmissionResult], exercises: Sequence[ExerciseSpec]) -> list[Histogram]:
    columns = _columns(graded, exercises)
    columns = [columns[-1], *columns[:-1]]  # the total first
    return [histogram(f"{label} (out of {top:g})", values, top) for label, values, top in columns]


def _failed_chart(failed: list[FailedCheck]) -> BarChart:
    return bar_chart("Bar chart of the checks most often failed", [(f.key, [(f.not_passed, ORANGE)]) for f in failed],
                     f"graded submissions that did not pass (of {failed[0].graded})")


def _problems_chart(found: list[tuple[SubmissionResult, str]]) -> BarChart:
    counts = Counter(kind for _, kind in found)
    kinds = [k for k in ("could not be graded", "timed out", "crashed", "raised errors") if counts[k]]
    return bar_chart("Bar chart of submissions that errored, timed out or crashed", [(k, [(counts[k], RED)]) for k in kinds], "submissions")


def _slowest_chart(slow: list[SubmissionResult]) -> BarChart:
    colours = {"could not be graded": RED, "timed out": ORANGE, "crashed": RED}
    return bar_chart(
        "Bar chart of the slowest submissions",
        [(r.student, [(r.duration_s, colours.get(problem_kind(r), BLUE))]) for r in slow],
        "seconds to grade (red: error or crash, orange: timed out)",
        whole=False,
        unit=" s",
    )
