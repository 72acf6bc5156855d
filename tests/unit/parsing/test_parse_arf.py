"""Feedback reports: the type of every variant, and the complained-about recipient or none.

Expected values are read off the reports themselves (their Feedback-Type and Original-Rcpt-To
fields, the reported message's headers) and the standards (RFC 5965 and its registry, RFC 6430,
RFC 6591, RFC 6590 for redaction), never off the parser's output. Real reports are read in place
from the development corpus; the variants it lacks are in tests/data/mail/arf (see its README).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streams.parsing import parse_message
from streams.parsing.arf import is_redacted, normalise_feedback_type

CORPUS = (Path(__file__).resolve().parents[3] / ".." / "shared" / "corpora").resolve()
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "mail" / "arf"


@dataclass(frozen=True)
class Report:
    """What one report must parse to (None: not checked)."""

    file: str
    feedback_type: str
    recipients: tuple[str, ...]
    format: str | None = None
    isp: str | None = None
    original: dict[str, str] = field(default_factory=dict)


# Real reports. Why the recipients are what they are, from each file:
CORPUS_REPORTS = (
    # Original-Rcpt-To: <user@example.com>
    Report("arf/rfc-examples/rfc5965-example-complete-report.txt", "abuse", ("user@example.com",)),
    # No Original-Rcpt-To; the reported To is "<Undisclosed Recipients>", no address.
    Report("arf/email-arf/example0.msg", "abuse", ()),
    # Draft opt-out report: Removal-Recipient: user@example.com
    Report("arf/email-arf/example1.msg", "opt-out", ("user@example.com",)),
    Report("arf/email-arf/example2.msg", "abuse", ("user@example.com",)),
    # RFC 6591 auth-failure reports with Original-Rcpt-To.
    Report(
        "arf/parsedmarc/dmarc-failure-report-domain-de.eml",
        "auth-failure",
        ("peter.pan@domain.de",),
    ),
    Report(
        "arf/parsedmarc/dmarc-ruf-report-linkedin.eml", "auth-failure", ("recipient@linkedin.com",)
    ),
    # Plain-text DMARC report: the pasted header's To is its own From (the spoofed sender).
    Report(
        "arf/parsedmarc/exim-plain-text-only-no-arf-part.eml",
        "auth-failure",
        (),
        format="dmarc-text",
    ),
    # Netease: the reported To is "redacted@163.com".
    Report("arf/parsedmarc/netease-dmarc-failure-report.eml", "auth-failure", (), isp="netease"),
    # AOL: Redacted-Address: redacted; the reported To is redacted@aol.com.
    Report("arf/php-bounce-handler/arf5-aol.txt", "abuse", (), isp="aol"),
    Report(
        "arf/php-bounce-handler/fbl-aol.txt",
        "abuse",
        (),
        isp="aol",
        original={"message_id": "<WEB8e6e5512333834e5792b28af4d88dc308@web>"},
    ),
    # Comcast: Original-Rcpt-To: undisclosed comcast recipient <redacted@comcast.net>
    Report("arf/php-bounce-handler/fbl-comcast.txt", "abuse", (), isp="comcast"),
    # Legacy JMRP: X-HmXmrOriginalRecipient names the complainant, not the To header's address.
    Report(
        "arf/php-bounce-handler/fbl-hotmail.txt",
        "abuse",
        ("somerecipient@hotmail.com",),
        format="microsoft-jmrp",
        isp="microsoft",
    ),
    # Yahoo: Original-Rcpt-To: someuser@yahoo.com
    Report("arf/php-bounce-handler/fbl-yahoo.txt", "abuse", ("someuser@yahoo.com",), isp="yahoo"),
    # Mail.ru: lower-case feedback-type, Delivered-To "*****", the reported To names the user.
    Report(
        "arf/php-bounce-handler/mailru-fbl-001.eml",
        "abuse",
        ("recipient.fbl1@example.test",),
        isp="mail.ru",
    ),
    Report(
        "arf/php-bounce-handler/mailru-fbl-002.eml",
        "abuse",
        ("recipient.fbl2@example.test",),
        isp="mail.ru",
    ),
)

SAMPLE_REPORTS = (
    Report(
        "rfc6590-hashed-recipient.eml",
        "abuse",
        (),
        original={
            "message_id": "<send-5521@mail.example.com>",
            "request_id": "req-5521-ffe0",
            "account_id": "acct-17",
            "list_id": "list-news",
        },
    ),
    Report("rfc6430-not-spam.eml", "not-spam", ("maria.lopez@isp.example.net",)),
    Report("rfc5965-fraud.eml", "fraud", ("jun.park@isp.example.net",)),
    Report(
        "rfc5965-virus.eml",
        "virus",
        ("ana.silva@isp.example.net",),
        original={"request_id": "req-3003-c0de"},
    ),
    Report(
        "jmrp-arf-masked.eml",
        "abuse",
        (),
        format="rfc5965",
        isp="microsoft",
        original={"request_id": "req-7710-9a9a", "list_id": "list-news"},
    ),
    Report(
        "aol-scomp-legacy.eml",
        "abuse",
        (),
        format="aol-scomp",
        isp="aol",
        original={"request_id": "req-6006-d00d", "account_id": "acct-17"},
    ),
    Report(
        "gmail-fbl-aggregate.eml",
        "abuse",
        (),
        format="gmail-fbl",
        isp="google",
        original={"request_id": "req-7711-9b9b"},
    ),
    Report(
        "headers-inline-text.eml",
        "abuse",
        ("olu.adeyemi@isp.example.net",),
        format="abuse-text",
        original={
            "message_id": "<send-7781@mail.example.com>",
            "request_id": "req-7781-e1e1",
            "account_id": "acct-17",
            "list_id": "list-news",
        },
    ),
    Report(
        "truncated-original.eml",
        "abuse",
        ("lena.vogel@isp.example.net",),
        original={"request_id": "req-8008-f00f", "account_id": "acct-17"},
    ),
    Report(
        "encoded-original.eml",
        "abuse",
        ("tomas.novak@isp.example.net",),
        original={"message_id": "<send-9191@mail.example.com>", "request_id": "req-9191-abab"},
    ),
)


def _check(report: Report, raw: bytes) -> None:
    parsed = parse_message(raw)
    assert parsed.kind == "arf"
    assert parsed.feedback is not None
    assert parsed.feedback.feedback_type == report.feedback_type
    assert tuple(item.address for item in parsed.recipients) == report.recipients
    assert parsed.feedback.original_rcpt_to == (report.recipients[0] if report.recipients else None)
    assert all(
        item.action == "complained" and item.bounce_class is None for item in parsed.recipients
    )
    if report.format is not None:
        assert parsed.feedback.format == report.format
    if report.isp is not None:
        assert parsed.feedback.reporting_isp == report.isp
    for name, value in report.original.items():
        assert getattr(parsed.original, name) == value


@pytest.mark.parametrize("report", CORPUS_REPORTS, ids=[report.file for report in CORPUS_REPORTS])
def test_corpus_report(report: Report) -> None:
    """A real feedback-loop report gives its type and its complainant, or none when redacted."""
    path = CORPUS / report.file
    assert path.is_file(), f"development corpus not found at {CORPUS}"
    _check(report, path.read_bytes())


@pytest.mark.parametrize("report", SAMPLE_REPORTS, ids=[report.file for report in SAMPLE_REPORTS])
def test_sample_report(report: Report) -> None:
    """A variant written after its documentation gives its type, complainant and our headers."""
    _check(report, (SAMPLES / report.file).read_bytes())


def test_every_arf_sample_has_a_row() -> None:
    """No sample sits in tests/data/mail/arf without an expectation."""
    files = {path.name for path in SAMPLES.iterdir() if path.suffix == ".eml"}
    assert files == {report.file for report in SAMPLE_REPORTS}


def test_verp_token_survives_a_redacted_report() -> None:
    """With the recipient redacted the gate still has the VERP token of the envelope."""
    raw = (SAMPLES / "rfc6590-hashed-recipient.eml").read_bytes()
    parsed = parse_message(raw, envelope_rcpt="b-Xk29sLq7@bounces.mail.example.com")
    assert parsed.recipients == ()
    assert parsed.original.verp_token == "Xk29sLq7"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # RFC 5965 section 7.3 registry, RFC 6430, RFC 6591
        ("abuse", "abuse"),
        ("fraud", "fraud"),
        ("virus", "virus"),
        ("other", "other"),
        ("not-spam", "not-spam"),
        ("auth-failure", "auth-failure"),
        # the ARF drafts' opt-out and its spellings
        ("opt-out", "opt-out"),
        ("optout", "opt-out"),
        ("unsubscribe", "opt-out"),
        ("dmarc", "auth-failure"),
        # case, spacing, underscores, quotes, comments, parameters, repeated fields
        ("  ABUSE  ", "abuse"),
        ("Not-Spam", "not-spam"),
        ("not spam", "not-spam"),
        ("NOT_SPAM", "not-spam"),
        ("Opt_Out", "opt-out"),
        ("auth_failure", "auth-failure"),
        ('"abuse"', "abuse"),
        ("abuse (user pressed the spam button)", "abuse"),
        ("abuse; source=webmail", "abuse"),
        ("abuse\nfraud", "abuse"),
        # unknown or missing: other
        ("x-custom-complaint", "other"),
        ("spamreport", "other"),
        ("", "other"),
        (None, "other"),
        ("\x00\xff" * 500, "other"),
    ],
)
def test_normalise_feedback_type(value: str | None, expected: str) -> None:
    """Feedback-Type values map to the registry spelling; anything unknown is `other`."""
    assert normalise_feedback_type(value) == expected


_ARF = """\
From: Feedback <fbl@isp.example.net>
To: fbl-reports@mail.example.com
Subject: FW: Weekly deals
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b"

