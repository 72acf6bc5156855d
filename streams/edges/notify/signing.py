"""Sign a notification so its receiver knows sendgate sent it, and sent it lately.

    Sendgate-Timestamp: 1740830400                   unix seconds when this try was signed
    Sendgate-Signature: v1=<hex>[,v1=<hex>...]       HMAC-SHA-256 of  timestamp "." body

The signed message is the timestamp's decimal digits, a full stop, and the raw body bytes: a
receiver that checks the timestamp against its clock (a tolerance of a few minutes) rejects a
request recorded and replayed later, and one that compares the signature in constant time learns
nothing from how long a wrong one took. Each try is signed afresh, so a retry hours later is
still within the tolerance.

`v1=` names the scheme, so a later one can be added beside it. During a secret rotation the
request carries one `v1=` signature per configured secret, and a receiver accepts it when any of
them matches the secret it holds: add the new secret, move the receivers over, remove the old.

The README's "Enforcement events by HTTP" has the verifying function for receivers; a unit test
runs that very text against `signed_headers`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "SIGNATURE_SCHEME",
    "TIMESTAMP_HEADER",
    "signature",
    "signature_header",
    "signed_headers",
]

EVENT_ID_HEADER = "Sendgate-Event-Id"
EVENT_TYPE_HEADER = "Sendgate-Event-Type"
TIMESTAMP_HEADER = "Sendgate-Timestamp"
SIGNATURE_HEADER = "Sendgate-Signature"
SIGNATURE_SCHEME = "v1"


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """HMAC-SHA-256 of `timestamp "." body` under `secret`, in lower-case hex."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[bytes], timestamp: int, body: bytes) -> str:
    """`v1=<hex>` for each secret, comma separated, in the order the secrets are given."""
    if not secrets:
        raise ValueError("a notification is signed with at least one secret")
    return ",".join(
        f"{SIGNATURE_SCHEME}={signature(secret, timestamp, body)}" for secret in secrets
    )


def signed_headers(
    *, event_id: str, event_type: str, secrets: Sequence[bytes], timestamp: int, body: bytes
) -> dict[str, str]:
    """Every header of one try's POST."""
    return {
        "Content-Type": "application/json",
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets, timestamp, body),
    }
