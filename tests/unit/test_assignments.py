"""Which assignment a submission is graded against, and what the package installs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from grader.assignments import Assignment, bundled_rubrics, choose_assignment, installed_assignments, notebook_assignment_id
from grader.errors import UsageError
from tests.conftest import ROOT, SOLUTION, TEMPLATE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

A04 = Assignment("04_automatic_differentiation", "04", Path("04.yaml"), "04_automatic_differentiation.ipynb", "bundled")
A05 = Assignment("05_custom_autograd", "05", Path("05.yaml"), "05_custom_autograd.ipynb", "bundled")


def notebook(tmp_path: Path, name: str, assignment: str | None = None) -> Path:
    metadata = {"grader": {"assignment": assignment}} if assignment else {}
    path = tmp_path / name
    path.write_text(json.dumps({"cells": [], "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")
    return path


def test_the_bundled_assignment_is_installed_and_its_notebooks_name_it() -> None:
    assert "04_automatic_differentiation" in {a.id for a in installed_assignments()}
    assert ROOT / "rubrics" / "04_automatic_differentiation.yaml" in bundled_rubrics()
    assert notebook_assignment_id(SOLUTION) == notebook_assignment_id(TEMPLATE) == "04_automatic_differentiation"


@pytest.mark.parametrize(
    ("name", "metadata", "chosen", "reason"),
    [
        ("anything.ipynb", "05_custom_autograd", "05_custom_autograd", "named in the notebook's metadata"),
        ("alice_04_automatic_differentiation (1).ipynb", None, "04_automatic_differentiation", "its file name matches"),
        ("05-Custom-Autograd.ipynb", None, "05_custom_autograd", "its file name matches"),
    ],
)
def test_a_submission_is_matched_by_metadata_then_file_name(tmp_path: Path, name: str, metadata: str | None, chosen: str, reason: str) -> None:
    choice = choose_assignment(notebook(tmp_path, name, metadata), [A04, A05])
    assert (choice.assignment.id, choice.reason) == (chosen, reason)


def test_the_only_assignment_installed_is_the_default(tmp_path: Path) -> None:
    choice = choose_assignment(notebook(tmp_path, "my_work.ipynb"), [A04])
    assert (choice.assignment.id, choice.reason) == ("04_automatic_differentiation", "the only assignment installed")
    module = tmp_path / "solution.py"
    module.write_text("x = 1\n")
    assert choose_assignment(module, [A04]).assignment is A04


@pytest.mark.parametrize(
    ("name", "metadata", "message"),
    [
        ("my_work.ipynb", None, "my_work.ipynb: cannot tell which assignment it is (it could be: 04_automatic_differentiation, "
                                "05_custom_autograd); give the rubric with --rubric"),
        ("x.ipynb", "07_unknown", "x.ipynb: the notebook says it is assignment '07_unknown', which is not installed "
                                  "(installed: 04_automatic_differentiation, 05_custom_autograd); give the rubric with --rubric"),
    ],
)
def test_an_undecidable_submission_is_refused_with_the_choices(tmp_path: Path, name: str, metadata: str | None, message: str) -> None:
    with pytest.raises(UsageError) as refused:
        choose_assignment(notebook(tmp_path, name, metadata), [A04, A05])
    assert refused.value.message == message


def test_every_grader_package_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "grader").rglob("__init__.py")}
    assert on_disk <= listed, sorted(on_disk - listed)
