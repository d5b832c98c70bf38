"""JUnit XML for CI systems: one ``<testsuite>`` per exercise, one ``<testcase>`` per check.

The layout follows the common JUnit schema (Ant's ``XMLJUnitResultFormatter`` and
Jenkins' ``junit-10.xsd``)::

    <testsuites name tests failures errors skipped time>
      <testsuite name="alice.ex1" tests failures errors skipped time timestamp>
        <properties><property name="score" value="18"/> ...</properties>
        <testcase classname="alice.ex1" name="values" time>
          <failure type="failed" message="...">full text</failure>   (or <error>)
          <system-out>points and feedback</system-out>
        </testcase>
      </testsuite>
    </testsuites>

Outcomes map to children: ``passed`` none; ``partial``, ``failed`` and
``not_attempted`` a ``<failure>``; ``error`` (the student's code crashed or timed
out) and ``broken`` (a grader fault) an ``<error>``. Per-check points are
suite properties named ``<check>.score`` / ``<check>.max_score`` (testcase
properties are not allowed by the schema) and are repeated in each testcase's
``<system-out>``. Checks the rubric marks ``hidden`` are left out unless asked
for. The notebook runs once for all exercises, so each suite's ``time`` is an
even share of the submission's run.
"""

from __future__ import annotations

import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from grader.errors import UsageError
from grader.reporters import BLAME_NOTES, check_lines, clean_text
from grader.results import CheckResult, ExerciseResult, Outcome, SubmissionResult

# Characters XML 1.0 cannot carry at all, even escaped (clean_text already covers the C0 controls).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
def xml_text(text: str, limit: int = 4000) -> str:
    """Student-influenced text made safe for XML 1.0: control and bidi characters replaced, bounded."""
    return _NOT_XML.sub("?", clean_text(text, limit))


def write_junit(results: list[SubmissionResult], path: Path, *, include_hidden: bool = False) -> None:
    """Write the JUnit XML of ``results`` (one submission, or a batch) to ``path`` as UTF-8.

    Raises :class:`UsageError` when the file cannot be written.
    """
    tree = ET.ElementTree(junit_element(results, include_hidden=include_hidden))
    ET.indent(tree, space="  ")
    atomic_write(path, lambda handle: _write_tree(tree, handle))


def _write_tree(tree: ET.ElementTree, handle: BinaryIO) -> None:
    handle.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    tree.write(handle, encoding="utf-8", xml_declaration=False)
    handle.write(b"\n")


def junit_element(results: list[SubmissionResult], *, include_hidden: bool = False) -> ET.Element:
    """The ``<testsuites>`` element for ``results``, with totals over all suites."""
    root = ET.Element("testsuites", name=xml_text(_assignment(results), 200))
    suites = [suite for result in results for suite in _suites(result, include_hidden)]
    root.extend(suites)
    for attr in ("tests", "failures", "errors", "skipped"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in suites)))
    root.set("time", f"{sum(r.duration_s for r in results):.3f}")
    return root


def _assignment(results: list[SubmissionResult]) -> str:
    names = sorted({r.assignment for r in results})
    return names[0] if len(names) == 1 else "grader"


def _suites(result: SubmissionResult, include_hidden: bool) -> list[ET.Element]:
    share = result.duration_s / max(len(result.exercises), 1)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return [_suite(result, exercise, share, stamp, include_hidden) for exercise in result.exercises]


def _suite(result: SubmissionResult, exercise: ExerciseResult, time_s: float, stamp: str, include_hidden: bool) -> ET.Element:
    name = xml_text(f"{result.student}.{exercise.id}", 200)
    checks = [c for c in exercise.checks if include_hidden or not c.hidden]
    suite = ET.Element("testsuite", name=name, tests=str(len(checks)))
    suite.set("failures", str(sum(_kind(c) == "failure" for c in checks)))
    suite.set("errors", str(sum(_kind(c) == "error" for c in checks)))
    suite.set("skipped", "0")
    suite.set("time", f"{time_s:.3f}")
    suite.set("timestamp", stamp)
    suite.append(_properties(result, exercise, checks))
    each = time_s / max(len(checks), 1)
    suite.extend(_testcase(name, check, each) for check in checks)
    if result.errors:
        ET.SubElement(suite, "system-err").text = "\n".join(xml_text(line, 600) for line in result.errors)
    return suite


def _properties(result: SubmissionResult, exercise: ExerciseResult, checks: list[CheckResult]) -> ET.Element:
    props = ET.Element("properties")
    values = [
        ("student", xml_text(result.student, 200)),
        ("submission", xml_text(result.submission, 400)),
        ("assignment", xml_text(result.assignment, 200)),
        ("exercise", xml_text(exercise.id, 200)),
        ("title", xml_text(exercise.title, 300)),
        ("status", result.status),
        ("score", _num(exercise.score)),
        ("max_score", _num(exercise.max_score)),
        ("submission_score", _num(result.score)),
        ("submission_max_score", _num(result.max_score)),
        ("hidden_checks", str(len(exercise.checks) - len(checks))),
    ]
    for check in checks:
        values.append((f"{xml_text(check.id, 200)}.score", _num(check.score)))
        values.append((f"{xml_text(check.id, 200)}.max_score", _num(check.max_score)))
    for key, value in values:
        ET.SubElement(props, "property", name=key, value=value)
    return props


def _testcase(classname: str, check: CheckResult, time_s: float) -> ET.Element:
    case = ET.Element("testcase", classname=classname, name=xml_text(check.id, 200), time=f"{time_s:.3f}")
    kind = _kind(check)
    if kind is not None:
        message = xml_text(_message(check), 600)
        child = ET.SubElement(case, kind, type="override" if check.override else check.outcome.value, message=message)
        child.text = _details(check)
    ET.SubElement(case, "system-out").text = _points_line(check) + (f"\n{xml_text(check.message)}" if check.message else "")
    return case


def _kind(check: CheckResult) -> str | None:
    """``failure``, ``error`` or ``None`` (passed) for a check."""
    if check.passed:
        return None
    if check.outcome in (Outcome.ERROR, Outcome.BROKEN):
        return "error"
    return "failure"


def _message(check: CheckResult) -> str:
    text = check.message or check.outcome.value.replace("_", " ")
    return f"{BLAME_NOTES[check.blame]}: {text}" if check.blame.graders_fault else text


def _details(check: CheckResult) -> str:
    return "\n".join([xml_text(check.title, 300), _points_line(check), *(xml_text(note) for note in check_lines(check).notes)])


def _points_line(check: CheckResult) -> str:
    return f"{check.outcome.value.replace('_', ' ')}: {check.score:g} / {check.max_score:g} points"


def _num(value: float) -> str:
    return f"{value:g}"


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a report through a temporary file in the same folder, then rename: never a half-written file.

    Raises :class:`UsageError` (a one-line message for the CLI) when the file cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the report ({exc.strerror or exc})") from None

