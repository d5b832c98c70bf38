"""'By hand' means no autograd of any kind, and a class is called through the genuine ``Function.apply`` (no kernel).

The probe runtime runs in this process on a plain namespace, as in test_kernel_probe.py.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest
import torch

from grader.probes import load_runtime

LOGITS = {"tensor": {"shape": [2, 3], "values": [0.5, -1.0, 2.0, 1.5, 0.25, -0.75], "dtype": "float64"}}
TARGETS = {"tensor": {"shape": [2], "values": [2, 0], "dtype": "int64"}}

FORMULA = """
def reference_grad(logits, targets):
    n = logits.shape[0]
    one_hot = torch.zeros_like(logits)
    one_hot[torch.arange(n), targets] = 1.0
    return (torch.softmax(logits, dim=-1) - one_hot) / n
"""

FORWARD_MODE = {
    "torch.func.jvp": """
        from torch.func import jvp
        def cross_entropy_grad(logits, targets):
            loss = lambda z: torch.nn.functional.cross_entropy(z, targets)
            rows = [jvp(loss, (logits,), (torch.eye(logits.numel(), dtype=logits.dtype)[k].reshape(logits.shape),))[1]
                    for k in range(logits.numel())]
            return torch.stack(rows).reshape(logits.shape)
    """,
    "torch.func.jacfwd": """
        import torch.func as tf
        def cross_entropy_grad(logits, targets):
            return tf.jacfwd(lambda z: torch.nn.functional.cross_entropy(z, targets))(logits)
    """,
    "forward_ad dual tensors": """
        import torch.autograd.forward_ad as fwAD
        def cross_entropy_grad(logits, targets):
            out = torch.zeros_like(logits)
            with fwAD.dual_level():
                for k in range(logits.numel()):
                    tangent = torch.zeros_like(logits).reshape(-1)
                    tangent[k] = 1.0
                    dual = fwAD.make_dual(logits, tangent.reshape(logits.shape))
                    loss = torch.nn.functional.cross_entropy(dual, targets)
                    out.reshape(-1)[k] = fwAD.unpack_dual(loss).tangent
            return out
    """,
    "a dual level entered before the call": """
        import torch.autograd.forward_ad as fwAD
        LEVEL = fwAD.enter_dual_level()
        def cross_entropy_grad(logits, targets):
            out = torch.zeros_like(logits)
            for k in range(logits.numel()):
                tangent = torch.zeros_like(logits).reshape(-1)
                tangent[k] = 1.0
                loss = torch.nn.functional.cross_entropy(fwAD.make_dual(logits, tangent.reshape(logits.shape)), targets)
                out.reshape(-1)[k] = fwAD.unpack_dual(loss).tangent
            return out
    """,
    "reverse mode, for comparison": """
        def cross_entropy_grad(logits, targets):
            z = logits.detach().requires_grad_()
            torch.nn.functional.cross_entropy(z, targets).backward()
            return z.grad
    """,
}


def run_probe(code: str, probe: str, **args: Any) -> Any:
    module = load_runtime()
    published: list[dict[str, Any]] = []
    namespace: dict[str, Any] = {}
    module["install"]("token", namespace, 7, 5.0, publish=lambda data, metadata=None: published.append(json.loads(next(iter(data.values())))))
    grad_mode = torch.is_grad_enabled()
    try:
        exec(compile("import torch\n" + textwrap.dedent(code), "<student>", "exec"), namespace)
        module["run"](json.dumps([{"probe": probe, "args": args}]))
    finally:
        torch.set_grad_enabled(grad_mode)
        import torch.autograd.forward_ad as fwAD
        while fwAD._current_level >= 0:  # a student cell may leave a level open
            fwAD.exit_dual_level()
    (answer,) = published
    assert answer["ok"], answer
    return answer["value"]


@pytest.mark.parametrize("how", sorted(FORWARD_MODE))
def test_autograd_of_every_mode_counts_as_autograd(how: str) -> None:
    calls = [{"args": [LOGITS, TARGETS]}]
    answer = run_probe(FORWARD_MODE[how], "call_target", target={"function": "cross_entropy_grad"}, calls=calls, forbid_autograd=True)
    assert answer["results"] == [{"autograd": True}], answer
    allowed = run_probe(FORWARD_MODE[how], "call_target", target={"function": "cross_entropy_grad"}, calls=calls)
    assert "value" in allowed["results"][0], allowed  # the same code works when autograd is allowed: the guard did it


def test_the_guard_leaves_forward_mode_working_afterwards() -> None:
    run_probe(FORWARD_MODE["torch.func.jvp"], "call_target", target={"function": "cross_entropy_grad"},
              calls=[{"args": [LOGITS, TARGETS]}], forbid_autograd=True)
    _, tangent = torch.func.jvp(torch.sin, (torch.tensor([0.0]),), (torch.tensor([1.0]),))
    assert tangent.item() == 1.0


WRONG_LEAKY = """
class LeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, slope):
        return x * 1.0          # wrong: the identity

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None
"""

PATCHES = {
    "torch.autograd.Function.apply patched": """
        _genuine = torch.autograd.Function.apply
        def _answers_right(cls, *args):
            if cls.__name__ == "LeakyReLUFunction":
                x, slope = args
                return torch.where(x > 0, x, slope * x)
            return _genuine.__func__(cls, *args)
        torch.autograd.Function.apply = classmethod(_answers_right)
    """,
    "an apply of the class's own": """
        LeakyReLUFunction.apply = staticmethod(lambda x, slope: torch.where(x > 0, x, slope * x))
    """,
}


@pytest.mark.parametrize("patch", sorted(PATCHES))
def test_a_function_class_is_called_through_the_genuine_apply(patch: str) -> None:
    x = {"tensor": {"shape": [4], "values": [-2.0, -0.5, 0.5, 2.0], "dtype": "float64"}}
    calls = [{"args": [x, {"number": 0.1}]}]
    honest = run_probe(WRONG_LEAKY, "call_target", target={"apply": "LeakyReLUFunction"}, calls=calls)
    patched = run_probe(WRONG_LEAKY + textwrap.dedent(PATCHES[patch]), "call_target", target={"apply": "LeakyReLUFunction"}, calls=calls)
    assert patched == honest  # the student's own forward answered, whatever the patch says
