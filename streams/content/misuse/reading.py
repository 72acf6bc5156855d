"""How the transactional-misuse detector reads text: normalised once, cut into segments, matched
casefolded, quoted as written.

- Normalised once: Unicode NFKC (full-width and non-breaking characters become plain ones),
  typographic quotes become straight ones, then the text is cut into segments (a line, or a
  sentence within a line), each with its white space collapsed and case folded (`str.casefold`:
  German "ß" reads "ss", so patterns spell it that way). Link texts are segments too.
- Links: a link's URL is matched as its host, path and query, casefolded and percent-decoded;
  anything but an http(s) link with a host is no shop page.
- Evidence: each signal keeps up to three snippets of at most six words, cut from the message as
  written (after NFKC); anything shaped like an email address in a snippet is replaced by
  "[address]", so an explanation built from them never carries the recipient's address.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from streams.content.text import unwrapped

__all__ = [
    "Segment",
    "alternation",
    "collapsed",
    "evidence",
    "link_target",
    "normalise",
    "segment",
    "shown_segments",
]

_MAX_EVIDENCE_WORDS = 6
_QUOTES = str.maketrans(
    dict.fromkeys("\u2018\u2019\u02bc", "'") | dict.fromkeys("\u201c\u201d\u201e", '"')
)
"""Typographic quotes (' ' and the modifier apostrophe; " " and the German low quote) as plain."""
_WHITE_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ADDRESS = re.compile(r"[^\s@]+@[^\s@]+")
_EDGE = re.compile(r"^[^\w$€£%]+|[^\w$€£%]+$")


@dataclass(frozen=True, slots=True)
class Segment:
    """A line or sentence: `shown` as written (NFKC, white space collapsed), `folded` as
    matched; `origin[i]` is the index in `shown` of `folded[i]` (None: the same index)."""

    shown: str
    folded: str
    origin: tuple[int, ...] | None
    in_subject: bool

    def snippet(self, start: int, end: int) -> str:
        if self.origin is not None:
            start, end = self.origin[start], self.origin[end - 1] + 1
        return evidence(self.shown[start:end])


def evidence(text: str) -> str:
    """A snippet as an explanation quotes it: no edge punctuation, no address, six words."""
    text = _ADDRESS.sub("[address]", _EDGE.sub("", text))
    words = text.split(" ")
    if len(words) > _MAX_EVIDENCE_WORDS:
        return " ".join(words[:_MAX_EVIDENCE_WORDS]) + "…"
    return text


def segment(shown: str, in_subject: bool) -> Segment:
    folded = shown.casefold()
    origin = None
    if len(folded) != len(shown):  # "ß" folds to "ss": remember where each folded char came from
        origin = tuple(i for i, char in enumerate(shown) for _ in char.casefold())
    return Segment(shown, folded, origin, in_subject)


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_QUOTES)


def collapsed(text: str) -> str:
    """White space collapsed to single spaces, and none at the ends."""
    return _WHITE_SPACE.sub(" ", text).strip()


def shown_segments(text: str) -> list[str]:
    """A text's segments as shown: its lines (a line wrapped in mid-sentence joined to the next,
    so a sentence's transactional context is read with its offer words), each cut into
    sentences, white space collapsed."""
    found = []
    for line in unwrapped(normalise(text)).splitlines():
        for sentence in _SENTENCE_END.split(line):
            shown = collapsed(sentence)
            if shown:
                found.append(shown)
    return found


@lru_cache(maxsize=256)
def alternation(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled alternation per list, compiled once per distinct list."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns))


def link_target(url: str) -> str | None:
    """A web link as matched: host, path and query, casefolded and percent-decoded."""
    try:
        parts = urlsplit(unicodedata.normalize("NFKC", url.strip()))
        host = parts.hostname
    except ValueError:  # "http://[::1": a malformed link is no shop page
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    target = host + unquote(parts.path)
    if parts.query:
        target += "?" + unquote(parts.query)
    return target.casefold()
