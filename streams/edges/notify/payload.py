"""The JSON body each receiver gets: one envelope per event, the same bytes on every try.

    {"account_id": "acme", "data": {...every field of the event...}, "id": "<event id>",
     "occurred_at": "2025-03-01T12:00:00.000Z", "type": "enforcement.strike_issued",
     "version": 1}

`id` is the event's own stable id (`EnforcementEvent.event_id`): the same event delivered twice
(a retry whose answer was lost, a notifier restarted before it committed) carries the same id,
so a receiver dedupes on it. `type` is `enforcement.` and the action (`consent.expiring` and
`consent.expired` for consent notices). `data` holds every field of the record, null ones
included, so a receiver finds the same keys on every event of a kind; a later version of the
record may add keys, never rename or drop one without a new `version`. Times are ISO-8601 UTC
with milliseconds and a `Z`; decimals (rates, lines, fines) are strings, so no JSON parser
rounds them; lists stay lists and the account's standing after the action (`status_after`) is
an object of the same kind.

The body is compact JSON with sorted keys, UTF-8: the signature covers these exact bytes, so a
receiver verifies the raw body before parsing it.

Pure: records in, bytes out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from streams.core.clock import utc_text
from streams.core.records import ConsentNotice, Record
from streams.reputation.standing import EnforcementEvent

__all__ = [
    "PAYLOAD_VERSION",
    "Notification",
    "consent_notice_notification",
    "enforcement_notification",
    "json_fields",
]

PAYLOAD_VERSION = 1


@dataclass(frozen=True, slots=True)
class Notification:
    """One event as it goes out: its id and type (for the headers and the terminal) and the
    body every receiver gets."""

    id: str
    type: str
    body: bytes


def enforcement_notification(event: EnforcementEvent) -> Notification:
    return _notification(
        event, event.event_id, f"enforcement.{event.action}", event.account_id, event.at
    )


def consent_notice_notification(notice: ConsentNotice) -> Notification:
    return _notification(
        notice, notice.notice_id, f"consent.{notice.kind}", notice.account_id, notice.emitted_at
    )


def json_fields(record: Record) -> dict[str, Any]:
    """Every field of `record` as JSON values: times as ISO-8601 UTC text, decimals as text
    without an exponent, tuples as lists, nested records as objects."""
    return {name: _json_value(value) for name, value in record.model_dump().items()}


def _notification(
    record: Record, event_id: str, event_type: str, account_id: str, occurred_at: datetime
) -> Notification:
    envelope = {
        "version": PAYLOAD_VERSION,
        "id": event_id,
        "type": event_type,
        "account_id": account_id,
        "occurred_at": utc_text(occurred_at),
        "data": json_fields(record),
    }
    body = json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Notification(id=event_id, type=event_type, body=body.encode("utf-8"))


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [_json_value(item) for item in value]
        return sorted(items) if isinstance(value, frozenset | set) else items
    raise TypeError(f"no JSON form for a {type(value).__name__} field")
