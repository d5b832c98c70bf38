"""Similarity of a class's answer code, for spotting copied work (MOSS-style winnowing, notebooks aware).

One module per stage, pure functions:

    normalise    normalise.py    cell source ─────► Units of normalised tokens (names, literals, comments gone)
    fingerprint  fingerprint.py  Units ───────────► winnowed k-gram hashes, each with its unit and lines
    compare      compare.py      Documents ───────► Pairs ranked by shared answer fingerprints (template subtracted)
    evidence     evidence.py     results.jsonl ───► the same rare wrong output at the same check
    report       report.py       Pairs, regions ──► one HTML page (grader/templates/similarity.html.j2)

:mod:`.classfolder` reads a graded results folder back (results, submissions'
code, the assignment's template); :mod:`.cli` is ``grade similarity OUT_DIR``.
The winnowing is written here rather than taken from copydetect, which tokenizes
whole files through Pygments by file extension, hashes character k-grams of one
file at a time and brings its own report: notebooks, per-function units and a
template given as cells do not fit it, and it would add Pygments and its
report's dependencies for about sixty lines of hashing.
"""

from grader.similarity.compare import Document, Pair, Template, compare_all
from grader.similarity.normalise import normalise, units

__all__ = ["Document", "Pair", "Template", "compare_all", "normalise", "units"]
