"""``grade new-course DIR``: write an installable course package with one small example assignment.

The package registers its assignments through the ``grader.assignments`` entry
point (see :mod:`grader.assignments`): a function that returns the paths of its
rubric files. Each rubric names, relative to itself, its reference module, its
contract and (by the folder convention) its notebooks::

    DIR/pyproject.toml                         the entry point: <package> = "<package>:rubrics"
    DIR/README.md                              for the course author: what is where, how to add an assignment
    DIR/tests/test_assignments.py              check-rubric on every assignment; every solution graded to full marks
    DIR/<package>/__init__.py                  rubrics(): the rubric files
    DIR/<package>/rubrics/<id>.yaml            the rubric; reference: ../reference/<module>.py, contract: CONTRACT-<n>.md
    DIR/<package>/rubrics/CONTRACT-<n>.md      the student contract the rubric's checks quote
    DIR/<package>/reference/<module>.py        the reference answers the checks compare with
    DIR/<package>/reference/solution_<n>.ipynb the solved notebook (its metadata names the assignment)
    DIR/<package>/exercises/<id>.ipynb         the student notebook, made by ``grade assign`` from the solution

Nothing is written into a folder that already holds files.
"""

from __future__ import annotations

import keyword
import re
import sys
import textwrap
from pathlib import Path

import click
import nbformat

from grader.authoring.notebook import make_student_notebook
from grader.errors import ExitCode, GraderError, UsageError

ASSIGNMENT = "01_tensor_basics"


def package_name(folder: Path) -> str:
    """The course's import name, from its folder's name: lower case, words joined by ``_``, a valid identifier."""
    name = "_".join(re.findall(r"[a-z0-9]+", folder.resolve().name.lower())) or "course"
    name = name if not name[0].isdigit() else f"course_{name}"
    return f"{name}_course" if keyword.iskeyword(name) or name in {"grader", "torch", "tests"} else name


