"""Read the content rules' facts from an RFC 5322 / MIME (RFC 2045-2049) message file.

A send request carries facts about the message, not the message
(`streams.core.records.SendRequest`).
`sendgate check` lets a sender run the content rules on a template file before sending it, so this
module turns a file into those facts, and the facts into a `SendRequest`, with the same limits a
request on the topic has. It is pure: bytes in, a frozen value out; no I/O, no clock.

What it reads, and the choices made:

- Headers are parsed by the standard library with `email.policy.default`, so RFC 2047
  encoded-words come out as text and folded fields as one line. `From`, `Reply-To` and `Subject`
  get their own fields; `headers` keeps every other field a sender composes, under its name as
  written, except the trace fields added in transit (`Received`, `Return-Path`, `ARC-*`,
  `Authentication-Results`, ...), `DKIM-Signature` (read into `authentication`), the MIME
  structure fields (`MIME-Version`, `Content-Type`, `Content-Transfer-Encoding`) and the
  recipients (`To`, `Cc`, `Bcc`: personal data, and the request names its own recipient). A field
  that occurs more than once keeps its first value.
- The body text is the `text/plain` body (`EmailMessage.get_body`: attachments are not bodies),
  else the `text/html` body rendered to the text a reader sees (`streams.content.html_text`:
  `<style>` and the like skipped, block elements break lines). Text hidden with the `hidden`
  attribute, `display:none` or `visibility:hidden` is left out, links in it too, and a warning
  says so: hidden text is no clear and conspicuous notice (a postal address or an unsubscribe link
  a reader cannot see does not count).
- Links are the HTML body's `<a href>` anchors, in order, with their text (an image's `alt` when
  the anchor has no text), then the bare `http(s):` and `mailto:` URLs in the body text that no
  anchor already gave; a bare URL's text is the URL, which is what the reader sees.
- `authentication` comes from the file's `DKIM-Signature` fields (`streams.content.dkim`: `d=`
  and `h=` of the signature aligned with From, else of the first; an unreadable one is ignored
  with a warning) and `spf_domain` is the `Return-Path` domain. Neither proves anything: the
  signature is not verified, and a template usually carries none (the mailer signs at send time),
  so the rules that need these facts see None. The DMARC policy is DNS data, not in the file:
  `request_from_facts` takes it as an argument.
- Past the request's limits (`MAX_BODY_TEXT_CHARS`, `MAX_BODY_LINKS`, `MAX_HEADERS`,
  `MAX_HEADER_VALUE_CHARS`, the length of a subject) the value is cut and `warnings` says what was
  cut, instead of failing: the rules still judge the rest.

Not done: verifying DKIM, reading attachments or nested `message/rfc822` parts, un-flowing
`format=flowed` text (RFC 3676), resolving relative URLs against `<base href>`.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import re
from datetime import datetime
from email.message import EmailMessage, Message
from email.utils import parseaddr
from typing import Any, Final, cast

from pydantic import BaseModel, ConfigDict

from streams.content.dkim import reported_signature
from streams.content.html_text import MAX_URL_CHARS, render_html
from streams.core.errors import SendgateError
from streams.core.records import (
    MAX_BODY_LINKS,
    MAX_BODY_TEXT_CHARS,
    MAX_HEADER_VALUE_CHARS,
    MAX_HEADERS,
    BodyLink,
    Classification,
    DmarcPolicy,
    MailAuthentication,
    MessageBody,
    SendKind,
    SendRequest,
)

__all__ = [
    "MAX_MESSAGE_BYTES",
    "TEMPLATE_CHECK_RECIPIENT",
    "TEMPLATE_CHECK_REQUEST_ID",
    "MessageFacts",
    "UnreadableMessageError",
    "facts_from_message",
    "request_from_facts",
]

MAX_MESSAGE_BYTES: Final = 25 * 1024 * 1024
"""The largest file read: the common mailbox-provider message size limit (25 MB)."""
TEMPLATE_CHECK_RECIPIENT: Final = "template-check@example.invalid"
"""The recipient of a checked template: a send request needs one, and `.invalid` (RFC 2606 §2)
can never be a real mailbox, so a check cannot be mistaken for, or turned into, a send."""
TEMPLATE_CHECK_REQUEST_ID: Final = "template-check"

_MAX_SUBJECT_CHARS: Final = 998
_MAX_ADDRESS_CHARS: Final = 512
_FIELD_NAME = re.compile(r"[!-9;-~]{1,76}")
_OWN_FIELDS: Final = frozenset({"from", "reply-to", "subject"})
_LEFT_OUT_FIELDS: Final = frozenset(
    {
        # Added in transit (RFC 5321 §4.4, RFC 8601, RFC 7208 §9.1), not composed by the sender.
        "received",
        "return-path",
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "received-spf",
        "authentication-results",
        "dkim-signature",
        # MIME structure (RFC 2045), not content.
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        # The recipients: personal data, and the request names its own recipient.
        "to",
        "cc",
        "bcc",
    }
)
_BARE_URL = re.compile(r"(?:https?://|mailto:)[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?'\")]}>*"


class UnreadableMessageError(SendgateError):
    """The bytes are not a message the content rules can judge (empty, too big, no From)."""


class MessageFacts(BaseModel):
    """What the content rules judge about one message, as read from its file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    from_address: str
    """The From field, decoded (`"Example News" <news@news.example.com>`)."""
    reply_to: str | None = None
    subject: str = ""
    headers: dict[str, str]
    """Other fields the sender composed (see the module docstring for which), decoded."""
    body: MessageBody
    authentication: MailAuthentication | None = None
    warnings: tuple[str, ...] = ()
    """What was cut, left out or guessed while reading, one sentence each."""


