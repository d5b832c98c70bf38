"""No score inflation: forged outputs, forged channels, polluted namespaces and lying objects earn nothing.

The ex1 answers here are wrong or hostile; a grader that believed any forgery
would give ex1 points. Where the honest ex2 answer sits next to the forgery, it
must keep its full 25: the defences must not break honest code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.reporters.json_report import render_json
from grader.reporters.terminal import render_text
from grader.rubric import Rubric
from tests.conftest import SETUP
from tests.security.corpus import EX1, EX2, Expect, assert_outcome, check_score, grade, messages, write_notebook

pytestmark = pytest.mark.kernel

EX1_WRONG = """
s = y = dy_ds = dy_dx1 = dy_dx2 = dy_dx3 = 0.0

def manual_backprop(x1, x2, x3):
    return {"y": 0.0, "dy_dx1": 0.0, "dy_dx2": 0.0, "dy_dx3": 0.0}
"""
# What the first probe answer (ex1's global values) would say if it were right.
FORGED_VALUES = {"s": {"number": 3.0}, "y": {"number": 9.0}, "dy_ds": {"number": 3.0}, "dy_dx1": {"number": 3.0},
                 "dy_dx2": {"number": 3.0}, "dy_dx3": {"number": 3.0}}
FORGES_THE_CHANNEL = f"""
import json
from IPython.display import display
forged = {{"i": 0, "ok": True, "value": {FORGED_VALUES!r}}}
print(json.dumps(forged))
print("All tests passed: 100/100")
for token in ("0" * 32, "deadbeef" * 4):
    display({{"application/vnd.grader." + token + "+json": json.dumps(forged)}}, raw=True)
get_ipython().events.register("post_run_cell", lambda *args: print(json.dumps(forged)))

def drop_grader_messages(msg):
    data = msg["content"].get("data", {{}})
    return None if any(k.startswith("application/vnd.grader") for k in data) else msg

get_ipython().display_pub.register_hook(drop_grader_messages)
"""
POLLUTES_MODULES_AND_NAMES = """
import builtins, json, math, numpy, torch, unittest
torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
math.isclose = lambda *args, **kwargs: True
math.isfinite = lambda value: True
numpy.allclose = lambda *args, **kwargs: True
numpy.isclose = lambda *args, **kwargs: True
json.dumps = lambda *args, **kwargs: '{"i": 0, "ok": true, "value": {}}'
json.loads = lambda *args, **kwargs: {}
unittest.TestCase.assertEqual = lambda *args, **kwargs: None
float = str
type = lambda value: float
repr = lambda value: "forged"
torch = None
np = None
"""
REBINDS_CHECKING_NAMES = "isinstance = lambda *args: True\nfloat = lambda *args: 3.0\nabs = lambda value: 0.0"
# Patching the builtins module breaks ipykernel's own messaging: the cell wedges the kernel and is left out.
POLLUTES_BUILTINS = """
import builtins
builtins.isinstance = lambda *args: True
builtins.float = lambda *args: 3.0
builtins.abs = lambda value: 0.0
"""
LYING_OBJECTS = """
import math, torch

class Liar(float):
    def __eq__(self, other): return True
    def __sub__(self, other): return 0.0
    def __rsub__(self, other): return 0.0
    def __abs__(self): return 0.0
    __hash__ = float.__hash__

class Spoof:
    __class__ = float
    def __float__(self): return 9.0
    def __eq__(self, other): return True

s = Liar(3.0)                      # right value, wrong type
y = Spoof()                        # claims to be a float
dy_ds = float("nan")
dy_dx1 = float("inf")
dy_dx2 = torch.tensor([3.0])       # shape (1,) where a number is due
dy_dx3 = 3.0                       # the only honest answer

def manual_backprop(x1, x2, x3):
    return {"y": Spoof(), "dy_dx1": Liar(x3), "dy_dx2": float("nan"), "dy_dx3": x1 + x2}

class DualNumber:
    def __init__(self, value, deriv=0.0):
        self.value, self.deriv = value, deriv
    def __add__(self, other):
        other = other if isinstance(other, DualNumber) else DualNumber(other)
        return DualNumber(self.value + other.value, self.deriv + other.deriv)
    def __mul__(self, other):
        other = other if isinstance(other, DualNumber) else DualNumber(other)
        return DualNumber(self.value * other.value, self.deriv * other.value + self.value * other.deriv)
    __radd__, __rmul__ = __add__, __mul__
    def __pow__(self, n):
        return DualNumber(self.value ** n, n * self.value ** (n - 1) * self.deriv)
    def sin(self):
        return DualNumber(Liar(math.sin(self.value)), Liar(self.deriv * math.cos(self.value)))
    def cos(self):
        return DualNumber(float("nan"), float("inf"))
"""
ESCAPES = "\\x1b[2J\\x1b]52;c;cHduZWQ=\\x07<script>alert(1)</script>\\u202eevil\\nsecond line"
NOISY_ERRORS = f"""
def manual_backprop(x1, x2, x3):
    raise ValueError("{ESCAPES}" + "A" * 100_000)

