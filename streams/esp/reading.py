"""What the SendGrid and Mailgun readers share beyond `streams.esp.model`: reading a provider's
unix time, the freshness check of a signed timestamp, the bytes a rejection keeps, and the scope
of an opt-out made through a provider's own unsubscribe link.

Kept apart from `streams.esp.model` (the interface every reader and the webhook service share)
because these are choices of the two JSON-webhook readers, not promises to the service.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import ValidationError

from streams.core.records import SuppressionScope
from streams.esp.model import NotAuthentic, SendIdentity

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "Unreadable",
    "after_type",
    "check_fresh",
    "event_time",
    "invalid_fields",
    "iso_time",
    "kind_label",
    "opt_out_scope",
    "raw_json",
    "stripped_text",
    "text_of",
    "unknown_kind",
]

DEFAULT_TOLERANCE_S: Final = 300.0
"""The replay window we recommend for a signed timestamp, in seconds, either side of now.

A signature proves who sent a request, not when: without a window a request captured once (from
a proxy's log, a mis-sent copy) could be posted again for ever. Five minutes is what the
timestamped webhook schemes commonly default to; it absorbs clock skew between the provider and
us and the time a request spends queued, and bounds how long a captured request stays usable.
A refused stale request is answered 403 and logged as `stale`; a provider that re-signs its
retries delivers them anyway, and the record ids make a replay inside the window harmless."""


def check_fresh(signed_at: str, *, now: datetime, tolerance_s: float) -> None:
    """Refuse (`stale`) a signed unix time further than `tolerance_s` from `now`, either way.

    Either way, because a timestamp far in the future would stay acceptable for long after it is
    captured. A timestamp that is not a number cannot be judged and is no provider's: it is a
    bad signature."""
    if tolerance_s <= 0 or not math.isfinite(tolerance_s):
        raise ValueError("the replay tolerance must be a positive number of seconds")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    try:
        seconds = float(signed_at)
    except (TypeError, ValueError):
        raise NotAuthentic("bad-signature", "the signed timestamp is not a number") from None
    if not math.isfinite(seconds):
        raise NotAuthentic("bad-signature", "the signed timestamp is not a number")
    skew = seconds - now.timestamp()
    if abs(skew) > tolerance_s:
        raise NotAuthentic(
            "stale",
            f"the signed timestamp is {abs(skew):.0f} s from now "
            f"({'ahead' if skew > 0 else 'behind'}; the window is {tolerance_s:.0f} s)",
        )


def event_time(value: object) -> datetime | None:
    """An event's unix time (seconds, integer or fraction, or such a number as text), in UTC;
    None when it is no such number or lies outside what a datetime holds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def raw_json(value: object) -> bytes:
    """The bytes a rejection keeps: the event as JSON, compact, in UTF-8.

    The event was posted as JSON, so it serialises; anything else is written as its text rather
    than lost."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def invalid_fields(error: ValidationError, kind: str) -> str:
    """A rejection's reason for an event whose values a record cannot hold (a field too long, a
    malformed code): the fields' names only, as pydantic's own message quotes the values, and a
    value may be an address."""
    names = sorted({".".join(str(part) for part in problem["loc"]) for problem in error.errors()})
    return f"a {kind} event whose values a record cannot hold: {', '.join(names)}"[:200]


_EVENT_NAME: Final = re.compile(r"[a-z][a-z0-9_-]{0,39}")


def unknown_kind(provider: str, kind: str) -> str:
    """A rejection's reason for an event type the provider does not document. The type is quoted
    only when it has the shape of an event name: the field is the sender's text, and anything
    else (an address pasted into it, say) must not reach a dead letter's reason or a log."""
    if _EVENT_NAME.fullmatch(kind):
        return f"an event type {provider} does not document: {kind!r}"
    return f"an event type {provider} does not document (not shown: not an event name)"


class Unreadable(Exception):
    """One event (or recipient) that cannot be read; `reason` names the field, never its value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_KIND_WORD: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def kind_label(kind: str) -> str:
    """An event kind as an `ignored` entry: `DeliveryDelay` -> `delivery-delay`, `Rendering
    Failure` -> `rendering-failure`, `SubscriptionChange` -> `subscription-change`."""
    spaced = _KIND_WORD.sub("-", kind.strip())
    label = re.sub(r"[^a-z0-9]+", "-", spaced.lower()).strip("-")
    return label[:40] or "unknown"


def stripped_text(value: object) -> str | None:
    """A JSON value's text, stripped; None when it is no text or only white space."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def iso_time(value: object, field: str, default: datetime | None = None) -> datetime:
    """An ISO 8601 time with its zone (SES writes milliseconds, Postmark seven fractional
    digits; Python reads both); `default` when the field is absent and a default is given. A
    time without a zone is refused rather than guessed (`Unreadable`)."""
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise Unreadable(f"{field} is missing or not a string")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as error:
        raise Unreadable(f"{field} is not an ISO 8601 time") from error
    if moment.tzinfo is None:
        raise Unreadable(f"{field} has no time zone")
    return moment


def after_type(value: str | None) -> str | None:
    """`smtp; 550 ...` -> `550 ...`, `dsn; mta.example.com` -> `mta.example.com` (RFC 3464 2.3:
    the form in which SES and Postmark pass a Diagnostic-Code or Reporting-MTA on)."""
    if not value:
        return None
    kind, semicolon, rest = value.partition(";")
    text = rest if semicolon and len(kind) < 20 and " " not in kind.strip() else value
    return " ".join(text.split()) or None


def text_of(event: Mapping[str, Any], name: str) -> str | None:
    """A field's text, stripped; None when absent, empty or not text."""
    value = event.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def opt_out_scope(
    identity: SendIdentity, *, list_wide: bool
) -> tuple[SuppressionScope, str | None, str | None]:
    """The scope, account and list of an opt-out made through a provider's unsubscribe link.

    The narrowest scope the send's identity names, as for an unsubscribe reply
    (`streams.bounces.inbound`): the list when the provider's link was for one group of mail
    (`list_wide`) and the send named its list, else the account, else the whole platform (a
    person who opts out wants no more mail; over-honouring is the safe side of the law)."""
    if identity.account_id is None:
        return "platform", None, None
    if list_wide and identity.list_id is not None:
        return "list", identity.account_id, identity.list_id
    return "account", identity.account_id, None
