"""``%grade`` without a kernel: its arguments, where it finds the notebook, the judge process and the report it shows.

The probes themselves run here in this test process (as they run in a
student's kernel) on a namespace built from the solved answers, and the
judge is the real ``python -m grader.live.judge`` process: the whole round
trip of the magic except IPython's display. ``tests/integration/test_live_grade.py``
runs the magic itself in real kernels.
"""

from __future__ import annotations

import json
import math
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
import torch

from grader import load_rubric
from grader.checks.registry import CHECK_KINDS
from grader.live import magic
from grader.live.judge import _judged_here, read_saved_outputs
from grader.live.magic import (
    ArgumentProblem,
    GradeArgs,
    JudgeProcess,
    Watchdog,
    fresh_command,
    parse_arguments,
    run_probes,
    session_notebook,
)
from grader.reporters.notebook import LIVE_NOTE, NotebookReport, render_notebook_html, render_notebook_text
from grader.results import CheckResult, ExerciseResult, Outcome, SubmissionResult
from tests.conftest import RUBRIC, SETUP, solution_answers
from tests.unit.test_portable_imports import WITHOUT_POSIX

# ------------------------------------------------------------------ arguments


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", GradeArgs()),
        ("ex2", GradeArgs(exercises=("ex2",))),
        ("ex2 ex3 ex2", GradeArgs(exercises=("ex2", "ex3"))),
        ("--fresh", GradeArgs(fresh=True)),
        ("--fresh my.ipynb", GradeArgs(fresh=True, path="my.ipynb")),
        ("--fresh 'my notebook.ipynb' ex2", GradeArgs(exercises=("ex2",), fresh=True, path="my notebook.ipynb")),
        ("ex1 --rubric rubrics/r.yaml", GradeArgs(exercises=("ex1",), rubric="rubrics/r.yaml")),
        ("--rubric=r.yaml", GradeArgs(rubric="r.yaml")),
        ("--help", GradeArgs(help=True)),
        ("-h ex1", GradeArgs(exercises=("ex1",), help=True)),
        ("solution.py", GradeArgs(path="solution.py")),
    ],
)
def test_arguments_are_read(line: str, expected: GradeArgs) -> None:
    assert parse_arguments(line, posix=True) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--bogus", "unknown option '--bogus'; see %grade --help"),
        ("--rubric", "--rubric needs a path"),
        ("a.ipynb b.ipynb", "two notebooks given ('a.ipynb' and 'b.ipynb')"),
        ("ex1 'unclosed", "cannot read the arguments"),
    ],
)
def test_unusable_arguments_say_what_is_wrong(line: str, message: str) -> None:
    with pytest.raises(ArgumentProblem) as problem:
        parse_arguments(line, posix=True)
    assert message in str(problem.value)


def test_windows_paths_keep_their_backslashes() -> None:
    line = r'--fresh "C:\Users\Ana Li\04 autodiff.ipynb" --rubric C:\course\r.yaml ex2'
    args = parse_arguments(line, posix=False)
    assert args == GradeArgs(exercises=("ex2",), rubric=r"C:\course\r.yaml", fresh=True, path=r"C:\Users\Ana Li\04 autodiff.ipynb")


