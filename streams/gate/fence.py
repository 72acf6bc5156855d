"""The state fence: a send request is decided only on suppressions at least as new as itself.

Kafka orders records within a partition, never across topics, and the gate reads two:
`unsubscribe-clicks` (folded into the suppressions table by the suppression keeper) and
`send-requests`. A worker may well fetch a send before a click that was acknowledged earlier.
The promise we make is: once Kafka has acknowledged a click, every send request for that recipient
produced afterwards is denied. The fence keeps it without trusting any clock:

1. The gate holds a batch of send requests. Each of them is already in its partition's log, so
   each was produced before this moment.
2. It asks the broker for the end offset of the co-partitioned clicks partition (ListOffsets).
   A click acknowledged before any of those sends was produced sits below that offset.
3. Every click below that offset that the keeper has not applied yet is read by the gate itself,
   straight from the broker, and laid over the table for this batch's decisions (`pending_for`).

The gate never waits for the keeper: waiting on another agent of the same worker can deadlock
inside faust (its delivery loop is shared) and stalls whenever faust skips records (see
`streams.gate.faust_fixes`). Reading ahead costs one ListOffsets round trip per batch, plus one
fetch of the keeper's lag when there is any; what was read is kept until the keeper's (contiguous,
`streams.gate.progress`) count passes it. After a restart or a partition takeover the keeper resumes
at the consumer group's committed offset, and everything below it is already in the table (restored
from its changelog), so the committed offset is the floor. If the broker cannot be read, the
batch fails closed (`FenceTimeoutError`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.gate.metrics import FENCE_READ_AHEAD, FENCE_WAIT_SECONDS, FENCE_WAITS
from streams.gate.progress import PartitionProgress, TopicPartitionKey

__all__ = [
    "BrokerOffsets",
    "FenceTimeoutError",
    "OffsetSource",
    "StateFence",
]


class FenceTimeoutError(Exception):
    """The state could not be confirmed current in time; the gate fails closed."""


class OffsetSource(Protocol):
    """Where the fence learns the broker's view of a state topic."""

    async def end_offsets(self, partitions: Iterable[int]) -> Mapping[int, int]: ...

    async def committed_offsets(self, partitions: Iterable[int]) -> Mapping[int, int]: ...

    async def end_offsets_of(
        self, tps: Iterable[TopicPartitionKey]
    ) -> Mapping[TopicPartitionKey, int]: ...

    async def committed_offsets_of(
        self, tps: Iterable[TopicPartitionKey]
    ) -> Mapping[TopicPartitionKey, int]: ...

    def read_range(
        self, partition: int, start: int, end: int
    ) -> AsyncIterator[tuple[int, bytes, bytes]]: ...

    async def close(self) -> None: ...


class StateFence:
    """Waits until the keeper has applied every state record acknowledged before now."""

    def __init__(
        self,
        offsets: OffsetSource,
        progress: PartitionProgress,
        *,
        timeout_s: float,
        state_topic: str,
    ) -> None:
        self._offsets = offsets
        self._progress = progress
        self._timeout_s = timeout_s
        self.state_topic = state_topic
        self._pending: dict[int, dict[bytes, list[tuple[int, bytes]]]] = {}
        self._read_until: dict[int, int] = {}

    def applied_below(self, partition: int) -> int:
        """Every state record below this offset has been applied (contiguously)."""
        return self._progress.next_offset((self.state_topic, partition)) or 0

    async def wait(self, partitions: Iterable[int]) -> dict[int, int]:
        """Return, per partition, the end offset the state is now current up to."""
        wanted = sorted(set(partitions))
        FENCE_WAITS.inc()
        try:
            with FENCE_WAIT_SECONDS.time():
                return await asyncio.wait_for(self._read_ahead(wanted), timeout=self._timeout_s)
        except (TimeoutError, KafkaError) as exc:
            raise FenceTimeoutError(
                f"{self.state_topic} could not be read up to the fence within "
                f"{self._timeout_s}s ({type(exc).__name__})"
            ) from None

    def pending_for(self, partition: int, key: bytes) -> list[tuple[int, bytes]]:
        """State records for `key` read ahead of the keeper: (offset, value), in log order."""
        below = self.applied_below(partition)
        return [item for item in self._pending.get(partition, {}).get(key, ()) if item[0] >= below]

    def read_ahead_for(self, key: bytes, partition: int) -> list[tuple[int, bytes]]:
        """Every state record for `key` read ahead at the last `wait` and not yet applied then:
        (offset, value), in log order. For a state topic whose records the keeper only hands on
        (erasure requests become suppressions on the clicks topic), the keeper's progress since
        says the hand-off is on the broker, not that its result is in the table: the fence that
        reads the result must be asked after this one, and until then the records still count."""
        return list(self._pending.get(partition, {}).get(key, ()))

    async def close(self) -> None:
        await self._offsets.close()

    async def _read_ahead(self, wanted: list[int]) -> dict[int, int]:
        fence = dict(await self._offsets.end_offsets(wanted))
        behind = [p for p in wanted if self.applied_below(p) < fence.get(p, 0)]
        unknown = [p for p in behind if self._progress.next_offset((self.state_topic, p)) is None]
        if unknown:
            now = time.monotonic()
            for partition, committed in (await self._offsets.committed_offsets(unknown)).items():
                self._progress.raise_floor((self.state_topic, partition), committed, now)
        for partition in wanted:
            self._forget_applied(partition)
            start = max(self.applied_below(partition), self._read_until.get(partition, 0))
            end = fence.get(partition, 0)
            if start >= end:
                continue
            by_key = self._pending.setdefault(partition, {})
            async for offset, key, value in self._offsets.read_range(partition, start, end):
                by_key.setdefault(key, []).append((offset, value))
                FENCE_READ_AHEAD.inc()
            self._read_until[partition] = end
        return fence

    def _forget_applied(self, partition: int) -> None:
        """Drop what the keeper has applied since it was read ahead."""
        below = self.applied_below(partition)
        by_key = self._pending.get(partition, {})
        for key in list(by_key):
            kept = [item for item in by_key[key] if item[0] >= below]
            if kept:
                by_key[key] = kept
            else:
                del by_key[key]


