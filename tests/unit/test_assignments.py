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


# ------------------------------------------------------------------ which assignment, by the answers a file defines

B04 = Assignment("04_automatic_differentiation", "04", Path("04.yaml"), "04_automatic_differentiation.ipynb", "bundled",
                 (("s", "y", "manual_backprop"), ("DualNumber.sin", "DualNumber.cos", "sin", "cos"), ("model", "grad_fn_chain"),
                  ("checkpointed_forward", "checkpointing_answer")))
B05 = Assignment("05_custom_autograd", "05", Path("05.yaml"), "05_custom_autograd.ipynb", "bundled",
                 (("LeakyReLUFunction.forward", "LeakyReLUFunction.backward"), ("softmax", "cross_entropy"), ("cross_entropy_grad",),
                  ("build_mlp", "train_step", "train")))

CELLS05 = [
    "%matplotlib inline\nimport torch\ny = torch.ones(3)",
    "class LeakyReLUFunction(torch.autograd.Function):\n    @staticmethod\n    def forward(ctx, x, s):\n        return x\n"
    "    @staticmethod\n    def backward(ctx, g):\n        return g, None",
    "softmax = lambda z: z.softmax(-1)\ntry:\n    from helpers import cross_entropy\nexcept ImportError:\n    pass",
    "def cross_entropy_grad(logits, targets):\n    pass",
    "build_mlp, train = None, None",
    "def broken(:\n",  # a cell that does not parse defines nothing, and costs nothing here
]


def code_notebook(tmp_path: Path, name: str, cells: list[str], assignment: str | None = None) -> Path:
    metadata = {"grader": {"assignment": assignment}} if assignment else {}
    path = tmp_path / name
    body = [{"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None} for source in cells]
    path.write_text(json.dumps({"cells": body, "metadata": metadata, "nbformat": 4, "nbformat_minor": 4}), encoding="utf-8")
    return path


def test_the_names_a_file_defines_are_read_without_running_it(tmp_path: Path) -> None:
    from grader.assignments import defined_names

    names = defined_names(code_notebook(tmp_path, "x.ipynb", CELLS05))
    assert {"y", "LeakyReLUFunction", "LeakyReLUFunction.forward", "LeakyReLUFunction.backward", "softmax", "cross_entropy",
            "cross_entropy_grad", "build_mlp", "train", "torch"} <= (names or set())
    module = tmp_path / "dual.py"
    module.write_text("class DualNumber:\n    pass\n\ndef _sin(d):\n    return d\n\nsetattr(DualNumber, 'sin', _sin)\nDualNumber.cos = _sin\n")
    assert {"DualNumber.sin", "DualNumber.cos"} <= (defined_names(module) or set())
    assert defined_names(tmp_path / "missing.ipynb") is None


def test_a_file_without_metadata_or_a_telling_name_is_chosen_by_its_answers(tmp_path: Path) -> None:
    path = code_notebook(tmp_path, "homework.ipynb", CELLS05)
    choice = choose_assignment(path, [B04, B05])
    assert (choice.assignment.id, choice.reason, choice.warning) == ("05_custom_autograd", "it defines the answers of this assignment "
                                                                     "(4 of 4 exercises)", "")
    with pytest.raises(UsageError, match="cannot tell which assignment"):
        choose_assignment(code_notebook(tmp_path, "empty.ipynb", ["x = 1"]), [B04, B05])


@pytest.mark.parametrize(("name", "metadata", "reason"), [
    ("anything.ipynb", "04_automatic_differentiation", "named in the notebook's metadata"),
    ("04-automatic-differentiation.ipynb", None, "its file name matches"),
])
def test_another_assignment_s_answers_under_this_one_s_name_get_a_plain_warning(tmp_path: Path, name: str, metadata: str | None,
                                                                                reason: str) -> None:
    choice = choose_assignment(code_notebook(tmp_path, name, CELLS05, metadata), [B04, B05])
    assert (choice.assignment.id, choice.reason) == ("04_automatic_differentiation", reason)
    assert choice.warning == ("this file defines the answers of assignment 05_custom_autograd (4 of 4 exercises), not those of "
                              "04_automatic_differentiation, which it is graded as: is it the right file? "
                              "(--rubric 05_custom_autograd grades it as 05_custom_autograd)")
    own = code_notebook(tmp_path, "own.ipynb", ["def manual_backprop(a, b, c):\n    pass"], "04_automatic_differentiation")
    assert choose_assignment(own, [B04, B05]).warning == ""  # a barely started notebook of its own assignment: no warning
