"""The grader's exceptions: one root, each subclass carrying its exit status.

Student failures are results, not exceptions: these are raised only when the
grader cannot do its job (bad arguments, a broken rubric, an unusable file).
The CLI is the one place that turns them into a message and a status.
"""

from __future__ import annotations


class GraderError(Exception):
    """Root of the grader's own errors."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(GraderError):
    """The command line asked for something that cannot be done."""


class RubricError(GraderError):
    """A rubric file is missing, unreadable or does not follow the schema."""


class SubmissionError(GraderError):
    """A submission file cannot be read as a notebook or a Python module."""


class ReferenceError_(GraderError):
    """The reference module named by a rubric cannot be loaded."""
