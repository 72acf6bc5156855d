"""Parse RFC 5965 feedback reports (ARF) and the ISP formats that are not clean RFC 5965.

The gate acts on two things in a report: its feedback type (a complaint suppresses the address,
a `not-spam` report must not) and the complained-about recipient. Both are read leniently,
because feedback loops rarely follow the RFC to the letter, but a recipient is only reported when
the report really names it: a wrong address would suppress someone who never complained.

Formats, first that applies:

| format         | recognised by                                                | type         |
|----------------|--------------------------------------------------------------|--------------|
| rfc5965        | a message/feedback-report part (also base64-encoded, also in | its field    |
|                | a multipart/mixed instead of multipart/report: Netease)      |              |
| rfc5965-text   | report-type=feedback-report, fields in a text/plain part     | its field    |
| microsoft-jmrp | an attached message with X-HmXmrOriginalRecipient (legacy    | abuse        |
|                | Hotmail / Outlook.com JMRP, before its ARF reports)          |              |
| aol-scomp      | AOL's pre-ARF report: From scomp@aol.net or the Subject      | abuse        |
|                | "Email Feedback Report for IP ...", message attached         |              |
| gmail-fbl      | a report from a Google domain that speaks of Feedback-ID     | abuse        |
| dmarc-text     | a DMARC failure report without an ARF part (RFC 7489 7.3 as  | auth-failure |
|                | sent by Exim and others in plain text)                       |              |
| abuse-text     | no report fields, but the RFC 5965 section 2 opening line    | from the     |
|                | ("This is an email abuse report for ...", also "This is a    | line         |
|                | Yahoo! Mail Abuse report") above a copy of the message,      |              |
|                | attached or pasted                                           |              |

Current Microsoft JMRP (recipient masked, X-HmXmrOriginalRecipient gone), Yahoo, AOL, Comcast
(through Return Path / Validity), Mail.ru (marked `X-Mru-AbusefHost`, lower-case
`feedback-type`, Delivered-To masked as `*****`) and Netease reports are RFC 5965 and differ
only in the optional fields they fill, so every field is optional here; Yandex reports are read
the same way, no Yandex-specific field is relied on. An ARF part without Feedback-Type takes the
type its human-readable line states, or `abuse` when AOL's SComp generator sent it.

Feedback types are those of the IANA registry (RFC 5965 section 7.3: abuse, fraud, other,
virus; RFC 6430: not-spam; RFC 6591: auth-failure) plus `opt-out` of the ARF drafts, which ISPs
still send (also spelled `optout` or `unsubscribe`); `dmarc` is read as auth-failure. Case,
spacing, `_` for `-`, comments and parameters are ignored; anything else is `other`.

The complained-about recipient, first found: Original-Rcpt-To, Removal-Recipient (opt-out
reports), then the reported message's X-HmXmrOriginalRecipient, Delivered-To, X-Original-To,
X-Apparently-To and a single-address To; the reported message is the attached message/rfc822
(also transfer-encoded), the text/rfc822-headers part, or a header block pasted into the text.
Skipped on the way:

* redacted addresses (RFC 6590): a local part that is a redaction word (`redacted`,
  `[redacted]`), the report's own Redacted-Address value, masking characters (`xxxxxxx`, `***`),
  or a hex digest. Reporting the domain with a made-up local part would suppress a stranger;
  with no recipient the gate identifies the send by the VERP token and X-Sendgate headers;
* the report's own addresses (From, To, Delivered-To, ...: the feedback-loop mailbox and the
  ISP's sender), role mailboxes at the reporting domain and anywhere `postmaster` /
  `mailer-daemon`, and the original sender (Original-Mail-From, the message's From, Sender,
  Reply-To and Return-Path);
* anything from a Gmail feedback loop, which reports per campaign, never per recipient.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Final

from streams.parsing.addresses import clean_address
from streams.parsing.mime import (
    field_blocks,
    header,
    headers_of_text,
    parse_fields,
    text_of,
    walk,
)
from streams.parsing.model import FeedbackDetails, FeedbackType
from streams.parsing.original import header_blocks

__all__ = ["FeedbackParse", "is_redacted", "normalise_feedback_type", "parse_feedback"]

_TYPES: Final[dict[str, FeedbackType]] = {
    "abuse": "abuse",
    "fraud": "fraud",
    "opt-out": "opt-out",
    "optout": "opt-out",
    "unsubscribe": "opt-out",
    "not-spam": "not-spam",
    "notspam": "not-spam",
    "virus": "virus",
    "auth-failure": "auth-failure",
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
_GOOGLE_DOMAINS: Final = ("google.", "gmail.", "googlemail.")
_DMARC_SUBJECT_WORDS: Final = ("dmarc failure report", "dmarc forensic report", "dmarc ruf")
_AOL_SUBJECT: Final = "email feedback report for ip"
# RFC 5965 section 2 (b): "This is an email abuse report for an email message received from
# ..."; the word before "report" is the type in the reports ISPs write.
_OPENING: Final = re.compile(
    r"\bthis is an? (?:[\w!.'-]+ ){0,3}?(abuse|fraud|phishing|virus|opt-out|opt out|"
    r"unsubscribe|not-spam|not spam|authentication[- ]failure) report\b",
    re.IGNORECASE,
)
_OPENING_TYPES: Final[dict[str, FeedbackType]] = {
    "abuse": "abuse",
    "fraud": "fraud",
    "phishing": "fraud",
    "virus": "virus",
    "opt-out": "opt-out",
    "opt out": "opt-out",
    "unsubscribe": "opt-out",
    "not-spam": "not-spam",
    "not spam": "not-spam",
    "authentication-failure": "auth-failure",
    "authentication failure": "auth-failure",
}
# Headers of the reported message that name its recipient, most specific first: the first two
# are written by the receiving mailbox provider, To by the sender.
_RECIPIENT_HEADERS: Final = (
    "X-HmXmrOriginalRecipient",
    "Delivered-To",
    "X-Original-To",
    "X-Apparently-To",
)
_SENDER_HEADERS: Final = ("From", "Sender", "Reply-To", "Return-Path")
_REPORT_HEADERS: Final = (
    "From",
    "Sender",
    "Reply-To",
    "Return-Path",
    "To",
    "Cc",
    "Delivered-To",
    "X-Original-To",
)
_NEVER_RECIPIENTS: Final = frozenset({"postmaster", "mailer-daemon"})
_ISP_ROLES: Final = frozenset(
    {
        "abuse",
        "arf",
        "fbl",
        "feedback",
        "feedbackloop",
        "scomp",
        "staff",
        "no-reply",
        "noreply",
        "dmarc",
        "dmarc-noreply",
        "dmarc-report",
    }
)
_REDACTION_WORDS: Final = (
    "redacted",
    "removed",
    "hidden",
    "anonymous",
    "anonymized",
    "anonymised",
    "undisclosed",
    "withheld",
    "masked",
    "obfuscated",
)
_MASK_ONLY: Final = re.compile(r"[xX*#?._-]{3,}")
_HEX_DIGEST: Final = re.compile(r"[0-9a-f]{32,128}")
_PASTED_NAMES: Final = frozenset(
    {
        "received",
        "return-path",
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "delivered-to",
        "x-original-to",
        "mime-version",
        "content-type",
        "reply-to",
        "sender",
    }
)
_HEADER_LINE: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,59}:")


class FeedbackParse:
    """A recognised feedback report: its details and the complained-about recipients."""

    __slots__ = ("details", "recipients")

    def __init__(self, details: FeedbackDetails, recipients: list[str]) -> None:
        self.details = details
        self.recipients = recipients


def normalise_feedback_type(value: str | None) -> FeedbackType:
    """The registry spelling of a Feedback-Type value; `other` for unknown values.

    Only the first line counts (a repeated field is joined by newlines); a comment or a
    parameter after the token, quotes, case, `_` for `-` and `not spam` for `not-spam` are
    tolerated because reporters write all of them.
    """
    line = (value or "").strip().split("\n", 1)[0]
    line = re.sub(r"\([^)]*\)", " ", line).strip().strip("\"'").strip().lower()
    if not line:
        return "other"
    joined = re.sub(r"[\s_]+", "-", line)
    if joined in _TYPES:
        return _TYPES[joined]
    token = re.split(r"[\s;,]+", line, maxsplit=1)[0].replace("_", "-")
    return _TYPES.get(token, "other")


def is_redacted(address: str, tokens: frozenset[str] = frozenset()) -> bool:
    """True when the local part of `address` was blanked out by the reporter (RFC 6590).

    `tokens` are the report's own redaction strings (its Redacted-Address field).
    """
    local = address.rpartition("@")[0].strip().lower()
    bare = local.strip("[]<>{}()\"'")
    if not bare or bare in tokens:
        return True
    if any(word in bare for word in _REDACTION_WORDS):
        return True
    if "*" in bare or _MASK_ONLY.fullmatch(bare):
        return True
    return _HEX_DIGEST.fullmatch(bare) is not None


def parse_feedback(
    message: Message, parts: list[Message], originals: list[Message]
) -> FeedbackParse | None:
    """Read `message` as a feedback report in one of the module's formats; None if it is none.

    `parts` are all MIME parts in order, `originals` the message/rfc822 and text/rfc822-headers
    parts (the reported message).
    """
    fields, report_format = _fields(message, parts)
    text = _own_text(message)
    attached = _attached_headers(originals)
    pasted = _pasted_headers(text) if not attached else []
    sender = header(message, "From").lower()
    subject = " ".join(header(message, "Subject").lower().split())
    from_aol = "scomp@aol" in sender or subject.startswith(_AOL_SUBJECT)
    gmail = _is_gmail_fbl(message, text)
    inline = False
    if fields is None:
        jmrp = _first_header(attached, "X-HmXmrOriginalRecipient")
        if not jmrp and not attached and header(message, "X-HmXmrOriginalRecipient"):
            # The oldest JMRP form: the complained-about message itself, re-sent by Hotmail
            # with the recipient in its own header.
            jmrp, attached = header(message, "X-HmXmrOriginalRecipient"), [message]
            inline = True
        opening = _OPENING.search(text[:4000])
        if jmrp:
            fields, report_format = {"feedback-type": "abuse"}, "microsoft-jmrp"
        elif from_aol:
            fields, report_format = {"feedback-type": "abuse"}, "aol-scomp"
        elif gmail:
            fields, report_format = {"feedback-type": "abuse"}, "gmail-fbl"
        elif any(words in subject for words in _DMARC_SUBJECT_WORDS):
            fields, report_format = {"feedback-type": "auth-failure"}, "dmarc-text"
        elif opening and (attached or pasted):
            fields = {"feedback-type": _OPENING_TYPES[" ".join(opening.group(1).lower().split())]}
            report_format = "abuse-text"
        else:
            return None
    feedback_type = _feedback_type(fields, text, from_aol)
    # An inline report's own headers are the reported message's, not the reporter's.
    reporter = Message() if inline else message
    recipients = [] if gmail else _recipients(reporter, fields, attached or pasted)
    details = FeedbackDetails(
        feedback_type=feedback_type,
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


def _feedback_type(fields: dict[str, str], text: str, from_aol: bool) -> FeedbackType:
    """The field's type; without the field, the opening line's, else abuse for AOL SComp."""
    if fields.get("feedback-type", "").strip():
        return normalise_feedback_type(fields["feedback-type"])
    opening = _OPENING.search(text[:4000])
    if opening:
        return _OPENING_TYPES[" ".join(opening.group(1).lower().split())]
    if from_aol or "scomp" in fields.get("user-agent", "").lower():
        return "abuse"
    return "other"


def _is_gmail_fbl(message: Message, text: str) -> bool:
    """A Google feedback-loop notice: aggregated by Feedback-ID, never about one recipient."""
    domain = (clean_address(header(message, "From")) or "").rpartition("@")[2]
    from_google = any(
        domain.startswith(name) or f".{name}" in f".{domain}" for name in _GOOGLE_DOMAINS
    )
    return from_google and ("feedback-id" in text.lower() or bool(header(message, "Feedback-ID")))


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


def _own_text(message: Message) -> str:
    """The text/plain parts of the report itself (not of the reported message), bounded."""
    chunks: list[str] = []
    for part, _, attached in walk(message):
        if not attached and not part.is_multipart() and part.get_content_type() == "text/plain":
            chunks.append(text_of(part))
    return "\n".join(chunks)


def _attached_headers(originals: list[Message]) -> list[Message]:
    """The header blocks of the reported message (embedded message or rfc822-headers text)."""
    found: list[Message] = []
    for part in originals:
        found.extend(block for block in header_blocks(part) if block.keys())
    return found


def _pasted_headers(text: str) -> list[Message]:
    """Header blocks pasted into the report's text, also `>`-quoted; a block counts when it has
    at least two familiar header fields, one of them naming a recipient or the message."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for raw in text.splitlines()[:2000]:
        line = raw.lstrip(">").lstrip(" ") if raw.startswith(">") else raw
        continued = bool(current) and line[:1] in (" ", "\t") and bool(line.strip())
        if _HEADER_LINE.match(line) or continued:
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    found: list[Message] = []
    for block in blocks:
        names = {line.split(":", 1)[0].lower() for line in block if line[:1] not in " \t"}
        familiar = names & _PASTED_NAMES
        if len(familiar) >= 2 and familiar & {"to", "delivered-to", "x-original-to", "message-id"}:
            parsed = headers_of_text("\n".join(block) + "\n\n")
            if parsed is not None:
                found.append(parsed)
    return found


