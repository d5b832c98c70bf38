"""``grade check-rubric`` on tiny assignments (tests/fixtures/check_rubric/), with real kernels, as an instructor runs it.

``double``: one exercise, ``double(x)`` checked against ``2x`` with a tolerance
that lets a solution rounded to two decimals pass, so that some mutants
survive. ``operators``: one small function per mutation operator, each
checked against its reference, so that every operator meets a rubric that
kills its mutants (and one loop that some mutants never leave).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.mutation.operators import OPERATORS
from tests.conftest import ROOT

pytestmark = pytest.mark.kernel

FIXTURES = ROOT / "tests" / "fixtures" / "check_rubric"


@pytest.fixture
def assignment(tmp_path: Path) -> Path:
    """A copy of the fixture assignments (rubrics/, reference/, exercises/) that a test may change."""
    folder = tmp_path / "assignment"
    shutil.copytree(FIXTURES, folder)
    return folder


def check_rubric(folder: Path, rubric: str, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "grader", "check-rubric", str(folder / "rubrics" / rubric), *args]
    env = {"PATH": "/usr/bin:/bin", "GRADER_CACHE_DIR": str(cache), "HOME": str(cache)}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=folder, env=env)


def test_killed_survivors_score_json_html_and_the_recorded_score(assignment: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    html = tmp_path / "strength.html"
    done = check_rubric(assignment, "double.yaml", "--format", "json", "--fail-under", "90", "--html", str(html), cache=tmp_path / "cache")
    assert done.returncode == 1, done.stderr[-2000:]  # 85 % is under --fail-under 90
    report = json.loads(done.stdout)
    assert (report["solution_score"], report["template_score"], report["max_score"]) == (10, 0, 10)
    assert report["template"].endswith("exercises/double.ipynb")  # found where `grade assign --out exercises/` writes it
    counts = {key: report[key] for key in ("mutants", "killed", "survived", "equivalent_suspected", "score_percent")}
    assert counts == {"mutants": 22, "killed": 17, "survived": 5, "equivalent_suspected": 2, "score_percent": 85.0}
    assert report["per_check"]["ex1/doubles"]["killed"] == 17

    results = {(r["operator"], r["what"]): r for r in report["results"]}
    plus = results[("arithmetic", "`*` -> `+`")]
    assert (plus["status"], plus["checks"]) == ("killed", ["doubles"])
    survivors = {s["what"]: s for s in report["survivors"]}
    three = survivors["`2` -> `3`"]
    assert (three["status"], three["cell"], three["line"]) == ("survived", "cell 3 (ex1-answer)", 4)
    assert '-    return {"y": round(x * 2, 2), "doubled": True}\n+    return {"y": round(x * 2, 3), "doubled": True}' in three["diff"]
    assert survivors["`True` -> `False`"]["status"] == "equivalent-suspected"  # a key no check reads
    assert [s["status"] for s in report["survivors"]].count("survived") == 3  # the real ones come first

    page = html.read_text(encoding="utf-8")
    assert "Mutation score 85.0%" in page and "round(x * 2, 3)" in page and "<script" not in page

    from grader.mutation.scores import find_mutation_score

    monkeypatch.setenv("GRADER_CACHE_DIR", str(tmp_path / "cache"))
    stored = find_mutation_score(report["rubric_sha256"])
    assert stored is not None and stored["score_percent"] == 85.0 and stored["per_exercise"]["ex1"]["mutants"] == 22


def test_every_operator_meets_a_rubric_that_kills_it(assignment: Path, tmp_path: Path) -> None:
    done = check_rubric(assignment, "operators.yaml", "--format", "json", "--cell-timeout", "2", cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["solution"].endswith("operators_solution.ipynb")  # the rubric's `solution:`
    assert report["template"] == "made from the solution"  # no exercises/operators.ipynb
    killed = {name: counts["killed"] for name, counts in report["per_operator"].items()}
    assert [name for name in OPERATORS if killed.get(name, 0) == 0] == []
    by_what = {(r["operator"], r["what"]): r for r in report["results"]}
    assert by_what[("requires_grad", "`requires_grad=` removed")]["checks"] == ["slope"]
    assert by_what[("return_out_of_loop", "`return {'v': value}` moved out of the loop")]["checks"] == ["first_at_least"]
    assert by_what[("segments", "segment count `segments` -> `segments + 1`")]["checks"] == ["share"]
    forever = by_what[("arithmetic", "`+=` -> `-=`")]  # `i -= 1` in `while i < n`: killed by the time limit
    assert (forever["status"], forever["checks"]) == ("killed", ["count_up"])
    assert forever["fault"] == "count_up: `count_up` did not finish in time"


def test_a_solution_without_full_marks_is_refused(assignment: Path, tmp_path: Path) -> None:
    solution = assignment / "reference" / "solution.ipynb"
    solution.write_text(solution.read_text(encoding="utf-8").replace("round(x * 2, 2)", "round(x * 2, 0)"), encoding="utf-8")
    done = check_rubric(assignment, "double.yaml", "--max-mutants", "1", "--jobs", "1", cache=tmp_path / "cache")
    assert done.returncode == 2
    assert "the solution" in done.stderr and "not full marks" in done.stderr and "ex1/doubles 0/10" in done.stderr
    assert done.stdout == "" and not (tmp_path / "cache" / "mutation").exists()


def test_a_template_with_points_is_refused(assignment: Path, tmp_path: Path) -> None:
    solved = assignment / "reference" / "solution.ipynb"
    done = check_rubric(assignment, "double.yaml", "--template", str(solved), "--max-mutants", "1", "--jobs", "1", cache=tmp_path / "cache")
    assert done.returncode == 2
    assert "the template" in done.stderr and "gets 10 / 10 instead of 0" in done.stderr and "ex1/doubles 10/10" in done.stderr


def test_mutants_graded_on_their_exercise_cut_get_the_verdicts_of_their_whole_notebook(tmp_path: Path) -> None:
    """Lesson 04: a sample of mutants of every exercise, graded on the cut (the default, faster) and whole (``--whole``)."""
    rubric = ROOT / "rubrics" / "04_automatic_differentiation.yaml"
    verdicts = {}
    for mode in ("cut", "whole"):
        command = [sys.executable, "-m", "grader", "check-rubric", str(rubric), "--max-mutants", "16", "--jobs", "2",
                   "--format", "json", "--no-record", *(["--whole"] if mode == "whole" else [])]
        env = {"PATH": "/usr/bin:/bin", "GRADER_CACHE_DIR": str(tmp_path / mode), "HOME": str(tmp_path / mode)}
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout)
        assert report["sliced"] == ([] if mode == "whole" else ["ex1", "ex2", "ex3", "ex4"])
        verdicts[mode] = {r["id"]: (r["exercise"], r["status"], tuple(r["checks"])) for r in report["results"]}
    assert verdicts["cut"] == verdicts["whole"]
    sample = verdicts["cut"].values()
    assert {exercise for exercise, _, _ in sample} == {"ex1", "ex2", "ex3", "ex4"}
    assert {status for _, status, _ in sample} >= {"killed", "equivalent-suspected"}
