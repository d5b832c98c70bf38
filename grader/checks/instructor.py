"""A check kind that scores nothing: it says which points the instructor grades.

A student kit (grader/kit/build.py) cannot carry what a check needs when the check's
own parameters are the answer (a written answer's key ideas) or the check is
hidden; in its place the kit's rubric has an ``instructor_graded`` check worth 0
points whose title and message name the points graded later. With ``name`` (the
written answer: a markdown cell tagged ``answer:NAME``, else the global string,
as :func:`grader.checks.text.read_written` reads it) it also tells the student
whether that answer is written yet; it never judges what the answer says.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from grader.checks import Check, JudgeContext, register
from grader.checks.schema import kind_params, param
from grader.checks.text import read_written
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Verdict


@register
class InstructorGraded(Check):
    """Points graded by the instructor, not here: ``points`` (how many, for the message), optional ``name`` of a written answer."""

    kind = "instructor_graded"
    reads_answer_cells = True
    params_schema = kind_params(
        {
            "points": param("number", "how many points the instructor grades (shown in the message; this check scores 0)", minimum=0),
            "name": param("string", "the written answer (a markdown cell tagged answer:NAME, else the global string NAME): "
                                    "the check says whether it is written yet"),
        },
        required=["points"],
        example={"points": 6},
    )

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        return [ProbeCall("text_value", {"name": self.params["name"]})] if "name" in self.params else []

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        later = f"graded by your instructor ({self.params['points']:g} points, not in this score)"
        if "name" not in self.params:
            return Verdict.passed(later)
        name = self.params["name"]
        text = read_written(answers[0], name, ctx)
        if isinstance(text, Verdict):
            return Verdict(text.outcome, 0.0, f"{text.message}; {later}", text.blame)
        words = len(text.split())
        if not words:
            return Verdict.not_attempted(f"not attempted: `{name}` is empty; {later}")
        return Verdict.passed(f"`{name}` is written ({words} words); {later}")