def test_the_official_grade_is_the_grade_command_on_the_saved_file(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    command = fresh_command(notebook, GradeArgs(exercises=("ex2", "ex3"), rubric=str(tmp_path / "r.yaml"), fresh=True))
    assert command == [
        sys.executable, "-m", "grader", str(notebook), "--format", "json", "--rubric", str(tmp_path / "r.yaml"), "--only", "ex2", "--only", "ex3",
    ]


# ------------------------------------------------------------------ which notebook


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    for name in ("lab.ipynb", "vsc.ipynb", "other.ipynb", "notes.txt"):
        (tmp_path / name).write_text("{}", encoding="utf-8")
    return tmp_path


def test_vs_code_names_the_notebook_in_the_namespace(notebooks: Path) -> None:
    found = session_notebook({"__vsc_ipynb_file__": str(notebooks / "vsc.ipynb")}, {"JPY_SESSION_NAME": str(notebooks / "lab.ipynb")}, notebooks)
    assert found == (notebooks / "vsc.ipynb").resolve()


def test_jupyterlab_names_it_in_the_environment(notebooks: Path) -> None:
    assert session_notebook({}, {"JPY_SESSION_NAME": str(notebooks / "lab.ipynb")}, Path("/")) == (notebooks / "lab.ipynb").resolve()


def test_ipykernel_copies_it_to_session(notebooks: Path) -> None:
    assert session_notebook({"__session__": str(notebooks / "other.ipynb")}, {}, Path("/")) == (notebooks / "other.ipynb").resolve()


@pytest.mark.parametrize("given", ["lab.ipynb", "course/week4/lab.ipynb"])
def test_an_older_server_gives_a_path_relative_to_its_root(notebooks: Path, given: str) -> None:
    # The kernel runs in the notebook's folder: the name is found there.
    assert session_notebook({}, {"JPY_SESSION_NAME": given}, notebooks) == (notebooks / "lab.ipynb").resolve()


@pytest.mark.parametrize(
    ("user_ns", "environ"),
    [
        ({}, {}),
        ({}, {"JPY_SESSION_NAME": "renamed-since.ipynb"}),  # a notebook renamed after the kernel started
        ({}, {"JPY_SESSION_NAME": "Console 1"}),  # a console, not a notebook
        ({"__vsc_ipynb_file__": 42}, {}),
        ({}, {"JPY_SESSION_NAME": "notes.txt"}),
    ],
)
def test_no_notebook_when_the_session_does_not_name_an_existing_one(notebooks: Path, user_ns: dict[str, Any], environ: dict[str, str]) -> None:
    assert session_notebook(user_ns, environ, notebooks) is None


# ------------------------------------------------------------------ saved outputs


def _saved(path: Path, *cells: tuple[str, list[dict[str, Any]]]) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source, outputs=[nbformat.from_dict(o) for o in outs]) for source, outs in cells])
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_printed_output_is_read_from_the_saved_notebook(tmp_path: Path) -> None:
    path = _saved(
        tmp_path / "nb.ipynb",
        ("x = 1", []),
        ("print(chain)", [{"output_type": "stream", "name": "stdout", "text": ["['MulBackward0',", " 'AddBackward0']\n"]},
                          {"output_type": "stream", "name": "stderr", "text": "warning\n"}]),
    )
    saved = read_saved_outputs(path, now=path.stat().st_mtime + 120)
    assert saved.cells is not None
    assert "".join(cell.stdout for cell in saved.cells) == "['MulBackward0', 'AddBackward0']\n"
    assert saved.sources[2] == "print(chain)"
    assert saved.note == "What the notebook printed is read from the saved file nb.ipynb (saved 2 min ago)."


def test_a_notebook_saved_without_outputs_has_an_unknown_printed_output(tmp_path: Path) -> None:
    saved = read_saved_outputs(_saved(tmp_path / "nb.ipynb", ("print(1)", [])))
    assert saved.cells is None
    assert saved.note == "The saved file nb.ipynb holds no outputs: save the notebook after running it."
    assert read_saved_outputs(None).cells is None
    assert read_saved_outputs(tmp_path / "gone.ipynb").note == "The saved notebook gone.ipynb cannot be read (FileNotFoundError)."


def test_checks_whose_kind_reads_printed_output_are_left_to_the_official_grade_when_it_is_unknown() -> None:
    exercise = load_rubric(RUBRIC).exercise("ex3")
    printed = [c.id for c in exercise.checks if CHECK_KINDS[c.kind].reads_printed_output]
    assert printed == ["chain_printed"]
    (kept,), deferred = _judged_here([exercise], printed_known=False)
    assert [c.id for c in kept.checks] == [c.id for c in exercise.checks if c.id not in printed]
    assert [(ex, title) for ex, title, _ in deferred] == [("ex3", c.title) for c in exercise.checks if c.id in printed]
    assert _judged_here([exercise], printed_known=True) == ([exercise], ())


def test_the_kind_attribute_not_its_name_says_a_check_reads_printed_output(monkeypatch: pytest.MonkeyPatch) -> None:
    exercise = load_rubric(RUBRIC).exercise("ex3")
    first = exercise.checks[0]
    monkeypatch.setattr(CHECK_KINDS[first.kind], "reads_printed_output", True)
    (kept,), deferred = _judged_here([exercise], printed_known=False)
    assert first not in kept.checks and deferred[0] == ("ex3", first.title, first.points)


