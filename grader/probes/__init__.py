"""Probe stage, both sides: the questions the judge may ask the kernel, each defined once.

A *probe* is a function that runs inside the student's kernel, takes JSON
arguments chosen by a check (the request) and returns plain JSON (the answer).
Each is declared with ``@probe(request=SCHEMA, answer=SCHEMA)`` in a probe
module; both sides read that one declaration: the kernel runs the function,
the grader validates every request a check plans and every answer the kernel
sends against the schemas, so a judge never reads a key the probe does not
document.

How to write a probe
--------------------
Write a module whose top level imports only the standard library and defines
functions. It takes the torch objects it uses in an install hook: a function
of ``torch`` that returns them by name, appended to ``ON_INSTALL``;
``install`` runs every hook before any student code and keeps what they
return in ``_state``, the kernel's one snapshot of references (two modules
may take the same name only for the same object). Values cross the boundary
in the one wire format (:mod:`grader.probes.wire`, in the module's namespace
as ``wire``). Decorate each probe with ``@probe(request=..., answer=...)``:
the request schema describes the keyword arguments, the answer schema every
record it may return (use the fragments ``NUMBER``, ``TENSOR``, ``RAISED``,
``MISSING``, ``REJECTED``, ``NOT_CALLABLE`` and the helpers ``request_of``,
``record``, ``one_of_records``). The module runs in a copy of the runtime's
namespace, so it calls the runtime's helpers (``lookup``, ``call_student``,
``encode_number`` ...; listed in ``grader/probes/runtime.py``) as globals;
import them under ``if TYPE_CHECKING:`` for linters. Call student code through
``call_student`` (it catches what the code raises) and read torch through the
references ``install`` took, never through a name a student could rebind.

A package brings its own probes (with the check kinds that ask them, through
the ``grader.checks`` group) by naming the module in the ``grader.probes``
entry-point group; its source is read from the file, never imported, and sent
to the kernel after the built-in ones. Probe names are unique.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
# The codec and the runtime first; then the built-in probe modules, each run in a copy of the runtime's namespace.
BUILTIN_MODULES = ("values", "calls", "dual", "graphs", "checkpoint", "tensors", "rules", "observations")
ENTRY_POINT_GROUP = "grader.probes"


@dataclass(frozen=True)
class ProbeSource:
    """One module of probe code as the kernel receives it: a label for tracebacks and its source."""

    label: str
    source: str


@dataclass(frozen=True)
class ProbeSpec:
    """One probe's declaration: its request and answer schemas, its documentation and the module it is in."""

    name: str
    request: dict[str, Any]
    answer: dict[str, Any]
    doc: str
    module: str


@functools.cache
def probe_sources() -> tuple[ProbeSource, ...]:
    """The codec's and the runtime's sources, then every probe module's (built-in, then plugins), in the order the kernel runs them."""
    sources = [ProbeSource(name, (_HERE / f"{name}.py").read_text(encoding="utf-8")) for name in ("wire", "runtime")]
    sources += [ProbeSource(name, (_HERE / f"{name}.py").read_text(encoding="utf-8")) for name in BUILTIN_MODULES if (_HERE / f"{name}.py").is_file()]
    sources += [ProbeSource(name, Path(path).read_text(encoding="utf-8")) for name, path in plugin_modules()]
    return tuple(sources)


def plugin_modules() -> list[tuple[str, str]]:
    """(module name, file) of every probe module registered in the ``grader.probes`` entry-point group."""
    from importlib.metadata import entry_points

    found = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        spec = importlib.util.find_spec(entry.value)
        if spec is None or spec.origin is None:
            raise ImportError(f"probe module {entry.value!r} (entry point {entry.name!r}) cannot be found")
        found.append((entry.value, spec.origin))
    return found


def load_runtime(sources: tuple[ProbeSource, ...] | None = None) -> dict[str, Any]:
    """The probe sources booted in this process as the kernel boots them (no ``install``): the runtime's namespace.

    Used for the declarations (``SPECS``), for code both sides share (a probe
    module's namespace is ``namespace["MODULES"][label]``; its references come
    from ``namespace["take_references"](torch)``), and by tests that call probes
    on a plain namespace. Each call builds a fresh one.
    """
    from grader.probes.boot import boot

    chosen = sources if sources is not None else probe_sources()
    return boot([(source.label, source.source) for source in chosen], "grader_probe_runtime").__dict__


# Where a warm kernel finds the runtime its warm-kernel server booted before forking it (a ``sys.modules`` key).
PREBOOTED = "_grader_probe_prebooted"


@functools.cache
def sources_digest() -> str:
    """A digest of the boot code and every probe source: a prebooted runtime is used only when it was booted from these."""
    digest = hashlib.sha256(boot_source().encode())
    for source in probe_sources():
        digest.update(b"\0" + source.label.encode() + b"\0" + source.source.encode())
    return digest.hexdigest()


def preboot() -> str:
    """Boot the probe runtime in this process (the warm-kernel server, before it forks) and leave it at ``PREBOOTED``.

    Each forked kernel's first cell then takes it instead of compiling the
    probe code again (see ``ProbeRequest.prelude``). Returns what it was booted from (:func:`sources_digest`).
    """
    from grader.probes.boot import boot

    runtime = boot([(source.label, source.source) for source in probe_sources()], PREBOOTED)
    runtime.__dict__["BOOTED_FROM"] = sources_digest()
    sys.modules[PREBOOTED] = runtime
    return sources_digest()


def boot_source() -> str:
    """The source of :mod:`grader.probes.boot`, which the official grade's first cell runs in the kernel."""
    return (_HERE / "boot.py").read_text(encoding="utf-8")


@functools.cache
def probe_specs() -> dict[str, ProbeSpec]:
    """Every probe's declaration, by name."""
    specs = load_runtime()["SPECS"]
    return {name: ProbeSpec(name, spec["request"], spec["answer"], spec["doc"], spec["module"]) for name, spec in specs.items()}


@functools.cache
def _validator(probe: str, part: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(getattr(probe_specs()[probe], part))


@functools.cache
def _fast_check(probe: str, part: str) -> Any:
    """The schema compiled to Python by fastjsonschema: every answer of every submission is checked, so speed counts."""
    import fastjsonschema

    return fastjsonschema.compile({"$schema": "http://json-schema.org/draft-07/schema#", **getattr(probe_specs()[probe], part)})


def _problem(probe: str, part: str, value: Any) -> str:
    """'' when ``value`` follows the probe's ``part`` schema; else where and why (jsonschema words the rare failure)."""
    if probe not in probe_specs():
        return f"unknown probe {probe!r}"
    import fastjsonschema

    try:
        _fast_check(probe, part)(value)
        return ""
    except fastjsonschema.JsonSchemaException:
        error = next(iter(_validator(probe, part).iter_errors(value)), None)
    return "" if error is None else f"probe {probe!r}: {part} {_where(error)}: {error.message[:300]}"


def prepare_answer_checks(probes: set[str]) -> None:
    """Compile the answer schemas of ``probes`` now (some 25 ms each), off the path that waits for the kernel."""
    for probe in sorted(probes & set(probe_specs())):
        _fast_check(probe, "answer")


def request_problem(probe: str, args: dict[str, Any]) -> str:
    """What is wrong with a planned request ('' when it follows the probe's declaration)."""
    return _problem(probe, "request", args)


def answer_problem(probe: str, value: Any) -> str:
    """What is wrong with an answer's value ('' when it has a shape the probe declares)."""
    return _problem(probe, "answer", value)


def _where(error: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path) or "(top level)"
