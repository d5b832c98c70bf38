"""A class of lesson-04 notebooks with planted copies, for the similarity report's tests and its timing.

Independent students answer with the conformance suite's correct variants
(genuinely different styles, one per exercise per student); planted copies
take another student's answers and disguise them: renamed variables,
functions reordered, comments and layout rewritten, or one function pasted
into an otherwise independent notebook. Results are hand-made JSON, so no
kernel is needed.
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import keyword
import re
import tokenize
from pathlib import Path
from typing import Any

import nbformat

from tests.conformance import ex1, ex2, ex3, ex4
from tests.conformance.templates import TEMPLATE

EXERCISES = (ex1.VARIANTS, ex2.VARIANTS, ex3.VARIANTS, ex4.VARIANTS)
ASSIGNMENT = "04_automatic_differentiation"
# Which variant of ex1..ex4 each independent student wrote: every student a different style in every exercise.
STYLES = {
    "ana": (0, 0, 0, 0),
    "ben": (2, 3, 2, 1),
    "chloe": (6, 6, 3, 2),
    "dev": (7, 10, 6, 5),
    "eli": (12, 12, 8, 7),
    "fay": (13, 13, 9, 9),
    "gus": (5, 14, 11, 10),
    "hana": (9, 16, 14, 12),
}
# Planted copies: copier -> (source, how the copy was disguised).
PLANTED = {"ana_renamed": ("ana", "rename"), "ben_reordered": ("ben", "reorder"), "chloe_recommented": ("chloe", "recomment")}
ONE_FUNCTION = ("ivy", (3, 11, 1, 4), "dev", "checkpointed_forward")  # ivy: her own answers, but dev's checkpointed_forward
_KEPT = set(dir(builtins)) | {"self", "cls", "np", "torch", "nn", "math", "F", "checkpoint", "functools", "itertools"}


def answers_of(styles: tuple[int, ...]) -> list[list[str]]:
    """Per exercise, the answer cells of the chosen variants."""
    return [list(variants[index].answer_cells) for variants, index in zip(EXERCISES, styles, strict=True)]


def notebook(answers: list[list[str]]) -> nbformat.NotebookNode:
    """The exercise notebook with each ``exN-answer`` cell replaced by that exercise's answer cells."""
    nb = nbformat.read(TEMPLATE, as_version=4)
    cells = []
    for cell in nb.cells:
        match = re.fullmatch(r"ex(\d)-answer", cell.get("id", ""))
        if match:
            cells.extend(nbformat.v4.new_code_cell(source) for source in answers[int(match[1]) - 1])
        else:
            cells.append(cell)
    nb.cells = cells
    return nb


def rename(source: str) -> str:
    """Every name the student chose renamed (keywords, builtins, modules and attributes kept)."""
    out = []
    previous = ""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        text = token.string
        if token.type == tokenize.NAME and not keyword.iskeyword(text) and text not in _KEPT and previous != "." and not text.startswith("__"):
            text = f"my_{text}_2"
        out.append((token.type, text))
        previous = token.string
    return tokenize.untokenize(out)


