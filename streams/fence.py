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

One ListOffsets round trip per batch and partition set, whatever the batch size. Offsets the keeper
applied are tracked in `AppliedOffsets`; after a restart or a partition takeover the keeper resumes
at the consumer group's committed offset, and everything below it is already in the table
(restored from its changelog), so the committed offset is the floor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

__all__ = [
    "AppliedOffsets",
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

    async def close(self) -> None: ...


class AppliedOffsets:
    """Per partition, the offset below which the keeper has applied every record."""

    def __init__(self) -> None:
        self._applied: dict[int, int] = {}
        self._change: asyncio.Future[None] | None = None

    def mark_applied(self, partition: int, offset: int) -> None:
        """Record that the record at `offset` (and every one before it) is in the table."""
        self.raise_floor(partition, offset + 1)

    def raise_floor(self, partition: int, floor: int) -> None:
        """Everything below `floor` is known to be applied (a committed offset)."""
        if floor > self._applied.get(partition, 0):
            self._applied[partition] = floor
            if self._change is not None and not self._change.done():
                self._change.set_result(None)
            self._change = None

    def applied_below(self, partition: int) -> int:
        return self._applied.get(partition, 0)

    async def changed(self) -> None:
        """Return at the next change (every waiter wakes)."""
        if self._change is None:
            self._change = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._change)


class StateFence:
    """Waits until the keeper has applied every state record acknowledged before now."""

    def __init__(
        self,
        offsets: OffsetSource,
        applied: AppliedOffsets,
        *,
        timeout_s: float,
        state_topic: str,
    ) -> None:
        self._offsets = offsets
        self._applied = applied
        self._timeout_s = timeout_s
        self.state_topic = state_topic

    async def wait(self, partitions: Iterable[int]) -> dict[int, int]:
        """Return, per partition, the end offset the state is now current up to."""
        wanted = sorted(set(partitions))
        fence = dict(await self._offsets.end_offsets(wanted))
        behind = [p for p in wanted if self._applied.applied_below(p) < fence.get(p, 0)]
        if behind:
            for partition, committed in (await self._offsets.committed_offsets(behind)).items():
                self._applied.raise_floor(partition, committed)
        try:
            await asyncio.wait_for(self._catch_up(fence), timeout=self._timeout_s)
        except TimeoutError:
            lagging = {
                p: (self._applied.applied_below(p), fence.get(p, 0))
                for p in wanted
                if self._applied.applied_below(p) < fence.get(p, 0)
            }
            raise FenceTimeoutError(
                f"{self.state_topic} not applied up to the fence after {self._timeout_s}s: "
                f"{lagging} (partition: (applied below, fence))"
            ) from None
        return fence

    async def close(self) -> None:
        await self._offsets.close()

    async def _catch_up(self, fence: Mapping[int, int]) -> None:
        while any(self._applied.applied_below(p) < end for p, end in fence.items()):
            await self._applied.changed()


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
        consumer, _ = await self._clients()
        tps = [TopicPartition(self._topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: offset for tp, offset in ends.items()}

    async def committed_offsets(self, partitions: Iterable[int]) -> Mapping[int, int]:
        _, admin = await self._clients()
        tps = [TopicPartition(self._topic, p) for p in partitions]
        committed = await admin.list_consumer_group_offsets(self._group_id, partitions=tps)
        return {
            tp.partition: meta.offset
            for tp, meta in committed.items()
            if meta is not None and meta.offset >= 0
        }

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._consumer = self._admin = None
