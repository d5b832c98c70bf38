"""Automated grader for the automatic-differentiation lesson (assignment 04).

In a notebook, ``%load_ext grader`` adds the ``%grade`` magic (see
:mod:`grader.live.magic`). Importing this package imports nothing else: the magic's
module is loaded when the extension is.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext grader``: register the ``%grade`` magic and start its judge process in the background."""
    from grader.live.magic import register

    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext grader``: stop the judge process."""
    from grader.live.magic import unregister

    unregister(ipython)
