"""Parse RFC 5965 feedback reports (ARF) and the ISP formats that are not clean RFC 5965.

Read, in this order (first that applies):

| format         | recognised by                                                | type         |
|----------------|--------------------------------------------------------------|--------------|
| rfc5965        | a message/feedback-report part (also base64-encoded, also in | its field    |
|                | a multipart/mixed instead of multipart/report: Netease)      |              |
| rfc5965-text   | report-type=feedback-report, fields in a text/plain part     | its field    |
| microsoft-jmrp | an attached message with X-HmXmrOriginalRecipient (Hotmail,  | abuse        |
|                | Outlook.com JMRP complaints)                                 |              |
| aol-scomp      | AOL's pre-ARF report from scomp@aol.net, message attached    | abuse        |
| dmarc-text     | a DMARC failure report without an ARF part (RFC 7489 7.3 as  | auth-failure |
|                | sent by Exim and others in plain text)                       |              |

Mail.ru, Yahoo, Comcast and current AOL reports are RFC 5965 (Mail.ru marks its own with
`X-Mru-AbusefHost`); they differ in which optional fields they fill, so every field is optional
here and the complained-about recipient falls back from Original-Rcpt-To to Removal-Recipient
to the reported message's To.

Feedback types are those of the IANA registry (RFC 5965 section 7.3: abuse, fraud, other,
virus; RFC 6430: not-spam; RFC 6591: auth-failure) plus `opt-out` of the ARF drafts, which ISPs
still send (also spelled `unsubscribe` / `optout`); anything else is `other`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Final

from streams.parsing.addresses import clean_address
from streams.parsing.mime import field_blocks, header, headers_of_text, parse_fields, text_of
from streams.parsing.model import FeedbackDetails, FeedbackType

__all__ = ["FeedbackParse", "normalise_feedback_type", "parse_feedback"]

_TYPES: Final[dict[str, FeedbackType]] = {
    "abuse": "abuse",
    "fraud": "fraud",
    "opt-out": "opt-out",
    "optout": "opt-out",
    "opt_out": "opt-out",
    "unsubscribe": "opt-out",
    "not-spam": "not-spam",
    "notspam": "not-spam",
    "not_spam": "not-spam",
    "virus": "virus",
    "auth-failure": "auth-failure",
    "auth_failure": "auth-failure",
    "dmarc": "auth-failure",
    "other": "other",
}
# Substring of the reporter's From domain, Reporting-MTA or User-Agent -> ISP name.
_ISPS: Final[tuple[tuple[str, str], ...]] = (
    ("aol.", "aol"),
    ("aol scomp", "aol"),
    ("hotmail.", "microsoft"),
    ("outlook.", "microsoft"),
    ("msn.com", "microsoft"),
    ("live.com", "microsoft"),
    ("yahoo", "yahoo"),
    ("comcast", "comcast"),
    ("mail.ru", "mail.ru"),
    ("yandex", "yandex"),
    ("163.com", "netease"),
    ("netease", "netease"),
    ("ntesdmarc", "netease"),
    ("gmail", "google"),
    ("google", "google"),
)
_DMARC_SUBJECT_WORDS: Final = ("dmarc failure report", "dmarc forensic report", "dmarc ruf")


class FeedbackParse:
    """A recognised feedback report: its details and the complained-about recipients."""

    __slots__ = ("details", "recipients")

    def __init__(self, details: FeedbackDetails, recipients: list[str]) -> None:
        self.details = details
        self.recipients = recipients


def normalise_feedback_type(value: str | None) -> FeedbackType:
    """The registry spelling of a Feedback-Type value; `other` for unknown values."""
    token = (value or "").strip().lower().split(None, 1)[0] if (value or "").strip() else ""
    return _TYPES.get(token.strip(";,"), "other")


def parse_feedback(
    message: Message, parts: list[Message], originals: list[Message]
) -> FeedbackParse | None:
    """Read `message` as a feedback report in one of the module's formats; None if it is none.

    `parts` are all MIME parts in order, `originals` the message/rfc822 and text/rfc822-headers
    parts (the reported message).
    """
    fields, report_format = _fields(message, parts)
    attached = _attached_headers(originals)
    if fields is None:
        jmrp = _first_header(attached, "X-HmXmrOriginalRecipient")
        sender = header(message, "From").lower()
        subject = header(message, "Subject").lower()
        if jmrp:
            fields, report_format = {"feedback-type": "abuse"}, "microsoft-jmrp"
            fields["original-rcpt-to"] = jmrp
        elif "scomp@aol" in sender and attached:
            fields, report_format = {"feedback-type": "abuse"}, "aol-scomp"
        elif any(words in subject for words in _DMARC_SUBJECT_WORDS):
            fields, report_format = {"feedback-type": "auth-failure"}, "dmarc-text"
        else:
            return None
    recipients = _recipients(fields, attached)
    details = FeedbackDetails(
        feedback_type=normalise_feedback_type(fields.get("feedback-type")),
        format=report_format,
        reporting_isp=_reporting_isp(message, fields),
        user_agent=_short(fields.get("user-agent")),
        original_rcpt_to=recipients[0] if recipients else None,
        original_mail_from=clean_address(fields.get("original-mail-from")),
        arrival_date=_date(fields.get("arrival-date") or fields.get("received-date")),
        source_ip=_short(fields.get("source-ip")),
        reported_domain=_short(fields.get("reported-domain")),
    )
    return FeedbackParse(details, recipients)


def _fields(message: Message, parts: list[Message]) -> tuple[dict[str, str] | None, str]:
    """Merged report fields (multi-valued ones joined by newlines) and the format name."""
    for part in parts:
        if part.get_content_type() == "message/feedback-report":
            return _merge(field_blocks(part)), "rfc5965"
    if message.get_param("report-type", "", header="content-type") == "feedback-report":
        for part in parts:
            if part.get_content_type() == "text/plain":
                merged = _merge(parse_fields(text_of(part)))
                if "feedback-type" in merged:
                    return merged, "rfc5965-text"
    return None, ""


def _merge(blocks: list[list[tuple[str, str]]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for block in blocks:
        for name, value in block:
            key = name.lower()
            merged[key] = f"{merged[key]}\n{value}" if key in merged else value
    return merged


def _attached_headers(originals: list[Message]) -> list[Message]:
    """The header blocks of the reported message (embedded message or rfc822-headers text)."""
    found: list[Message] = []
    for part in originals:
        payload = part.get_payload()
        if isinstance(payload, list):
            found.extend(child for child in payload if isinstance(child, Message))
        else:
            parsed = headers_of_text(text_of(part))
            if parsed is not None:
                found.append(parsed)
    return found


def _first_header(messages: list[Message], name: str) -> str:
    for candidate in messages:
        value = header(candidate, name)
        if value:
            return value
    return ""


def _recipients(fields: dict[str, str], attached: list[Message]) -> list[str]:
    """Original-Rcpt-To, else Removal-Recipient, else the reported message's To."""
    for key in ("original-rcpt-to", "removal-recipient"):
        addresses = [
            address
            for value in fields.get(key, "").split("\n")
            if (address := clean_address(value))
        ]
        if addresses:
            return list(dict.fromkeys(addresses))
    to = clean_address(_first_header(attached, "To"))
    return [to] if to else []


def _reporting_isp(message: Message, fields: dict[str, str]) -> str | None:
    reporter_domain = (clean_address(header(message, "From")) or "").rpartition("@")[2]
    mta = fields.get("reporting-mta", "")
    mta_host = mta.partition(";")[2].strip() if ";" in mta else mta.strip()
    haystack = " ".join((reporter_domain, mta_host, fields.get("user-agent", ""))).lower()
    if header(message, "X-Mru-AbusefHost"):
        return "mail.ru"
    for needle, isp in _ISPS:
        if needle in haystack:
            return isp
    return _short(mta_host) or reporter_domain or None


def _date(value: str | None) -> datetime | None:
    """An RFC 5322 date as aware UTC; a date without a zone is taken as UTC."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _short(value: str | None) -> str | None:
    text = " ".join((value or "").split())
    return text[:255] or None
