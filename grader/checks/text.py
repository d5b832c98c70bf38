"""Check kinds for written answers: a text scored against a rubric's key ideas.

Each idea has an id, a neutral ``label`` (shown to the student: it says what is
missing without giving the wording away), ``points`` and ``phrasings``:
case-insensitive regular expressions (a plain phrase is one too), matched
against the answer's words, lower-cased and joined by single spaces (hyphens
and apostrophes stay inside words: ``re-compute``, ``model's``). Before
matching, every run of five or more words copied from the rubric's
``question`` is removed, so repeating the question earns nothing; an answer
that is mostly the question, has fewer than ``min_words`` words of its own, or
matches no idea scores 0. With ``topic`` (phrasings again) an answer must match
at least one of them to count as on topic. The check is meant to be marked
``review: true``. A phrasing (or an alternative of one) that needs a
character such text never holds, such as the parentheses of ``\\(N, M, D\\)``
(an answer's "(N, M, D)" reads ``n m d``), is a rubric error
(:func:`unmatchable_parts`).

Where the answer is: a markdown cell tagged ``answer:NAME`` (``grade assign``
keeps the tag; :mod:`grader.load` reads the cell from the submission file, in
the grader's process) or the global string ``NAME``. The cell wins when it holds
anything besides the template's placeholder (``_Write your answer here._``) and
HTML comments; otherwise the string is read, as :func:`read_written` says.

An idea counts only where the answer states it: its phrasings are matched
within one sentence at a time (sentences end at ``.``, ``!``, ``?``, ``;``, a
blank line or a new bullet; a line break alone is wrapping), never across the
whole answer. And an answer must be written in
sentences (``sentences: true``, the default): a list of keywords has almost no
function words ("the", "is", "of", "when" ...), which prose of any style has
in plenty (a fifth of its words or more), so an answer with fewer than
:data:`MIN_FUNCTION_WORD_SHARE` of them scores 0 with a message that says to
write sentences.
"""

from __future__ import annotations

import importlib
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from grader.checks import Check, JudgeContext, read_answer, register
from grader.checks.schema import fields, kind_params, param
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Outcome, Verdict

# the standard library's own regular-expression parser, to see which characters a phrasing needs (see unmatchable_parts)
_regex_parser: Any = importlib.import_module("re._parser" if sys.version_info >= (3, 11) else "sre_parse")

_WORD = re.compile(r"[a-z0-9]+(?:[-'’][a-z0-9]+)*")
# A sentence ends at . ! ? ; before a space, at a blank line, or where a new bullet starts; a line break alone is
# wrapping (prose written in a triple-quoted string breaks its lines anywhere).
_SENTENCE_END = re.compile(r"[.!?;]+(?=\s|$)|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")
_COPY_RUN = 5
# Measured on every written answer in the tests (0.37 to 0.55, bullet notes included) and on terse notes such as
# "Stores segment inputs only; recomputes activations during backward; trades extra compute for less memory" (0.31);
# a keyword list has next to none (0.08 for the one a student handed in).
MIN_FUNCTION_WORD_SHARE = 0.15
FUNCTION_WORDS = frozenset("""
a an the this that these those some any each every no all both either neither few many much more most less least
several such what which who whom whose when where why how whether if then than so as because since while until
unless although though once after before during through across into onto upon over under between among about against
within without along around behind beyond by for from in of off on out to toward towards up down with at via per
and or but nor yet also only just even still again instead rather not never too very quite
i me my we us our you your he him his she her it its they them their one ones
is are was were be been being am has have had having do does did done can could may might must shall should will would
there here thus therefore hence otherwise however else
""".split())


# every character a phrasing can meet: answers are matched as their words (see words_of), joined by single spaces
_MATCHED_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-' ")


def words_of(text: str) -> list[str]:
    """The words of a text, lower-cased, hyphenated words kept whole."""
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


def sentences_of(text: str) -> list[list[str]]:
    """The words of each sentence of a text (see :func:`words_of`), empty sentences left out."""
    return [words for part in _SENTENCE_END.split(text) if (words := words_of(part))]


def copied_mask(answer: list[str], question: list[str], run: int = _COPY_RUN) -> list[bool]:
    """For each answer word: is it inside a run of ``run`` or more consecutive words that also occurs in the question?"""
    grams = {tuple(question[i : i + run]) for i in range(len(question) - run + 1)}
    copied = [False] * len(answer)
    for i in range(len(answer) - run + 1):
        if tuple(answer[i : i + run]) in grams:
            copied[i : i + run] = [True] * run
    return copied


def own_words(answer: list[str], question: list[str], run: int = _COPY_RUN) -> list[str]:
    """The answer's words minus every run of ``run`` or more consecutive words that also occurs in the question."""
    return [word for word, was_copied in zip(answer, copied_mask(answer, question, run), strict=True) if not was_copied]


def own_sentences(text: str, question: list[str]) -> list[str]:
    """Each sentence of the answer as its own words (question copies removed), lower-cased and joined by spaces."""
    sentences = sentences_of(text)
    copied = iter(copied_mask([w for s in sentences for w in s], question))
    kept = [[word for word in sentence if not next(copied)] for sentence in sentences]
    return [" ".join(words) for words in kept if words]