# ------------------------------------------------------------------ the report


def _result(*checks: CheckResult, errors: tuple[str, ...] = ()) -> SubmissionResult:
    exercise = ExerciseResult("ex2", "DualNumber <sin>", sum(c.score for c in checks), sum(c.max_score for c in checks), checks)
    return SubmissionResult("nb.ipynb", "", "04", "graded", exercise.score, exercise.max_score, (exercise,), errors, 0.3)


PASSED = CheckResult("sin_rule", "sin rule", Outcome.PASSED, 7, 7, "")
FAILED = CheckResult(
    "cos_rule", "cos rule", Outcome.FAILED, 0, 7, "cos gave <script>alert(1)</script> at u = 0.5", hints=("d/du cos u = -sin u",)
)
PARTIAL = CheckResult("compositions", "compositions", Outcome.PARTIAL, 2.5, 5, "2 of 4 right")


def test_the_html_report_is_a_table_per_exercise_with_points_outcome_feedback_and_hints() -> None:
    page = render_notebook_html(NotebookReport("Live check of 04", (LIVE_NOTE,), _result(PASSED, FAILED, PARTIAL, errors=("x <y>",))))
    assert page.count("<table") == 1 and page.count("<tr>") == 4  # a header row and three checks
    for text in ("sin rule", "7 / 7", "passed", "cos rule", "0 / 7", "not right yet", "hint: d/du cos u = -sin u", "partly right", "2.5 / 5"):
        assert text in page, text
    assert "Score: 9.5 / 19" in page
    assert "DualNumber &lt;sin&gt;" in page and "&lt;script&gt;" in page and "<script" not in page and "x &lt;y&gt;" in page
    assert "<code>%grade --fresh</code>" in page and "The grade that counts reruns the saved notebook" in page


def test_the_html_report_reads_in_light_and_dark_themes() -> None:
    page = render_notebook_html(NotebookReport("Live check", (LIVE_NOTE,), _result(PASSED, FAILED, PARTIAL)))
    assert "<style" not in page  # it would restyle the whole page; inline styles only
    declarations = [d.split(":", 1) for part in page.split('style="')[1:] for d in part.split('"')[0].split(";") if d.strip()]
    properties = {name.strip(): value.strip() for name, value in declarations}
    assert "color" not in properties  # text keeps the theme's own colour
    paints = [value for name, value in declarations if name.strip() in ("background", "background-color", "border", "border-color")]
    assert paints and all("rgba(" in value or "currentColor" in value for value in paints), paints  # the theme shows through


def test_the_text_report_has_the_same_lines() -> None:
    text = render_notebook_text(NotebookReport("Live check of 04", (LIVE_NOTE,), _result(PASSED, FAILED)))
    assert text.splitlines()[:2] == ["Live check of 04", LIVE_NOTE]
    assert "  [PASS] sin rule  7/7" in text and "  [FAIL] cos rule  0/7" in text
    assert "         hint: d/du cos u = -sin u" in text
    assert text.rstrip().endswith("Score: 7 / 14")


def test_an_unusable_submission_says_why() -> None:
    result = SubmissionResult("nb.ipynb", "", "04", "error", 0, 100, (), ("bad JSON",), 0.1, reason="not valid JSON (line 3)")
    report = NotebookReport("Official grade", (), result)
    assert "could not be graded: not valid JSON (line 3)" in render_notebook_text(report)
    assert "could not be graded: not valid JSON (line 3)" in render_notebook_html(report)


# ------------------------------------------------------------------ probes in this process, judged by the real judge process


@pytest.fixture(scope="module")
def judge() -> Iterator[JudgeProcess]:
    process = JudgeProcess()
    process.start()
    yield process
    process.stop()


def solved_namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for source in [SETUP, *solution_answers().values()]:
        exec(compile(source, "<cell>", "exec"), namespace)
    return namespace


