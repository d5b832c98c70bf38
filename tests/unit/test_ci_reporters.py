"""CI reporters without a kernel: JUnit XML, Gradescope results.json, the GitHub job summary,
the Gradescope bundle's run_autograder and make_bundle, and the pytest plugin's collection.

Results are built by hand so that every outcome, hidden checks, overrides and
hostile text (control characters, markup) are covered.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml

from grader.errors import UsageError
from grader.pipeline import unusable
from grader.reporters.github import append_step_summary, md, step_summary
from grader.reporters.gradescope import fallback_dict, gradescope_dict, write_gradescope
from grader.reporters.junit import junit_element, write_junit, xml_text
from grader.results import CheckResult, ExerciseResult, Outcome, Override, SubmissionResult
from grader.rubric import Rubric
from tests.conftest import ROOT, RUBRIC

pytest_plugins = ("pytester",)

EXAMPLES = ROOT / "examples"
RUN_AUTOGRADER = EXAMPLES / "gradescope" / "run_autograder"
NASTY = "bad \x00nul \x07bell \x1b[31mred\x1b[0m \ufffe \ud800 \u202eevil <b>&amp;</b> ]]> | pipe *star*"

# The JUnit XML format as a schema (its sources are named in the file).
JUNIT_XSD = ROOT / "tests" / "schemas" / "junit.xsd"
COUNTS = ("tests", "failures", "errors", "skipped")


def plugin_args() -> tuple[str, ...]:
    """``-p grader.pytest_plugin`` unless the plugin is already installed as a pytest11 entry point."""
    from importlib.metadata import entry_points

    installed = any(ep.value.split(":")[0] == "grader.pytest_plugin" for ep in entry_points(group="pytest11"))
    return () if installed else ("-p", "grader.pytest_plugin")


def check_result(check_id: str, outcome: Outcome, score: float, max_score: float = 5.0, **extra: object) -> CheckResult:
    message = extra.pop("message", f"message of {check_id}")
    return CheckResult(check_id, f"Title of {check_id}", outcome, score, max_score, str(message), **extra)  # type: ignore[arg-type]


def make_result(student: str = "alice", errors: tuple[str, ...] = ()) -> SubmissionResult:
    ex1 = (
        check_result("ok", Outcome.PASSED, 5, message="all right"),
        check_result("part", Outcome.PARTIAL, 2.5, hints=("try harder",)),
        check_result("wrong", Outcome.FAILED, 0, message=NASTY),
        check_result("todo", Outcome.NOT_ATTEMPTED, 0, message="not attempted: define f"),
    )
    ex2 = (
        check_result("crash", Outcome.ERROR, 0, message="raised ZeroDivisionError: division by zero"),
        check_result("bug", Outcome.BROKEN, 0, message="the grader failed on this check (KeyError: 'x')"),
        check_result("secret", Outcome.FAILED, 0, 4.0, hidden=True, message="hidden verdict text"),
        check_result("edited", Outcome.FAILED, 3, override=Override(3, "fine by me", 0.0)),
        check_result("raised", Outcome.PARTIAL, 5, override=Override(5, "", 2.0)),
    )
    exercises = (
        ExerciseResult("ex1", "First exercise", 7.5, 20.0, ex1),
        ExerciseResult("ex2", "Second | exercise", 8.0, 24.0, ex2),
    )
    return SubmissionResult(
        submission=f"subs/{student}.ipynb", student=student, assignment="04_automatic_differentiation", status="graded",
        score=15.5, max_score=44.0, exercises=exercises, errors=errors, duration_s=4.0,
    )


# ---------------------------------------------------------------- JUnit


@functools.cache
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(JUNIT_XSD))


def assert_junit_schema(raw: bytes) -> None:
    """Validate a JUnit document against the JUnit XSD, then check what XSD 1.0 cannot: each count matches what it counts."""
    junit_schema().validate(raw.decode("utf-8"))  # raises XMLSchemaValidationError naming the element and the rule
    root = ET.fromstring(raw)
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "")) == len(cases)
        assert int(suite.get("failures", "")) == sum(len(c.findall("failure")) for c in cases)
        assert int(suite.get("errors", "")) == sum(len(c.findall("error")) for c in cases)
        assert int(suite.get("skipped", "0")) == sum(len(c.findall("skipped")) for c in cases)
    for name in COUNTS:
        if name in root.attrib:
            assert int(root.get(name, "")) == sum(int(s.get(name, "0")) for s in root.iter("testsuite"))


def parse_junit(path: Path) -> ET.Element:
    raw = path.read_bytes()
    raw.decode("utf-8")  # well-formed UTF-8
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert_junit_schema(raw)
    root = ET.fromstring(raw)
    assert root.tag == "testsuites"
    return root


def cases_by_name(root: ET.Element) -> dict[str, ET.Element]:
    return {f"{c.get('classname')}::{c.get('name')}": c for c in root.iter("testcase")}


def test_junit_has_one_suite_per_exercise_and_one_case_per_visible_check(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit([make_result()], path)
    root = parse_junit(path)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["alice.ex1", "alice.ex2"]
    assert [c.get("name") for c in suites[0].findall("testcase")] == ["ok", "part", "wrong", "todo"]
    assert [c.get("name") for c in suites[1].findall("testcase")] == ["crash", "bug", "edited", "raised"]
    assert {c.get("classname") for c in suites[0].iter("testcase")} == {"alice.ex1"}
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("8", "4", "2")
    assert (suites[1].get("tests"), suites[1].get("failures"), suites[1].get("errors")) == ("4", "1", "2")
    assert abs(sum(float(s.get("time", "")) for s in suites) - 4.0) < 0.01
    assert "hidden verdict text" not in path.read_text(encoding="utf-8")


def test_junit_outcomes_map_to_failure_and_error_with_the_message(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit([make_result()], path)
    cases = cases_by_name(parse_junit(path))
    assert list(cases["alice.ex1::ok"]) == [cases["alice.ex1::ok"].find("system-out")]
    expected = {
        "alice.ex1::part": ("failure", "partial"),
        "alice.ex1::wrong": ("failure", "failed"),
        "alice.ex1::todo": ("failure", "not_attempted"),
        "alice.ex2::crash": ("error", "error"),
        "alice.ex2::bug": ("error", "broken"),
        "alice.ex2::edited": ("failure", "override"),
    }
    for key, (tag, kind) in expected.items():
        child = cases[key].find(tag)
        assert child is not None, key
        assert child.get("type") == kind
        assert child.get("message")
        assert cases[key].get("name", "") in (child.text or "")
    assert cases["alice.ex1::todo"].find("failure").get("message") == "not attempted: define f"  # type: ignore[union-attr]
    assert "ZeroDivisionError" in cases["alice.ex2::crash"].find("error").get("message", "")  # type: ignore[union-attr]
    bug = cases["alice.ex2::bug"].find("error")
    assert bug is not None and "not your fault" in bug.get("message", "")
    assert "hint: try harder" in (cases["alice.ex1::part"].find("failure").text or "")  # type: ignore[union-attr]
    assert cases["alice.ex2::raised"].find("failure") is None  # an override to full marks passes
    assert "instructor set 3" in (cases["alice.ex2::edited"].find("failure").text or "")  # type: ignore[union-attr]


def test_junit_properties_carry_the_points(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit([make_result()], path)
    suite = parse_junit(path).findall("testsuite")[0]
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert (props["score"], props["max_score"]) == ("7.5", "20")
    assert (props["part.score"], props["part.max_score"]) == ("2.5", "5")
    assert (props["submission_score"], props["submission_max_score"]) == ("15.5", "44")
    assert props["hidden_checks"] == "0"
    props2 = {p.get("name"): p.get("value") for p in parse_junit(path).findall("testsuite")[1].iter("property")}
    assert props2["hidden_checks"] == "1" and "secret.score" not in props2
    system_out = suite.find("testcase/system-out")
    assert system_out is not None and (system_out.text or "").startswith("passed: 5 / 5 points")


def test_junit_escapes_control_characters_xml_forbids(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit([make_result(student="eve\x1b]0;x\x07", errors=(f"cell 3 raised {NASTY}",))], path)
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    for bad in ("\x00", "\x07", "\x1b", "\ufffe", "\u202e"):
        assert bad not in text
    root = parse_junit(path)
    message = cases_by_name(root)["eve?]0;x?.ex1::wrong"].find("failure").get("message", "")  # type: ignore[union-attr]
    assert "<b>&amp;</b> ]]>" in message  # markup survives as text, escaped in the file
    assert "&lt;b&gt;&amp;amp;&lt;/b&gt;" in text
    assert "cell 3 raised" in (root.find("testsuite/system-err").text or "")  # type: ignore[union-attr]
    assert xml_text("a\ud800b\uffffc") == "a?b?c"


def test_junit_batch_puts_every_submission_in_one_document(tmp_path: Path) -> None:
    path = tmp_path / "batch.xml"
    write_junit([make_result("alice"), make_result("bob")], path)
    root = parse_junit(path)
    assert [s.get("name") for s in root.findall("testsuite")] == ["alice.ex1", "alice.ex2", "bob.ex1", "bob.ex2"]
    assert root.get("tests") == "16" and float(root.get("time", "")) == 8.0
    assert junit_element([make_result()], include_hidden=True).get("tests") == "9"


def test_junit_of_an_unusable_submission_has_an_error_per_check(tmp_path: Path, rubric: Rubric) -> None:
    result = unusable(Path("broken.ipynb"), rubric, "not a valid notebook: JSON error at line 1", time.monotonic())
    path = tmp_path / "junit.xml"
    write_junit([result], path)
    root = parse_junit(path)
    errors = list(root.iter("error"))
    assert len(errors) == int(root.get("tests", "")) == sum(len(ex.checks) for ex in rubric.exercises)
    assert all("not a valid notebook" in e.get("message", "") for e in errors)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda x: x.replace("<error ", "<errors ", 1).replace("</error>", "</errors>", 1), "errors"),
        (lambda x: x.replace(' classname="alice.ex1"', "", 1), "classname"),
        (lambda x: x.replace(' tests="4"', ' tests="-4"', 1), "non negative"),
        (lambda x: x.replace(' time="', ' time="soon', 1), "xs:decimal"),
        (lambda x: re.sub(r'(<failure [^>]*?) message="[^"]*"', r"\1", x, count=1), "message"),
        (lambda x: re.sub(r"(<failure .*?</failure>)(\s*)(<system-out>.*?</system-out>)", r"\3\2\1", x, count=1, flags=re.S), "failure"),
    ],
    ids=["errors-for-error", "no-classname", "negative-count", "bad-time", "failure-without-message", "outcome-after-output"],
)
def test_the_junit_schema_rejects_what_readers_would_choke_on(tmp_path: Path, change: Any, complaint: str) -> None:
    """The controls: the schema is not a rubber stamp. Each slip, made by hand in a valid report, is refused."""
    path = tmp_path / "junit.xml"
    write_junit([make_result()], path)
    text = path.read_text(encoding="utf-8")
    junit_schema().validate(text)
    broken = change(text)
    assert broken != text
    with pytest.raises(xmlschema.XMLSchemaValidationError) as caught:
        junit_schema().validate(broken)
    assert complaint in (caught.value.reason or ""), caught.value.reason


def test_junit_unwritable_path_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="cannot write"):
        write_junit([make_result()], tmp_path / "file" / "junit.xml")


# ---------------------------------------------------------------- Gradescope


def test_gradescope_fields_and_hidden_checks_after_published(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_gradescope(make_result(), path)
    raw = path.read_bytes()
    raw.decode("ascii")
    data = json.loads(raw)
    assert data["score"] == 15.5 and data["execution_time"] == 4.0
    assert data["stdout_visibility"] == "hidden"
    assert "Score: 15.5 / 44" in data["output"]
    assert "1 hidden check(s) worth 4 point(s)" in data["output"]
    tests = {t["extra_data"]["check"]: t for t in data["tests"]}
    assert len(data["tests"]) == 9
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility", "status", "number"}
        assert isinstance(test["score"], float | int) and isinstance(test["max_score"], float | int)
    assert tests["secret"]["visibility"] == "after_published"
    assert {t["visibility"] for k, t in tests.items() if k != "secret"} == {"visible"}
    assert tests["ok"]["status"] == "passed" and tests["raised"]["status"] == "passed"
    assert tests["part"]["status"] == "failed" and tests["part"]["score"] == 2.5
    assert tests["part"]["name"] == "ex1 / part: Title of part" and tests["part"]["number"] == "1.2"
    assert "hint: try harder" in tests["part"]["output"]
    assert "not your fault" in tests["bug"]["output"]
    assert "your instructor set 3 (automatic score 0): fine by me" in tests["edited"]["output"]
    assert sum(t["score"] for t in data["tests"]) == data["score"]


def test_gradescope_cleans_student_text() -> None:
    data = gradescope_dict(make_result(errors=(NASTY,)))
    wrong = next(t for t in data["tests"] if t["extra_data"]["check"] == "wrong")
    for text in (wrong["output"], data["output"]):
        assert not any(ch in text for ch in ("\x00", "\x07", "\x1b", "\u202e", "\ud800"))
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # no lone surrogates left


def test_gradescope_unusable_submission_is_still_valid(tmp_path: Path, rubric: Rubric) -> None:
    result = unusable(Path("broken.ipynb"), rubric, "notebook format version 3 is not supported", time.monotonic())
    path = tmp_path / "results.json"
    write_gradescope(result, path)
    data = json.loads(path.read_text())
    assert data["score"] == 0
    assert data["output"].startswith("Your submission could not be graded: notebook format version 3 is not supported")
    assert data["extra_data"]["status"] == "error"
    assert all(t["score"] == 0 and t["status"] == "failed" for t in data["tests"])
    assert sum(t["max_score"] for t in data["tests"]) == rubric.max_score
    fallback = fallback_dict("no notebook\x07 found")
    assert fallback["score"] == 0 and fallback["tests"] == [] and "no notebook? found" in fallback["output"]


# ---------------------------------------------------------------- GitHub job summary


def test_step_summary_is_appended_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("# earlier step\n", encoding="utf-8")
    append_step_summary(make_result(), path, 10)
    append_step_summary(make_result("bob"), path, 20)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# earlier step\n")
    assert text.count("## Grade:") == 2
    assert "**Score: 15.5 / 44** (35%) ✅ reaches the pass mark of 10" in text
    assert "❌ below the pass mark of 20 (`--fail-under 20`): this job fails" in text


def test_step_summary_tables_hide_hidden_checks_and_escape_markup() -> None:
    text = step_summary(make_result(errors=("cell 2 raised <script>alert(1)</script>",)), None)
    assert "pass mark" not in text
    assert "### ex1: First exercise (7.5 / 20)" in text
    assert "### ex2: Second \\| exercise (8 / 24)" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert all(len(re.split(r"(?<!\\)\|", row)) == 6 for row in rows), rows  # 4 cells: no pipe leaks out
    assert "hidden verdict text" not in text and "| 🔒 | 1 hidden check(s) |" in text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "\x1b" not in text and "\x00" not in text
    assert "hint: try harder" in text
    assert md("a|b\nc *d*") == "a\\|b c \\*d\\*"


def test_step_summary_of_unusable_submission_and_unwritable_file(tmp_path: Path, rubric: Rubric, capsys: pytest.CaptureFixture[str]) -> None:
    result = unusable(Path("x.ipynb"), rubric, "empty file", time.monotonic())
    text = step_summary(result, 30)
    assert "**Your submission could not be graded: empty file**" in text and "below the pass mark" in text
    append_step_summary(result, tmp_path / "missing" / "summary.md", None)
    assert "cannot append the job summary" in capsys.readouterr().err


# ---------------------------------------------------------------- the CLI, without a kernel


def test_cli_writes_all_reports_for_an_unusable_submission(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    done = subprocess.run(
        [sys.executable, "-m", "grader", str(broken), "--rubric", "04_automatic_differentiation", "--junit", str(tmp_path / "j.xml"),
         "--gradescope", str(tmp_path / "r.json"), "--fail-under", "10", "--only", "ex1"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert done.returncode == 2, done.stderr
    assert json.loads((tmp_path / "r.json").read_text())["score"] == 0
    assert parse_junit(tmp_path / "j.xml").findall("testsuite")
    assert "Your submission could not be graded" in summary.read_text(encoding="utf-8")


# ---------------------------------------------------------------- the Gradescope bundle, without a kernel


def run_autograder(root: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    done = subprocess.run(
        [sys.executable, str(RUN_AUTOGRADER)], capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable, **env},
    )
    return done, json.loads((root / "results" / "results.json").read_text())


def test_run_autograder_without_a_notebook_writes_a_fallback(tmp_path: Path) -> None:
    (tmp_path / "submission" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "submission" / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("{}")
    (tmp_path / "submission" / "notes.txt").write_text("hello")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "results.json").write_text('{"score": 100, "tests": []}')  # stale: replaced
    done, data = run_autograder(tmp_path)
    assert done.returncode == 0, done.stderr
    assert data["score"] == 0 and data["tests"] == []
    assert "no notebook found" in str(data["output"])


def test_run_autograder_refuses_ambiguous_submissions(tmp_path: Path) -> None:
    (tmp_path / "submission").mkdir()
    for name in ("a.ipynb", "b.ipynb"):
        (tmp_path / "submission" / name).write_text("{}")
    _, data = run_autograder(tmp_path)
    assert "found several notebooks (a.ipynb, b.ipynb)" in str(data["output"])


def test_run_autograder_reports_an_unusable_notebook_and_a_broken_grader(tmp_path: Path) -> None:
    (tmp_path / "submission" / "nested").mkdir(parents=True)
    (tmp_path / "submission" / "nested" / "hw.ipynb").write_text('{"cells": [')
    done, data = run_autograder(tmp_path)
    assert data["score"] == 0 and "not a valid notebook" in str(data["output"]), done.stdout
    assert len(data["tests"]) > 0  # type: ignore[arg-type]
    _, data = run_autograder(tmp_path, GRADER_PYTHON=str(tmp_path / "no-such-python"))
    assert data["score"] == 0 and "the grader could not start" in str(data["output"])
    _, data = run_autograder(tmp_path, GRADER_ARGS="--no-such-option")
    assert data["score"] == 0 and "the grader failed (exit status 2)" in str(data["output"])


def test_bundle_has_the_scripts_at_its_root_and_no_solution(tmp_path: Path) -> None:
    out = tmp_path / "autograder.zip"
    done = subprocess.run([sys.executable, str(EXAMPLES / "gradescope" / "make_bundle.py"), "-o", str(out)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as bundle:
        names = set(bundle.namelist())
        mode = bundle.getinfo("run_autograder").external_attr >> 16
    assert {"setup.sh", "run_autograder", "autodiff-grader/pyproject.toml", "autodiff-grader/grader/cli.py"} <= names
    assert any(n.startswith("autodiff-grader/rubrics/") for n in names)
    assert "autodiff-grader/reference/autodiff04.py" in names
    assert not any(n.endswith(".ipynb") or "__pycache__" in n for n in names)  # no solved notebook, of any lesson
    assert mode & 0o111


def test_setup_script_is_valid_bash_and_installs_cpu_torch_then_the_grader() -> None:
    script = EXAMPLES / "gradescope" / "setup.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    text = script.read_text()
    torch_at = text.index('"torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu')
    assert 'TORCH_VERSION="2.13.0"' in text
    assert torch_at < text.index('pip install -e "$SOURCE/autodiff-grader"')
    assert os.access(script, os.X_OK) and os.access(RUN_AUTOGRADER, os.X_OK)


def test_github_workflow_installs_grades_and_keeps_the_junit() -> None:
    workflow = yaml.safe_load((EXAMPLES / "github-actions" / "grade.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    steps = workflow["jobs"]["grade"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert uses[0].startswith("actions/checkout@") and any(u.startswith("actions/setup-python@") for u in uses)
    install = next(s["run"] for s in steps if "pip install" in s.get("run", ""))
    assert install.index("torch==2.13.0") < install.index("pip install -e ./.grader")
    grade = next(s["run"] for s in steps if s.get("run", "").startswith("grade "))
    assert "--junit junit.xml" in grade and "--fail-under" in grade
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "junit.xml"


# ---------------------------------------------------------------- the pytest plugin, collection only


def test_plugin_collects_one_item_per_visible_check(pytester: pytest.Pytester, rubric: Rubric) -> None:
    (pytester.path / "my_notebook.ipynb").write_text("{}")
    rubric_arg = ("--grade-rubric", str(RUBRIC))  # a generic file name: with two assignments installed, say which
    result = pytester.runpytest(*plugin_args(), "--grade", "my_notebook.ipynb", *rubric_arg, "--collect-only", "-q")
    expected = [f"my_notebook.ipynb::{ex.id}::{c.id}" for ex in rubric.exercises for c in ex.checks if not c.hidden]
    assert [line for line in result.outlines if "::" in line] == expected
    only = pytester.runpytest(*plugin_args(), "--grade", "my_notebook.ipynb", *rubric_arg, "--grade-only", "ex2",
                              "--collect-only", "-q")
    assert {line.split("::")[1] for line in only.outlines if "::" in line} == {"ex2"}


def test_plugin_is_inert_without_grade(pytester: pytest.Pytester) -> None:
    (pytester.path / "my_notebook.ipynb").write_text("{}")
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    result = pytester.runpytest(*plugin_args(), "-q", "-rA")
    result.assert_outcomes(passed=1)
    assert "PASSED test_plain.py::test_one" in result.outlines
    assert not any("my_notebook" in line or "= grade =" in line for line in result.outlines)


def test_plugin_reads_tool_grader_and_refuses_bad_settings(pytester: pytest.Pytester) -> None:
    (pytester.path / "hw").mkdir()
    (pytester.path / "hw" / "nb.ipynb").write_text("{}")
    pytester.makepyprojecttoml(f'[tool.grader]\nnotebook = "hw/nb.ipynb"\nrubric = "{RUBRIC.as_posix()}"\n')
    result = pytester.runpytest(*plugin_args(), "--collect-only", "-q")
    assert "hw/nb.ipynb::ex1::values" in result.outlines
    unknown = pytester.runpytest(*plugin_args(), "--grade-only", "ex9", "--collect-only")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    assert "--grade-only ex9: no such exercise" in "\n".join(unknown.errlines)
    missing = pytester.runpytest(*plugin_args(), "--grade", "nope.ipynb")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR and "no such file" in "\n".join(missing.errlines)