def function_word_share(words: list[str]) -> float:
    """The share of ``words`` that are function words: prose has a fifth or more, a keyword list next to none."""
    return sum(word in FUNCTION_WORDS for word in words) / len(words) if words else 0.0


def read_written(answer: Answer, name: str, ctx: JudgeContext) -> str | Verdict:
    """The written answer ``name`` (its text, possibly empty), or the verdict when there is none to read.

    Precedence: the markdown cell tagged ``answer:NAME`` when it holds text of
    the student's (the string variable is then not read), else the string
    variable ``NAME`` (``answer``, the kernel's reply to ``text_value``). When
    neither is written and the notebook has the tagged cell, "not attempted"
    names the cell, since that is where the template asks for the answer.
    """
    cell = ctx.written.get(name)
    if cell:
        return cell
    value = read_answer(answer, name, ctx)
    unwritten = value.outcome is Outcome.NOT_ATTEMPTED if isinstance(value, Verdict) else str(value.get("text", "x")).strip() == ""
    if cell is not None and unwritten:
        return Verdict.not_attempted(f"not attempted: the markdown cell for `{name}` (tagged answer:{name}) holds no answer yet")
    if isinstance(value, Verdict):
        return value
    if "rejected" in value or not isinstance(value.get("text"), str):
        return Verdict.failed(f"`{name}` must be a string (it is of type {value.get('rejected', 'unknown')})")
    return str(value["text"])


@register
class KeyIdeas(Check):
    """A written answer scored against key ideas: the points of every idea one of whose phrasings it contains."""

    kind = "key_ideas"
    params_hold_answers = True
    reads_answer_cells = True
    params_schema = kind_params(
        {
            "name": param("string", "the written answer: a markdown cell tagged answer:NAME, else the global string NAME"),
            "question": param("string", "the question's text: runs of five of its words copied into the answer earn nothing",
                              default=""),
            "min_words": param("integer", "the fewest words of its own an answer must have", default=0, minimum=0),
            "topic": param("array", "phrasings of which an answer must match one to count as on topic (none: no such test)",
                           default=[], items={"type": "string", "minLength": 1}),
            "sentences": param("boolean", "the answer must be written in sentences: a list of keywords scores 0", default=True),
            "ideas": param("array", "the key ideas the answer is scored against", minItems=1, items={"type": "object", **fields({
                "id": param("string", "the idea's id"),
                "label": param("string", "what the student is shown: names the idea without giving its wording away"),
                "points": param("number", "what the idea is worth", exclusiveMinimum=0),
                "phrasings": param("array", "case-insensitive regular expressions, one of which the answer must contain",
                                   minItems=1, items={"type": "string", "minLength": 1}),
            }, required=["id", "label", "points", "phrasings"])}),
        },
        required=["name", "ideas"],
        example={"name": "answer", "ideas": [{"id": "recompute", "label": "what is recomputed", "points": 2,
                                               "phrasings": ["recomput"]}]},
    )

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        places = [(f"ideas[{i}].phrasings[{j}]", p) for i, idea in enumerate(params["ideas"]) for j, p in enumerate(idea["phrasings"])]
        places += [(f"topic[{j}]", p) for j, p in enumerate(params.get("topic", []))]
        problems = []
        for place, pattern in places:
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                problems.append((place, f"not a valid regular expression ({exc}): {pattern!r}"))
                continue
            if dead := unmatchable_parts(pattern):
                problems.append((place, f"{dead[0]} can never match: answers are matched as their words, lower-cased and joined by "
                                        f"single spaces, without punctuation (an answer's \"(N, M, D)\" reads \"n m d\"): {pattern!r}"))
        return problems

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        return [ProbeCall("text_value", {"name": self.params["name"]})]

    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        text = read_written(answers[0], self.params["name"], ctx)
        if isinstance(text, Verdict):
            return text
        return self._score(text, self._patterns())  # the rubric loader has compiled every pattern once

    def _patterns(self) -> list[list[re.Pattern[str]]]:
        """One list of compiled phrasings per idea, then the topic's list (possibly empty)."""
        lists = [idea["phrasings"] for idea in self.params["ideas"]] + [self.param("topic")]
        return [[re.compile(p, re.IGNORECASE) for p in phrasings] for phrasings in lists]

    def _score(self, text: str, patterns: list[list[re.Pattern[str]]]) -> Verdict:
        """The verdict, with the answer's text and the ideas it was credited with as ``shown`` (for a reviewer)."""
        verdict, matched = self._judge_text(text, patterns)
        ideas = [
            {"id": idea["id"], "label": idea["label"], "points": float(idea["points"]), "matched": matched.get(idea["id"], "")}
            for idea in self.params["ideas"]
        ]
        return replace(verdict, shown={"text": text, "ideas": ideas})

    def _judge_text(self, text: str, patterns: list[list[re.Pattern[str]]]) -> tuple[Verdict, dict[str, str]]:
        """The verdict and, for each idea credited, the words of the answer that matched it (lower-cased)."""
        name = self.params["name"]
        answer = words_of(text)
        if not answer:
            return Verdict.not_attempted(f"not attempted: `{name}` is empty"), {}
        question = words_of(self.param("question"))
        mine = own_words(answer, question)
        min_words = self.param("min_words")
        if question and len(mine) < max(min_words, 1) and len(mine) <= len(answer) / 2:
            return Verdict.failed("the answer repeats the question instead of answering it"), {}
        if len(mine) < min_words:
            return Verdict.failed(f"the answer is too short: {len(mine)} words of your own, at least {min_words} expected"), {}
        if self.param("sentences") and function_word_share(mine) < MIN_FUNCTION_WORD_SHARE:
            return Verdict.failed("the answer is a list of words, not sentences: explain the ideas in a few sentences of your own"), {}
        sentences = own_sentences(text, question)
        *idea_patterns, topic = patterns
        if topic and not any(r.search(s) for r in topic for s in sentences):
            return Verdict.failed("the answer does not seem to be about the question's topic"), {}
        ideas: list[dict[str, Any]] = self.params["ideas"]
        matched = {idea["id"]: phrase for idea, regexes in zip(ideas, idea_patterns, strict=True) if (phrase := _first_match(regexes, sentences))}
        found = [idea for idea in ideas if idea["id"] in matched]
        missing = [idea for idea in ideas if idea not in found]
        total = sum(float(idea["points"]) for idea in ideas)
        earned = sum(float(idea["points"]) for idea in found)
        if not found:
            return Verdict.failed("none of the key ideas was found; not mentioned: " + ", ".join(i["label"] for i in ideas)), {}
        message = f"{len(found)} of {len(ideas)} key ideas: " + ", ".join(i["label"] for i in found)
        if missing:
            message += "; not mentioned: " + ", ".join(i["label"] for i in missing)
        return Verdict.partial(earned / total, message), matched