def facts_from_message(raw: bytes) -> MessageFacts:
    """The facts in `raw` (an RFC 5322 message); `UnreadableMessageError` when it is none."""
    if not raw.strip():
        raise UnreadableMessageError("the file is empty")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise UnreadableMessageError(
            f"the file has {len(raw):,} bytes; a message is at most {MAX_MESSAGE_BYTES:,}"
        )
    # `policy.default` makes EmailMessage objects (get_body, decoded fields).
    message = cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default))
    warnings: list[str] = []
    from_address = _single_field(message, "From", warnings)
    if not from_address:
        raise UnreadableMessageError(
            "no From field: not an RFC 5322 message (section 3.6 requires From), or its header "
            "is not at the start of the file"
        )
    if not 3 <= len(from_address) <= _MAX_ADDRESS_CHARS:
        raise UnreadableMessageError(
            f"the From field has {len(from_address)} characters; a send request holds 3 to "
            f"{_MAX_ADDRESS_CHARS}"
        )
    reply_to = _single_field(message, "Reply-To", warnings) or None
    if reply_to is not None and not 3 <= len(reply_to) <= _MAX_ADDRESS_CHARS:
        warnings.append(f"Reply-To {reply_to[:40]!r} is not an address a request can hold: ignored")
        reply_to = None
    subject = _single_field(message, "Subject", warnings)
    if subject is None:
        warnings.append("the message has no Subject field")
    elif len(subject) > _MAX_SUBJECT_CHARS:
        warnings.append(f"Subject cut to {_MAX_SUBJECT_CHARS} of {len(subject)} characters")
        subject = subject[:_MAX_SUBJECT_CHARS]
    return MessageFacts(
        from_address=from_address,
        reply_to=reply_to,
        subject=subject or "",
        headers=_other_headers(message, warnings),
        body=_body(message, warnings),
        authentication=_authentication(message, from_address, warnings),
        warnings=tuple(warnings),
    )


def request_from_facts(
    facts: MessageFacts,
    *,
    account_id: str,
    classification: Classification,
    jurisdiction: str | None,
    send_kind: SendKind,
    list_id: str | None,
    recipient: str = TEMPLATE_CHECK_RECIPIENT,
    requested_at: datetime,
    dmarc_policy: DmarcPolicy | None = None,
) -> SendRequest:
    """The send request that would carry `facts`; pydantic's `ValidationError` when an argument
    breaks the record's rules (an unknown jurisdiction, an empty account id)."""
    authentication = facts.authentication
    if dmarc_policy is not None:
        known = authentication.model_dump() if authentication is not None else {}
        authentication = MailAuthentication.model_validate({**known, "dmarc_policy": dmarc_policy})
    return SendRequest(
        request_id=TEMPLATE_CHECK_REQUEST_ID,
        account_id=account_id,
        list_id=list_id,
        recipient=recipient,
        jurisdiction=jurisdiction,
        classification=classification,
        send_kind=send_kind,
        from_address=facts.from_address,
        subject=facts.subject,
        reply_to=facts.reply_to,
        headers=facts.headers,
        body=facts.body,
        authentication=authentication,
        requested_at=requested_at,
    )


# --- header fields --------------------------------------------------------------------------------


def _fields(message: Message, name: str) -> list[str]:
    """Every value of the field `name`, encoded-words decoded, each on one line.

    The stdlib's structured-field parser has crashed on hostile input before; a field it cannot
    parse is decoded as unstructured text instead.
    """
    try:
        values = [str(value) for value in message.get_all(name) or []]
    except Exception:
        wanted = name.lower()
        values = [_unstructured(raw) for key, raw in message.raw_items() if key.lower() == wanted]
    # `policy.default` unfolds; a bare CR or LF left inside is a broken fold.
    return [re.sub(r"[\r\n]+", "", _text(value)).strip() for value in values]


def _text(value: Any) -> str:
    """`value` as valid Unicode: the parser keeps undecodable header bytes as lone surrogates
    (surrogateescape), which no record accepts; they become U+FFFD."""
    text = str(value)
    if text.isascii() or not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _unstructured(raw: Any) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(str(raw))))
    except Exception:
        return str(raw)


def _single_field(message: Message, name: str, warnings: list[str]) -> str | None:
    values = _fields(message, name)
    if len(values) > 1:
        warnings.append(
            f"{name} occurs {len(values)} times (RFC 5322 allows one): the first is read"
        )
    return values[0] if values else None


