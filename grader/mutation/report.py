"""Reports of a ``check-rubric`` run: the numbers, a terminal summary, JSON, and an HTML page like ``summary.html``.

The mutation score is killed / (mutants - equivalent-suspected), in percent:
survivors that answered every probe as the solution did are taken to be no
mistake at all and left out of the denominator (they are still counted as
mutants and as survivors, and listed). Per check, "killed" counts the mutants
that lost points on that check, so a check's score says how much of the
exercise's mutants it catches on its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grader.mutation.operators import OPERATORS
from grader.mutation.runner import MutantResult, RubricCheck
from grader.reporters import clean_text

if TYPE_CHECKING:
    from grader.reporters.charts import BarChart


@dataclass(frozen=True)
class Tally:
    """Counts for a set of mutants; ``survived`` includes the equivalent-suspected ones."""

    mutants: int
    killed: int
    survived: int
    equivalent_suspected: int

    @property
    def score_percent(self) -> float:
        """killed / non-equivalent mutants, in percent (100 when every mutant is equivalent-suspected, 0 without mutants)."""
        judged = self.mutants - self.equivalent_suspected
        if judged <= 0:
            return 100.0 if self.mutants else 0.0
        return round(100.0 * self.killed / judged, 1)

    def as_dict(self) -> dict[str, Any]:
        return {"mutants": self.mutants, "killed": self.killed, "survived": self.survived,
                "equivalent_suspected": self.equivalent_suspected, "score_percent": self.score_percent}


def tally(results: Iterable[MutantResult]) -> Tally:
    """The counts of ``results``."""
    found = list(results)
    killed = sum(r.killed for r in found)
    return Tally(len(found), killed, len(found) - killed, sum(r.equivalent for r in found))


def check_tally(results: Sequence[MutantResult], check_id: str) -> Tally:
    """The counts for one check over its exercise's mutants: killed are those that lost points on this check."""
    caught = sum(check_id in r.checks for r in results)
    return Tally(len(results), caught, len(results) - caught, sum(r.equivalent for r in results))


def per_exercise(run: RubricCheck) -> dict[str, Tally]:
    """The counts per exercise, in rubric order."""
    return {ex: tally(r for r in run.results if r.mutant.exercise == ex) for ex in run.exercises}


def per_check(run: RubricCheck) -> dict[str, Tally]:
    """The counts per check (``ex1/values``), in rubric order."""
    found = {}
    for ex in run.exercises:
        mine = [r for r in run.results if r.mutant.exercise == ex]
        for spec in run.rubric.exercise(ex).checks:
            found[f"{ex}/{spec.id}"] = check_tally(mine, spec.id)
    return found


def per_operator(run: RubricCheck) -> dict[str, Tally]:
    """The counts per mutation operator, in registry order."""
    return {name: tally(r for r in run.results if r.mutant.operator == name)
            for name in OPERATORS if any(r.mutant.operator == name for r in run.results)}


def survivors(run: RubricCheck) -> list[MutantResult]:
    """The mutants that kept full marks: the real survivors first, then the equivalent-suspected ones."""
    return sorted((r for r in run.results if not r.killed), key=lambda r: r.equivalent)


def summary(run: RubricCheck) -> dict[str, Any]:
    """Everything as plain JSON data (what ``--format json`` prints and what is recorded for ``summary.html``)."""
    return {
        "rubric": str(run.rubric.path),
        "rubric_sha256": run.rubric.sha256,
        "assignment": run.rubric.assignment,
        "solution": str(run.solution),
        "template": run.template,
        "solution_score": run.solution_score,
        "template_score": run.template_score,
        "max_score": run.max_score,
        "seed": run.seed,
        "sample_seed": run.sample_seed,
        "max_mutants": run.max_mutants,
        "generated": run.generated,
        "jobs": run.jobs,
        "duration_s": run.duration_s,
        "timings": run.timings,
        "generated_at": run.generated_at,
        **tally(run.results).as_dict(),
        "per_exercise": {ex: t.as_dict() for ex, t in per_exercise(run).items()},
        "per_check": {key: t.as_dict() for key, t in per_check(run).items()},
        "per_operator": {name: t.as_dict() for name, t in per_operator(run).items()},
        "survivors": [_mutant_dict(r, diff=True) for r in survivors(run)],
        "results": [_mutant_dict(r, diff=False) for r in run.results],
        "sliced": list(run.sliced),
        "notes": list(run.notes),
    }


