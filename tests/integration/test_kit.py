"""Student kits: lesson 04's built, scanned, installed as a student installs it and graded from outside the checkout; lesson 05's built and graded.

The kit is installed from its wheel into a fresh venv that borrows this
environment's third-party packages through a .pth line (never its editable
``grader``), as tests/e2e/test_installed_package.py does, and grades in
portable mode. Every visible check must end as the full grader's does on the
same notebook: the solution, the template, and wrong answers taken from the
conformance corpus (one planted mistake per exercise, two notebooks) and from
tests/integration/test_ex1_ex2.py. Lesson 05's kit (tensor kinds: gradients
through returned tensors, a returned nn.Module, a training step's changed
parameters) is graded in this process against the wrong notebooks of
tests/integration/test_assignment05.py.
"""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import nbformat
import pytest

from grader import load_rubric
from grader.kit.build import build_kit
from grader.kit.scan import scan
from grader.pipeline import Options, grade_submission
from grader.rubric import Rubric
from tests.conformance import ex1, ex2, ex3, ex4
from tests.conftest import ROOT, RUBRIC, RUBRIC05, SETUP, SOLUTION, TEMPLATE
from tests.integration.test_assignment05 import SETUP05, WRONG, notebook05
from tests.integration.test_ex1_ex2 import EX1_VALUES, GOOD_COS, GOOD_SIN, dual_class

pytestmark = pytest.mark.kernel

KIT_CHECKS = 16  # lesson 04's 17 checks but the written answer, which the kit leaves to the instructor
AUTOGRAD_BACKPROP = """
from torch.autograd import grad

def manual_backprop(x1, x2, x3):
    xs = [torch.tensor(float(v), requires_grad=True) for v in (x1, x2, x3)]
    out = (xs[0] + xs[1]) * xs[2]
    g = grad(out, xs)
    return {"y": out.item(), "dy_dx1": g[0].item(), "dy_dx2": g[1].item(), "dy_dx3": g[2].item()}
"""
MUTATING_SIN = dual_class(GOOD_SIN, GOOD_COS).replace(
    "return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))",
    "self.value, self.deriv = math.sin(self.value), self.deriv * math.cos(self.value)\n        return self",
)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kit") / "kit04"
    build_kit(RUBRIC, out)
    return out


