"""The ``--format json`` report: exactly one JSON object describing one submission."""

from __future__ import annotations

import json
from typing import Any

from grader.reporters import clean_text
from grader.results import SubmissionResult


def report_dict(result: SubmissionResult, include_hidden: bool = True) -> dict[str, Any]:
    """The report as plain data (student text cleaned; hidden checks left out when asked)."""
    data = result.as_dict()
    for exercise in data["exercises"]:
        checks = [c for c in exercise["checks"] if include_hidden or not c["hidden"]]
        for check in checks:
            check["passed"] = _passed(check)
            check["message"] = clean_text(check["message"])
            if check.get("shown") is None:
                check.pop("shown", None)  # only written answers have something to show a reviewer
        exercise["checks"] = checks
    data["errors"] = [clean_text(line) for line in data["errors"]]
    data["reason"] = clean_text(data["reason"])
    return data


def _passed(check: dict[str, Any]) -> bool:
    if check.get("override"):
        return bool(check["score"] >= check["max_score"])
    return bool(check["outcome"] == "passed")


def render_json(result: SubmissionResult) -> str:
    """One line of JSON (ASCII-safe, so lone surrogates or odd bytes cannot break a consumer)."""
    return json.dumps(report_dict(result), ensure_ascii=True, sort_keys=False)
