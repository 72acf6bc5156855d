"""The signals that select a bounce reason: RFC 3463 enhanced status codes, RFC 5321 reply codes,
and the wording MTAs and mailbox providers use. The reasons themselves, and the class each gives,
are `streams.core.bounce_reasons`.

**Enhanced status codes** (RFC 3463 section 3, and the IANA "Enumerated Status Codes" registry of
RFC 5248: RFC 4954 for X.7.8-X.7.13, RFC 7372 for X.7.20-X.7.26, RFC 7505 for the null MX codes
X.1.10 and X.7.27):

| code (subject.detail) | registry meaning | reason |
|---|---|---|
| X.0.0, X.1.0, X.2.0 | other / undefined status | undefined (weak) |
| X.1.1, X.1.3, X.1.4 | bad destination mailbox; its syntax; ambiguous | userunknown |
| X.1.2 | bad destination system address | hostunknown |
| X.1.6 | destination mailbox has moved | hasmoved |
| X.1.7, X.1.8 | bad sender's mailbox syntax; sender's system | rejected |
| X.1.10, X.7.27 | null MX: the domain accepts no mail | notaccept |
| X.2.1 | mailbox disabled, not accepting messages | suspend (weak) |
| X.2.2 | mailbox full | mailboxfull |
| X.2.3 | message length exceeds administrative limit | exceedlimit (weak) |
| X.2.4, X.3.0, X.3.2-3, X.3.5 | list expansion; mail system status | systemerror (X.3.0 weak) |
| X.3.1 | mail system full | systemfull |
| X.3.4 | message too big for system | mesgtoobig |
| X.4.0-X.4.3, X.4.6 | network and routing | networkerror (weak) |
| X.4.4 | unable to route (no such domain, or no MX) | hostunknown (weak) |
| X.4.5 | mail system congestion | toomanyconn (weak) |
| X.4.7 | delivery time expired | expired |
| X.5.x | protocol: bad command, syntax, too many rcpts | syntaxerror (X.5.0 weak) |
| X.6.x | media / content not supported | contenterror |
| X.7.0 | other security or policy status | securityerror (weak) |
| X.7.1 | delivery not authorised, message refused | policyviolation (weak) |
| X.7.7 | message integrity failure | contenterror |
| X.7.8-X.7.13 | authentication: credentials, mechanism, account | securityerror (weak) |
| X.7.14-X.7.19 | trust relationship, priority | securityerror (weak) |
| X.7.20-X.7.26 | DKIM, SPF, DMARC and ARC failures | authfailure |
| X.7.25 | reverse DNS validation failed | requireptr |
| X.7.28 | mail flood (too much mail from the sender) | speeding |
| other X.7.x | security or policy | securityerror |

A *weak* code says too little on its own, or is one that providers use for many things (5.7.1
covers blocklists, spam filters and restricted groups; Microsoft 365 answers an unknown recipient
with 5.4.1 or 5.1.10, and numbers its own refusals outside the registry, 5.7.606 for a banned IP):
a phrase in the text (below) decides instead, and the code's reason stands only when
no phrase matches. A weak Status often hides a precise code in the diagnostic text ("Status: 5.0.0"
with "550 5.1.1 ..."); that code counts as if it were the Status.

**Reply codes** (RFC 5321 section 4.2.3), for reports that carry no enhanced code: 552 exceeded
storage allocation (`mailboxfull`), 553 mailbox name not allowed (`userunknown`), 421/450/451
service not available or local error (`onhold`), 452 insufficient system storage (`systemfull`),
and the non-standard 571 "delivery not authorized" that older Exchange servers send (`blocked`).
All are weak: "553 sorry, that domain isn't in my list of allowed rcpthosts" is `norelaying`.
A 550 rejected at RCPT TO ("in reply to RCPT TO command") with no telling words is `userunknown`,
as the RCPT stage is where receivers refuse unknown recipients.

**Phrases** (`TEXT_PATTERNS`): plain case-folded substring tests (no regex can backtrack), checked
top to bottom, first match wins. The order is the judgement: the more specific and the more
sender-related comes first, because the costly mistake is to read a refusal of the sender as a
dead address. So an envelope-sender refusal ("Sender address rejected: Domain not found") is
`rejected` before "domain not found" can make it `hostunknown`; "spamhaus" is `blocked` before
"spam" can make it `spamdetected`; "cannot find your hostname" is `requireptr` before "host not
found"; a full mailbox comes before "does not exist" ("mailbox full" never means a dead address);
the broad policy words ("policy", "not allowed", "denied") come last. Each group below is one
reason, with the words providers are known to use for it.
"""

