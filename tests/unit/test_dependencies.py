"""Dependencies point one way: the import graph of grader/ has no cycle, and no layer imports a layer above it.

The graph is read from the source with ``ast``: every import statement counts, at
module top, inside functions, under ``if TYPE_CHECKING:``, absolute or relative.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from grader.cli import COMMANDS

GRADER = Path(__file__).resolve().parents[2] / "grader"

# Bottom to top. A module belongs to the layer of its longest listed prefix; each may import only its own layer and those below.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("grader.version", "grader.errors", "grader.shorten", "grader.results", "grader.rubric", "grader.observation")),
    ("stages", ("grader.load", "grader.assignments", "grader.kernel", "grader.probes", "grader.checks", "grader.scoring", "grader.reporters")),
    ("orchestrator", ("grader.pipeline",)),
    ("commands", ("grader.batch", "grader.authoring", "grader.kept", "grader.kit", "grader.live", "grader.mutation", "grader.pytest_plugin")),
    ("entry points", ("grader.cli", "grader.__main__", "grader")),
)


def module_name(path: Path, root: Path = GRADER) -> str:
    """``grader/kit/build.py`` -> ``grader.kit.build``; a package's ``__init__.py`` is the package."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """Every name an import statement anywhere in ``tree`` brings in, absolute (``from . import x`` -> ``pkg.x``), with its line."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            yield source, node.lineno
            for alias in node.names:
                yield f"{source}.{alias.name}", node.lineno


def import_graph(root: Path = GRADER) -> dict[str, dict[str, int]]:
    """Module -> {grader module it imports: line of the first such import}. Importing a submodule counts as importing it, not its parents."""
    paths = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {}
    for module, path in paths.items():
        edges: dict[str, int] = {}
        for name, line in imported_names(ast.parse(path.read_text(encoding="utf-8")), module, path.name == "__init__.py"):
            target = name
            while target and target not in paths:  # ``from grader.checks import Check``: the module is grader.checks
                target = target.rpartition(".")[0]
            if target and target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str]:
    """One import cycle as ``[a, b, ..., a]``, or ``[]`` when the graph has none."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" once fully explored
    path: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph.get(module, {})):
            if state.get(target) == "open":
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = "done"
        return []

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return []


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of the layer whose longest prefix names ``module``."""
    best, layer = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, layer = len(prefix), index
    return layer


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in pairwise(cycle)) + f" -> {cycle[-1]}"


# --- the graph reader itself, on a small package written here ------------------------------------------


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "grader" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "grader"


def test_the_reader_sees_function_level_relative_and_type_checking_imports(tmp_path: Path) -> None:
    root = write_package(tmp_path, {
        "__init__.py": "",
        "a.py": "def f():\n    from grader import b\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import C\n",
        "c.py": "from .sub.d import x\n",
        "sub/__init__.py": "from . import d\n",
        "sub/d.py": "import grader.a\nimport os\n",
    })
    graph = import_graph(root)
    assert graph == {
        "grader": {}, "grader.a": {"grader": 2, "grader.b": 2}, "grader.b": {"grader.c": 3}, "grader.c": {"grader.sub.d": 1},
        "grader.sub": {"grader.sub.d": 1}, "grader.sub.d": {"grader.a": 1},
    }
    assert find_cycle(graph) == ["grader.a", "grader.b", "grader.c", "grader.sub.d", "grader.a"]


def test_a_package_importing_a_kind_that_imports_the_package_is_a_cycle(tmp_path: Path) -> None:
    root = write_package(tmp_path, {"__init__.py": "", "checks/__init__.py": "def load():\n    from grader.checks import dual\n",
                                    "checks/dual.py": "from grader.checks import Check\n"})
    assert find_cycle(import_graph(root)) == ["grader.checks", "grader.checks.dual", "grader.checks"]


def test_a_graph_without_cycles_has_none() -> None:
    assert find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {}, "d": {"b": 1}}) == []


@pytest.mark.parametrize(("module", "layer"), [
    ("grader.rubric", "foundation"), ("grader.checks.registry", "stages"), ("grader.pipeline", "orchestrator"),
    ("grader.kit.build", "commands"), ("grader", "entry points"), ("grader.cli", "entry points"),
])
def test_every_module_has_its_layer(module: str, layer: str) -> None:
    assert LAYERS[layer_of(module)][0] == layer


# --- grader/ ------------------------------------------------------------------------------------------


def test_grader_has_no_import_cycle() -> None:
    graph = import_graph()
    cycle = find_cycle(graph)
    assert not cycle, f"import cycle: {describe(cycle, graph)}"


def test_every_grader_module_is_in_a_layer() -> None:
    assert [module for module in import_graph() if layer_of(module) < 0] == []


def test_no_layer_imports_a_layer_above_it() -> None:
    graph = import_graph()
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]}) at line {line}"
        for module, edges in sorted(graph.items())
        for target, line in sorted(edges.items())
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_no_module_imports_a_command() -> None:
    """A subcommand's module is the top of its own stack: what two commands share lives below both (grader.authoring.layout)."""
    commands = {command.target.partition(":")[0] for command in COMMANDS.values()}
    importers = [f"{module} imports {target} at line {line}"
                 for module, edges in sorted(import_graph().items()) for target, line in edges.items() if target in commands]
    assert importers == []
