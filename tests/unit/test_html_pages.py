"""The HTML pages' templates (grader/templates) rendered without a kernel: autoescaping everywhere, hostile text shown only as text.

Each page gets ``<script>`` and an ``onerror`` image in every field a student can
influence; :func:`tests.hostile_text.assert_shown_as_text` parses the page and
finds neither a script nor an event handler, and finds the text itself.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import jinja2
import nbformat
import pytest
from markupsafe import escape

from grader import load_rubric
from grader.batch.roster import RosterEntry, RosterMatch
from grader.mutation.plan import generate_mutants
from grader.mutation.report import render_html as render_mutation_html
from grader.mutation.runner import MutantResult, RubricCheck
from grader.reporters.feedback import feedback_names, render_html
from grader.reporters.notebook import LIVE_NOTE, NotebookReport, render_notebook_html
from grader.reporters.pages import TEMPLATES, compile_templates, environment, render
from grader.reporters.summary import render_summary_html
from grader.results import Blame, CheckResult, ExerciseResult, Outcome, Override, SubmissionResult
from grader.rubric import Rubric
from tests.conftest import ROOT
from tests.hostile_text import HOSTILE, IMG, SCRIPT, assert_shown_as_text


def hostile_result(student: str = f"mallory{IMG}", status: str = "graded") -> SubmissionResult:
    """A result with the hostile text in every field that holds student-influenced text."""
    checks = (
        CheckResult("values", f"values {HOSTILE}", Outcome.FAILED, 0, 3, f"got {HOSTILE}", hints=(f"hint {HOSTILE}",)),
        CheckResult("grads", "grads", Outcome.PARTIAL, 1.5, 3, "half", review=True),
        CheckResult("edited", "edited", Outcome.FAILED, 2, 2, "no", override=Override(2, f"ok {HOSTILE}", 0)),
        CheckResult("bug", "bug", Outcome.BROKEN, 0, 2, f"grader {HOSTILE}", blame=Blame.GRADER),
        CheckResult("secret", "secret check", Outcome.FAILED, 0, 1, "hidden", hidden=True),
    )
    exercise = ExerciseResult(f"ex1{SCRIPT}", f"Exercise {HOSTILE}", 3.5, 11, checks)
    if status != "graded":
        return SubmissionResult(f"{student}.ipynb", student, "a04", status, 0, 11, (), (), 1.0, reason=f"unreadable {HOSTILE}")
    return SubmissionResult(f"{student}.ipynb", student, f"a04 {HOSTILE}", "graded", 3.5, 11, (exercise,),
                            (f"cell 3 raised ValueError: {HOSTILE}",), 1.0)


# ------------------------------------------------------------------ the environment


def test_every_template_compiles_and_every_value_is_escaped_unless_marked_safe() -> None:
    names = sorted(path.name for path in TEMPLATES.glob("*.j2"))
    assert {"page.html.j2", "feedback.html.j2", "summary.html.j2", "notebook.html.j2", "rubric_strength.html.j2"} <= set(names)
    for name in names:
        environment().get_template(name)
    assert environment().autoescape is True  # for every template, whatever its name
    assert environment().from_string("{{ text }}").render(text=SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_the_templates_mark_nothing_safe() -> None:
    """Markup built by the grader goes in as data (charts are geometry the template draws), so no template needs |safe."""
    for path in (p for p in TEMPLATES.rglob("*") if p.is_file()):  # the review app's Flask templates too
        assert not re.search(r"\|\s*safe\b|Markup|autoescape\s+false", path.read_text(encoding="utf-8")), path.name


def test_a_misspelt_name_in_a_template_is_an_error_not_an_empty_cell() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render("feedback.html.j2")


# ------------------------------------------------------------------ each page


def test_the_feedback_page_shows_hostile_text_as_text() -> None:
    page = render_html(hostile_result())
    assert_shown_as_text(page)
    assert page.count('<meta http-equiv="Content-Security-Policy"') == 1 and page.count("<h1>") == 1
    assert f"<title>Feedback: {escape('mallory' + IMG)}</title>" in page
    assert page.count("<table>") == 1 and page.count('<tr class="') == 4 and "secret check" not in page  # the hidden check is left out
    assert '<tr class="bad"><td>values &lt;script&gt;' in page and '<tr class="part"><td>grads</td><td>1.5 / 3</td><td>partly right</td>' in page
    unusable = render_html(hostile_result(status="error"))
    assert_shown_as_text(unusable)
    assert '<p class="bad"><strong>Your submission could not be graded: unreadable &lt;script&gt;' in unusable


def test_the_summary_page_shows_hostile_text_as_text(rubric: Rubric) -> None:
    results = [hostile_result(), hostile_result(f"bob{SCRIPT}", status="error"), hostile_result("alice")]
    names = feedback_names(r.student for r in results)
    roster = RosterMatch(rows=((RosterEntry("alice", name="Alice"), results[2]), (RosterEntry("zed", name=f"Zed {HOSTILE}"), None)),
                         unknown=((f"mallory{IMG}", ""),))
    mutation = {"mutants": 4, "killed": 3, "survived": 1, "equivalent_suspected": 0, "score_percent": 75.0, "generated_at": HOSTILE,
                "per_exercise": {f"ex1{SCRIPT}": {"mutants": 4, "killed": 3, "survived": 1, "equivalent_suspected": 0, "score_percent": 75.0}}}
    exercises = [replace(rubric.exercises[0], id=f"ex1{SCRIPT}")]
    page = render_summary_html(results, exercises, f"A04 {HOSTILE}", {s: f"{n}.html" for s, n in names.items()}, mutation=mutation, roster=roster)
    assert_shown_as_text(page)
    assert page.count('<figure class="chart"') == 4  # the score histograms, failed checks, problems, slowest: charts the grader drew
    hrefs = re.findall(r'<a href="([^"]*)">', page)
    assert hrefs and all(re.fullmatch(r"feedback/[A-Za-z0-9%._~-]+\.html", href) for href in hrefs), hrefs


def test_the_notebook_report_shows_hostile_text_as_text() -> None:
    report = NotebookReport(f"Official grade of {IMG}.ipynb", (LIVE_NOTE, f"It grades `{SCRIPT}` as saved."), hostile_result())
    page = render_notebook_html(report)
    assert_shown_as_text(page)
    assert "<style" not in page and page.count("<table") == 1
    assert "<code>%grade --fresh</code>" in page and "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in page  # backticks: code, still escaped
    unusable = render_notebook_html(replace(report, result=hostile_result(status="error")))
    assert_shown_as_text(unusable)


def test_the_mutation_report_shows_hostile_text_as_text() -> None:
    source = f"def double(x):\n    # BEGIN SOLUTION\n    return {{'y': x * 2, 'note': {HOSTILE!r}}}\n    # END SOLUTION"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.cells[0]["id"] = "ex1-answer"
    mutant = next(m for m in generate_mutants(nb) if m.what == "`*` -> `-`")
    assert HOSTILE in mutant.diff
    rubric = load_rubric(ROOT / "tests" / "fixtures" / "check_rubric" / "rubrics" / "double.yaml")
    results = (MutantResult(mutant, True, False, ("doubles",), f"cell 1 raised ValueError: {HOSTILE}", 0.4),
               MutantResult(mutant, False, False, (), "", 0.4))
    run = RubricCheck(rubric, Path(f"{IMG}.ipynb"), "template.ipynb", ("ex1",), 7, 0, 2, results, ("ex1",), (f"note {HOSTILE}",), 1, 2.0,
                      "2026-01-01T00:00:00+00:00", solution_score=10, template_score=0, max_score=10)
    page = render_mutation_html(run)
    assert_shown_as_text(page)
    assert page.count("<pre>") == 1 and page.count('<figure class="chart"') == 1


def test_compiling_a_page_ahead_compiles_what_it_extends_includes_and_imports() -> None:
    # a batch compiles its pages while the workers grade: nothing of the summary page may be left for after the last result
    environment.cache_clear()
    compile_templates("summary.html.j2")
    compiled = {name for _, name in environment().cache.keys()}  # type: ignore[union-attr]
    environment.cache_clear()
    assert compiled == {"summary.html.j2", "page.html.j2", "page.css.j2", "charts.html.j2"}
