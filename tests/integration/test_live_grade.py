"""``%grade`` in real kernels through nbclient: what a student sees after running their notebook's cells.

Each test runs a notebook (the lesson's setup cell, answer cells, then
``%load_ext grader`` and ``%grade``) in a fresh kernel and reads the display
outputs the magic sent, as JupyterLab, Notebook or VS Code would render them.

What "nothing left behind" means here (``_unchanged`` below): the same global
names bound to the same objects, except IPython's own bookkeeping of the
cells themselves (``_``, ``__``, ``___``, ``_i``, ``_ii``, ``_iii``, ``_iN``,
``_N``, ``In``, ``Out``, ``_ih``, ``_oh``, ``_dh``), which any cell changes; every
``sys.modules`` entry that was there still the same module, and none named
like the grader's probe runtime (a library module imported for the first
time while checking may stay, as after any import); grad mode, inference
mode and the default dtype as they were; the torch, numpy and ``random``
generators in the same state.
"""

from __future__ import annotations

import json
import os
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import RUBRIC, SETUP, solution_answers

pytestmark = pytest.mark.kernel

SNAPSHOT = textwrap.dedent(
    r"""
    import re as _re, sys as _sys, random as _random
    import numpy as _np, torch as _torch

    _BOOKKEEPING = _re.compile(r"_+|_i+|_i\d+|_\d+|In|Out|_ih|_oh|_dh")

    def _snapshot():
        names = {name: id(value) for name, value in globals().items() if not _BOOKKEEPING.fullmatch(name)}
        return {
            "names": names, "modules": {name: id(module) for name, module in _sys.modules.items()},
            "torch_rng": _torch.get_rng_state().clone(), "numpy_rng": _np.random.get_state(), "random": _random.getstate(),
            "grad": _torch.is_grad_enabled(), "inference": _torch.is_inference_mode_enabled(), "dtype": _torch.get_default_dtype(),
        }

    def _unchanged(before):
        after = _snapshot()
        assert after["names"].keys() == before["names"].keys(), set(after["names"]) ^ set(before["names"])
        assert after["names"] == before["names"], [n for n in after["names"] if after["names"][n] != before["names"][n]]
        assert not [name for name in _sys.modules if "grader_probe" in name]
        assert not [name for name, i in before["modules"].items() if after["modules"].get(name) != i]
        assert _torch.equal(after["torch_rng"], before["torch_rng"])
        assert all(_np.array_equal(a, b) for a, b in zip(after["numpy_rng"], before["numpy_rng"]))
        assert after["random"] == before["random"]
        assert (after["grad"], after["inference"], after["dtype"]) == (before["grad"], before["inference"], before["dtype"])
        print("UNCHANGED; modules imported while grading:", sorted(set(after["modules"]) - set(before["modules"])))

    _saved = []
    """
)

# Two assignments are installed and these notebooks are not saved files: say which (an assignment id works too).
A04 = "04_automatic_differentiation"


def run_cells(cells: list[str], folder: Path, env: dict[str, str] | None = None) -> list[Any]:
    """Run ``cells`` in a fresh kernel started in ``folder``; the executed cells (errors kept as outputs)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(c).strip("\n")) for c in cells])
    client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(folder)}})
    client.execute(env={**os.environ, **(env or {})})
    return list(nb.cells)


def shown(cell: Any) -> list[dict[str, str]]:
    """The displays a cell sent (text/plain and text/html), with errors and streams kept out."""
    errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
    assert not errors, errors
    return [dict(o.data) for o in cell.outputs if o.output_type == "display_data"]


def printed(cell: Any) -> str:
    errors = ["\n".join(o.traceback) for o in cell.outputs if o.output_type == "error"]
    assert not errors, errors[0][-3000:]
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def seconds(cell: Any) -> float:
    timing = cell.metadata["execution"]
    started, ended = (datetime.fromisoformat(timing[key].replace("Z", "+00:00")) for key in ("iopub.execute_input", "shell.execute_reply"))
    return (ended - started).total_seconds()


@pytest.fixture(scope="module")
def saved_solution(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The solved notebook as a student saves it after running it: answers, printed output and the assignment id."""
    folder = tmp_path_factory.mktemp("student")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in [SETUP, *solution_answers().values()]])
    nb.metadata["grader"] = {"assignment": "04_automatic_differentiation"}
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    path = folder / "04_automatic_differentiation.ipynb"
    nbformat.write(nb, path)
    return path


def test_the_solved_notebook_scores_100_and_checking_leaves_the_kernel_as_it_was(saved_solution: Path) -> None:
    answers = list(solution_answers().values())
    cells = run_cells(
        [
            SETUP, *answers, "%load_ext grader", SNAPSHOT, "_saved.append(_snapshot())", "%grade", "_unchanged(_saved[0])",
            # Global state a submission may leave behind: inference mode entered and never left, grad mode off.
            "_im = _torch.inference_mode()\n_im.__enter__()\n_torch.set_grad_enabled(False)\n_saved.append(_snapshot())",
            "%grade ex1", "_unchanged(_saved[1])", "_im.__exit__(None, None, None)\n%grade ex1 ex3",
        ],
        saved_solution.parent, {"JPY_SESSION_NAME": str(saved_solution)},
    )
    grade_all, after_all, grade_ex1, after_ex1, grade_two = (cells[i] for i in (-6, -5, -3, -2, -1))
    [report] = shown(grade_all)
    text, page = report["text/plain"], report["text/html"]
    assert "Score: 100 / 100" in text, text
    assert "Live check of 04_automatic_differentiation (named in the notebook's metadata)" in text
    assert "What the notebook printed is read from the saved file 04_automatic_differentiation.ipynb" in text
    assert "The grade that counts reruns the saved notebook from top to bottom" in text and "%grade --fresh" in text
    assert page.count("<table") == 4 and "Score: 100 / 100" in page and "<script" not in page
    assert "UNCHANGED" in printed(after_all)
    [only_ex1] = shown(grade_ex1)
    assert "Score: 25 / 25" in only_ex1["text/plain"] and "ex2" not in only_ex1["text/plain"], only_ex1["text/plain"]
    assert only_ex1["text/html"].count("<table") == 1
    assert "UNCHANGED" in printed(after_ex1)
    [two] = shown(grade_two)
    assert [line.split()[0] for line in two["text/plain"].splitlines() if line.startswith("ex")] == ["ex1", "ex3"]


