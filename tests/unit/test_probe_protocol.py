"""The probe protocol: every probe declared once, every planned request and every answer held to the declaration."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from grader import load_rubric, probes
from grader.checks.registry import CHECK_KINDS
from grader.probes import answer_problem, load_runtime, probe_specs, request_problem
from grader.probes.protocol import ProbeCall, parse_answers
from tests.conftest import ROOT

RUBRICS = sorted((ROOT / "rubrics").glob("*.yaml"))


def test_every_probe_declares_its_request_answer_and_purpose() -> None:
    specs = probe_specs()
    assert {"numbers", "call_numeric", "answer_states", "dual_eval", "module_summary", "grad_graph", "text_value", "checkpoint_run"} <= set(specs)
    for spec in specs.values():
        assert spec.request.get("type") == "object" and spec.answer and spec.doc.strip(), spec.name


@pytest.mark.parametrize("path", RUBRICS, ids=lambda p: p.stem)
def test_every_probe_a_check_plans_exists_and_accepts_the_request(path: Path) -> None:
    rubric = load_rubric(path)
    for exercise in rubric.exercises:
        for spec in exercise.checks:
            for seed in range(3):
                for call in CHECK_KINDS[spec.kind](spec).plan(random.Random(seed)):
                    assert request_problem(call.probe, call.args) == "", (exercise.id, spec.id)


def test_a_request_the_probe_does_not_declare_is_refused() -> None:
    # Our part of the message is the probe, the part and where; why is jsonschema's wording, and only has to be there.
    for request, where in (({"names": "s"}, ".names"), ({"names": ["s", 1]}, ".names[1]"), ({"names": ["s"], "extra": 1}, "(top level)")):
        problem = request_problem("numbers", request)
        assert problem.startswith(f"probe 'numbers': request {where}: ") and len(problem) > len(f"probe 'numbers': request {where}: "), request
    assert request_problem("numbers", {"names": ["s"]}) == ""
    assert request_problem("nothing", {}) == "unknown probe 'nothing'"


def test_an_answer_of_an_undeclared_shape_is_not_believed() -> None:
    calls = [ProbeCall("numbers", {"names": ["s"]}), ProbeCall("numbers", {"names": ["s"]})]
    outputs = [json.dumps({"i": 0, "ok": True, "value": {"s": {"number": 3.0}}}), json.dumps({"i": 1, "ok": True, "value": {"s": 3.0}})]
    good, bad = parse_answers(outputs, calls)
    assert good.ok and good.value == {"s": {"number": 3.0}}
    assert (bad.ok, bad.error_type) == (False, "BadAnswer") and "answer .s" in bad.error_message
    assert answer_problem("numbers", {"s": {"number": 3.0}}) == ""


def test_calls_left_out_say_so_and_only_when_no_answer_came() -> None:
    calls = [ProbeCall("numbers", {"names": ["s"]})] * 3
    outputs = [json.dumps({"i": 1, "ok": True, "value": {"s": {"number": 3.0}}})]
    died, answered, left_out = parse_answers(outputs, calls, left_out=(1, 2))
    assert died.missing and not died.was_left_out  # asked, and the kernel died: no answer
    assert answered.ok  # an answer that came counts, whatever the list says
    assert left_out.was_left_out and not left_out.missing


def test_a_plugin_probe_module_is_sent_to_the_kernel_and_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = Path(__file__).with_name("fixtures") / "plugin_probe.py"
    monkeypatch.setattr(probes, "plugin_modules", lambda: [("course.probes", str(plugin))])
    probes.probe_sources.cache_clear()
    try:
        sources = probes.probe_sources()
        assert [s.label for s in sources[:2]] == ["wire", "runtime"] and sources[-1].label == "course.probes"
        runtime = load_runtime(sources)
        published: list[str] = []
        namespace = {"word": "autograd"}
        runtime["install"]("t", namespace, 1, 5.0, publish=lambda data, metadata=None: published.append(next(iter(data.values()))))
        runtime["run"](json.dumps([{"probe": "length_of", "args": {"name": "word"}}]))
        assert json.loads(published[0])["value"] == {"length": 8}
    finally:
        probes.probe_sources.cache_clear()


def test_probe_modules_cannot_rebind_the_runtime_for_each_other() -> None:
    runtime = load_runtime()
    for label, namespace in runtime["MODULES"].items():
        assert namespace["lookup"] is runtime["lookup"], label
        assert namespace is not runtime


def test_the_first_cell_takes_a_prebooted_runtime_only_when_it_was_booted_from_these_sources() -> None:
    from grader.probes import PREBOOTED, sources_digest
    from grader.probes.protocol import ProbeRequest

    request = ProbeRequest(())
    takes = request.prelude(1, 5.0, prebooted=sources_digest())
    assert PREBOOTED in takes and "def boot(" not in takes and len(takes) < 1000  # no probe code travels
    for prebooted in ("", "a digest of other sources"):
        boots = request.prelude(1, 5.0, prebooted=prebooted)
        assert PREBOOTED not in boots and "def boot(" in boots and "def install(" in boots
    assert "del _gb\n" in boots  # the boot helper is not left in the student's namespace
    # both end alike: this run's settings installed, the runtime under this run's token
    for source in (takes, boots):
        tail = source[source.index("_gm.install("):]
        assert f"modules['_grader_probe_{request.token}'] = _gm" in tail and tail.endswith("del _gm\n"), source[-300:]


def test_a_prebooted_runtime_records_what_it_was_booted_from() -> None:
    import sys

    from grader.probes import PREBOOTED, preboot, sources_digest

    try:
        assert preboot() == sources_digest()
        assert sys.modules[PREBOOTED].BOOTED_FROM == sources_digest() and "run" in vars(sys.modules[PREBOOTED])
    finally:
        sys.modules.pop(PREBOOTED, None)