def _plan_and_run(judge: JudgeProcess, namespace: dict[str, Any], rubric: Path, *only: str) -> dict[str, Any]:
    plan = judge.ask("plan", rubric=str(rubric), notebook=None, only=list(only), have_sources=None)
    assert plan["ok"], plan
    run = run_probes(plan["sources"], plan["token"], plan["calls"], namespace, float(plan["probe_timeout_s"]))
    reply = judge.ask("judge", answers=run.answers, interrupted=run.interrupted, printed=run.printed)
    assert reply["ok"], reply
    return reply


def test_the_solved_answers_score_full_marks_and_nothing_is_left_behind(judge: JudgeProcess, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = solved_namespace()
    capsys.readouterr()
    names = dict(namespace)
    modules = dict(sys.modules)
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    reply = _plan_and_run(judge, namespace, RUBRIC)
    result = reply["result"]
    assert (result["score"], result["max_score"]) == (98, 98), reply["text"]
    assert "Not counted here (2 points, checked by the official grade): ex3: The chain for output is printed." in reply["text"]
    assert namespace.keys() == names.keys() and all(namespace[k] is v for k, v in names.items())
    assert all(sys.modules.get(name) is module for name, module in modules.items())
    assert not [name for name in sys.modules if "grader_probe" in name]
    assert torch.equal(torch.get_rng_state(), states[0]) and random.getstate() == states[2]
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), states[1], strict=True))
    assert capsys.readouterr().out == ""  # answers never travel through stdout


def test_a_wrong_answer_gets_the_checks_message(judge: JudgeProcess) -> None:
    namespace = solved_namespace()
    exec("DualNumber.cos = lambda self: DualNumber(math.cos(self.value), self.deriv * math.sin(self.value))", namespace)
    result = _plan_and_run(judge, namespace, RUBRIC, "ex2")["result"]
    assert [ex["id"] for ex in result["exercises"]] == ["ex2"]
    checks = {c["id"]: c for c in result["exercises"][0]["checks"]}
    assert checks["sin_rule"]["outcome"] == "passed"
    assert checks["cos_rule"]["outcome"] == "partial" and checks["cos_rule"]["score"] < 7, checks["cos_rule"]
    assert checks["cos_rule"]["message"].startswith("the derivative of cos has the wrong sign"), checks["cos_rule"]["message"]


@pytest.fixture
def quick_rubric(tmp_path: Path) -> Path:
    """The bundled rubric with a 1 s probe timeout (its reference named by absolute path)."""
    reference = RUBRIC.parent.parent / "reference" / "autodiff04.py"
    text = RUBRIC.read_text(encoding="utf-8").replace("probe_timeout_s: 20", "probe_timeout_s: 1")
    text = text.replace("reference: ../reference/autodiff04.py", f"reference: {json.dumps(str(reference))}")
    path = tmp_path / "quick.yaml"
    path.write_text(text, encoding="utf-8")
    return path


HANGS = """
import time

def grad_fn_chain(t):
    while True:
        pass

def manual_backprop(x1, x2, x3):
    time.sleep(3600)
"""


def test_a_function_that_never_returns_is_stopped_and_reported(judge: JudgeProcess, quick_rubric: Path) -> None:
    namespace = solved_namespace()
    exec(HANGS, namespace)
    started = time.monotonic()
    result = _plan_and_run(judge, namespace, quick_rubric, "ex1", "ex3")["result"]
    assert time.monotonic() - started < 15
    checks = {(ex["id"], c["id"]): c for ex in result["exercises"] for c in ex["checks"]}
    assert checks["ex3", "chain_is_path"]["outcome"] == "error" and "did not finish in time" in checks["ex3", "chain_is_path"]["message"]
    assert checks["ex1", "forward_anywhere"]["outcome"] == "error", checks["ex1", "forward_anywhere"]
    assert checks["ex3", "structure"]["outcome"] == "passed"
    assert any("stopped" in line and "time limit" in line for line in result["errors"])
    busy_until = time.monotonic() + 0.5  # a late interrupt would land here, in "the student's next cell"
    while time.monotonic() < busy_until:
        math.sqrt(2.0)


