"""Batch grading end to end in real kernels: outputs, resume, --force, --jobs 1 vs 2, and a real Dask cluster.

Kernels are the cost here, so the batches are small and graded with ``--only
ex1``: six kernels for the local batch (three gradable submissions, twice),
two for the Dask one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grader.batch import BatchOptions, run_batch
from grader.rubric import Rubric
from tests.conftest import ROOT, SOLUTION, SOLUTION05, TEMPLATE05, MakeNotebook

pytestmark = pytest.mark.kernel

NOTEBOOK = "04_automatic_differentiation.ipynb"
EX1_VALUES = """
x1, x2, x3 = 1.0, 2.0, 3.0
s = x1 + x2
y = s * x3
dy_ds = x3
dy_dx1 = dy_ds
dy_dx2 = dy_ds
dy_dx3 = s
"""
EX1_RIGHT = """
def manual_backprop(x1, x2, x3):
    s = x1 + x2
    return {"y": s * x3, "dy_dx1": x3, "dy_dx2": x3, "dy_dx3": s}
"""
EX1_DX3_WRONG = """
def manual_backprop(x1, x2, x3):
    s = x1 + x2
    return {"y": s * x3, "dy_dx1": x3, "dy_dx2": x3, "dy_dx3": x3}
"""


def make_class(make_notebook: MakeNotebook, root: Path) -> Path:
    """good.ipynb, wrong.ipynb, junk.ipynb (unusable), carol/<the assignment notebook>, dave/ with two notebooks."""
    for folder in ("class", "class/carol", "class/dave"):
        (root / folder).mkdir()
    make_notebook("class/good", EX1_VALUES, EX1_RIGHT)
    make_notebook("class/wrong", EX1_VALUES, EX1_DX3_WRONG)
    make_notebook(f"class/carol/{NOTEBOOK.removesuffix('.ipynb')}", EX1_VALUES, EX1_RIGHT, "print('carol was here')")
    make_notebook("class/dave/a", EX1_VALUES)
    make_notebook("class/dave/b", EX1_VALUES)
    (root / "class" / "junk.ipynb").write_text("this is not a notebook", encoding="utf-8")
    return root / "class"


def grade_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``grade`` as a subprocess; these notebooks carry no assignment id, so lesson 04 is named unless a test names one."""
    named = () if "--rubric" in args else ("--rubric", "04_automatic_differentiation")
    command = [sys.executable, "-m", "grader", *args, *named]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def gradebook(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((out / "gradebook.csv").read_text(encoding="utf-8"), newline="")))


def jsonl(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return {data["student"]: data for data in map(json.loads, lines)}


ROSTER = """Submission,Name,SIS User ID,SIS Login ID,Section
good,"Good, Gina",S1,gina,A
wrong,"Wrong, Walt",S2,walt,A
carol,"Danvers, Carol",S3,carol,B
dave,"Dave, Dave",S4,dave,B
zoe,"Zed, Zoe",S5,zoe,B
"""


def test_batch_outputs_resume_force_and_jobs(make_notebook: MakeNotebook, tmp_path: Path, rubric: Rubric, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_class(make_notebook, tmp_path)
    out = tmp_path / "results"
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    done = grade_cli(str(folder), "--out", str(out), "--jobs", "2", "--only", "ex1", "--gradebook", "canvas", "--roster", str(roster))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "graded now: 4, reused: 0" in done.stdout and "grading" in done.stderr  # 4 = 3 kernels + junk
    assert "warning: junk is not on the roster" in done.stderr

    check_gradebook(out)
    check_canvas_gradebook(out)
    first = jsonl(out)
    check_results_file(first, folder)
    durations = {s: first[s]["duration_s"] for s in ("good", "wrong", "carol")}
    # two workers, three kernels: the first two are their workers' first, and must not carry the workers' start-up
    assert max(durations.values()) < 3 * min(durations.values()) + 1.0, durations
    check_feedback(out)
    check_summary(out)

    options = BatchOptions(out=out, jobs=2, only=("ex1",))
    assert run_batch([str(folder)], rubric, options) == 0
    assert "graded now: 0, reused: 4" in capsys.readouterr().out
    assert {s: d["batch"]["graded_at"] for s, d in jsonl(out).items() if d["batch"]["key"]} == {
        s: d["batch"]["graded_at"] for s, d in first.items() if d["batch"]["key"]
    }

    assert run_batch([str(folder)], rubric, BatchOptions(out=out, jobs=1, force=True, only=("ex1",))) == 0
    assert "graded now: 4, reused: 0" in capsys.readouterr().out
    forced = jsonl(out)
    assert all(forced[s]["batch"]["graded_at"] > first[s]["batch"]["graded_at"] for s in ("good", "wrong", "carol"))
    assert {s: scores(d) for s, d in forced.items()} == {s: scores(d) for s, d in first.items()}  # --jobs 1 == --jobs 2


def scores(report: dict[str, Any]) -> list[Any]:
    return [report["score"], *[(c["id"], c["score"]) for ex in report["exercises"] for c in ex["checks"]]]


def check_gradebook(out: Path) -> None:
    rows = gradebook(out)
    assert list(rows[0]) == ["student", "total", "ex1", "status", "reason", "duration_s"]
    by_student = {row["student"]: row for row in rows}
    assert list(by_student) == ["carol", "dave", "good", "junk", "wrong"]
    assert by_student["good"]["total"] == by_student["good"]["ex1"] == "25" and by_student["carol"]["total"] == "25"
    assert by_student["wrong"]["status"] == "graded" and 0 < float(by_student["wrong"]["total"]) < 25
    assert by_student["dave"]["status"] == "error" and by_student["dave"]["reason"] == "ambiguous submission (found a.ipynb, b.ipynb)"
    assert by_student["junk"]["status"] == "error" and "not a valid notebook" in by_student["junk"]["reason"]
    assert float(by_student["good"]["duration_s"]) > 0


def check_canvas_gradebook(out: Path) -> None:
    rows = list(csv.reader(io.StringIO((out / "gradebook-canvas.csv").read_text(encoding="utf-8"), newline="")))
    assert rows[:2] == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "04: Automatic differentiation"],
        ["Points Possible", "", "", "", "", "25"],
    ]
    grades = {row[3]: row[5] for row in rows[2:]}
    assert grades["gina"] == grades["carol"] == "25" and grades["dave"] == "0" and grades["zoe"] == ""
    assert 0 < float(grades["walt"]) < 25 and list(grades) == ["gina", "walt", "carol", "dave", "zoe"]


