"""`assess_misuse`: a message's marketing signals, remembered.

The rule and the misuse report ask about the same send, and a campaign sends one text to many
people, so whole messages are remembered: the last `ASSESSMENTS_REMEMBERED`, keyed on a digest of
everything the detector reads (the subject, the body text or its absence, each link's URL and
text) and on the policy object. Segments are remembered one level down
(`streams.content.misuse.detector`).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from streams.content.misuse.detector import Links, SamePolicy, read_message
from streams.content.misuse.policy import MisusePolicy
from streams.content.misuse.signals import MisuseAssessment
from streams.core.records import MessageBody

__all__ = ["ASSESSMENTS_REMEMBERED", "assess_misuse"]

ASSESSMENTS_REMEMBERED = 1024
"""Messages remembered (a few KB each: the key is a digest of the message, not its text)."""

_ASSESSMENTS: OrderedDict[tuple[bytes, SamePolicy], MisuseAssessment] = OrderedDict()


def _digest(subject: str, text: str | None, links: Links) -> bytes:
    """Everything `assess_misuse` reads of a message, as one digest: a key of fixed size however
    long the body, and each part length-prefixed so that no two messages share it."""
    digest = hashlib.blake2b(digest_size=32)
    parts = (subject, "" if text is None else text, *(part for link in links for part in link))
    digest.update(b"\x00" if text is None else b"\x01")
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()


def assess_misuse(subject: str, body: MessageBody | None, policy: MisusePolicy) -> MisuseAssessment:
    """The marketing signals in a message's subject, body text and links, and their score.

    Remembered (the last `ASSESSMENTS_REMEMBERED` messages, by a digest of what is read and the
    policy object), so asking twice about one send reads it once.
    """
    text = None if body is None else body.text
    links = () if body is None else tuple((link.url, link.text) for link in body.links)
    key = (_digest(subject, text, links), SamePolicy(policy))
    found = _ASSESSMENTS.get(key)
    if found is not None:
        _ASSESSMENTS.move_to_end(key)
        return found
    found = read_message(subject, text, links, policy)
    _ASSESSMENTS[key] = found
    while len(_ASSESSMENTS) > ASSESSMENTS_REMEMBERED:
        _ASSESSMENTS.popitem(last=False)
    return found
