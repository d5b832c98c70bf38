"""Every pair of submissions compared on their answer code: shared fingerprints, ranked.

The template's code is subtracted first: a line whose normalised form is one
of the template's lines is dropped before hashing, and a fingerprint whose
hash is one of the template's k-grams is dropped after, so two students are
never "similar" for keeping the lesson. A fingerprint much of the class shares
(more than ``common_share`` of the submissions, or more than ``COMMON_CAP``
of them, but always more than ``COMMON_FLOOR``) is the assignment's idiom, not
evidence of two students copying, and is dropped too (MOSS's ``-m``, whose
default is 10). A pair's score is its shared fingerprints over the smaller side's
(at least ``MIN_SIZE``, so a nearly empty submission cannot score 100%),
or, when higher, the same share for the best-matching pair of units (a
function or the rest of a cell; at least ``UNIT_MIN_SIZE``): one function
pasted into otherwise own work is a small share of the whole but all of
that function.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from grader.similarity.fingerprint import WINDOW, Fingerprint, K, fingerprints, kgram_hashes
from grader.similarity.normalise import Unit, normalised_lines, units

# A unit needs as many fingerprints as a whole answer to score 100%: in a small class nothing is common enough to
# drop, and the few lines an exercise dictates (a three-layer nn.Sequential, a next_functions walk) filled a
# 12-fingerprint unit and flagged two independent students at 83%.
COMMON_SHARE, COMMON_FLOOR, COMMON_CAP, MIN_SIZE, UNIT_MIN_SIZE = 0.5, 3, 20, 20, 20


@dataclass(frozen=True)
class Template:
    """What the students were given: its normalised lines and the hashes of all its k-grams."""

    lines: frozenset[str]
    hashes: frozenset[int]
    cells: frozenset[str] = frozenset()  # its cells' text, stripped: a student's cell left as given is skipped whole

    @classmethod
    def from_cells(cls, cells: Sequence[str], k: int = K) -> Template:
        """The template of a notebook's code cells (no cells: nothing is subtracted)."""
        lines: set[str] = set()
        hashes: set[int] = set()
        for index, source in enumerate(cells):
            lines |= normalised_lines(source)
            for unit in units(index, source):
                hashes.update(kgram_hashes(unit.tokens, k))
        return cls(frozenset(lines), frozenset(hashes), frozenset(source.strip() for source in cells))


@dataclass(frozen=True)
class Document:
    """One submission's answer code: its cells, its units with the template's lines taken out, its fingerprints."""

    student: str
    cells: tuple[str, ...]
    units: tuple[Unit, ...]
    fingerprints: tuple[Fingerprint, ...]

    @classmethod
    def from_cells(cls, student: str, cells: Sequence[str], template: Template, k: int = K, window: int = WINDOW) -> Document:
        """A submission's document: template lines dropped, then fingerprints, then the template's k-grams dropped."""
        answer_units = tuple(unit for index, source in enumerate(cells) for unit in _answer_only(index, source, template))
        kept = tuple(f for f in fingerprints(answer_units, k, window) if f.hash not in template.hashes)
        return cls(student, tuple(cells), answer_units, kept)

    @property
    def hashes(self) -> frozenset[int]:
        return frozenset(f.hash for f in self.fingerprints)


def _answer_only(index: int, source: str, template: Template) -> list[Unit]:
    """The cell's units without the template's lines (none for a cell left exactly as the template gives it)."""
    if source.strip() in template.cells:
        return []
    found = []
    for unit in units(index, source):
        by_line: dict[int, list[str]] = {}
        for token in unit.tokens:
            by_line.setdefault(token.line, []).append(token.text)
        given = {line for line, texts in by_line.items() if " ".join(texts) in template.lines}
        tokens = tuple(t for t in unit.tokens if t.line not in given)
        if tokens:
            found.append(Unit(unit.cell, tuple(n for n in unit.lines if tokens[0].line <= n <= tokens[-1].line), tokens))
    return found


@dataclass(frozen=True)
class Region:
    """Where a pair matches: a unit of each side, the lines of each that hold shared fingerprints, and how many."""

    first_unit: Unit
    second_unit: Unit
    first_lines: frozenset[int]
    second_lines: frozenset[int]
    shared: int


