"""An instructor's day after the batch, on a class really graded in kernels: batch, similarity, review by keyboard, Canvas.

The class is four notebooks made of the conformance corpus's answers, written
from the contract by people who never saw the checks: two independent correct
notebooks of different styles, a copy of the first with one planted mistake per
exercise, and a third correct notebook whose written answer is a keyword list.
``grade CLASS --out OUT --similarity --gradebook canvas`` grades them in real
kernels; the similarity report must rank the copy first; ``grade review`` is
driven in a real browser, its decisions survive a killed server, and the Canvas
gradebook shows them without anything being graded again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from tests.browser import canvas_grades, card_state, press, progress, shoot, start_review, wait_for
from tests.conformance import ex1, ex2, ex3, ex4
from tests.conformance.rounds import make_rounds
from tests.conftest import ROOT, RUBRIC, SETUP

WRITTEN = "ex4/written_answer"
KEYWORDS = "checkpoint recompute trade-off memory large models boundaries again slower segments activations kept GPU"
ROUNDS = make_rounds([ex1.VARIANTS, ex2.VARIANTS, ex3.VARIANTS, ex4.VARIANTS])


def _class_notebooks() -> dict[str, list[str]]:
    """Each student's code cells (after the setup cell)."""
    correct = [[cell for v in ROUNDS[k] for cell in v.answer_cells] for k in range(3)]
    return {
        "ada": correct[0],
        "ben": [cell for v in ROUNDS[0] for cell in v.twin_cells],  # ada's notebook, one planted mistake per exercise
        "cleo": correct[1],
        "dev": [*correct[2], f"checkpointing_answer = {KEYWORDS!r}"],
    }


def _write_class(root: Path) -> tuple[Path, Path]:
    folder = root / "class"
    folder.mkdir()
    roster = ["submission,name,student_id,canvas_id,login,section"]
    for i, (student, cells) in enumerate(_class_notebooks().items()):
        sources = [SETUP] + [textwrap.dedent(cell).strip("\n") for cell in cells]
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
        (folder / f"{student}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
        roster.append(f"{student},{student.title()},S{i:03d},{2000 + i},{student},A")
    (root / "roster.csv").write_text("\n".join(roster) + "\n", encoding="utf-8")
    return folder, root / "roster.csv"


def _results(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return {data["student"]: data for data in map(json.loads, lines)}


def _check(result: dict[str, Any], key: str) -> dict[str, Any]:
    (found,) = [c for e in result["exercises"] for c in e["checks"] if f"{e['id']}/{c['id']}" == key]
    return found


def _graded_when(out: Path) -> dict[str, Any]:
    """When each submission was graded, and each check's automatic score: what a regrade would write anew."""
    return {
        student: (data.get("graded_at"), [(c["id"], c["override"]["auto_score"] if c.get("override") else c["score"])
                                           for e in data["exercises"] for c in e["checks"]])
        for student, data in _results(out).items()
    }


@pytest.mark.kernel
def test_a_graded_class_is_ranked_reviewed_by_keyboard_and_exported_without_regrading(browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    driver = browser
    folder, roster = _write_class(tmp_path)
    out = tmp_path / "out"
    batch = subprocess.run(
        [sys.executable, "-m", "grader", str(folder), "--rubric", str(RUBRIC), "--out", str(out), "--jobs", "2",
         "--roster", str(roster), "--gradebook", "canvas", "--similarity"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert batch.returncode == 0, batch.stdout + batch.stderr
    graded = _results(out)
    assert {s: graded[s]["score"] for s in ("ada", "cleo")} == {"ada": 100, "cleo": 100}, batch.stdout
    assert graded["ben"]["score"] < 100 - 4 * 1  # a planted mistake in each exercise
    assert _check(graded["dev"], WRITTEN)["score"] == 0 and graded["dev"]["score"] == 94  # keywords are not sentences

    flagged = json.loads((out / "similarity.json").read_text(encoding="utf-8"))["flagged"]
    assert flagged == ["ada", "ben"], flagged  # the copy, and nobody else
    assert (out / "similarity.html").is_file()

    before, graded_at = canvas_grades(out), _graded_when(out)
    server, url = start_review(out)
    try:
        driver.get(url)  # type: ignore[attr-defined]
        assert progress(driver) == "0 of 4 reviewed"
        driver.get(url.split("/?token=")[0] + f"/check/{WRITTEN}")  # type: ignore[attr-defined]
        order = [card.get_attribute("data-student") for card in driver.find_elements("css selector", ".card")]  # type: ignore[attr-defined]
        assert order == ["ada", "ben", "cleo", "dev"]  # the flagged pair first
        shoot(driver, "class-by-check.png")

        press(driver, Keys.ENTER)  # ada: the automatic score accepted
        wait_for(driver, lambda d: progress(d) == "1 of 4 reviewed")
        press(driver, "5")  # ben: 5 of 6
        wait_for(driver, lambda d: progress(d) == "2 of 4 reviewed")
        press(driver, Keys.ENTER)  # cleo: accepted
        wait_for(driver, lambda d: progress(d) == "3 of 4 reviewed")
        press(driver, "c", "write sentences: say when the activations are recomputed", Keys.ENTER)
        wait_for(driver, lambda d: progress(d) == "4 of 4 reviewed")
        press(driver, "2")  # dev: 2 points, with the comment
        wait_for(driver, lambda d: card_state(d, "dev").startswith("set 2"))
    finally:
        server.kill()  # SIGKILL: nothing gets to flush
        server.wait(timeout=30)

    saved = yaml.safe_load((out / "overrides.yaml").read_text(encoding="utf-8"))
    assert saved["ada"][WRITTEN]["accepted"] is True and saved["cleo"][WRITTEN]["accepted"] is True
    assert saved["ben"][WRITTEN]["score"] == 5
    assert (saved["dev"][WRITTEN]["score"], saved["dev"][WRITTEN]["comment"]) == (2, "write sentences: say when the activations are recomputed")

    server, url = start_review(out)
    try:
        driver.get(url)  # type: ignore[attr-defined]
        assert progress(driver) == "4 of 4 reviewed"
        driver.get(url.split("/?token=")[0] + "/student/dev")  # type: ignore[attr-defined]
        assert "write sentences" in driver.find_element("tag name", "main").text  # type: ignore[attr-defined]
        shoot(driver, "class-by-student.png")
    finally:
        server.kill()
        server.wait(timeout=30)

    after = canvas_grades(out)
    ben_auto = _check(graded["ben"], WRITTEN)["score"]
    assert float(after["ben"]) == float(before["ben"]) - ben_auto + 5
    assert float(after["dev"]) == float(before["dev"]) + 2 == 96
    assert {s: after[s] for s in ("ada", "cleo")} == {s: before[s] for s in ("ada", "cleo")}
    assert _graded_when(out) == graded_at  # rebuilt from results plus overrides: nothing was graded again