--b
Content-Type: text/plain

{text}

--b
Content-Type: message/feedback-report

{fields}

--b
Content-Type: text/rfc822-headers

From: "Example Shop" <news@mail.example.com>
Return-Path: <b-Tok3n00@bounces.mail.example.com>
{original}
Subject: Weekly deals
Message-ID: <send-1@mail.example.com>
X-Sendgate-Request-Id: req-1

--b--
"""


def _arf(
    fields: str,
    original: str = "To: <kai@isp.example.net>",
    text: str = "This is an email abuse report for an email message received from 192.0.2.25.",
) -> bytes:
    return _ARF.format(fields=fields, original=original, text=text).encode()


@pytest.mark.parametrize(
    "local",
    [
        "redacted",
        "REDACTED",
        "xxxxxxx",
        "XXXXXXXX",
        "***",
        "k***i",
        "undisclosed-recipient",
        "8b1a9953c4611296a827abf8c47804d7",  # MD5 hex
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # SHA-256 hex
    ],
)
def test_redacted_recipient_is_not_reported(local: str) -> None:
    """RFC 6590: a blanked-out local part is no address; the report says nothing about whom."""
    raw = _arf(
        f"Feedback-Type: abuse\nOriginal-Rcpt-To: <{local}@isp.example.net>",
        original=f"To: <{local}@isp.example.net>",
    )
    parsed = parse_message(raw)
    assert parsed.kind == "arf"
    assert parsed.recipients == ()
    assert parsed.original.request_id == "req-1"


def test_report_redaction_string_is_honoured() -> None:
    """The reporter's own Redacted-Address token marks the address as redacted."""
    raw = _arf(
        "Feedback-Type: abuse\nRedacted-Address: anon01\nOriginal-Rcpt-To: anon01@isp.example.net",
        original="To: anon01@isp.example.net",
    )
    assert parse_message(raw).recipients == ()


