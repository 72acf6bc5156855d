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
3. It waits until the suppression keeper has applied every click below the end offset, then
   decides the batch.

One ListOffsets round trip per batch and partition set, whatever the batch size. The keeper's
progress is counted contiguously (`streams.progress`): a click skipped by the framework holds the
fence back until it has been read again. After a restart or a partition takeover the keeper
resumes at the consumer group's committed offset, and everything below it is already in the table
(restored from its changelog), so the committed offset is the floor.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.progress import PartitionProgress, TopicPartitionKey

__all__ = [
    "BrokerOffsets",
    "FenceTimeoutError",
    "OffsetSource",
    "StateFence",
]


class FenceTimeoutError(Exception):
    """The keeper did not catch up with the fence in time; the gate fails closed."""


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

    def applied_below(self, partition: int) -> int:
        """Every state record below this offset has been applied (contiguously)."""
        return self._progress.next_offset((self.state_topic, partition)) or 0

    async def wait(self, partitions: Iterable[int]) -> dict[int, int]:
        """Return, per partition, the end offset the state is now current up to."""
        wanted = sorted(set(partitions))
        fence = dict(await self._offsets.end_offsets(wanted))
        behind = [p for p in wanted if self.applied_below(p) < fence.get(p, 0)]
        if behind:
            now = time.monotonic()
            for partition, committed in (await self._offsets.committed_offsets(behind)).items():
                self._progress.raise_floor((self.state_topic, partition), committed, now)
        try:
            await asyncio.wait_for(self._catch_up(fence), timeout=self._timeout_s)
        except TimeoutError:
            lagging = {
                p: (self.applied_below(p), fence.get(p, 0))
                for p in wanted
                if self.applied_below(p) < fence.get(p, 0)
            }
            raise FenceTimeoutError(
                f"{self.state_topic} not applied up to the fence after {self._timeout_s}s: "
                f"{lagging} (partition: (applied below, fence))"
            ) from None
        return fence

    async def close(self) -> None:
        await self._offsets.close()

    async def _catch_up(self, fence: Mapping[int, int]) -> None:
        while any(self.applied_below(p) < end for p, end in fence.items()):
            await self._progress.changed()


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
        self._lock = asyncio.Lock()

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

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._consumer = self._admin = None
