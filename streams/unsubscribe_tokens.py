"""Signed unsubscribe tokens: what a one-click link carries, and nothing a stranger could forge.

A token says who is unsubscribing from what: the recipient key (never the address), the account,
the list (if the message named one), the send request it came with, and when it was issued. It
is signed with HMAC-SHA-256 under a platform key, so an altered, truncated or made-up token is
refused, and it names its key, so keys rotate: a new key signs new tokens while old keys, kept in
the key file (`streams.verp_keys` format, `<data_dir>/unsubscribe-keys`), still verify the links
in mail already sent. A token is valid for the policy's `token_valid_days` (CAN-SPAM, 15 U.S.C.
§7704(a)(3)(A)(ii): the mechanism must work for at least 30 days after the message; the default
is longer, since people unsubscribe from old mail too).

Layout (then base64url without padding, about 120 characters for ordinary ids):

    version (1) | key id (1) | issued at, Unix seconds (4) | recipient key (32)
    | account, list, request id: each a 2-byte length and UTF-8 (an empty list: none)
    | tag: the first 16 bytes of HMAC-SHA-256(key, context | everything before it)

128 bits of tag: these links sit in mailboxes for years and anyone may try to forge one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from streams.clock import utc
from streams.errors import SendgateError

__all__ = [
    "TAG_BYTES",
    "BadTokenError",
    "ExpiredTokenError",
    "TokenProblem",
    "UnsubscribeToken",
    "UnsubscribeTokens",
]

VERSION = 1
TAG_BYTES = 16
_CONTEXT = b"sendgate/unsubscribe/v1\x00"
_HEAD = struct.Struct(">BBI32s")
_LENGTH = struct.Struct(">H")
_MAX_FIELD_BYTES = 800
_MIN_SECRET_BYTES = 16
_FUTURE_TOLERANCE = timedelta(minutes=5)

TokenProblem = Literal["malformed", "unknown-key", "bad-tag", "from-the-future"]


class BadTokenError(SendgateError):
    """Not a token we issued (HTTP 400): forged, altered, truncated or unreadable."""

    def __init__(self, problem: TokenProblem, detail: str) -> None:
        super().__init__(f"not a valid unsubscribe token ({problem}): {detail}")
        self.problem = problem


class ExpiredTokenError(SendgateError):
    """A token we issued, older than its validity (HTTP 410). The token is still told apart from
    a forgery, so the page can say what happened."""

    def __init__(self, token: UnsubscribeToken, expired_at: datetime) -> None:
        super().__init__(f"the unsubscribe link expired on {expired_at:%Y-%m-%d}")
        self.token = token
        self.expired_at = expired_at


@dataclass(frozen=True, slots=True)
class UnsubscribeToken:
    recipient_key: str
    account_id: str
    list_id: str | None
    request_id: str
    issued_at: datetime
    key_id: int


class UnsubscribeTokens:
    """Issues and verifies tokens under a set of keys (the first one issues)."""

    def __init__(
        self, keys: Mapping[int, bytes], current_key_id: int, *, valid_for: timedelta
    ) -> None:
        if current_key_id not in keys:
            raise ValueError(f"the current key id {current_key_id} has no key")
        for key_id, secret in keys.items():
            if not 0 <= key_id <= 255:
                raise ValueError(f"key id {key_id} is not in 0-255 (it takes one byte)")
            if len(secret) < _MIN_SECRET_BYTES:
                raise ValueError(f"key {key_id} is shorter than {_MIN_SECRET_BYTES} bytes")
        if valid_for < timedelta(days=30):
            raise ValueError("unsubscribe links must work for at least 30 days (CAN-SPAM)")
        self._keys = dict(keys)
        self._current = current_key_id
        self._valid_for = valid_for

    def issue(
        self,
        *,
        recipient_key: str,
        account_id: str,
        list_id: str | None,
        request_id: str,
        issued_at: datetime,
    ) -> str:
        key = bytes.fromhex(recipient_key)
        if len(key) != 32:
            raise ValueError("a recipient key is 32 bytes (64 hex characters)")
        seconds = int(utc(issued_at).timestamp())
        body = _HEAD.pack(VERSION, self._current, seconds, key)
        for text in (account_id, list_id or "", request_id):
            data = text.encode("utf-8")
            if len(data) > _MAX_FIELD_BYTES:
                raise ValueError("an id in an unsubscribe token is at most 800 bytes")
            body += _LENGTH.pack(len(data)) + data
        token = body + self._tag(self._current, body)
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")

    def verify(self, token: str, *, now: datetime) -> UnsubscribeToken:
        """What a token says; `BadTokenError` (400) or `ExpiredTokenError` (410) otherwise."""
        raw = _decode(token)
        if len(raw) < _HEAD.size + 3 * _LENGTH.size + TAG_BYTES:
            raise BadTokenError("malformed", "too short")
        body, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        version, key_id, seconds, key = _HEAD.unpack_from(body)
        if version != VERSION:
            raise BadTokenError("malformed", f"unknown version {version}")
        if key_id not in self._keys:
            raise BadTokenError("unknown-key", f"key id {key_id} is not (or no longer) kept")
        if not hmac.compare_digest(tag, self._tag(key_id, body)):
            raise BadTokenError("bad-tag", "the signature does not match")
        fields, offset = [], _HEAD.size
        for _ in range(3):
            if offset + _LENGTH.size > len(body):
                raise BadTokenError("malformed", "fields cut short")
            (length,) = _LENGTH.unpack_from(body, offset)
            offset += _LENGTH.size
            if offset + length > len(body):
                raise BadTokenError("malformed", "fields cut short")
            try:
                fields.append(body[offset : offset + length].decode("utf-8"))
            except UnicodeDecodeError:
                raise BadTokenError("malformed", "a field is not UTF-8") from None
            offset += length
        if offset != len(body) or not fields[0] or not fields[2]:
            raise BadTokenError("malformed", "unexpected layout")
        issued_at = datetime.fromtimestamp(seconds, tz=UTC)
        now = utc(now)
        if issued_at > now + _FUTURE_TOLERANCE:
            raise BadTokenError("from-the-future", "issued after now")
        parsed = UnsubscribeToken(
            recipient_key=key.hex(),
            account_id=fields[0],
            list_id=fields[1] or None,
            request_id=fields[2],
            issued_at=issued_at,
            key_id=key_id,
        )
        if now > issued_at + self._valid_for:
            raise ExpiredTokenError(parsed, issued_at + self._valid_for)
        return parsed

    def _tag(self, key_id: int, body: bytes) -> bytes:
        return hmac.new(self._keys[key_id], _CONTEXT + body, hashlib.sha256).digest()[:TAG_BYTES]


def _decode(token: str) -> bytes:
    """The bytes of a token; only the canonical unpadded base64url spelling is accepted."""
    text = token.strip()
    if not text or len(text) > 4096 or not text.isascii():
        raise BadTokenError("malformed", "empty, too long or not ASCII")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadTokenError("malformed", "not base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        raise BadTokenError("malformed", "not in canonical base64url")
    return raw
