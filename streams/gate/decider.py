"""The gate's hot path: send requests decided a batch at a time, beside faust.

A faust agent pays faust's per-record path on every send (a `Message`, the conductor's lock, a
queue, an `Event`, an ack, the commit bookkeeping): measured on the same broker, a faust agent
that only forwards ran at under half of raw aiokafka, before it decided anything. The decider
reads `send-requests` with its own aiokafka consumer, a batch at a time, and hands each batch to
`streams.gate.deciding.decide_batch`: the same fences, the same pure rules, the same records out.
faust still owns everything else: the group and its assignment, the tables and their changelogs, the
keepers, the timers.

How the promises hold without faust's stream:

- **Which partitions.** The worker that keeps partition p of the suppressions (faust assigns
  it `unsubscribe-clicks` p, and every gate topic is co-partitioned) decides partition p of
  `send-requests`: the recipient's state is local. The decider's consumer joins no group; it is
  assigned those partitions by hand when faust's assignment changes.
- **Restored first.** A newly assigned partition is read only once the restore fence
  (`streams.gate.restored`) finds its tables restored to their changelogs' end, so a long restore
  delays its sends instead of failing them closed.
- **Rebalances.** faust calls `App.on_rebalance_start` from its consumer thread before it revokes
  anything. A batch is decided only if no rebalance started since it was read (checked after
  the fences, the batch's only wait; deciding itself never yields to the event loop, so no table
  moves under it). A batch caught by a rebalance is dropped and read again from its first
  offset. faust's revoke signal waits for the batch in hand to be written and committed, so the
  partition's next owner starts where this one stopped.
- **At-least-once.** Decisions, dead letters and table writes are flushed to the broker before
  the batch's offsets are committed, still inside the batch's hold on the decider, so a revoke
  never finds a batch written but not committed. The offsets live in their own consumer group
  (`Settings.decided_group`), committed by a consumer that never joins it; a partition it has no
  offset for starts where faust's group stopped (a gate upgraded from the per-record agent
  decides nothing twice), else at the log's start. A worker killed between flush and commit
  leaves a batch its successor decides again: the same decision for the same request
  (`streams.edges.ledger` keeps one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

__all__ = ["DecideBatch", "Hold", "SendDecider"]

log = logging.getLogger(__name__)

IDLE_WAIT_S = 0.1
"""How long an idle decider waits for records or an assignment before looking again."""

Hold = Callable[[], AbstractAsyncContextManager[bool]]
"""Holds the decider's writing lock for deciding and writing a batch, and says whether the batch
is still this worker's (no rebalance began since it was read)."""

DecideBatch = Callable[[Sequence[ConsumerRecord], Hold], Awaitable[bool]]
"""Decides a batch and writes what it decides (`streams.gate.deciding.decide_batch`): the fences
first, then, inside `hold` and only if it says the batch is still ours, the decisions. Returns False
when it dropped the batch undecided."""


