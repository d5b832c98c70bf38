"""A check kind that scores nothing: it says which points the instructor grades.

A student kit (grader/kit/build.py) cannot carry what a check needs when the check's
own parameters are the answer (a written answer's key ideas) or the check is
hidden; in its place the kit's rubric has an ``instructor_graded`` check worth 0
points whose title and message name the points graded later. With ``name`` (the
global a written answer is stored in) it also tells the student whether that
answer is written yet; it never judges what the answer says.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from grader.checks import Check, JudgeContext, read_answer, register
from grader.checks.schema import kind_params, param
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Verdict


@register
class InstructorGraded(Check):
    """Points graded by the instructor, not here: ``points`` (how many, for the message), optional ``name`` of a written answer."""

    kind = "instructor_graded"
    params_schema = kind_params(
        {
            "points": param("number", "how many points the instructor grades (shown in the message; this check scores 0)", minimum=0),
            "name": param("string", "the global a written answer is stored in: the check says whether it is written yet"),
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
        value = read_answer(answers[0], name, ctx)
        if isinstance(value, Verdict):
            return Verdict(value.outcome, 0.0, f"{value.message}; {later}", value.blame)
        text = value.get("text")
        if not isinstance(text, str):
            return Verdict.failed(f"`{name}` must be a string (it is of type {value.get('rejected', 'unknown')}); {later}")
        words = len(text.split())
        if not words:
            return Verdict.not_attempted(f"not attempted: `{name}` is empty; {later}")
        return Verdict.passed(f"`{name}` is written ({words} words); {later}")
