"""Find in a message body what commercial mail must carry (a postal address, a working
unsubscribe mechanism, an advertisement label, a permission reminder) and what no mail may (an
incentive for positive reviews only, 16 CFR 465.4).

Each answer is a heuristic over the body facts a send request carries (`MessageBody.text` and
`.links`), driven by the patterns and phrase lists of `ContentPolicy` (`streams.content.policy`),
which says where each comes from. The functions take those lists as tuples, not the policy, so
their caches key on exactly what they read. The rules that word the verdicts are in
`streams.rules.content`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from streams.content.text import compiled, matches_any, mentions, phrase_regex, plain, unwrapped
from streams.core.records import BodyLink

__all__ = [
    "buys_positive_reviews",
    "has_postal_address",
    "labels_advertisement",
    "offers_unsubscribe",
    "reminds_permission",
]

_ACTIONABLE_URL = re.compile(r"^\s*(?:https?://[^\s/?#]+|mailto:[^\s@]+@)", re.IGNORECASE)
_URL_IN_TEXT = re.compile(r"(?:https?://|mailto:)[^\s<>\"')\]]+", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@lru_cache(maxsize=256)
def has_postal_address(text: str, patterns: tuple[str, ...]) -> bool:
    """Whether any postal-address pattern (multi-line: `^` and `$` are line ends) matches."""
    return matches_any(compiled(patterns, re.MULTILINE), plain(text))


@lru_cache(maxsize=256)
def offers_unsubscribe(
    text: str,
    links: tuple[BodyLink, ...],
    phrases: tuple[str, ...],
    url_markers: tuple[str, ...],
    reply_patterns: tuple[str, ...],
) -> bool:
    """What a reader takes for a way out: a link that works (http, https or mailto) whose text,
    URL or line names an opt-out ("Unsubscribe: https://..." in a plain-text footer, where the
    link's text is its URL; "To opt out, click here"), a URL in the text on a line that names
    one, or instructions to opt out by reply. A link to "#" or to javascript: with the text
    "Unsubscribe" is no mechanism (Spam Act s.18: "functional"). Reply instructions are read with
    wrapped lines joined: "just reply 'no thanks' and I won't / email you again" is one."""
    wording = phrase_regex(phrases)
    markers = tuple(marker.lower() for marker in url_markers)
    folded = plain(text)
    lines = folded.splitlines()
    for link in links:
        if not _ACTIONABLE_URL.match(link.url):
            continue
        if wording.search(plain(link.text)) or any(m in link.url.lower() for m in markers):
            return True
        shown = {part for part in (plain(link.text).strip(), link.url) if part}
        if any(wording.search(line) for line in lines if any(part in line for part in shown)):
            return True
    for line in lines:
        urls = _URL_IN_TEXT.findall(line)
        if any(any(m in url.lower() for m in markers) for url in urls):
            return True
        if urls and wording.search(line):
            return True
    return matches_any(compiled(reply_patterns, re.IGNORECASE), unwrapped(folded))


def labels_advertisement(subject: str, text: str, phrases: tuple[str, ...]) -> bool:
    """Whether the subject or the body identifies the message as an advertisement."""
    return mentions(subject, phrases) or mentions(text, phrases)


def reminds_permission(text: str, phrases: tuple[str, ...]) -> bool:
    """Whether the body tells the recipient why they receive the message."""
    return mentions(text, phrases)


@lru_cache(maxsize=256)
def buys_positive_reviews(
    subject: str,
    text: str | None,
    window: int,
    requests: tuple[str, ...],
    incentives: tuple[str, ...],
    positive: tuple[str, ...],
) -> bool:
    """A review request, an incentive and a positive condition within `window` consecutive
    paragraphs (the subject is the first). A reward for every review, whatever it says, has no
    positive condition and passes."""
    blocks = [plain(subject)]
    if text:
        blocks += [block for block in _PARAGRAPH_BREAK.split(plain(text)) if block.strip()]
    asks = compiled(requests, re.IGNORECASE)
    rewards = compiled(incentives, re.IGNORECASE)
    conditions = compiled(positive, re.IGNORECASE)
    for start in range(max(1, len(blocks) - window + 1)):
        chunk = "\n\n".join(blocks[start : start + window])
        if (
            matches_any(asks, chunk)
            and matches_any(rewards, chunk)
            and matches_any(conditions, chunk)
        ):
            return True
    return False
