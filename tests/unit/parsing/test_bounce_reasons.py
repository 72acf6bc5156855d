"""Bounce reasons and classes from status codes, reply codes and the wording receivers publish.

Each expected reason is read off a source, not off the classifier: the meaning RFC 3463 and the
IANA enhanced status code registry give a code, or the error a mailbox provider documents with
its own wording (Google Workspace Admin Help "SMTP errors and codes"; Microsoft Learn "Email
non-delivery reports and SMTP errors in Exchange Online"; Yahoo Sender Hub "SMTP error codes";
the Postfix manual's `postconf(5)` reject texts; RFC 7505 for null MX). The class then follows
the rule of `streams.core.bounce_reasons`: hard only for a dead address.
"""

from __future__ import annotations

import pytest

from streams.core.bounce_reasons import (
    DEAD_ADDRESS,
    SENDER_REFUSALS,
    BounceReason,
    class_of,
    is_sender_refusal,
    reason_named,
)
from streams.parsing.diagnosis import classify

CASES = [
    # RFC 3463 codes alone.
    ("5.1.1", "", True, "userunknown"),
    ("5.1.2", "", True, "hostunknown"),
    ("5.1.3", "", True, "userunknown"),
    ("5.1.6", "", True, "hasmoved"),
    ("5.1.7", "", True, "rejected"),
    ("5.2.1", "", True, "suspend"),
    ("5.2.2", "", True, "mailboxfull"),
    ("4.2.2", "", False, "mailboxfull"),
    ("5.2.3", "", True, "exceedlimit"),
    ("5.3.1", "", True, "systemfull"),
    ("5.3.4", "", True, "mesgtoobig"),
    ("4.4.7", "", False, "expired"),
    ("5.4.7", "", True, "expired"),
    ("5.5.2", "", True, "syntaxerror"),
    ("5.6.0", "", True, "contenterror"),
    ("5.7.7", "", True, "contenterror"),
    ("5.7.8", "", True, "securityerror"),
    ("5.7.26", "", True, "authfailure"),
    ("5.7.25", "", True, "requireptr"),
    ("5.0.0", "", True, "undefined"),
    # RFC 7505: a null MX domain accepts no mail at all.
    ("5.1.10", "", True, "notaccept"),
    ("5.7.27", "", True, "notaccept"),
    # Google Workspace, "SMTP errors and codes".
    (
        "5.1.1",
        "550-5.1.1 The email account that you tried to reach does not exist.",
        True,
        "userunknown",
    ),
    (
        "5.2.2",
        "552-5.2.2 The email account that you tried to reach is over quota.",
        True,
        "mailboxfull",
    ),
    (
        "5.2.1",
        "550-5.2.1 The email account that you tried to reach is disabled.",
        True,
        "suspend",
    ),
    (
        "5.7.1",
        "550-5.7.1 Our system has detected that this message is likely unsolicited mail.",
        True,
        "spamdetected",
    ),
    (
        "5.7.26",
        "550-5.7.26 This mail is unauthenticated, which poses a security risk to the sender.",
        True,
        "authfailure",
    ),
    (
        "5.7.25",
        "550-5.7.25 The IP address sending this message does not have a PTR record setup.",
        True,
        "requireptr",
    ),
    (
        "4.7.28",
        "421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating "
        "from your IP address.",
        False,
        "speeding",
    ),
    ("5.3.4", "552-5.3.4 Your message exceeded Google's message size limits.", True, "mesgtoobig"),
    # The same reply as a multi-line SMTP answer: the repeated code splits the sentence.
    (
        "5.7.1",
        "550-5.7.1 Our system has detected that this message is 550-5.7.1 likely unsolicited "
        "mail. To reduce the amount of spam sent to Gmail, this message has been blocked.",
        True,
        "spamdetected",
    ),
    # Microsoft Exchange Online NDR reference.
    (
        "5.1.10",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        True,
        "userunknown",
    ),
    (
        "5.4.1",
        "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)",
        True,
        "userunknown",
    ),
    (
        "5.7.1",
        "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your "
        "Internet service provider since part of their network is on our block list (S3150).",
        True,
        "blocked",
    ),
    ("5.7.606", "550 5.7.606 Access denied, banned sending IP [192.0.2.1].", True, "blocked"),
    (
        "5.7.1",
        "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized",
        True,
        "filtered",
    ),
    # Yahoo Sender Hub, SMTP error codes.
    (
        "4.7.0",
        "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected "
        "volume or user complaints",
        False,
        "blocked",
    ),
    (
        None,
        "554 Message not allowed - [PH01] Email not accepted for policy reasons.",
        True,
        "policyviolation",
    ),
    (
        "5.7.9",
        "550 5.7.9 This mail has been blocked because the sender is unauthenticated.",
        True,
        "authfailure",
    ),
    # Postfix's documented reject texts.
    (
        "5.7.1",
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        True,
        "blocked",
    ),
    (
        "4.7.1",
        "450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.1]",
        False,
        "requireptr",
    ),
    (
        "5.1.1",
        "550 5.1.1 <x@example.org>: Recipient address rejected: User unknown in local "
        "recipient table",
        True,
        "userunknown",
    ),
    (
        "5.1.8",
        "450 4.1.8 <s@example.com>: Sender address rejected: Domain not found",
        True,
        "rejected",
    ),
    ("5.7.1", "554 5.7.1 <x@example.org>: Relay access denied", True, "norelaying"),
    (
        "5.4.4",
        "Host or domain name not found. Name service error for name=example.invalid "
        "type=A: Host not found",
        True,
        "hostunknown",
    ),
    (None, "552 5.3.4 Message size exceeds fixed limit", True, "mesgtoobig"),
    # Free-form wording without any code.
    (None, "Sorry, no mailbox here by that name. (#5.1.1)", True, "userunknown"),
    (None, "This account is over quota.", True, "mailboxfull"),
    (None, "greylisted, please try again later", False, "onhold"),
    (
        None,
        "I'm not going to try again; this message has been in the queue too long.",
        True,
        "expired",
    ),
    (None, "too many connections from your IP", False, "toomanyconn"),
    (None, "User carlosr73 not listed in Domino Directory", True, "userunknown"),
    # Reply codes alone (RFC 5321 section 4.2.3).
    (None, "552 Requested mail action aborted", True, "mailboxfull"),
    (None, "550 rejected (in reply to RCPT TO command)", True, "userunknown"),
    (None, "550 rejected", True, "undefined"),
]


