"""Judge stage: check kinds, registered by name so that a rubric can use them.

How to write a check kind
-------------------------
Subclass :class:`Check`, give it a unique ``kind`` name and a JSON schema for
its ``params`` built with :func:`grader.checks.schema.kind_params` (the rubric
is validated against it on load, and it documents every parameter: read a
parameter with :meth:`Check.param` to get its declared default), say what the
student kit and ``%grade`` must know about it in the class attributes
``params_hold_answers`` and ``reads_printed_output``, decorate it with
:func:`register`, and implement two methods (and, optionally,
``rubric_problems``, ``reference_names`` and ``reference_params``, which the
rubric loader calls to refuse params the schema cannot judge and reference names
that do not exist, and to read params from the reference module's source):

``plan(rng)``
    Return the :class:`~grader.probes.protocol.ProbeCall` list this check needs from the
    kernel. Draw every random input from ``rng`` (seeded from the rubric and the
    submission, so a regrade asks the same questions). Ask for data only.

``judge(calls, answers, ctx)``
    A pure function of the calls, the kernel's answers (same order) and the
    :class:`JudgeContext` (reference module, execution record). Return a
    :class:`~grader.results.Verdict`. It runs in the grader's process and must
    never trust a value it has not checked the shape and type of. Start with
    :func:`read_answer`, the one reading of the shapes every probe answer may
    take (missing, None, not a function, raised, a stub), so that every kind
    words them alike.

Kinds in other packages are found through the ``grader.checks`` entry-point
group, so a new assignment can bring its own kinds without touching the core.
This module is the contract only: :mod:`grader.checks.registry` imports every
kind, and :data:`grader.checks.registry.CHECK_KINDS` is the full registry.
"""

from __future__ import annotations

import copy
import math
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ClassVar

from grader.probes import wire
from grader.probes.protocol import Answer, ProbeCall
from grader.results import Execution, Failure, Verdict
from grader.rubric import CheckSpec
from grader.shorten import shorten

_REGISTERED: dict[str, type[Check]] = {}  # by register(); grader.checks.registry.CHECK_KINDS is this dict with every kind in it


@dataclass(frozen=True)
class JudgeContext:
    """What a judge may consult besides the answers: the reference, the execution record, the submission's own text.

    ``written`` holds the written answers of the notebook's markdown cells tagged
    ``answer:NAME`` (:func:`grader.load.written_answers`), read from the file in
    the grader's process: a name is there when such a cell exists, with '' when
    it holds only the template's placeholder.
    """

    reference: ModuleType
    execution: Execution
    sources: dict[int, str]
    written: dict[str, str] = field(default_factory=dict)

    def why_missing(self, name: str) -> str:
        """A hint for a name the kernel did not have: the failed cell that mentions it, if any."""
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        for cell in self.execution.cells:
            failed = cell.status in {"error", "timeout", "crashed", "skipped", "not_run"}
            if failed and pattern.search(self.sources.get(cell.number, "")):
                error, line = split_cell_error(cell.error or cell.status.replace("_", " "))
                where = where_in_cell(cell.number, self.sources, line)
                return f" ({cell_label(cell.number, self.sources)}, which defines it, did not finish: {error}{'; ' + where if where else ''})"
        return ""


_LINE_SUFFIX = re.compile(r"\s*\((?:cell line|[^()]*?\.py, line) (\d+)\)\s*$")


def split_cell_error(raw: str) -> tuple[str, int | None]:
    """A cell's error without IPython's internal file name, and the line of the cell it names (if any).

    ``SyntaxError: invalid syntax (2052128463.py, line 30)`` -> ``("SyntaxError: invalid syntax", 30)``.
    """
    match = _LINE_SUFFIX.search(raw)
    if not match:
        return raw, None
    return raw[: match.start()], int(match.group(1))


def cell_label(number: int, sources: dict[int, str]) -> str:
    """A cell as a student counts it: ``code cell K``, its place among the code cells (``number`` counts markdown cells too)."""
    return f"code cell {sorted(sources).index(number) + 1}" if number in sources else f"cell {number}"


def where_in_cell(number: int, sources: dict[int, str], line: int | None) -> str:
    """Where in the notebook: the line of the error, if known, in the cell shown by its first line ('' if unknown)."""
    first = first_line(sources.get(number, ""))
    if not first:
        return f"line {line} of that cell" if line else ""
    return f"line {line} of the cell that starts {first}" if line else f"the cell that starts {first}"


