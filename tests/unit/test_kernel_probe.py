"""The in-kernel probes, run directly on plain namespaces in this process (no kernel, fast).

Each test loads a fresh copy of the probe runtime and modules (as the kernel
does, from their sources: ``grader.probes.load_runtime``), installs it on a
namespace, runs the student code under test in that namespace and reads the
answers the runtime publishes.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from grader.probes import answer_problem, load_runtime

Ask = Callable[..., Any]


def probes_on(code: str, probe_timeout_s: float) -> Ask:
    """A fresh probe runtime installed on a namespace where ``code`` then runs as the student's; ``ask(probe, **args)``.

    Every answer is also checked against the probe's declared answer schema.
    """
    module = load_runtime()
    published: list[dict[str, Any]] = []
    namespace: dict[str, Any] = {}
    publish = lambda data, metadata=None: published.append(json.loads(next(iter(data.values()))))  # noqa: E731 - the kernel's display hook
    module["install"]("token", namespace, 7, probe_timeout_s, publish=publish)
    exec(compile(textwrap.dedent(code), "<student>", "exec"), namespace)

    def ask(probe: str, **args: Any) -> Any:
        published.clear()
        module["run"](json.dumps([{"probe": probe, "args": args}]))
        (answer,) = published
        assert answer["ok"], answer
        assert answer_problem(probe, answer["value"]) == ""
        return answer["value"]

    return ask


@pytest.fixture
def runtime() -> Iterator[Callable[[str], Ask]]:
    """``runtime(code)`` runs ``code`` as the student's notebook after installing the probes; returns ``ask(probe, **args)``.

    Every answer is also checked against the probe's declared answer schema.
    """
    grad_mode = torch.is_grad_enabled()

    def make(code: str) -> Ask:
        return probes_on(code, probe_timeout_s=5.0)

    yield make
    torch.set_grad_enabled(grad_mode)


STUBS = '''
def stub_pass(x):
    pass

def stub_ellipsis(x):
    """Return the thing."""
    ...

def stub_return_none(x):
    # YOUR CODE HERE
    return None

def stub_raise(x):
    raise NotImplementedError

def stub_raise_call(x):
    """Docstring."""
    # YOUR CODE HERE
    raise NotImplementedError("fill this in")

stub_lambda = lambda x: None

class Holder:
    def method_stub(self):
        raise NotImplementedError()

    @staticmethod
    def static_stub():
        pass

def answer_identity(x):
    return x

def answer_prints(x):
    print(x)

def answer_raises_other(x):
    raise ValueError("no")

def answer_branch(x):
    if x:
        raise NotImplementedError
    return 1
'''


def test_stub_bodies_are_recognised_and_answers_are_not(runtime: Callable[[str], Ask]) -> None:
    ask = runtime(STUBS)
    names = [line.split("(")[0][4:] for line in STUBS.splitlines() if line.startswith("def ")]
    states = ask("answer_states", answers=[*names, "stub_lambda", "Holder.method_stub", "Holder.static_stub", "Holder.nothing", "nowhere"])
    assert {name: state for name, state in states.items()} == {
        "stub_pass": "stub", "stub_ellipsis": "stub", "stub_return_none": "stub", "stub_raise": "stub", "stub_raise_call": "stub",
        "answer_identity": "defined", "answer_prints": "defined", "answer_raises_other": "defined", "answer_branch": "defined",
        "stub_lambda": "stub", "Holder.method_stub": "stub", "Holder.static_stub": "stub", "Holder.nothing": "missing",
        "nowhere": "missing",
    }


def test_values_none_and_imported_maths_functions_are_not_answers(runtime: Callable[[str], Ask]) -> None:
    ask = runtime(
        """
        import numpy as np, torch
        from math import sin, cos
        tan = np.tan
        exp = torch.exp
        s = None
        y = 0.0
        model = torch.nn.Linear(2, 2)
        """
    )
    states = ask("answer_states", answers=["sin", "cos", "tan", "exp", "s", "y", "model"])
    assert states == {"sin": "foreign", "cos": "foreign", "tan": "foreign", "exp": "foreign", "s": "none", "y": "defined", "model": "defined"}


@pytest.mark.parametrize(
    ("expression", "encoded"),
    [
        ("3", {"number": 3.0}),
        ("2.5", {"number": 2.5}),
        ("np.float32(1.5)", {"number": 1.5}),
        ("np.array(4.0)", {"number": 4.0}),  # a 0-d numpy array (CONTRACT-04 accepts it)
        ("np.array(4, dtype=np.int64)", {"number": 4.0}),
        ("torch.tensor(2.0, dtype=torch.float64)", {"number": 2.0}),
        ("torch.tensor(2.0, requires_grad=True) * 1", {"number": 2.0}),
        ("torch.nn.Parameter(torch.tensor(0.5))", {"number": 0.5}),
        ("Fraction(1, 4)", {"number": 0.25}),
        ("np.array([1.0])", {"rejected": "a numpy array of shape (1,), not a single number"}),
        ("torch.ones(2)", {"rejected": "a tensor of shape (2,), not a single number"}),
        ("True", {"rejected": "a bool (True/False), not a number"}),
        ("np.bool_(True)", {"rejected": "a bool (True/False), not a number"}),
        ("float('nan')", {"number": "nan"}),
        ("Liar(1.0)", {"rejected": "a Liar"}),  # a float subclass is not a float
        ("None", {"rejected": "None"}),
    ],
)
def test_numbers_the_contract_accepts(runtime: Callable[[str], Ask], expression: str, encoded: dict[str, Any]) -> None:
    ask = runtime(
        f"""
        import numpy as np, torch
        from fractions import Fraction
        class Liar(float):
            def __eq__(self, other): return True
        value = {expression}
        """
    )
    assert ask("numbers", names=["value"]) == {"value": encoded}


def test_a_dict_subclass_is_read_with_dicts_own_methods(runtime: Callable[[str], Ask]) -> None:
    ask = runtime(
        """
        from collections import OrderedDict
        class Lying(dict):
            def __getitem__(self, key): return 100.0
        def ordered(a, b, c):
            return OrderedDict(y=(a + b) * c, dy_dx1=c)
        def lying(a, b, c):
            return Lying(y=1.0)
        """
    )
    ordered = ask("call_numeric", function="ordered", args_list=[[1.0, 2.0, 3.0]], keys=["y", "dy_dx1"])
    assert ordered == {"results": [{"values": {"y": {"number": 9.0}, "dy_dx1": {"number": 3.0}}}]}
    lying = ask("call_numeric", function="lying", args_list=[[1.0, 2.0, 3.0]], keys=["y", "dy_dx1"])
    assert lying == {"results": [{"values": {"y": {"number": 1.0}, "dy_dx1": {"missing": True}}}]}


def test_with_autograd_off_a_grad_fn_called_or_an_engine_kept_is_autograd_but_reading_the_graph_is_not(runtime: Callable[[str], Ask]) -> None:
    ask = runtime(
        """
        import torch
        def by_nodes(a, b, c):
            x1, x2, x3 = (torch.tensor(v, requires_grad=True) for v in (a, b, c))
            y = (x1 + x2) * x3
            node = getattr(y, "grad" + "_fn")
            d_s, d_x3 = node(torch.tensor(1.0))
            d_x1, d_x2 = node.next_functions[0][0](d_s)
            return {"y": float(y), "dy_dx1": float(d_x1), "dy_dx2": float(d_x2), "dy_dx3": float(d_x3)}
        engine = torch.autograd.Variable._execution_engine  # taken before the grader blocks it
        def by_captured_engine(a, b, c):
            with torch.enable_grad():
                x1, x2, x3 = (torch.tensor(v, requires_grad=True) for v in (a, b, c))
                y = (x1 + x2) * x3
                grads = engine.run_backward((y,), (torch.ones_like(y),), False, False, (x1, x2, x3), False, False)
            return {"y": float(y), "dy_dx1": float(grads[0]), "dy_dx2": float(grads[1]), "dy_dx3": float(grads[2])}
        def reads_the_graph(a, b, c):
            x1, x2, x3 = (torch.tensor(v, requires_grad=True) for v in (a, b, c))
            y = (x1 + x2) * x3
            names = [type(y.grad_fn._node if hasattr(y.grad_fn, "_node") else y.grad_fn).__name__, y.grad_fn.name()]
            names += [fn.name() for fn, _ in y.grad_fn.next_functions if fn is not None]
            assert names[1:3] == ["MulBackward0", "AddBackward0"] and names[3].endswith("AccumulateGrad"), names
            return {"y": float(y), "dy_dx1": float(x3), "dy_dx2": float(x3), "dy_dx3": float(x1 + x2)}
        """
    )
    keys = ["y", "dy_dx1", "dy_dx2", "dy_dx3"]
    called = ask("call_numeric", function="by_nodes", args_list=[[1.0, 2.0, 4.0]], keys=keys, forbid_autograd=True)
    assert called == {"results": [{"autograd": True}]}
    captured = ask("call_numeric", function="by_captured_engine", args_list=[[1.0, 2.0, 4.0]], keys=keys, forbid_autograd=True)
    assert captured == {"results": [{"autograd": True}]}
    read = ask("call_numeric", function="reads_the_graph", args_list=[[1.0, 2.0, 4.0]], keys=keys, forbid_autograd=True)
    assert read == {"results": [{"values": {"y": {"number": 12.0}, "dy_dx1": {"number": 4.0}, "dy_dx2": {"number": 4.0},
                                            "dy_dx3": {"number": 3.0}}}]}
    unwatched = ask("call_numeric", function="by_nodes", args_list=[[1.0, 2.0, 4.0]], keys=keys)
    assert unwatched["results"][0]["values"]["dy_dx3"] == {"number": 3.0}  # the same function, autograd allowed
    assert "grad_fn" not in torch.Tensor.__dict__ and torch._C._len_torch_dispatch_stack() == 0  # the watch is taken off


DUAL = """
import math
class DualNumber:
    def __init__(self, value, deriv=0.0):
        self.value, self.deriv = value, deriv
    def sin(self):
        raise NotImplementedError
    def cos(self):
        raise NotImplementedError