from __future__ import annotations

import re
from typing import Final

from streams.core.bounce_reasons import BounceReason as R

__all__ = [
    "TEXT_LIMIT",
    "TEXT_PATTERNS",
    "reason_for_reply_code",
    "reason_for_status",
    "reason_for_text",
]

# (subject, detail) -> reason; see the table in the module docstring.
_BY_CODE: Final[dict[tuple[int, int], R]] = {
    (1, 1): R.USER_UNKNOWN,
    (1, 2): R.HOST_UNKNOWN,
    (1, 3): R.USER_UNKNOWN,
    (1, 4): R.USER_UNKNOWN,
    (1, 5): R.UNDEFINED,  # "destination mailbox address valid": not a failure reason
    (1, 6): R.HAS_MOVED,
    (1, 7): R.REJECTED,
    (1, 8): R.REJECTED,
    (1, 10): R.NOT_ACCEPT,
    (2, 1): R.SUSPEND,
    (2, 2): R.MAILBOX_FULL,
    (2, 3): R.EXCEED_LIMIT,
    (2, 4): R.SYSTEM_ERROR,
    (3, 1): R.SYSTEM_FULL,
    (3, 4): R.MESG_TOO_BIG,
    (4, 4): R.HOST_UNKNOWN,
    (4, 5): R.TOO_MANY_CONN,
    (4, 7): R.EXPIRED,
    (7, 0): R.SECURITY_ERROR,
    (7, 1): R.POLICY_VIOLATION,
    (7, 7): R.CONTENT_ERROR,
    (7, 20): R.AUTH_FAILURE,
    (7, 21): R.AUTH_FAILURE,
    (7, 22): R.AUTH_FAILURE,
    (7, 23): R.AUTH_FAILURE,
    (7, 24): R.AUTH_FAILURE,
    (7, 25): R.REQUIRE_PTR,
    (7, 26): R.AUTH_FAILURE,
    (7, 27): R.NOT_ACCEPT,
    (7, 28): R.SPEEDING,
}
_BY_SUBJECT: Final[dict[int, R]] = {
    0: R.UNDEFINED,
    1: R.UNDEFINED,
    2: R.UNDEFINED,
    3: R.SYSTEM_ERROR,
    4: R.NETWORK_ERROR,
    5: R.SYNTAX_ERROR,
    6: R.CONTENT_ERROR,
    7: R.SECURITY_ERROR,
}
# Codes whose reason a phrase in the text overrides (see the module docstring).
_WEAK: Final = frozenset(
    {
        (0, 0),
        (1, 0),
        (2, 0),
        (2, 1),
        (2, 3),
        (3, 0),
        (4, 0),
        (4, 1),
        (4, 2),
        (4, 3),
        (4, 4),
        (4, 5),
        (1, 10),
        (5, 0),
        (7, 0),
        (7, 1),
    }
)

_BY_REPLY: Final[dict[int, R]] = {
    421: R.ON_HOLD,
    450: R.ON_HOLD,
    451: R.ON_HOLD,
    452: R.SYSTEM_FULL,
    552: R.MAILBOX_FULL,
    553: R.USER_UNKNOWN,
    571: R.BLOCKED,
}
_REPLY_CODE = re.compile(r"^\s*([245][0-7]\d)(?:[\s-]|$)")


def _group(reason: R, *phrases: str) -> tuple[tuple[str, R], ...]:
    return tuple((phrase, reason) for phrase in phrases)


