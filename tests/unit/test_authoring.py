"""Authoring: solution notebooks -> answer regions -> student notebooks, and `grade assign` (no kernel)."""

from __future__ import annotations

import ast
import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner

from grader import load_rubric
from grader.authoring.layout import find_solution, solution_path
from grader.authoring.notebook import AnswerRegion, SolutionNotebookError, answer_regions, make_student_notebook, replace_region
from grader.cli import main
from grader.errors import GraderError
from tests.conftest import RUBRIC, RUBRIC05, SOLUTION, SOLUTION05, TEMPLATE, TEMPLATE05


def code(source: str, cell_id: str = "ex1-answer", **metadata: Any) -> Any:
    cell = nbformat.v4.new_code_cell(textwrap.dedent(source).strip("\n"), id=cell_id)
    cell.metadata.update(metadata)
    return cell


def markdown(source: str, cell_id: str = "ex1-written", **metadata: Any) -> Any:
    cell = nbformat.v4.new_markdown_cell(textwrap.dedent(source).strip("\n"), id=cell_id)
    cell.metadata.update(metadata)
    return cell


def notebook(*cells: Any) -> Any:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title", id="title"), *cells])


def student_source(solution: str, **metadata: Any) -> str:
    """The student version of one code cell (the second cell of the notebook)."""
    return str(make_student_notebook(notebook(code(solution, **metadata)), "a1").cells[1].source)


# Each row: a solution cell and the exact student cell it must become.
STUBS = [
    ("values, tuple targets, nested blocks; calls, imports and loop variables dropped", """
        x1, x2, x3 = 1.0, 2.0, 3.0

        # forward pass
        # BEGIN SOLUTION
        import math
        s = x1 + x2          # 3
        a, (b, *rest) = 1, (2, 3)
        if s > 2:
            big = True
        else:
            big = False
        for i in range(3):
            total += i
        print(s)
        # END SOLUTION
        print("given")
        """, """
        x1, x2, x3 = 1.0, 2.0, 3.0

        # forward pass
        # YOUR CODE HERE
        s = None
        a = None
        b = None
        rest = None
        big = None
        total = None
        print("given")
        """),
    ("functions keep decorators, signature and docstring; spacing between stubs kept", """
        # BEGIN SOLUTION
        answer = 42


        @functools.cache
        def manual_backprop(x1, x2,  # inputs
                            x3=3.0) -> dict:
            # a comment before the docstring
            \"\"\"Return the gradient.

            As a dict.
            \"\"\"
            return {"y": (x1 + x2) * x3}


        async def fetch(url): return url
        # END SOLUTION
        """, """
        # YOUR CODE HERE
        answer = None


        @functools.cache
        def manual_backprop(x1, x2,  # inputs
                            x3=3.0) -> dict:
            \"\"\"Return the gradient.

            As a dict.
            \"\"\"
            # YOUR CODE HERE
            raise NotImplementedError


        async def fetch(url):
            # YOUR CODE HERE
            raise NotImplementedError
        """),
    ("a region inside a function body (nbgrader's style); code outside it kept", """
        def grad_fn_chain(t):
            \"\"\"Names along one path.\"\"\"
            names = []
            ### BEGIN SOLUTION\x20\x20\x20
            node = t.grad_fn
            while node is not None:
                names.append(type(node).__name__)
                node = None
            ### END SOLUTION
            return names
        """, """
        def grad_fn_chain(t):
            \"\"\"Names along one path.\"\"\"
            names = []
            # YOUR CODE HERE
            raise NotImplementedError
            return names
        """),
    ("methods inside a class: regions inside the methods keep the rest of the class", """
        class DualNumber:
            def __init__(self, value, deriv=0.0):
                self.value, self.deriv = value, deriv

            def sin(self):
                \"\"\"sin([u, u']).\"\"\"
                # BEGIN SOLUTION
                return DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))
                # END SOLUTION

            __radd__ = __add__
        """, """
        class DualNumber:
            def __init__(self, value, deriv=0.0):
                self.value, self.deriv = value, deriv

            def sin(self):
                \"\"\"sin([u, u']).\"\"\"
                # YOUR CODE HERE
                raise NotImplementedError

            __radd__ = __add__
        """),
    ("a region around a whole class keeps the class, stubs every method, sets class names to None", """
        # BEGIN SOLUTION
        class Model(nn.Module):
            \"\"\"Three layers.\"\"\"

            width = 8
            print("dropped")

            def forward(self, x):
                return self.net(x)
        model = Model()
        # END SOLUTION
        """, """
        # YOUR CODE HERE
        class Model(nn.Module):
            \"\"\"Three layers.\"\"\"

            width = None

            def forward(self, x):
                # YOUR CODE HERE
                raise NotImplementedError
        model = None
        """),
    ("one-line bodies get their own indented lines", """
        # BEGIN SOLUTION
        class Config: width = 8; depth = 3
        class Empty(Config): pass
        def double(x): return 2 * x
        # END SOLUTION
        """, """
        # YOUR CODE HERE
        class Config:
            width = None
            depth = None
        class Empty(Config):
            pass
        def double(x):
            # YOUR CODE HERE
            raise NotImplementedError
        """),
    ("a region that is a whole block of calls leaves a pass; a comment-only region in a function a raise", """
        if torch.cuda.is_available():
            # BEGIN SOLUTION
            print("gpu")
            # END SOLUTION
        def later():
            \"\"\"Later.\"\"\"
            # BEGIN SOLUTION
            # nothing here yet
            # END SOLUTION
        """, """
        if torch.cuda.is_available():
            # YOUR CODE HERE
            pass
        def later():
            \"\"\"Later.\"\"\"
            # YOUR CODE HERE
            raise NotImplementedError
        """),
    ("IPython magics outside a region are kept, inside one dropped", """
        %matplotlib inline
        # BEGIN SOLUTION
        !pip list
        value = 3
        # END SOLUTION
        """, """
        %matplotlib inline
        # YOUR CODE HERE
        value = None
        """),
]


