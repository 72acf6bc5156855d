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

__all__ = ["compiled", "matches_any", "mentions", "phrase_regex", "plain", "unwrapped"]

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'"})
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_SENTENCE_STOPS = ".!?:;"
_AMOUNT_STARTS = frozenset("0123456789$€£")


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


def unwrapped(text: str) -> str:
    """Lines a plain-text part broke in mid-sentence joined again, as a reader reads them.

    Plain text is wrapped wherever a line is full (RFC 5322 §2.1.1 asks for lines of at most 78
    characters), so one sentence is often two lines, and a phrase that only means something
    whole ("has already been / applied to this order", "reply 'no thanks' and I won't / email
    you again") straddles the break. A break is a wrap when the line before it ends neither a
    sentence nor a label (no . ! ? : ;) and the next line goes on in lower case, or goes on with
    an amount after a word ("for just / $79", "save / 40%"); a footer's separate items ("Shop
    now" over "Unsubscribe") start with a capital or stand after a stop, and stay apart.
    """
    lines = text.split("\n")
    joined = [lines[0]]
    for line in lines[1:]:
        before = joined[-1].rstrip()
        after = line.lstrip()
        if (
            before
            and before[-1] not in _SENTENCE_STOPS
            and (after[:1].islower() or (before[-1].isalpha() and after[:1] in _AMOUNT_STARTS))
        ):
            joined[-1] = f"{before} {after}"
        else:
            joined.append(line)
    return "\n".join(joined)