# Phrase -> reason, checked in this order against case-folded text; first match wins.
TEXT_PATTERNS: Final[tuple[tuple[str, R], ...]] = (
    # The envelope sender refused: its address, its domain, its verification.
    *_group(
        R.REJECTED,
        "sender address rejected",
        "sender rejected",
        "sender verify failed",
        "sender verification failed",
        "sender verify defer",
        "could not verify sender",
        "unverifiable sender",
        "bad sender",
        "invalid sender",
        "sender domain",
        "domain of sender address",
        "sender address domain",
        "mail from address rejected",
        "sender is not allowed",
        "sender denied",
        "sender not allowed",
        "envelope sender",
    ),
    # The sender's own outgoing limits (before "quota", which is a full mailbox).
    *_group(
        R.SPEEDING,
        "sending quota",
        "sending limit",
        "daily user sending",
        "message rate",
        "rate limit",
        "ratelimit",
        "rate-limit",
        "rate of",
        "too many messages",
        "too many emails",
        "too many mails",
        "too many recipients",
        "sending too fast",
        "too fast",
        "throttl",
        "slow down",
        "exceeded the maximum number of messages",
        "unusual rate",
        "mail flood",
    ),
    # A full mailbox (before anything that reads as a dead address).
    *_group(
        R.MAILBOX_FULL,
        "mailbox full",
        "mailbox is full",
        "mailbox has exceeded",
        "mailbox size limit",
        "mailfolder is full",
        "mail box full",
        "full mailbox",
        "mailbox is over",
        "box is full",
        "inbox is full",
        "over quota",
        "overquota",
        "over the quota",
        "over their quota",
        "over its quota",
        "quota exceeded",
        "exceeded quota",
        "exceed the quota",
        "exceeds the quota",
        "exceeded storage",
        "exceeds storage",
        "storage allocation",
        "disk quota",
        "out of storage",
        "storage space in",
        "not enough storage",
        "not enough space",
        "mailbox would exceed",
        "user's quota",
        "user quota",
        "quota",
        "postfach voll",  # de
        "boîte pleine",  # fr
        "boite pleine",  # fr
        "buzón lleno",  # es
        "casella piena",  # it
        "переполнен",  # ru
    ),
    # The receiving system itself is out of space (after the mailbox's quota).
    *_group(
        R.SYSTEM_FULL,
        "insufficient system storage",
        "insufficient storage",
        "system storage",
        "disk full",
        "disk is full",
        "out of disk",
        "no space left",
        "file system full",
        "system full",
    ),
    # Reverse DNS (before the blocklists and the dead domains: "Client host rejected: cannot find
    # your hostname" is about the sender's PTR, not the recipient's domain).
    *_group(
        R.REQUIRE_PTR,
        "cannot find your hostname",
        "cannot find your reverse hostname",
        "reverse dns",
        "reverse-dns",
        "reverse lookup",
        "rdns",
        "ptr record",
        "no ptr",
        "ptr lookup",
        "dns ptr",
        "missing ptr",
        "unresolvable relay host name",
        "client host rejected: cannot find",
        "does not resolve to your ip",
        "hostname does not match",
        "not resolve to",
    ),
    # Sender authentication: SPF, DKIM, DMARC.
    *_group(
        R.AUTH_FAILURE,
        "dmarc",
        "dkim",
        "spf",
        "sender policy framework",
        "unauthenticated",
        "not authenticated",
        "authentication failed",
        "authentication results",
        "failed authentication",
        "domain authentication",
    ),
    # Too many connections from the sender.
    *_group(
        R.TOO_MANY_CONN,
        "too many connections",
        "too many concurrent",
        "too many simultaneous",
        "too many sessions",
        "connection limit",
        "connections from your",
        "too many smtp sessions",
        "maximum number of connections",
    ),
    # A spam filter's verdict on the message (before the blocklists: Gmail's "... likely unsolicited
    # mail. To reduce the amount of spam sent to Gmail, this message has been blocked").
    *_group(
        R.SPAM_DETECTED,
        "likely unsolicited",
        "unsolicited mail",
        "detected as spam",
        "classified as spam",
        "considered spam",
        "considered as spam",
        "looks like spam",
        "appears to be spam",
        "identified as spam",
        "message is spam",
        "spam content",
        "spam message",
        "spam score",
    ),
    # The sender's IP or host: blocklists, reputation, the HELO name (before the content words:
    # "spamhaus" contains "spam"; after "not listed in", Domino's wording for an unknown user).
    ("not listed in", R.USER_UNKNOWN),
    ("is not listed", R.USER_UNKNOWN),
    *_group(
        R.BLOCKED,
        "spamhaus",
        "spamcop",
        "barracuda",
        "sorbs",
        "spews",
        "abuseat",
        "dnsbl",
        "blacklist",
        "black list",
        "blocklist",
        "block list",
        "blocked using",
        "blocked by",
        "blocked for",
        "block for",
        "blocked because",
        "blocked due",
        "has been blocked",
        "ip blocked",
        "host blocked",
        "client host",
        "client ip",
        "your ip",
        "your host",
        "ip reputation",
        "poor reputation",
        "low reputation",
        "bad reputation",
        "reputation",
        "listed at",
        "listed in",
        "listed on",
        " rbl",
        "(rbl",
        "rbl:",
        "helo command rejected",
        "ehlo command rejected",
        "invalid helo",
        "bad helo",
        "helo name",
        "connection rejected",
        "connection refused by",
        "service unavailable; client",
        "banned",
        "sender blocked",
        "senderblock",
        "refused to talk",
        "access denied. ip",
        "not accepting mail from",
        "deferred due to user complaints",
        "user complaints",
        "blocked",
    ),
    # The message's content: viruses, spam filters, format.
    *_group(
        R.VIRUS_DETECTED,
        "virus",
        "malware",
        "infected",
        "trojan",
        "worm",
    ),
    *_group(
        R.SPAM_DETECTED,
        "uribl",
        "surbl",
        "spam",
        "unsolicited",
        "junk",
        "bulk mail",
        "bulk e-mail",
        "content filter",
        "message filtered",
        "filtered as",
        "suspicious",
        "phish",
        "scam",
    ),
    *_group(
        R.CONTENT_ERROR,
        "content rejected",
        "message content",
        "content not accepted",
        "invalid header",
        "header error",
        "missing header",
        "header missing",
        "required header",
        "no resent-from",
        "no message-id",
        "no date header",
        "header rejected",
        "headers rejected",
        "malformed message",
        "malformed header",
        "mime part",
        "mime structure",
        "mime format",
        "invalid mime",
        "8-bit",
        "8bit",
        "line too long",
        "attachment not allowed",
        "attachments are not",
        "banned attachment",
        "prohibited attachment",
        "attachment type",
        "message format",
        "not rfc",
        "rfc 5322",
        "rfc5322",
        "rfc 2822",
        "rfc2822",
    ),
    # Relaying.
    *_group(
        R.NO_RELAYING,
        "relaying denied",
        "relay access denied",
        "relaying not permitted",
        "relaying is not allowed",
        "relaying disallowed",
        "not permitted to relay",
        "unable to relay",
        "relay not permitted",
        "relay denied",
        "we do not relay",
        "not a relay",
        "no relaying",
        "relaying prohibited",
        "allowed rcpthosts",
        "not local host",
        "not in my list of allowed",
    ),
    # Size.
    *_group(
        R.EXCEED_LIMIT,
        "exceeds administrative limit",
        "message length exceeds",
        "exceeds the maximum allowed",
    ),
    *_group(
        R.MESG_TOO_BIG,
        "message too large",
        "message is too large",
        "message too big",
        "message is too big",
        "message size exceeds",
        "size exceeds",
        "exceeds size limit",
        "exceeds the size",
        "size limit",
        "too large",
        "too big",
        "message size",
    ),
    # Expiry in the queue.
    *_group(
        R.EXPIRED,
        "retry time exceeded",
        "retry timeout exceeded",
        "retry timeout",
        "delivery time expired",
        "message expired",
        "could not be delivered within",
        "could not be delivered for",
        "in the queue too long",
        "in queue too long",
        "too long in queue",
        "queue too long",
        "delivery expired",
        "expired after",
        "deferred for too long",
        "lifetime exceeded",
        "undeliverable for",
        "queue period",
        "not delivered within",
        "delivery failed 20 attempts",
    ),
    # A disabled or suspended mailbox (soft: it may come back).
    *_group(
        R.SUSPEND,
        "account disabled",
        "account has been disabled",
        "account is disabled",
        "account is inactive",
        "account inactive",
        "account has been suspended",
        "account is suspended",
        "account suspended",
        "account is locked",
        "account locked",
        "account expired",
        "account has expired",
        "mailbox disabled",
        "mailbox is disabled",
        "mailbox is inactive",
        "mailbox inactive",
        "mailbox suspended",
        "mailbox is suspended",
        "mailbox is frozen",
        "is disabled",
        "deactivated",
        "inactive user",
        "user inactive",
        "not active",
        "no longer active",
        "temporarily disabled",
        "falta de uso",  # es: "expired for lack of use"
        "por inactividad",  # es
        "suspended",
    ),
    # Moved away; a domain that accepts no mail at all.
    *_group(
        R.HAS_MOVED,
        "has moved",
        "address has changed",
        "mailbox moved",
        "user has moved",
        "no longer at this address",
        "forwarding address",
    ),
    *_group(
        R.NOT_ACCEPT,
        "does not accept mail",
        "doesn't accept mail",
        "not accept any mail",
        "accepts no mail",
        "null mx",
        "nullmx",
        "mx 0 .",
        "does not receive mail",
    ),
    # Dead domains (before dead mailboxes: "recipient address rejected: domain not found").
    *_group(
        R.HOST_UNKNOWN,
        "host unknown",
        "host not found",
        "unknown host",
        "host or domain name not found",
        "domain not found",
        "no such domain",
        "unknown domain",
        "domain does not exist",
        "domain doesn't exist",
        "domain name not found",
        "domain is not",
        "unrouteable mail domain",
        "unroutable mail domain",
        "unrouteable address",
        "unroutable address",
        "nameserver error",
        "name server error",
        "name service error",
        "nxdomain",
        "no mx",
        "mx record",
        "mx lookup",
        "non-existent hosts",
        "nonexistent host",
        "malformed or unexpected name server reply",
        "dns error",
        "domain unknown",
        "bad destination system",
        "invalid domain",
        "domain invalid",
        "domain not exist",
    ),
    # Dead mailboxes.
    *_group(
        R.USER_UNKNOWN,
        "user unknown",
        "unknown user",
        "no such user",
        "no such mailbox",
        "no such recipient",
        "no such address",
        "no such person",
        "user not known",
        "no such local user",
        "user not found",
        "mailbox not found",
        "recipient not found",
        "address not found",
        "account not found",
        "mailbox unknown",
        "mailbox unavailable",
        "mailbox is unavailable",
        "mailbox not available",
        "unknown recipient",
        "recipient unknown",
        "unknown address",
        "unknown e-mail",
        "unknown email",
        "address unknown",
        "addressee unknown",
        "unknown local part",
        "unknown or illegal",
        "unknown alias",
        "invalid recipient",
        "invalid mailbox",
        "invalid address",
        "invalid user",
        "recipnotfound",
        "recipientnotfound",
        "bad destination mailbox",
        "does not exist",
        "doesn't exist",
        "dosn't exist",
        "not exist",
        "no mailbox",
        "no account",
        "doesn't have a",
        "does not have an account",
        "not our customer",
        "no longer",
        "not recognized",
        "not recognised",
        "recipient rejected",
        "recipient address rejected",
        "address rejected",
        "no valid recipients",
        "does not like recipient",
        "final delivery userid",
        "invalid userid",
        "final email delivery point",
        "final delivery point",
        "no matches to nameserver query",
        "not a valid user",
        "not a valid mailbox",
        "did not exactly match",
        "no recipients",
        "unbekannt",  # de
        "existiert nicht",  # de
        "nie istnieje",  # pl
        "n'existe pas",  # fr
        "inconnu",  # fr
        "no existe",  # es
        "inexistente",  # es, pt
        "sconosciuto",  # it
        "inesistente",  # it
        "не существует",  # ru
    ),
    # The recipient's own filters and restrictions.
    *_group(
        R.FILTERED,
        "resolver.rst",
        "filtered",
        "refuses to accept",
        "user refuses",
        "recipient refuses",
        "does not accept messages from",
        "not authorized to send to",
        "restricted to",
        "only accepts mail from",
    ),
    # Security: TLS, authentication of the session.
    *_group(
        R.SECURITY_ERROR,
        "starttls",
        "tls required",
        "requires tls",
        "encryption required",
        "must issue a starttls",
        "authentication required",
        "authentication is required",
        "must be authenticated",
        "must authenticate",
        "not authorized to relay",
        "security",
        "certificate",
    ),
    # Greylisting and plain deferrals: nothing to blame yet.
    *_group(
        R.ON_HOLD,
        "greylist",
        "graylist",
        "grey-list",
        "temporarily deferred",
        "temporarily rejected",
        "deferred",
        "try again later",
    ),
    # The receiving system, the network between, the local mailer.
    *_group(
        R.MAILER_ERROR,
        "mailer error",
        "procmail",
        "maildrop",
        "command died",
        "exit code",
        "exited with",
        "pipe to",
        "local delivery failed",
        "x-unix",
    ),
    *_group(
        R.NETWORK_ERROR,
        "too many hops",
        "mail loop",
        "routing loop",
        "loops back to myself",
        "loop detected",
        "looping",
        "could not find a gateway",
        "connection refused",
        "connection timed out",
        "connection reset",
        "lost connection",
        "no route to host",
        "network is unreachable",
        "network unreachable",
        "not responding",
        "unable to connect",
        "could not connect",
        "connect to",
        "timed out",
        "timeout",
        "dns lookup",
        "temporary lookup failure",
        "lookup failure",
    ),
    *_group(
        R.SYNTAX_ERROR,
        "syntax error",
        "command unrecognized",
        "unrecognized command",
        "command not recognized",
        "bad sequence of commands",
    ),
    *_group(
        R.SYSTEM_ERROR,
        "system error",
        "internal error",
        "server error",
        "local error",
        "local problem",
        "system failure",
        "temporary failure",
        "service not available",
        "service unavailable",
        "resources temporarily unavailable",
        "temporarily unavailable",
    ),
    # The broadest words, last: the receiver's policy refused the message.
    *_group(
        R.POLICY_VIOLATION,
        "policy",
        "violat",
        "prohibited",
        "not permitted",
        "not allowed",
        "not authorized",
        "not authorised",
        "unauthorized",
        "access denied",
        "administratively denied",
        "denied",
        "refused",
    ),
)