@pytest.mark.parametrize(("solution", "expected"), [row[1:] for row in STUBS], ids=[row[0] for row in STUBS])
def test_code_regions_become_contract_stubs(solution: str, expected: str) -> None:
    assert student_source(solution) == textwrap.dedent(expected).strip("\n")


@pytest.mark.parametrize("metadata", [{"tags": ["solution"]}, {"nbgrader": {"solution": True, "grade": False, "grade_id": "q1"}}])
def test_whole_cell_tagged_solution_is_stubbed_by_the_top_level_rule(metadata: dict[str, Any]) -> None:
    solution = notebook(code("""
        from torch import nn
        model = nn.Linear(2, 1)


        def loss(x):
            return model(x).sum()
        """, **metadata))
    student = make_student_notebook(solution, "a1").cells[1]
    assert student.source == "# YOUR CODE HERE\nmodel = None\n\n\ndef loss(x):\n    # YOUR CODE HERE\n    raise NotImplementedError"
    assert student.metadata == {}  # the tag and the nbgrader fields are solution-only


def test_a_tagged_cell_with_markers_is_stubbed_only_between_them_and_keeps_its_other_tags() -> None:
    cell = code("given = 1\n# BEGIN SOLUTION\nanswer = given + 1\n# END SOLUTION", tags=["solution", "keep-me"])
    student = make_student_notebook(notebook(cell), "a1").cells[1]
    assert student.source == "given = 1\n# YOUR CODE HERE\nanswer = None"
    assert student.metadata == {"tags": ["keep-me"]}


