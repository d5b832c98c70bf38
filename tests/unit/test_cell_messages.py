"""How a failed cell is named to a student: its place among code cells, its first line, the line of the error (no kernel)."""

from __future__ import annotations

from pathlib import Path

from grader.checks import cell_label, first_line, split_cell_error, where_in_cell
from grader.kernel.clients import cell_line_of

SOURCES = {2: "import torch\n", 4: "\n\nclass DualNumber(DualNumber):\n    def sin(self,,):\n", 7: "x = 1"}


def test_ipython_s_internal_file_name_is_replaced_by_the_line_of_the_cell() -> None:
    assert split_cell_error("SyntaxError: invalid syntax (2052128463.py, line 30)") == ("SyntaxError: invalid syntax", 30)
    assert split_cell_error("ZeroDivisionError: division by zero (cell line 3)") == ("ZeroDivisionError: division by zero", 3)
    assert split_cell_error("ValueError: f(x) failed") == ("ValueError: f(x) failed", None)


def test_a_cell_is_counted_among_code_cells_and_shown_by_its_first_line() -> None:
    assert cell_label(4, SOURCES) == "code cell 2" and cell_label(9, SOURCES) == "cell 9"
    assert where_in_cell(4, SOURCES, 2) == 'line 2 of the cell that starts "class DualNumber(DualNumber):"'
    assert where_in_cell(7, SOURCES, None) == 'the cell that starts "x = 1"' and where_in_cell(9, SOURCES, None) == ""
    assert first_line("   \n" + "word " * 30) == '"' + " ".join(["word"] * 10) + ' …(100 more characters)"'
    # a .py file's bare cell marker is not how a student finds the cell; a titled one is
    assert first_line("# %%\nimport time") == '"import time"' and first_line("# %% Exercise 2\nx = 1") == '"# %% Exercise 2"'


def test_the_line_of_a_runtime_error_is_read_from_the_cell_s_frame() -> None:
    traceback = ["\x1b[0;31m---------\x1b[0m", "\x1b[0;31mZeroDivisionError\x1b[0m Traceback", "Cell \x1b[0;32mIn[5], line 3\x1b[0m\n  1 x = 1",
                 "Cell In[2], line 9, in f()"]
    assert cell_line_of(traceback) == 3
    assert cell_line_of(["no frames here"]) is None and cell_line_of(None) is None


def test_a_notebook_without_cell_ids_loads_without_a_warning_and_is_not_changed(tmp_path: Path) -> None:
    import json
    import warnings

    from grader.load import load_submission

    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": None},
                          {"cell_type": "markdown", "metadata": {}, "source": "# notes", "id": "kept"}]}
    path = tmp_path / "no_ids.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    before = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # MissingIDFieldWarning would raise here
        submission = load_submission(path)
    assert [cell.source for cell in submission.code_cells] == ["x = 1"]
    assert path.read_bytes() == before


def test_an_error_without_a_message_leaves_no_dangling_colon() -> None:
    from grader.pipeline import fault_lines
    from grader.results import CellRun, Execution

    execution = Execution((CellRun(2, "error", "NotImplementedError:  (cell line 3)"),), (), (), {}, 0.0)
    (line,) = fault_lines(execution, [], {2: "x = 1\ny = 2\nraise NotImplementedError"})
    assert line == 'code cell 1 raised NotImplementedError (no graded answer is defined there); line 3 of the cell that starts "x = 1"'