@pytest.mark.parametrize(("status", "text", "permanent", "reason"), CASES)
def test_reason_from_code_and_wording(status, text, permanent, reason) -> None:
    """Each documented error gets the reason its source gives it, and the class that follows."""
    got_class, got_reason = classify(status, text, permanent=permanent)
    assert got_reason.value == reason
    temporary = (status or "").startswith("4") or text.lstrip().startswith("4")
    if temporary:
        assert got_class == "soft"
    else:
        assert got_class == ("hard" if reason in DEAD_ADDRESS else "soft")


@pytest.mark.parametrize(
    "text",
    [
        "550 5.2.2 mailbox full",
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        "550 5.7.1 rejected by policy",
        "550 5.2.1 mailbox suspended",
        "421 4.7.0 too many connections",
        "550 5.7.25 PTR record required",
        "552 5.3.4 message too big",
        "554 5.7.1 relaying denied",
        "delivery time expired",
        "550 5.7.1 message filtered as spam",
    ],
)
def test_permanent_refusals_that_say_nothing_of_the_address_are_soft(text: str) -> None:
    """The mistakes that would suppress a real person for ever: none of them is hard."""
    assert classify(None, text, permanent=True)[0] == "soft"


def test_a_temporary_failure_is_never_hard() -> None:
    """Even an unknown user, said with a 4.x.x code, may be a directory hiccup: soft."""
    assert classify("4.1.1", "user unknown", temporary=True) == ("soft", BounceReason.USER_UNKNOWN)


def test_no_code_no_words_no_action_is_undetermined() -> None:
    """A report that says neither why nor whether it is final decides nothing."""
    assert classify(None, "", permanent=False) == ("undetermined", BounceReason.UNDEFINED)


def test_only_dead_addresses_are_hard() -> None:
    """Class follows the reason: every reason but the four dead-address ones is soft."""
    for reason in BounceReason:
        expected = "hard" if reason in DEAD_ADDRESS else "soft"
        assert class_of(reason, temporary=False, permanent=True) == expected
        assert class_of(reason, temporary=True, permanent=False) == "soft"


def test_sender_refusals_and_dead_addresses_do_not_overlap() -> None:
    """A reason cannot both blame the sender and declare the address dead."""
    assert not (SENDER_REFUSALS & DEAD_ADDRESS)
    assert is_sender_refusal("blocked") and is_sender_refusal("authfailure")
    assert not is_sender_refusal("mailboxfull") and not is_sender_refusal(None)


def test_legacy_names_still_read() -> None:
    """Events written with the earlier names keep their meaning when replayed."""
    assert reason_named("blocked-or-reputation") is BounceReason.BLOCKED
    assert reason_named("mailbox-does-not-exist") is BounceReason.USER_UNKNOWN
    assert is_sender_refusal("content-rejected")
    assert reason_named("no-such-reason") is None