def test_markdown_regions_become_a_write_here_line() -> None:
    solution = notebook(
        markdown("""
            **Your answer:**

            - why:
              <!-- BEGIN SOLUTION -->
              Recomputation trades compute
              for memory.
              <!--  END SOLUTION  -->
            Keep this line.
            """),
        markdown("Checkpointing keeps only some activations.", cell_id="ex4-written", tags=["solution"]),
        markdown("<!-- not a marker -->\nLesson text.", cell_id="lesson"),
    )
    cells = make_student_notebook(solution, "a1").cells
    assert cells[1].source == "**Your answer:**\n\n- why:\n  _Write your answer here._\nKeep this line."
    assert cells[2].source == "_Write your answer here._"
    assert cells[3].source == "<!-- not a marker -->\nLesson text."


# Each row: a solution cell (the notebook's cell 2, id ex1-answer) and the exact refusal.
REFUSALS = [
    ("unclosed", "x = 1\n# BEGIN SOLUTION\ny = 2",
     "cell 2 (ex1-answer), line 2: '# BEGIN SOLUTION' is never closed by '# END SOLUTION'"),
    ("end without begin", "x = 1\n# END SOLUTION",
     "cell 2 (ex1-answer), line 2: '# END SOLUTION' without a '# BEGIN SOLUTION' before it"),
    ("nested", "# BEGIN SOLUTION\nx = 1\n    # BEGIN SOLUTION\ny = 2\n# END SOLUTION",
     "cell 2 (ex1-answer), line 3: '# BEGIN SOLUTION' inside the region opened at line 1 (regions cannot nest)"),
    ("misspelt", "# Begin Solution\nx = 1\n# END SOLUTION",
     "cell 2 (ex1-answer), line 1: '# Begin Solution' looks like a solution marker but is not one "
     "(write '# BEGIN SOLUTION' or '# END SOLUTION' exactly, alone on its line)"),
    ("text after the marker", "# BEGIN SOLUTION here\nx = 1\n# END SOLUTION",
     "cell 2 (ex1-answer), line 1: '# BEGIN SOLUTION here' looks like a solution marker but is not one "
     "(write '# BEGIN SOLUTION' or '# END SOLUTION' exactly, alone on its line)"),
    ("solution not Python", "# BEGIN SOLUTION\nx = = 1\n# END SOLUTION",
     "cell 2 (ex1-answer), line 2: not valid Python (invalid syntax)"),
    ("inside an expression", "x = [\n    # BEGIN SOLUTION\n    1, 2,\n    # END SOLUTION\n]",
     "cell 2 (ex1-answer), line 3: a solution region must hold whole statements of one block, but it cuts the statement at lines 1-5 in two"),
    ("half a block", "# BEGIN SOLUTION\nif x:\n    y = 1\n# END SOLUTION\n    z = 2",
     "cell 2 (ex1-answer), lines 2-3: a solution region must hold whole statements of one block, but it cuts the statement at lines 2-5 in two"),
    ("an else line", "if x:\n    a = 1\n# BEGIN SOLUTION\nelse:\n    b = 2\n# END SOLUTION",
     "cell 2 (ex1-answer), lines 4-5: a solution region must hold whole statements of one block, "
     "but line 4 ('else:') belongs to the statement around it"),
    ("two blocks", "if x:\n    a = 1\n    # BEGIN SOLUTION\n    c = 1\nelse:\n    b = 2\n    # END SOLUTION",
     "cell 2 (ex1-answer), lines 4-6: a solution region must hold whole statements of one block, but it spans two blocks"),
    ("a signature", "def f(\n    # BEGIN SOLUTION\n    x,\n    # END SOLUTION\n):\n    return x",
     "cell 2 (ex1-answer), line 3: a solution region must hold whole statements of one block, but it cuts the header of the statement at line 1"),
    ("comment-only region that fits no block", "def f():\n    return 1\n        # BEGIN SOLUTION\n        # END SOLUTION",
     "cell 2 (ex1-answer), the empty region at line 3: the region holds no code "
     "and its markers' indentation fits no block (line 4: unexpected indent)"),
]


