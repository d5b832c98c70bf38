# Over 500 lines: the kernel side of %grade (argument parsing, the probes in the live kernel, the display) shares the
# state it restores after checking; splitting it is worth doing when it grows again, not before the live tests cover a split.
"""The kernel side of ``%grade``: the magic, its arguments, the probes run in the live kernel, and the display.

``%load_ext grader`` (or :func:`register`) adds the line magic ``%grade``:

- ``%grade`` checks the definitions in the running kernel against the
  notebook's assignment; ``%grade ex2 ex3`` only those exercises;
- ``%grade --rubric PATH`` grades against that rubric;
- ``%grade --fresh [PATH]`` runs the official grade: ``python -m grader`` on
  the saved notebook, rerun from top to bottom in a fresh kernel.

What runs where: the probes (:mod:`grader.probes`, the same code the official
grade sends to its kernel) run here, in the student's kernel, installed into a
private module object that is never put in ``sys.modules`` nor in the user's
namespace; their answers are collected in a list, never sent through the
student's output. Planning, judging, scoring and rendering happen in a
separate process (:mod:`grader.live.judge`), so no rubric, reference or
judging code ever enters the student's namespace. Afterwards the kernel is as
it was: the same global names bound to the same objects, ``sys.modules``
entries unchanged (a module imported for the first time while checking stays
imported, as any import would), autograd's grad mode, inference mode, anomaly
mode and default dtype, the ``random``, numpy and torch generators, and the
SIGINT handler. What a student's function changes *inside* an object while it
is checked (appending to a global list, say) cannot be undone.

A call that runs past the rubric's ``probe_timeout_s`` is interrupted by a
watchdog thread (a SIGINT sent to the main thread where the platform has
``pthread_kill``, else ``_thread.interrupt_main``, which Windows has too) and
reported as a timeout; the kernel stays usable. Only the standard library is
imported here (torch and numpy when the probes run), so ``%load_ext grader``
is quick and works on Linux, macOS and Windows.
"""

from __future__ import annotations

import collections
import contextlib
import html
import io
import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

USAGE = """\
%grade                  check the definitions in this kernel against the notebook's assignment
%grade ex2 [ex3 ...]    only these exercises
%grade --rubric PATH    grade against this rubric, or an installed assignment's id (when the notebook's cannot be found)
%grade --fresh [PATH]   the official grade: rerun the saved notebook (or PATH) from top to bottom in a fresh kernel
%grade --help           this text"""

NOTEBOOK_SUFFIXES = (".ipynb", ".py")
JUDGE_TIMEOUT_S = 600.0  # a reply takes well under a second once warm; the first waits for the judge's imports
_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


class ArgumentProblem(ValueError):
    """``%grade`` was given arguments it cannot use; the message says which and how to fix it."""


@dataclass(frozen=True)
class GradeArgs:
    """What ``%grade`` was asked: exercises (empty: all), a rubric, the official grade, a notebook path, or the help."""

    exercises: tuple[str, ...] = ()
    rubric: str | None = None
    fresh: bool = False
    path: str | None = None
    help: bool = False


def parse_arguments(line: str, posix: bool = os.name != "nt") -> GradeArgs:
    """Read the magic's line; a word ending in ``.ipynb`` or ``.py`` is the notebook, any other word an exercise id.

    Windows paths keep their backslashes (``posix=False`` there, as IPython
    does); quotes around a word are taken off either way.
    """
    try:
        words = [_unquote(word) for word in shlex.split(line, posix=posix)]
    except ValueError as exc:
        raise ArgumentProblem(f"cannot read the arguments ({exc}); see %grade --help") from None
    exercises: list[str] = []
    rubric = path = None
    fresh = wanted_help = False
    index = 0
    while index < len(words):
        word = words[index]
        if word in ("-h", "--help"):
            wanted_help = True
        elif word == "--fresh":
            fresh = True
        elif word == "--rubric" or word.startswith("--rubric="):
            if "=" in word:
                rubric = word.partition("=")[2]
            elif index + 1 < len(words):
                index += 1
                rubric = words[index]
            if not rubric:
                raise ArgumentProblem("--rubric needs a path or an assignment id: %grade --rubric path/to/rubric.yaml")
        elif word.startswith("-"):
            raise ArgumentProblem(f"unknown option {word!r}; see %grade --help")
        elif word.lower().endswith(NOTEBOOK_SUFFIXES):
            if path is not None:
                raise ArgumentProblem(f"two notebooks given ({path!r} and {word!r}); give one")
            path = word
        else:
            exercises.append(word)
        index += 1
    return GradeArgs(tuple(dict.fromkeys(exercises)), rubric, fresh, path, wanted_help)


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


