"""Fold message text into the one form the content patterns are written for, and match them.

A sender writes "Unsubscribe" with a full-width letter, a curly apostrophe or a non-breaking
space as often as without; the policy's phrase lists and patterns (`streams.content.policy`)
are written once, in plain form, and every text is folded before it is searched (`plain`).
Compiled patterns are cached by the policy tuple they come from, so a policy compiles once.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["compiled", "matches_any", "mentions", "phrase_regex", "plain"]

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'"})
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")


@lru_cache(maxsize=256)
def plain(text: str) -> str:
    """Text as the patterns expect it: NFKC (full-width and compatibility forms folded), one
    apostrophe, line breaks as \\n, and each run of other white space one space."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    return _HORIZONTAL_SPACE.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))


@lru_cache(maxsize=64)
def phrase_regex(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """One case-insensitive pattern for a phrase list: whole words, any white space between."""
    parts = []
    for phrase in sorted({plain(p).strip() for p in phrases if p.strip()}, key=len, reverse=True):
        words = r"\s+".join(re.escape(word) for word in phrase.split(" "))
        lead = r"\b" if re.match(r"\w", phrase) else ""
        tail = r"\b" if re.search(r"\w$", phrase) else ""
        parts.append(f"{lead}{words}{tail}")
    return re.compile("|".join(parts), re.IGNORECASE)


@lru_cache(maxsize=64)
def compiled(patterns: tuple[str, ...], flags: int) -> tuple[re.Pattern[str], ...]:
    """A policy's pattern list compiled with `flags`, once per list."""
    return tuple(re.compile(pattern, flags) for pattern in patterns)


def matches_any(patterns: tuple[re.Pattern[str], ...], text: str) -> bool:
    """Whether any of the patterns is found anywhere in `text`."""
    return any(pattern.search(text) for pattern in patterns)


@lru_cache(maxsize=256)
def mentions(text: str, phrases: tuple[str, ...]) -> bool:
    """Whether the folded text holds one of the phrases, as whole words."""
    return phrase_regex(phrases).search(plain(text)) is not None
