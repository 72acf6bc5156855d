"""What every agent does with a record before and after its own work: decode it, check its key,
read the recipient's state, and set bad input aside on dead-letters with its origin and reason."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from faust.stores.rocksdb import Store as RocksDBStore

from streams.core.codec import Codec
from streams.core.errors import CodecError, InvalidRecordError
from streams.core.records import (
    ConsentDeadline,
    ConsentEvent,
    ConsentState,
    DeadLetter,
    DeliveryEvent,
    FeedbackReport,
    SuppressionState,
    UnsubscribeClick,
)
from streams.gate.app import Gate
from streams.gate.emit import Emitter

__all__ = [
    "coordinates",
    "dead_letter",
    "dead_letter_unusable",
    "decode_keyed",
    "read_consents",
    "read_suppressions",
    "recipient_key_of",
    "stored",
]

log = logging.getLogger("streams.gate.agents")

K = TypeVar("K", UnsubscribeClick, DeliveryEvent, FeedbackReport, ConsentEvent, ConsentDeadline)


def coordinates(message: Any) -> str:
    return f"{message.topic}/{message.partition}/{message.offset}"


async def dead_letter(
    gate: Gate, message: Any, agent: str, exc: Exception, *, emitter: Emitter | None = None
) -> None:
    """Set a record aside with where it came from and why; log coordinates, never content.
    `emitter` is where a batch collects what it writes (`streams.gate.agents.decide_batch`)."""
    kind = getattr(exc, "error_kind", "invalid")
    letter = DeadLetter(
        origin_topic=message.topic,
        origin_partition=message.partition,
        origin_offset=message.offset,
        original_key=message.key,
        original_value=message.value,
        error_kind=kind,
        reason=str(exc),
        agent=agent,
        failed_at=gate.clock.now(),
    )
    await (emitter or gate.emitter).emit(
        gate.dead_letters_topic, message.key, gate.codec.encode(letter)
    )
    log.warning("%s: dead-lettered %s (%s)", agent, coordinates(message), kind)


def recipient_key_of(message: Any) -> str:
    key = message.key
    if not key:
        raise InvalidRecordError("record has no key; it must be keyed by the recipient key")
    try:
        return key.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidRecordError("record key is not an ASCII recipient key") from None


def stored(table: Any, key: bytes) -> bytes | None:
    """A table's value for `key`, or None, in one read of its store.

    `Table.get` asks the store twice for a key it holds (`key in data`, then `data[key]`, as
    the table has a default for missing keys), and each time passes the key and the value
    through faust's serializer registry; the gate reads three tables per send. The gate's
    tables hold raw bytes (`streams.gate.app`), so a RocksDB store is read directly, once; any other
    store (the in-memory one of the agent tests) through its own `get`."""
    store = table.data
    value: bytes | None = store._get(key) if isinstance(store, RocksDBStore) else store.get(key)
    return value


def read_suppressions(gate: Gate, key: bytes) -> SuppressionState | None:
    """The recipient's suppressions. Only the keeper writes this table, so its values are
    decoded through the codec's cache (`Codec.decode_trusted`): every send reads them."""
    raw = stored(gate.suppressions, key)
    return None if raw is None else gate.codec.decode_trusted(raw, SuppressionState)


def read_consents(gate: Gate, key: bytes) -> ConsentState | None:
    """The recipient's consents, decoded through the codec's cache like the suppressions."""
    raw = stored(gate.consents, key)
    return None if raw is None else gate.codec.decode_trusted(raw, ConsentState)


async def dead_letter_unusable(
    gate: Gate,
    message: Any,
    agent: str,
    read: Callable[[Codec, bytes, bytes], object],
) -> None:
    """For a topic every worker copies whole (`streams.gate.broadcast`): the copies read the good
    records themselves and leave out the rest, so the group's agent only dead-letters a record
    `read` cannot use, with its origin."""
    try:
        read(gate.codec, message.key or b"", message.value or b"")
    except (CodecError, InvalidRecordError) as exc:
        await dead_letter(gate, message, agent, exc)


async def decode_keyed(gate: Gate, message: Any, record_type: type[K], agent: str) -> K | None:
    """Decode a record keyed by its own recipient key; dead-letter it (None) if it is not one.

    A record whose Kafka key is not its recipient key sits on another partition than the
    recipient's state, so applying it would be wrong, not just untidy.
    """
    try:
        record = gate.codec.decode(message.value or b"", record_type)
        if recipient_key_of(message) != record.recipient_key:
            raise InvalidRecordError("record key differs from its recipient_key field")
    except (CodecError, InvalidRecordError) as exc:
        await dead_letter(gate, message, agent, exc)
        return None
    return record
