"""What a receiver's answer to a POST means: delivered, worth another try, or refused.

- **2xx**: delivered; the receiver has the event.
- **408, 425, 429 and 5xx**, a timeout, a connection that failed or broke: tried again after a
  backoff (`streams.edges.notify.backoff`). These say "not now": the receiver was slow, busy,
  restarting or failing, and the same request may well succeed later.
- **Any other 4xx**: refused, dead-lettered at once. The receiver understood the request and
  turned it down (a bad signature, a path that does not exist, a body it will not take); the
  same bytes, signed the same way, get the same answer on every try, and retrying would only
  hold up the account's later events behind one that cannot pass. The dead letter keeps the
  event whole, so it can be published again once the receiver is fixed.
- **3xx**: refused too. Redirects are not followed: the signature headers would go to wherever
  the redirect points; configure the final URL instead.

Pure: statuses and header values in, verdicts and sentences out. A sentence never quotes what
the receiver wrote (its reason phrase or body): only the status and the standard phrase for it.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Literal

__all__ = [
    "RETRIED_CLIENT_STATUSES",
    "Verdict",
    "describe_status",
    "judge_status",
    "retry_after_s",
]

Verdict = Literal["delivered", "retry", "refused"]

RETRIED_CLIENT_STATUSES = frozenset({408, 425, 429})
"""4xx answers that mean "not now" rather than "no": Request Timeout, Too Early, Too Many
Requests."""


def judge_status(status: int) -> Verdict:
    """What one HTTP status means for the event (see the module docstring)."""
    if 200 <= status < 300:
        return "delivered"
    if status >= 500 or status in RETRIED_CLIENT_STATUSES:
        return "retry"
    return "refused"


def describe_status(status: int) -> str:
    """`503 Service Unavailable`: the status and its standard phrase, whatever the receiver
    wrote after it."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def retry_after_s(value: str | None) -> float | None:
    """A `Retry-After` header given in seconds (RFC 9110 section 10.2.3); None when absent, or
    given as a date (a receiver's clock is not ours to trust), or not a number."""
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        return None
    return float(text)
