"""`parse_message`: one inbound message (raw bytes) to one `ParsedMessage`, never raising.

The order of the checks is the policy, top to bottom; the first that applies decides the kind:

1. unreadable (empty, unparseable, too deeply nested)           -> other, with that reason
2. an RFC 5965 message/feedback-report part                      -> arf
3. an RFC 3464 message/delivery-status part                      -> dsn (free-form reading of
                                                                   the text if its fields name
                                                                   no recipient)
4. an ISP feedback format that is not RFC 5965 (see `arf`)       -> arf
5. a free-form bounce (sender, subject or text say so)           -> dsn
6. an automatic reply or challenge (RFC 3834)                    -> autoreply
7. a human reply                                                 -> other, reason "reply"
                                                                   (`reply.unsubscribe_requested`)
8. anything else                                                 -> other, reason "not-a-report"

Bounce checks come before auto-reply checks because Exim marks its bounces
`Auto-Submitted: auto-replied`. Nothing here logs message content or addresses.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from email.message import Message
from typing import Final

from streams.parsing import arf, dsn, freeform, replies
from streams.parsing.mime import TEXT_LIMIT, ParseFailure, load, text_of, walk
from streams.parsing.model import OriginalMessage, ParsedMessage, RecipientOutcome
from streams.parsing.original import recover_original, verp_token
from streams.parsing.replies import DEFAULT_UNSUBSCRIBE_KEYWORDS

__all__ = ["parse_message"]

_log = logging.getLogger(__name__)

_ORIGINAL_TYPES: Final = frozenset(
    {
        "message/rfc822",
        "message/global",
        "text/rfc822-headers",
        "message/rfc822-headers",
        "message/global-headers",
    }
)


def parse_message(
    raw: bytes,
    *,
    envelope_rcpt: str | None = None,
    keywords: Mapping[str, Sequence[str]] = DEFAULT_UNSUBSCRIBE_KEYWORDS,
) -> ParsedMessage:
    """Classify one message and extract what the gate needs; never raises on any input.

    `envelope_rcpt` is the SMTP RCPT TO the message arrived for (a VERP address
    `b-<token>@<bounce domain>` yields `original.verp_token`); `keywords` are the unsubscribe
    phrases per language for replies (see `replies`).
    """
    try:
        return _parse(raw, envelope_rcpt, keywords)
    except ParseFailure as failure:
        return _other(failure.reason, envelope_rcpt)
    except (RecursionError, MemoryError) as error:
        _log.warning("message too complex to parse: %s", type(error).__name__)
        return _other("unparseable", envelope_rcpt)
    except Exception as error:  # the contract: never crash on input
        _log.warning("parser error on a message: %s", type(error).__name__)
        return _other("unparseable", envelope_rcpt)


def _other(reason: str, envelope_rcpt: str | None) -> ParsedMessage:
    original = OriginalMessage(verp_token=_safe_verp(envelope_rcpt))
    return ParsedMessage(kind="other", reason=reason, original=original)  # type: ignore[arg-type]


def _safe_verp(envelope_rcpt: str | None) -> str | None:
    try:
        return verp_token(envelope_rcpt)
    except Exception:
        return None


def _parse(
    raw: bytes, envelope_rcpt: str | None, keywords: Mapping[str, Sequence[str]]
) -> ParsedMessage:
    loaded = load(raw)
    message = loaded.message
    walked = list(walk(message))
    own = [part for part, _, attached in walked if not attached]
    originals = [part for part in own if part.get_content_type() in _ORIGINAL_TYPES]
    text = _report_text(own)
    original = recover_original(originals, text, envelope_rcpt)
    common = {"original": original, "truncated": loaded.truncated}

    if any(part.get_content_type() == "message/feedback-report" for part, _, _ in walked):
        feedback = arf.parse_feedback(message, [part for part, _, _ in walked], originals)
        if feedback is not None:
            return _arf(feedback, common)
    status_parts = [part for part in own if dsn.is_status_part(part)] or [
        part
        for part, _, _ in walked
        if dsn.is_status_part(part)  # a forwarded DSN
    ]
    if status_parts:
        recipients = dsn.parse_status_parts(status_parts, text)
        if not recipients:
            recipients = freeform.extract_recipients(message, text, raw)
        return ParsedMessage(kind="dsn", recipients=tuple(recipients), **common)
    feedback = arf.parse_feedback(message, own, originals)
    if feedback is not None:
        return _arf(feedback, common)
    if freeform.looks_like_bounce(message, text):
        recipients = freeform.extract_recipients(message, text, raw)
        return ParsedMessage(kind="dsn", recipients=tuple(recipients), **common)
    autoreply = replies.detect_autoreply(message, text)
    if autoreply is not None:
        return ParsedMessage(kind="autoreply", autoreply=autoreply, **common)
    reply = replies.detect_reply(message, text, keywords)
    if reply is not None:
        return ParsedMessage(kind="other", reason="reply", reply=reply, **common)
    return ParsedMessage(kind="other", reason="not-a-report", **common)


def _arf(feedback: arf.FeedbackParse, common: dict[str, object]) -> ParsedMessage:
    recipients = tuple(
        RecipientOutcome(address=address, action="complained") for address in feedback.recipients
    )
    return ParsedMessage(
        kind="arf",
        recipients=recipients,
        feedback=feedback.details,
        **common,  # type: ignore[arg-type]
    )


def _report_text(own: list[Message]) -> str:
    """The report's human-readable text: its own text/plain parts (else HTML), bounded."""
    chunks: list[str] = []
    size = 0
    for wanted in ("text/plain", "text/html"):
        for part in own:
            if part.get_content_type() != wanted:
                continue
            chunk = text_of(part)
            chunks.append(chunk)
            size += len(chunk)
            if size >= TEXT_LIMIT:
                break
        if chunks:
            break
    if not chunks:
        # A single-part message with a non-text type (or none): read its body as text anyway.
        chunks.append(text_of(own[0]) if own and not own[0].is_multipart() else "")
    return "\n".join(chunks)[:TEXT_LIMIT]