def _other_headers(message: Message, warnings: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    seen: set[str] = set()
    dropped = 0
    for name in message:  # field names, in file order
        key = name.lower()
        if key in _OWN_FIELDS or key in _LEFT_OUT_FIELDS or key.startswith("arc-") or key in seen:
            continue
        seen.add(key)
        if not _FIELD_NAME.fullmatch(name):
            warnings.append(
                f"header field name {name[:80]!r} is not one a request can hold: left out"
            )
            continue
        if len(headers) == MAX_HEADERS:
            dropped += 1
            continue
        values = _fields(message, name)
        if len(values) > 1:
            warnings.append(f"{name} occurs {len(values)} times: the first is read")
        value = values[0] if values else ""
        if len(value) > MAX_HEADER_VALUE_CHARS:
            warnings.append(
                f"{name} cut to {MAX_HEADER_VALUE_CHARS:,} of {len(value):,} characters"
            )
            value = value[:MAX_HEADER_VALUE_CHARS]
        headers[name] = value
    if dropped:
        warnings.append(f"{dropped} header fields past the first {MAX_HEADERS} left out")
    return headers


# --- body -----------------------------------------------------------------------------------------


def _body(message: EmailMessage, warnings: list[str]) -> MessageBody:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    links: list[BodyLink] = []
    rendered = None
    if html is not None:
        rendered = render_html(_part_text(html, warnings))
        links.extend(rendered.links)
        if rendered.hidden_elements:
            warnings.append(
                f"{rendered.hidden_elements} HTML element(s) hidden from the reader (hidden, "
                "display:none or visibility:hidden): their text and links are not counted"
            )
    if plain is not None:
        text = _normalise_newlines(_part_text(plain, warnings)).strip()
    elif rendered is not None:
        text = rendered.text
    else:
        warnings.append("the message has no text/plain or text/html body: its text is empty")
        text = ""
    known = {link.url for link in links}
    for url in _bare_urls(text):
        if url not in known:
            known.add(url)
            links.append(BodyLink(url=url, text=url))
    if len(text) > MAX_BODY_TEXT_CHARS:
        warnings.append(
            f"body text cut to {MAX_BODY_TEXT_CHARS:,} of {len(text):,} characters: the rules "
            "do not see the rest"
        )
        text = text[:MAX_BODY_TEXT_CHARS]
    if len(links) > MAX_BODY_LINKS:
        warnings.append(
            f"{len(links) - MAX_BODY_LINKS} links past the first {MAX_BODY_LINKS} left out"
        )
        links = links[:MAX_BODY_LINKS]
    return MessageBody(text=text, links=tuple(links))


def _part_text(part: EmailMessage, warnings: list[str]) -> str:
    """The part's text, its transfer encoding undone, decoded by its declared charset.

    8-bit text that declares no charset (so US-ASCII, RFC 2045 §5.2) but is valid UTF-8 is read
    as UTF-8, as mail clients do; an unknown charset is read as UTF-8 with replacement characters.
    """
    kind = part.get_content_type()
    charset = part.get_content_charset()
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    if charset in (None, "us-ascii", "ascii") and not data.isascii():
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            warnings.append(f"the {kind} part has 8-bit text and no charset: read as UTF-8")
            return text
    try:
        return data.decode(charset or "us-ascii", "replace")
    except (LookupError, ValueError):  # ValueError: a charset name Python cannot even look up
        warnings.append(f"unknown charset {charset!r} in the {kind} part: read as UTF-8")
        return data.decode("utf-8", "replace")


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _bare_urls(text: str) -> list[str]:
    """`http(s):` and `mailto:` URLs in plain text, without the punctuation that ends a sentence
    (a closing parenthesis stays when the URL opened one)."""
    urls = []
    for match in _BARE_URL.finditer(text):
        url = match.group()
        while url and url[-1] in _URL_TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break
            url = url[:-1]
        if url.lower() not in ("http://", "https://", "mailto:") and len(url) <= MAX_URL_CHARS:
            urls.append(url)
    return urls


# --- authentication -------------------------------------------------------------------------------


def _authentication(
    message: Message, from_address: str, warnings: list[str]
) -> MailAuthentication | None:
    signatures = (
        _text(raw) for name, raw in message.raw_items() if name.lower() == "dkim-signature"
    )
    signature = reported_signature(signatures, from_address, warnings)
    spf_domain = _return_path_domain(message)
    if signature is None and spf_domain is None:
        return None
    dkim_domain, signed = (None, ()) if signature is None else signature
    return MailAuthentication(
        dkim_domain=dkim_domain, dkim_signed_headers=signed, spf_domain=spf_domain
    )


def _return_path_domain(message: Message) -> str | None:
    """The domain of the first `Return-Path` (RFC 5321 §4.4): SPF's MAIL FROM identity."""
    for name, raw in message.raw_items():
        if name.lower() == "return-path":
            address = parseaddr(" ".join(_text(raw).split()))[1]
            domain = address.rpartition("@")[2].lower().rstrip(".") if "@" in address else ""
            return domain if 0 < len(domain) <= 255 else None  # `<>`: the null reverse-path
    return None