def unmatchable_parts(pattern: str) -> list[str]:
    """What in ``pattern`` can never match text as phrasings meet it (words, lower-cased, joined by single spaces).

    That is the whole pattern, or an alternative of a ``(...|...)``, when every way
    through it needs a character such text never holds, such as a parenthesis, a
    comma or ``×``: ``\\(N, M, D\\)`` never matches, since an answer's "(N, M, D)"
    reads ``n m d``; nor does the ``×`` of ``(x|×|by)``. Each is named by its text
    when it is plain characters. Anchors, lookarounds and back references are
    taken to allow a match.
    """
    parsed = _regex_parser.parse(pattern, re.IGNORECASE)
    dead: list[str] = []
    if not _sequence_can_match(parsed, dead):
        return ["the whole phrasing"]
    return dead


def _sequence_can_match(items: Any, dead: list[str] | None = None) -> bool:
    return all([_item_can_match(str(op), arg, dead) for op, arg in items])  # a list: every alternative is visited


def _item_can_match(op: str, arg: Any, dead: list[str] | None) -> bool:
    if op == "LITERAL":
        return chr(arg).lower() in _MATCHED_CHARACTERS
    if op == "IN":
        return _class_can_match(arg)
    if op == "BRANCH":
        alive = [_sequence_can_match(branch, dead) for branch in arg[1]]
        if dead is not None and any(alive):
            dead += [_describe(branch) for branch, ok in zip(arg[1], alive, strict=True) if not ok]
        return any(alive)
    if op in ("SUBPATTERN", "ATOMIC_GROUP"):
        return _sequence_can_match(arg if op == "ATOMIC_GROUP" else arg[-1], dead)
    if op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        fewest, _most, body = arg
        return _sequence_can_match(body, dead) or fewest == 0
    return True  # any character, a character but one, anchors, lookarounds, back references


def _describe(items: Any) -> str:
    """An alternative by its text when it is plain characters, else as "an alternative"."""
    if all(str(op) == "LITERAL" for op, _ in items):
        return f"the alternative {''.join(chr(arg) for _, arg in items)!r}"
    return "an alternative"


def _class_can_match(members: Any) -> bool:
    """Whether a character class ``[...]`` admits a character of :data:`_MATCHED_CHARACTERS`."""
    for op, arg in members:
        if str(op) in ("NEGATE", "CATEGORY"):
            return True  # a negated class, \\w, \\s, \\S, \\d, \\W ...: each admits a letter or a space
        if str(op) == "LITERAL" and chr(arg).lower() in _MATCHED_CHARACTERS:
            return True
        if str(op) == "RANGE" and any(arg[0] <= ord(c) <= arg[1] for c in _MATCHED_CHARACTERS | set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")):
            return True
    return False


def _first_match(regexes: Sequence[re.Pattern[str]], sentences: Sequence[str]) -> str:
    """The first words of ``sentences`` that one of ``regexes`` matches, or ""."""
    return next((m.group(0) for r in regexes for s in sentences if (m := r.search(s))), "")
