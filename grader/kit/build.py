"""``grade kit ASSIGNMENT --out DIR``: a student kit, the grader students install, without the answers.

A kit is a pip-installable folder (``pip install DIR``, or the wheel built from
it) named after its assignment, e.g. ``grader-kit-04-automatic-differentiation``.
It holds:

* ``grader/``: this grader's code, vendored (the kit must not pull the full
  package from an index: that carries ``reference/`` and the solution), without
  the bundled assignments;
* ``grader_kit_<id>/``: the kit's assignment, registered in the
  ``grader.assignments`` entry-point group: a rubric of the visible checks only,
  with ``fixed_points: true``; the contract; the template notebook;
  ``expected.json``, the reference's answers at those fixed points recorded as
  data, and ``expected.py``, the generated module that replays them
  (:mod:`grader.kit.replay`); ``kit.json``, what it was built from;
* at the top: ``pyproject.toml``, a ``README.md`` for students, the template
  notebook and the contract again, to hand out as they are.

How the rubric changes: hidden checks are left out; a check whose parameters
are the answer (``key_ideas``: the written answer's key ideas) becomes an
``instructor_graded`` check worth 0 points that names the points graded later,
and so does the sum of each exercise's hidden checks. The kit's score is out of
the points it can check, and its title says so ("94 of 100 points checked
here"). The kit is built by grading the solution notebook with the kit's rubric
and the recording reference, then verified: the solution gets every kit check
with the replayed values, the template scores 0, and no answer is in any file
(:mod:`grader.kit.scan`). Only then is ``DIR`` written.

One kit per environment: every kit carries ``grader``. Two kits built by the
same grader version carry the same code and work side by side; a kit whose
vendored code was overwritten by another kit or by the full package refuses to
grade and says to reinstall it (its ``kit.json`` holds the digest of its code).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import nbformat
import yaml

from grader.assignments import installed_assignments
from grader.authoring.layout import solution_path, template_path
from grader.authoring.notebook import make_student_notebook, notebook_assignment
from grader.checks.registry import CHECK_KINDS
from grader.errors import ExitCode, GraderError, UsageError
from grader.kit.files import write_expected, write_package
from grader.kit.identity import MANIFEST, package_names
from grader.kit.replay import Recorder, RecordingReference
from grader.kit.scan import kit_texts, scan
from grader.pipeline import Options, grade_submission, load_reference
from grader.results import Outcome, SubmissionResult
from grader.rubric import Rubric, load_rubric, parse_yaml_text


class KitRefused(GraderError):
    """A kit that cannot be built, or that failed its own verification (nothing is written to the output folder)."""


@dataclass(frozen=True)
class KitSummary:
    """What ``grade kit`` built: where, for which assignment, its points, and what it verified."""

    out: Path
    assignment: str
    distribution: str
    visible_checks: int
    kit_points: float
    official_points: float
    later: tuple[str, ...]  # "ex4/written_answer: 6 points", one per instructor-graded check
    solution_score: float
    template_score: float
    files_scanned: int
    names: tuple[str, ...] = field(default=())  # the reference names the kit answers from recorded data


@click.command("kit", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("assignment")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the kit (created; a kit already there is replaced, any other non-empty folder refused).")
@click.option("--solution", type=click.Path(path_type=Path, dir_okay=False),
              help="The solved notebook (default: the rubric's `solution:`, else the one notebook beside the reference module "
                   "that names the assignment in its metadata, else solution.ipynb there).")
@click.option("--template", type=click.Path(path_type=Path, dir_okay=False),
              help="The student notebook (default: the rubric's `template:`, else exercises/<notebook>, else made from the solution).")
@click.option("--portable", is_flag=True, help="Grade the solution and the template the standard way, without the Linux sandbox.")
def kit(assignment: str, out: Path, solution: Path | None, template: Path | None, portable: bool) -> None:
    """Write the student kit of ASSIGNMENT (an installed assignment's id, or a rubric file) into --out.

    The kit installs with one `pip install` and gives `grade` and `%grade` with
    the visible checks, at fixed points whose expected values it holds as data:
    neither the solution nor the reference code is in it. Exit status: 0
    written; 2 refused (nothing written).
    """
    try:
        summary = build_kit(_rubric_path(assignment), out, solution, template, portable)
    except GraderError as exc:
        click.echo(f"grade kit: error: {exc.message}", err=True)
        sys.exit(ExitCode.UNUSABLE)
    click.echo(describe(summary))


def _rubric_path(assignment: str) -> Path:
    given = Path(assignment)
    if given.suffix in (".yaml", ".yml") or given.is_file():
        return given
    installed = {a.id: a for a in installed_assignments()}
    if assignment not in installed:
        raise UsageError(f"{assignment}: not an installed assignment ({', '.join(installed) or 'none installed'}) nor a rubric file")
    return installed[assignment].rubric_path


def describe(summary: KitSummary) -> str:
    """The lines ``grade kit`` prints: what is in the kit, what was verified, what students do."""
    later = "; ".join(summary.later) or "none"
    return "\n".join([
        f"grade kit: wrote {summary.out} ({summary.distribution}, assignment {summary.assignment})",
        f"  checks: {summary.visible_checks} visible, {summary.kit_points:g} of {summary.official_points:g} points checked here; "
        f"graded by the instructor: {later}",
        f"  expected values recorded for: {', '.join(summary.names) or 'nothing (no check consults the reference)'}",
        f"  verified: the solution scores {summary.solution_score:g} / {summary.kit_points:g} with the kit, the template "
        f"{summary.template_score:g}; no answer of the solution or the reference in its {summary.files_scanned} files",
        f"  students: pip install {summary.out}   then   grade <notebook>.ipynb   (in Jupyter: %load_ext grader, then %grade)",
    ])


# ------------------------------------------------------------------ building


def build_kit(rubric_path: Path, out: Path, solution: Path | None = None, template: Path | None = None, portable: bool = False) -> KitSummary:
    """Build, verify and write the kit of the rubric at ``rubric_path`` into ``out`` (see the module docstring)."""
    rubric = load_rubric(rubric_path, CHECK_KINDS)
    _check_out(out)
    solution_file = solution_path(rubric, solution)
    solution_nb = _notebook_of(rubric, solution_file, "--solution")
    named_template = template_path(rubric, template)
    template_nb = _notebook_of(rubric, named_template, "--template") if named_template else make_student_notebook(solution_nb, rubric.assignment)
    data, later = kit_rubric(_raw(rubric.path), rubric)
    staging = out.parent / f".{out.name}.building"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        package = write_package(staging, rubric, data, template_nb)
        recorded = _record(rubric, data, solution_file, package, portable)
        solved, blank = _verify(package / "rubric.yaml", solution_file, template_nb, portable)
        files = _scan(staging, solution_nb, rubric.reference_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    kit_points = sum(float(c["points"]) for ex in data["exercises"] for c in ex["checks"])
    visible = sum(1 for ex in data["exercises"] for c in ex["checks"] if c["kind"] != "instructor_graded")
    return KitSummary(out, rubric.assignment, package_names(rubric.assignment)[1], visible, kit_points, rubric.max_score,
                      tuple(later), solved, blank, files, recorded)


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not list(out.glob(f"grader_kit_*/{MANIFEST}")))):
        raise KitRefused(f"{out}: exists and is not an empty folder or a kit: give another --out")


def _raw(path: Path) -> dict[str, Any]:
    data = parse_yaml_text(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path  # load_rubric has validated it
    return data


def _notebook_of(rubric: Rubric, path: Path, flag: str) -> Any:
    """A notebook of this assignment: one that names another in its metadata is refused (the default paths can guess wrong)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:
        raise KitRefused(f"{path}: cannot read the notebook ({exc})") from None
    named = notebook_assignment(nb)
    if named not in (None, rubric.assignment):
        raise KitRefused(f"{path}: a notebook of assignment {named}, not {rubric.assignment}: give {flag} PATH")
    return nb


def kit_rubric(raw: dict[str, Any], rubric: Rubric) -> tuple[dict[str, Any], list[str]]:
    """The kit's rubric data from the official rubric's: visible checks, answers replaced, fixed points; and what is graded later."""
    later: list[str] = []
    exercises = []
    for exercise in raw["exercises"]:
        checks, hidden = [], 0.0
        for check in exercise["checks"]:
            kind = CHECK_KINDS[check["kind"]]
            if check.get("hidden", False):
                hidden += float(check["points"])
                continue
            if kind.params_hold_answers:
                checks.append(_instructor_check(check))
                later.append(f"{exercise['id']}/{check['id']}: {float(check['points']):g} points")
            elif not kind.__module__.startswith("grader.checks."):
                raise KitRefused(f"{exercise['id']}/{check['id']}: its kind {check['kind']!r} comes from {kind.__module__}, "
                                 "which a kit does not carry (it vendors only the grader's own code)")
            else:
                checks.append(_at_fixed_points(dict(check)))
        if hidden:
            ids = {c["id"] for c in checks}
            checks.append({"id": _free_id("hidden_checks", ids), "kind": "instructor_graded", "points": 0, "params": {"points": hidden},
                           "title": f"Checks only the official grade runs ({hidden:g} points)"})
            later.append(f"{exercise['id']}: {hidden:g} points of hidden checks")
        exercises.append({**exercise, "checks": checks})
    kit_points = sum(float(c["points"]) for ex in exercises for c in ex["checks"])
    data = {key: value for key, value in raw.items() if key not in ("solution", "template", "exercises")}
    data.update(
        title=f"{rubric.title} (student kit: {kit_points:g} of {rubric.max_score:g} points checked here)",
        reference="expected.py",
        fixed_points=True,
        total=kit_points,
        exercises=exercises,
    )
    if rubric.contract_path is not None:
        data["contract"] = rubric.contract_path.name
    else:
        data.pop("contract", None)
    return data, later


_FRESH = re.compile(r"\b(at|on) (fresh|random|new) (points|inputs)\b")


def _at_fixed_points(check: dict[str, Any]) -> dict[str, Any]:
    """A kit asks at fixed points, the same for every notebook: a title must not promise fresh ones."""
    if "title" in check:
        check["title"] = _FRESH.sub(r"\1 the kit's fixed \3", str(check["title"]))
    return check


def _instructor_check(check: dict[str, Any]) -> dict[str, Any]:
    title = re.sub(r"\s*\([^()]*\)\s*$", "", str(check.get("title", check["id"])))
    params: dict[str, Any] = {"points": float(check["points"])}
    name = check.get("params", {}).get("name")
    if isinstance(name, str):
        params["name"] = name
    replaced = {"id": check["id"], "kind": "instructor_graded", "points": 0, "params": params,
                "title": f"{title} (graded by your instructor: {float(check['points']):g} points)"}
    if "contract" in check:
        replaced["contract"] = check["contract"]
    return replaced


def _free_id(wanted: str, taken: set[str]) -> str:
    number, name = 1, wanted
    while name in taken:
        number += 1
        name = f"{wanted}_{number}"
    return name


def _record(rubric: Rubric, data: dict[str, Any], solution: Path, package: Path, portable: bool) -> tuple[str, ...]:
    """Grade the solution with the kit's checks and the real reference, recording what the judges ask; write expected.json/.py."""
    recorder = Recorder()
    with tempfile.TemporaryDirectory(prefix="grader-kit-") as folder:
        recording = Path(folder) / "recording.yaml"
        plain = {k: v for k, v in data.items() if k != "contract"}
        recording.write_text(yaml.safe_dump({**plain, "reference": str(rubric.reference_path)}, sort_keys=False), encoding="utf-8")
        reference = RecordingReference(load_reference(rubric.reference_path), recorder)
        result = grade_submission(solution, load_rubric(recording, CHECK_KINDS), Options(reference=reference, portable=portable))
    _require_full_marks(result, "while recording, with the reference")
    return write_expected(package, recorder, rubric, data)


def _verify(kit_rubric_path: Path, solution: Path, template_nb: Any, portable: bool) -> tuple[float, float]:
    """The kit as students get it: the solution must pass every check, the template score 0. Returns both scores."""
    rubric = load_rubric(kit_rubric_path, CHECK_KINDS)
    solved = grade_submission(solution, rubric, Options(portable=portable))
    _require_full_marks(solved, "with the recorded values")
    with tempfile.TemporaryDirectory(prefix="grader-kit-") as folder:
        template = Path(folder) / (rubric.notebook or f"{rubric.assignment}.ipynb")
        nbformat.write(template_nb, template)
        blank = grade_submission(template, rubric, Options(portable=portable))
    if blank.status != "graded" or blank.score != 0:
        raise KitRefused(f"the template scores {blank.score:g} with the kit, not 0: {_report(blank)}")
    return solved.score, blank.score


def _require_full_marks(result: SubmissionResult, how: str) -> None:
    failing = [f"{ex.id}/{c.id}: {c.outcome.value}: {c.message}" for ex in result.exercises for c in ex.checks if c.outcome is not Outcome.PASSED]
    if result.status != "graded" or failing:
        raise KitRefused(f"the solution does not pass every kit check {how}: {result.reason or '; '.join(failing)}")


def _report(result: SubmissionResult) -> str:
    return "; ".join(f"{ex.id}/{c.id}: {c.score:g} ({c.message})" for ex in result.exercises for c in ex.checks if c.score) or result.reason


def _scan(staging: Path, solution_nb: Any, reference_path: Path) -> int:
    leaks = scan(staging, solution_nb, reference_path.read_text(encoding="utf-8"))
    if leaks:
        shown = "; ".join(str(leak) for leak in leaks[:5])
        raise KitRefused(f"the kit would contain answers ({len(leaks)} found): {shown}")
    return len({name for name, _ in kit_texts(staging)})


def manifest(package: Path) -> dict[str, Any]:
    """A kit package's ``kit.json``."""
    data: dict[str, Any] = json.loads((package / MANIFEST).read_text(encoding="utf-8"))
    return data
