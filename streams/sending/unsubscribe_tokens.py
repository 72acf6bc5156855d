"""Signed unsubscribe tokens: what a one-click link carries, and nothing a stranger could forge.

A token says who is unsubscribing from what: the recipient key (never the address), the account,
the list (if the message named one), the send request it came with, when it was issued and, where
the consent the message was sent under names one, its cadence. It is signed with HMAC-SHA-256
under a platform key, so an altered, truncated or made-up token is refused, and it names its key,
so keys rotate: a new key signs new tokens while old keys, kept in the key file
(`streams.sending.signing_keys` format, `<data_dir>/unsubscribe-keys`), still verify the links in
mail already sent. A token is valid for the policy's `token_valid_days` (CAN-SPAM, 15 U.S.C.
§7704(a)(3)(A)(ii): the mechanism must work for at least 30 days after the message; the default
is longer, since people unsubscribe from old mail too).

Two purposes: a `message` token rides in the `List-Unsubscribe` header of a message the gate
allowed; a `confirmation` token is mailed by the unsubscribe service to an address someone typed
on the page of a bad or expired link (`streams.edges.web.app`). A confirmation may name no account
(the typed-in address came with a forged link, so only the platform-wide choice is known to apply).

Layouts (then base64url without padding, about 120 characters for ordinary ids):

    version 1:  1 | key id (1) | issued at, Unix seconds (4) | recipient key (32)
                | account, list, request id: each a 2-byte length and UTF-8 (an empty list: none)
                | tag
    version 2:  2 | key id (1) | purpose (1): 0 message, 1 confirmation | issued at (4)
                | recipient key (32)
                | account, list, request id, cadence: each a 2-byte length and UTF-8
                  (empty: none; only a confirmation may have no account)
                | tag

    tag: the first 16 bytes of HMAC-SHA-256(key, context | everything before it)

`issue` writes version 1 whenever version 2 adds nothing (a message token without a cadence), so
those links are byte for byte what they were; every version 1 token ever issued still verifies.
The version byte is under the tag, so one version cannot be read as the other.

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

from streams.core.clock import utc
from streams.core.errors import SendgateError

__all__ = [
    "TAG_BYTES",
    "BadTokenError",
    "ExpiredTokenError",
    "TokenProblem",
    "TokenPurpose",
    "UnsubscribeToken",
    "UnsubscribeTokens",
]

TAG_BYTES = 16
_CONTEXT = b"sendgate/unsubscribe/v1\x00"
_HEAD_V1 = struct.Struct(">BBI32s")
_HEAD_V2 = struct.Struct(">BBBI32s")
_LENGTH = struct.Struct(">H")
_MAX_FIELD_BYTES = 800
_MIN_SECRET_BYTES = 16
_FUTURE_TOLERANCE = timedelta(minutes=5)

TokenProblem = Literal["malformed", "unknown-key", "bad-tag", "from-the-future"]
TokenPurpose = Literal["message", "confirmation"]
_PURPOSE_CODES: dict[TokenPurpose, int] = {"message": 0, "confirmation": 1}
_PURPOSES: dict[int, TokenPurpose] = {code: name for name, code in _PURPOSE_CODES.items()}


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
    account_id: str | None
    """None only in a confirmation for an address typed on a forged link's page."""
    list_id: str | None
    request_id: str
    issued_at: datetime
    key_id: int
    cadence: str | None = None
    """The cadence of the consent the message was sent under, if it names one."""
    purpose: TokenPurpose = "message"


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
        account_id: str | None,
        list_id: str | None,
        request_id: str,
        issued_at: datetime,
        cadence: str | None = None,
        purpose: TokenPurpose = "message",
    ) -> str:
        key = bytes.fromhex(recipient_key)
        if len(key) != 32:
            raise ValueError("a recipient key is 32 bytes (64 hex characters)")
        if account_id is None and purpose != "confirmation":
            raise ValueError("only a confirmation token may name no account")
        if "" in (account_id, list_id, cadence) or not request_id:
            raise ValueError("an id in an unsubscribe token is None or not empty")
        seconds = int(utc(issued_at).timestamp())
        texts = [account_id or "", list_id or "", request_id]
        if cadence is None and purpose == "message":
            body = _HEAD_V1.pack(1, self._current, seconds, key)
        else:
            body = _HEAD_V2.pack(2, self._current, _PURPOSE_CODES[purpose], seconds, key)
            texts.append(cadence or "")
        for text in texts:
            data = text.encode("utf-8")
            if len(data) > _MAX_FIELD_BYTES:
                raise ValueError("an id in an unsubscribe token is at most 800 bytes")
            body += _LENGTH.pack(len(data)) + data
        token = body + self._tag(self._current, body)
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")

    def verify(self, token: str, *, now: datetime) -> UnsubscribeToken:
        """What a token says; `BadTokenError` (400) or `ExpiredTokenError` (410) otherwise."""
        raw = _decode(token)
        if len(raw) < _HEAD_V1.size + 3 * _LENGTH.size + TAG_BYTES:
            raise BadTokenError("malformed", "too short")
        body, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
        version = body[0]
        if version == 1:
            _, key_id, seconds, key = _HEAD_V1.unpack_from(body)
            purpose_code, head, count = 0, _HEAD_V1.size, 3
        elif version == 2:
            if len(body) < _HEAD_V2.size + 4 * _LENGTH.size:
                raise BadTokenError("malformed", "too short")
            _, key_id, purpose_code, seconds, key = _HEAD_V2.unpack_from(body)
            head, count = _HEAD_V2.size, 4
        else:
            raise BadTokenError("malformed", f"unknown version {version}")
        if key_id not in self._keys:
            raise BadTokenError("unknown-key", f"key id {key_id} is not (or no longer) kept")
        if not hmac.compare_digest(tag, self._tag(key_id, body)):
            raise BadTokenError("bad-tag", "the signature does not match")
        # Signed by us from here on: what follows guards against our own bugs, not forgers.
        fields = _fields(body, head, count)
        purpose = _PURPOSES.get(purpose_code)
        if purpose is None or not fields[2] or (not fields[0] and purpose != "confirmation"):
            raise BadTokenError("malformed", "unexpected layout")
        issued_at = datetime.fromtimestamp(seconds, tz=UTC)
        now = utc(now)
        if issued_at > now + _FUTURE_TOLERANCE:
            raise BadTokenError("from-the-future", "issued after now")
        parsed = UnsubscribeToken(
            recipient_key=key.hex(),
            account_id=fields[0] or None,
            list_id=fields[1] or None,
            request_id=fields[2],
            issued_at=issued_at,
            key_id=key_id,
            cadence=(fields[3] or None) if count == 4 else None,
            purpose=purpose,
        )
        if now > issued_at + self._valid_for:
            raise ExpiredTokenError(parsed, issued_at + self._valid_for)
        return parsed

    def _tag(self, key_id: int, body: bytes) -> bytes:
        return hmac.new(self._keys[key_id], _CONTEXT + body, hashlib.sha256).digest()[:TAG_BYTES]


def _fields(body: bytes, offset: int, count: int) -> list[str]:
    """`count` length-prefixed UTF-8 fields from `offset` to the end of `body`, exactly."""
    fields = []
    for _ in range(count):
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
    if offset != len(body):
        raise BadTokenError("malformed", "unexpected layout")
    return fields


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
