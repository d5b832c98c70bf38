"""Check kind key_ideas: a written answer scored against the rubric's key ideas (no kernel)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from grader import load_rubric
from grader.checks.text import own_words, unmatchable_parts, words_of
from grader.probes.protocol import Answer
from grader.results import Outcome
from grader.rubric import Rubric
from tests.conftest import ROOT
from tests.unit.kinds.support import context, judge, make

GOOD = (
    "Activation checkpointing is a memory-saving technique. Instead of keeping every intermediate activation from the "
    "forward pass, we store only a few of them (the checkpoints). When backpropagation needs an activation that was not "
    "kept, it is recomputed by running part of the forward pass again. We spend more computation to use much less "
    "memory, which lets us train deeper networks or use bigger batches on a GPU."
)

QUESTION = (
    "explaining what gradient checkpointing is and why it helps when training large models: which activations are kept, "
    "what happens in the backward pass, and what is traded for what."
)

@pytest.mark.parametrize(
    ("value", "outcome", "fraction", "fragment"),
    [
        ({"text": GOOD}, Outcome.PASSED, 1.0, "3 of 3 key ideas"),
        ({"text": "Gradient checkpointing saves memory during training by recomputing intermediate results in the backward "
                   "pass rather than storing them all. This costs extra computation time, but that is usually fine."},
         Outcome.PASSED, 1.0, "3 of 3 key ideas: what happens in the backward pass, what is traded for what, which activations "
                              "are kept"),
        ({"text": "Gradient checkpointing saves memory during training by recomputing intermediate results in the backward "
                   "pass, so a model that did not fit before now fits on the GPU."},
         Outcome.PARTIAL, 1 / 3, "not mentioned: what is traded for what, which activations are kept"),
        ({"text": "Checkpointing is a thing you do: it is used a lot with big models on GPUs and many people talk about it in "
                   "papers and blogs, so it is quite popular these days."},
         Outcome.FAILED, 0.0, "none of the key ideas was found; not mentioned: what happens in the backward pass"),
        ({"text": "Gradient descent updates the weights in the direction of the negative gradient. The learning rate controls "
                   "the step size, and momentum helps to accelerate convergence in relevant directions."},
         Outcome.FAILED, 0.0, "the answer does not seem to be about the question's topic"),
        ({"text": QUESTION}, Outcome.FAILED, 0.0, "the answer repeats the question instead of answering it"),
        ({"text": "Gradient checkpointing: " + QUESTION.upper()}, Outcome.FAILED, 0.0, "repeats the question"),
        ({"text": "It recomputes activations to save memory."}, Outcome.FAILED, 0.0,
         "the answer is too short: 6 words of your own, at least 12 expected"),
        ({"text": "  \n "}, Outcome.NOT_ATTEMPTED, 0.0, "not attempted: `checkpointing_answer` is empty"),
        ({"rejected": "None"}, Outcome.NOT_ATTEMPTED, 0.0, "not attempted: `checkpointing_answer` is still None"),
        ({"rejected": "list"}, Outcome.FAILED, 0.0, "`checkpointing_answer` must be a string (it is of type list)"),
        ({"missing": "checkpointing_answer"}, Outcome.NOT_ATTEMPTED, 0.0, "not found"),
    ],
)
def test_key_ideas(rubric: Rubric, reference: Any, value: dict[str, Any], outcome: Outcome, fraction: float, fragment: str) -> None:
    verdict = judge(make(rubric, "ex4", "written_answer"), context(reference), lambda call: Answer(True, value))
    assert verdict.outcome is outcome, verdict.message
    assert verdict.fraction == pytest.approx(fraction)
    assert fragment in verdict.message

def test_key_ideas_credit_only_words_not_copied_from_the_question(rubric: Rubric, reference: Any) -> None:
    copied_then_answer = QUESTION + " " + GOOD
    verdict = judge(make(rubric, "ex4", "written_answer"), context(reference), lambda call: Answer(True, {"text": copied_then_answer}))
    assert verdict.outcome is Outcome.PASSED
    assert own_words(words_of("a b c d e f"), words_of("x b c d e f y")) == ["a"]
    assert words_of("Re-compute the model’s activations") == ["re-compute", "the", "model's", "activations"]

def test_key_ideas_messages_never_quote_a_phrasing(rubric: Rubric, reference: Any) -> None:
    verdict = judge(make(rubric, "ex4", "written_answer"), context(reference), lambda call: Answer(True, {"text": "checkpoint " * 30}))
    phrasings = [p for idea in make(rubric, "ex4", "written_answer").params["ideas"] for p in idea["phrasings"]]
    assert not any(p in verdict.message for p in phrasings)
    assert all(re.compile(p) for p in phrasings)


KEYWORDS = "checkpoint recompute trade-off memory large models boundaries again slower segments activations kept GPU"


@pytest.mark.parametrize("text", [KEYWORDS, KEYWORDS.replace(" ", ", "), "\n".join(f"- {w}" for w in KEYWORDS.split())])
def test_a_list_of_keywords_earns_nothing(rubric: Rubric, reference: Any, text: str) -> None:
    verdict = judge(make(rubric, "ex4", "written_answer"), context(reference), lambda call: Answer(True, {"text": text}))
    assert verdict.outcome is Outcome.FAILED and verdict.fraction == 0
    assert "a list of words, not sentences" in verdict.message


def test_terse_notes_in_sentences_still_count(rubric: Rubric, reference: Any) -> None:
    notes = "Stores segment inputs only; recomputes activations during backward; trades extra compute for less memory on a GPU."
    verdict = judge(make(rubric, "ex4", "written_answer"), context(reference), lambda call: Answer(True, {"text": notes}))
    assert verdict.fraction >= 2 / 3 and "not sentences" not in verdict.message, verdict.message


def test_an_idea_counts_only_when_one_sentence_states_it(rubric: Rubric, reference: Any) -> None:
    # "again ... gradients" spans two sentences: neither sentence says that something is done again for the backward pass
    split = ("Checkpointing keeps only the input of each segment, so much less memory is used. The model is called again. "
             "Gradients come from the backward pass as usual.")
    joined = ("Checkpointing keeps only the input of each segment, so much less memory is used. The model is called again "
              "when gradients come from the backward pass.")
    credited = {}
    for name, text in (("split", split), ("joined", joined)):
        verdict = judge(make(rubric, "ex4", "written_answer"), context(reference), lambda call, t=text: Answer(True, {"text": t}))
        credited[name] = "what happens in the backward pass" in verdict.message.split("; not mentioned")[0]
    assert credited == {"split": False, "joined": True}


def test_a_line_break_inside_a_sentence_is_wrapping_not_a_sentence_end(rubric: Rubric, reference: Any) -> None:
    wrapped = ("Checkpointing keeps only the activations at segment boundaries, so less memory is used. In the backward pass, each\n"
               "        segment is run forward a\n        second time to rebuild its activations; it trades compute for memory.")
    verdict = judge(make(rubric, "ex4", "written_answer"), context(reference), lambda call: Answer(True, {"text": wrapped}))
    assert verdict.outcome is Outcome.PASSED, verdict.message


def test_saying_what_is_not_saved_earns_the_kept_idea_but_not_saving_no_time(rubric: Rubric, reference: Any) -> None:
    start = "Checkpointing recomputes activations in the backward pass by running the forward again. "
    credited = {}
    for name, middle in (("others", "The forward keeps the segment inputs, others it doesn't save. "), ("time", "It doesn't save time. ")):
        text = start + middle + "It costs extra compute, but memory goes down a lot."
        verdict = judge(make(rubric, "ex4", "written_answer"), context(reference), lambda call, t=text: Answer(True, {"text": t}))
        credited[name] = "which activations are kept" in verdict.message.split("; not mentioned")[0]
    assert credited == {"others": True, "time": False}


# Assignment 06's written answer, as students who never saw its phrasings wrote it (condensed from answers written
# blind, from the contract alone). Each states all three ideas; an answer's "(N, M, D)" reads "n m d" to a phrasing.
BROADCASTING_ANSWERS = {
    "tuple_tensor": (
        "Two nested Python loops run the interpreter once for every coordinate of every pair, so its overhead is paid per "
        "element; a tensor operation runs compiled code over the whole array. With X[:, None, :] of shape (N, 1, D) and "
        "Y[None, :, :] of shape (1, M, D), broadcasting stretches each size-1 dimension without copying any data. The "
        "subtraction therefore gives an (N, M, D) tensor of differences, and summing over the last dimension leaves (N, M)."),
    "size_one_stretched": (
        "With nested loops the interpreter executes bytecode for each pair, while torch does the arithmetic in compiled "
        "loops. Comparing the shapes from the right, the dimensions of size 1 are stretched to M and to N respectively; "
        "this is virtual, no data gets copied. The difference is therefore an (N, M, D) tensor, and summing its squares "
        "over the last axis gives the (N, M) matrix."),
    "expanded_view_stride_zero": (
        "The loop version goes through the Python interpreter for every one of the N·M pairs, while the vectorised version "
        "calls a few operations that compiled code runs over whole tensors. Each dimension of size 1 is expanded to match "
        "the other tensor. This expansion is only a view with stride 0. The result of the subtraction is an (N,M,D) "
        "tensor of all pairwise differences, which I square and sum over D."),
    "times_signs": (
        "Python loops pay the interpreter's overhead for every element, but one tensor call runs optimised C code over "
        "the entire arrays. Broadcasting repeats the singleton dimensions virtually instead of copying. The difference "
        "is an N×M×D tensor that is then summed over D into an N×M matrix."),
}


@pytest.fixture(scope="module")
def rubric06() -> Rubric:
    return load_rubric(ROOT / "rubrics" / "06_vectorised_tensor_code.yaml")


@pytest.mark.parametrize("name", BROADCASTING_ANSWERS)
def test_assignment06_answers_written_blind_get_every_idea(rubric06: Rubric, reference: Any, name: str) -> None:
    text = BROADCASTING_ANSWERS[name]
    verdict = judge(make(rubric06, "ex4", "written_answer"), context(reference), lambda call: Answer(True, {"text": text}))
    assert verdict.outcome is Outcome.PASSED, verdict.message


def test_assignment06_shapes_idea_needs_a_sentence_about_the_shapes(rubric06: Rubric, reference: Any) -> None:
    # N·M·D as a count of loop steps reads "n m d" too, but says nothing about the broadcast result's shape
    text = ("Python loops pay the interpreter for each of the N·M·D steps, while a tensor operation runs compiled code over "
            "the whole array. Broadcasting stretches the size-1 dimensions without copying the data.")
    verdict = judge(make(rubric06, "ex4", "written_answer"), context(reference), lambda call: Answer(True, {"text": text}))
    assert verdict.outcome is Outcome.PARTIAL and "not mentioned: the shapes" in verdict.message, verdict.message


@pytest.mark.parametrize(
    ("pattern", "dead"),
    [
        ("\\(\\s*N\\s*,\\s*M\\s*,\\s*D\\s*\\)", ["the whole phrasing"]),
        ("\\bC\\+\\+", ["the whole phrasing"]),
        ("[(,]", ["the whole phrasing"]),
        ("\\bn (x|×|by) m\\b", ["the alternative '×'"]),
        ("\\b(compiled|C\\+\\+|native)\\b", ["the alternative 'C++'"]),
        ("\\bn m d\\b", []),
        ("\\b(size[- ]?1|singleton)\\b( \\S+){0,6} stretch", []),
        ("(\\()?n m", []),
        ("[^a-z]x", []),
        ("\\bmodel's\\b", []),
        ("RE-COMPUTE", []),
    ],
)
def test_a_phrasing_that_needs_punctuation_is_found(pattern: str, dead: list[str]) -> None:
    assert unmatchable_parts(pattern) == dead


# Written answers by authors who saw only the contract's list of key ideas, never the phrasings, in three rounds. Each
# later round was written after the phrasings had been widened for the ones before, so it measured them on answers they
# had not seen: round 2 found 4 of 30 complete answers per question losing an idea, round 3 found 3 of 24 (04) and 1 of
# 24 (06); now none does. Per round and question, 24 to 36 answers state every idea in their own style (markdown,
# LaTeX, plain words, analogies, non-native English, code, worked numbers...) and 6 to 12 each leave out one. One line
# per answer: "missing" names the ideas (1-based, in the rubric's order) it leaves out; "credited_anyway" those a
# lenient phrasing credits all the same, with the reason in "why".
WRITTEN_ANSWERS = ROOT / "tests" / "fixtures" / "written_answers"


@pytest.mark.parametrize(
    ("rubric_file", "corpus"),
    [("04_automatic_differentiation.yaml", "checkpointing_answer_04.jsonl"),
     ("04_automatic_differentiation.yaml", "checkpointing_answer_04_round2.jsonl"),
     ("06_vectorised_tensor_code.yaml", "broadcasting_answer_06.jsonl"),
     ("04_automatic_differentiation.yaml", "checkpointing_answer_04_round3.jsonl"),
     ("06_vectorised_tensor_code.yaml", "broadcasting_answer_06_round2.jsonl"),
     ("06_vectorised_tensor_code.yaml", "broadcasting_answer_06_round3.jsonl")],
)
def test_answers_written_blind_earn_exactly_the_ideas_they_state(reference: Any, rubric_file: str, corpus: str) -> None:
    check = make(load_rubric(ROOT / "rubrics" / rubric_file), "ex4", "written_answer")
    ideas = [idea["id"] for idea in check.params["ideas"]]
    answers = [json.loads(line) for line in (WRITTEN_ANSWERS / corpus).read_text(encoding="utf-8").splitlines()]
    assert sum(not a["missing"] for a in answers) >= 24 and sum(bool(a["missing"]) for a in answers) >= 6
    wrong = {}
    for answer in answers:
        verdict = judge(check, context(reference), lambda call, text=answer["text"]: Answer(True, {"text": text}))
        credited = {idea["id"] for idea in verdict.shown["ideas"] if idea["matched"]}
        stated = {idea for n, idea in enumerate(ideas, 1) if n not in answer["missing"] or n in answer.get("credited_anyway", [])}
        if credited != stated:
            wrong[answer["id"]] = (sorted(stated), sorted(credited), verdict.message)
    assert wrong == {}
