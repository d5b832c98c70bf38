"""B01/R14 in a batch: a broken file and a kernel that signals everything it can reach stop nobody else's grading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.security.corpus import EX1, needs_namespaces, write_notebook

pytestmark = pytest.mark.kernel

KILLS_EVERYTHING = "import os\nfor target in (os.getppid(), -1):\n    os.kill(target, 9)\nos.killpg(0, 9)"


@needs_namespaces
def test_batch_grades_the_others_and_writes_every_row(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.ipynb").write_bytes(b'{"cells": [')
    (folder / "dave.py").write_text("def f(x) return x\n", encoding="utf-8")
    write_notebook(folder, "bob", EX1, KILLS_EVERYTHING)
    write_notebook(folder, "carol", EX1)
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "grader", str(folder), "--out", str(out), "--only", "ex1", "--jobs", "1", "--rubric", "04_automatic_differentiation"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row["student"]: row for row in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert set(rows) == {"alice", "bob", "carol", "dave"}
    assert rows["alice"]["status"] == "error" and "JSON error" in rows["alice"]["reason"]
    assert rows["dave"]["status"] == "error" and "SyntaxError at line 1" in rows["dave"]["reason"]
    for student in ("bob", "carol"):
        ex1 = next(ex for ex in rows[student]["exercises"] if ex["id"] == "ex1")
        assert rows[student]["status"] == "graded" and ex1["score"] == 25, rows[student]
