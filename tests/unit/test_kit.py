"""The student kit's pieces without a kernel: its rubric, the instructor_graded kind, fixed points, the answer scan, its files.

The kit built and graded end to end is tests/integration/test_kit.py.
"""

from __future__ import annotations

import copy
import json
import random
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from grader import load_rubric
from grader.checks.registry import CHECK_KINDS
from grader.errors import GraderError, RubricError
from grader.kit.build import KitRefused, build_kit, kit_rubric
from grader.kit.identity import PACKAGE_DATA, code_digest, package_names, vendored_files
from grader.kit.scan import answers_of, scan, significant_lines
from grader.live.judge import live_seed
from grader.load import load_submission
from grader.pipeline import derive_seed, fixed_seed
from grader.probes.protocol import Answer
from grader.results import Outcome
from grader.rubric import CheckSpec, Rubric
from tests.conftest import ROOT, RUBRIC, SOLUTION, TEMPLATE
from tests.unit.kinds.support import context

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REFERENCE = ROOT / "reference" / "autodiff04.py"


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load_rubric(RUBRIC)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(RUBRIC.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def solution() -> Any:
    return nbformat.read(SOLUTION, as_version=4)


# ------------------------------------------------------------------ the kit's rubric


def test_the_written_answer_becomes_instructor_graded_and_the_kit_says_how_many_points_it_checks(rubric: Rubric, raw: dict[str, Any]) -> None:
    data, later = kit_rubric(raw, rubric)
    assert later == ["ex4/written_answer: 6 points"]
    written = data["exercises"][3]["checks"][3]
    assert written == {
        "id": "written_answer", "kind": "instructor_graded", "points": 0, "params": {"points": 6.0, "name": "checkpointing_answer"},
        "title": "What gradient checkpointing is and why it helps (graded by your instructor: 6 points)",
        "contract": raw["exercises"][3]["checks"][3]["contract"],
    }
    assert '"ideas"' not in json.dumps(data) and '"phrasings"' not in json.dumps(data) and "\\bre-?comput" not in json.dumps(data)
    assert data["title"] == "04: Automatic differentiation (student kit: 94 of 100 points checked here)"
    assert (data["reference"], data["fixed_points"], data["contract"]) == ("expected.py", True, "CONTRACT-04.md")
    others = [c for ex in raw["exercises"] for c in ex["checks"] if c["kind"] != "key_ideas"]
    kept = [c for ex in data["exercises"] for c in ex["checks"] if c["kind"] != "instructor_graded"]
    assert [{**c, "title": ""} for c in kept] == [{**c, "title": ""} for c in others]
    # a kit asks at fixed points: no title promises fresh ones
    titles = [c["title"] for c in kept]
    assert "manual_backprop computes y at the kit's fixed points" in titles and not any("fresh" in title for title in titles)


def test_hidden_checks_are_left_out_and_their_points_named(rubric: Rubric, raw: dict[str, Any]) -> None:
    hiding = copy.deepcopy(raw)
    hiding["solution"] = "../reference/solution.ipynb"
    for check in hiding["exercises"][1]["checks"][2:4]:
        check["hidden"] = True
    hiding["exercises"][1]["checks"][0]["id"] = "hidden_checks"
    data, later = kit_rubric(hiding, rubric)
    ex2 = data["exercises"][1]["checks"]
    assert [c["id"] for c in ex2] == ["hidden_checks", "cos_rule", "lesson_operations", "hidden_checks_2"]
    assert ex2[-1] == {"id": "hidden_checks_2", "kind": "instructor_graded", "points": 0, "params": {"points": 7.0},
                       "title": "Checks only the official grade runs (7 points)"}
    assert later == ["ex2: 7 points of hidden checks", "ex4/written_answer: 6 points"]
    assert "solution" not in data and "87 of 100 points" in data["title"]


def test_a_check_kind_from_another_package_is_refused_unless_its_params_are_the_answer(rubric: Rubric, raw: dict[str, Any]) -> None:
    class Plugin(CHECK_KINDS["global_numbers"]):  # type: ignore[misc, valid-type]
        kind = "course_plugin_kind"

    Plugin.__module__ = "my_course.checks"
    CHECK_KINDS[Plugin.kind] = Plugin
    try:
        plugged = copy.deepcopy(raw)
        plugged["exercises"][0]["checks"][0]["kind"] = Plugin.kind
        with pytest.raises(KitRefused, match=r"ex1/values: its kind .course_plugin_kind. comes from my_course\.checks, which a kit does not carry"):
            kit_rubric(plugged, rubric)
        Plugin.params_hold_answers = True
        assert kit_rubric(plugged, rubric)[0]["exercises"][0]["checks"][0]["kind"] == "instructor_graded"
    finally:
        del CHECK_KINDS[Plugin.kind]


def test_the_kit_is_named_after_its_assignment() -> None:
    assert package_names("04_automatic_differentiation") == (
        "grader_kit_04_automatic_differentiation", "grader-kit-04-automatic-differentiation")
    assert package_names("05: Custom Autograd!") == ("grader_kit_05_custom_autograd", "grader-kit-05-custom-autograd")


# ------------------------------------------------------------------ instructor_graded


def _instructor(params: dict[str, Any]) -> Any:
    return CHECK_KINDS["instructor_graded"](CheckSpec("written_answer", "instructor_graded", "t", 0.0, params))


@pytest.mark.parametrize(
    ("value", "outcome", "message"),
    [
        ({"text": "Checkpointing keeps a few activations and recomputes the rest."}, Outcome.PASSED,
         "`checkpointing_answer` is written (9 words); graded by your instructor (6 points, not in this score)"),
        ({"text": "  "}, Outcome.NOT_ATTEMPTED,
         "not attempted: `checkpointing_answer` is empty; graded by your instructor (6 points, not in this score)"),
        ({"rejected": "None"}, Outcome.NOT_ATTEMPTED, "not attempted: `checkpointing_answer` is still None; graded by your instructor"),
        ({"rejected": "list"}, Outcome.FAILED, "`checkpointing_answer` must be a string (it is of type list); graded by your instructor"),
    ],
)
def test_instructor_graded_says_whether_the_answer_is_written_and_never_scores(value: dict[str, Any], outcome: Outcome, message: str) -> None:
    check = _instructor({"points": 6, "name": "checkpointing_answer"})
    calls = check.plan(random.Random(0))
    assert [c.probe for c in calls] == ["text_value"]
    verdict = check.judge(calls, [Answer(True, value)], context(None))
    assert verdict.outcome is outcome and verdict.message.startswith(message)


def test_instructor_graded_without_a_name_asks_nothing() -> None:
    check = _instructor({"points": 7})
    assert check.plan(random.Random(0)) == []
    assert check.judge([], [], context(None)).message == "graded by your instructor (7 points, not in this score)"


# ------------------------------------------------------------------ fixed points


def test_a_rubric_says_fixed_points_with_a_boolean(tmp_path: Path) -> None:
    text = RUBRIC.read_text(encoding="utf-8").replace("../reference/autodiff04.py", str(REFERENCE))
    rubric_file = tmp_path / "fixed.yaml"
    rubric_file.write_text(text.replace("seed: 4\n", "seed: 4\nfixed_points: true\n"), encoding="utf-8")
    assert load_rubric(rubric_file).fixed_points is True
    rubric_file.write_text(text.replace("seed: 4\n", "seed: 4\nfixed_points: sometimes\n"), encoding="utf-8")
    with pytest.raises(RubricError, match="fixed_points: expected true or false, got 'sometimes'"):
        load_rubric(rubric_file)


def test_derive_seed_honours_fixed_points(rubric: Rubric) -> None:
    from dataclasses import replace

    solution, template = load_submission(SOLUTION, 20), load_submission(TEMPLATE, 20)
    assert derive_seed(rubric, solution) != derive_seed(rubric, template)
    fixed = replace(rubric, fixed_points=True)
    assert derive_seed(fixed, solution) == derive_seed(fixed, template) == fixed_seed(rubric)
    assert derive_seed(fixed, solution) != derive_seed(replace(fixed, seed=5), solution)
    # %grade's points: a kit must ask those, or %grade would find no expected values
    assert fixed_seed(rubric) == live_seed(rubric)


# ------------------------------------------------------------------ the answer scan


def test_the_scan_finds_a_region_a_line_and_a_reference_function(tmp_path: Path, solution: Any) -> None:
    source = REFERENCE.read_text(encoding="utf-8")
    (tmp_path / "clean.py").write_text("import torch\ntorch.manual_seed(0)\nnames: list[str] = []\n", encoding="utf-8")
    assert scan(tmp_path, solution, source) == []
    (tmp_path / "a.py").write_text("x = 1\n        return DualNumber(math.sin(self.value),\n self.deriv * math.cos(self.value))\n")
    (tmp_path / "b.json").write_text(json.dumps({"hint": "parents = [fn for fn, _ in node.next_functions if fn is not None]"}))
    (tmp_path / "c.txt").write_text(source.split("def checkpointed_forward")[1].join(["def checkpointed_forward", ""]), encoding="utf-8")
    found = {(leak.file, leak.answer.split(":")[0]) for leak in scan(tmp_path, solution, source)}
    assert ("a.py", "answer region of ex2 (cell 27, lines 33-33)") in found
    assert ("b.json", "a line of the answer region of ex3 (cell 29, lines 17-28)") in found
    assert ("c.txt", "the reference's function checkpointed_forward") in found


def test_lines_given_to_every_student_and_short_or_opening_lines_are_not_answers(solution: Any) -> None:
    given = "    model = nn.Sequential(\n    torch.manual_seed(0)\n    from torch.utils.checkpoint import checkpoint_sequential\n"
    assert significant_lines(given) == []
    assert significant_lines("    node = candidates[0] if candidates else None  # step\n") == [
        "node = candidates[0] if candidates else None # step", "node = candidates[0] if candidates else None"]
    texts = [text for _, text in answers_of(solution, REFERENCE.read_text(encoding="utf-8"))]
    assert "return DualNumber(self.value + o.value, self.deriv + o.deriv)" not in texts  # the lesson's class, in the template too
    assert "return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))" in texts


def test_the_template_and_the_grader_hold_no_answer(solution: Any) -> None:
    source = REFERENCE.read_text(encoding="utf-8")
    assert scan(TEMPLATE.parent, solution, source) == []
    assert scan(ROOT / "grader", solution, source) == []
    assert scan(REFERENCE.parent, solution, source) != []


# ------------------------------------------------------------------ the vendored code


def test_the_vendored_code_is_the_grader_without_bundled_assignments(tmp_path: Path) -> None:
    package = tmp_path / "grader"
    for path in vendored_files(ROOT / "grader"):
        target = package / path.relative_to(ROOT / "grader")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    (package / "assignments" / "rubrics").mkdir()
    (package / "assignments" / "rubrics" / "x.py").write_text("answer = 42\n")
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "y.py").write_text("cache\n")
    assert code_digest(package) == code_digest(ROOT / "grader")
    (package / "kit" / "build.py").write_text((package / "kit" / "build.py").read_text() + "\n# changed\n")
    assert code_digest(package) != code_digest(ROOT / "grader")


