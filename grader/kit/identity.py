"""A kit's names and the digest of the grader code it carries.

Kept light: every installed kit checks its vendored grader with :func:`code_digest`
whenever the installed assignments are listed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from grader.rubric import KIT_MANIFEST

GRADER_ROOT = Path(__file__).resolve().parent.parent  # the ``grader`` package a kit vendors
DATA_FOLDERS = ("rubrics", "reference", "exercises")  # the bundled assignments inside grader/assignments/: never vendored
MANIFEST = KIT_MANIFEST
# The grader's files other than code, relative to the package (pyproject.toml's package-data of "grader"): vendored with the code.
PACKAGE_DATA = ("templates/*.j2", "templates/review/*.html")


def package_names(assignment: str) -> tuple[str, str]:
    """The kit's import package and distribution names: ``grader_kit_04_x`` and ``grader-kit-04-x``."""
    slug = "_".join(re.findall(r"[a-z0-9]+", assignment.lower())) or "assignment"
    return f"grader_kit_{slug}", f"grader-kit-{slug.replace('_', '-')}"


def code_digest(root: Path) -> str:
    """SHA-256 of a ``grader`` package's code: every vendored file's path and bytes (code and templates), without caches or bundled assignments."""
    digest = hashlib.sha256()
    for path in vendored_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def vendored_files(root: Path) -> list[Path]:
    """The files of the ``grader`` package at ``root`` a kit carries: its Python code and :data:`PACKAGE_DATA`, not the bundled assignments."""
    skipped = {root / "assignments" / name for name in DATA_FOLDERS}
    code = [p for p in root.rglob("*.py") if "__pycache__" not in p.relative_to(root).parts and not any(p.is_relative_to(s) for s in skipped)]
    return sorted([*code, *(p for pattern in PACKAGE_DATA for p in root.glob(pattern))])
