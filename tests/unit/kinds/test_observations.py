"""Check kind observation: the function's source read and vetted at rubric load, results compared key by key (no kernel)."""

from __future__ import annotations

import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from grader.checks import JudgeContext
from grader.checks.observations import Observation, ObservationRefused, observation_source
from grader.checks.registry import CHECK_KINDS
from grader.checks.targets import encode
from grader.errors import RubricError
from grader.kernel.execute import CellRun, Execution
from grader.observation import is_observation, observation
from grader.probes.protocol import Answer
from grader.results import Outcome
from grader.rubric import CheckSpec, load_rubric
from tests.unit.kinds.support import judge

REFERENCE = textwrap.dedent('''
    import math
    import numpy as np
    import torch
    from torch import nn
    from grader.observation import observation

    SECRET = 41

    def scale(x):
        return 2 * x

    @observation
    def doubled(ns):
        """What scale gives, and a tensor made with nn and np."""
        import torch.nn.functional
        f = ns["scale"]
        grid = [f(v) for v in (1.0, 2.5)]
        return {"one": grid[0], "two": grid[1], "root": math.sqrt(f(8.0)), "layer": len(list(nn.Linear(2, 3).parameters())),
                "ones": np.ones(2) * f(1.0), "t": torch.tensor(f(0.5))}

    @observation
    def leaks(ns):
        return {"secret": SECRET}

    @observation
    def calls_helper(ns):
        return {"x": scale(1.0)}

    @observation
    def imports_os(ns):
        import os
        return {"cwd": os.getcwd()}

    def unmarked(ns):
        return {}

    @observation
    def two(ns, other):
        return {}

    @observation
    def partly(ns):
        return {"a": ns["a"], "b": ns["b"], "c": ns["c"]}
''')


def test_the_decorator_marks_and_returns_the_function_unchanged() -> None:
    def f(ns: dict[str, Any]) -> dict[str, Any]:
        return {}

    assert observation(f) is f and is_observation(f) and not is_observation(len)


def test_only_the_functions_own_source_and_the_modules_it_uses_are_shipped() -> None:
    source, imports = observation_source(REFERENCE, "doubled")
    assert source.startswith("def doubled(ns):") and "@observation" not in source and "SECRET" not in source
    # `torch` is bound by the function's own `import torch.nn.functional`: only what it reads from the module is shipped
    assert imports == [["math", "math", ""], ["nn", "torch", "nn"], ["np", "numpy", ""]]


@pytest.mark.parametrize(("name", "refusal"), [
    ("leaks", "uses 'SECRET', which is neither a builtin nor torch, numpy, math"),
    ("calls_helper", "uses 'scale'"),
    ("imports_os", "imports 'os': it may import only torch, numpy, math"),
    ("unmarked", "'unmarked' is not marked as an observation: decorate it with @observation"),
    ("two", "must take exactly one argument"),
    ("absent", "defines no function 'absent'"),
])
def test_a_function_that_needs_more_than_its_source_is_refused(name: str, refusal: str) -> None:
    with pytest.raises(ObservationRefused, match=refusal):
        observation_source(REFERENCE, name)


def write_rubric(folder: Path, observation_name: str) -> Path:
    (folder / "ref.py").write_text(REFERENCE, encoding="utf-8")
    rubric = folder / "r.yaml"
    rubric.write_text(textwrap.dedent(f"""
        assignment: tiny
        title: tiny
        reference: ref.py
        total: 4
        exercises:
          - id: ex1
            title: t
            checks:
              - {{id: obs, kind: observation, title: t, points: 4, params: {{observation: {observation_name}}}}}
    """), encoding="utf-8")
    return rubric


def test_the_rubric_loader_adds_the_source_and_refuses_a_leaking_observation(tmp_path: Path) -> None:
    spec = load_rubric(write_rubric(tmp_path, "doubled"), CHECK_KINDS).exercises[0].checks[0]
    assert spec.params["source"].startswith("def doubled(ns):") and ["np", "numpy", ""] in spec.params["imports"]
    with pytest.raises(RubricError, match=r"exercises\[0\]\.checks\[0\]\.params\.observation: the observation 'leaks' uses 'SECRET'.*\(in ref\.py\)"):
        load_rubric(write_rubric(tmp_path, "leaks"), CHECK_KINDS)


# --- judging ----------------------------------------------------------------------------------------------


def check_of(name: str, **params: Any) -> Observation:
    source, imports = observation_source(REFERENCE, name)
    spec = CheckSpec("obs", "observation", "t", 3.0, {"observation": name, "source": source, "imports": imports, **params})
    made = CHECK_KINDS["observation"](spec)
    assert isinstance(made, Observation)
    return made


