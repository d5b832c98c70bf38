"""Every check kind a rubric may name: the built-in ones, and those other packages bring.

Importing a kind's module registers it (:func:`grader.checks.register`), so this
module imports them all: the built-in modules below, then every module named in the
``grader.checks`` entry-point group. The kinds import the contract from
:mod:`grader.checks`; only this module imports the kinds.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from grader.checks import (  # noqa: F401 - importing registers them
    checkpointing,
    dual,
    graphs,
    instructor,
    numbers,
    observations,
    registered_kinds,
    rules,
    structure,
    tensors,
    text,
)

__all__ = ["CHECK_KINDS"]

CHECK_KINDS = registered_kinds()


def _load_plugin_kinds() -> None:
    for entry in entry_points(group="grader.checks"):
        entry.load()


_load_plugin_kinds()