WRONG_COS = """
DualNumber.cos = lambda self: DualNumber(math.cos(self.value), self.deriv * math.sin(self.value))
"""


KILL_JUDGE = """
import grader.live.magic
grader.live.magic._SESSION.judge._process.kill()
grader.live.magic._SESSION.judge._process.wait()
"""


def test_a_wrong_answer_shows_the_failing_check_and_without_a_saved_notebook_the_printed_output_is_left_out(tmp_path: Path) -> None:
    # One kernel for two stories: the right answers graded whole first, then a wrong cos and a judge that dies.
    magics = ["%load_ext grader", f"%grade --rubric {A04}", WRONG_COS, f"%grade --rubric {A04} ex2", KILL_JUDGE, f"%grade --rubric {A04} ex1"]
    cells = run_cells([SETUP, *solution_answers().values(), *magics], tmp_path)
    [whole] = shown(cells[-5])  # no saved notebook: the printed-output check is left to the official grade
    assert "Score: 98 / 98" in whole["text/plain"], whole["text/plain"]
    assert "Not counted here (2 points, checked by the official grade): ex3: The chain for output is printed." in whole["text/plain"]
    [report] = shown(cells[-3])
    text = report["text/plain"]
    assert "  [PASS] sin([u, u']) = [sin u, u' cos u]  7/7" in text, text
    assert "  [PART] cos([u, u']) = [cos u, -u' sin u]" in text
    assert "the derivative of cos has the wrong sign" in text and "the derivative of cos has the wrong sign" in report["text/html"]
    assert "(given with --rubric)" in text  # no notebook file known here, two assignments installed: chosen by id
    restarted, after = shown(cells[-1])  # a judge that died is restarted once, and the student told
    assert restarted["text/plain"].startswith("%grade: the grader's judge process had stopped (it stopped"), restarted
    assert "Score: 25 / 25" in after["text/plain"]


@pytest.fixture
def quick_rubric(tmp_path: Path) -> Path:
    """The bundled rubric with a 2 s probe timeout (its reference named by absolute path)."""
    text = RUBRIC.read_text(encoding="utf-8").replace("probe_timeout_s: 20", "probe_timeout_s: 2")
    reference = RUBRIC.parent.parent / "reference" / "autodiff04.py"
    text = text.replace("reference: ../reference/autodiff04.py", f"reference: {json.dumps(str(reference))}")
    path = tmp_path / "quick.yaml"
    path.write_text(text, encoding="utf-8")
    return path


LOOPS_FOREVER = """
def grad_fn_chain(t):
    names = []
    node = t.grad_fn
    while node is not None:  # never steps: loops forever on the same node
        names.append(type(node).__name__)
    return names
"""

NEXT_CELL = """
import time
busy_until = time.monotonic() + 1.0  # a late interrupt from the grader would land here
while time.monotonic() < busy_until:
    pass
print("the next cell ran")
"""


def test_a_function_that_loops_forever_is_reported_as_a_timeout_and_the_kernel_stays_usable(tmp_path: Path, quick_rubric: Path) -> None:
    cells = run_cells(
        [SETUP, *solution_answers().values(), LOOPS_FOREVER, "%load_ext grader", f"%grade --rubric {quick_rubric.name} ex3", NEXT_CELL],
        tmp_path,
    )
    grading, after = cells[-2], cells[-1]
    [report] = shown(grading)
    text = report["text/plain"]
    assert "[ERR ] grad_fn_chain follows next_functions in any tensor's graph  0/8" in text, text
    assert "did not finish in time" in text
    assert "your code was stopped 1 time after running past the time limit" in text
    assert "[PASS] model is an nn.Module with exactly three nn.Linear layers  5/5" in text
    assert seconds(grading) < 12, seconds(grading)  # one call cut off after 2 s; later calls of the same function skip at once
    assert printed(after) == "the next cell ran\n"


def test_fresh_grades_the_saved_notebook_from_top_to_bottom(saved_solution: Path, tmp_path: Path) -> None:
    cells = run_cells(["%load_ext grader", "%grade --fresh", f"__vsc_ipynb_file__ = {str(saved_solution)!r}", "%grade --fresh"], tmp_path)
    [asked] = shown(cells[1])
    assert "Give the path: %grade --fresh path/to/notebook.ipynb" in asked["text/plain"]
    [report] = shown(cells[-1])
    text = report["text/plain"]
    assert text.startswith("Official grade of 04_automatic_differentiation.ipynb (04_automatic_differentiation)"), text
    assert "Score: 100 / 100" in text and "[PASS] The chain for output is printed  2/2" in text
    assert report["text/html"].count("<table") == 4
