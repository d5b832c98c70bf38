"""The similarity report: ranked pairs and their matching code side by side, as one HTML page.

Formatting only: the pairs, regions and shared failures come computed. The
page is a Jinja2 template with autoescaping (``grader/templates/similarity.html.j2``):
student code and check messages are untrusted text, escaped by the template engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grader.reporters.pages import render
from grader.similarity.compare import Document, Pair, Region, regions
from grader.similarity.evidence import SharedFailure

SHOWN_PAIRS, DETAILED_PAIRS, REGIONS_PER_PAIR = 100, 25, 6


@dataclass(frozen=True)
class CodeLine:
    """One line of a shown unit: its number in the cell, its text and whether it is part of the match."""

    number: int
    text: str
    matched: bool


@dataclass(frozen=True)
class Side:
    """One side of a shown region: whose code, the cell (1-based among code cells) and its lines."""

    student: str
    cell: int
    lines: tuple[CodeLine, ...]


@dataclass(frozen=True)
class ShownRegion:
    """One matching region of a pair: how many fingerprints the two sides share, and both sides (the pair's order)."""

    shared: int
    sides: tuple[Side, Side]


@dataclass(frozen=True)
class ShownPair:
    """A ranked pair as the page shows it (``regions`` only for the first ``DETAILED_PAIRS``)."""

    rank: int
    pair: Pair
    failures: tuple[SharedFailure, ...]
    regions: tuple[ShownRegion, ...]


@dataclass(frozen=True)
class ReportInfo:
    """What the page says about where its inputs came from."""

    title: str
    submissions: int
    source_note: str
    template_note: str
    skipped: tuple[str, ...] = ()


def side(student: str, document: Document, region: Region, first: bool) -> Side:
    """The unit of one side of ``region`` (``student``'s ``document``) with its matched lines marked."""
    unit = region.first_unit if first else region.second_unit
    matched = region.first_lines if first else region.second_lines
    text = document.cells[unit.cell].splitlines()
    lines = tuple(CodeLine(n, text[n - 1] if n <= len(text) else "", n in matched) for n in unit.lines)
    return Side(student, unit.cell + 1, lines)


def shown_region(pair: Pair, documents: Mapping[str, Document], region: Region) -> ShownRegion:
    """``region`` of ``pair`` as the page shows it: each side's lines, in the pair's order."""
    sides = (side(pair.first, documents[pair.first], region, True), side(pair.second, documents[pair.second], region, False))
    return ShownRegion(region.shared, sides)


def shown_pairs(
    pairs: Sequence[Pair],
    documents: Mapping[str, Document],
    failures: Mapping[tuple[str, str], Sequence[SharedFailure]],
    ignored: frozenset[int] = frozenset(),
) -> list[ShownPair]:
    """The first ``SHOWN_PAIRS`` pairs, with matching regions for the first ``DETAILED_PAIRS``."""
    shown = []
    for rank, pair in enumerate(pairs[:SHOWN_PAIRS], start=1):
        found: tuple[ShownRegion, ...] = ()
        if rank <= DETAILED_PAIRS:
            found_regions = regions(documents[pair.first], documents[pair.second], ignored)
            found = tuple(shown_region(pair, documents, region) for region in shown_regions(found_regions))
        shown.append(ShownPair(rank, pair, tuple(failures.get((pair.first, pair.second), ())), found))
    return shown


def shown_regions(found: Sequence[Region]) -> list[Region]:
    """The regions worth showing: the best, and the next ones sharing more than one fingerprint (``REGIONS_PER_PAIR`` at most)."""
    return [region for index, region in enumerate(found[:REGIONS_PER_PAIR]) if index == 0 or region.shared > 1]


def render_report(info: ReportInfo, pairs: Sequence[ShownPair], failures: Sequence[SharedFailure], total_pairs: int) -> str:
    """The HTML page."""
    return render("similarity.html.j2", info=info, pairs=pairs, failures=failures, total_pairs=total_pairs, detailed=DETAILED_PAIRS)
