"""S06: nothing from a kernel or a submission is ever unpickled; YAML is loaded safely (a static check, no kernel)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

BANNED_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "joblib", "jsonpickle"}


def _name(node: ast.AST) -> str:
    """``a.b.c`` for an attribute chain of names, "" otherwise."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _unsafe_call(call: ast.Call) -> str:
    function = _name(call.func)
    if function == "torch.load":
        weights_only = _keyword(call, "weights_only")
        return "" if isinstance(weights_only, ast.Constant) and weights_only.value is True else "torch.load without weights_only=True"
    if function in ("yaml.load", "yaml.load_all"):
        loader = _name(_keyword(call, "Loader") or ast.Constant(None))
        return "" if loader.endswith(("SafeLoader", "CSafeLoader")) else f"{function} without a SafeLoader"
    if function in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all", "yaml.full_load_all"):
        return function
    if function in ("np.load", "numpy.load"):
        allow = _keyword(call, "allow_pickle")
        return f"{function} with allow_pickle" if isinstance(allow, ast.Constant) and allow.value else ""
    return ""


def unsafe_uses(source: str) -> list[str]:
    """Imports of pickle-like modules and unsafe loader calls in ``source``, by line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] in BANNED_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in BANNED_MODULES:
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and (why := _unsafe_call(node)):
            found.append(f"line {node.lineno}: {why}")
        elif isinstance(node, ast.Attribute) and _name(node).split(".")[0] in BANNED_MODULES:
            found.append(f"line {node.lineno}: {_name(node)}")
    return found


@pytest.mark.parametrize("path", sorted((ROOT / "grader").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_grader_never_unpickles(path: Path) -> None:
    assert unsafe_uses(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import pickle",
        "from dill import loads",
        "import torch\ntorch.load(f)",
        "import torch\ntorch.load(f, weights_only=False)",
        "import yaml\nyaml.load(text)",
        "import yaml\nyaml.load(text, Loader=yaml.Loader)",
        "import yaml\nyaml.full_load(text)",
        "import numpy as np\nnp.load(f, allow_pickle=True)",
        "import marshal\nmarshal.loads(b)",
    ],
)
def test_the_check_catches_unsafe_loading(source: str) -> None:
    assert unsafe_uses(source)


@pytest.mark.parametrize(
    "source",
    ["import torch\ntorch.load(f, weights_only=True)", "import yaml\nyaml.load(t, Loader=yaml.SafeLoader)", "yaml.safe_load(t)",
     "import numpy as np\nnp.load(f, allow_pickle=False)", "import json\njson.loads(t)"],
)
def test_the_check_lets_safe_loading_pass(source: str) -> None:
    assert unsafe_uses(source) == []


def test_rubric_yaml_tags_are_refused(tmp_path: Path) -> None:
    """A rubric that asks YAML to build Python objects is a broken rubric, not a command."""
    from grader import load_rubric
    from grader.errors import RubricError

    marker = tmp_path / "pwned"
    rubric = tmp_path / "evil.yaml"
    rubric.write_text(f"assignment: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    with pytest.raises(RubricError):
        load_rubric(rubric)
    assert not marker.exists()
