"""Automated grader for PyTorch course notebooks.

The public API, for grading from Python (``examples/grade_from_python.py``)::

    import grader

    rubric = grader.load_rubric("rubrics/04_automatic_differentiation.yaml")
    result = grader.grade_submission(Path("my_notebook.ipynb"), rubric, grader.Options(only=("ex1",)))
    print(result.score, result.max_score)

``load_rubric``, ``grade_submission`` and ``Options``, the check base class
``Check`` with ``register`` for new check kinds, and the result types
``SubmissionResult``, ``ExerciseResult``, ``CheckResult``, ``Verdict`` and
``Outcome``. They are imported on first use: this package is also imported
inside student kernels by ``%load_ext grader`` (which adds the ``%grade`` magic,
:mod:`grader.live.magic`), so importing it must import nothing else.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader.version import __version__

if TYPE_CHECKING:
    from grader.checks import Check, register
    from grader.pipeline import Options, grade_submission
    from grader.results import CheckResult, ExerciseResult, Outcome, SubmissionResult, Verdict
    from grader.rubric import Rubric

__all__ = [
    "Check",
    "CheckResult",
    "ExerciseResult",
    "Options",
    "Outcome",
    "SubmissionResult",
    "Verdict",
    "__version__",
    "grade_submission",
    "load_rubric",
    "register",
]

# Name -> the module that defines it, imported on first use (see the module docstring).
_LAZY = {
    "Check": "grader.checks",
    "register": "grader.checks",
    "Options": "grader.pipeline",
    "grade_submission": "grader.pipeline",
    "CheckResult": "grader.results",
    "ExerciseResult": "grader.results",
    "Outcome": "grader.results",
    "SubmissionResult": "grader.results",
    "Verdict": "grader.results",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_rubric(path: Path | str) -> Rubric:
    """Read and validate the rubric at ``path`` against every check kind installed; raise ``RubricError`` naming the place."""
    from grader.checks.registry import CHECK_KINDS  # imported on first use, as everything this package offers
    from grader.rubric import load_rubric as load

    return load(path, CHECK_KINDS)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext grader``: register the ``%grade`` magic and start its judge process in the background."""
    from grader.live.magic import register as register_magic  # imported when the extension is loaded, not with the package

    register_magic(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext grader``: stop the judge process."""
    from grader.live.magic import unregister  # imported when the extension is unloaded, not with the package

    unregister(ipython)
