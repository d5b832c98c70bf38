"""Where ``grade check-rubric`` leaves a rubric's mutation score, for the batch's summary page to show.

A mutation score says how much a rubric can be trusted: the share of
deliberately broken reference solutions (mutants) that its checks catch.
``grade check-rubric`` measures it and calls :func:`record_mutation_score`;
a batch graded with the very same rubric (same SHA-256 of the rubric file)
finds it with :func:`find_mutation_score` and shows it on ``summary.html``.
A changed rubric has another hash, so an old score is never shown for it.

Storage: one JSON file per rubric, ``<rubric_sha256>.json``, in the folder
:func:`mutation_dir`: ``$GRADER_CACHE_DIR/mutation/`` when that variable is
set, else the user's cache folder under ``autodiff-grader/mutation/``
(``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux and other Unix systems,
``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows). A later run
replaces the file (atomically).

The summary (a JSON object) holds at least:

``rubric_sha256`` (str)
    SHA-256 of the rubric file, 64 lowercase hex digits (``Rubric.sha256``).
``assignment`` (str)
    The rubric's ``assignment``.
``mutants`` (int)
    Mutants generated and run.
``killed`` (int)
    Mutants that lost points under the rubric (caught).
``survived`` (int)
    Mutants that kept full marks (not caught).
``equivalent_suspected`` (int)
    Survivors that look equivalent to the reference (no check could tell
    them apart): counted in ``mutants`` and ``survived``.
``score_percent`` (number, 0-100)
    The mutation score as ``check-rubric`` defines it.
``generated_at`` (str)
    When it was measured, ISO 8601 with a time zone.
``per_exercise`` (object)
    ``{exercise id: {mutants, killed, survived, equivalent_suspected,
    score_percent}}``, with the same meanings per exercise.

Other keys are kept as they are. :func:`record_mutation_score` refuses a
summary without these fields (``ValueError``); :func:`find_mutation_score`
returns None for a missing, unreadable or malformed file.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from grader.shorten import shorten

CACHE_VARIABLE = "GRADER_CACHE_DIR"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COUNTS = ("mutants", "killed", "survived", "equivalent_suspected")
_TOP_LEVEL = {"rubric_sha256": str, "assignment": str, "generated_at": str, "per_exercise": dict}


def mutation_dir() -> Path:
    """The folder of the stored summaries (see the module docstring); not created here."""
    override = os.environ.get(CACHE_VARIABLE)
    if override:
        return Path(override).expanduser() / "mutation"
    return user_cache_dir() / "autodiff-grader" / "mutation"


def user_cache_dir() -> Path:
    """This platform's per-user cache folder."""
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) if local else Path.home() / "AppData" / "Local"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"  # the XDG spec ignores relative paths


def record_mutation_score(summary: dict[str, Any]) -> Path:
    """Store ``summary`` under its ``rubric_sha256``; return the file written. ``ValueError`` names a missing or bad field."""
    problem = summary_problem(summary)
    if problem:
        raise ValueError(f"mutation summary: {problem}")
    folder = mutation_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{summary['rubric_sha256']}.json"
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, prefix=".mutation-", suffix=".json", delete=False)
    try:
        with handle:
            json.dump(summary, handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path


def find_mutation_score(rubric_sha256: str) -> dict[str, Any] | None:
    """The stored summary of the rubric with this hash, or None (none stored, unreadable, or not a valid summary)."""
    if not _SHA256.fullmatch(rubric_sha256 or ""):
        return None
    try:
        data = json.loads((mutation_dir() / f"{rubric_sha256}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or summary_problem(data) or data["rubric_sha256"] != rubric_sha256:
        return None
    return data


def summary_problem(summary: Any) -> str:
    """What makes ``summary`` unusable ("" when it is fine)."""
    if not isinstance(summary, dict):
        return "expected a JSON object"
    for name, kind in _TOP_LEVEL.items():
        if not isinstance(summary.get(name), kind):
            return shorten(f"{name}: expected {kind.__name__}, got {summary.get(name)!r}", 200)
    if not _SHA256.fullmatch(summary["rubric_sha256"]):
        return "rubric_sha256: expected 64 lowercase hex digits"
    problem = _counts_problem(summary, "")
    if problem:
        return problem
    for exercise, counts in summary["per_exercise"].items():
        if not isinstance(counts, dict):
            return f"per_exercise.{exercise}: expected an object"
        problem = _counts_problem(counts, f"per_exercise.{exercise}.")
        if problem:
            return problem
    return ""


def _counts_problem(counts: dict[str, Any], where: str) -> str:
    for name in _COUNTS:
        value = counts.get(name)
        if type(value) is not int or value < 0:
            return shorten(f"{where}{name}: expected a count, got {value!r}", 200)
    percent = counts.get("score_percent")
    if not isinstance(percent, (int, float)) or isinstance(percent, bool) or not 0 <= percent <= 100:
        return shorten(f"{where}score_percent: expected a number from 0 to 100, got {percent!r}", 200)
    return ""
