"""Writing a class's similarity report: what ``grade similarity`` and a batch's ``--similarity`` both run."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import click

REPORT_FILE = "similarity.html"
FLAGGED_FILE = "similarity.json"  # the students of every pair at FLAG_AT or more: grade review shows them first
FLAG_AT = 0.6  # where the report's bars turn red: a pair worth a look


@dataclass(frozen=True)
class SimilaritySummary:
    """What was written: the page, how many submissions were compared, the best pairs and the time it took."""

    path: Path
    compared: int
    pairs: list[tuple[str, str, float]]
    seconds: float


def write_similarity_report(out: Path, template: Path | None = None, html: Path | None = None, rubric_path: Path | None = None) -> SimilaritySummary:
    """Compare every pair of the class graded into ``out`` and write the HTML report (``out/similarity.html``).

    The template is ``template``, else that of the rubric at ``rubric_path``, else that of the installed assignment graded.
    """
    from grader.batch.store import write_atomic
    from grader.similarity.classfolder import assignment_of, load_class, template_cells
    from grader.similarity.compare import Document, Template, common_hashes, compare_all
    from grader.similarity.evidence import failures_by_pair, rare_failures
    from grader.similarity.report import ReportInfo, render_report, shown_pairs

    started = time.monotonic()
    code = load_class(out)
    assignment = assignment_of(code.results)
    cells, template_note = template_cells(assignment, template, rubric_path)
    given = Template.from_cells(cells)
    documents = {student: Document.from_cells(student, student_cells, given) for student, student_cells in code.cells.items()}
    pairs = compare_all(list(documents.values()))
    failures = rare_failures(code.results.values())
    info = ReportInfo(
        title=assignment or out.name,
        submissions=len(documents),
        source_note=f"Code read from the submission paths recorded in {out / 'results.jsonl'} (the results folder keeps no code).",
        template_note=template_note,
        skipped=tuple(f"{student}: {why}" for student, why in sorted(code.unreadable.items())),
    )
    common = common_hashes(list(documents.values()))
    page = render_report(info, shown_pairs(pairs, documents, failures_by_pair(failures), common), failures, len(pairs))
    target = html or out / REPORT_FILE
    write_atomic(target, page)
    flagged = sorted({student for p in pairs if p.score >= FLAG_AT for student in (p.first, p.second)})
    write_atomic(out / FLAGGED_FILE, json.dumps({"flagged": flagged, "at_score": FLAG_AT}, indent=1) + "\n")  # read by grade review
    best = [(p.first, p.second, p.score) for p in pairs[:5]]
    return SimilaritySummary(target, len(documents), best, time.monotonic() - started)


def echo_summary(summary: SimilaritySummary) -> None:
    """A few lines on stderr: where the report is and the best pairs."""
    click.echo(f"grade: similarity of {summary.compared} submissions in {summary.seconds:.1f}s: {summary.path}", err=True)
    for first, second, score in summary.pairs:
        click.echo(f"  {score:4.0%}  {first}  {second}", err=True)