@dataclass(frozen=True)
class Pair:
    """Two submissions: fingerprints shared in all and each side's count, and their best-matching units' share.

    Sizes count distinct fingerprints after dropping the common ones. ``unit_shared``
    is what the best-matching unit of each side share and ``unit_size`` the smaller
    of those two units: one function pasted into otherwise own work shows there.
    """

    first: str
    second: str
    shared: int
    first_size: int
    second_size: int
    unit_shared: int = 0
    unit_size: int = 0

    @property
    def document_score(self) -> float:
        """Shared fingerprints over the smaller side's (at least ``MIN_SIZE``), from 0 to 1."""
        return min(1.0, self.shared / max(MIN_SIZE, min(self.first_size, self.second_size)))

    @property
    def unit_score(self) -> float:
        """The best unit match's shared fingerprints over its smaller unit's (at least ``UNIT_MIN_SIZE``), from 0 to 1."""
        return min(1.0, self.unit_shared / max(UNIT_MIN_SIZE, self.unit_size))

    @property
    def score(self) -> float:
        """The larger of the two: all the answers alike, or one function or cell alike."""
        return max(self.document_score, self.unit_score)


def common_hashes(documents: Sequence[Document], common_share: float = COMMON_SHARE) -> frozenset[int]:
    """Hashes so many submissions share that they say nothing about copying."""
    counts = Counter(h for document in documents for h in document.hashes)
    limit = max(COMMON_FLOOR, min(COMMON_CAP, common_share * len(documents)))
    return frozenset(h for h, count in counts.items() if count > limit)


def compare_all(documents: Sequence[Document], common_share: float = COMMON_SHARE) -> list[Pair]:
    """Every pair sharing at least one fingerprint, best score first (ties by more shared, then by name)."""
    common = common_hashes(documents, common_share)
    holders: dict[int, set[tuple[int, int]]] = {}  # hash -> (document, unit) holding it
    for index, document in enumerate(documents):
        for f in document.fingerprints:
            if f.hash not in common:
                holders.setdefault(f.hash, set()).add((index, f.unit))
    sizes = Counter(document for held in holders.values() for document in {d for d, _ in held})
    unit_sizes = Counter(unit for held in holders.values() for unit in held)
    shared: Counter[tuple[int, int]] = Counter()
    unit_shared: Counter[tuple[tuple[int, int], tuple[int, int]]] = Counter()
    for held in holders.values():
        shared.update(combinations(sorted({d for d, _ in held}), 2))
        unit_shared.update((a, b) for a, b in combinations(sorted(held), 2) if a[0] != b[0])
    best: dict[tuple[int, int], tuple[float, int, int]] = {}
    for (a, b), count in unit_shared.items():
        smaller = min(unit_sizes[a], unit_sizes[b])
        candidate = (count / max(UNIT_MIN_SIZE, smaller), count, smaller)
        if candidate > best.get((a[0], b[0]), (0.0, 0, 0)):
            best[(a[0], b[0])] = candidate
    pairs = [
        Pair(documents[i].student, documents[j].student, count, sizes[i], sizes[j], *best.get((i, j), (0.0, 0, 0))[1:])
        for (i, j), count in shared.items()
    ]
    return sorted(pairs, key=lambda p: (-p.score, -p.shared, p.first, p.second))


def regions(first: Document, second: Document, ignored: frozenset[int] = frozenset()) -> list[Region]:
    """Where two documents match, unit against unit, most shared fingerprints first."""
    shared = (first.hashes & second.hashes) - ignored
    by_units: dict[tuple[int, int], tuple[set[int], set[int], set[int]]] = {}
    for a in first.fingerprints:
        if a.hash not in shared:
            continue
        for b in second.fingerprints:
            if b.hash == a.hash:
                lines_a, lines_b, hashes = by_units.setdefault((a.unit, b.unit), (set(), set(), set()))
                lines_a.update(a.lines)
                lines_b.update(b.lines)
                hashes.add(a.hash)
    found = [Region(first.units[ua], second.units[ub], frozenset(la), frozenset(lb), len(h)) for (ua, ub), (la, lb, h) in by_units.items()]
    return sorted(found, key=lambda r: (-r.shared, r.first_unit.cell, r.first_unit.lines))