_BARE_MARKER = re.compile(r"^\s*#\s*%%\s*$")  # a .py file's cell marker with no title: nothing a student finds the cell by


def first_line(source: str, width: int = 50) -> str:
    """A cell's first non-blank line (not a bare ``# %%`` marker of a .py file), quoted and shortened at a word boundary."""
    line = " ".join(next((line for line in source.splitlines() if line.strip() and not _BARE_MARKER.match(line)), "").split())
    line = shorten(line, max(width, 30) + 24)  # room for the "…(N more characters)" it may end with
    return f'"{line}"' if line else ""


class Check(ABC):
    """Base class of check kinds; see the module docstring for the contract."""

    kind: ClassVar[str]
    params_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    # The rubric's params are the answer (a written answer's key ideas): a student kit must not carry them, and puts
    # an instructor_graded check in their place (grader/kit/build.py).
    params_hold_answers: ClassVar[bool] = False
    # The judge reads what the notebook printed (ctx.execution.printed_text): %grade, which judges a running kernel,
    # can judge it only from the saved notebook's outputs (grader/live/judge.py).
    reads_printed_output: ClassVar[bool] = False
    # The judge reads written answers from the notebook's markdown cells (ctx.written): %grade reads them from the saved
    # notebook file (grader/live/judge.py).
    reads_answer_cells: ClassVar[bool] = False

    def __init__(self, spec: CheckSpec) -> None:
        self.spec = spec
        self.params = spec.params

    def param(self, name: str) -> Any:
        """The rubric's value of parameter ``name``, or the default the kind's schema declares for it (None without one)."""
        if name in self.params:
            return self.params[name]
        return copy.deepcopy(self.params_schema.get("properties", {}).get(name, {}).get("default"))

    def tolerance(self) -> tuple[float, float]:
        """``(rtol, atol)`` for :func:`grader.checks.compare.close`: the rubric's, else the kind's defaults."""
        return float(self.param("rtol")), float(self.param("atol"))

    def names(self) -> set[str]:
        """The submission's global names this check reads (to tell which cells an exercise depends on)."""
        found: set[str] = set()
        for key in ("name", "names", "function", "class_name", "model", "tensor", "chain_function"):
            value = self.params.get(key)
            if isinstance(value, str):
                found.add(value)
            elif isinstance(value, list):
                found.update(v for v in value if isinstance(v, str))
        return found

    @classmethod
    def rubric_problems(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        """Optional: what is wrong with valid-looking ``params`` (a bad regular expression...), as (field, problem).

        Called when the rubric loads, so such faults stop the instructor there
        rather than surfacing in a student's report.
        """
        return []

    @classmethod
    def reference_names(cls, params: dict[str, Any]) -> list[tuple[str, str]]:
        """Optional: the names the rubric's reference module must define for these ``params``, as (field, name)."""
        return []

    @classmethod
    def reference_params(cls, params: dict[str, Any], reference_source: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Optional: params read from the reference module's source when the rubric loads, and problems as (field, problem).

        The loader adds the params to the check's (the ``observation`` kind's
        function source); any problem refuses the rubric.
        """
        return {}, []

    def warm_up(self, calls: Sequence[ProbeCall]) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Optional: do slow first-time work for ``judge`` now (it runs while the kernel executes)."""

    @abstractmethod
    def plan(self, rng: random.Random) -> list[ProbeCall]:
        """The probe calls this check needs."""

    @abstractmethod
    def judge(self, calls: Sequence[ProbeCall], answers: Sequence[Answer], ctx: JudgeContext) -> Verdict:
        """The verdict, from the answers to :meth:`plan`'s calls."""


def register(cls: type[Check]) -> type[Check]:
    """Class decorator: make a check kind available to rubrics under ``cls.kind``."""
    if cls.kind in _REGISTERED and _REGISTERED[cls.kind] is not cls:
        raise ValueError(f"check kind {cls.kind!r} is registered twice")
    _REGISTERED[cls.kind] = cls
    return cls


def registered_kinds() -> dict[str, type[Check]]:
    """The kinds registered so far, by name (the registry itself, not a copy).

    Only those whose modules were imported: use :data:`grader.checks.registry.CHECK_KINDS`, which has them all.
    """
    return _REGISTERED


def answer_trouble(answer: Answer, name: str, ctx: JudgeContext) -> Verdict | None:
    """The verdict for an answer that carries no usable value (or None when it does).

    The probe call itself failed: no answer (the kernel died), ``NameError``
    (not defined), ``NotImplementedError`` (a stub), a timeout, or any other
    exception the student's code raised while it was probed.
    """
    if answer.ok:
        return None
    if answer.missing:
        return Verdict.error(f"no answer while checking `{name}`: the kernel died or ran out of time")
    if answer.was_left_out:
        return Verdict.error(f"`{name}` was not checked here: two earlier checks of this exercise stopped the kernel")
    if answer.error_type == "BadAnswer":
        return Verdict.broken(f"the kernel's answer while checking `{name}` does not follow the probe protocol ({answer.error_message})")
    if answer.error_type == "NameError":
        return _not_found(name, ctx)
    return raised_verdict({"type": answer.error_type, "message": answer.error_message}, f"`{name}`")


def read_answer(answer: Answer, name: str, ctx: JudgeContext) -> dict[str, Any] | Verdict:
    """The record a probe answered about the submission's ``name``, or the verdict when there is nothing to judge.

    The one way every check kind starts reading an answer: first
    :func:`answer_trouble`, then the shapes every probe record may take:
    ``{"missing": name or true}`` (not defined), ``{"rejected": "None"}``
    (still None), ``{"not_callable": type}`` (not a function) and
    ``{"raised": error, "not_implemented": true}`` (a stub that raises).
    """
    trouble = answer_trouble(answer, name, ctx)
    if trouble is not None:
        return trouble
    value = answer.value if isinstance(answer.value, dict) else {}
    missing = value.get("missing")
    if missing:
        return _not_found(missing if isinstance(missing, str) else name, ctx)
    if value.get("rejected") == "None":
        return Verdict.not_attempted(f"not attempted: `{name}` is still None")
    if "not_callable" in value:
        return Verdict.failed(f"`{name}` is {article(str(value['not_callable']))}, not a function")
    if value.get("not_implemented") is True:
        return Verdict.not_attempted(f"not attempted: `{name}` still raises NotImplementedError")
    return value


def _not_found(name: str, ctx: JudgeContext) -> Verdict:
    return Verdict.not_attempted(f"not found: the submission defines no `{name}`{ctx.why_missing(name)}")


def raised_message(error: Any, what: str) -> str:
    """``what`` raised something (an error record ``{"type", "message"}``), in a student's words."""
    error = error if isinstance(error, dict) else {}
    kind = str(error.get("type") or "an error")
    if kind == "Timeout":
        return f"{what} did not finish in time"
    message = shorten(str(error.get("message", "")), 200)
    return f"{what} raised {kind}: {message}" if message else f"{what} raised {kind}"


def raised_verdict(error: Any, what: str) -> Verdict:
    """The verdict when ``what`` raised: a stub's NotImplementedError is "not attempted", anything else the code's fault (``raised``)."""
    if isinstance(error, dict) and error.get("type") == "NotImplementedError":
        return Verdict.not_attempted(f"not attempted: {what} still raises NotImplementedError")
    return Verdict.error(raised_message(error, what)).because(Failure.RAISED)


def article(type_name: str) -> str:
    """A type name with its article, as in "`x` is a list": ``None`` stays bare."""
    if type_name == "None":
        return "None"
    return ("an " if type_name[:1].lower() in "aeiou" else "a ") + type_name


def number_of(encoded: Any) -> float | None:
    """The finite float in a wire number record (``{"number": x}``), or None when it is not one."""
    number = wire.number_of(encoded)
    return number if number is not None and math.isfinite(number) else None


def describe_non_number(encoded: Any) -> str:
    """Why a wire-encoded value is not a usable number, in a student's words."""
    if not isinstance(encoded, dict):
        return "not a number"
    if encoded.get("missing"):
        return "not defined"
    number = wire.number_of(encoded)
    if number is not None and not math.isfinite(number):
        return f"{encoded['number']}, not a finite number"
    if "rejected" in encoded:
        return f"{encoded['rejected']}, not a number"
    return "not a number"