class SendDecider:
    """Reads this worker's send-requests partitions a batch at a time and has them decided."""

    def __init__(
        self,
        app: Any,
        *,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        batch_size: int,
        decide: DecideBatch,
        is_restored: Callable[[int], bool],
        earlier_offsets: Callable[[list[tuple[str, int]]], Awaitable[dict[tuple[str, int], int]]],
        flush: Callable[[], Awaitable[None]],
    ) -> None:
        self._app = app
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._group_id = group_id
        self._batch_size = batch_size
        self._decide = decide
        self._is_restored = is_restored
        self._earlier_offsets = earlier_offsets
        self._flush = flush
        self._owned: frozenset[int] = frozenset()
        self._reading: frozenset[int] = frozenset()
        self._writing = asyncio.Lock()
        """Held from deciding a batch until its offsets are committed."""
        self._changed = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._next: dict[TopicPartition, int] = {}
        """Per partition, the offset after the last request decided here (for the lag)."""

    def lag(self) -> dict[tuple[str, int], int]:
        """Send requests not yet decided on the partitions being read: the broker's highwater
        as last fetched minus the next offset to decide (partitions not fetched yet: absent)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        behind = {}
        for tp in self._assigned_tps(self._reading):
            highwater = consumer.highwater(tp)
            at = self._next.get(tp)
            if highwater is not None and at is not None:
                behind[(tp.topic, tp.partition)] = max(0, highwater - at)
        return behind

    # --- faust's assignment ------------------------------------------------------------------

    def on_assigned(self, partitions: Iterable[int]) -> None:
        """faust assigned this worker these partitions (of the co-partitioned topics)."""
        self._owned = frozenset(partitions)
        self._changed.set()

    async def on_revoked(self, partitions: Iterable[int]) -> None:
        """faust is taking these partitions away: once the batch in hand is written and
        committed, none of them is decided here again until assigned anew."""
        async with self._writing:
            self._owned = self._owned - frozenset(partitions)
            self._changed.set()

    def _moved(self, rebalance: int) -> bool:
        """Whether the assignment may have changed since `rebalance` (a rebalance count)."""
        app = self._app
        return bool(app.should_stop or app.rebalancing or app.rebalancing_count != rebalance)

    # --- the loop ----------------------------------------------------------------------------

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._batch_size,
        )
        await consumer.start()
        self._consumer = consumer
        try:
            while not self._app.should_stop:
                try:
                    await self._follow_assignment(consumer)
                except KafkaError as exc:
                    # The broker went away while the new partitions were being positioned:
                    # read none until it answers, then position them all again.
                    log.warning("decider: partitions not positioned (%s); retrying", exc)
                    consumer.assign([])
                    self._reading = frozenset()
                    await asyncio.sleep(1.0)
                    continue
                if not self._reading:
                    await self._idle()
                    continue
                rebalance = self._app.rebalancing_count
                fetched = await consumer.getmany(
                    timeout_ms=int(IDLE_WAIT_S * 1000), max_records=self._batch_size
                )
                if fetched:
                    await self._decide_fetched(consumer, fetched, rebalance)
        finally:
            self._consumer = None
            await consumer.stop()

    async def _idle(self) -> None:
        self._changed.clear()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), IDLE_WAIT_S)

    async def _decide_fetched(
        self,
        consumer: AIOKafkaConsumer,
        fetched: dict[TopicPartition, list[ConsumerRecord]],
        rebalance: int,
    ) -> None:
        records = [record for batch in fetched.values() for record in batch]
        if not self._moved(rebalance) and fetched.keys() <= self._assigned_tps(self._reading):

            @asynccontextmanager
            async def hold() -> AsyncIterator[bool]:
                async with self._writing:
                    ours = not self._moved(rebalance)
                    yield ours
                    if ours:  # written: flushed and committed before anyone else holds on
                        await self._commit(consumer, fetched)

            if await self._decide(records, hold):
                return
        # Not decided: read these records again, under whatever assignment comes next.
        for tp, batch in fetched.items():
            if tp in consumer.assignment():
                consumer.seek(tp, batch[0].offset)

    async def _commit(
        self, consumer: AIOKafkaConsumer, fetched: dict[TopicPartition, list[ConsumerRecord]]
    ) -> None:
        """Flush the batch's decisions, then commit its offsets (the caller holds `_writing`)."""
        try:
            await self._flush()
            offsets = {tp: batch[-1].offset + 1 for tp, batch in fetched.items()}
            await consumer.commit(offsets)
            self._next.update(offsets)
        except KafkaError as exc:
            # The next owner decides these requests again, the same way (at-least-once).
            log.warning("decider: offsets not committed (%s); they are decided again", exc)

    def _assigned_tps(self, partitions: Iterable[int]) -> set[TopicPartition]:
        return {TopicPartition(self._topic, partition) for partition in partitions}

    async def _follow_assignment(self, consumer: AIOKafkaConsumer) -> None:
        """Read the owned partitions whose tables are restored; start each new one where the
        decided group committed, else where faust's group did, else at the log's start."""
        ready = frozenset(p for p in self._owned if self._is_restored(p))
        if ready == self._reading:
            return
        added = ready - self._reading
        tps = self._assigned_tps(ready)
        consumer.assign(sorted(tps, key=lambda tp: tp.partition))
        self._reading = ready
        if not added:
            return
        missing = []
        for partition in sorted(added):
            if await consumer.committed(TopicPartition(self._topic, partition)) is None:
                missing.append((self._topic, partition))
        if missing:
            for (topic, partition), offset in (await self._earlier_offsets(missing)).items():
                consumer.seek(TopicPartition(topic, partition), offset)
        for partition in sorted(added):
            tp = TopicPartition(self._topic, partition)
            self._next[tp] = await consumer.position(tp)
        log.info("decider: deciding %s partitions %s", self._topic, sorted(ready))
