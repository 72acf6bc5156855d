"""Render an HTML message body to the text a mail client shows, and its links.

The content rules judge what a reader sees, so `streams.content.message_facts` renders a message's
`text/html` body to plain text when it has no `text/plain` one, and reads the links of any HTML
body from here. Pure: a string in, a value out; total on any input (the standard library's
`html.parser` reads broken HTML without failing).

- `<style>`, `<script>`, `<title>` and `<template>` are skipped: a mail client does not show them.
  Block elements break lines (paragraphs, headings, tables and lists with a blank line), table
  cells are spaced apart, and `<pre>` keeps its spacing; elsewhere white space collapses.
- Text hidden with the `hidden` attribute, `display:none` or `visibility:hidden` is left out,
  links in it too, and the hidden elements are counted so the caller can warn: hidden text is no
  clear and conspicuous notice (a postal address or an unsubscribe link a reader cannot see does
  not count). Text hidden by other tricks (zero font size, white on white, `mso-hide`) is not
  detected and counts as visible.
- Links are the `<a href>` anchors, in order, with their text (an image's `alt` when the anchor
  has no text). Tabs and newlines in an `href` are dropped, as browsers drop them; a link longer
  than a request holds (`MAX_URL_CHARS`) is left out and a longer text is cut.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Final, NamedTuple

from streams.core.records import BodyLink

__all__ = ["MAX_URL_CHARS", "RenderedHtml", "html_to_text", "render_html"]

MAX_URL_CHARS: Final = 2048
"""The longest link URL a send request holds (`BodyLink.url`); a longer link is left out."""
_MAX_LINK_TEXT_CHARS: Final = 1000
"""The longest link text a send request holds (`BodyLink.text`); a longer text is cut."""


class RenderedHtml(NamedTuple):
    """What a reader of an HTML body sees."""

    text: str
    links: tuple[BodyLink, ...]
    hidden_elements: int
    """How many hidden elements (with their text and links) were left out."""


def html_to_text(html: str) -> str:
    """The text a reader of `html` sees, as plain text (see the module docstring)."""
    return render_html(html).text


def render_html(html: str) -> RenderedHtml:
    """The visible text of `html`, its anchors with their text, and how many hidden elements
    were left out."""
    renderer = _HtmlRenderer()
    renderer.feed(html.replace("\x00", "\ufffd"))  # as HTML parsers do; NUL marks breaks here
    renderer.close()
    return RenderedHtml(renderer.text(), tuple(renderer.links), renderer.hidden_elements)


_SKIPPED_ELEMENTS: Final = frozenset({"style", "script", "title", "template"})
_VOID_ELEMENTS: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_PARAGRAPHS: Final = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "dl"}
)
_LINES: Final = frozenset(
    {
        "br", "div", "li", "tr", "hr", "dt", "dd", "section", "article", "header", "footer",
        "address", "center", "main", "nav", "aside", "figure", "figcaption", "form", "fieldset",
    }
)  # fmt: skip
_CELLS: Final = frozenset({"td", "th"})
_HIDDEN_STYLE = re.compile(r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)\b", re.I)
_PARAGRAPH_BREAK = "\x00p"  # markers in the stream, resolved by text(); the input has no NUL
_LINE_BREAK = "\x00l"


class _HtmlRenderer(HTMLParser):
    """HTML to the text a mail client shows, and its anchors; total on any input."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[BodyLink] = []
        self.hidden_elements = 0
        self._out: list[str] = []
        self._skip: tuple[str, int] | None = None  # the skipped element and its nesting depth
        self._pre = 0
        self._href: str | None = None
        self._anchor_text: list[str] = []
        self._anchor_alt: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip is not None:
            if tag == self._skip[0] and tag not in _VOID_ELEMENTS:
                self._skip = (tag, self._skip[1] + 1)
            return
        attributes = dict(attrs)
        if _is_hidden(attributes):
            self.hidden_elements += 1
            if tag not in _VOID_ELEMENTS:
                self._skip = (tag, 1)
            return
        if tag in _SKIPPED_ELEMENTS:
            self._skip = (tag, 1)
            return
        self._break_for(tag)
        if tag == "pre":
            self._pre += 1
        elif tag == "a":
            self._end_anchor()
            href = (attributes.get("href") or "").strip()
            self._href = re.sub(r"[\t\n\r]", "", href) or None
        elif tag == "img" and self._href is not None:
            self._anchor_alt.append(attributes.get("alt") or "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_ELEMENTS or self._skip is not None:
            self.handle_starttag(tag, attrs)
        # `<div/>` is no element with content: nothing to open.

    def handle_endtag(self, tag: str) -> None:
        if self._skip is not None:
            name, depth = self._skip
            if tag == name:
                self._skip = None if depth == 1 else (name, depth - 1)
            return
        if tag == "pre":
            self._pre = max(0, self._pre - 1)
        elif tag == "a":
            self._end_anchor()
        self._break_for(tag, closing=True)

    def handle_data(self, data: str) -> None:
        if self._skip is not None:
            return
        if not self._pre:
            data = re.sub(r"\s+", " ", data)
        self._out.append(data)
        if self._href is not None:
            self._anchor_text.append(data)

    def close(self) -> None:
        super().close()
        self._end_anchor()

    def text(self) -> str:
        """The collected text: one space between words, no blank line twice, no edge spaces."""
        joined = "".join(self._out)
        joined = re.sub(rf"(?:[ \t]*(?:{_LINE_BREAK}|{_PARAGRAPH_BREAK}))+[ \t]*", _breaks, joined)
        joined = joined.replace("\r\n", "\n").replace("\r", "\n")  # CR and CRLF kept by `<pre>`
        lines = [line.rstrip() for line in joined.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()

    def _break_for(self, tag: str, *, closing: bool = False) -> None:
        if tag in _PARAGRAPHS:
            self._out.append(_PARAGRAPH_BREAK)
        elif tag in _LINES:
            self._out.append(_LINE_BREAK)
        elif tag in _CELLS and not closing:
            self._out.append(" ")

    def _end_anchor(self) -> None:
        if self._href is None:
            return
        text = " ".join("".join(self._anchor_text).split())
        text = text or " ".join(" ".join(self._anchor_alt).split())
        if len(self._href) <= MAX_URL_CHARS:
            self.links.append(BodyLink(url=self._href, text=text[:_MAX_LINK_TEXT_CHARS]))
        self._href = None
        self._anchor_text = []
        self._anchor_alt = []


def _breaks(match: re.Match[str]) -> str:
    """A run of break markers (and the spaces around them) is one paragraph or one line break."""
    return "\n\n" if _PARAGRAPH_BREAK in match.group() else "\n"


def _is_hidden(attributes: dict[str, str | None]) -> bool:
    if "hidden" in attributes:
        return True
    return bool(_HIDDEN_STYLE.search(attributes.get("style") or ""))
