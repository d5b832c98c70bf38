"""What the review pages show, as plain data for the templates: highlighted answers, notebook cells, the notebook."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_WORD_GAP = r"[^a-z0-9'’-]+"


def highlighted(text: str, phrases: list[str]) -> list[tuple[str, bool]]:
    """``text`` cut into (part, is_a_key_idea) pieces: the places where a credited idea's matched words occur.

    The key-ideas kind matches lower-cased words joined by single spaces, so a
    phrase is found again in the original text with any run of non-word
    characters between its words, case ignored.
    """
    spans: list[tuple[int, int]] = []
    for phrase in phrases:
        words = phrase.split()
        if not words:
            continue
        pattern = re.compile(_WORD_GAP.join(re.escape(w) for w in words), re.IGNORECASE)
        spans += [m.span() for m in pattern.finditer(text)]
    pieces, at = [], 0
    for start, end in _merged(spans):
        pieces += [(text[at:start], False), (text[start:end], True)]
        at = end
    pieces.append((text[at:], False))
    return [(part, hit) for part, hit in pieces if part]


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def code_cells(path: Path) -> list[str]:
    """The sources of a submission's code cells (a .py module is one cell); empty when it cannot be read."""
    if path.suffix == ".py":
        try:
            return [path.read_text(encoding="utf-8", errors="replace")]
        except OSError:
            return []
    notebook = _read_notebook(path)
    return [str(cell.get("source", "")) for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"] if notebook else []


def _read_notebook(path: Path) -> Any:
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - a student's file: unreadable in any way means "nothing to show"
        return None


def notebook_html(path: Path) -> str:
    """The submission as one HTML page: nbconvert's HTMLExporter when installed, else the cells in a plain page.

    The page shows the student's outputs as they are; it is served with a
    sandboxing Content-Security-Policy, never in the review's own origin.
    """
    notebook = _read_notebook(path) if path.suffix != ".py" else None
    if notebook is not None:
        try:
            from nbconvert import HTMLExporter
        except ImportError:
            pass
        else:
            try:
                body, _ = HTMLExporter(template_name="classic").from_notebook_node(notebook)
                return str(body)
            except Exception:  # noqa: BLE001 - a notebook nbconvert cannot render still shows as plain cells
                pass
    return _plain_page(path)


def _plain_page(path: Path) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("grader", "templates"), autoescape=select_autoescape(default=True))
    return env.get_template("review/notebook.html").render(name=path.name, cells=code_cells(path))