FAKE_RUNTIME = """
import signal

class ProbeTimeout(BaseException):
    pass

def load_modules(sources):
    pass

def install(token, namespace, seed, probe_timeout_s, publish=None, timer="alarm"):
    global STATE
    STATE = (token, namespace, publish)

def run(request_text, start=0):
    token, namespace, publish = STATE
    publish({"application/vnd.grader." + token + "+json": '{"i": 0, "ok": true, "value": 1}'}, metadata={})
    namespace["left_behind"] = 1
    namespace["x"] = "rebound"
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise {raised}
"""


@pytest.mark.parametrize("raised", ["ProbeTimeout()", "KeyboardInterrupt()"])
def test_the_kernel_is_put_back_even_when_checking_is_cut_short(raised: str) -> None:
    namespace: dict[str, Any] = {"x": 1}
    before = signal.getsignal(signal.SIGINT)
    sources = [["wire", ""], ["runtime", FAKE_RUNTIME.replace("{raised}", raised)]]
    if raised.startswith("KeyboardInterrupt"):  # a real interrupt (the student pressed stop) still stops %grade
        with pytest.raises(KeyboardInterrupt):
            run_probes(sources, "t0", "[]", namespace, 5.0)
    else:  # an interrupt that landed between the runtime's own lines: the answers so far are kept
        assert run_probes(sources, "t0", "[]", namespace, 5.0).answers == ['{"i": 0, "ok": true, "value": 1}']
    assert namespace == {"x": 1}
    assert signal.getsignal(signal.SIGINT) is before


def test_the_watchdog_never_interrupts_after_it_stops() -> None:
    # Calls that end right around the deadline, many times: an interrupt may only come while a call runs.
    fired: list[float] = []
    for _ in range(200):
        dog = Watchdog(0.001, interrupt=lambda: fired.append(time.monotonic()))
        time.sleep(0.001)
        dog.stop()
        stopped = time.monotonic()
        time.sleep(0.003)
        assert all(when <= stopped for when in fired)
    assert fired, "the watchdog never fired: the test did not exercise the race"


def test_the_watchdog_restarts_its_clock_on_each_answer() -> None:
    fired: list[int] = []
    dog = Watchdog(0.3, interrupt=lambda: fired.append(1))
    for _ in range(5):
        time.sleep(0.1)
        dog.answered()
    dog.stop()
    assert not fired
    dog = Watchdog(0.1, interrupt=lambda: fired.append(1))
    time.sleep(0.35)
    dog.stop()
    assert len(fired) >= 2  # still stuck: interrupted again


def test_grad_inference_dtype_and_anomaly_modes_are_put_back(judge: JudgeProcess) -> None:
    namespace = solved_namespace()
    exec("def checkpointed_forward(model, x, segments):\n    torch.set_default_dtype(torch.float64)\n    torch.set_grad_enabled(False)\n"
         "    return model(x)\n", namespace)
    with torch.inference_mode():
        torch.set_grad_enabled(False)
        _plan_and_run(judge, namespace, RUBRIC, "ex4")
        assert torch.is_inference_mode_enabled() and not torch.is_grad_enabled()
        torch.set_grad_enabled(True)
    assert torch.get_default_dtype() is torch.float32 and torch.is_grad_enabled() and not torch.is_anomaly_enabled()


def test_the_judge_explains_an_unknown_exercise_and_keeps_serving(judge: JudgeProcess) -> None:
    reply = judge.ask("plan", rubric=str(RUBRIC), notebook=None, only=["ex9"], have_sources=None)
    assert not reply["ok"] and reply["message"] == "ex9: no such exercise in 04_automatic_differentiation (choose from ex1, ex2, ex3, ex4)"
    again = judge.ask("plan", rubric=str(RUBRIC), notebook=None, only=["ex1"], have_sources=None)
    assert again["ok"] and "sources" in again
    cached = judge.ask("plan", rubric=str(RUBRIC), notebook=None, only=["ex1"], have_sources=again["sources_sha"])
    assert "sources" not in cached and cached["calls"] == again["calls"]  # the same questions each time: the seed is fixed


