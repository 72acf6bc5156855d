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
import email.policy
from datetime import datetime
from email.message import EmailMessage
from typing import Final, cast

from pydantic import BaseModel, ConfigDict

from streams.content.message_facts.fields import (
    authentication_facts,
    other_headers,
    single_field,
)
from streams.content.message_facts.parts import message_body
from streams.core.errors import SendgateError
from streams.core.records import (
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
    from_address = single_field(message, "From", warnings)
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
    reply_to = single_field(message, "Reply-To", warnings) or None
    if reply_to is not None and not 3 <= len(reply_to) <= _MAX_ADDRESS_CHARS:
        warnings.append(f"Reply-To {reply_to[:40]!r} is not an address a request can hold: ignored")
        reply_to = None
    subject = single_field(message, "Subject", warnings)
    if subject is None:
        warnings.append("the message has no Subject field")
    elif len(subject) > _MAX_SUBJECT_CHARS:
        warnings.append(f"Subject cut to {_MAX_SUBJECT_CHARS} of {len(subject)} characters")
        subject = subject[:_MAX_SUBJECT_CHARS]
    return MessageFacts(
        from_address=from_address,
        reply_to=reply_to,
        subject=subject or "",
        headers=other_headers(message, warnings),
        body=message_body(message, warnings),
        authentication=authentication_facts(message, from_address, warnings),
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
