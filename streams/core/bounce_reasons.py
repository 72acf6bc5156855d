"""Why a message bounced, as one name per failed recipient, and the two things the gate draws from
that name: the bounce class, and whether the refusal was about the sender rather than the person.

The names follow sisimai's published taxonomy of bounce reasons (libsisimai.org, "Bounce reason
list"), the vocabulary deliverability engineers already read and the one other tools report in, so
a reason can be compared across them. How a parser arrives at a reason (status codes, SMTP reply
codes, MTA wording) is `streams.parsing.taxonomy`; this module is only what every layer needs to
agree on: the names, the class each gives, and the sender-refusal family.

**Class follows the reason, not the status code's first digit.** `hard` only when the address
itself is dead: the mailbox does not exist (`userunknown`), the domain does not exist
(`hostunknown`), the mailbox has moved away (`hasmoved`), or the domain accepts no mail at all
(`notaccept`, a null MX). Everything else is `soft`, even when an MTA reported it as permanent
(5.x.x): a full mailbox, a refusal of the sender's IP, a policy or content rejection, an expired
queue entry say nothing about whether the person's address works. Treating them as hard would let
one customer's blocklisted IP suppress a real person on the whole platform for ever; the
soft-bounce policy (`streams.bounces.policy`) still stops mail to an address that keeps failing.

A full mailbox (`mailboxfull`) is soft for that reason. RFC 3463 calls X.2.2 "a persistent
transient failure"; a person who clears the mailbox receives mail again, and an abandoned mailbox
keeps failing and reaches the soft-bounce line within days. An MTA that reports it as 5.2.2 has
given up on *this* message, not declared the address dead.

**Sender refusals** (`SENDER_REFUSALS`) are the reasons that blame the sender: its IP or host on a
blocklist or of poor reputation (`blocked`), its envelope sender (`rejected`), the receiver's
policy (`policyviolation`), the message's content (`spamdetected`, `virusdetected`,
`contenterror`), missing authentication or security (`authfailure`, `securityerror`,
`requireptr`), or its sending rate (`toomanyconn`, `speeding`). The recipient's address is fine, so
such a bounce never counts towards suppressing it; it counts against the sending account's block
rate at that mailbox provider instead (`streams.reputation`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from streams.core.records import BounceClass

__all__ = [
    "DEAD_ADDRESS",
    "LEGACY_NAMES",
    "SENDER_REFUSALS",
    "BounceReason",
    "class_of",
    "is_sender_refusal",
    "reason_named",
]


class BounceReason(StrEnum):
    """The reason names; stable, they land on `delivery-events` and in the ledger."""

    USER_UNKNOWN = "userunknown"
    HOST_UNKNOWN = "hostunknown"
    HAS_MOVED = "hasmoved"
    NOT_ACCEPT = "notaccept"
    MAILBOX_FULL = "mailboxfull"
    SUSPEND = "suspend"
    FILTERED = "filtered"
    BLOCKED = "blocked"
    REJECTED = "rejected"
    POLICY_VIOLATION = "policyviolation"
    SPAM_DETECTED = "spamdetected"
    VIRUS_DETECTED = "virusdetected"
    CONTENT_ERROR = "contenterror"
    SECURITY_ERROR = "securityerror"
    AUTH_FAILURE = "authfailure"
    REQUIRE_PTR = "requireptr"
    TOO_MANY_CONN = "toomanyconn"
    SPEEDING = "speeding"
    EXCEED_LIMIT = "exceedlimit"
    MESG_TOO_BIG = "mesgtoobig"
    NO_RELAYING = "norelaying"
    EXPIRED = "expired"
    SYSTEM_ERROR = "systemerror"
    SYSTEM_FULL = "systemfull"
    NETWORK_ERROR = "networkerror"
    MAILER_ERROR = "mailererror"
    SYNTAX_ERROR = "syntaxerror"
    ON_HOLD = "onhold"
    VACATION = "vacation"
    DELIVERED = "delivered"
    UNDEFINED = "undefined"


DEAD_ADDRESS: Final = frozenset(
    {
        BounceReason.USER_UNKNOWN,
        BounceReason.HOST_UNKNOWN,
        BounceReason.HAS_MOVED,
        BounceReason.NOT_ACCEPT,
    }
)
"""The only reasons that make a permanent failure `hard`."""

SENDER_REFUSALS: Final = frozenset(
    {
        BounceReason.BLOCKED,
        BounceReason.REJECTED,
        BounceReason.POLICY_VIOLATION,
        BounceReason.SPAM_DETECTED,
        BounceReason.VIRUS_DETECTED,
        BounceReason.CONTENT_ERROR,
        BounceReason.SECURITY_ERROR,
        BounceReason.AUTH_FAILURE,
        BounceReason.REQUIRE_PTR,
        BounceReason.TOO_MANY_CONN,
        BounceReason.SPEEDING,
    }
)
"""Refusals because of the sender: never held against the recipient (see the module doc)."""

LEGACY_NAMES: Final[dict[str, BounceReason]] = {
    "mailbox-does-not-exist": BounceReason.USER_UNKNOWN,
    "mailbox-disabled": BounceReason.SUSPEND,
    "bad-address": BounceReason.USER_UNKNOWN,
    "domain-does-not-exist": BounceReason.HOST_UNKNOWN,
    "mailbox-full": BounceReason.MAILBOX_FULL,
    "message-too-large": BounceReason.MESG_TOO_BIG,
    "blocked-or-reputation": BounceReason.BLOCKED,
    "content-rejected": BounceReason.CONTENT_ERROR,
    "policy": BounceReason.POLICY_VIOLATION,
    "relaying-denied": BounceReason.NO_RELAYING,
    "greylisted-or-deferred": BounceReason.ON_HOLD,
    "expired": BounceReason.EXPIRED,
    "routing": BounceReason.NETWORK_ERROR,
    "system": BounceReason.SYSTEM_ERROR,
    "undetermined": BounceReason.UNDEFINED,
}
"""The names delivery events carried before this taxonomy, so that replaying old events still
tells a sender refusal from a dead address."""

_BY_NAME: Final = {reason.value: reason for reason in BounceReason}


def reason_named(name: str | None) -> BounceReason | None:
    """The reason a record names (today's name or a legacy one); None if it names none we know."""
    if not name:
        return None
    return _BY_NAME.get(name) or LEGACY_NAMES.get(name)


def is_sender_refusal(name: str | None) -> bool:
    """True when a bounce's reason blames the sender, not the recipient's address."""
    return reason_named(name) in SENDER_REFUSALS


def class_of(reason: BounceReason, *, temporary: bool, permanent: bool) -> BounceClass:
    """The bounce class of a failure with this reason.

    A temporary failure (4.x.x, a delay) is always soft: the receiver said to try again. A
    permanent one is hard only for a dead address. A report that says neither why nor whether it
    is final is `undetermined`.
    """
    if temporary:
        return "soft"
    if reason in DEAD_ADDRESS:
        return "hard"
    if reason is BounceReason.UNDEFINED and not permanent:
        return "undetermined"
    return "soft"