@pytest.mark.parametrize("local", ["kai", "max.fox", "x", "deadbeef", "ana_2026"])
def test_ordinary_local_parts_are_not_taken_for_redactions(local: str) -> None:
    """Short hex, a lone x or an x inside a name are real mailboxes."""
    address = f"{local}@isp.example.net"
    assert not is_redacted(address)
    raw = _arf(f"Feedback-Type: abuse\nOriginal-Rcpt-To: {address}", original=f"To: {address}")
    assert [item.address for item in parse_message(raw).recipients] == [address]


def test_redacted_field_falls_back_to_a_named_recipient_header() -> None:
    """A redacted Original-Rcpt-To does not hide a Delivered-To the reporter left in place."""
    raw = _arf(
        "Feedback-Type: abuse\nOriginal-Rcpt-To: redacted@isp.example.net",
        original="Delivered-To: kai@isp.example.net\nTo: redacted@isp.example.net",
    )
    assert [item.address for item in parse_message(raw).recipients] == ["kai@isp.example.net"]


@pytest.mark.parametrize(
    ("rcpt", "why"),
    [
        ("fbl-reports@mail.example.com", "the feedback-loop mailbox the report was sent to"),
        ("fbl@isp.example.net", "the reporter's own From"),
        ("postmaster@isp.example.net", "the reporting ISP's postmaster"),
        ("abuse@isp.example.net", "the reporting ISP's abuse desk"),
        ("news@mail.example.com", "the original From"),
        ("b-tok3n00@bounces.mail.example.com", "the original Return-Path"),
    ],
)
def test_never_the_loop_the_isp_or_the_sender(rcpt: str, why: str) -> None:
    """An Original-Rcpt-To that is not a subscriber is skipped; the reported To is used."""
    raw = _arf(f"Feedback-Type: abuse\nOriginal-Rcpt-To: <{rcpt}>")
    assert [item.address for item in parse_message(raw).recipients] == ["kai@isp.example.net"], why


