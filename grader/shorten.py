"""Shortening text for people: never mid-word, and always saying how much was left out.

Every message or detail the grader shortens goes through these two helpers,
so that no report ends in "squared residuals: eac...". :func:`shorten` cuts a
text at the last word boundary that fits and says how many characters it left
out; :func:`shorten_items` keeps whole items of a list (the better boundary)
and says how many items it left out.
"""

from __future__ import annotations

from collections.abc import Sequence

ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start cut at a word boundary and "…(N more characters)".

    The result never exceeds ``limit`` (for a limit of at least 30 characters);
    a single word longer than the room left is cut where the room ends, the
    only place left to cut.
    """
    if len(text) <= limit:
        return text
    room = max(limit - len(_more(len(text), "characters")) - 1, 1)
    while True:
        cut = _word_boundary(text, room)
        marker = _more(len(text) - cut, "characters")
        if cut + 1 + len(marker) <= limit or room <= 1:
            return f"{text[:cut].rstrip()} {marker}"
        room -= 1


def shorten_items(items: Sequence[str], limit: int | None = None, most: int | None = None, sep: str = "; ",
                  total: int | None = None) -> str:
    """Items joined by ``sep``, keeping whole items: at most ``most`` of them and ``limit`` characters, then "…(N more)".

    ``total`` is how many items there are when ``items`` is already only the
    first of them (a probe sends at most a few). An item that alone is longer
    than ``limit`` is shortened by :func:`shorten`.
    """
    total = len(items) if total is None else max(total, len(items))
    kept: list[str] = []
    for item in items[: most if most is not None else len(items)]:
        candidate = sep.join([*kept, item])
        left = total - len(kept) - 1
        marker = f"{sep.rstrip()} {_more(left)}" if left else ""
        if limit is not None and len(candidate) + len(marker) > limit:
            if not kept:
                kept.append(shorten(item, max(limit - len(marker), 30)))
            break
        kept.append(item)
    left = total - len(kept)
    return sep.join(kept) + (f"{sep.rstrip()} {_more(left)}" if left and kept else _more(left) if left else "")


def _more(count: int, what: str = "") -> str:
    return f"{ELLIPSIS}({count} more{' ' + what if what else ''})"


def _word_boundary(text: str, room: int) -> int:
    """Where to cut ``text`` to keep at most ``room`` characters: after the last whole word, else at ``room``."""
    if room >= len(text):
        return len(text)
    if text[room].isspace():
        return room
    space = text.rfind(" ", 0, room)
    return space if space > 0 else room
