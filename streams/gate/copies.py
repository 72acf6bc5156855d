"""The records every gate worker copies whole (`streams.gate.broadcast`), and what each copy
keeps of one: an account's verified sending domains, and what enforcement leaves it allowed.

A copy is not a fold: each record carries the whole value for its key, so the latest per key in
the partition's order is the state, and a replay writes the same values again in the same order.
The agents that dead-letter what no copy can use (`keep_sender_domains`,
`check_enforcement_events`) decode with these same functions. The enforcement one lives in
`streams.reputation.copies`, where a replay of the topic reads records the same way.
"""

from __future__ import annotations

from streams.core.codec import Codec
from streams.core.errors import InvalidRecordError
from streams.core.records import SenderDomains
from streams.reputation.copies import account_of_record

__all__ = ["account_of_record", "domains_of_record"]


def domains_of_record(codec: Codec, key: bytes, value: bytes) -> frozenset[str]:
    """The verified domains a `sender-domains` record gives its account (its key)."""
    record = codec.decode(value, SenderDomains)
    if key != record.account_id.encode():
        raise InvalidRecordError("record key is not the record's account id")
    return frozenset(record.domains)
