"""MkDocs hook: the check-kind reference page is written from the registered kinds at build time.

docs/reference/check-kinds.md holds the page's introduction and a marker line;
the marker is replaced by :func:`grader.checks.docs.kinds_markdown` of every
registered kind, so the page always shows the schemas of the code being built.
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- check kinds: generated at build time by docs/hooks.py -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill the marker of the check-kind page; leave every other page as it is."""
    if MARKER not in markdown:
        return markdown
    from grader.checks.docs import kinds_markdown
    from grader.checks.registry import CHECK_KINDS

    return markdown.replace(MARKER, kinds_markdown(CHECK_KINDS))
