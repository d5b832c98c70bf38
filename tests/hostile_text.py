"""Markup a student can put into a name, an answer, a printed line or an error message, and the check that an HTML page shows it only as text."""

from __future__ import annotations

from html.parser import HTMLParser

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PAYLOADS = (SCRIPT, IMG)
HOSTILE = f"{SCRIPT} {IMG}"


class _Page(HTMLParser):
    """A page's elements (tag and attributes) and its text, character references resolved as a browser resolves them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_shown_as_text(page: str, payloads: tuple[str, ...] = PAYLOADS) -> None:
    """No script, event handler or foreign image in ``page``, and each payload is in its text (escaped in the source, not dropped)."""
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    assert "script" not in [tag for tag, _ in parsed.elements]
    assert not [(tag, name) for tag, attrs in parsed.elements for name, _ in attrs if name.startswith("on")]
    assert not [tag for tag, _ in parsed.elements if tag in ("img", "image", "foreignobject", "iframe", "object", "embed")]  # charts are inline SVG
    assert not [(tag, name) for tag, attrs in parsed.elements for name, _ in attrs if name.endswith("href") and tag != "a"]
    text = "".join(parsed.text)
    for payload in payloads:
        assert payload not in page, payload  # never written raw into the source
        assert payload in text, payload  # but shown, as text
