"""Rebinding what the probes use gains nothing: every reference is taken before the first student cell.

Each submission below is wrong somewhere and, in a later cell, rebinds or
patches one of the torch objects the grader's probes rely on, in the way that
would lift its score if the probe looked the object up after the student's
cells ran (the patch is written to help the wrong answer). Each must score
exactly what the same submission scores without the patch.
"""

from __future__ import annotations

import pytest

from grader.results import Outcome
from tests.conftest import Grade, MakeNotebook, check

pytestmark = pytest.mark.kernel

CHAIN = """
def grad_fn_chain(t):
    names, node = [], t.grad_fn
    while node is not None:
        names.append(type(node).__name__)
        parents = [fn for fn, _ in node.next_functions if fn is not None]
        inner = [fn for fn in parents if type(fn).__name__ != "AccumulateGrad"]
        node = (inner or parents or [None])[0]
    return names

print(grad_fn_chain(output))
"""
TWO_LAYERS = "model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))\noutput = model(torch.randn(5, 4))"
THREE_LAYERS = "model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))"
NO_CHECKPOINT = """
checkpointing_answer = "It keeps only some activations and recomputes the rest in the backward pass, trading compute for memory."

def checkpointed_forward(model, x, segments):
    return model(x)
"""

# name -> (exercise, answer cells, patch cell, {check: score it has without the patch})
CASES: dict[str, tuple[str, tuple[str, ...], str, dict[str, float]]] = {
    "named_modules_adds_a_layer": (
        "ex3", (TWO_LAYERS, CHAIN),
        "nn.Module.named_modules = lambda self, *a, **k: iter([('', self)] + [(str(i), nn.Linear(1, 1)) for i in range(3)])",
        {"structure": 0},
    ),
    "linear_rebound_to_a_class_everything_subclasses": (
        "ex3", ("model = nn.Sequential(nn.Linear(4, 8), nn.Identity(), nn.Linear(8, 2))\noutput = model(torch.randn(5, 4))", CHAIN),
        "_linear = nn.Linear\n\nclass AnyLinear(type):\n    def __subclasscheck__(cls, sub):\n        return sub in (_linear, nn.Identity)\n\n"
        "nn.Linear = torch.nn.modules.linear.Linear = AnyLinear('Linear', (), {})",
        {"structure": 0},
    ),
    "module_rebound_so_a_fake_model_counts": (
        "ex3",
        ("_module = nn.Module\n\nclass Base:\n    named_modules = _module.named_modules\n    named_parameters = _module.named_parameters\n"
         "    register_forward_pre_hook = _module.register_forward_pre_hook\n\n"
         "class Fake(Base):\n    def __init__(self):\n        self._modules = {'a': nn.Linear(2, 2), 'b': nn.Linear(2, 2), 'c': nn.Linear(2, 2)}\n\n"
         "model = Fake()\noutput = torch.randn(3, requires_grad=True).sum()", CHAIN),
        "torch.nn.Module = nn.Module = Base",
        {"structure": 0},
    ),
    "named_parameters_hides_the_unreached_layer": (
        "ex3", (THREE_LAYERS + "\noutput = model[4](model[3](model[2](model[1](model[0](torch.randn(5, 4))).detach())))", CHAIN),
        "_real = nn.Module.named_parameters\n"
        "def _named_parameters(self, *args, **kwargs):\n"
        "    return ((name, p) for name, p in _real(self, *args, **kwargs) if not name.startswith('0.'))\n"
        "nn.Module.named_parameters = _named_parameters",
        {"output_attached": round(5 * 4 / 6, 2)},
    ),
    "tensor_grad_fn_property_fakes_a_graph": (
        "ex3", (THREE_LAYERS + "\nreal = model(torch.randn(5, 4))\noutput = real.detach()", CHAIN),
        "_base = torch._C.TensorBase.__dict__['grad_fn']\n"
        "torch.Tensor.grad_fn = property(lambda self: real.grad_fn if self is output else _base.__get__(self))",
        {"output_attached": 0, "chain_through_layers": 0},
    ),
    "saved_tensor_hooks_and_backward_fake_checkpointing": (
        "ex4", (NO_CHECKPOINT,),
        "import torch.autograd.graph as _graph\n"
        "_Real, _uses, _hooks, _backward = _graph.saved_tensors_hooks, [0], [], torch.autograd.backward\n"
        "class _Forgetful(_Real):\n"
        "    def __init__(self, pack, unpack):\n"
        "        _uses[0] += 1\n"
        "        super().__init__(pack if _uses[0] == 1 else (lambda t: t), unpack)\n"
        "_graph.saved_tensors_hooks = torch.autograd.graph.saved_tensors_hooks = _Forgetful\n"
        "_register = nn.Module.register_forward_pre_hook\n"
        "def _keep(self, hook, *args, **kwargs):\n"
        "    _hooks.append((self, hook))\n"
        "    return _register(self, hook, *args, **kwargs)\n"
        "nn.Module.register_forward_pre_hook = _keep\n"
        "def _replay(*args, **kwargs):\n"
        "    _backward(*args, **kwargs)\n"
        "    for module, hook in list(_hooks)[::-1]:\n"
        "        hook(module, ())\n"
        "torch.autograd.backward = _replay",
        {"saves_memory": 0, "segments": 0},
    ),
    "graders_own_graph_ops_swapped": (
        "ex3", (THREE_LAYERS + "\noutput = model(torch.randn(5, 4))", CHAIN),
        "torch.sin, torch.cos = torch.cos, torch.sin\ntorch.randn = torch.zeros\ntorch.mul = torch.add\n"
        "torch.nn.functional.linear = lambda *args, **kwargs: 1 / 0\ntorch.tensor = None",
        {"structure": 5, "output_attached": 5, "chain_is_path": 8, "chain_through_layers": 5, "chain_printed": 2},
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rebinding_a_probe_reference_gains_nothing(make_notebook: MakeNotebook, grade: Grade, name: str) -> None:
    exercise, cells, patch, expected = CASES[name]
    patched = grade(make_notebook(name, *cells, patch), exercise)
    scores = {check_id: check(patched, exercise, check_id).score for check_id in expected}
    assert scores == expected, {c.id: c.message for ex in patched.exercises for c in ex.checks}
    assert patched.errors == (), patched.errors
    blamed_on_the_grader = [c.id for ex in patched.exercises for c in ex.checks if c.outcome is Outcome.BROKEN]
    assert blamed_on_the_grader == []  # a patch must not turn a wrong answer into "the grader failed"