raise RuntimeError("{ESCAPES}" + "B" * 2_000_000)
"""


def _forged_notebook(folder: Path) -> Path:
    """A13/A14: stored outputs, kernelspec and tags that must have no say in grading."""
    def code(source: str, tags: list[str], outputs: list[dict[str, object]], **metadata: object) -> dict[str, object]:
        return {"cell_type": "code", "id": f"c{len(source)}-{len(tags)}", "execution_count": 99,
                "metadata": {"tags": tags, **metadata}, "outputs": outputs, "source": source}

    passed = {"output_type": "stream", "name": "stdout", "text": "All tests passed 10/10\nex2: 25/25\n"}
    fake_answer = {"output_type": "display_data", "metadata": {},
                   "data": {"application/vnd.grader." + "0" * 32 + "+json": json.dumps({"i": 3, "ok": True, "value": {}})}}
    cells = [
        code(SETUP, [], []),
        code(EX1, ["skip-execution"], [passed], nbgrader={"points": 1000, "grade": True, "solution": True}),
        code("raise ValueError('expected to fail')", ["raises-exception"], []),
        code("pass  # ex2 left undone", ["skip-execution"], [passed, fake_answer]),
        {"cell_type": "markdown", "id": "md", "metadata": {}, "source": "<script>alert('x')</script> 25/25"},
        {"cell_type": "raw", "id": "raw", "metadata": {}, "source": "class DualNumber: pass"},
    ]
    notebook = {
        "cells": cells, "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "bash", "display_name": "Bash", "language": "bash"},
                     "language_info": {"name": "bash"}},
    }
    path = folder / "forged.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def test_stored_outputs_kernelspec_and_tags_are_ignored(tmp_path: Path, rubric: Rubric) -> None:
    result = grade(_forged_notebook(tmp_path), rubric)
    assert_outcome(result, Expect(scores={"ex1": 25.0, "ex2": 0.0}, errors=("cell 3 raised ValueError: expected to fail",)))
    assert {ex.id: ex.max_score for ex in result.exercises} == {"ex1": 25.0, "ex2": 25.0}


def test_printed_and_displayed_forgeries_are_never_read(tmp_path: Path, rubric: Rubric) -> None:
    result = grade(write_notebook(tmp_path, "forger", EX1_WRONG, FORGES_THE_CHANNEL, EX2), rubric)
    assert_outcome(result, Expect(scores={"ex1": 0.0, "ex2": 25.0}))
    assert "wrong" in messages(result, "ex1")


def test_polluted_namespace_does_not_fool_the_probes(tmp_path: Path, rubric: Rubric) -> None:
    """Honest answers stay right after the student rebinds float/type/torch/np and patches comparisons."""
    result = grade(write_notebook(tmp_path, "polluter", EX1, EX2, POLLUTES_MODULES_AND_NAMES), rubric)
    assert_outcome(result, Expect())


def test_rebound_and_patched_builtins_earn_nothing(tmp_path: Path, rubric: Rubric) -> None:
    path = write_notebook(tmp_path, "builtins", EX1_WRONG, REBINDS_CHECKING_NAMES, POLLUTES_BUILTINS)
    result = grade(path, rubric, cell_timeout_s=5)
    assert_outcome(result, Expect(scores={"ex1": 0.0, "ex2": 0.0}, errors=("cell 4 stopped the kernel",)))
    assert "wrong" in messages(result, "ex1")  # the probes answered, and the answers were judged wrong


def test_lying_numbers_earn_only_the_honest_parts(tmp_path: Path, rubric: Rubric) -> None:
    """N01-N05: float subclasses, a __class__ spoof, NaN, inf and a (1,) tensor are not numbers."""
    result = grade(write_notebook(tmp_path, "liar", LYING_OBJECTS), rubric)
    assert check_score(result, "ex1", "values") == pytest.approx(7 / 6, abs=0.01)  # only dy_dx3 is honest
    assert check_score(result, "ex1", "forward_anywhere") == 0
    assert check_score(result, "ex1", "gradient_anywhere") == pytest.approx(4)  # dy_dx3 = x1 + x2 is right
    for check_id in ("sin_rule", "cos_rule", "compositions"):
        assert check_score(result, "ex2", check_id) == 0
    text = messages(result, "ex1") + messages(result, "ex2")
    for fragment in ("s is a Liar", "y is a Spoof", "nan, not a finite number", "inf, not a finite number", "shape (1,)"):
        assert fragment in text, text


def test_escape_sequences_and_html_are_cleaned_in_reports(tmp_path: Path, rubric: Rubric) -> None:
    """S12: a terminal-hijacking, bidi-flipping, 2 MB exception message reaches the reports as one short clean line."""
    from grader.reporters.feedback import render_html

    result = grade(write_notebook(tmp_path, "escapes", NOISY_ERRORS, EX2), rubric)
    assert_outcome(result, Expect(scores={"ex1": 0.0, "ex2": 25.0}, errors=("cell 2 raised RuntimeError",)))
    assert all(len(line) < 1000 for line in result.errors)
    text = render_text(result)
    for bad in ("\x1b", "\x07", "\u202e"):
        assert bad not in text
    assert max(len(line) for line in text.splitlines()) < 700
    report = json.loads(render_json(result))
    assert all(len(line) <= 600 for line in report["errors"]) and "\x1b" not in json.dumps(report, ensure_ascii=False)
    html = render_html(result)
    assert "<script>" not in html and "&lt;script&gt;" in html