def _first_header(messages: list[Message], name: str) -> str:
    for candidate in messages:
        value = header(candidate, name)
        if value:
            return value
    return ""


def _recipients(message: Message, fields: dict[str, str], reported: list[Message]) -> list[str]:
    """The complained-about recipients; see the module docstring for the order and the skips."""
    tokens = frozenset(
        token
        for value in fields.get("redacted-address", "").split("\n")
        if (token := value.strip().strip("<>").rstrip("@").strip().lower())
    )
    excluded, isp_domains = _not_recipients(message, fields, reported)

    def usable(address: str | None) -> str | None:
        if not address or address in excluded or is_redacted(address, tokens):
            return None
        local, _, domain = address.rpartition("@")
        if local in _NEVER_RECIPIENTS:
            return None
        if local in _ISP_ROLES and any(_same_site(domain, isp) for isp in isp_domains):
            return None
        return address

    for key in ("original-rcpt-to", "removal-recipient"):
        found = [
            address
            for value in fields.get(key, "").split("\n")
            if (address := usable(clean_address(value)))
        ]
        if found:
            return list(dict.fromkeys(found))
    for name in _RECIPIENT_HEADERS:
        for block in reported:
            address = usable(clean_address(header(block, name)))
            if address:
                return [address]
    for block in reported:
        to = [usable(clean_address(value)) for value in _addresses(header(block, "To"))]
        if len(to) == 1 and to[0]:
            return [to[0]]
    return []


