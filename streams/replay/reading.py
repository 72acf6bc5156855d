"""Reading a topic between two moments of event time, without touching anyone's consumer group.

A replay reads with manual assignment and no group id: it commits nothing, joins no group, and
so cannot move a live worker's position or trigger a rebalance. The bounds are found with
`offsets_for_times` (the first record whose timestamp is at or after a moment), once at the
start, so records written while the replay runs are left for the next one. `read_committed`
keeps a worker's unfinished transaction out of what the replay sees.

The bounds are Kafka timestamps: the producer's create time, which is when a record was
published (sendgate's producers do not stamp records with the event's own time). A caller that
means event time widens the bounds by how late a record may be published and filters on the
record's own time (`streams.replay.recorded` does, on a request's `requested_at`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.core.clock import to_epoch_ms
from streams.core.errors import SendgateError, ServiceUnavailableError
from streams.core.settings import Settings
from streams.edges.admin import KAFKA_FAILURES, partition_counts, unreachable

__all__ = [
    "CLIENT_ID",
    "Progress",
    "TimeRange",
    "read_between",
]

CLIENT_ID = "sendgate-replay"
"""How the broker's logs name a replay's clients."""
_FETCH_TIMEOUT_MS = 500
_MAX_FETCH_BYTES = 8 * 1024 * 1024

Progress = Callable[[int, int], None]
"""(offsets read, offsets to read) over every partition read."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """From `start` (inclusive) to `end` (exclusive); None: from the beginning, to the end."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("a replay's time bounds must be timezone-aware")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise SendgateError(
                f"the replay's --to ({self.end.isoformat()}) is not after its --from "
                f"({self.start.isoformat()})"
            )


async def _offsets_at(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    moment: datetime | None,
    fallback: dict[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """Each partition's first offset at or after `moment` (`fallback` where none is)."""
    if moment is None:
        return dict(fallback)
    found = await consumer.offsets_for_times({tp: to_epoch_ms(moment) for tp in partitions})
    return {tp: fallback[tp] if found.get(tp) is None else found[tp].offset for tp in partitions}


async def read_between(
    settings: Settings,
    topic: str,
    when: TimeRange,
    *,
    partitions: Collection[int] | None = None,
    timeout_s: float = 10.0,
    on_progress: Progress | None = None,
) -> AsyncIterator[Any]:
    """Every record of `topic` (its full name) in `when`, partition by partition in offset order
    (records of different partitions interleave as fetched), as aiokafka `ConsumerRecord`s.

    `partitions` limits the read (a recipient's records are all in one partition); a record
    stamped outside the range that sits between two inside it (a late producer clock) is
    yielded, since the bounds are offsets."""
    counts = await partition_counts(settings, [topic], timeout_s=timeout_s)
    if counts.get(topic) is None:
        raise SendgateError(
            f"topic '{topic}' does not exist on {settings.kafka_bootstrap_servers}; "
            "create the topics with: sendgate topics create"
        )
    wanted = range(counts[topic]) if partitions is None else sorted(partitions)
    assigned = [TopicPartition(topic, n) for n in wanted]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=CLIENT_ID,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        request_timeout_ms=max(1, int(timeout_s * 1000)),
        fetch_max_bytes=_MAX_FETCH_BYTES,
    )
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
    except KAFKA_FAILURES as exc:
        await consumer.stop()
        raise unreachable(settings, exc) from None
    try:
        consumer.assign(assigned)
        first = await asyncio.wait_for(consumer.beginning_offsets(assigned), timeout_s)
        last = await asyncio.wait_for(consumer.end_offsets(assigned), timeout_s)
        starts = await _offsets_at(consumer, assigned, when.start, first)
        ends = await _offsets_at(consumer, assigned, when.end, last)
        ends = {tp: min(ends[tp], last[tp]) for tp in assigned}
        total = sum(max(0, ends[tp] - starts[tp]) for tp in assigned)
        pending = {tp for tp in assigned if ends[tp] > starts[tp]}
        for tp in pending:
            consumer.seek(tp, starts[tp])
        done = 0
        loop = asyncio.get_running_loop()
        moved_at = loop.time()
        positions = dict(starts)
        while pending:
            if on_progress is not None:
                on_progress(done, total)
            fetched = await consumer.getmany(*pending, timeout_ms=_FETCH_TIMEOUT_MS)
            for tp, messages in fetched.items():
                for message in messages:
                    if message.offset < ends[tp]:
                        yield message
            for tp in pending:
                # Past compacted-away offsets and transaction markers too, not only records.
                positions[tp] = await consumer.position(tp)
            before = done
            done = sum(max(0, min(positions[tp], ends[tp]) - starts[tp]) for tp in assigned)
            pending = {tp for tp in pending if positions[tp] < ends[tp]}
            if done > before:
                moved_at = loop.time()
            elif loop.time() - moved_at > timeout_s:
                raise ServiceUnavailableError(
                    f"reading {topic} stalled at {done:,} of {total:,} offsets for "
                    f"{timeout_s:g} s; is the broker at {settings.kafka_bootstrap_servers} healthy?"
                )
        if on_progress is not None:
            on_progress(total, total)
    except KAFKA_FAILURES as exc:
        raise unreachable(settings, exc) from None
    finally:
        await consumer.stop()
