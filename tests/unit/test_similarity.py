"""The similarity report: the normaliser, the fingerprints, the ranking on a class with planted copies, the page."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.similarity.compare import MIN_SIZE, Document, Pair, Template, compare_all
from grader.similarity.evidence import failures_by_pair, rare_failures
from grader.similarity.fingerprint import WINDOW, K, fingerprints, kgram_hashes, winnow
from grader.similarity.normalise import normalise, units
from tests.conformance.templates import TEMPLATE
from tests.unit import similarity_class as klass


def texts(source: str) -> list[str]:
    return [t.text for t in normalise(textwrap.dedent(source))]


# --- the normaliser -------------------------------------------------------------------------------------------------

def test_renamed_variables_normalise_alike() -> None:
    assert texts("total = a + b\nprint(total)") == texts("s = x1 + x2\nprint(s)") == ["V", "=", "V", "+", "V", "print", "(", "V", ")"]


def test_literals_become_their_kind() -> None:
    assert texts("x = 3.5 + 'a' + f'{y}'") == ["V", "=", "N", "+", "S", "+", "S"]


def test_comments_docstrings_and_layout_do_not_count() -> None:
    plain = '''
    def f(x):
        return x * 2
    '''
    dressed = '''
    # a comment

    def   g( y ):    # why
        """Docstring, any words."""

        return y \\
               * 2
    '''
    assert texts(plain) == texts(dressed)


def test_keywords_builtins_and_attributes_stay() -> None:
    assert texts("for i in range(n): t.grad.zero_()") == ["for", "V", "in", "range", "(", "V", ")", ":",
                                                          "V", ".", "grad", ".", "zero_", "(", ")"]


def test_a_string_inside_an_expression_is_kept_as_a_literal() -> None:
    assert texts('print("hello")') == ["print", "(", "S", ")"]


def test_ipython_lines_are_skipped_and_line_numbers_kept() -> None:
    tokens = normalise("%matplotlib inline\n!pip install x\ny = 1")
    assert [(t.text, t.line) for t in tokens] == [("V", 3), ("=", 3), ("N", 3)]


def test_code_that_does_not_tokenize_is_read_line_by_line() -> None:
    assert texts("x = (1,\ny = 2") == ["V", "=", "(", "N", ",", "V", "=", "N"]


# --- units ----------------------------------------------------------------------------------------------------------

CELL = '''
import torch

def first(a):
    return a + 1

@staticmethod
def second(b):
    return b * 2

value = first(2)
'''


def test_each_function_is_a_unit_and_the_rest_of_the_cell_another() -> None:
    found = units(0, CELL)
    assert [u.lines for u in found] == [(4, 5), (7, 8, 9), (2, 3, 6, 10, 11)]
    assert [t.text for t in found[2].tokens] == ["import", "V", "V", "=", "V", "(", "N", ")"]


def test_reordered_functions_give_the_same_fingerprints() -> None:
    reordered = "import torch\n\ndef second(b):\n    return b * 2\n\ndef first(a):\n    return a + 1\n\nvalue = first(2)\n"
    kept = {f.hash for f in fingerprints(units(0, CELL))}
    assert kept and kept == {f.hash for f in fingerprints(units(0, reordered))}


# --- fingerprints ---------------------------------------------------------------------------------------------------

def test_kgram_hashes_are_the_same_in_every_process() -> None:
    tokens = normalise("a = b + c * d - e")
    assert kgram_hashes(tokens, 3) == kgram_hashes(normalise("x = y + z * w - v"), 3)
    assert len(kgram_hashes(tokens, 3)) == len(tokens) - 2
    assert kgram_hashes(tokens, 3)[0] == 0xC8C7ACA01D10CF4F  # BLAKE2b of "V = V", never Python's per-process salted hash()


def test_winnow_keeps_the_rightmost_minimum_of_each_window_once() -> None:
    hashes = [77, 74, 42, 17, 98, 50, 17, 98, 8, 88, 67, 39, 77, 74, 42, 17, 98]  # the example of Schleimer et al. 2003
    assert [hashes[i] for i in winnow(hashes, 4)] == [17, 17, 8, 39, 17]


def test_winnow_of_fewer_hashes_than_a_window_keeps_their_minimum() -> None:
    assert winnow([5, 3, 9], 4) == [1]
    assert winnow([], 4) == []


def test_a_shared_run_of_k_plus_window_minus_one_tokens_always_leaves_a_shared_fingerprint() -> None:
    shared = "r = torch.relu(w @ v + bias).sum() * scale - offset ** 2"
    first = units(0, f"alpha = [1, 2, 3]\nbeta = alpha.copy()\n{shared}\nprint(beta)")
    second = units(0, f"for i in range(4):\n    pass\n{shared}\nz = {{}}")
    assert len(normalise(shared)) >= K + WINDOW - 1
    assert {f.hash for f in fingerprints(first)} & {f.hash for f in fingerprints(second)}


def test_unrelated_code_shares_no_fingerprint() -> None:
    first = units(0, "import numpy as np\nx = np.linspace(0, 1, 50)\ny = np.sin(x) ** 2\nprint(y.mean())")
    second = units(0, "class Node:\n    def __init__(self, parent):\n        self.parent = parent\n        self.children = []")
    assert not {f.hash for f in fingerprints(first)} & {f.hash for f in fingerprints(second)}


# --- comparing ------------------------------------------------------------------------------------------------------

LESSON = "def square(x):\n    return x ** 2\n\nvalues = [square(v) for v in range(10)]\nprint(sum(values), max(values))\n"
ANSWER = "def norm(points):\n    total = 0.0\n    for p in points:\n        total += p.real ** 2 + p.imag ** 2\n    return total ** 0.5\n"
OTHER = "def norm(points):\n    import math\n    return math.sqrt(sum(abs(z) * abs(z) for z in points))\n"


def test_code_kept_from_the_template_is_not_similarity() -> None:
    template = Template.from_cells([LESSON, "def norm(points):\n    raise NotImplementedError\n"])
    first = Document.from_cells("a", [LESSON, ANSWER], template)
    second = Document.from_cells("b", [LESSON.replace("values", "vals"), OTHER], template)
    assert first.fingerprints and not first.hashes & second.hashes
    untemplated = Template.from_cells([])
    assert Document.from_cells("a", [LESSON, ANSWER], untemplated).hashes & Document.from_cells("b", [LESSON, OTHER], untemplated).hashes


def test_pairs_rank_by_score_and_a_tiny_submission_cannot_score_full() -> None:
    template = Template.from_cells([])
    copied = ANSWER.replace("total", "acc")
    documents = [Document.from_cells("a", [ANSWER], template), Document.from_cells("b", [copied], template),
                 Document.from_cells("c", [OTHER], template)]
    pairs = compare_all(documents)
    assert (pairs[0].first, pairs[0].second) == ("a", "b") and pairs[0].shared == pairs[0].first_size == pairs[0].second_size
    assert all(pair.score < pairs[0].score for pair in pairs[1:])
    assert Pair("x", "y", shared=3, first_size=3, second_size=400).document_score == 3 / MIN_SIZE


def test_the_same_rare_wrong_message_is_evidence_and_a_common_one_is_not() -> None:
    out = [klass.result(s, Path(f"{s}.ipynb"), {("ex1", "values"): "y: expected 9.0, got 7.0"}) for s in ("a", "b")]
    out += [klass.result(s, Path(f"{s}.ipynb"), {("ex2", "values"): "NameError: name 'x' is not defined"}) for s in "cdefg"]
    out.append(klass.result("h", Path("h.ipynb"), {("ex1", "values"): "y: expected 9.0, got 8.0"}))
    failures = rare_failures(out)
    assert [(f.exercise, f.check, f.message, f.students) for f in failures] == [("ex1", "values", "y: expected 9.0, got 7.0", ("a", "b"))]
    assert list(failures_by_pair(failures)) == [("a", "b")]


# --- the class with planted copies ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graded_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wrong = "dy_dx1: expected 3.0, got 4.5 <script>alert('x')</script>"
    failures = {"ben": {("ex1", "values"): wrong}, "ben_reordered": {("ex1", "values"): wrong}}
    return klass.write_class(tmp_path_factory.mktemp("class"), klass.class_answers(), failures)


def test_the_independent_solutions_are_at_least_six_different_styles() -> None:
    assert len(klass.STYLES) >= 6
    for exercise in range(4):
        assert len({styles[exercise] for styles in klass.STYLES.values()}) == len(klass.STYLES)


def test_every_planted_pair_ranks_above_every_independent_pair(graded_class: Path) -> None:
    from grader.similarity.classfolder import load_class, template_cells

    code = load_class(graded_class)
    cells, _ = template_cells(klass.ASSIGNMENT)
    template = Template.from_cells(cells)
    pairs = compare_all([Document.from_cells(s, c, template) for s, c in code.cells.items()])
    planted = [p.score for p in pairs if (p.first, p.second) in klass.planted_pairs()]
    independent = [p.score for p in pairs if (p.first, p.second) not in klass.planted_pairs()]
    assert len(planted) == len(klass.planted_pairs())
    assert min(planted) > max(independent), (planted, max(independent))


def test_without_the_template_subtracted_the_lesson_makes_everyone_alike(graded_class: Path) -> None:
    from grader.similarity.classfolder import load_class

    code = load_class(graded_class)
    documents = [Document.from_cells(s, c, Template.from_cells([])) for s, c in code.cells.items()]
    assert len(compare_all(documents, common_share=1.0)) == len(documents) * (len(documents) - 1) // 2


def test_grade_similarity_writes_the_report(graded_class: Path) -> None:
    from grader.cli import main

    run = CliRunner().invoke(main, ["similarity", str(graded_class)])
    assert run.exit_code == 0, run.output
    assert "similarity of 12 submissions" in run.output
    page = (graded_class / "similarity.html").read_text(encoding="utf-8")
    assert "04_automatic_differentiation.ipynb; its code is subtracted" in page
    assert "the results folder keeps no code" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "stop = start + per + (1 if i &lt; extra else 0)" in page  # dev's pasted function, escaped, in the side-by-side view
    assert page.index("ben</td><td>ben_reordered") < page.index("Matching code")
    detail = page[page.index('<h3 id="pair-1">') :]
    assert detail.index("<header>ben: code cell") < detail.index("<header>ben_reordered: code cell")  # each side names its student
    assert "Same wrong output at ex1/values, shared by 2 students" in page
    flagged = json.loads((graded_class / "similarity.json").read_text(encoding="utf-8"))["flagged"]
    assert {"ben", "ben_reordered", "dev", "ivy"} <= set(flagged)  # grade review shows these students first
    from grader.review.folder import flagged_students

    assert flagged_students(graded_class) == flagged


def test_a_submission_gone_from_its_path_is_named_and_the_rest_compared(tmp_path: Path) -> None:
    from grader.similarity.run import write_similarity_report

    answers = {name: klass.answers_of(styles) for name, styles in list(klass.STYLES.items())[:3]}
    out = klass.write_class(tmp_path, answers)
    (tmp_path / "submissions" / "ana.ipynb").unlink()
    summary = write_similarity_report(out, template=TEMPLATE)
    assert summary.compared == 2
    assert "Not compared: ana: its submission" in summary.path.read_text(encoding="utf-8")


def test_a_folder_without_results_is_refused(tmp_path: Path) -> None:
    from grader.cli import main

    run = CliRunner().invoke(main, ["similarity", str(tmp_path)])
    assert run.exit_code == 2 and "no results.jsonl with results" in run.output


def test_similarity_is_refused_without_a_batch(tmp_path: Path) -> None:
    from grader.cli import main

    notebook = tmp_path / "one.ipynb"
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    run = CliRunner().invoke(main, [str(notebook), "--similarity"])
    assert run.exit_code == 2 and "--similarity is for batch mode" in run.output


def test_a_batch_with_similarity_writes_the_report_into_its_results_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import grader.batch
    from grader.cli import main

    answers = {name: klass.answers_of(styles) for name, styles in list(klass.STYLES.items())[:2]}
    answers["copy"] = klass.disguise(answers["ana"], "rename")

    def graded(submissions: list[str], rubric: object, options: grader.batch.BatchOptions, candidates: object) -> int:
        klass.write_class(options.out.parent, answers)  # stands in for grading: results.jsonl as a batch writes it
        return 0

    monkeypatch.setattr(grader.batch, "run_batch", graded)
    run = CliRunner().invoke(main, [str(tmp_path / "submissions"), "--out", str(tmp_path / "out"), "--rubric", klass.ASSIGNMENT, "--similarity"])
    assert run.exit_code == 0, run.output
    assert "similarity of 3 submissions" in run.output
    assert "ana</td><td>copy" in (tmp_path / "out" / "similarity.html").read_text(encoding="utf-8")