@pytest.mark.parametrize(("solution", "message"), [row[1:] for row in REFUSALS], ids=[row[0] for row in REFUSALS])
def test_unusable_solutions_are_refused_with_cell_and_line(solution: str, message: str) -> None:
    nb = notebook(nbformat.v4.new_code_cell(solution, id="ex1-answer"))
    with pytest.raises(SolutionNotebookError) as refused:
        make_student_notebook(nb, "a1")
    assert refused.value.message == message
    assert refused.value.exit_code == 2


def test_markdown_marker_refusals_name_cell_and_line() -> None:
    nb = notebook(nbformat.v4.new_markdown_cell("Answer:\n<!-- BEGIN SOLUTION -->\nbecause", id="ex4-written"))
    with pytest.raises(SolutionNotebookError) as refused:
        answer_regions(nb)
    assert refused.value.message == "cell 2 (ex4-written), line 2: '<!-- BEGIN SOLUTION -->' is never closed by '<!-- END SOLUTION -->'"


def test_a_cell_without_id_is_named_by_its_number() -> None:
    nb = notebook(code("# BEGIN SOLUTION\nx = 1"))
    del nb.cells[1]["id"]
    with pytest.raises(SolutionNotebookError, match=r"^cell 2, line 1: "):
        answer_regions(nb)


def test_outputs_counts_and_run_metadata_are_stripped_and_the_assignment_id_written() -> None:
    solution = notebook(code("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"), code("print(2)", cell_id="lesson"))
    for cell in solution.cells[1:]:
        cell.execution_count = 7
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
        cell.metadata["execution"] = {"iopub.execute_input": "2024-01-01T00:00:00Z"}
    solution.metadata["grader"] = {"assignment": "old", "notes": "instructor only"}
    solution.metadata["widgets"] = {"state": {}}
    student = make_student_notebook(solution, "04_automatic_differentiation")
    assert [(c.get("execution_count"), c.get("outputs"), c.metadata) for c in student.cells[1:]] == [(None, [], {}), (None, [], {})]
    assert [c.id for c in student.cells] == ["title", "ex1-answer", "lesson"]
    assert student.metadata == {"grader": {"assignment": "04_automatic_differentiation"}}
    nbformat.validate(student)


def test_the_solution_is_left_unchanged_and_a_second_pass_changes_nothing() -> None:
    solution = notebook(code(STUBS[1][1]), markdown("<!-- BEGIN SOLUTION -->\nbecause\n<!-- END SOLUTION -->"))
    solution.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x\n")]
    before = copy.deepcopy(solution)
    once = make_student_notebook(solution, "a1")
    assert solution == before
    assert make_student_notebook(once, "a1") == once
    assert answer_regions(once) == []


def test_answer_regions_report_cell_exercise_kind_lines_and_text() -> None:
    nb = notebook(
        code("given = 1\n# BEGIN SOLUTION\nx = 1\ny = 2\n# END SOLUTION\n\ndef f():\n    # BEGIN SOLUTION\n    return 3\n    # END SOLUTION"),
        code("z = 3", cell_id="setup-cell", tags=["solution"], grader={"exercise": "ex2"}),
        markdown("<!-- BEGIN SOLUTION -->\nbecause\n<!-- END SOLUTION -->", cell_id="written"),
        code("# BEGIN SOLUTION\n# END SOLUTION", cell_id="q7-empty"),
    )
    assert answer_regions(nb) == [
        AnswerRegion(1, "ex1-answer", "ex1", "code-lines", 3, 4, "x = 1\ny = 2"),
        AnswerRegion(1, "ex1-answer", "ex1", "code-lines", 9, 9, "    return 3"),
        AnswerRegion(2, "setup-cell", "ex2", "code-cell", 1, 1, "z = 3"),
        AnswerRegion(3, "written", None, "markdown", 2, 2, "because"),
        AnswerRegion(4, "q7-empty", "q7", "code-lines", 2, 1, ""),
    ]


