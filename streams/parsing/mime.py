"""Read RFC 5322 / MIME (RFC 2045-2049) messages defensively: bounded size, depth, text and time.

Inbound mail is hostile or broken often enough that every step here is capped and total:

* Only the first `MAX_MESSAGE_BYTES` are parsed. Reports put their machine-readable parts first
  and the returned original last, so the head is what matters (`Loaded.truncated` says it).
* The stdlib parser checks every line against the delimiter of every multipart level it is
  inside, so its time grows with lines times depth: hostile nesting of a megabyte of short
  lines takes seconds. The declared boundaries are counted before it runs: more levels than
  `MAX_DEPTH` are refused at once, and a deep message of very many lines is read only as far
  as `LINE_LEVELS` lines times levels go (ordinary mail never comes near it).
* The stdlib parser with the `compat32` policy: several times faster than `email.policy.default`
  and it never raises on bad headers (it records defects instead).
* Parts are walked iteratively; more than `MAX_DEPTH` levels or `MAX_PARTS` parts is refused.
* Text is decoded from at most `TEXT_LIMIT` bytes per part, with the declared charset when
  Python knows it and Latin-1 otherwise (every byte decodes), never raising on bad bytes.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.header
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import Message
from typing import Final

__all__ = [
    "LINE_LEVELS",
    "MAX_DEPTH",
    "MAX_MESSAGE_BYTES",
    "MAX_PARTS",
    "TEXT_LIMIT",
    "Loaded",
    "ParseFailure",
    "field_blocks",
    "header",
    "headers_of_text",
    "headers_text",
    "load",
    "parse_fields",
    "payload",
    "text_of",
    "walk",
]

MAX_MESSAGE_BYTES: Final = 1 << 20
MAX_DEPTH: Final = 40
MAX_PARTS: Final = 400
LINE_LEVELS: Final = 1_000_000
"""Lines times multipart levels the stdlib parser may face: about 0.3 s on one core here; a
report of a megabyte in lines of 76 characters has some 14,000 lines."""
TEXT_LIMIT: Final = 64 * 1024
_MAX_FIELD_LINES = 400


class ParseFailure(Exception):
    """The message cannot be read; `reason` is one of `model.OtherReason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Loaded:
    """A parsed message and whether only its head was parsed."""

    message: Message
    truncated: bool


def load(raw: bytes) -> Loaded:
    """Parse raw bytes into a `Message`; `ParseFailure("empty")` when there is nothing to read."""
    if not raw or not raw.strip():
        raise ParseFailure("empty")
    # Blank lines before the header (some mail stores and copy-pastes prepend them) would make
    # the parser read an empty header and take the whole message for its body.
    raw = raw.lstrip(b" \t\r\n")
    truncated = len(raw) > MAX_MESSAGE_BYTES
    if truncated:
        cut = raw.rfind(b"\n", 0, MAX_MESSAGE_BYTES)
        raw = raw[: cut + 1 if cut > 0 else MAX_MESSAGE_BYTES]
    depth, end = _nesting(raw)
    if depth > MAX_DEPTH:
        raise ParseFailure("too-deeply-nested")
    if end < len(raw):  # more multipart parts than the walk reads
        raw, truncated = raw[:end], True
    if depth > 1 and raw.count(b"\n") * depth > LINE_LEVELS:
        cut = _nth_line_end(raw, LINE_LEVELS // depth)
        raw, truncated = raw[:cut], True
    try:
        message = email.message_from_bytes(raw, policy=policy.compat32)
    except (RecursionError, MemoryError, ValueError, LookupError, TypeError) as error:
        raise ParseFailure("unparseable") from error
    if not message.keys():
        raise ParseFailure("empty")
    return Loaded(message, truncated)


_BOUNDARY_PARAMETER: Final = re.compile(
    rb'boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.IGNORECASE
)


def _nesting(raw: bytes) -> tuple[int, int]:
    """How deep the declared multipart boundaries nest, and where the parse should end.

    A boundary is taken to be open from its declaration to its closing delimiter (`--b--`, or
    the end when there is none), so an unclosed multipart counts as enclosing what follows, as
    the stdlib parser reads it. Beyond `MAX_PARTS` declarations the rest is left unread.
    """
    closes: list[int] = []  # where each enclosing boundary closes, innermost last
    deepest = 0
    for count, match in enumerate(_BOUNDARY_PARAMETER.finditer(raw)):
        if count >= MAX_PARTS:
            return deepest, match.start()
        start = match.start()
        while closes and closes[-1] <= start:
            closes.pop()
        boundary = match.group(1) or match.group(2)
        limit = closes[-1] if closes else len(raw)
        close = raw.find(b"--" + boundary + b"--", match.end(), limit)
        closes.append(limit if close < 0 else close)
        deepest = max(deepest, len(closes))
    return deepest, len(raw)


def _nth_line_end(raw: bytes, lines: int) -> int:
    at = -1
    for _ in range(lines):
        at = raw.find(b"\n", at + 1)
        if at < 0:
            return len(raw)
    return at + 1


def payload(part: Message) -> object:
    """`part.get_payload()`, or None when even that fails (compat32 decodes a leaf's 8-bit text
    with its declared charset, and some codecs raise despite errors="replace")."""
    try:
        return part.get_payload()
    except Exception:
        return None


def walk(message: Message) -> Iterator[tuple[Message, int, bool]]:
    """Every part depth-first as `(part, depth, attached)`; `attached` is true inside a
    message/* part (a returned or reported message, not the report itself).

    Raises `ParseFailure("too-deeply-nested")` beyond `MAX_DEPTH`; stops after `MAX_PARTS`.
    """
    stack: list[tuple[Message, int, bool]] = [(message, 0, False)]
    count = 0
    while stack:
        part, depth, attached = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise ParseFailure("too-deeply-nested")
        if count > MAX_PARTS:
            return
        yield part, depth, attached
        content = payload(part)
        if isinstance(content, list):
            inside = attached or part.get_content_maintype() == "message"
            children = [child for child in content if isinstance(child, Message)]
            stack.extend((child, depth + 1, inside) for child in reversed(children))


def header(message: Message, name: str) -> str:
    """A header's value as text (RFC 2047 words decoded), '' when absent or unreadable."""
    try:
        value = message.get(name)
    except Exception:  # a broken header must not stop the parse
        return ""
    return _header_str(value)


def _header_str(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        try:
            return str(value)
        except Exception:
            return ""
    text = str(value)
    if "=?" in text:
        try:
            return str(email.header.make_header(email.header.decode_header(text)))
        except Exception:
            return text
    return text


def headers_text(message: Message) -> list[tuple[str, str]]:
    """All header fields of `message` as `(name, text)` pairs."""
    try:
        return [(name, _header_str(value)) for name, value in message.items()]
    except Exception:
        return []


def headers_of_text(text: str) -> Message | None:
    """A header block pasted as text (a text/rfc822-headers body) parsed as a `Message`."""
    if not text:
        return None
    try:
        return email.message_from_string(text, policy=policy.compat32)
    except Exception:
        return None


def text_of(part: Message, limit: int = TEXT_LIMIT) -> str:
    """The decoded text of a leaf part, at most about `limit` characters; '' if not text."""
    try:
        payload = part.get_payload()
        if not isinstance(payload, str):
            return ""
        encoding = header(part, "Content-Transfer-Encoding").strip().lower()
        if encoding == "base64":
            chunk = _payload_bytes(payload[: limit * 2])
            data = _decode_transfer(chunk, encoding)
        else:
            # compat32 undoes quoted-printable and keeps 8-bit bytes as they arrived.
            decoded = part.get_payload(decode=True)
            data = decoded if isinstance(decoded, bytes) else b""
        return _decode_charset(data[:limit], part.get_content_charset(None))
    except Exception:  # whatever the part holds, reading it must not stop the parse
        return ""


def _payload_bytes(text: str) -> bytes:
    """A payload's text back to bytes. compat32 holds 8-bit bytes as surrogate escapes, but a
    payload can also hold real non-ASCII characters (an RFC 2047 word decoded into a sub-part's
    body, a forwarded report) and stray surrogates; none of them may stop the parse."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _decode_transfer(data: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        # Drop anything that is not base64 so that a damaged line does not void the rest.
        cleaned = bytes(byte for byte in data if byte in _BASE64_ALPHABET)
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4]
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return data
    if encoding == "quoted-printable":
        try:
            return quopri.decodestring(data)
        except (binascii.Error, ValueError):
            return data
    return data


_BASE64_ALPHABET: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
)


def _decode_charset(data: bytes, charset: str | None) -> str:
    """Bytes to text: the declared charset if Python knows it, else UTF-8, else Latin-1."""
    if charset:
        try:
            codecs.lookup(charset)
            text = data.decode(charset, errors="replace")
        except (LookupError, ValueError, TypeError):
            pass
        else:
            # UTF-7 and the escape codecs can decode to lone surrogates, which no record holds.
            return text.encode("utf-8", "replace").decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def parse_fields(text: str) -> list[list[tuple[str, str]]]:
    """Split `Name: value` lines (with folded continuations) into blank-line-separated blocks.

    This is the RFC 3464 section 2.1 / RFC 5965 section 3.1 shape of a delivery-status or
    feedback-report body, read leniently: lines that are neither fields nor continuations are
    skipped instead of ending the block.
    """
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for count, line in enumerate(text.splitlines()):
        if count >= _MAX_FIELD_LINES:
            break
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        if line[0] in " \t":
            if current:
                name, value = current[-1]
                current[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if colon and name and len(name) < 60 and " " not in name.strip():
            current.append((name.strip(), value.strip()))
    if current:
        blocks.append(current)
    return blocks


def field_blocks(part: Message) -> list[list[tuple[str, str]]]:
    """The field blocks of a message/delivery-status or message/feedback-report part.

    compat32 parses such a body into sub-messages (one per block) whose "headers" are the
    fields; a base64- or QP-encoded body (seen in the wild) arrives as one sub-message whose body
    is the encoded text, so it is decoded and split here.
    """
    encoding = header(part, "Content-Transfer-Encoding").strip().lower()
    content = payload(part)
    if isinstance(content, str):
        return parse_fields(text_of(part))
    if not isinstance(content, list):
        return []
    blocks: list[list[tuple[str, str]]] = []
    for sub in content:
        if not isinstance(sub, Message):
            continue
        fields = headers_text(sub)
        body = payload(sub)
        if fields:
            blocks.append(fields)
        if isinstance(body, str) and body.strip():
            data = _decode_transfer(_payload_bytes(body[:TEXT_LIMIT]), encoding)
            blocks.extend(parse_fields(_decode_charset(data, None)))
    return blocks
