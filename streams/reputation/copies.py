"""What every gate worker's copy of `enforcement-events` keeps of one record: what enforcement
leaves its account allowed.

A copy is not a fold: each record carries the account's whole status after it, so the latest in
the partition's order is the state. It lives here, beside the records, so that the worker's copy
(`streams.gate.broadcast`) and a replay of the topic (`streams.replay.person`) read a record the
same way.
"""

from __future__ import annotations

from streams.core.codec import Codec
from streams.core.errors import InvalidRecordError
from streams.reputation.standing import AccountSnapshot, EnforcementEvent

__all__ = ["account_of_record", "snapshot_of_event"]


def snapshot_of_event(key: bytes, event: EnforcementEvent) -> AccountSnapshot | None:
    """What a decoded enforcement event leaves its account (its key) allowed; None for one that
    changes nothing the gate denies (a fine). A record keyed by another account is refused: it
    sits on another account's partition, so no copy could place it."""
    if key != event.account_id.encode():
        raise InvalidRecordError("record key is not the record's account id")
    return event.status_after


def account_of_record(codec: Codec, key: bytes, value: bytes) -> AccountSnapshot | None:
    """`snapshot_of_event` of an `enforcement-events` record's bytes."""
    return snapshot_of_event(key, codec.decode(value, EnforcementEvent))