class BrokerOffsets:
    """End and committed offsets of one state topic, asked of the real broker.

    A consumer outside any group answers ListOffsets; an admin client reads the gate's consumer
    group's committed offsets. Neither joins the group, so neither disturbs its assignment.
    """

    def __init__(self, *, bootstrap_servers: str, topic: str, group_id: str) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._group_id = group_id
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()

    async def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        async with self._lock:
            if self._consumer is None or self._admin is None:
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self._bootstrap, enable_auto_commit=False
                )
                admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
                await consumer.start()
                await admin.start()
                self._consumer, self._admin = consumer, admin
            return self._consumer, self._admin

    async def end_offsets(self, partitions: Iterable[int]) -> Mapping[int, int]:
        ends = await self.end_offsets_of((self._topic, p) for p in partitions)
        return {partition: offset for (_, partition), offset in ends.items()}

    async def committed_offsets(self, partitions: Iterable[int]) -> Mapping[int, int]:
        committed = await self.committed_offsets_of((self._topic, p) for p in partitions)
        return {partition: offset for (_, partition), offset in committed.items()}

    async def end_offsets_of(
        self, tps: Iterable[TopicPartitionKey]
    ) -> dict[TopicPartitionKey, int]:
        consumer, _ = await self._clients()
        ends = await consumer.end_offsets([TopicPartition(t, p) for t, p in tps])
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def committed_offsets_of(
        self, tps: Iterable[TopicPartitionKey]
    ) -> dict[TopicPartitionKey, int]:
        """The group's committed offsets; where there is none, the log's first offset."""
        consumer, admin = await self._clients()
        wanted = [TopicPartition(t, p) for t, p in tps]
        committed = await admin.list_consumer_group_offsets(self._group_id, partitions=wanted)
        found = {
            (tp.topic, tp.partition): meta.offset
            for tp, meta in committed.items()
            if meta is not None and meta.offset >= 0
        }
        missing = [tp for tp in wanted if (tp.topic, tp.partition) not in found]
        if missing:
            starts = await consumer.beginning_offsets(missing)
            found.update({(tp.topic, tp.partition): offset for tp, offset in starts.items()})
        return found

    async def read_range(
        self, partition: int, start: int, end: int
    ) -> AsyncIterator[tuple[int, bytes, bytes]]:
        """Records [start, end) of one partition of the state topic: (offset, key, value)."""
        async with self._read_lock:
            if self._reader is None:
                reader = AIOKafkaConsumer(
                    bootstrap_servers=self._bootstrap,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    # The reader idles at the end of its partitions between reads; a long-poll
                    # fetch still outstanding there would delay the next read by its whole wait.
                    fetch_max_wait_ms=10,
                )
                await reader.start()
                self._reader = reader
            tp = TopicPartition(self._topic, partition)
            if tp not in self._reader.assignment():
                self._reader.assign([*self._reader.assignment(), tp])
            self._reader.seek(tp, start)
            position = start
            while position < end:
                batch = await self._reader.getmany(tp, timeout_ms=500, max_records=5000)
                for record in batch.get(tp, ()):
                    if record.offset >= end:
                        return
                    position = record.offset + 1
                    yield record.offset, record.key or b"", record.value or b""
                if not batch and await self._reader.position(tp) >= end:
                    return

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        if self._reader is not None:
            await self._reader.stop()
        self._consumer = self._admin = self._reader = None
