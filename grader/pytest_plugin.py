"""A pytest plugin: the rubric's checks as pytest items, so students see verdicts where they run tests.

In an assignment repository::

    pytest --grade my_notebook.ipynb                 # every exercise
    pytest --grade my_notebook.ipynb --grade-only ex2
    pytest --grade my_notebook.ipynb -k gradient     # pytest's own selection works too

or, once and for all, in the repository's ``pyproject.toml`` (paths relative to it)::

    [tool.grader]
    notebook = "04_automatic_differentiation.ipynb"
    rubric = "rubric.yaml"        # optional (a path or an installed assignment's id); default: the notebook's assignment

Each visible check becomes an item ``my_notebook.ipynb::ex1::gradient_anywhere``;
it passes when the check earns full marks and fails with the check's message
otherwise. The notebook is graded once per session (per worker under xdist),
lazily, by the first item that runs; ``--collect-only`` grades nothing. Without
``--grade`` or a ``[tool.grader] notebook`` setting the plugin does nothing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from grader.errors import GraderError
from grader.reporters import check_lines, clean_text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from grader.results import CheckResult, SubmissionResult
    from grader.rubric import CheckSpec, ExerciseSpec, Rubric

PLUGIN_NAME = "grader-grading"


@dataclass(frozen=True)
class GradeSettings:
    """What to grade: the submission, the rubric (``None``: the installed assignment the notebook belongs to) and the exercises."""

    notebook: Path
    rubric: Path | None
    only: tuple[str, ...]
    explicit: bool


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--grade``, ``--grade-only`` and ``--grade-rubric``."""
    group = parser.getgroup("grader", "grading a notebook with the autodiff grader")
    group.addoption("--grade", metavar="NOTEBOOK", default=None,
                    help="Grade NOTEBOOK (.ipynb or .py): one test item per rubric check.")
    group.addoption("--grade-only", action="append", default=[], metavar="EXERCISE",
                    help="Grade only this exercise (e.g. ex2); repeatable.")
    group.addoption("--grade-rubric", metavar="YAML", default=None,
                    help="Rubric YAML or an installed assignment's id (default: [tool.grader] rubric, else the notebook's assignment).")


def pytest_configure(config: pytest.Config) -> None:
    """Switch grading on when ``--grade`` or ``[tool.grader] notebook`` asks for it."""
    settings = read_settings(config)
    if settings is None:
        return
    if not settings.notebook.is_file():
        raise pytest.UsageError(f"--grade {settings.notebook}: no such file")
    plugin = GradingPlugin(settings)
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    if settings.explicit or config.args_source is not pytest.Config.ArgsSource.ARGS:
        _ensure_collected(config, settings.notebook)


def read_settings(config: pytest.Config) -> GradeSettings | None:
    """Command-line options first, then ``[tool.grader]`` in the repository's ``pyproject.toml``."""
    table, base = _tool_table(config)
    here = config.invocation_params.dir
    notebook = config.getoption("grade")
    if notebook is None and not table.get("notebook"):
        return None
    rubric = config.getoption("grade_rubric")
    only = tuple(config.getoption("grade_only") or ())
    return GradeSettings(
        notebook=(here / notebook).resolve() if notebook else (base / str(table["notebook"])).resolve(),
        rubric=_rubric_setting(here, rubric) if rubric else (_rubric_setting(base, str(table["rubric"])) if table.get("rubric") else None),
        only=only,
        explicit=notebook is not None,
    )


def _tool_table(config: pytest.Config) -> tuple[dict[str, Any], Path]:
    inipath = config.inipath
    pyproject = inipath if inipath is not None and inipath.name == "pyproject.toml" else config.rootpath / "pyproject.toml"
    if not pyproject.is_file():
        return {}, config.rootpath
    try:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except ImportError:  # pragma: no cover - Python 3.10 without tomli
        return {}, pyproject.parent
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"{pyproject}: cannot read [tool.grader] ({exc})") from None
    table = data.get("tool", {}).get("grader", {})
    return (table if isinstance(table, dict) else {}), pyproject.parent


def _ensure_collected(config: pytest.Config, notebook: Path) -> None:
    """Add the notebook to the collection arguments unless one of them already covers it."""
    here = config.invocation_params.dir
    for arg in config.args:
        target = (here / arg.split("::")[0]).resolve()
        if target == notebook or target in notebook.parents:
            return
    config.args.append(str(notebook))


def _rubric_setting(base: Path, value: str) -> Path:
    """A rubric path relative to ``base``, or an installed assignment's id as it was given (when no such file exists)."""
    path = (base / value).resolve()
    return path if path.exists() or "/" in value or value.endswith((".yaml", ".yml")) else Path(value)