@click.command("new-course", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
def new_course(folder: Path) -> None:
    """Write an installable course package into DIR, with one small example assignment.

    The package registers its assignments with the grader (the
    grader.assignments entry point); `pip install -e DIR` installs them, and
    `grade --list-assignments` lists them. Its README says how to add an
    assignment; its tests run check-rubric on each and grade each solution.
    Exit status: 0 written; 2 refused (DIR holds files; nothing written).
    """
    try:
        written = write_course(folder)
    except GraderError as exc:
        click.echo(f"grade new-course: error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    package = package_name(folder)
    click.echo(f"grade new-course: wrote {folder} ({len(written)} files; package {package}, assignment {ASSIGNMENT})")
    click.echo(f"  next: pip install -e {folder}   then   grade --list-assignments   and   python -m pytest {folder / 'tests'}")
    sys.exit(ExitCode.OK)


def write_course(folder: Path) -> list[Path]:
    """Write the course package into ``folder`` (created; refused when it holds files). Returns the files written."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"{folder}: exists and is not an empty folder: give a new folder")
    package = package_name(folder)
    solution = _solution_notebook()
    files = {
        "pyproject.toml": _PYPROJECT.format(package=package),
        "README.md": _README.format(package=package, assignment=ASSIGNMENT),
        "tests/test_assignments.py": _TESTS.format(package=package),
        f"{package}/__init__.py": _INIT,
        f"{package}/rubrics/{ASSIGNMENT}.yaml": _RUBRIC.format(assignment=ASSIGNMENT),
        f"{package}/rubrics/CONTRACT-01.md": _CONTRACT,
        f"{package}/reference/tensors01.py": _REFERENCE,
        f"{package}/reference/solution_01.ipynb": nbformat.writes(solution) + "\n",
        f"{package}/exercises/{ASSIGNMENT}.ipynb": nbformat.writes(make_student_notebook(solution, ASSIGNMENT)) + "\n",
    }
    written = []
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _solution_notebook() -> nbformat.NotebookNode:
    """The solved notebook of the example assignment: a lesson, two marked answers, its assignment id in the metadata."""
    cells = [
        nbformat.v4.new_markdown_cell("# 01: Tensor basics\n\nTwo small exercises on tensors: a new tensor computed from "
                                      "all entries, and a tensor changed in place.", id="title"),
        nbformat.v4.new_code_cell("import torch\n\ntorch.manual_seed(0)", id="setup"),
        nbformat.v4.new_markdown_cell("## Exercise 1: standardize\n\nWrite `standardize(x)`: `(x - m) / s`, where `m` is the "
                                      "mean of all entries of `x` and `s` their standard deviation with `unbiased=False`. "
                                      "Keep the dtype of `x`.", id="ex1-md"),
        nbformat.v4.new_code_cell(_ANSWER_1, id="ex1-answer"),
        nbformat.v4.new_markdown_cell("## Exercise 2: scale in place\n\nWrite `scale_(x, factor)`: multiply `x` by `factor` "
                                      "in place (the trailing underscore says so, as in `Tensor.mul_`) and return `x`.", id="ex2-md"),
        nbformat.v4.new_code_cell(_ANSWER_2, id="ex2-answer"),
        nbformat.v4.new_code_cell("x = torch.arange(6.0).reshape(2, 3)\nprint(standardize(x))\nprint(scale_(x, 2.0) is x, x)", id="try-it"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata.update({"grader": {"assignment": ASSIGNMENT},
                        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                        "language_info": {"name": "python"}})
    return nb


_ANSWER_1 = textwrap.dedent('''\
    def standardize(x):
        """(x - mean) / std over all entries of x (std with unbiased=False), same shape and dtype as x."""
        # BEGIN SOLUTION
        return (x - x.mean()) / x.std(unbiased=False)
        # END SOLUTION''')

_ANSWER_2 = textwrap.dedent('''\
    def scale_(x, factor):
        """Multiply x by factor in place and return x."""
        # BEGIN SOLUTION
        x.mul_(factor)
        return x
        # END SOLUTION''')

_PYPROJECT = '''\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{package}"
version = "0.1.0"
description = "A course's assignments for the autodiff grader"
requires-python = ">=3.10"
dependencies = ["autodiff-grader"]

# The grader finds this course's assignments through this entry point: a function returning the paths of its rubrics.
[project.entry-points."grader.assignments"]
{package} = "{package}:rubrics"

[tool.setuptools]
packages = ["{package}"]

[tool.setuptools.package-data]
{package} = ["rubrics/*.yaml", "rubrics/*.md", "reference/*.py", "reference/*.ipynb", "exercises/*.ipynb"]
'''

_INIT = '''\
"""This course's assignments, registered with the grader by the ``grader.assignments`` entry point in pyproject.toml."""

from __future__ import annotations

from pathlib import Path


def rubrics() -> list[Path]:
    """The rubric files of this course's assignments (each names its reference module and contract beside it)."""
    return sorted((Path(__file__).resolve().parent / "rubrics").glob("*.yaml"))
'''

_RUBRIC = '''\
# Rubric for assignment {assignment}. Every check quotes, under `contract:`, the sentences of CONTRACT-01.md it
# enforces (the grader refuses a quote that is not in the contract word for word). `grade kinds` lists the check kinds.
assignment: {assignment}
title: "01: Tensor basics"
reference: ../reference/tensors01.py
contract: CONTRACT-01.md
notebook: {assignment}.ipynb
seed: 1

exercises:
  - id: ex1
    title: "standardize"
    answers: [standardize]
    checks:
      - id: values
        kind: call_vs_reference
        title: "standardize gives (x - mean) / std over all entries"
        points: 30
        contract:
          - "`standardize(x)` takes a floating-point tensor `x` of any shape and returns `(x - m) / s`, where `m` is the mean
            of all entries of `x` and `s` their standard deviation with `unbiased=False`, a new tensor of the same shape."
        params:
          function: standardize
          dims: {{N: [2, 6], C: [2, 6]}}
          args:
            - tensor: {{shape: [N, C], dtype: float64, low: -5, high: 5}}
          calls: 4
        feedback: "Use the mean and the standard deviation of all entries (x.std(unbiased=False)), not of each row."
      - id: keeps_dtype
        kind: call_vs_reference
        title: "standardize keeps the dtype of x"
        points: 20
        contract:
          - "The result has the dtype of `x`: a `float32` input gives a `float32` result."
        params:
          function: standardize
          dims: {{N: [2, 6]}}
          args:
            - tensor: {{shape: [N], dtype: float32, low: -5, high: 5}}
          calls: 2
          check_dtype: true
          rtol: 1.0e-4
          atol: 1.0e-6
        feedback: "Compute in the dtype of x: do not convert to float64 or to a Python list."

  - id: ex2
    title: "scale in place"
    answers: [scale_]
    checks:
      - id: in_place
        kind: call_vs_reference
        title: "scale_ multiplies x in place and returns it"
        points: 50
        contract:
          - "`scale_(x, factor)` multiplies the tensor `x` by the Python float `factor` in place
            (the caller's tensor holds the result) and returns `x`."
        params:
          function: scale_
          dims: {{N: [2, 6]}}
          args:
            - tensor: {{shape: [N], dtype: float64, low: -5, high: 5}}
            - float: {{low: 0.5, high: 3.0}}
          compare_after: [0]
          calls: 3
        feedback: "Change x itself (x.mul_(factor) or x *= factor), then return it."
'''

_CONTRACT = '''\
# Assignment 01 (Tensor basics): the student contract

This is what a submission must define for the grader to find its answers: a notebook (`.ipynb`) or a Python
module (`.py`) whose top-level names, after it has run from top to bottom, are those below. The grader calls
each function on tensors it generates afresh (shapes and values drawn at random, the same for the submission
and the reference) and compares what comes back with the reference within a small tolerance. An exercise whose
answers are all still stubs (a body of only `pass`, `...` or `raise NotImplementedError`) is not attempted and
scores 0. Each exercise is worth 50 points.

## Exercise 1: standardize

`standardize(x)` takes a floating-point tensor `x` of any shape and returns `(x - m) / s`, where `m` is the mean
of all entries of `x` and `s` their standard deviation with `unbiased=False`, a new tensor of the same shape.
The result has the dtype of `x`: a `float32` input gives a `float32` result.

## Exercise 2: scale in place

`scale_(x, factor)` multiplies the tensor `x` by the Python float `factor` in place (the caller's tensor holds
the result) and returns `x`.
'''

_REFERENCE = '''\
"""Reference answers of assignment 01 (tensor basics): the checks compare the submission's functions with these."""

from __future__ import annotations

import torch


def standardize(x: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std over all entries of x (std with unbiased=False), same shape and dtype as x."""
    return (x - x.mean()) / x.std(unbiased=False)


def scale_(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Multiply x by factor in place and return x."""
    return x.mul_(factor)
'''

_TESTS = '''\
"""Every assignment of this course: its rubric is strong (check-rubric), its solution gets full marks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from {package} import rubrics

RUBRICS = rubrics()


def _grade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("rubric", RUBRICS, ids=[r.stem for r in RUBRICS])
def test_the_solution_gets_full_marks(rubric: Path) -> None:
    solutions = sorted((rubric.parent.parent / "reference").glob("solution*.ipynb"))
    assert solutions, f"no solution notebook beside the reference of {{rubric.name}}"
    for solution in solutions:
        done = _grade(str(solution), "--rubric", str(rubric), "--format", "json")
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout)
        assert report["score"] == report["max_score"], report


@pytest.mark.parametrize("rubric", RUBRICS, ids=[r.stem for r in RUBRICS])
def test_the_rubric_catches_the_solution_broken_in_small_ways(rubric: Path) -> None:
    """check-rubric: the solution gets full marks, the template 0, and (almost) every mutant of the solution loses points."""
    done = _grade("check-rubric", str(rubric), "--format", "json", "--no-record", "--fail-under", "80")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = json.loads(done.stdout)
    assert run["solution_score"] == run["max_score"], run
'''

_README = '''\
# {package}: a course's assignments for the grader

`grade new-course` wrote this package with one small example assignment, `{assignment}`. Install it next to the
grader and the grader finds its assignments:

```bash
pip install -e .                 # in the environment where the grader is installed
grade --list-assignments         # lists {assignment} from {package}
grade {package}/reference/solution_01.ipynb   # the solution: full marks
python -m pytest tests           # check-rubric on every assignment, every solution graded (a minute or two)
```

## What is where

| file | what |
|---|---|
| `pyproject.toml` | the `grader.assignments` entry point `{package} = "{package}:rubrics"`: how the grader finds this course |
| `{package}/__init__.py` | `rubrics()`: the paths of the rubric files (every `rubrics/*.yaml`) |
| `{package}/rubrics/{assignment}.yaml` | the rubric: exercises, checks (kinds: `grade kinds`), points, the contract sentences each check enforces |
| `{package}/rubrics/CONTRACT-01.md` | the student contract: what a submission must define; the rubric quotes it word for word |
| `{package}/reference/tensors01.py` | the reference answers the checks compare with (the rubric's `reference:`) |
| `{package}/reference/solution_01.ipynb` | the solved notebook, answers marked `# BEGIN SOLUTION` ... `# END SOLUTION`; names the assignment |
| `{package}/exercises/{assignment}.ipynb` | the student notebook, made from the solution by `grade assign` |
| `tests/test_assignments.py` | every assignment: `grade check-rubric` passes and the solution gets full marks |

## Adding an assignment

1. Write the solved notebook in `{package}/reference/` with the answers marked, and put the assignment id in
   its metadata (`"grader": {{"assignment": "<id>"}}`).
2. Write its contract (`{package}/rubrics/CONTRACT-<n>.md`) and its reference module (`{package}/reference/`).
3. Write its rubric `{package}/rubrics/<id>.yaml` (`assignment: <id>`, `reference:`, `contract:`, `notebook: <id>.ipynb`).
4. Make the student notebook: `grade assign {package}/reference/<solution>.ipynb --rubric {package}/rubrics/<id>.yaml --out {package}/exercises/`.
5. Check the rubric's strength: `grade check-rubric {package}/rubrics/<id>.yaml`, then `python -m pytest tests`.

Assignment ids must be unique among the installed assignments: the grader refuses two with the same id.
'''