@pytest.fixture(scope="module")
def wheel(kit: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "kit04"
    shutil.copytree(kit, source)  # pip builds in the folder: keep the kit itself as grade kit wrote it
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    (found,) = out.glob("grader_kit_04_automatic_differentiation-*.whl")
    return found


@pytest.fixture(scope="module")
def python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    interpreter = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    purelib = Path(subprocess.run([str(interpreter), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    deps = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if Path(p).is_dir()]
    (purelib / "_borrowed_dependencies.pth").write_text("\n".join(deps) + "\n", encoding="utf-8")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(interpreter), "install", "--no-deps", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    return interpreter


def test_the_kit_holds_the_template_the_contract_and_no_answer(kit: Path, wheel: Path) -> None:
    solution = nbformat.read(SOLUTION, as_version=4)
    reference = (ROOT / "reference" / "autodiff04.py").read_text(encoding="utf-8")
    assert scan(kit, solution, reference) == []
    assert scan(wheel, solution, reference) == []
    package = kit / "grader_kit_04_automatic_differentiation"
    assert sorted(p.name for p in package.iterdir()) == [
        "04_automatic_differentiation.ipynb", "CONTRACT-04.md", "__init__.py", "expected.json", "expected.py", "kit.json", "rubric.yaml"]
    assert (kit / "04_automatic_differentiation.ipynb").read_bytes() == (package / "04_automatic_differentiation.ipynb").read_bytes()
    assert nbformat.read(kit / "04_automatic_differentiation.ipynb", as_version=4).cells == nbformat.read(TEMPLATE, as_version=4).cells
    assert not [p for p in kit.rglob("*") if p.name in ("solution.ipynb", "autodiff04.py") or "assignments/rubrics" in p.as_posix()]


def _grade(python: Path, folder: Path, *args: str) -> Any:
    done = subprocess.run([str(python), "-m", "grader", *args, "--portable"], capture_output=True, text=True, cwd=folder, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _notebook(folder: Path, name: str, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (SETUP, *cells)])
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {f"{ex['id']}/{c['id']}": c["outcome"] for ex in report["exercises"] for c in ex["checks"]}


def test_a_student_grades_with_the_installed_kit_as_the_full_grader_does(python: Path, tmp_path: Path, rubric: Rubric) -> None:
    (listed,) = _grade(python, tmp_path, "--list-assignments").stdout.splitlines()
    assert listed.startswith("04_automatic_differentiation  04: Automatic differentiation (student kit: 94 of 100 points checked here)  "
                             "[kit-04-automatic-differentiation]  ") and str(ROOT) not in listed

    shutil.copy(SOLUTION, tmp_path / "alice.ipynb")
    solved = json.loads(_grade(python, tmp_path, "alice.ipynb", "--format", "json").stdout)
    assert (solved["score"], solved["max_score"]) == (94, 94)
    assert set(_outcomes(solved).values()) == {"passed"} and len(_outcomes(solved)) == KIT_CHECKS + 1

    twins = {"twins_a": (ex1.VARIANTS[0], ex2.VARIANTS[0], ex4.VARIANTS[0], ex3.VARIANTS[0]),
             "twins_b": (ex1.VARIANTS[2], ex2.VARIANTS[1], ex4.VARIANTS[1], ex3.VARIANTS[2])}
    wrong = {name: _notebook(tmp_path, name, *(cell for v in variants for cell in v.twin_cells)) for name, variants in twins.items()}
    wrong["integration"] = _notebook(tmp_path, "integration", EX1_VALUES, AUTOGRAD_BACKPROP, MUTATING_SIN)
    shutil.copy(TEMPLATE, tmp_path / "template.ipynb")
    names = ["template.ipynb", *(p.name for p in wrong.values())]
    _grade(python, tmp_path, *names, "--out", str(tmp_path / "results"))
    reports = {Path(r["submission"]).stem: r for r in map(json.loads, (tmp_path / "results" / "results.jsonl").read_text().splitlines())}
    assert reports["template"]["score"] == 0 and reports["template"]["max_score"] == 94

    for name, path in wrong.items():
        kit_outcomes = _outcomes(reports[name])
        full = grade_submission(path, rubric, Options())
        full_outcomes = {k: v for k, v in _outcomes(full.as_dict()).items() if k != "ex4/written_answer"}
        assert {k: v for k, v in kit_outcomes.items() if k != "ex4/written_answer"} == full_outcomes, (name, reports[name]["errors"])
    planted = [(name, "/".join(v.mistake.check)) for name, variants in twins.items() for v in variants]
    planted += [("integration", "ex1/gradient_anywhere"), ("integration", "ex2/argument_unchanged")]
    assert [(name, check) for name, check in planted if _outcomes(reports[name])[check] == "passed"] == []


def test_percent_grade_in_a_kit_checks_the_running_kernel(python: Path, tmp_path: Path) -> None:
    solved = "\n\n".join(c.source for c in nbformat.read(SOLUTION, as_version=4).cells if c.cell_type == "code")
    wrong = solved.replace("-self.deriv * math.sin(self.value)", "self.deriv * math.sin(self.value)")
    printed = {}
    for name, source in (("right", solved), ("wrong", wrong)):
        (tmp_path / f"{name}.ipy").write_text(source + "\n\n%load_ext grader\n%grade\n", encoding="utf-8")
        done = subprocess.run([str(python), "-m", "IPython", "--no-banner", "--colors=NoColor", f"{name}.ipy"],
                              capture_output=True, text=True, cwd=tmp_path, timeout=600)
        printed[name] = done.stdout
        assert done.returncode == 0 and "[BUG" not in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    # the chain printed (2 points) is left to the saved notebook when the kernel does not know its file: 92 here
    assert "Score: 92 / 92" in printed["right"]
    assert "[INST] What gradient checkpointing is and why it helps (graded by your instructor: 6 points)  -" in printed["right"]
    assert "[PART] cos([u, u']) = [cos u, -u' sin u]  3.5/7" in printed["wrong"] and "the derivative of cos has the wrong sign" in printed["wrong"]


def test_a_kit_refuses_a_grader_it_was_not_built_with(python: Path, tmp_path: Path) -> None:
    installed = Path(subprocess.run([str(python), "-c", "import grader; print(grader.__file__)"],
                                    capture_output=True, text=True, check=True, cwd=tmp_path).stdout.strip()).parent
    assert ROOT not in installed.parents
    changed = installed / "scoring.py"
    original = changed.read_bytes()
    try:
        changed.write_bytes(original + b"\n# another kit's grader\n")
        done = subprocess.run([str(python), "-m", "grader", "--list-assignments"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    finally:
        changed.write_bytes(original)
    assert done.returncode == 2
    assert "is not the one the kit grader-kit-04-automatic-differentiation was built with" in done.stderr
    assert "pip install --force-reinstall --no-deps PATH" in done.stderr


def test_the_kit_of_lesson_05_grades_wrong_notebooks_as_the_full_grader_does(tmp_path: Path) -> None:
    summary = build_kit(RUBRIC05, tmp_path / "kit05")  # its solution is found by the assignment its metadata names
    assert (summary.kit_points, summary.later, summary.solution_score, summary.template_score) == (100, (), 100, 0)
    kit = load_rubric(tmp_path / "kit05" / "grader_kit_05_custom_autograd_and_training" / "rubric.yaml")
    full = load_rubric(RUBRIC05)
    for name, (cells, _) in WRONG.items():
        path = notebook05(tmp_path, name, SETUP05, *cells)
        kit_report, full_report = grade_submission(path, kit, Options()).as_dict(), grade_submission(path, full, Options()).as_dict()
        with_kit, with_full = _outcomes(kit_report), _outcomes(full_report)
        differing = {key: (with_kit[key], with_full[key], _message(kit_report, key), _message(full_report, key))
                     for key in with_full if with_kit.get(key) != with_full[key]}
        assert differing == {}, (name, kit_report["errors"], full_report["errors"])
        assert "broken" not in with_kit.values() and list(with_kit.values()).count("passed") < len(with_kit) - 4, name


def _message(report: dict[str, Any], key: str) -> str:
    exercise, check = key.split("/")
    return next(c["message"] for ex in report["exercises"] if ex["id"] == exercise for c in ex["checks"] if c["id"] == check)
