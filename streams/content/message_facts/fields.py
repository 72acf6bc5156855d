"""Read a message's header fields as the content rules' facts: From, Reply-To and Subject on their
own, the other fields the sender composed, and the authentication facts the file carries.

Fields are decoded by the standard library (`email.policy.default`: RFC 2047 encoded-words as
text, folded fields as one line). Left out of `headers`: the trace fields added in transit, the
MIME structure fields and the recipients (see `streams.content.message_facts`). The
authentication facts are read, not verified: `d=` and `h=` of the DKIM signature aligned with
From (`streams.content.dkim`), and the `Return-Path` domain as SPF's identity.
"""

from __future__ import annotations

import email.header
import re
from email.message import Message
from email.utils import parseaddr
from typing import Any, Final

from streams.content.dkim import reported_signature
from streams.core.records import MAX_HEADER_VALUE_CHARS, MAX_HEADERS, MailAuthentication

__all__ = ["authentication_facts", "other_headers", "single_field"]

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


def single_field(message: Message, name: str, warnings: list[str]) -> str | None:
    values = _fields(message, name)
    if len(values) > 1:
        warnings.append(
            f"{name} occurs {len(values)} times (RFC 5322 allows one): the first is read"
        )
    return values[0] if values else None


def other_headers(message: Message, warnings: list[str]) -> dict[str, str]:
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


def authentication_facts(
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