TEXT_LIMIT: Final = 8192
"""Characters of diagnostic text read: beyond this it says nothing new and costs time."""

_CONTINUATION: Final = re.compile(r"(?<=\S) [245]\d\d-(?:[245]\.\d{1,3}\.\d{1,3} )?")
_BOILERPLATE: Final = (
    "scanned for viruses",
    "virus scanned",
    "virus-scanned",
    "checked for viruses",
    "anti-virus",
    "antivirus",
    "anti-spam",
    "antispam",
)
"""Footers that mail systems add to every message; they name no reason."""

_RCPT_STAGE: Final = ("in reply to rcpt to", "rcpt to:", "after rcpt to", "rcpt to command")


def reason_for_status(status: str) -> tuple[R, bool]:
    """The reason a normalised code gives, and whether the code is weak (text may override)."""
    _, subject, detail = (int(part) for part in status.split("."))
    reason = _BY_CODE.get((subject, detail))
    if reason is None and subject == 7 and 8 <= detail <= 19:
        # Authentication codes of RFC 4954 and later; providers reuse them loosely (Yahoo
        # refuses unauthenticated senders with 5.7.9), so the words may say more.
        return R.SECURITY_ERROR, True
    if reason is None:
        # A detail outside the registry (Microsoft's 5.7.606, 5.7.708, ...) is the provider's own
        # numbering: its subject is a hint, its words decide.
        return _BY_SUBJECT.get(subject, R.UNDEFINED), True
    return reason, (subject, detail) in _WEAK


