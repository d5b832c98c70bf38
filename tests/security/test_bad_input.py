"""Files that cannot be graded: each gets status "error", every exercise 0, one clean line saying why.

No kernel starts for any of them (the load stage refuses them first), so this
module is fast. A few go through the ``grade`` command for its exit status 2.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.pipeline import Options, grade_submission
from grader.results import Outcome, SubmissionResult
from grader.rubric import Rubric
from tests.conftest import RUBRIC, SOLUTION


def _nb(cells: object = (), nbformat: object = 4, **extra: object) -> bytes:
    data = {"cells": cells, "metadata": {}, "nbformat": nbformat, "nbformat_minor": 5, **extra}
    return json.dumps(data).encode()


def _code(source: str) -> dict[str, object]:
    return {"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": None, "outputs": [], "source": source}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hw.ipynb", _nb([_code("x = 1")]))
    return buffer.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))

# (case id, file name, content, fragment of the one-line reason)
CASES: list[tuple[str, str, bytes, str]] = [
    ("A01-truncated-json", "hw.ipynb", b'{"cells": [', "not a valid notebook: JSON error at line 1"),
    ("A01-python-renamed", "hw.ipynb", b"x = 1\nprint(x)\n", "not a valid notebook: JSON error at line 1 column 1"),
    ("A01-merge-conflict", "hw.ipynb", b'<<<<<<< HEAD\n{"cells": []}\n=======\n', "JSON error at line 1"),
    ("A02-json-list", "hw.ipynb", b"[]", "the JSON holds a list, expected an object with 'cells'"),
    ("A02-json-string", "hw.ipynb", b'"hi"', "the JSON holds a string"),
    ("A02-cells-object", "hw.ipynb", _nb(cells={}), "not a valid notebook"),
    ("A02-cell-without-source", "hw.ipynb", _nb([{"cell_type": "code", "id": "c", "metadata": {}, "outputs": []}]), "not a valid notebook"),
    ("A03-nbformat-3", "hw.ipynb", _nb(nbformat=3, worksheets=[{"cells": []}]), "notebook format version 3 is not supported"),
    ("A03-nbformat-99", "hw.ipynb", _nb([_code("x = 1")], nbformat=99), "notebook format version 99 is not supported"),
    ("A04-source-is-a-number", "hw.ipynb", _nb([{**_code(""), "source": 42}]), "not a valid notebook"),
    ("A04-nan-constant", "hw.ipynb", b'{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {"x": NaN}}',
     "NaN is not valid JSON"),
    ("A05-empty-file", "hw.ipynb", b"", "the file is empty"),
    ("A05-only-whitespace", "hw.py", b"  \n\n\t\n", "the file is empty"),
    ("A05-no-cells", "hw.ipynb", _nb([]), "the notebook has no cells"),
    ("A05-only-markdown", "hw.ipynb", _nb([{"cell_type": "markdown", "id": "m", "metadata": {}, "source": "# hi"}]),
     "the notebook has no code cells"),
    ("A06-png-as-notebook", "hw.ipynb", PNG, "this is a PNG image, not a notebook"),
    ("A06-zip-as-python", "hw.py", _zip(), "this is a zip archive, not a Python file"),
    ("A06-gzip", "hw.ipynb", gzip.compress(_nb([_code("x = 1")])), "this is a gzip archive"),
    ("A06-pdf", "hw.ipynb", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "this is a PDF document"),
    ("A06-utf16", "hw.ipynb", '{"cells": []}'.encode("utf-16"), "this is UTF-16 text, not a notebook"),
    ("A07-latin1-python", "hw.py", b'name = "caf\xe9"\n', "not UTF-8 text (invalid byte at line 1, column 12)"),
    ("A07-latin1-notebook", "hw.ipynb", b'{"cells": [\n"\xe9"]}', "not UTF-8 text (invalid byte at line 2, column 2)"),
    ("A07-lone-surrogate", "hw.ipynb", _nb([_code("x = 1\nname = '\ud800'")]), "cell 1 holds a lone surrogate ('\\ud800') at line 2"),
    ("A07-null-bytes-python", "hw.py", b"x = 1\x00\n", "the file contains null bytes"),
    ("A08-deeply-nested", "hw.ipynb", b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    ("A08-too-many-cells", "hw.ipynb", _nb([{**_code("x = 1"), "id": f"c{i}"} for i in range(2001)]), "over the limit of 2000"),
    ("A09-syntax-error", "hw.py", b"def f(x) return x\n", "SyntaxError at line 1"),
    ("A09-unterminated-string", "hw.py", b'x = 1\ny = "never closed\n', "SyntaxError at line 2"),
    ("A09-mixed-tabs", "hw.py", b"if True:\n\tx = 1\n        y = 2\n", "SyntaxError at line 3"),
    ("unknown-extension", "hw.txt", _nb([_code("x = 1")]), "unknown file type '.txt', expected .ipynb or .py"),
    ("no-extension", "hw", _nb([_code("x = 1")]), "unknown file type '(no extension)'"),
]


def _grade(path: Path, rubric: Rubric, max_mb: float | None = None) -> SubmissionResult:
    limits = rubric.limits if max_mb is None else replace(rubric.limits, max_submission_mb=max_mb)
    return grade_submission(path, rubric, Options(limits=limits))


def _assert_unusable(result: SubmissionResult, fragment: str) -> None:
    assert result.status == "error", result
    assert result.score == 0 and all(ex.score == 0 for ex in result.exercises)
    assert fragment in result.reason, result.reason
    assert result.reason.isprintable() and len(result.reason) < 300, repr(result.reason)  # one line, no raw bytes
    assert result.errors == (result.reason,)
    for exercise in result.exercises:
        assert all(check.outcome is Outcome.ERROR and result.reason in check.message for check in exercise.checks)


@pytest.mark.parametrize(("name", "content", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_unusable_file_gets_a_one_line_reason(tmp_path: Path, rubric: Rubric, name: str, content: bytes, fragment: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    _assert_unusable(_grade(path, rubric), fragment)


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "nowhere.ipynb"


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "hw.ipynb").mkdir()
    return tmp_path / "hw.ipynb"


def _symlink_to_rubric(tmp_path: Path) -> Path:
    (tmp_path / "hw.ipynb").symlink_to(RUBRIC)
    return tmp_path / "hw.ipynb"


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "hw.ipynb")
    return tmp_path / "hw.ipynb"


def _oversized(tmp_path: Path) -> Path:
    path = tmp_path / "hw.ipynb"
    path.write_bytes(_nb([_code("# " + "x" * 40_000)]))
    return path


PATH_CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing-path", _missing, "nowhere.ipynb: no such file"),
    ("a-folder", _folder, "is a folder, expected a .ipynb or .py file"),
    ("A16-symlink-to-the-rubric", _symlink_to_rubric, "is a symbolic link"),
    ("a-fifo", _fifo, "not a regular file"),
    ("A08-over-the-size-limit", _oversized, "over the 0.02 MB limit"),
]


@pytest.mark.parametrize(("make", "fragment"), [c[1:] for c in PATH_CASES], ids=[c[0] for c in PATH_CASES])
def test_unusable_path_gets_a_one_line_reason(
    tmp_path: Path, rubric: Rubric, make: Callable[[Path], Path], fragment: str
) -> None:
    _assert_unusable(_grade(make(tmp_path), rubric, max_mb=0.02), fragment)


@pytest.mark.parametrize("case", ["A01-truncated-json", "A06-png-as-notebook", "A09-syntax-error"])
def test_the_command_exits_with_status_2(tmp_path: Path, case: str) -> None:
    _, name, content, fragment = next(c for c in CASES if c[0] == case)
    path = tmp_path / name
    path.write_bytes(content)
    done = CliRunner().invoke(main, [str(path), "--format", "json"])
    assert done.exit_code == 2, done.output
    report = json.loads(done.stdout)
    assert report["status"] == "error" and fragment in report["reason"] and report["score"] == 0
    text = CliRunner().invoke(main, [str(path)])
    assert text.exit_code == 2 and fragment in text.stdout and "Traceback" not in text.output


def test_the_solution_still_loads(rubric: Rubric) -> None:
    """The checks above refuse bad files, not good ones."""
    from grader.load import load_submission

    assert load_submission(SOLUTION).kind == "notebook"