def render_json(run: RubricCheck) -> str:
    """Exactly one JSON object."""
    return json.dumps(summary(run), indent=1, ensure_ascii=False)


def _mutant_dict(result: MutantResult, diff: bool) -> dict[str, Any]:
    m = result.mutant
    data: dict[str, Any] = {"id": m.id, "exercise": m.exercise, "operator": m.operator, "what": m.what, "cell": m.cell,
                            "line": m.line, "status": result.status, "checks": list(result.checks), "fault": result.fault,
                            "duration_s": result.duration_s}
    if diff:
        data["diff"] = m.diff
    return data


# ------------------------------------------------------------------ terminal


def render_text(run: RubricCheck) -> str:
    """The terminal summary: baselines, tables per exercise, check and operator, the score, and every survivor's diff."""
    total = tally(run.results)
    sampled = f" (sampled from {run.generated})" if total.mutants < run.generated else ""
    lines = [
        f"check-rubric: {run.rubric.title} ({run.rubric.path})",
        f"solution {run.solution}: {run.solution_score:g} / {run.max_score:g}; template {run.template}: {run.template_score:g} / {run.max_score:g}",
        f"{total.mutants} mutants{sampled}, graded in {run.duration_s:.1f}s with {run.jobs} job{'s' if run.jobs != 1 else ''}",
        "",
        *_table("exercise", per_exercise(run), total),
        "",
        *_table("check", per_check(run), None),
        "",
        *_table("operator", per_operator(run), None),
        "",
        f"mutation score: {total.score_percent:.1f}% ({total.killed} killed of {total.mutants - total.equivalent_suspected} "
        f"non-equivalent; {total.survived} survived, {total.equivalent_suspected} of them equivalent-suspected)",
    ]
    lines += [f"note: {note}" for note in run.notes]
    found = survivors(run)
    if found:
        lines += ["", f"survivors ({len(found)}):"]
        for result in found:
            lines += ["", _headline(result), *("    " + line for line in _hunks(result.mutant.diff))]
    return "\n".join(lines) + "\n"


def _table(label: str, rows: dict[str, Tally], total: Tally | None) -> list[str]:
    width = max([len(label), 5, *(len(key) for key in rows)]) + 2
    out = [f"{label:<{width}}{'mutants':>8}{'killed':>8}{'survived':>10}{'equiv.':>8}{'score':>8}"]
    for key, t in [*rows.items(), *([("total", total)] if total is not None else [])]:
        out.append(f"{key:<{width}}{t.mutants:>8}{t.killed:>8}{t.survived:>10}{t.equivalent_suspected:>8}{t.score_percent:>7.1f}%")
    return out


def _headline(result: MutantResult) -> str:
    m = result.mutant
    flag = " [equivalent-suspected]" if result.equivalent else ""
    return f"{m.id} {m.exercise} {m.operator}: {clean_text(m.what, 200)} ({m.cell}, line {m.line}){flag}"


def _hunks(diff: str) -> list[str]:
    return [line for line in diff.split("\n") if not line.startswith(("--- ", "+++ "))]


# ------------------------------------------------------------------ HTML


def render_html(run: RubricCheck) -> str:
    """A self-contained page in the style of the batch's ``summary.html`` (``templates/rubric_strength.html.j2``)."""
    from grader.reporters.pages import render

    exercises, total = per_exercise(run), tally(run.results)
    return render(
        "rubric_strength.html.j2",
        run=run,
        total=total,
        exercise_chart=_chart(exercises) if run.results else None,
        per_exercise={**exercises, "total": total},
        per_check=per_check(run),
        per_operator=per_operator(run),
        survivors=[(r, _headline(r).split(" (")[0], "\n".join(_hunks(r.mutant.diff))) for r in survivors(run)],
        killed=[(r, ", ".join(r.checks) or "-") for r in run.results if r.killed],
    )


def _chart(rows: dict[str, Tally]) -> BarChart:
    from grader.reporters.charts import BLUE, GREY, RED, bar_chart

    return bar_chart(
        "Bar chart of killed, surviving and equivalent-suspected mutants per exercise",
        [(name, [(t.killed, BLUE), (t.survived - t.equivalent_suspected, RED), (t.equivalent_suspected, GREY)]) for name, t in rows.items()],
        "mutants",
        legend=[(BLUE, "killed"), (RED, "survived"), (GREY, "equivalent-suspected")],
    )

