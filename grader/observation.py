"""Mark a function of an assignment's reference module as an *observation*: a measurement the ``observation`` kind runs.

An observation is a function of one argument, the submission's namespace (a dict
of its globals), that returns a dict of JSON-able values (numbers, booleans,
strings, None, tensors, numpy arrays, and lists, tuples and dicts of them)::

    from grader.observation import observation

    @observation
    def loss_after_three_steps(ns):
        model = ns["build_mlp"](4, 8, 2)
        ...
        return {"loss": float(loss), "steps": 3}

The check kind ``observation`` sends *only this function's source* into the
student's kernel, runs it there on the student's globals, runs it here on the
reference module's, and compares the two key by key. The rubric loader refuses
a function that is not marked, or that uses any global name but ``torch``,
``numpy`` and ``math`` (and their submodules, under the names the reference
imports them as) and the builtins. See docs/authoring/observations.md for what
its kernel-side result can and cannot be trusted with.

This module imports nothing, so a reference module can import it anywhere.
"""

from __future__ import annotations

from typing import Any, TypeVar

F = TypeVar("F")

MARK = "__grader_observation__"


def observation(function: F) -> F:
    """Mark ``function`` as an observation (it is returned unchanged, with one attribute set)."""
    setattr(function, MARK, True)
    return function


def is_observation(value: Any) -> bool:
    """Whether ``value`` was marked with :func:`observation`."""
    return getattr(value, MARK, False) is True
