"""Grade a notebook from Python with the grader's public API, and print a line per exercise and per check.

    python examples/grade_from_python.py [NOTEBOOK [RUBRIC [EXERCISE...]]]

By default: lesson 04's solution notebook, its bundled rubric, every exercise.
The exit status is 0 when the notebook was graded, 2 when it could not be.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grader

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    notebook = Path(argv[0]) if argv else ROOT / "reference" / "solution.ipynb"
    rubric = grader.load_rubric(argv[1] if len(argv) > 1 else ROOT / "rubrics" / "04_automatic_differentiation.yaml")
    result: grader.SubmissionResult = grader.grade_submission(notebook, rubric, grader.Options(only=tuple(argv[2:])))
    print(f"{result.student}: {result.score:g} / {result.max_score:g} ({result.status})")
    for exercise in result.exercises:
        print(f"  {exercise.id}: {exercise.score:g} / {exercise.max_score:g}")
        for check in exercise.checks:
            mark = "ok  " if check.outcome is grader.Outcome.PASSED else "FAIL"
            print(f"    {mark} {check.id}: {check.message}")
    return 0 if result.status == "graded" else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