@pytest.mark.parametrize(("failures", "said", "reply"), [
    (0, [], {"ok": True}),
    (1, ["%grade: the grader's judge process stopped (gone); it was restarted."], {"ok": True}),
    (2, ["%grade: the grader's judge process stopped (gone); it was restarted.", "gave up (gone)"], None),
])
def test_a_stopped_judge_is_restarted_and_asked_once_more(
    monkeypatch: pytest.MonkeyPatch, failures: int, said: list[str], reply: dict[str, Any] | None,
) -> None:
    shown: list[str] = []
    restarts: list[bool] = []
    monkeypatch.setattr(magic, "show_message", shown.append)
    monkeypatch.setattr(magic, "_judge", lambda restart=False: restarts.append(restart))
    asked = iter(range(3))

    def ask() -> dict[str, Any]:
        if next(asked) < failures:
            raise magic.JudgeUnavailable("gone")
        return {"ok": True}

    assert magic._asking_a_restarted_judge_again(ask, "gave up ({gone})") == reply
    assert shown == said and restarts == [True] * min(failures, 1)


def test_a_dead_judge_is_reported_not_waited_for() -> None:
    process = JudgeProcess([sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"])
    process.start()
    from grader.live.magic import JudgeUnavailable

    with pytest.raises(JudgeUnavailable) as gone:
        for _ in range(50):  # it may still be starting when asked first
            process.ask("plan", timeout_s=5)
            time.sleep(0.1)
    assert "it stopped" in str(gone.value)


# ------------------------------------------------------------------ where students are


LIGHT = WITHOUT_POSIX + textwrap.dedent(
    """
    import grader
    heavy = [name for name in ("torch", "nbclient", "yaml", "jsonschema", "numpy") if name in sys.modules]
    assert not heavy, f"import grader imported {heavy}"
    assert callable(grader.load_ipython_extension) and callable(grader.unload_ipython_extension)
    import grader.live.magic
    heavy = [name for name in ("torch", "nbclient", "yaml", "jsonschema", "numpy", "grader.pipeline") if name in sys.modules]
    assert not heavy, f"the kernel side imported {heavy}"
    import grader.live.judge, grader.reporters.notebook
    leaked = [name for name in ("resource", "fcntl", "termios") if name in sys.modules]
    assert not leaked, f"imported anyway: {leaked}"
    """
)


def test_the_magic_and_its_judge_import_without_posix_only_modules_and_the_kernel_side_stays_light() -> None:
    done = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True, text=True, timeout=120, cwd=RUBRIC.parent.parent)
    assert done.returncode == 0, done.stderr[-3000:]


def test_without_its_notebook_file_percent_grade_picks_the_assignment_by_the_names_the_kernel_defines() -> None:
    from grader.errors import UsageError
    from grader.live.judge import resolve_rubric
    from grader.live.magic import defined_names_of

    class LeakyReLUFunction:
        def forward(self) -> None: ...

        def backward(self) -> None: ...

    namespace = {"LeakyReLUFunction": LeakyReLUFunction, "softmax": len, "cross_entropy": len, "cross_entropy_grad": len,
                 "build_mlp": len, "_hidden": 1, "In": []}
    names = defined_names_of(namespace)
    assert {"LeakyReLUFunction.forward", "LeakyReLUFunction.backward", "softmax"} <= set(names) and "_hidden" not in names
    path, why = resolve_rubric(None, None, names)
    assert path.name == "05_custom_autograd_and_training.yaml"
    assert why == "the kernel defines the answers of this assignment (4 of 4 exercises)"
    with pytest.raises(UsageError, match="does not say which notebook file it runs"):
        resolve_rubric(None, None, ["x", "y"])


def test_a_kernel_that_cannot_say_its_assignment_gets_every_installed_one_warmed_at_load() -> None:
    from grader.assignments import installed_assignments
    from grader.live.judge import Judge

    judge = Judge()
    assert judge.handle({"op": "warm", "rubric": None, "notebook": None, "names": []}) == {"id": None, "ok": True}
    assert judge.warmed() == {a.rubric_path.resolve() for a in installed_assignments()}  # the first %grade --rubric ID plans nothing
    chosen = Judge()
    chosen.handle({"op": "warm", "rubric": "05_custom_autograd_and_training", "notebook": None, "names": []})
    assert [path.name for path in chosen.warmed()] == ["05_custom_autograd_and_training.yaml"]  # a known choice warms only it
