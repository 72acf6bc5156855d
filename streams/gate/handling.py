"""What every agent does with a record before and after its own work: decode it, check its key,
read the recipient's state, and set bad input aside on dead-letters with its origin and reason."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from streams.core.codec import Codec
from streams.core.errors import CodecError, InvalidRecordError
from streams.core.logs import where
from streams.core.records import (
    ConsentDeadline,
    ConsentEvent,
    DeadLetter,
    DeliveryEvent,
    FeedbackReport,
    Record,
    SendRequest,
    UnsubscribeClick,
)
from streams.gate.app import Gate
from streams.gate.emit import Emitter
from streams.gate.metrics import DEAD_LETTERS
from streams.topics import TopicSpec, read_send_request

__all__ = [
    "coordinates",
    "dead_letter",
    "dead_letter_unusable",
    "decode_keyed",
    "decode_record",
    "decode_send_request",
    "recipient_key_of",
]

log = logging.getLogger("streams.gate.agents")

K = TypeVar("K", UnsubscribeClick, DeliveryEvent, FeedbackReport, ConsentEvent, ConsentDeadline)
D = TypeVar("D", bound=Record)


def coordinates(message: Any) -> str:
    return f"{message.topic}/{message.partition}/{message.offset}"


async def dead_letter(
    gate: Gate, message: Any, agent: str, exc: Exception, *, emitter: Emitter | None = None
) -> None:
    """Set a record aside with where it came from and why; log coordinates, never content.
    `emitter` is where a batch collects what it writes (`streams.gate.deciding.decide_batch`)."""
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
    DEAD_LETTERS.labels(message.topic, kind).inc()
    log.warning(
        "%s: dead-lettered %s (%s)", agent, coordinates(message), kind, extra=where(message)
    )


def recipient_key_of(message: Any) -> str:
    key = message.key
    if not key:
        raise InvalidRecordError("record has no key; it must be keyed by the recipient key")
    try:
        return key.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidRecordError("record key is not an ASCII recipient key") from None


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


async def decode_record(
    gate: Gate, message: Any, spec: TopicSpec[D], agent: str, *, keyed_by_recipient: bool = False
) -> D | None:
    """Decode the record in `message` as the catalogue says its topic carries; dead-letter it
    (None) if it is not one.

    `keyed_by_recipient`: the record must also be keyed by its own recipient key. One whose
    Kafka key is not sits on another partition than the recipient's state, so applying it
    would be wrong, not just untidy.
    """
    if spec.record is None:
        raise TypeError(f"topic '{spec.name}' carries no record the agents decode")
    try:
        record = gate.codec.decode(message.value or b"", spec.record)
        if keyed_by_recipient and recipient_key_of(message) != record.recipient_key:
            raise InvalidRecordError("record key differs from its recipient_key field")
    except (CodecError, InvalidRecordError) as exc:
        await dead_letter(gate, message, agent, exc)
        return None
    return record


async def decode_keyed(gate: Gate, message: Any, spec: TopicSpec[K], agent: str) -> K | None:
    """Decode a record keyed by its own recipient key; dead-letter it (None) if it is not one."""
    return await decode_record(gate, message, spec, agent, keyed_by_recipient=True)


def decode_send_request(gate: Gate, message: Any) -> tuple[SendRequest, str]:
    """The send request in `message` and its recipient key, checked: within the gate's size
    limit, decodable, and keyed by the recipient key of its own address (else it would be
    decided on another recipient's state)."""
    request = read_send_request(message.value, gate.codec)
    recipient_key = recipient_key_of(message)
    if recipient_key != gate.keyer.key(request.recipient):
        raise InvalidRecordError(
            "record key is not the recipient key of its recipient address; "
            "publish with the sendgate producer (sendgate publish) to key it correctly"
        )
    return request, recipient_key