def test_the_vendored_code_carries_the_html_templates_as_the_wheel_does(tmp_path: Path) -> None:
    templates = sorted(p for p in (ROOT / "grader" / "templates").rglob("*") if p.is_file())
    assert templates and set(templates) <= set(vendored_files(ROOT / "grader"))
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["grader"] == list(PACKAGE_DATA)
    package = tmp_path / "grader"
    for path in vendored_files(ROOT / "grader"):
        target = package / path.relative_to(ROOT / "grader")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    page = package / "templates" / "page.html.j2"
    page.write_text(page.read_text() + "<!-- changed -->\n")
    assert code_digest(package) != code_digest(ROOT / "grader")  # a kit with other templates is another grader


# ------------------------------------------------------------------ refusals before anything is graded


def test_a_solution_of_another_assignment_is_refused(tmp_path: Path) -> None:
    other = nbformat.read(SOLUTION, as_version=4)
    other.metadata["grader"] = {"assignment": "05_custom_autograd_and_training"}
    nbformat.write(other, tmp_path / "solution.ipynb")
    with pytest.raises(GraderError, match=r"the solution notebook of assignment 05_custom_autograd_and_training \(its metadata says so\), "
                                          "not of 04_automatic_differentiation"):
        build_kit(RUBRIC, tmp_path / "kit", solution=tmp_path / "solution.ipynb")
    assert not (tmp_path / "kit").exists()


def test_a_folder_that_is_not_a_kit_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "notes.txt").write_text("mine\n")
    with pytest.raises(KitRefused, match="exists and is not an empty folder or a kit"):
        build_kit(RUBRIC, tmp_path / "kit")
    assert (tmp_path / "kit" / "notes.txt").read_text() == "mine\n"


def test_a_kit_s_rubric_is_known_by_the_manifest_beside_it(tmp_path: Path, rubric: Rubric) -> None:
    assert rubric.is_kit is False
    (tmp_path / "rubric.yaml").write_text(rubric.path.read_text())
    kit = replace(rubric, path=tmp_path / "rubric.yaml")
    assert kit.is_kit is False
    (tmp_path / "kit.json").write_text("{}")
    assert kit.is_kit is True  # its results say grade: kit, and every report calls the score the kit's