def check_results_file(results: dict[str, dict[str, Any]], folder: Path) -> None:
    assert sorted(results) == ["carol", "dave", "good", "junk", "wrong"]
    good = results["good"]
    assert good["status"] == "graded" and good["score"] == 25 and good["exercises"][0]["id"] == "ex1"
    assert good["sha256"] == hashlib.sha256((folder / "good.ipynb").read_bytes()).hexdigest()
    assert good["batch"]["key"]["submission_sha256"] == good["sha256"] and good["submission"] == str(folder / "good.ipynb")
    assert results["carol"]["submission"] == str(folder / "carol" / NOTEBOOK)
    assert results["dave"]["batch"]["key"] is None  # never reused: nothing was graded


def check_feedback(out: Path) -> None:
    names = sorted(p.name for p in (out / "feedback").iterdir())
    assert names == sorted(f"{s}.{e}" for s in ("carol", "dave", "good", "junk", "wrong") for e in ("md", "html"))
    good = (out / "feedback" / "good.md").read_text(encoding="utf-8")
    assert "**Score: 25 / 25**" in good
    wrong = (out / "feedback" / "wrong.html").read_text(encoding="utf-8")
    assert "dy/dx3 is wrong at" in wrong and "<script" not in wrong
    assert "ambiguous submission" in (out / "feedback" / "dave.md").read_text(encoding="utf-8")


def check_summary(out: Path) -> None:
    page = (out / "summary.html").read_text(encoding="utf-8")
    assert page.count('<figure class="chart"') >= 3 and "<title>Bar chart of the slowest submissions</title>" in page
    assert "ambiguous submission" in page and 'href="feedback/good.html"' in page


def test_dask_cluster_grades_like_the_local_pool(
    make_notebook: MakeNotebook, tmp_path: Path, rubric: Rubric, capsys: pytest.CaptureFixture[str]
) -> None:
    distributed = pytest.importorskip("distributed")
    good = make_notebook("good", EX1_VALUES, EX1_RIGHT)
    wrong = make_notebook("wrong", EX1_VALUES, EX1_DX3_WRONG)
    junk = tmp_path / "zz_junk.py"  # last: checked on this machine once the first result frees a place in the window
    junk.write_text("def broken(:\n", encoding="utf-8")
    paths = [str(good), str(wrong), str(junk)]
    out = tmp_path / "results"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        options = BatchOptions(out=out, dask_scheduler=cluster.scheduler_address, only=("ex1",))
        assert run_batch(paths, rubric, options) == 0
        assert "graded now: 3, reused: 0" in capsys.readouterr().out
        assert run_batch(paths, rubric, options) == 0
        assert "graded now: 0, reused: 3" in capsys.readouterr().out
    results = jsonl(out)
    assert results["good"]["score"] == 25 and results["good"]["submission"] == str(good)
    assert results["wrong"]["status"] == "graded" and results["wrong"]["score"] == 21
    assert results["zz_junk"]["status"] == "error" and "SyntaxError" in results["zz_junk"]["reason"]
    assert [row["student"] for row in gradebook(out)] == ["good", "wrong", "zz_junk"]
    assert (out / "feedback" / "wrong.md").is_file() and (out / "summary.html").is_file()


def test_a_class_folder_of_two_assignments_is_graded_per_assignment(tmp_path: Path) -> None:
    """Each submission against its own rubric (the id grade assign wrote into it), one results folder per assignment."""
    folder, out = tmp_path / "class", tmp_path / "results"
    folder.mkdir()
    shutil.copy(SOLUTION, folder / "alice.ipynb")
    shutil.copy(SOLUTION05, folder / "bob.ipynb")
    shutil.copy(TEMPLATE05, folder / "carol.ipynb")
    done = subprocess.run([sys.executable, "-m", "grader", str(folder), "--out", str(out), "--only", "ex1", "--jobs", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    rows = {
        assignment: {row["student"]: row["total"] for row in csv.DictReader((out / assignment / "gradebook.csv").open(encoding="utf-8"))}
        for assignment in ("04_automatic_differentiation", "05_custom_autograd_and_training")
    }
    assert rows == {"04_automatic_differentiation": {"alice": "25"}, "05_custom_autograd_and_training": {"bob": "25", "carol": "0"}}
    assert "assignment 05_custom_autograd_and_training: 2 submissions" in done.stderr
