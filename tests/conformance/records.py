"""The shape of a conformance variant: a correct submission and its "almost" twin.

A twin is the variant's cells with one planted mistake, written as a single text
replacement (``old`` -> ``new``) in one cell, so that the twin can differ from the
correct variant in that one place only.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    """One planted mistake: replace ``old`` (found exactly once in the cells as written, before dedenting) by ``new``.

    ``check`` is the (exercise id, check id) of the rubric check that must lose points for it.
    """

    old: str
    new: str
    check: tuple[str, str]
    description: str


@dataclass(frozen=True)
class Variant:
    """A correct answer to one exercise, as some student or tutorial would write it."""

    id: str
    exercise: str
    style: str
    cells: tuple[str, ...]
    mistake: Mistake

    @property
    def answer_cells(self) -> tuple[str, ...]:
        """The cells, dedented as they would sit in a notebook."""
        return tuple(textwrap.dedent(c).strip("\n") for c in self.cells)

    @property
    def twin_cells(self) -> tuple[str, ...]:
        """The same cells with the planted mistake (``old`` must occur exactly once in all cells)."""
        old, new = self.mistake.old, self.mistake.new
        total = sum(c.count(old) for c in self.cells)
        if total != 1:
            raise ValueError(f"{self.exercise}/{self.id}: the mistake's text occurs {total} times, expected once: {old!r}")
        planted = tuple(c.replace(old, new) for c in self.cells)
        return tuple(textwrap.dedent(c).strip("\n") for c in planted)


def variant(exercise: str, id: str, style: str, *cells: str, mistake: Mistake) -> Variant:
    """A Variant of ``exercise`` made of the given notebook cells, in order."""
    return Variant(id=id, exercise=exercise, style=style, cells=cells, mistake=mistake)