"""


@pytest.mark.parametrize(
    ("extra", "form", "names"),
    [
        ("from math import sin, cos\ndef dual_sin(x): return DualNumber(math.sin(x.value), x.deriv * math.cos(x.value))\n"
         "def dual_cos(x): return DualNumber(math.cos(x.value), -x.deriv * math.sin(x.value))", "functions", "dual_sin"),
        ("def sin(x): return DualNumber(math.sin(x.value), x.deriv * math.cos(x.value))\n"
         "def cos(x): return DualNumber(math.cos(x.value), -x.deriv * math.sin(x.value))", "functions", "sin"),
        ("DualNumber.sin = lambda self: DualNumber(math.sin(self.value), self.deriv * math.cos(self.value))\n"
         "DualNumber.cos = lambda self: DualNumber(math.cos(self.value), -self.deriv * math.sin(self.value))", "methods", "sin"),
    ],
)
def test_the_submissions_own_sin_and_cos_are_found(runtime: Callable[[str], Ask], extra: str, form: str, names: str) -> None:
    ask = runtime(DUAL + extra)
    answer = ask("dual_eval", cases=[{"expr": ["sin", "x"], "x": [0.5, 2.0]}])
    assert (answer["form"], answer["names"], answer["stub"]) == (form, names, False)
    assert answer["results"][0]["deriv"] == {"number": pytest.approx(2.0 * 0.8775825618903728)}


def test_grad_mode_and_inference_mode_left_behind_do_not_change_what_is_observed(runtime: Callable[[str], Ask]) -> None:
    ask = runtime(
        """
        import torch
        def grad_fn_chain(t):
            names, node = [], t.grad_fn
            while node is not None:
                names.append(type(node).__name__)
                node = next((fn for fn, _ in node.next_functions if fn is not None), None)
            return names
        torch.set_grad_enabled(False)
        """
    )
    spec = {"kind": "ops", "seed": 3, "size": 3, "ops": ["sin", "mul_leaf", "sum"]}
    with torch.inference_mode():
        answer = ask("grad_graph", build=spec, function="grad_fn_chain")
        assert torch.is_inference_mode_enabled()
    assert answer["chain"]["names"][:3] == ["SumBackward0", "MulBackward0", "SinBackward0"]
    assert torch.is_grad_enabled() is False  # the student's own global state is put back


def test_references_are_taken_before_student_code(runtime: Callable[[str], Ask], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.nn.Module, "named_modules", torch.nn.Module.named_modules)
    monkeypatch.setattr(torch.nn, "Linear", torch.nn.Linear)
    monkeypatch.setattr(torch.Tensor, "grad_fn", None, raising=False)
    monkeypatch.delattr(torch.Tensor, "grad_fn", raising=False)
    ask = runtime(
        """
        import torch
        from torch import nn
        model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        real = model(torch.ones(4, 2))
        output = real.detach()
        nn.Module.named_modules = lambda self, *a, **k: iter([(str(i), nn.Linear(1, 1)) for i in range(3)])
        class AnyLinear(type):
            def __subclasscheck__(cls, sub): return True
        nn.Linear = AnyLinear("Linear", (), {})
        torch.Tensor.grad_fn = property(lambda self: real.grad_fn)
        """
    )
    summary = ask("module_summary", model="model")
    assert [m["name"] for m in summary["modules"] if m["linear"]] == ["0", "2"]
    assert ask("grad_graph", tensor="output", model="model") == {"no_grad_fn": True, "requires_grad": False}
