"""VERP return paths (RFC 5321 §4.5.3.1.1 local-part limit) signed with a truncated HMAC-SHA-256.

Every allowed send goes out with a return path of its own (Variable Envelope Return Path), so a
bounce names the recipient it is about without anyone parsing the bounce body. The return path
must not carry the address in clear and must not be forgeable, or anyone could send us a fake
bounce and get a person suppressed. So the local part is `b-<token>` and the token is

    lower-case RFC 4648 base32, without padding, of
        key id (1 byte) ‖ recipient key (32 bytes) ‖ tag (5 bytes)
    tag = HMAC-SHA-256(secret[key id], "sendgate-verp-v1" 0x00 ‖ key id ‖ recipient key)[:5]

Why these sizes. RFC 5321 caps a local part at 64 octets; `b-` leaves 62 base32 characters, i.e.
62 * 5 = 310 bits = 38 whole bytes. The key id (1) and the recipient key (32, the 64-hex key as
bytes) take 33, which leaves 5 bytes for the tag. 38 bytes are 304 bits, 61 characters (the last
one carries 4 data bits and one zero bit); the local part is 63 octets. Base32 because some MTAs
lower-case local parts: lower-case base32 survives that and `verify` accepts any case.

What a forgery costs. Without the secret the tag of a chosen recipient key can only be guessed:
2^-40 (≈ 9.1e-13) per attempt, and every attempt is one SMTP RCPT to our intake, which counts
each failure (`sendgate_intake_forged_verp_total`, alert on it). A 50 % chance takes
ln 2 * 2^40 ≈ 7.6e11 attempts: 24 years at 1,000 RCPT/s, 2.4 years at 10,000/s. There is no
offline attack: nothing the attacker can see lets them test a guess without asking us. The
attacker must also know the recipient key they target, which only someone who saw one of our
return paths for that person has.

The send request id does not fit (ids are up to 200 characters), and a bounce must be verifiable
from the token alone, so the tag binds only key id and recipient key, and the request id travels
in our `X-Sendgate-Request-Id` header. DSNs (RFC 3464) and ARF reports (RFC 5965) return the
original headers, so the parser finds it there; it is unauthenticated, which is acceptable
because the verified token already says whom the bounce is about, and the request id only
attributes it (the parser can cross-check it against that request's decision). The consequence:
a token is valid for its recipient as long as its key is kept, whichever send it came with, so a
recipient can replay their own return path. That reaches only their own key; rotating keys
(below) bounds how long a leaked token lives.

Key rotation: `keys` maps key ids (0-255) to secrets; new return paths use `current_key_id`,
and every key still in `keys` verifies, so drop an old key only once its mail can no longer
bounce (a few days after the last send under it).

Pure: no I/O, no logging; errors never contain the address or the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping

from streams.core.errors import SendgateError

__all__ = [
    "LOCAL_PART_MAX_OCTETS",
    "TAG_BYTES",
    "TOKEN_CHARS",
    "VERP_PREFIX",
    "ForgedVerpError",
    "VerpSigner",
]

VERP_PREFIX = "b-"
LOCAL_PART_MAX_OCTETS = 64
"""RFC 5321 §4.5.3.1.1."""
_KEY_ID_BYTES = 1
_RECIPIENT_KEY_BYTES = 32
TAG_BYTES = 5
"""The most the local-part limit leaves (see the module docstring): a 40-bit tag."""
_PAYLOAD_BYTES = _KEY_ID_BYTES + _RECIPIENT_KEY_BYTES + TAG_BYTES
TOKEN_CHARS = -(-_PAYLOAD_BYTES * 8 // 5)
"""61: base32 characters of the payload without padding."""
_CONTEXT = b"sendgate-verp-v1\x00"
"""Domain separation: a VERP secret reused elsewhere by mistake still yields other tags."""
_MIN_SECRET_BYTES = 16
_RECIPIENT_KEY = re.compile(r"[0-9a-f]{64}")
_BASE32_LOWER = re.compile(r"[a-z2-7]+")


class ForgedVerpError(SendgateError):
    """A return path that we did not sign (or that was altered) was presented to us.

    `reason` is one of a fixed set of short names (`wrong-prefix`, `wrong-domain`,
    `wrong-length`, `bad-encoding`, `unknown-key`, `bad-tag`), safe as a metric label; the
    message never contains the address or the token.
    """

    def __init__(self, reason: str, explanation: str) -> None:
        super().__init__(f"not a valid return path: {explanation}")
        self.reason = reason


class VerpSigner:
    """Makes and verifies VERP return paths at one bounce domain under a set of keys."""

    def __init__(self, keys: Mapping[int, bytes], current_key_id: int, domain: str) -> None:
        if not keys:
            raise ValueError("at least one VERP key is needed")
        for key_id, secret in keys.items():
            if not 0 <= key_id <= 255:
                raise ValueError(f"VERP key id {key_id} is not in 0-255 (it takes one byte)")
            if len(secret) < _MIN_SECRET_BYTES:
                raise ValueError(f"VERP key {key_id} is shorter than {_MIN_SECRET_BYTES} bytes")
        if current_key_id not in keys:
            raise ValueError(f"the current VERP key id {current_key_id} has no key")
        domain = domain.strip().rstrip(".").lower()
        if not domain or "@" in domain or any(char.isspace() for char in domain):
            raise ValueError("the bounce domain must be a domain name")
        self._keys = dict(keys)
        self._current_key_id = current_key_id
        self._domain = domain

    @property
    def domain(self) -> str:
        """The bounce domain (lower case) that return paths are addressed to."""
        return self._domain

    def _tag(self, key_id: int, recipient_key: bytes) -> bytes:
        message = _CONTEXT + bytes([key_id]) + recipient_key
        return hmac.new(self._keys[key_id], message, hashlib.sha256).digest()[:TAG_BYTES]

    def local_part(self, recipient_key: str) -> str:
        """`b-<token>` for a recipient key (64 lower-case hex characters), under the current key."""
        if not _RECIPIENT_KEY.fullmatch(recipient_key):
            raise ValueError("a recipient key is 64 lower-case hex characters")
        key_bytes = bytes.fromhex(recipient_key)
        payload = (
            bytes([self._current_key_id]) + key_bytes + self._tag(self._current_key_id, key_bytes)
        )
        token = base64.b32encode(payload).decode("ascii").rstrip("=").lower()
        return VERP_PREFIX + token

    def return_path(self, recipient_key: str) -> str:
        """The envelope sender (MAIL FROM) for mail to the person with this recipient key."""
        return f"{self.local_part(recipient_key)}@{self._domain}"

    def verify(self, address_or_local_part: str) -> str:
        """The recipient key a return path was signed for; `ForgedVerpError` if it was not ours.

        Accepts `b-<token>@<bounce domain>` or the bare local part, in any letter case.
        """
        text = address_or_local_part.strip()
        if text.startswith("<") and text.endswith(">"):
            text = text[1:-1]
        local, at, domain = text.rpartition("@")
        if not at:
            local = text
        elif domain.rstrip(".").lower() != self._domain:
            raise ForgedVerpError("wrong-domain", "not addressed to the bounce domain")
        local = local.lower()
        if not local.startswith(VERP_PREFIX):
            raise ForgedVerpError("wrong-prefix", f"the local part does not start {VERP_PREFIX!r}")
        token = local[len(VERP_PREFIX) :]
        if len(token) != TOKEN_CHARS:
            raise ForgedVerpError(
                "wrong-length", f"the token has {len(token)} characters, not {TOKEN_CHARS}"
            )
        payload = _decode(token)
        key_id = payload[0]
        key_bytes = payload[_KEY_ID_BYTES : _KEY_ID_BYTES + _RECIPIENT_KEY_BYTES]
        tag = payload[_KEY_ID_BYTES + _RECIPIENT_KEY_BYTES :]
        if key_id not in self._keys:
            raise ForgedVerpError("unknown-key", f"key id {key_id} is not (or no longer) kept")
        if not hmac.compare_digest(tag, self._tag(key_id, key_bytes)):
            raise ForgedVerpError("bad-tag", "the tag does not match")
        return key_bytes.hex()


def _decode(token: str) -> bytes:
    """The payload of a lower-case token; only the canonical encoding of a payload is accepted.

    The last character carries one unused bit, so two spellings decode alike; refusing the
    non-canonical one keeps "one payload, one token" (an altered character always fails).
    """
    if not _BASE32_LOWER.fullmatch(token):
        raise ForgedVerpError("bad-encoding", "the token is not base32")
    padded = token.upper() + "=" * (-len(token) % 8)
    try:
        payload = base64.b32decode(padded)
    except binascii.Error:
        raise ForgedVerpError("bad-encoding", "the token is not base32") from None
    if base64.b32encode(payload).decode("ascii").rstrip("=").lower() != token:
        raise ForgedVerpError("bad-encoding", "the token is not canonical base32")
    return payload