def _not_recipients(
    message: Message, fields: dict[str, str], reported: list[Message]
) -> tuple[set[str], set[str]]:
    """Addresses that are never the complainant, and the reporting ISP's domains."""
    excluded: set[str] = set()
    for name in _REPORT_HEADERS:
        excluded.update(_clean_all(header(message, name)))
    isp_domains = {address.rpartition("@")[2] for address in _clean_all(header(message, "From"))}
    mta = fields.get("reporting-mta", "")
    mta_host = (mta.partition(";")[2] if ";" in mta else mta).strip().lower()
    if mta_host:
        isp_domains.add(mta_host)
    excluded.update(_clean_all(fields.get("original-mail-from", "")))
    for block in reported:
        for name in _SENDER_HEADERS:
            excluded.update(_clean_all(header(block, name)))
    return excluded, isp_domains


def _addresses(value: str) -> list[str]:
    """The address parts of an address-list header value (display names dropped)."""
    if not value.strip():
        return []
    try:
        pairs = getaddresses([value])
    except Exception:  # a malformed list must not stop the parse
        return [value]
    return [address for _, address in pairs if address] or [value]


def _clean_all(value: str) -> set[str]:
    return {address for item in _addresses(value) if (address := clean_address(item))}


def _same_site(domain: str, other: str) -> bool:
    """True when one domain is the other or below it (mx.aol.com and aol.com), or both share
    their last two labels (hotmail.com sending for bay0.hotmail.com)."""
    domain, other = domain.lower().strip("."), other.lower().strip(".")
    if not domain or not other:
        return False
    if domain == other or domain.endswith(f".{other}") or other.endswith(f".{domain}"):
        return True
    return domain.split(".")[-2:] == other.split(".")[-2:]


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
