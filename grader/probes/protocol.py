"""Probe stage: what the judge asks the kernel, and the strict reading of its answers.

The checks plan *probe calls* (a probe declared in :mod:`grader.probes` and
JSON arguments that follow its request schema). They are sent to the kernel as one request in one cell; each
answer comes back as its own display output tagged with a random per-run token,
so the answers given before a crash or a timeout are kept. Answers are parsed
here, in the grader's process, with size limits and a fixed shape.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from grader.probes import PREBOOTED, answer_problem, boot_source, probe_sources, sources_digest, wire

MAX_ANSWER_BYTES = 4 * 1024 * 1024
# What one cell may print, in characters, before the kernel itself truncates it (the grader's own cap is lower).
KERNEL_OUTPUT_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class ProbeCall:
    """One question for the kernel: run probe ``probe`` with ``args``."""

    probe: str
    args: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"probe": self.probe, "args": self.args}


@dataclass(frozen=True)
class Answer:
    """The kernel's answer to one call: a value, or an error the student's code raised."""

    ok: bool
    value: Any = None
    error_type: str = ""
    error_message: str = ""

    @property
    def missing(self) -> bool:
        return self.error_type == "NoAnswer"

    @classmethod
    def no_answer(cls) -> Answer:
        return cls(False, None, "NoAnswer", "the kernel gave no answer (it died or ran out of time while this was checked)")

    @classmethod
    def left_out(cls) -> Answer:
        return cls(False, None, "LeftOut", "not asked: two earlier calls of this exercise had stopped the kernel")

    @property
    def was_left_out(self) -> bool:
        return self.error_type == "LeftOut"


@dataclass(frozen=True)
class ProbeRequest:
    """All calls of one submission, and the random token their answers must carry."""

    calls: tuple[ProbeCall, ...]
    token: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def mime(self) -> str:
        return f"application/vnd.grader.{self.token}+json"

    def prelude(
        self, seed: int, probe_timeout_s: float, output_limit: int = KERNEL_OUTPUT_LIMIT, portable: bool = False, prebooted: str = ""
    ) -> str:
        """The first cell of every run: installs the probe runtime before any student code.

        It also truncates, in the kernel, what a cell prints past ``output_limit``
        characters (defence in depth: the grader caps output itself as it arrives),
        and turns ``exit()`` into an error of its own cell. With ``portable`` the
        runtime leaves each call's time limit to the grader's interrupt instead
        of SIGALRM, which only Linux and macOS have. ``prebooted`` is what the
        warm-kernel server that forked the kernel booted the runtime from: when
        it is this grader's :func:`~grader.probes.sources_digest`, the cell takes
        that runtime (nothing else has run in the kernel yet) instead of booting it
        from ~120 KB of sources, and it fails, rather than grade without probes, if the runtime is not there.
        """
        timer = "interrupt" if portable else "alarm"
        module = f"_grader_probe_{self.token}"
        if prebooted and prebooted == sources_digest():
            take = (
                f"_gm = __import__('sys').modules.pop({PREBOOTED!r}, None)\n"
                f"if getattr(_gm, 'BOOTED_FROM', None) != {prebooted!r}:\n"
                "    raise RuntimeError('grader: the warm kernel has no probe runtime')\n"
            )
        else:
            sources = [(source.label, source.source) for source in probe_sources()]
            take = (
                "_gb = {}\n"
                f"exec(compile({boot_source()!r}, '<grader probe boot>', 'exec'), _gb)\n"
                f"_gm = _gb['boot']({sources!r}, {module!r})\n"
                "del _gb\n"
            )
        return (
            take
            + f"_gm.install({self.token!r}, get_ipython().user_ns, {int(seed)}, {float(probe_timeout_s)!r}, timer={timer!r})\n"
            f"_gm.cap_streams(get_ipython(), {int(output_limit)})\n"
            "_gm.refuse_exit(get_ipython())\n"
            f"__import__('sys').modules[{module!r}] = _gm\n"
            "del _gm\n"
        )

    def cell_source(self, start: int = 0, careful: bool = True, skip: Iterable[int] = ()) -> str:
        """The probe cell: runs the calls from ``start`` on, but those in ``skip`` (``careful``: see the runtime's ``run``)."""
        request = json.dumps([call.as_json() for call in self.calls])
        module = f"_grader_probe_{self.token}"
        return f"__import__('sys').modules[{module!r}].run({request!r}, {int(start)}, {bool(careful)}, {sorted(int(i) for i in skip)!r})\n"


def parse_answers(outputs: Iterable[str], calls: Sequence[ProbeCall], left_out: Iterable[int] = ()) -> list[Answer]:
    """Turn the tagged outputs into one :class:`Answer` per call (``no_answer`` where none came, ``left_out`` for calls not asked).

    An answer whose value does not have a shape its probe declares is not
    believed: it becomes a ``BadAnswer`` error (a grader bug, or a forgery).
    """
    answers: list[Answer | None] = [None] * len(calls)
    for text in outputs:
        parsed = _parse_one(text, len(calls))
        if parsed is not None and answers[parsed[0]] is None:
            index, answer = parsed
            problem = answer_problem(calls[index].probe, answer.value) if answer.ok else ""
            answers[index] = Answer(False, None, "BadAnswer", problem[:500]) if problem else answer
    not_asked = frozenset(left_out)
    return [answer if answer is not None else Answer.left_out() if i in not_asked else Answer.no_answer() for i, answer in enumerate(answers)]


def _parse_one(text: str, count: int) -> tuple[int, Answer] | None:
    try:
        data = wire.loads(text, MAX_ANSWER_BYTES)
    except wire.WireError:
        return None
    if not isinstance(data, dict):
        return None
    index = data.get("i")
    if type(index) is not int or not 0 <= index < count or type(data.get("ok")) is not bool:
        return None
    if data["ok"]:
        return index, Answer(True, data.get("value"))
    return index, Answer(False, None, *wire.decode_error(data.get("error")))
