"""HTML from Jinja2 templates: the one environment every HTML report renders with, and the pictures the pages embed.

The templates are ``grader/templates/*.j2`` (package data; a student kit carries
them with the code). Autoescaping is on for every template, so whatever a
template prints is HTML-escaped unless the grader marked it safe, and nothing
is: charts are passed as geometry (:mod:`grader.reporters.charts`) and the
template writes the inline ``<svg>``. Templates pass student-influenced text through the
``clean`` filter (:func:`grader.reporters.clean_text`: no control or bidi
characters, bounded length) and let autoescaping do the rest. ``StrictUndefined``
makes a misspelt name an error instead of an empty cell.

Every page is one self-contained file: inline style, inline SVG charts.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.meta

from grader.reporters import CheckLines, check_lines, clean_text, graded_by_instructor

if TYPE_CHECKING:
    from grader.results import CheckResult, ExerciseResult, SubmissionResult

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of ``grader/templates`` (autoescaping on, undefined names an error)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["clean"] = clean_text
    env.filters["g"] = general_number
    env.filters["tone"] = tone
    return env


def compile_templates(*templates: str) -> None:
    """Compile ``templates`` and every template they extend, include or import, ahead of their first :func:`render`."""
    env = environment()
    for name in templates:
        source = env.loader.get_source(env, name)[0] if env.loader else ""
        for found in jinja2.meta.find_referenced_templates(env.parse(source)):
            if found:
                compile_templates(found)
        env.get_template(name)


def render(template: str, **context: Any) -> str:
    """``template`` (a file name in ``grader/templates``) rendered with ``context``."""
    return environment().get_template(template).render(**context)


def exercise_rows(result: SubmissionResult) -> list[tuple[ExerciseResult, list[tuple[CheckResult, CheckLines]]]]:
    """Each exercise of ``result`` with its visible checks and what the report says about each (hidden checks left out)."""
    return [(exercise, [(check, check_lines(check)) for check in exercise.checks if not check.hidden]) for exercise in result.exercises]


def general_number(value: float) -> str:
    """A number as every report prints it (Python's general format: ``3``, ``2.5``, ``1e+07``)."""
    return f"{value:g}"


def tone(check: CheckResult) -> str:
    """How a check's outcome is coloured: ``ok`` (full marks), ``part`` (some points), ``bad``, or ``later`` (graded by the instructor)."""
    if graded_by_instructor(check):
        return "later"
    if check.passed:
        return "ok"
    return "part" if check.score > 0 else "bad"