def test_replace_region_swaps_one_region_and_keeps_the_markers() -> None:
    nb = notebook(code("a = 0\n# BEGIN SOLUTION\nx = 1\ny = 2\n# END SOLUTION\n# BEGIN SOLUTION\nz = 3\n# END SOLUTION"))
    first, second = answer_regions(nb)
    mutated = replace_region(nb, first, "x = -1")
    assert mutated.cells[1].source == "a = 0\n# BEGIN SOLUTION\nx = -1\n# END SOLUTION\n# BEGIN SOLUTION\nz = 3\n# END SOLUTION"
    assert [r.source for r in answer_regions(mutated)] == ["x = -1", "z = 3"]
    assert nb.cells[1].source.count("y = 2") == 1  # the original is untouched
    with pytest.raises(ValueError, match="no longer hold this region"):
        replace_region(mutated, second, "z = 4")  # found before the lines moved


# ------------------------------------------------------------------ lesson 04


@pytest.mark.parametrize(
    ("solution_path", "rubric_path", "template_path"),
    [(SOLUTION, RUBRIC, TEMPLATE), (SOLUTION05, RUBRIC05, TEMPLATE05)],
    ids=["04", "05"],
)
def test_the_committed_template_is_what_assign_makes_from_the_solution(solution_path: Path, rubric_path: Path, template_path: Path) -> None:
    """The drift check: edit the solution notebook, then rerun `grade assign` (see docs/authoring/notebook.md)."""
    solution = nbformat.read(solution_path, as_version=4)
    assignment = load_rubric(rubric_path).assignment
    made = make_student_notebook(solution, assignment)
    committed = nbformat.read(template_path, as_version=4)
    assert [(c.cell_type, c.get("id"), c.source) for c in committed.cells] == [(c.cell_type, c.get("id"), c.source) for c in made.cells]
    assert committed.metadata.get("grader") == made.metadata["grader"] == {"assignment": assignment}
    assert template_path.name == load_rubric(rubric_path).notebook


def test_lesson_answers_are_marked_only_in_the_four_answer_cells() -> None:
    regions = answer_regions(nbformat.read(SOLUTION, as_version=4))
    assert sorted({(r.cell_id, r.exercise) for r in regions}) == [(f"ex{n}-answer", f"ex{n}") for n in range(1, 5)]
    assert all(r.kind == "code-lines" for r in regions)


def test_exercise_2_repeats_the_lesson_class_exactly_plus_sin_and_cos() -> None:
    """The template repeats the lesson's DualNumber; only the two new methods may differ."""
    cells = {c.id: c.source for c in nbformat.read(SOLUTION, as_version=4).cells}

    def dual_class(source: str, drop: set[str]) -> str:
        cls = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "DualNumber")
        cls.body = [n for n in cls.body if not (isinstance(n, ast.FunctionDef) and n.name in drop)]
        return ast.dump(cls, include_attributes=False)

    assert dual_class(cells["ex2-answer"], {"sin", "cos"}) == dual_class(cells["dual-class"], set())
    assert "def sin(self)" in cells["ex2-answer"] and "def cos(self)" in cells["ex2-answer"]


# ------------------------------------------------------------------ grade assign


def assign(*args: str) -> Any:
    return CliRunner().invoke(main, ["assign", *args])


def test_assign_writes_the_rubric_notebook_and_check_passes_on_the_committed_template(tmp_path: Path) -> None:
    done = assign(str(SOLUTION), "--rubric", str(RUBRIC), "--out", str(tmp_path))
    assert done.exit_code == 0, done.output
    written = tmp_path / "04_automatic_differentiation.ipynb"
    assert f"wrote {written} (9 answer regions stubbed)" in done.output
    assert written.read_bytes() == TEMPLATE.read_bytes()
    checked = assign(str(SOLUTION), "--rubric", str(RUBRIC), "--out", str(TEMPLATE.parent), "--check")
    assert checked.exit_code == 0, checked.output
    assert "up to date" in checked.output