def session_notebook(user_ns: Mapping[str, Any], environ: Mapping[str, str], cwd: Path) -> Path | None:
    """The notebook file this kernel runs, as the frontend tells it (None when it does not, or the file is gone).

    VS Code sets ``__vsc_ipynb_file__`` in the user namespace; JupyterLab and
    Notebook 7 start the kernel with ``JPY_SESSION_NAME`` (an absolute path in
    recent jupyter_server, a path relative to the server's root in older ones),
    which ipykernel copies to ``__session__``. A renamed notebook leaves a stale
    name behind: only an existing file counts.
    """
    named = [user_ns.get("__vsc_ipynb_file__"), user_ns.get("__session__"), environ.get("JPY_SESSION_NAME")]
    for value in named:
        if not isinstance(value, str) or not value.strip():
            continue
        given = Path(value.strip())
        for candidate in [given] if given.is_absolute() else [cwd / given, cwd / given.name]:
            if candidate.suffix.lower() in NOTEBOOK_SUFFIXES and candidate.is_file():
                return candidate.resolve()
    return None


# ------------------------------------------------------------------ the judge process


class JudgeUnavailable(RuntimeError):
    """The judge process died or stopped answering; the message has the end of what it wrote to stderr."""


class JudgeProcess:
    """``python -m grader.live.judge``, kept for the kernel's life; requests and replies are JSON lines."""

    def __init__(self, command: list[str] | None = None) -> None:
        self._command = command or [sys.executable, "-m", "grader.live.judge"]
        self._process: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._next_id = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the process (returns at once: its imports go on in the background)."""
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8"}
        self._replies = queue.Queue()
        self._process = subprocess.Popen(
            self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=_PACKAGE_PARENT,  # not the notebook's folder: a file there named like a module must not shadow the grader's
            env=env, creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
        threading.Thread(target=self._read_replies, args=(self._process, self._replies), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self._process,), daemon=True).start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def send(self, op: str, **fields: Any) -> int:
        """Send one request; its id."""
        if not self.running:
            raise JudgeUnavailable(self.death())
        assert self._process is not None and self._process.stdin is not None
        with self._lock:
            self._next_id += 1
            number = self._next_id
        line = json.dumps({"id": number, "op": op, **fields}, ensure_ascii=True) + "\n"
        try:
            self._process.stdin.write(line.encode("ascii"))
            self._process.stdin.flush()
        except OSError:
            raise JudgeUnavailable(self.death()) from None
        return number

    def ask(self, op: str, timeout_s: float = JUDGE_TIMEOUT_S, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its reply (replies to earlier, abandoned requests are skipped)."""
        number = self.send(op, **fields)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                reply = self._replies.get(timeout=0.2)  # short waits: a KeyboardInterrupt gets through on every platform
            except queue.Empty:
                if time.monotonic() > deadline:
                    self.stop()
                    raise JudgeUnavailable(f"it gave no answer within {timeout_s:g}s") from None
                continue
            if reply is None:
                raise JudgeUnavailable(self.death())
            if reply.get("id") == number:
                return reply

    def stop(self) -> None:
        """End the process (closing its stdin is enough; it is killed if it does not go)."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def death(self) -> str:
        """How the process ended, with the end of what it wrote to stderr."""
        said = " | ".join(line for line in self._stderr if line.strip())[-1500:]
        return f"it stopped{': ' + said if said else ''}"

    @staticmethod
    def _read_replies(process: subprocess.Popen[bytes], replies: queue.Queue[dict[str, Any] | None]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            if isinstance(reply, dict):
                replies.put(reply)
        replies.put(None)  # end of stream: the process is gone

    def _read_stderr(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self._stderr.append(line.decode("utf-8", "replace").rstrip())


# ------------------------------------------------------------------ probes in the live kernel


@dataclass
class ProbeRun:
    """What the probes answered in the kernel (the runtime's JSON texts), and what happened while they ran."""

    answers: list[str] = field(default_factory=list)
    interrupted: int = 0
    printed: int = 0
    seconds: float = 0.0


def interrupt_main_thread() -> None:
    """Interrupt the main thread: a real SIGINT where ``pthread_kill`` exists (it also ends a blocking sleep), else a simulated one."""
    kill = getattr(signal, "pthread_kill", None)
    main = threading.main_thread().ident
    if kill is not None and main is not None:
        kill(main, signal.SIGINT)
    else:
        import _thread

        _thread.interrupt_main()


class Watchdog:
    """Interrupts the main thread when no answer came within ``timeout_s`` (again after each further ``timeout_s``).

    :meth:`answered` restarts the clock; after :meth:`stop` returns no
    interrupt is sent any more (the decision to send one and the send happen
    under the same lock that ``stop`` takes).
    """

    def __init__(self, timeout_s: float, interrupt: Callable[[], None] = interrupt_main_thread) -> None:
        self._timeout = timeout_s
        self._interrupt = interrupt
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + timeout_s
        self._stopped = False
        self._wake = threading.Event()
        self.fired = 0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def answered(self) -> None:
        with self._lock:
            self._deadline = time.monotonic() + self._timeout

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._wake.set()
        self._thread.join()

    def _watch(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                left = self._deadline - time.monotonic()
                if left <= 0:
                    self.fired += 1
                    self._interrupt()
                    self._deadline = time.monotonic() + self._timeout
                    left = self._timeout
            self._wake.wait(min(left, 0.5))


class _CountingSink(io.TextIOBase):
    """Where the student's prints go while their code is checked: counted, not kept."""

    def __init__(self) -> None:
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.count += len(text)
        return len(text)


_MISSING = object()


@dataclass(frozen=True)
class KernelState:
    """What checking must not change in the kernel, taken before the probes run and put back after."""

    namespace: dict[str, Any]
    modules: dict[str, Any]
    sigint: Any
    python_rng: Any
    numpy_rng: Any
    torch: dict[str, Any]

    @classmethod
    def take(cls, user_ns: dict[str, Any]) -> KernelState:
        """Snapshot the kernel (importing numpy and torch first: the probes import them anyway)."""
        import random

        import numpy
        import torch

        main = threading.current_thread() is threading.main_thread()
        saved_torch = {
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
            "grad": torch.is_grad_enabled(),
            "dtype": torch.get_default_dtype(),
            "anomaly": (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
        }
        return cls(
            dict(user_ns), dict(sys.modules), signal.getsignal(signal.SIGINT) if main else _MISSING,
            random.getstate(), numpy.random.get_state(), saved_torch,
        )

    def restore(self, user_ns: dict[str, Any]) -> None:
        """Put back what :meth:`take` saw (global bindings, modules, modes, generators, the SIGINT handler)."""
        import random

        import numpy
        import torch

        for name in [name for name in user_ns if name not in self.namespace]:
            del user_ns[name]
        for name, value in self.namespace.items():
            if user_ns.get(name, _MISSING) is not value:
                user_ns[name] = value
        for name, module in self.modules.items():
            if sys.modules.get(name, _MISSING) is not module:
                sys.modules[name] = module
        saved = self.torch
        torch.set_rng_state(saved["rng"])
        if saved["cuda_rng"] is not None:
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        torch.set_grad_enabled(saved["grad"])
        if torch.get_default_dtype() is not saved["dtype"]:
            torch.set_default_dtype(saved["dtype"])
        if (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()) != saved["anomaly"]:
            torch.set_anomaly_enabled(*saved["anomaly"])
        random.setstate(self.python_rng)
        numpy.random.set_state(self.numpy_rng)
        if self.sigint is not _MISSING:
            signal.signal(signal.SIGINT, self.sigint)


def run_probes(sources: list[list[str]], token: str, calls: str, user_ns: dict[str, Any], timeout_s: float) -> ProbeRun:
    """Install the probe runtime privately, run ``calls`` on the user's namespace, and leave the kernel as it was."""
    started = time.monotonic()
    state = KernelState.take(user_ns)
    run = ProbeRun()
    mime = f"application/vnd.grader.{token}+json"
    watchdog: Watchdog | None = None

    def collect(data: dict[str, Any], metadata: Any = None) -> None:
        text = data.get(mime)
        if isinstance(text, str):
            run.answers.append(text)
        if watchdog is not None:
            watchdog.answered()

    sink = _CountingSink()
    try:
        runtime = _private_runtime(sources)
        runtime["install"](token, user_ns, None, timeout_s, publish=collect, timer="interrupt")
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            watchdog = Watchdog(timeout_s)
            try:
                runtime["run"](calls, 0)
            except runtime["ProbeTimeout"]:
                pass  # an interrupt that landed between the runtime's own lines: the calls not answered count as unanswered
            finally:
                watchdog.stop()
                _let_pending_signals_run()
    finally:
        state.restore(user_ns)
    run.interrupted = watchdog.fired if watchdog is not None else 0
    run.printed = sink.count
    run.seconds = time.monotonic() - started
    return run


def _private_runtime(sources: list[list[str]]) -> dict[str, Any]:
    """The probe code booted in a module object of its own (never in sys.modules), as the official grade's first cell boots it."""
    from grader.probes.boot import boot

    return boot([(label, source) for label, source in sources], "_grader_probe_live").__dict__


def _let_pending_signals_run() -> None:
    """Give an interrupt the watchdog sent just before it stopped the chance to arrive while the runtime still ignores it.

    The runtime's SIGINT handler only acts during a call; once the original
    handler is back, a late interrupt would raise in the student's code.
    Python runs signal handlers between bytecodes of the main thread, so a
    short sleep (a system call the signal can end) and a few Python calls suffice.
    """
    time.sleep(0.001)
    for _ in range(3):
        (lambda: None)()


# ------------------------------------------------------------------ the magic


@dataclass
class _Session:
    judge: JudgeProcess | None = None
    sources: list[list[str]] | None = None
    sources_sha: str | None = None


_SESSION = _Session()


def register(ipython: Any = None) -> None:
    """Add ``%grade`` to an IPython shell (the current one by default) and start the judge process in the background."""
    if ipython is None:
        from IPython import get_ipython

        ipython = get_ipython()
        if ipython is None:
            raise RuntimeError("%grade needs IPython or Jupyter: run this in a notebook or an IPython console")
    ipython.register_magic_function(grade_magic, magic_kind="line", magic_name="grade")
    judge = _judge()
    with contextlib.suppress(JudgeUnavailable):
        judge.send("warm", **_where(GradeArgs(), ipython.user_ns))


def unregister(ipython: Any = None) -> None:
    """Stop the judge process (``%unload_ext grader``)."""
    if _SESSION.judge is not None:
        _SESSION.judge.stop()
        _SESSION.judge = None


def _judge(restart: bool = False) -> JudgeProcess:
    """The judge process, started if there is none; one found dead is restarted, and the student told."""
    current = _SESSION.judge
    if current is not None and current.running and not restart:
        return current
    if current is not None:
        if not restart:
            show_message(f"%grade: the grader's judge process had stopped ({current.death()}); it was restarted.")
        current.stop()
    _SESSION.judge = JudgeProcess()
    _SESSION.judge.start()
    return _SESSION.judge


def _where(args: GradeArgs, user_ns: Mapping[str, Any]) -> dict[str, Any]:
    """The rubric and notebook to tell the judge, as absolute paths (the judge runs in another folder)."""
    notebook = Path(args.path).resolve() if args.path else session_notebook(user_ns, os.environ, Path.cwd())
    rubric = args.rubric if args.rubric is None or not Path(args.rubric).exists() else str(Path(args.rubric).resolve())  # else an id
    return {"rubric": rubric, "notebook": str(notebook) if notebook else None, "names": defined_names_of(user_ns)}


_MAX_NAMES = 2000


def defined_names_of(user_ns: Mapping[str, Any]) -> list[str]:
    """The names the running kernel defines, methods as ``Class.method``: plain strings, so that the judge can tell which
    assignment's answers they are when the kernel does not know its notebook file. Only names are read, no value is called."""
    names: list[str] = []
    for name, value in list(user_ns.items())[:_MAX_NAMES]:
        if not isinstance(name, str) or name.startswith("_"):
            continue
        names.append(name)
        if isinstance(value, type):
            names += [f"{name}.{attribute}" for attribute in list(type.__dict__["__dict__"].__get__(value))[:100]
                      if isinstance(attribute, str) and not attribute.startswith("__")]
    return names[:_MAX_NAMES]


def grade_magic(line: str) -> None:
    """Grade this notebook: ``%grade``, ``%grade ex2``, ``%grade --fresh`` (the official grade), ``%grade --help``."""
    from IPython import get_ipython

    shell = get_ipython()
    try:
        args = parse_arguments(line)
    except ArgumentProblem as problem:
        show_message(f"%grade: {problem}")
        return
    try:
        if args.help:
            show_message(USAGE)
        elif args.fresh:
            _grade_fresh(args, shell.user_ns)
        else:
            _grade_live(args, shell.user_ns)
    except KeyboardInterrupt:  # the student pressed stop while the judge was busy: its late reply is skipped next time
        show_message("%grade: stopped.")


def _grade_live(args: GradeArgs, user_ns: dict[str, Any]) -> None:
    if threading.current_thread() is not threading.main_thread():
        show_message("%grade: run it in the notebook's main shell (it needs the main thread to stop code that runs too long).")
        return
    reply = _asking_a_restarted_judge_again(
        lambda: _live_once(args, user_ns),
        "%grade: the grader's judge process failed twice ({gone}). Restart the kernel, or run %grade --fresh.",
    )
    if reply is not None:
        show(reply)


def _asking_a_restarted_judge_again(ask: Callable[[], dict[str, Any] | None], gave_up: str) -> dict[str, Any] | None:
    """``ask()``; when the judge process stopped, ``ask()`` again of a restarted one; None (after ``gave_up``) if it fails twice."""
    for attempt in (1, 2):
        try:
            return ask()
        except JudgeUnavailable as gone:
            if attempt == 2:
                show_message(gave_up.format(gone=gone))
                break
            show_message(f"%grade: the grader's judge process stopped ({gone}); it was restarted.")
            _judge(restart=True)
    return None


def _live_once(args: GradeArgs, user_ns: dict[str, Any]) -> dict[str, Any] | None:
    judge = _judge()
    plan = judge.ask("plan", only=list(args.exercises), have_sources=_SESSION.sources_sha, **_where(args, user_ns))
    if not plan.get("ok"):
        show_message(f"%grade: {plan.get('message', 'the grader could not plan the checks')}")
        return None
    if "sources" in plan:
        _SESSION.sources, _SESSION.sources_sha = plan["sources"], plan["sources_sha"]
    assert _SESSION.sources is not None
    try:
        run = run_probes(_SESSION.sources, plan["token"], plan["calls"], user_ns, float(plan["probe_timeout_s"]))
    except Exception as exc:  # noqa: BLE001 - the probe runtime failed to start here: the grader's problem, said plainly
        show_message(f"%grade: the grader could not check this kernel ({type(exc).__name__}: {exc}); this is not your fault.")
        return None
    reply = judge.ask("judge", answers=run.answers, interrupted=run.interrupted, printed=run.printed, seconds=round(run.seconds, 3))
    if not reply.get("ok"):
        show_message(f"%grade: {reply.get('message', 'the grader could not judge the answers')}")
        return None
    return reply


def fresh_command(notebook: Path, args: GradeArgs) -> list[str]:
    """The official grade of ``notebook``: the ``grade`` command, run by this kernel's Python."""
    command = [sys.executable, "-m", "grader", str(notebook), "--format", "json"]
    if args.rubric:
        command += ["--rubric", str(Path(args.rubric).resolve()) if Path(args.rubric).exists() else args.rubric]
    for exercise in args.exercises:
        command += ["--only", exercise]
    return command


def _grade_fresh(args: GradeArgs, user_ns: dict[str, Any]) -> None:
    notebook = Path(args.path).resolve() if args.path else session_notebook(user_ns, os.environ, Path.cwd())
    if notebook is None:
        show_message(
            "%grade --fresh: this kernel does not say which notebook file it runs (JupyterLab, Notebook 7 and VS Code do). "
            "Give the path: %grade --fresh path/to/notebook.ipynb"
        )
        return
    if not notebook.is_file():
        show_message(f"%grade --fresh: no such file: {notebook}")
        return
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8"}
    process = subprocess.Popen(
        fresh_command(notebook, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=_PACKAGE_PARENT, env=env,
        creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
    )
    try:
        out, err = process.communicate()
    except KeyboardInterrupt:
        process.kill()
        process.communicate()
        show_message("%grade --fresh: stopped.")
        return
    try:
        report = json.loads(out.decode("utf-8", "replace"))
    except ValueError:
        said = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
        show_message(f"%grade --fresh: the official grade could not run: {said[-1] if said else f'exit status {process.returncode}'}")
        return
    reply = _asking_a_restarted_judge_again(
        lambda: _judge().ask("render_fresh", report=report, notebook=str(notebook)),
        "%grade --fresh: the result could not be shown ({gone}).",
    )
    if reply is None:
        return
    if reply.get("ok"):
        show(reply)
    else:
        show_message(f"%grade --fresh: {reply.get('message', 'the result could not be shown')}")


def show(reply: Mapping[str, Any]) -> None:
    """Display a rendered report: HTML where the frontend shows it, plain text elsewhere."""
    from IPython.display import display

    bundle = {"text/plain": str(reply.get("text", ""))}
    if reply.get("html"):
        bundle["text/html"] = str(reply["html"])
    display(bundle, raw=True)


def show_message(text: str) -> None:
    """Display one plain message (as text, and as preformatted HTML)."""
    from IPython.display import display

    display({"text/plain": text, "text/html": f'<pre style="white-space: pre-wrap; margin: 0;">{html.escape(text)}</pre>'}, raw=True)