def reorder(source: str) -> str:
    """The cell's top-level statements in reverse order (functions and classes first, then the rest)."""
    lines = source.splitlines()
    nodes = ast.parse(source).body
    chunks = ["\n".join(lines[n.lineno - 1 - len(getattr(n, "decorator_list", [])):n.end_lineno]) for n in nodes]
    definitions = [c for c, n in zip(chunks, nodes, strict=True) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    rest = [c for c, n in zip(chunks, nodes, strict=True) if not isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    return "\n\n\n".join(reversed(definitions)) + "\n\n" + "\n".join(rest)


def recomment(source: str) -> str:
    """Comments and docstrings replaced by others, blank lines removed, spacing around operators changed."""
    out = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            continue
        text = token.string
        if token.type == tokenize.STRING and text.startswith(('"""', "'''")):
            text = '"""My own words about this."""'
        out.append((token.type, text))
    body = tokenize.untokenize(out)
    lines = [line.replace(" = ", "=").rstrip() for line in body.splitlines() if line.strip()]
    return "# my solution\n" + "\n".join(f"{line}  # step" if line.endswith(")") else line for line in lines)


def disguise(answers: list[list[str]], how: str) -> list[list[str]]:
    change = {"rename": rename, "reorder": reorder, "recomment": recomment}[how]
    return [[change(source) for source in cells] for cells in answers]


def paste_function(answers: list[list[str]], donor: list[list[str]], name: str) -> list[list[str]]:
    """``answers`` with the last exercise's function ``name`` replaced by the donor's."""
    donor_source = "\n\n".join(donor[3])
    node = next(n for n in ast.parse(donor_source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    function = "\n".join(donor_source.splitlines()[node.lineno - 1:node.end_lineno])
    own = "\n\n".join(answers[3])
    mine = next(n for n in ast.parse(own).body if isinstance(n, ast.FunctionDef) and n.name == name)
    lines = own.splitlines()
    return [*answers[:3], ["\n".join(lines[:mine.lineno - 1] + function.splitlines() + lines[mine.end_lineno:])]]


def class_answers() -> dict[str, list[list[str]]]:
    """Every student's answers: the independent ones, the planted copies and the one pasted function."""
    answers = {student: answers_of(styles) for student, styles in STYLES.items()}
    for copier, (source, how) in PLANTED.items():
        answers[copier] = disguise(answers[source], how)
    student, styles, donor, name = ONE_FUNCTION
    answers[student] = paste_function(answers_of(styles), answers[donor], name)
    return answers


def planted_pairs() -> set[tuple[str, str]]:
    """The pairs that copied, names in sorted order."""
    pairs = {tuple(sorted((copier, source))) for copier, (source, _) in PLANTED.items()}
    pairs.add(tuple(sorted((ONE_FUNCTION[0], ONE_FUNCTION[2]))))
    return pairs  # type: ignore[return-value]


def result(student: str, path: Path, failures: dict[tuple[str, str], str] | None = None) -> dict[str, Any]:
    """A hand-made ``results.jsonl`` line: every check passed, except ``failures`` ((exercise, check) -> message)."""
    failures = failures or {}
    exercises = []
    for number in range(1, 5):
        checks = []
        for check in ("values", "behaviour"):
            message = failures.get((f"ex{number}", check))
            checks.append({"id": check, "title": check, "outcome": "failed" if message else "passed", "score": 0 if message else 5,
                           "max_score": 5, "message": message or "ok", "hints": [], "review": False, "hidden": False,
                           "override": None, "blame": "answer" if message else "none", "passed": not message})
        exercises.append({"id": f"ex{number}", "title": f"Exercise {number}", "score": 0, "max_score": 10, "checks": checks})
    return {"submission": str(path), "student": student, "assignment": ASSIGNMENT, "status": "graded", "score": 0, "max_score": 40,
            "exercises": exercises, "errors": [], "duration_s": 1.0, "reason": "", "grader_version": "test", "seed": 4,
            "environment": {}, "blame": "none", "batch": {"key": None, "graded_at": "2026-12-07T00:00:00+00:00"}}


def write_class(folder: Path, answers: dict[str, list[list[str]]], failures: dict[str, dict[tuple[str, str], str]] | None = None) -> Path:
    """Write each student's notebook under ``folder/submissions`` and ``folder/out/results.jsonl``; returns the out folder."""
    failures = failures or {}
    submissions, out = folder / "submissions", folder / "out"
    submissions.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for student, student_answers in sorted(answers.items()):
        path = submissions / f"{student}.ipynb"
        nbformat.write(notebook(student_answers), path)
        lines.append(json.dumps(result(student, path, failures.get(student))))
    (out / "results.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return out
