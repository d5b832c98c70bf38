"""A graded class folder as the review sees it: the automatic results, the decisions taken, what is left.

Decisions live in the folder's overrides file (the format
:func:`grader.scoring.load_overrides` reads) and each one is saved at once,
atomically (temporary file, fsync, rename): a server killed at any moment
loses nothing already saved.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from grader.batch import OVERRIDES_FILE
from grader.batch.store import RESULTS_FILE, load_records, without_overrides, write_atomic
from grader.errors import UsageError
from grader.results import CheckResult, SubmissionResult

SIMILARITY_FILE = "similarity.json"


@dataclass(frozen=True)
class CheckRef:
    """One check of the rubric as the review lists it; ``key`` is how the overrides file names it."""

    exercise: str
    check: str
    title: str
    points: float
    review: bool

    @property
    def key(self) -> str:
        return f"{self.exercise}/{self.check}"


def checks_of(results: list[SubmissionResult]) -> list[CheckRef]:
    """Every check the graded results have, those marked ``review: true`` first, then in rubric order."""
    found: dict[str, CheckRef] = {}
    for result in results:
        for exercise in result.exercises:
            for check in exercise.checks:
                ref = CheckRef(exercise.id, check.id, check.title, check.max_score, check.review)
                found.setdefault(ref.key, ref)
    return sorted(found.values(), key=lambda ref: not ref.review)


def flagged_students(out: Path) -> list[str]:
    """The students a similarity report flagged (``similarity.json``: ``{"flagged": [ids]}`` or a list), or none."""
    try:
        data = json.loads((out / SIMILARITY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    flagged = data.get("flagged", []) if isinstance(data, dict) else data
    return [str(student) for student in flagged] if isinstance(flagged, list) else []


_CELL = re.compile(r"\bcode cell (\d+)\b")


def cells_pointed_to(result: SubmissionResult) -> list[int]:
    """The code cells (1-based, among code cells) that the result's messages and errors name, in order."""
    texts = [*result.errors, *(check.message for exercise in result.exercises for check in exercise.checks)]
    return sorted({int(n) for text in texts for n in _CELL.findall(text)})


class ClassFolder:
    """The results of a class folder (automatic scores) and the decisions taken on them, saved as they are taken."""

    def __init__(self, out: Path, overrides_path: Path | None = None) -> None:
        from grader.reporters.gradebook import student_sort_key
        from grader.scoring import load_overrides

        self.out = out
        self.overrides_path = overrides_path or out / OVERRIDES_FILE
        stored = load_records(out / RESULTS_FILE)
        if not stored:
            raise UsageError(f"{out}: no {RESULTS_FILE} with results in it; grade the class first (grade SUBMISSIONS --out {out})")
        self.results = {student: without_overrides(SubmissionResult.from_dict(data)) for student, data in stored.items()}
        self.overrides: dict[str, dict[str, Any]] = load_overrides(self.overrides_path) if self.overrides_path.is_file() else {}
        self.flagged = set(flagged_students(out))
        graded = [r for r in self.results.values() if r.status == "graded"]
        self.checks = checks_of(graded)
        by_name = sorted(self.results, key=student_sort_key)
        self.students = [s for s in by_name if s in self.flagged] + [s for s in by_name if s not in self.flagged]
        self._lock = threading.Lock()

    def check_ref(self, key: str) -> CheckRef | None:
        return next((ref for ref in self.checks if ref.key == key), None)

    def automatic(self, student: str, key: str) -> CheckResult | None:
        """A student's automatic result for one check (None when not graded)."""
        exercise_id, _, check_id = key.partition("/")
        result = self.results.get(student)
        for exercise in result.exercises if result else ():
            for check in exercise.checks:
                if exercise.id == exercise_id and check.id == check_id:
                    return check
        return None

    def decision(self, student: str, key: str) -> dict[str, Any] | None:
        return self.overrides.get(student, {}).get(key)

    def to_review(self) -> list[CheckRef]:
        """The checks whose progress the headline counts: those marked ``review: true``, or every check if none is."""
        marked = [ref for ref in self.checks if ref.review]
        return marked or self.checks

    def progress(self, refs: list[CheckRef] | None = None) -> tuple[int, int]:
        """(reviewed, total) over the graded students' answers to ``refs`` (default: :meth:`to_review`)."""
        pairs = [(s, ref.key) for ref in (refs if refs is not None else self.to_review()) for s in self.students if self.automatic(s, ref.key)]
        return sum(1 for s, key in pairs if self.decision(s, key)), len(pairs)

    def decide(self, student: str, key: str, reviewer: str, score: float | None = None, comment: str | None = None) -> dict[str, Any]:
        """Record a decision and save the overrides file before returning; ``score`` None keeps the automatic score.

        A comment alone keeps the score already decided (or the automatic one,
        still accepted). Raises ValueError for a student, check or score that
        does not exist or does not fit.
        """
        check = self.automatic(student, key)
        if check is None:
            raise ValueError(f"{student!r} has no graded check {key!r}")
        if score is not None and not 0 <= score <= check.max_score:
            raise ValueError(f"score {score:g}: expected 0 to {check.max_score:g}")
        with self._lock:
            previous = self.decision(student, key) or {}
            if score is None and comment is not None and previous:
                score = None if previous.get("accepted") else float(previous["score"])
            entry: dict[str, Any] = {"score": check.score if score is None else _number(score)}
            if score is None:
                entry["accepted"] = True
            entry["comment"] = comment if comment is not None else str(previous.get("comment", ""))
            entry["reviewer"] = reviewer
            entry["reviewed_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            overrides = {name: dict(checks) for name, checks in self.overrides.items()}
            overrides.setdefault(student, {})[key] = entry
            write_atomic(self.overrides_path, _yaml(overrides))
            self.overrides = overrides
            return entry

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: dict(checks) for name, checks in self.overrides.items()}


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def _yaml(overrides: dict[str, dict[str, Any]]) -> str:
    import yaml

    header = "# Instructor decisions (grade review): student -> {exercise/check: {score, comment, reviewer, reviewed_at}}\n"
    return header + yaml.safe_dump(overrides, sort_keys=True, allow_unicode=True, default_flow_style=False)