def reason_for_reply_code(text: str | None) -> R | None:
    """The reason the SMTP reply code that opens `text` gives ("550 ..."), None if none does.

    A bare 550 counts only when the text says the refusal came at RCPT TO (see the module doc).
    """
    if not text:
        return None
    match = _REPLY_CODE.match(text)
    if not match:
        return None
    code = int(match.group(1))
    if code == 550:
        folded = text[:TEXT_LIMIT].casefold()
        return R.USER_UNKNOWN if any(stage in folded for stage in _RCPT_STAGE) else None
    return _BY_REPLY.get(code)


def reason_for_text(text: str | None) -> R | None:
    """The reason of the first phrase of `TEXT_PATTERNS` found in `text`; None if none."""
    if not text:
        return None
    # Whitespace runs as one space: reports wrap long replies ("554 No\n    Resent-From ...").
    folded = " ".join(text[:TEXT_LIMIT].split()).casefold()
    # A multi-line SMTP reply repeats its code on every line ("... this message is 550-5.7.1
    # likely unsolicited mail"): the repeats would split the very phrases that name the reason.
    folded = _CONTINUATION.sub(" ", folded)
    for boilerplate in _BOILERPLATE:
        if boilerplate in folded:
            folded = folded.replace(boilerplate, " ")
    for phrase, reason in TEXT_PATTERNS:
        if phrase in folded:
            return reason
    return None