def test_check_exits_1_naming_the_first_changed_cell(tmp_path: Path) -> None:
    assert assign(str(SOLUTION), "--out", str(tmp_path)).exit_code == 0  # the id comes from the solution's metadata
    target = tmp_path / "04_automatic_differentiation.ipynb"
    nb = nbformat.read(target, as_version=4)
    nb.cells[24].source += "\nprint('edited by hand')"
    nbformat.write(nb, target)
    done = assign(str(SOLUTION), "--out", str(tmp_path), "--check")
    assert done.exit_code == 1
    assert "out of date with" in done.output and "(first difference: cell 25 (ex1-answer))" in done.output
    assert "print('edited by hand')" in done.output  # the diff shows what changed
    assert "edited by hand" in target.read_text()  # --check writes nothing
    missing = assign(str(SOLUTION), "--out", str(tmp_path / "nowhere"), "--check")
    assert missing.exit_code == 1 and "missing" in missing.output


def write_solution(folder: Path, cells: list[Any], metadata: dict[str, Any] | None = None) -> Path:
    nb = nbformat.v4.new_notebook(cells=cells, metadata=metadata or {})
    path = folder / "solution.ipynb"
    nbformat.write(nb, path)
    return path


def test_assignment_id_from_flag_names_the_file_and_refusals_exit_2(tmp_path: Path) -> None:
    path = write_solution(tmp_path, [code("# BEGIN SOLUTION\nx = 1\n# END SOLUTION")])
    done = assign(str(path), "--assignment", "hw1", "--out", str(tmp_path / "out"))
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "out" / "hw1.ipynb").read_text())["metadata"]["grader"] == {"assignment": "hw1"}

    none = assign(str(path), "--out", str(tmp_path / "out"))
    assert none.exit_code == 2
    assert "no assignment id: give --assignment ID or --rubric RUBRIC, or set metadata.grader.assignment in the notebook" in none.output

    disagree = assign(str(path), "--assignment", "hw1", "--rubric", str(RUBRIC), "--out", str(tmp_path / "out"))
    assert disagree.exit_code == 2
    assert "the assignment ids disagree: --assignment says 'hw1', the rubric says '04_automatic_differentiation'" in disagree.output

    itself = assign(str(path), "--assignment", "solution", "--out", str(tmp_path))
    assert itself.exit_code == 2 and "this is the solution itself" in itself.output


