"""Report stage: reporters only format results; they never compute scores."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str, limit: int = 600) -> str:
    """Student-influenced text made safe to show: no control or bidi characters, bounded length."""
    text = _CONTROL.sub("?", text.encode("utf-8", "replace").decode("utf-8"))
    return text if len(text) <= limit else text[: limit - 3] + "..."
