"""Read a subject line for what CAN-SPAM §7704(a)(2) calls deceptive: a reply or forward prefix
("Re:", "Fwd:", RFC 5322 §3.6.5) on a message that answers none, or wording that poses as a
transactional notice.

The prefixes and patterns come from `ContentPolicy` (`streams.content.policy`); the subject is
folded first (`streams.content.text.plain`), so a prefix in full-width letters is still one.
Whether the message really answers one (In-Reply-To, References) is the rule's question
(`streams.rules.content`), not this module's.
"""

from __future__ import annotations

import re
from functools import lru_cache

from streams.content.policy import SubjectPattern
from streams.content.text import plain

__all__ = ["deceptive_subject", "reply_prefix"]


@lru_cache(maxsize=16)
def _reply_prefix_regex(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    """`Re:`, `RE :`, `Re[2]:`, `Fwd: Re:` ... at the start of a subject."""
    names = "|".join(re.escape(prefix) for prefix in sorted(prefixes, key=len, reverse=True))
    return re.compile(rf"^\W*(?P<prefix>{names})\s*(?:\[\d+\]|\(\d+\))?\s*:", re.IGNORECASE)


@lru_cache(maxsize=16)
def _subject_regexes(
    patterns: tuple[SubjectPattern, ...],
) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(p.pattern, re.IGNORECASE), p.explanation) for p in patterns)


def reply_prefix(subject: str, prefixes: tuple[str, ...]) -> str | None:
    """The reply or forward prefix the subject starts with, as written ("Re", "FWD"), or None."""
    match = _reply_prefix_regex(prefixes).match(plain(subject))
    return None if match is None else match["prefix"]


def deceptive_subject(subject: str, patterns: tuple[SubjectPattern, ...]) -> str | None:
    """The explanation of the first deceptive-subject pattern the subject matches, or None."""
    folded = plain(subject)
    for pattern, why in _subject_regexes(patterns):
        if pattern.search(folded):
            return why
    return None
