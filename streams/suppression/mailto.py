"""Unsubscribes by mail: the `mailto:` half of `List-Unsubscribe` (RFC 2369, RFC 8058 §3.1).

The gate's header is `<mailto:unsubscribe-mail@<bounce domain>?subject=<token>>`
(`streams.sending.list_headers`): a local part has no room for a token, so the subject carries it,
and mail clients send the subject a mailto URI names (RFC 6068). The intake accepts the address;
here the mail becomes the same unsubscribe a one-click POST makes
(`streams.edges.web.app.click_for`, so the
two are one click id and a second one changes nothing), judged by the token alone: the From
address of a mail proves nothing.
"""

from __future__ import annotations

from datetime import datetime
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32

from streams.core.records import InboundMail, UnsubscribeClick
from streams.sending.list_headers import MAILTO_LOCAL_PART
from streams.sending.unsubscribe_tokens import BadTokenError, ExpiredTokenError, UnsubscribeTokens
from streams.suppression.unsubscribe import click_for

__all__ = ["is_mailto_unsubscribe", "mailto_unsubscribe"]

_SUBJECT_PREFIXES = ("re:", "fw:", "fwd:", "aw:", "wg:", "sv:")


def is_mailto_unsubscribe(mail: InboundMail, domain: str) -> bool:
    """Was the mail sent to the unsubscribe mailto address at `domain`?"""
    wanted = f"{MAILTO_LOCAL_PART}@{domain}".lower()
    return any(rcpt.strip().strip("<>").lower() == wanted for rcpt in mail.rcpt_to)


def _subject(raw: bytes) -> str:
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:65536])
    value = headers.get("Subject", "") or ""
    try:
        text = str(make_header(decode_header(value)))
    except (UnicodeDecodeError, LookupError, ValueError):
        text = str(value)
    text = " ".join(text.split())
    while text.lower().startswith(_SUBJECT_PREFIXES):
        text = text.split(":", 1)[1].strip()
    return text


def mailto_unsubscribe(
    mail: InboundMail, tokens: UnsubscribeTokens, *, now: datetime
) -> UnsubscribeClick | str:
    """The unsubscribe the mail asks for, or why it cannot be honoured (a dead-letter reason)."""
    subject = _subject(mail.raw)
    if not subject:
        return "a mail to the unsubscribe address with no token in its subject"
    try:
        token = tokens.verify(subject.split()[-1], now=now)
    except ExpiredTokenError:
        return "a mail to the unsubscribe address with an expired token"
    except BadTokenError as exc:
        return f"a mail to the unsubscribe address with an invalid token ({exc.problem})"
    click = click_for(token, "list", mail.received_at)
    return click.model_copy(update={"method": "reply"})
