"""Fingerprints of normalised code: hashed k-grams of tokens, winnowed (Schleimer, Wilkerson and Aiken 2003, MOSS).

Every run of ``k`` consecutive tokens of a unit is hashed; winnowing keeps the
smallest hash of every window of ``window`` consecutive k-grams (the rightmost
on ties), so any shared run of at least ``k + window - 1`` tokens is sure to
leave a shared fingerprint, while a document keeps only about 2 / (window + 1)
of its k-grams. The hash is BLAKE2b, so fingerprints are the same in every
process and every run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from grader.similarity.normalise import Token, Unit

K, WINDOW = 7, 4


@dataclass(frozen=True)
class Fingerprint:
    """A kept k-gram: its hash, the unit it is in (index in the document) and the cell lines its tokens are on."""

    hash: int
    unit: int
    lines: tuple[int, ...]


def kgram_hashes(tokens: Sequence[Token], k: int = K) -> list[int]:
    """The hash of every run of ``k`` tokens, in order (one hash of all of them when there are fewer than ``k``)."""
    texts = [t.text for t in tokens]
    if not texts:
        return []
    if len(texts) < k:
        return [_hash(texts)]
    return [_hash(texts[i:i + k]) for i in range(len(texts) - k + 1)]


def _hash(texts: Sequence[str]) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(texts).encode(), digest_size=8).digest(), "big")


def winnow(hashes: Sequence[int], window: int = WINDOW) -> list[int]:
    """The positions winnowing keeps: the rightmost minimum of every window, each position once, in order."""
    if len(hashes) <= window:
        return [min(range(len(hashes)), key=lambda i: (hashes[i], -i))] if hashes else []
    kept: list[int] = []
    for start in range(len(hashes) - window + 1):
        chosen = min(range(start, start + window), key=lambda i: (hashes[i], -i))
        if not kept or kept[-1] != chosen:
            kept.append(chosen)
    return kept


def fingerprints(units: Sequence[Unit], k: int = K, window: int = WINDOW) -> list[Fingerprint]:
    """The winnowed fingerprints of a document's units (each unit on its own: no k-gram spans two)."""
    found = []
    for index, unit in enumerate(units):
        hashes = kgram_hashes(unit.tokens, k)
        for position in winnow(hashes, window):
            lines = tuple(sorted({t.line for t in unit.tokens[position:position + k]}))
            found.append(Fingerprint(hashes[position], index, lines))
    return found
