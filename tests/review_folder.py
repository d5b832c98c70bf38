"""A graded class folder for the review tests, built without kernels.

Each student has a real notebook file; their written answer is judged by the
real ``key_ideas`` kind of lesson 04's rubric (a pure function), the code
checks get hand-made verdicts, and the folder is written by the batch's own
:func:`grader.batch.write_outputs`, with a roster and a Canvas gradebook.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from grader import load_rubric
from grader.batch import BatchOptions, ReportSettings, write_outputs
from grader.batch.roster import load_roster, match_roster
from grader.batch.store import Record
from grader.checks.registry import CHECK_KINDS
from grader.results import SubmissionResult, Verdict
from grader.rubric import Rubric
from grader.scoring import check_result, exercise_result, total
from tests.conftest import ROOT

RUBRIC = ROOT / "rubrics" / "04_automatic_differentiation.yaml"
ANSWERS = [
    "Gradient checkpointing stores only some activations during the forward pass. In the backward pass the missing ones are "
    "recomputed, so it trades extra compute for less memory.",
    "It is a way to save memory when a model is large. The layers between checkpoints are run again during backward.",
    "Checkpointing means that we keep the activations at segment boundaries and throw away the rest to save memory.",
    "The model is split into segments and it is a trade-off: it is slower because the forward is done a second time.",
    "I am not sure what this is but it is about memory and training of the model in the course.",
]


def student_name(i: int) -> str:
    return f"student{i:02d}"


def write_notebook(path: Path, answer: str) -> None:
    cells = [
        nbformat.v4.new_markdown_cell("# Exercise 4"),
        nbformat.v4.new_code_cell("import torch\nx = torch.ones(3)"),
        nbformat.v4.new_code_cell("def checkpointed_forward(model, x, segments):\n    return model(x)"),
        nbformat.v4.new_code_cell(f"checkpointing_answer = {answer!r}"),
    ]
    path.write_text(json.dumps(nbformat.v4.new_notebook(cells=cells)), encoding="utf-8")


def result_for(rubric: Rubric, student: str, notebook: Path, answer: str, segments_wrong: bool) -> SubmissionResult:
    (exercise,) = [ex for ex in rubric.exercises if ex.id == "ex4"]
    checks = []
    for spec in exercise.checks:
        if spec.kind == "key_ideas":
            kind = CHECK_KINDS[spec.kind](spec)
            verdict = kind._score(answer, kind._patterns())
        elif spec.id == "segments" and segments_wrong:
            verdict = Verdict.failed('code cell 2 (it starts "def checkpointed_forward(model, x, segments):") ignores `segments`')
        else:
            verdict = Verdict.passed()
        checks.append(check_result(spec, verdict))
    exercises = (exercise_result(exercise, checks),)
    score, max_score = total(exercises)
    return SubmissionResult(str(notebook), student, rubric.title, "graded", score, max_score, exercises, (), 1.0, rubric_sha256=rubric.sha256)


def build_class_folder(root: Path, students: int = 20) -> Path:
    """``root/class`` (the notebooks) and ``root/out`` (the graded folder, Canvas gradebook included); returns ``out``."""
    rubric = load_rubric(RUBRIC)
    notebooks, out = root / "class", root / "out"
    notebooks.mkdir()
    roster_lines = ["submission,name,student_id,canvas_id,login,section"]
    records = []
    for i in range(students):
        name = student_name(i)
        answer = ANSWERS[i % len(ANSWERS)]
        write_notebook(notebooks / f"{name}.ipynb", answer)
        result = result_for(rubric, name, notebooks / f"{name}.ipynb", answer, segments_wrong=i % 3 == 0)
        records.append(Record(result, None, "2026-01-01T00:00:00.000+00:00"))
        roster_lines.append(f"{name},Student {i},S{i:03d},{1000 + i},{name},A")
    (root / "roster.csv").write_text("\n".join(roster_lines) + "\n", encoding="utf-8")
    roster = load_roster(root / "roster.csv")
    options = BatchOptions(out=out, only=("ex4",), gradebooks=("csv", "canvas"), roster=roster)
    out.mkdir()
    ReportSettings.of(rubric, options).save(out)
    write_outputs(out, records, rubric, ("ex4",), options, match_roster(roster, [r.result for r in records]))
    return out