class GradingPlugin:
    """Collects the notebook's items and grades it once, on demand."""

    def __init__(self, settings: GradeSettings) -> None:
        # Here, not at the top: pytest loads this plugin in every session, grading or not.
        from grader.assignments import choose_assignment, installed_assignments, rubric_path
        from grader.checks.registry import CHECK_KINDS
        from grader.rubric import load_rubric

        self.settings = settings
        try:
            chosen = rubric_path(settings.rubric) if settings.rubric else None
            chosen = chosen or choose_assignment(settings.notebook, installed_assignments()).assignment.rubric_path
            self.rubric: Rubric = load_rubric(chosen, CHECK_KINDS)
        except GraderError as exc:
            raise pytest.UsageError(exc.message) from None
        known = [ex.id for ex in self.rubric.exercises]
        for wanted in settings.only:
            if wanted not in known:
                raise pytest.UsageError(f"--grade-only {wanted}: no such exercise (choose from {', '.join(known)})")
        self._result: SubmissionResult | None = None
        self._failure: str | None = None

    def exercises(self) -> list[ExerciseSpec]:
        """The exercises to grade (all, or those of ``--grade-only``)."""
        return [ex for ex in self.rubric.exercises if not self.settings.only or ex.id in self.settings.only]

    def result(self) -> SubmissionResult:
        """The submission's result, graded on the first call and cached for the session."""
        if self._failure is not None:
            raise GradingFailed(self._failure)
        if self._result is None:
            from grader.pipeline import Options, grade_submission  # here: pytest loads this plugin in every session

            try:
                only = tuple(ex.id for ex in self.exercises())
                self._result = grade_submission(self.settings.notebook, self.rubric, Options(only=only))
            except GraderError as exc:
                self._failure = f"the grader could not run: {exc.message}"
                raise GradingFailed(self._failure) from None
        return self._result

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        """Collect the graded notebook (and no other file) as a :class:`NotebookFile`."""
        if file_path.resolve() == self.settings.notebook:
            return NotebookFile.from_parent(parent, path=file_path, grading=self)
        return None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The score, and the faults seen while running the notebook."""
        if self._result is None:
            return
        result = self._result
        terminalreporter.section("grade")
        terminalreporter.write_line(f"{clean_text(result.submission, 200)}: {result.score:g} / {result.max_score:g}")
        for line in result.errors:
            terminalreporter.write_line(f"  - {clean_text(line)}")


class GradingFailed(Exception):
    """The grader itself could not grade (a broken rubric or reference): every item reports it."""


class CheckFailed(Exception):
    """A check that did not earn full marks; its text is the pytest failure text."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class NotebookFile(pytest.File):
    """The graded notebook: one child per exercise."""

    def __init__(self, *, grading: GradingPlugin, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.grading = grading

    def collect(self) -> Iterator[ExerciseNode]:
        for exercise in self.grading.exercises():
            yield ExerciseNode.from_parent(self, name=exercise.id, exercise=exercise, grading=self.grading)


class ExerciseNode(pytest.Collector):
    """One exercise: one item per visible check (hidden checks count in the score only)."""

    def __init__(self, *, exercise: ExerciseSpec, grading: GradingPlugin, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exercise = exercise
        self.grading = grading

    def collect(self) -> Iterator[CheckItem]:
        for spec in self.exercise.checks:
            if not spec.hidden:
                yield CheckItem.from_parent(self, name=spec.id, exercise=self.exercise, spec=spec, grading=self.grading)


class CheckItem(pytest.Item):
    """One rubric check: passes with full marks, fails with the check's message otherwise."""

    def __init__(self, *, exercise: ExerciseSpec, spec: CheckSpec, grading: GradingPlugin, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exercise = exercise
        self.spec = spec
        self.grading = grading

    def runtest(self) -> None:
        check = self._check(self.grading.result())
        if not check.passed:
            raise CheckFailed(failure_text(self.exercise.id, check))

    def _check(self, result: SubmissionResult) -> CheckResult:
        for exercise in result.exercises:
            if exercise.id == self.exercise.id:
                for check in exercise.checks:
                    if check.id == self.spec.id:
                        return check
        raise GradingFailed(f"{self.exercise.id}/{self.spec.id}: no result for this check")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return excinfo.value.text
        if isinstance(excinfo.value, GradingFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.exercise.id}::{self.spec.id}: {self.spec.title}"


def failure_text(exercise_id: str, check: CheckResult) -> str:
    """What a failing item prints: the check, its outcome and points, then the report lines of every reporter."""
    lines = check_lines(check, 2000)
    return "\n".join([f"{exercise_id} / {check.id}: {clean_text(check.title, 200)}", f"{lines.outcome}: {lines.points} points", *lines.notes])