def test_a_broken_solution_is_refused_with_file_cell_and_line_and_nothing_written(tmp_path: Path) -> None:
    path = write_solution(tmp_path, [code("x = 1", cell_id="setup"), code("# BEGIN SOLUTION\nx = 2")], {"grader": {"assignment": "hw1"}})
    done = assign(str(path), "--out", str(tmp_path / "out"))
    assert done.exit_code == 2
    assert f"grade assign: error: {path}: cell 2 (ex1-answer), line 1: '# BEGIN SOLUTION' is never closed by '# END SOLUTION'" in done.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"cells": [', "Notebook does not appear to be JSON"),
        ('{"cells": [], "metadata": {}, "nbformat": 3, "nbformat_minor": 0}', "missing an expected key: worksheets"),
    ],
)
def test_an_unreadable_solution_is_refused_in_one_line(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "solution.ipynb"
    path.write_text(content)
    done = assign(str(path), "--assignment", "hw1", "--out", str(tmp_path / "out"))
    assert done.exit_code == 2
    assert done.output.startswith(f"grade assign: error: {path}: cannot read the solution notebook (")
    assert reason in done.output and done.output.count("\n") == 1


# ------------------------------------------------------------------ which notebook is an assignment's solution


@pytest.mark.parametrize(("rubric", "solution"), [(RUBRIC, SOLUTION), (RUBRIC05, SOLUTION05)], ids=["04", "05"])
def test_every_command_takes_the_solution_that_names_the_assignment(rubric: Path, solution: Path) -> None:
    """reference/ holds both lessons' solutions: 05's is the one naming 05, not the conventional solution.ipynb (04's)."""
    assert solution_path(load_rubric(rubric), None).resolve() == solution.resolve()


def _solved(folder: Path, name: str, assignment: str | None) -> Path:
    nb = notebook(code("x = 1"))
    if assignment is not None:
        nb.metadata["grader"] = {"assignment": assignment}
    path = folder / name
    nbformat.write(nb, path)
    return path


def test_the_solution_is_found_by_given_then_named_then_metadata_then_convention(tmp_path: Path) -> None:
    conventional = _solved(tmp_path, "solution.ipynb", None)
    assert find_solution("a2", tmp_path) == conventional
    naming = _solved(tmp_path, "solution_a2.ipynb", "a2")
    assert find_solution("a2", tmp_path) == naming  # the one naming a2 wins over solution.ipynb
    _solved(tmp_path, "other.ipynb", "a2")
    assert find_solution("a2", tmp_path) == conventional  # two name a2: neither is guessed
    named = _solved(tmp_path, "named.ipynb", "a2")
    assert find_solution("a2", tmp_path, named=named) == named
    assert find_solution("a2", tmp_path, named=named, given=conventional) == conventional
    with pytest.raises(GraderError, match=r"no solution notebook at .*missing\.ipynb"):
        find_solution("a2", tmp_path, given=tmp_path / "missing.ipynb")


@pytest.mark.parametrize("how", ["given", "named", "conventional"])
def test_a_solution_naming_another_assignment_is_refused_naming_both(tmp_path: Path, how: str) -> None:
    wrong = _solved(tmp_path, "solution.ipynb", "a1")
    found = {"given": {"given": wrong}, "named": {"named": wrong}, "conventional": {}}[how]
    with pytest.raises(GraderError, match=r"solution.ipynb: the solution notebook of assignment a1 \(its metadata says so\), not of a2"):
        find_solution("a2", tmp_path, **found)


def test_check_rubric_refuses_another_assignments_solution_before_grading(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check-rubric", str(RUBRIC05), "--solution", str(SOLUTION)])
    assert result.exit_code == 2
    assert f"the solution notebook of assignment {load_rubric(RUBRIC).assignment}" in result.output
    assert f"not of {load_rubric(RUBRIC05).assignment}" in result.output


# ------------------------------------------------------------------ grade new-course


def test_new_course_writes_a_package_whose_assignment_loads_and_whose_template_is_made_from_its_solution(tmp_path: Path) -> None:
    course = tmp_path / "Deep Learning 101"
    result = CliRunner().invoke(main, ["new-course", str(course)])
    assert result.exit_code == 0, result.output
    package = course / "deep_learning_101"
    pyproject = (course / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points."grader.assignments"]\ndeep_learning_101 = "deep_learning_101:rubrics"' in pyproject
    rubric = load_rubric(package / "rubrics" / "01_tensor_basics.yaml")  # its contract quotes are checked on load
    assert rubric.contract_path == (package / "rubrics" / "CONTRACT-01.md").resolve() and rubric.max_score == 100
    assert all(check.contract for exercise in rubric.exercises for check in exercise.checks)
    solution = solution_path(rubric, None)
    assert solution.name == "solution_01.ipynb"
    made = make_student_notebook(nbformat.read(solution, as_version=4), rubric.assignment)
    template = nbformat.read(package / "exercises" / rubric.notebook, as_version=4)
    assert [c.source for c in template.cells] == [c.source for c in made.cells] and "x.mul_" not in json.dumps(template)
    assert (course / "tests" / "test_assignments.py").is_file() and "check-rubric" in (course / "README.md").read_text(encoding="utf-8")


def test_new_course_refuses_a_folder_that_holds_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(main, ["new-course", str(tmp_path)])
    assert result.exit_code == 2 and "not an empty folder" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
