"""The grader's exit statuses and exceptions: one root, each subclass carrying its exit status.

Student failures are results, not exceptions: these are raised only when the
grader cannot do its job (bad arguments, a broken rubric, an unusable file).
The commands are the one place that turns them into a message and a status.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit status of every ``grade`` command (the values README.md documents)."""

    OK = 0  # graded, measured, written, or up to date
    FAILED = 1  # done, but the check asked for did not hold: a score under --fail-under, a notebook out of date (assign --check)
    UNUSABLE = 2  # the arguments, a rubric or a file could not be used, or the command refused (nothing written)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: stopped, with the workers and their kernels


class GraderError(Exception):
    """Root of the grader's own errors."""

    exit_code = ExitCode.UNUSABLE

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
