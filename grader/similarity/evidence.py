"""Identical unusual outputs: the same wrong message at the same check, shared by few students.

A correct answer gives the same output to everyone; a wrong one usually gives
its own. Two students whose non-passing check says exactly the same thing
(the same wrong values), when few others' does, is evidence worth a look next
to their code. Read from the stored results, so no kernel runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any

MAX_SHARERS = 3
_WRONG = ("failed", "partial", "error")


@dataclass(frozen=True)
class SharedFailure:
    """A non-passing check message that only ``students`` (two or more, at most ``MAX_SHARERS``) got."""

    exercise: str
    check: str
    message: str
    students: tuple[str, ...]


def rare_failures(results: Iterable[Mapping[str, Any]], max_sharers: int = MAX_SHARERS) -> list[SharedFailure]:
    """The wrong messages that two to ``max_sharers`` students share, from result dicts (``results.jsonl`` lines)."""
    holders: dict[tuple[str, str, str], list[str]] = {}
    for result in results:
        for exercise in result.get("exercises", []):
            for check in exercise.get("checks", []):
                message = str(check.get("message", "")).strip()
                if check.get("outcome") in _WRONG and check.get("blame") not in ("grader", "infrastructure") and message:
                    holders.setdefault((exercise["id"], check["id"], message), []).append(str(result["student"]))
    shared = [SharedFailure(e, c, m, tuple(sorted(set(s)))) for (e, c, m), s in holders.items()]
    return sorted((f for f in shared if 2 <= len(f.students) <= max_sharers), key=lambda f: (f.exercise, f.check, f.students))


def failures_by_pair(failures: Iterable[SharedFailure]) -> dict[tuple[str, str], list[SharedFailure]]:
    """Each pair of students (names in sorted order) and the rare wrong messages they share."""
    by_pair: dict[tuple[str, str], list[SharedFailure]] = {}
    for failure in failures:
        for pair in combinations(failure.students, 2):
            by_pair.setdefault(pair, []).append(failure)
    return by_pair
