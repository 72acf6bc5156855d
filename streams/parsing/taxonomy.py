"""The taxonomy of bounce reasons: RFC 3463 enhanced status codes and diagnostic phrases, and the
reason each gives.

The codes are the ones of RFC 3463 section 3 (subject and detail) and of the IANA "Enumerated
Status Codes" registry that RFC 5248 set up (later entries: RFC 4954 for 5.7.8-5.7.13, RFC 7372
for 5.7.20-5.7.26, RFC 7505 for the null MX codes X.1.10 and X.7.27, RFC 8689 for X.7.30).

Class (the second column below decides the *reason*; the class follows from the reason and from
the code's class digit):

* `hard`: the address itself is dead (mailbox or domain does not exist, disabled, bad syntax).
  Only a permanent failure (5.x.x, or a failure without a code) can be hard.
* `soft`: a temporary failure (every 4.x.x, every delay) or a failure that says nothing about the
  address (full mailbox, policy, reputation, content, size, routing).
* `undetermined`: the report does not say why (5.0.0 and no telling text).

| code (subject.detail) | RFC 3463 / registry meaning                  | reason                   |
|-----------------------|----------------------------------------------|--------------------------|
| X.0.0, X.1.0, X.2.0   | other / undefined status                     | undetermined (weak)      |
| X.1.1                 | bad destination mailbox address              | mailbox-does-not-exist   |
| X.1.2, X.1.10         | bad destination system address; null MX      | domain-does-not-exist    |
| X.1.3, X.1.4          | bad mailbox address syntax; ambiguous        | bad-address              |
| X.1.6                 | destination mailbox has moved                | mailbox-does-not-exist   |
| X.1.7, X.1.8          | bad sender address (syntax, system)          | policy                   |
| X.2.1, X.7.13         | mailbox disabled; user account disabled      | mailbox-disabled         |
| X.2.2                 | mailbox full                                 | mailbox-full             |
| X.2.3, X.3.4          | message length exceeds limit; too big        | message-too-large        |
| X.2.4, X.3.x, X.5.x   | list expansion, mail system, protocol        | system (X.3.0 weak)      |
| X.4.0-X.4.4, X.4.6    | network, routing (X.4.4 unable to route)     | routing (X.4.0/4 weak)   |
| X.4.5                 | mail system congestion                       | greylisted-or-deferred   |
| X.4.7                 | delivery time expired                        | expired                  |
| X.6.x, X.7.7          | media / content not accepted; integrity      | content-rejected         |
| X.7.0                 | other security or policy status              | policy (weak)            |
| X.7.1                 | delivery not authorized, message refused     | blocked-or-reputation (w)|
| X.7.2-X.7.30 (rest)   | security features, auth (SPF/DKIM/DMARC)     | policy                   |

(weak) / (w): a weak code says too little on its own, so the diagnostic text may override it
(`streams.parsing.diagnosis`, which also decides the class). Sections: RFC 3463 3.2 (X.1
addressing), 3.3 (X.2 mailbox), 3.4 (X.3 mail system), 3.5 (X.4 network and routing), 3.6 (X.5
protocol), 3.7 (X.6 content), 3.8 (X.7 security or policy).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "HARD_REASONS",
    "TEXT_LIMIT",
    "TEXT_PATTERNS",
    "Reason",
    "reason_for_status",
    "reason_for_text",
]


class Reason(StrEnum):
    """Why a recipient failed; the values are stable names that land on delivery-events."""

    MAILBOX_DOES_NOT_EXIST = "mailbox-does-not-exist"
    MAILBOX_DISABLED = "mailbox-disabled"
    BAD_ADDRESS = "bad-address"
    DOMAIN_DOES_NOT_EXIST = "domain-does-not-exist"
    MAILBOX_FULL = "mailbox-full"
    MESSAGE_TOO_LARGE = "message-too-large"
    BLOCKED_OR_REPUTATION = "blocked-or-reputation"
    CONTENT_REJECTED = "content-rejected"
    POLICY = "policy"
    RELAYING_DENIED = "relaying-denied"
    GREYLISTED_OR_DEFERRED = "greylisted-or-deferred"
    EXPIRED = "expired"
    ROUTING = "routing"
    SYSTEM = "system"
    UNDETERMINED = "undetermined"


HARD_REASONS: Final = frozenset(
    {
        Reason.MAILBOX_DOES_NOT_EXIST,
        Reason.MAILBOX_DISABLED,
        Reason.BAD_ADDRESS,
        Reason.DOMAIN_DOES_NOT_EXIST,
    }
)

# (subject, detail) -> reason; see the table in the module docstring.
_BY_CODE: Final[dict[tuple[int, int], Reason]] = {
    (1, 1): Reason.MAILBOX_DOES_NOT_EXIST,
    (1, 2): Reason.DOMAIN_DOES_NOT_EXIST,
    (1, 3): Reason.BAD_ADDRESS,
    (1, 4): Reason.BAD_ADDRESS,
    (1, 6): Reason.MAILBOX_DOES_NOT_EXIST,
    (1, 7): Reason.POLICY,
    (1, 8): Reason.POLICY,
    (1, 10): Reason.DOMAIN_DOES_NOT_EXIST,
    (2, 1): Reason.MAILBOX_DISABLED,
    (2, 2): Reason.MAILBOX_FULL,
    (2, 3): Reason.MESSAGE_TOO_LARGE,
    (2, 4): Reason.SYSTEM,
    (3, 4): Reason.MESSAGE_TOO_LARGE,
    (4, 5): Reason.GREYLISTED_OR_DEFERRED,
    (4, 7): Reason.EXPIRED,
    (7, 0): Reason.POLICY,
    (7, 1): Reason.BLOCKED_OR_REPUTATION,
    (7, 7): Reason.CONTENT_REJECTED,
    (7, 13): Reason.MAILBOX_DISABLED,
}
_BY_SUBJECT: Final[dict[int, Reason]] = {
    1: Reason.UNDETERMINED,
    2: Reason.UNDETERMINED,
    3: Reason.SYSTEM,
    4: Reason.ROUTING,
    5: Reason.SYSTEM,
    6: Reason.CONTENT_REJECTED,
    7: Reason.POLICY,
}
# Codes whose reason the diagnostic text may override.
_WEAK: Final = frozenset({(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (4, 4), (7, 0), (7, 1)})

# Phrase -> reason, checked in this order against case-folded text; first match wins. More
# specific phrases come first ("blocked using spamhaus" is a block list, not content).
TEXT_PATTERNS: Final[tuple[tuple[str, Reason], ...]] = (
    # mailbox full (before "does not exist": "mailbox full" never means a dead address)
    ("mailbox full", Reason.MAILBOX_FULL),
    ("mailbox is full", Reason.MAILBOX_FULL),
    ("over quota", Reason.MAILBOX_FULL),
    ("overquota", Reason.MAILBOX_FULL),
    ("quota exceeded", Reason.MAILBOX_FULL),
    ("exceeded storage", Reason.MAILBOX_FULL),
    ("exceed the quota", Reason.MAILBOX_FULL),
    ("exceeds the quota", Reason.MAILBOX_FULL),
    ("mailbox size limit", Reason.MAILBOX_FULL),
    ("insufficient storage", Reason.MAILBOX_FULL),
    ("disk quota", Reason.MAILBOX_FULL),
    ("mailfolder is full", Reason.MAILBOX_FULL),
    ("quota", Reason.MAILBOX_FULL),
    # size
    ("message too large", Reason.MESSAGE_TOO_LARGE),
    ("message is too large", Reason.MESSAGE_TOO_LARGE),
    ("message size exceeds", Reason.MESSAGE_TOO_LARGE),
    ("exceeds size limit", Reason.MESSAGE_TOO_LARGE),
    ("message length exceeds", Reason.MESSAGE_TOO_LARGE),
    ("size exceeds", Reason.MESSAGE_TOO_LARGE),
    ("too big", Reason.MESSAGE_TOO_LARGE),
    # relaying
    ("relaying denied", Reason.RELAYING_DENIED),
    ("relay access denied", Reason.RELAYING_DENIED),
    ("relaying not permitted", Reason.RELAYING_DENIED),
    ("relaying is not allowed", Reason.RELAYING_DENIED),
    ("not permitted to relay", Reason.RELAYING_DENIED),
    ("unable to relay", Reason.RELAYING_DENIED),
    ("relay not permitted", Reason.RELAYING_DENIED),
    ("we do not relay", Reason.RELAYING_DENIED),
    ("not a relay", Reason.RELAYING_DENIED),
    ("allowed rcpthosts", Reason.RELAYING_DENIED),
    # disabled accounts
    ("account disabled", Reason.MAILBOX_DISABLED),
    ("account has been disabled", Reason.MAILBOX_DISABLED),
    ("account is disabled", Reason.MAILBOX_DISABLED),
    ("mailbox disabled", Reason.MAILBOX_DISABLED),
    ("mailbox is disabled", Reason.MAILBOX_DISABLED),
    ("deactivated", Reason.MAILBOX_DISABLED),
    ("account is inactive", Reason.MAILBOX_DISABLED),
    ("inactive user", Reason.MAILBOX_DISABLED),
    ("not active", Reason.MAILBOX_DISABLED),
    ("no longer active", Reason.MAILBOX_DISABLED),
    ("account has been suspended", Reason.MAILBOX_DISABLED),
    ("account expired", Reason.MAILBOX_DISABLED),
    # greylisting and deferrals
    ("greylist", Reason.GREYLISTED_OR_DEFERRED),
    ("graylist", Reason.GREYLISTED_OR_DEFERRED),
    ("try again later", Reason.GREYLISTED_OR_DEFERRED),
    ("temporarily deferred", Reason.GREYLISTED_OR_DEFERRED),
    ("temporarily rejected", Reason.GREYLISTED_OR_DEFERRED),
    # expiry
    ("retry time exceeded", Reason.EXPIRED),
    ("retry timeout exceeded", Reason.EXPIRED),
    ("delivery time expired", Reason.EXPIRED),
    ("message expired", Reason.EXPIRED),
    ("could not be delivered within", Reason.EXPIRED),
    # block lists and reputation (before the content words: "spamhaus" contains "spam"; after
    # "not listed in", Domino's "not listed in Domino Directory" for an unknown user)
    ("not listed in", Reason.MAILBOX_DOES_NOT_EXIST),
    ("spamhaus", Reason.BLOCKED_OR_REPUTATION),
    ("spamcop", Reason.BLOCKED_OR_REPUTATION),
    ("blacklist", Reason.BLOCKED_OR_REPUTATION),
    ("blocklist", Reason.BLOCKED_OR_REPUTATION),
    ("block list", Reason.BLOCKED_OR_REPUTATION),
    ("dnsbl", Reason.BLOCKED_OR_REPUTATION),
    (" rbl", Reason.BLOCKED_OR_REPUTATION),
    ("reputation", Reason.BLOCKED_OR_REPUTATION),
    ("listed at", Reason.BLOCKED_OR_REPUTATION),
    ("listed in", Reason.BLOCKED_OR_REPUTATION),
    ("sender blocked", Reason.BLOCKED_OR_REPUTATION),
    ("senderblock", Reason.BLOCKED_OR_REPUTATION),
    ("blocked", Reason.BLOCKED_OR_REPUTATION),
    ("banned", Reason.BLOCKED_OR_REPUTATION),
    # content
    ("uribl", Reason.CONTENT_REJECTED),
    ("surbl", Reason.CONTENT_REJECTED),
    ("virus", Reason.CONTENT_REJECTED),
    ("malware", Reason.CONTENT_REJECTED),
    ("spam", Reason.CONTENT_REJECTED),
    ("junk", Reason.CONTENT_REJECTED),
    ("content rejected", Reason.CONTENT_REJECTED),
    ("message content", Reason.CONTENT_REJECTED),
    ("attachment", Reason.CONTENT_REJECTED),
    # dead domains
    ("host unknown", Reason.DOMAIN_DOES_NOT_EXIST),
    ("host not found", Reason.DOMAIN_DOES_NOT_EXIST),
    ("unknown host", Reason.DOMAIN_DOES_NOT_EXIST),
    ("domain not found", Reason.DOMAIN_DOES_NOT_EXIST),
    ("no such domain", Reason.DOMAIN_DOES_NOT_EXIST),
    ("unknown domain", Reason.DOMAIN_DOES_NOT_EXIST),
    ("domain does not exist", Reason.DOMAIN_DOES_NOT_EXIST),
    ("domain name not found", Reason.DOMAIN_DOES_NOT_EXIST),
    ("unrouteable address", Reason.DOMAIN_DOES_NOT_EXIST),
    ("nameserver error", Reason.DOMAIN_DOES_NOT_EXIST),
    ("name server error", Reason.DOMAIN_DOES_NOT_EXIST),
    ("nxdomain", Reason.DOMAIN_DOES_NOT_EXIST),
    ("no mx", Reason.DOMAIN_DOES_NOT_EXIST),
    ("malformed or unexpected name server reply", Reason.DOMAIN_DOES_NOT_EXIST),
    # dead mailboxes
    ("user unknown", Reason.MAILBOX_DOES_NOT_EXIST),
    ("unknown user", Reason.MAILBOX_DOES_NOT_EXIST),
    ("no such user", Reason.MAILBOX_DOES_NOT_EXIST),
    ("no such mailbox", Reason.MAILBOX_DOES_NOT_EXIST),
    ("no such recipient", Reason.MAILBOX_DOES_NOT_EXIST),
    ("no such address", Reason.MAILBOX_DOES_NOT_EXIST),
    ("user not found", Reason.MAILBOX_DOES_NOT_EXIST),
    ("mailbox not found", Reason.MAILBOX_DOES_NOT_EXIST),
    ("recipient not found", Reason.MAILBOX_DOES_NOT_EXIST),
    ("mailbox unknown", Reason.MAILBOX_DOES_NOT_EXIST),
    ("mailbox unavailable", Reason.MAILBOX_DOES_NOT_EXIST),
    ("mailbox is unavailable", Reason.MAILBOX_DOES_NOT_EXIST),
    ("unknown recipient", Reason.MAILBOX_DOES_NOT_EXIST),
    ("recipient unknown", Reason.MAILBOX_DOES_NOT_EXIST),
    ("unknown address", Reason.MAILBOX_DOES_NOT_EXIST),
    ("addressee unknown", Reason.MAILBOX_DOES_NOT_EXIST),
    ("unknown local part", Reason.MAILBOX_DOES_NOT_EXIST),
    ("unknown or illegal", Reason.MAILBOX_DOES_NOT_EXIST),
    ("invalid recipient", Reason.MAILBOX_DOES_NOT_EXIST),
    ("invalid mailbox", Reason.MAILBOX_DOES_NOT_EXIST),
    ("invalid address", Reason.MAILBOX_DOES_NOT_EXIST),
    ("bad destination mailbox", Reason.MAILBOX_DOES_NOT_EXIST),
    ("does not exist", Reason.MAILBOX_DOES_NOT_EXIST),
    ("doesn't exist", Reason.MAILBOX_DOES_NOT_EXIST),
    ("dosn't exist", Reason.MAILBOX_DOES_NOT_EXIST),
    ("not exist", Reason.MAILBOX_DOES_NOT_EXIST),
    ("no mailbox", Reason.MAILBOX_DOES_NOT_EXIST),
    ("no account", Reason.MAILBOX_DOES_NOT_EXIST),
    ("doesn't have a", Reason.MAILBOX_DOES_NOT_EXIST),
    ("does not have an account", Reason.MAILBOX_DOES_NOT_EXIST),
    ("not recognized", Reason.MAILBOX_DOES_NOT_EXIST),
    ("not recognised", Reason.MAILBOX_DOES_NOT_EXIST),
    ("recipient rejected", Reason.MAILBOX_DOES_NOT_EXIST),
    ("recipient address rejected", Reason.MAILBOX_DOES_NOT_EXIST),
    ("address rejected", Reason.MAILBOX_DOES_NOT_EXIST),
    ("no valid recipients", Reason.MAILBOX_DOES_NOT_EXIST),
    ("not a valid user", Reason.MAILBOX_DOES_NOT_EXIST),
    ("did not exactly match", Reason.MAILBOX_DOES_NOT_EXIST),
    ("unbekannt", Reason.MAILBOX_DOES_NOT_EXIST),  # de
    ("existiert nicht", Reason.MAILBOX_DOES_NOT_EXIST),  # de
    ("nie istnieje", Reason.MAILBOX_DOES_NOT_EXIST),  # pl
    ("n'existe pas", Reason.MAILBOX_DOES_NOT_EXIST),  # fr
    ("inconnu", Reason.MAILBOX_DOES_NOT_EXIST),  # fr
    ("no existe", Reason.MAILBOX_DOES_NOT_EXIST),  # es
    ("inexistente", Reason.MAILBOX_DOES_NOT_EXIST),  # es, pt
    ("sconosciuto", Reason.MAILBOX_DOES_NOT_EXIST),  # it
    ("inesistente", Reason.MAILBOX_DOES_NOT_EXIST),  # it
    ("не существует", Reason.MAILBOX_DOES_NOT_EXIST),  # ru
    # routing
    ("too many hops", Reason.ROUTING),
    ("mail loop", Reason.ROUTING),
    ("routing loop", Reason.ROUTING),
    ("loops back to myself", Reason.ROUTING),
    ("connection refused", Reason.ROUTING),
    ("connection timed out", Reason.ROUTING),
    ("no route to host", Reason.ROUTING),
    # policy, last: the broadest words
    ("policy", Reason.POLICY),
    ("not authorized", Reason.POLICY),
    ("not allowed", Reason.POLICY),
    ("access denied", Reason.POLICY),
    ("refused", Reason.POLICY),
)

TEXT_LIMIT: Final = 8192
"""Characters of diagnostic text read: beyond this it says nothing new and costs time."""


def reason_for_status(status: str) -> tuple[Reason, bool]:
    """The reason a normalised code gives, and whether the code is weak (text may override)."""
    _, subject, detail = (int(part) for part in status.split("."))
    reason = _BY_CODE.get((subject, detail)) or _BY_SUBJECT.get(subject, Reason.UNDETERMINED)
    return reason, (subject, detail) in _WEAK or subject == 0


def reason_for_text(text: str | None) -> Reason | None:
    """The reason of the first phrase of `TEXT_PATTERNS` found in `text`; None if none."""
    if not text:
        return None
    folded = text[:TEXT_LIMIT].casefold()
    for phrase, reason in TEXT_PATTERNS:
        if phrase in folded:
            return reason
    return None
