"""The student template with its stubs written four ways, all "not attempted" under the contract.

The exercise notebook's stub functions end in ``raise NotImplementedError``;
each style rewrites that line into ``# YOUR CODE HERE`` plus the style's stub
(``pass``, ``...``, ``return None`` or ``raise NotImplementedError``), keeping
the docstring. The values stay ``None`` as the template has them.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

TEMPLATE = Path(__file__).resolve().parents[2] / "exercises" / "04_automatic_differentiation.ipynb"

STUB_STYLES = {
    "pass": "pass",
    "ellipsis": "...",
    "return_none": "return None",
    "raise_not_implemented": "raise NotImplementedError",
}

# The stub line, and the "# YOUR CODE HERE" line grade assign writes above it (kept once).
_STUB_LINE = re.compile(r"^(?P<indent>[ \t]+)(?:# YOUR CODE HERE\n(?P=indent))?raise NotImplementedError[ \t]*$", re.MULTILINE)


def restub(source: str, stub: str) -> str:
    """``source`` with every stub line replaced by ``# YOUR CODE HERE`` and ``stub`` at the same indentation."""
    return _STUB_LINE.sub(lambda m: f"{m['indent']}# YOUR CODE HERE\n{m['indent']}{stub}", source)


def template_notebook(style: str) -> nbformat.NotebookNode:
    """The whole exercise notebook with its answer cells' stubs written in ``style``."""
    nb = nbformat.read(TEMPLATE, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.get("id", "").endswith("-answer"):
            cell.source = restub(cell.source, STUB_STYLES[style])
    return nb