def context_of(**names: Any) -> JudgeContext:
    reference = types.ModuleType("ref")
    reference.__dict__.update(names)
    execution = Execution(cells=(CellRun(1, "ok"),), probe_outputs=(), events=(), isolation={}, duration_s=0.0)
    return JudgeContext(reference, execution, {1: ""})


def kernel_says(**values: Any) -> Answer:
    """The kernel's answer when the observation found ``values`` on the student's side."""
    return Answer(True, {"result": encode(values)})


def test_the_same_function_on_both_namespaces_passes(tmp_path: Path) -> None:
    import numpy as np
    import torch

    got = kernel_says(one=2.0, two=5.0, root=4.0, layer=2, ones=np.ones(2) * 2.0, t=torch.tensor(1.0))
    verdict = judge(check_of("doubled"), context_of(scale=lambda x: 2 * x), lambda call: got)
    assert (verdict.outcome, verdict.message) == (Outcome.PASSED, "what `doubled` observes matches the reference (6 of 6 values)")


@pytest.mark.parametrize(("params", "got", "outcome", "fraction", "fragment"), [
    ({}, {"a": 1.0, "b": 2.0, "c": 3.0}, Outcome.PASSED, 1.0, "3 of 3 values"),
    ({}, {"a": 1.0, "b": 2.5, "c": 3.0}, Outcome.PARTIAL, 2 / 3, "2 of 3 values observed by `partly` match the reference: `b` is 2.5"),
    ({}, {"a": 1.0, "b": 2.0}, Outcome.PARTIAL, 2 / 3, "`c` was not observed"),
    ({"keys": ["a", "c"]}, {"a": 1.0, "b": 9.0, "c": 3.0}, Outcome.PASSED, 1.0, "2 of 2 values"),  # b is not compared
    ({"tolerances": {"b": {"atol": 0.6}}}, {"a": 1.0, "b": 2.5, "c": 3.0}, Outcome.PASSED, 1.0, "3 of 3"),  # b's own tolerance
    ({"rtol": 0.5}, {"a": 1.4, "b": 2.9, "c": 3.0}, Outcome.PASSED, 1.0, "3 of 3"),  # the default tolerance, widened
    ({}, {"a": "1.0", "b": 2.0, "c": 3.0}, Outcome.PARTIAL, 2 / 3, "`a` is"),  # a string is not the number
])
def test_each_key_is_compared_with_its_tolerance(params: dict[str, Any], got: dict[str, Any], outcome: Outcome, fraction: float,
                                                 fragment: str) -> None:
    verdict = judge(check_of("partly", **params), context_of(a=1.0, b=2.0, c=3.0), lambda call: kernel_says(**got))
    assert verdict.outcome is outcome, verdict.message
    assert verdict.fraction == pytest.approx(fraction)
    assert fragment in verdict.message


@pytest.mark.parametrize(("answer", "outcome", "fragment"), [
    (Answer(True, {"raised": {"type": "KeyError", "message": "'a'"}}), Outcome.ERROR, "run by the observation `partly`, raised KeyError"),
    (Answer(True, {"raised": {"type": "NotImplementedError", "message": ""}, "not_implemented": True}), Outcome.NOT_ATTEMPTED,
     "not attempted"),
    (Answer(True, {"raised": {"type": "KeyError", "message": "'b'"}}), Outcome.NOT_ATTEMPTED, "not found: the submission defines no `b`"),
    (Answer(True, {"result": encode([1, 2])}), Outcome.FAILED, "not a dict of values"),
    (Answer(False, None, "Timeout", "no answer within 10s"), Outcome.ERROR, "did not finish in time"),
    (Answer(False, None, "ModuleNotFoundError", "No module named 'torch'"), Outcome.BROKEN, "could not run in the kernel"),
])
def test_what_the_kernel_could_not_observe_is_worded(answer: Answer, outcome: Outcome, fragment: str) -> None:
    verdict = judge(check_of("partly", names=["b"]), context_of(a=1.0, b=2.0, c=3.0), lambda call: answer)
    assert verdict.outcome is outcome, verdict.message
    assert fragment in verdict.message


def test_a_failure_on_the_reference_is_the_rubrics_not_the_students() -> None:
    verdict = judge(check_of("partly"), context_of(a=1.0), lambda call: kernel_says(a=1.0, b=2.0, c=3.0))
    assert verdict.outcome is Outcome.BROKEN and "failed on the reference (KeyError" in verdict.message
    unknown = judge(check_of("partly", keys=["z"]), context_of(a=1.0, b=2.0, c=3.0), lambda call: kernel_says(a=1.0))
    assert unknown.outcome is Outcome.BROKEN and "compares key 'z'" in unknown.message
