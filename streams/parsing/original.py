"""Recover the identity of the message we sent from a report about it.

Bounces and feedback reports usually carry the original message (message/rfc822, RFC 3464
section 2 / RFC 5965 section 2 item c) or its header (text/rfc822-headers, RFC 6522 section 4);
free-form bounces paste it below a marker line. Our sent mail carries `X-Sendgate-Request-Id`,
`X-Sendgate-Account` and (for list mail) `X-Sendgate-List-Id`, so whichever of these copies
survives names the send request, the account and the list. The VERP token comes from the
envelope recipient of the bounce (`b-<token>@<domain>`); it is passed through unverified, another
module checks its signature.
"""

from __future__ import annotations

from email.message import Message
from typing import Final

from streams.parsing.mime import header, headers_of_text, text_of
from streams.parsing.model import OriginalMessage

__all__ = [
    "ACCOUNT_HEADER",
    "LIST_ID_HEADER",
    "REQUEST_ID_HEADER",
    "header_blocks",
    "recover_original",
    "verp_token",
]

REQUEST_ID_HEADER: Final = "X-Sendgate-Request-Id"
ACCOUNT_HEADER: Final = "X-Sendgate-Account"
LIST_ID_HEADER: Final = "X-Sendgate-List-Id"
_VERP_PREFIX = "b-"
_MAX_ID_CHARS = 200
_WANTED = {
    "message-id": "message_id",
    REQUEST_ID_HEADER.lower(): "request_id",
    ACCOUNT_HEADER.lower(): "account_id",
    LIST_ID_HEADER.lower(): "list_id",
}


def verp_token(envelope_rcpt: str | None) -> str | None:
    """The token of a `b-<token>@domain` envelope recipient; None for any other address."""
    if not envelope_rcpt:
        return None
    address = envelope_rcpt.strip().strip("<>")
    local, at, _ = address.rpartition("@")
    if not at or not local.lower().startswith(_VERP_PREFIX):
        return None
    token = local[len(_VERP_PREFIX) :]
    return token or None


def recover_original(
    parts: list[Message], report_text: str, envelope_rcpt: str | None
) -> OriginalMessage:
    """Message-ID, request id and account of the original, from its copy or from pasted text.

    `parts` are the message/rfc822 and text/rfc822-headers parts of the report, in order;
    `report_text` is the human-readable text of a free-form bounce (which may paste the header).
    """
    found: dict[str, str] = {}
    for part in parts:
        for source in header_blocks(part):
            for name, key in _WANTED.items():
                if key not in found:
                    value = _clean_id(header(source, name))
                    if value:
                        found[key] = value
        if len(found) == len(_WANTED):
            break
    if len(found) < len(_WANTED) and report_text:
        _scan_pasted(report_text, found)
    return OriginalMessage(**found, verp_token=verp_token(envelope_rcpt))


def header_blocks(part: Message) -> list[Message]:
    """The header block(s) a part carries: the embedded message, or parsed rfc822-headers.

    An embedded message sent base64- or quoted-printable-encoded (RFC 2046 section 5.2.1 forbids
    it, some feedback loops do it) parses as one header-less child whose body is the encoded
    message, so that body is decoded and read again.
    """
    content_type = part.get_content_type()
    payload = part.get_payload()
    if content_type == "message/rfc822" or isinstance(payload, list):
        children = (
            [child for child in payload if isinstance(child, Message)]
            if isinstance(payload, list)
            else []
        )
        encoding = header(part, "Content-Transfer-Encoding").strip().lower()
        if encoding in ("base64", "quoted-printable") and children and not children[0].keys():
            decoded = headers_of_text(text_of(_encoded_body(children[0], encoding)))
            return [decoded] if decoded is not None else []
        return children
    parsed = headers_of_text(text_of(part))
    return [parsed] if parsed is not None else []


def _encoded_body(child: Message, encoding: str) -> Message:
    """`child`'s body under the enclosing part's transfer encoding, which `text_of` reads from
    the part it decodes and the header-less child does not carry."""
    carrier = Message()
    carrier["Content-Transfer-Encoding"] = encoding
    body = child.get_payload()
    carrier.set_payload(body if isinstance(body, str) else "")
    return carrier


def _scan_pasted(text: str, found: dict[str, str]) -> None:
    """Fill `found` from header lines pasted into text (`Message-ID: <...>`, also `>`-quoted)."""
    for line in text.splitlines():
        stripped = line.lstrip(" >\t")
        name, colon, value = stripped.partition(":")
        if not colon:
            continue
        key = _WANTED.get(name.strip().lower())
        if key and key not in found:
            cleaned = _clean_id(value)
            if cleaned:
                found[key] = cleaned


def _clean_id(value: str) -> str | None:
    text = " ".join(value.split())
    if not text:
        return None
    return text[:_MAX_ID_CHARS]
