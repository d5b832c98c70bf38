"""The rule kinds (vectorised, calls, source_rule) in a real kernel, with a small rubric of their own (their failure tags: tests/unit/kinds).

One notebook holds a loop in each style (for, while with a helper, a
comprehension, map with a lambda, recursion, an exec'd string, a loop run by C
over torch calls) beside a broadcasting version, and softmax reached every way
(an alias, getattr, ``from torch import softmax as sm``,
``torch.nn.functional.softmax``, and ``torch.softmax`` rebound to the
student's wrapper before their function is written) beside a formula version.
A second notebook is the honest answer to every rule. Two kernel runs.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from grader import load_rubric
from grader.pipeline import Options, grade_submission
from grader.results import Outcome, SubmissionResult
from grader.rubric import Rubric
from tests.conftest import MakeNotebook, check

pytestmark = pytest.mark.kernel

ROWS = {"tensor": {"shape": ["N", 3], "dtype": "float64"}}
LOOPS = ["broadcast", "for_loop", "while_helper", "comprehension", "map_lambda", "recursion", "exec_loop", "by_c"]
SOFTMAXES = ["sm_formula", "sm_alias", "sm_getattr", "sm_from_import", "sm_functional", "sm_rebound"]
FORBIDDEN = ["torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax"]


def _vectorised(name: str) -> dict[str, Any]:
    sizes = [10, 200] if name == "recursion" else [10, 1000]  # recursion 1000 deep would hit the recursion limit first
    return {"id": name, "kind": "vectorised", "points": 1,
            "params": {"function": name, "scale": "N", "sizes": sizes, "unit": "rows", "args": [ROWS]}}


def _forbidden(name: str) -> dict[str, Any]:
    return {"id": name, "kind": "calls", "points": 1,
            "params": {"function": name, "forbidden": FORBIDDEN, "args": [{"tensor": {"shape": [4, 5], "dtype": "float64"}}]}}


@pytest.fixture(scope="module")
def rules_rubric(tmp_path_factory: pytest.TempPathFactory) -> Rubric:
    folder = tmp_path_factory.mktemp("rules_rubric")
    (folder / "reference.py").write_text("")
    checks_calls = [_forbidden(name) for name in SOFTMAXES]
    checks_calls.append({"id": "needs_backward", "kind": "calls", "points": 1,
                         "params": {"function": "step", "required": ["torch.Tensor.backward"],
                                    "args": [{"tensor": {"shape": [3], "dtype": "float64", "requires_grad": True}}]}})
    source = [{"id": f"source_{name}", "kind": "source_rule", "points": 1,
               "params": {"function": name, "forbid": ["for", "while", "comprehension"], "forbid_names": ["torch.func"]}}
              for name in ("broadcast", "while_helper")]
    data = {
        "assignment": "rules", "title": "Rules", "reference": "reference.py", "total": len(LOOPS) + len(checks_calls) + len(source),
        "exercises": [
            {"id": "loops", "title": "Loops", "checks": [_vectorised(name) for name in LOOPS]},
            {"id": "calls", "title": "Calls", "checks": checks_calls},
            {"id": "source", "title": "Source", "checks": source},
        ],
    }
    (folder / "rules.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return load_rubric(folder / "rules.yaml")


LOOP_CELLS = '''
def broadcast(x):
    return ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1).sum(1)

def for_loop(x):
    out = torch.zeros(x.shape[0], dtype=x.dtype)
    for i in range(x.shape[0]):
        out[i] = ((x - x[i]) ** 2).sum()
    return out

def _row_total(x, row):
    return ((x - row) ** 2).sum()

def while_helper(x):
    i, out = 0, []
    while i < x.shape[0]:
        out.append(_row_total(x, x[i]))
        i += 1
    return torch.stack(out)

def comprehension(x):
    return torch.stack([((x - row) ** 2).sum() for row in x])

def map_lambda(x):
    return torch.stack(list(map(lambda row: ((x - row) ** 2).sum(), x)))

def recursion(x, i=0):
    if i == x.shape[0]:
        return torch.zeros(0, dtype=x.dtype)
    return torch.cat([((x - x[i]) ** 2).sum().reshape(1), recursion(x, i + 1)])

def exec_loop(x):
    env = {"x": x, "torch": torch}
    exec("out = torch.zeros(x.shape[0], dtype=x.dtype)\\nfor i in range(x.shape[0]):\\n    out[i] = ((x - x[i]) ** 2).sum()", env)
    return env["out"]

def by_c(x):
    return torch.stack(list(map(torch.sum, x.unbind(0))))
'''

SOFTMAX_CELLS = '''
import torch.nn.functional as F
from torch import softmax as sm

def sm_formula(x):
    e = (x - x.max(1, keepdim=True).values).exp()
    return e / e.sum(1, keepdim=True)

def sm_alias(x):
    return sm(x, 1)

def sm_getattr(x):
    return getattr(torch, "soft" + "max")(x, 1)

def sm_from_import(x):
    from torch import softmax as s
    return s(x, dim=1)

def sm_functional(x):
    return F.softmax(x, dim=1)

def step(w):
    return (w ** 2).sum()
'''

REBOUND_CELL = '''
_original = torch.softmax

def my_wrapper(x, dim):
    return _original(x, dim)

torch.softmax = my_wrapper

def sm_rebound(x):
    return torch.softmax(x, 1)
'''


def test_every_loop_style_fails_vectorised_and_every_door_to_softmax_fails_the_forbidden_rule(
    make_notebook: MakeNotebook, rules_rubric: Rubric
) -> None:
    result = grade_submission(make_notebook("rules_wrong", LOOP_CELLS, SOFTMAX_CELLS, REBOUND_CELL), rules_rubric, Options())
    assert check(result, "loops", "broadcast").outcome is Outcome.PASSED, check(result, "loops", "broadcast").message
    for name in LOOPS[1:]:
        found = check(result, "loops", name)
        assert found.outcome is Outcome.FAILED, (name, found.message)
        assert found.message.startswith(f"`{name}` "), found.message
        assert "for 100× more rows" in found.message or "20× more rows" in found.message or name == "by_c", found.message
    assert check(result, "loops", "for_loop").message.startswith("`for_loop` runs a Python loop: its Python steps grew")
    assert check(result, "loops", "by_c").message.startswith("`by_c` loops over its data: its torch calls grew")
    assert check(result, "calls", "sm_formula").outcome is Outcome.PASSED, check(result, "calls", "sm_formula").message
    for name in SOFTMAXES[1:]:
        found = check(result, "calls", name)
        assert found.outcome is Outcome.FAILED and "which the contract forbids" in found.message, (name, found.message)
    assert check(result, "calls", "sm_rebound").message == "`sm_rebound` calls torch.softmax, which the contract forbids"
    assert check(result, "calls", "sm_functional").message.startswith("`sm_functional` calls torch.nn.functional.softmax")
    missing = check(result, "calls", "needs_backward")
    assert missing.outcome is Outcome.FAILED
    assert missing.message == "`step` never calls torch.Tensor.backward, which the contract requires"
    assert check(result, "source", "source_broadcast").outcome is Outcome.PASSED
    helper = check(result, "source", "source_while_helper")
    assert helper.outcome is Outcome.FAILED and helper.message.startswith("`while_helper` uses a `while` loop (line 3 of its definition")


HONEST_CELLS = '''
def step(w):
    loss = (w ** 2).sum()
    loss.backward()
    return loss.detach()
'''


def test_honest_answers_pass_every_rule(make_notebook: MakeNotebook, rules_rubric: Rubric) -> None:
    honest = LOOP_CELLS.replace("def for_loop(x):", "def _for_loop_was(x):")
    for name in LOOPS[1:] + SOFTMAXES[1:]:
        honest += f"\n{name} = broadcast\n" if name in LOOPS else f"\n{name} = sm_formula\n"
    path = make_notebook("rules_right", SOFTMAX_CELLS.replace("def step(w):\n    return (w ** 2).sum()\n", ""), honest, HONEST_CELLS)
    result: SubmissionResult = grade_submission(path, rules_rubric, Options())
    wrong = {(ex.id, c.id): c.message for ex in result.exercises for c in ex.checks
             if c.outcome is not Outcome.PASSED and c.id != "source_while_helper"}
    assert wrong == {}