def test_original_mail_from_is_never_the_recipient() -> None:
    """Original-Mail-From (RFC 5965 section 3.2) names the sender, whatever header repeats it."""
    raw = _arf(
        "Feedback-Type: abuse\nOriginal-Mail-From: <owner@mail.example.com>",
        original="To: owner@mail.example.com",
    )
    assert parse_message(raw).recipients == ()


def test_several_to_addresses_name_no_single_complainant() -> None:
    """Without Original-Rcpt-To a To with several addresses does not say who complained."""
    raw = _arf("Feedback-Type: abuse", original="To: kai@isp.example.net, lee@isp.example.net")
    assert parse_message(raw).recipients == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "This is an email abuse report for an email message received from IP 192.0.2.25.",
            "abuse",
        ),
        ("This is an opt-out report for an email message received from IP 192.0.2.25.", "opt-out"),
        ("This is a fraud report for an email message received from IP 192.0.2.25.", "fraud"),
        ("Report attached.", "other"),
    ],
)
def test_missing_feedback_type_comes_from_the_opening_line(text: str, expected: str) -> None:
    """An ARF part without Feedback-Type takes the type its human-readable part states."""
    raw = _arf("User-Agent: SomeGenerator/1.0\nVersion: 1", text=text)
    parsed = parse_message(raw)
    assert parsed.feedback is not None
    assert parsed.feedback.feedback_type == expected


def test_unknown_feedback_type_is_other() -> None:
    """A type outside the registry is `other`, and the report is still read."""
    raw = _arf("Feedback-Type: x-marketing-complaint\nOriginal-Rcpt-To: kai@isp.example.net")
    parsed = parse_message(raw)
    assert parsed.feedback is not None
    assert parsed.feedback.feedback_type == "other"
    assert [item.address for item in parsed.recipients] == ["kai@isp.example.net"]
