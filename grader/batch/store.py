"""What survives an interrupted batch: resume keys, ``results.jsonl`` and crash-safe file writes.

A result is reused when its key matches: the submission's SHA-256, the
rubric's SHA-256, the grader version and a digest of the grading settings
(``--only`` and the limits). ``results.jsonl`` gets one complete, fsynced line
per submission as it finishes; every other file is replaced atomically
(temporary file in the same folder, fsync, rename, fsync of the folder).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from grader.errors import UsageError
from grader.reporters.json_report import report_dict
from grader.results import SubmissionResult
from grader.rubric import Limits, Rubric
from grader.scoring import total
from grader.version import __version__

RESULTS_FILE = "results.jsonl"
LOCK_FILE = ".grade.lock"


@dataclass(frozen=True)
class Settings:
    """How every submission of the batch is graded (sent to each worker)."""

    only: tuple[str, ...]
    limits: Limits
    hide: tuple[Path, ...] = ()

    def digest(self) -> str:
        """A fingerprint of what can change scores: the exercises graded and the limits (not ``hide``)."""
        text = json.dumps({"only": sorted(self.only), "limits": asdict(self.limits)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ResumeKey:
    """What a stored result depends on; it is reused only when all four match."""

    submission_sha256: str
    rubric_sha256: str
    grader_version: str
    settings_sha256: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def resume_key(path: Path, rubric: Rubric, settings: Settings) -> ResumeKey | None:
    """The key of a submission file, or None when it cannot be read (then it is always graded)."""
    content = file_sha256(path)
    if content is None:
        return None
    return ResumeKey(content, rubric.sha256, __version__, settings.digest())


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of a regular file's content, or None if it cannot be read."""
    digest = hashlib.sha256()
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


@dataclass(frozen=True)
class Record:
    """One line of ``results.jsonl``: the full report (overrides applied), its key and when it was graded.

    ``key`` is None for what must never be reused: rows for folders with no
    usable file, and failures that were the grader's fault.
    """

    result: SubmissionResult
    key: ResumeKey | None
    graded_at: str

    def line(self) -> str:
        data = report_dict(self.result)
        data["batch"] = {"key": self.key.as_dict() if self.key else None, "graded_at": self.graded_at}
        return json.dumps(data, ensure_ascii=True)


def load_records(path: Path) -> dict[str, dict[str, Any]]:
    """Stored lines by student (the last line wins); unreadable or cut-off lines are skipped."""
    try:
        raw = path.read_bytes()
    except OSError:
        return {}
    stored: dict[str, dict[str, Any]] = {}
    for line in raw.split(b"\n"):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("student"), str) and isinstance(data.get("batch"), dict):
            stored[data["student"]] = data
    return stored


def reusable(stored: dict[str, Any] | None, key: ResumeKey | None) -> SubmissionResult | None:
    """The stored automatic result (instructor overrides taken back out) when its key matches ``key``."""
    if stored is None or key is None or stored["batch"].get("key") != key.as_dict():
        return None
    try:
        return without_overrides(SubmissionResult.from_dict(stored))
    except (KeyError, TypeError, ValueError):
        return None


def without_overrides(result: SubmissionResult) -> SubmissionResult:
    """The automatic result behind one with overrides (each override keeps the automatic score)."""
    if not any(check.override for exercise in result.exercises for check in exercise.checks):
        return result
    exercises = []
    for exercise in result.exercises:
        checks = tuple(replace(c, score=c.override.auto_score, override=None) if c.override else c for c in exercise.checks)
        exercises.append(replace(exercise, checks=checks, score=round(sum(c.score for c in checks), 2)))
    score, _ = total(tuple(exercises))
    return replace(result, exercises=tuple(exercises), score=score)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once: readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", dir=path.parent, prefix=f".{path.name}.", delete=False)
    try:
        with handle:
            os.fchmod(handle.fileno(), 0o666 & ~umask())  # as an ordinary open() would have created it
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def append_line(path: Path, line: str) -> None:
    """Append one complete line and force it to disk before returning."""
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold the results folder for this batch alone (two batches writing one folder would mix their files)."""
    import fcntl  # POSIX only: this module must import on Windows too (portable mode)

    with open(out / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UsageError(f"{out}: another grade command is writing there; wait for it or choose another --out") from None
        yield


@functools.cache
def umask() -> int:
    """This process's umask (read once: reading it means setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
