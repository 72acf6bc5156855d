"""Unsubscribe token verification on mutated, forged and strangely signed tokens.

A token arrives in a URL anyone can type, so `UnsubscribeTokens.verify` must refuse everything it
did not issue with `BadTokenError` and its typed problem (`malformed`, `unknown-key`, `bad-tag`,
`from-the-future`), tell an expired token apart (`ExpiredTokenError`), and raise nothing else.

Besides mutating issued tokens as text and as bytes, the generator signs bodies of its own with
the service's key: a forger cannot, but those reach the layout checks behind the signature, which
guard against our own bugs and must refuse just as cleanly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import struct
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import get_args

from fuzzing.engine import Outcome, Target, accepted, rejected
from fuzzing.mutate import mutate_bytes, mutate_text, random_text
from streams.sending.unsubscribe_tokens import (
    TAG_BYTES,
    BadTokenError,
    ExpiredTokenError,
    TokenProblem,
    UnsubscribeTokens,
)

__all__ = ["KEYS", "NOW", "REASONS", "issue_random", "signer", "target"]

KEYS = {1: b"fuzz-key-one-0123456789abcdef", 7: b"fuzz-key-seven-0123456789abcdef"}
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
REASONS = frozenset(get_args(TokenProblem)) | {"expired"}
_CONTEXT = b"sendgate/unsubscribe/v1\x00"


@lru_cache(maxsize=1)
def signer() -> UnsubscribeTokens:
    return UnsubscribeTokens(KEYS, 7, valid_for=timedelta(days=400))


def _id(rnd: random.Random, most: int = 40) -> str:
    text = random_text(rnd, most).encode("utf-8", "replace").decode("utf-8")
    return text or "x"


def issue_random(rnd: random.Random, *, purpose: str | None = None, age_days: float = 0) -> str:
    """A token the service itself would issue, with random ids."""
    purpose = purpose or rnd.choice(("message", "message", "confirmation"))
    account = None if purpose == "confirmation" and rnd.random() < 0.3 else _id(rnd)
    return signer().issue(
        recipient_key=rnd.randbytes(32).hex(),
        account_id=account,
        list_id=rnd.choice((None, _id(rnd))),
        request_id=_id(rnd),
        issued_at=NOW - timedelta(days=age_days or rnd.uniform(-0.001, 500)),
        cadence=rnd.choice((None, None, "weekly", _id(rnd, 10))),
        purpose=purpose,  # type: ignore[arg-type]
    )


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _signed(rnd: random.Random) -> str:
    """A body of random layout under a correct tag: only the service's key makes these."""
    version = rnd.choice((1, 2, 2, 3, 0))
    key_id = rnd.choice((7, 7, 1, 9))
    seconds = rnd.choice(
        (
            int(NOW.timestamp()),
            int(NOW.timestamp()) + rnd.randint(0, 10**6),
            rnd.getrandbits(32),
            0,
            2**32 - 1,
        )
    )
    if version == 1:
        body = struct.pack(">BBI32s", 1, key_id, seconds, rnd.randbytes(32))
    else:
        body = struct.pack(
            ">BBBI32s", version, key_id, rnd.randrange(4), seconds, rnd.randbytes(32)
        )
    for _ in range(rnd.choice((2, 3, 4, 5))):
        field = rnd.choice((b"", b"acct", "caf\u00e9".encode(), b"\xff\xfe", rnd.randbytes(5)))
        length = len(field) if rnd.random() < 0.8 else rnd.randrange(65536)
        body += struct.pack(">H", length) + field
    if rnd.random() < 0.2:
        body = mutate_bytes(rnd, body)
    if key_id not in KEYS:
        return _encode(body + rnd.randbytes(TAG_BYTES))
    tag = hmac.new(KEYS[key_id], _CONTEXT + body, hashlib.sha256).digest()[:TAG_BYTES]
    return _encode(body + tag)


def _case(rnd: random.Random) -> str:
    move = rnd.randrange(10)
    if move == 0:
        return issue_random(rnd)
    token = issue_random(rnd)
    if move <= 3:
        return mutate_text(rnd, token)
    if move <= 5:  # damaged bytes, spelled canonically so the layout and tag checks see them
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return _encode(mutate_bytes(rnd, raw))
    if move == 6:
        return _signed(rnd)
    if move == 7:  # padding, white space, other alphabets
        return rnd.choice(
            (
                token + "=" * rnd.randint(1, 3),
                f" {token}\n",
                token.replace("-", "+").replace("_", "/"),
                token.upper(),
                token + "\u00e9",
                token * rnd.randint(2, 40),
            )
        )
    if move == 8:
        return random_text(rnd, rnd.choice((8, 80, 300, 5000)))
    return _encode(rnd.randbytes(rnd.randint(0, 400)))


def _check(token: str) -> Outcome:
    try:
        parsed = signer().verify(token, now=NOW)
    except BadTokenError as exc:
        if not str(exc):
            return rejected("")
        return rejected(exc.problem)
    except ExpiredTokenError as exc:
        if exc.token is None or not str(exc):
            return rejected("")
        return rejected("expired")
    return accepted(parsed.purpose)


def target() -> Target:
    return Target(
        name="token",
        what="unsubscribe token (UnsubscribeTokens.verify)",
        reasons=REASONS,
        generate=_case,
        check=_check,
        describe=lambda token: f"{len(token)} characters {token[:200]!r}",
    )
