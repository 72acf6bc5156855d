"""Diagnose one failed recipient: its bounce class and reason, from its RFC 3463 status code, its
diagnostic text and its action (the reasons and what they mean: `streams.parsing.taxonomy`).

A *weak* code says too little on its own: when the diagnostic text matches one of the phrase
patterns in the taxonomy's `TEXT_PATTERNS` (checked top to bottom, first match wins, plain
case-folded substring tests so no regex can backtrack), the text's reason wins. A report without any
code is classified from its text alone. A 4.x.x code, an `Action: delayed`, or a temporary failure
in a free-form report always gives class `soft`, whatever the reason.

A permanent failure (5.x.x, `Action: failed`, a free-form bounce that has given up) for which
neither code nor text gives a reason is `hard` with reason `undetermined`: RFC 3463 section 3.1
defines class 5 as "not likely to be resolved by resending the message in the current form", and
treating it as soft would let MTAs that only ever say "delivery failed" keep dead addresses on
the list. Class `undetermined` is left for reports that do not even say whether the failure is
final. An oversized message, an expired queue entry, a routing failure, a policy or content
rejection stay `soft` even when the code is 5.x.x: they say nothing about the address itself,
and the bounce policy turns repeated soft bounces into a hard one.

A full mailbox is the one judgement call (`PERMANENT_FULL_MAILBOX_IS_HARD`): RFC 3463 calls
X.2.2 "a persistent transient failure", so a 4.2.2 or a delay is `soft`; but when the receiving
MTA reports it as a *permanent* failure (5.2.2, "quota exceeded ... I've given up") it has
stopped taking mail for that mailbox, which in practice is an abandoned one, so it is `hard`
(as GNU Mailman's bounce processing also counts it).
"""

from __future__ import annotations

import re
from typing import Final

from streams.parsing.model import BounceClass
from streams.parsing.taxonomy import (
    HARD_REASONS,
    TEXT_LIMIT,
    Reason,
    reason_for_status,
    reason_for_text,
)

__all__ = ["PERMANENT_FULL_MAILBOX_IS_HARD", "classify", "find_status", "normalise_status"]

# RFC 3463 calls X.2.2 "a persistent transient failure"; an MTA that nevertheless reports a full
# mailbox as a permanent failure (5.x.x, or "I've given up") has stopped accepting mail for it,
# and such mailboxes are mostly abandoned ones. See the module docstring.
PERMANENT_FULL_MAILBOX_IS_HARD: Final = True

_STATUS = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")
# An enhanced code inside free text ("550 5.1.1 <x>: ...", "#5.1.1", "(4.4.7)"); not part of a
# longer dotted number such as an IP address or a version ("8.12.5/8.12.5").
_STATUS_IN_TEXT = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?![\w.]|\.\d)")


def normalise_status(value: str | None) -> str | None:
    """`5.1.1` from a Status field such as `5.1.1 (bad destination)`; None if not a code."""
    if not value:
        return None
    token = value.strip().split(None, 1)[0] if value.strip() else ""
    token = token.strip("()[]#;,")
    match = _STATUS.match(token)
    if not match:
        return find_status(value)
    return ".".join(str(int(group)) for group in match.groups())


def find_status(text: str | None) -> str | None:
    """The first enhanced status code written inside free text, normalised; None if none."""
    if not text:
        return None
    match = _STATUS_IN_TEXT.search(text, 0, TEXT_LIMIT)
    if not match:
        return None
    return ".".join(str(int(group)) for group in match.groups())


def classify(
    status: str | None, text: str | None, *, temporary: bool = False, permanent: bool = False
) -> tuple[BounceClass, Reason]:
    """Class and reason of one failed recipient from its code, its diagnostic and its action.

    `temporary` is true for a delay (`Action: delayed`, a free-form warning): such a recipient
    is never hard, and without a better reason it is `greylisted-or-deferred`. `permanent` is
    true for a final failure (`Action: failed`, a free-form bounce that gave up): without any
    reason it is `hard` (see the module docstring), and only a report that says neither is
    `undetermined`.
    """
    reason: Reason | None = None
    if status is not None:
        reason, weak = reason_for_status(status)
        if weak:
            # A weak Status (5.0.0) often hides a precise code in the diagnostic text.
            inner = find_status(text)
            inner_reason, inner_weak = reason_for_status(inner) if inner else (None, True)
            if inner_reason is not None and not inner_weak:
                reason = inner_reason
            else:
                reason = reason_for_text(text) or reason
        temporary = temporary or status.startswith("4")
        permanent = permanent or status.startswith("5")
    else:
        reason = reason_for_text(text)
    if reason is None or reason is Reason.UNDETERMINED:
        if temporary:
            return "soft", Reason.GREYLISTED_OR_DEFERRED
        if permanent:
            return "hard", Reason.UNDETERMINED
        return "undetermined", Reason.UNDETERMINED
    if temporary:
        return "soft", reason
    if reason is Reason.MAILBOX_FULL and permanent and PERMANENT_FULL_MAILBOX_IS_HARD:
        return "hard", reason
    return ("hard" if reason in HARD_REASONS else "soft"), reason
