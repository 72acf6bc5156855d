"""State every gate worker must see whole, and its fence.

Some state is about a sending account, not a person: the account's verified sending domains and
its standing (strikes, disabled broadcasts, provider pauses, transactional suspension,
termination). Decisions are spread over the workers by recipient, so every worker must hold all of
it, whichever partitions it was assigned.

**Why not faust's GlobalTable.** A GlobalTable written by an agent on one worker does not reliably
reach the others (robinhood/faust#541, #716; faust-streaming#283): a worker that holds a changelog
partition as *active* pauses it after recovery and never resumes it. With two workers over six
partitions, an account struck by Gmail complaints still had 286 to 312 of 600 broadcasts allowed,
all by the one worker, 35 s later. `synchronize_all_active_partitions=True` mends the standby side,
but even a GlobalTable that arrives cannot be *fenced*: its changelog is written one hop after the
enforcement event, by whichever worker owns the event's partition, so "the event was acknowledged"
says nothing about when any worker's copy has it.

**What every worker does instead.** One consumer outside any group (`BroadcastState`) is assigned
every partition of the broadcast topics (`sender-domains`, `enforcement-events`), reads them from
the beginning for as long as the worker runs, and keeps the latest value per key of each
(`TopicCopy`; each record carries the whole state of its key, so no earlier value is needed).

**The fence.** Before deciding a batch, the gate calls `current()`: one ListOffsets of every
broadcast partition, then a wait until this worker's copies have read up to those offsets. The
ListOffsets goes through a client that never fetches (the clicks fence's, `streams.gate.fence`): the
broker answers a connection's requests in order, so asked on the copies' own connection it would
wait behind their long-polling fetch, up to half a second a batch. Every
send in the batch was already in its log, so a record acknowledged before the send was produced
lies below those offsets: once an enforcement event that disables broadcasts has been acknowledged
by Kafka, no broadcast requested afterwards is allowed on any worker. The same holds for a domain
the platform verified. If the copies cannot catch up within the timeout, the batch fails closed
(`FenceTimeoutError`), exactly like the suppression fence (`streams.gate.fence`). At start the first
batch waits for the copies to read the whole topics.

The topics must keep what the copies need: `sender-domains` is compacted (the latest set per
account is all that counts) and `enforcement-events` is kept for ever (`streams.topics`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streams.core.errors import CodecError, InvalidRecordError
from streams.gate.fence import FenceTimeoutError, OffsetSource

__all__ = ["BroadcastState", "TopicCopy"]

V = TypeVar("V")
log = logging.getLogger(__name__)

POLL_MS = 100
RETRY_S = 1.0


class TopicCopy(Generic[V]):
    """The latest value of each key of `topic`, as `read` makes it of a record's key and bytes.

    `read` returns None for a record that changes nothing for the gate (a fine carries no account
    status) and raises `CodecError` or `InvalidRecordError` for one nobody can use (the topic's
    agent dead-letters those; here they change nothing).
    """

    def __init__(self, topic: str, read: Callable[[bytes, bytes], V | None]) -> None:
        self.topic = topic
        self._read = read
        self._values: dict[bytes, V] = {}

    def get(self, key: bytes) -> V | None:
        return self._values.get(key)

    def __len__(self) -> int:
        return len(self._values)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None or value is None:
            return
        try:
            read = self._read(key, value)
        except (CodecError, InvalidRecordError) as exc:
            log.warning("%s: a record the copy cannot use is left out: %s", self.topic, exc)
            return
        if read is not None:
            self._values[key] = read


class BroadcastState:
    """Keeps every `TopicCopy` current with one consumer, and tells the gate when they are."""

    def __init__(
        self,
        bootstrap_servers: str,
        partitions: int,
        copies: Sequence[TopicCopy[Any]],
        *,
        offsets: OffsetSource,
        timeout_s: float,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._offsets = offsets
        self._copies = {copy.topic: copy for copy in copies}
        self._tps = [TopicPartition(topic, p) for topic in self._copies for p in range(partitions)]
        self._timeout_s = timeout_s
        self._consumer: AIOKafkaConsumer | None = None
        self._read_to: dict[TopicPartition, int] = {}
        self._change: asyncio.Future[None] | None = None

    async def run(self) -> None:
        """Read the topics until cancelled; a broker hiccup starts the reading over."""
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                # A consumer outside a group learns no topic's metadata until it is assigned one;
                # every topic has the settings' partition count (streams.topics).
                consumer.assign(self._tps)
                await consumer.seek_to_beginning(*self._tps)
                self._read_to = {}
                self._consumer = consumer
                while True:
                    batches = await consumer.getmany(timeout_ms=POLL_MS)
                    for tp, records in batches.items():
                        copy = self._copies[tp.topic]
                        for record in records:
                            copy.apply(record.key, record.value)
                        if records:
                            self._read_to[tp] = records[-1].offset + 1
                    self._notify()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the copies are idempotent: read them again
                log.warning("broadcast state: reading failed, starting over: %s", exc)
                await asyncio.sleep(RETRY_S)
            finally:
                self._consumer = None
                await consumer.stop()

    async def current(self) -> Mapping[tuple[str, int], int]:
        """Return once every copy holds everything acknowledged before this call (the offsets it
        reached); `FenceTimeoutError` if that cannot be confirmed in time."""
        try:
            return await asyncio.wait_for(self._reach_ends(), timeout=self._timeout_s)
        except (TimeoutError, KafkaError) as exc:
            raise FenceTimeoutError(
                f"the broadcast state ({', '.join(self._copies)}) could not be read up to the "
                f"fence within {self._timeout_s}s ({type(exc).__name__})"
            ) from None

    async def _reach_ends(self) -> Mapping[tuple[str, int], int]:
        asked = await self._offsets.end_offsets_of((tp.topic, tp.partition) for tp in self._tps)
        ends = {TopicPartition(topic, partition): end for (topic, partition), end in asked.items()}
        while self._consumer is None:
            await self._changed()
        consumer = self._consumer
        while True:
            lagging = [tp for tp, end in ends.items() if self._read_to.get(tp, -1) < end]
            for tp in lagging:
                # Nothing left to read below the end (an empty or compacted-away stretch): the
                # consumer's position says so even when no record came.
                position = await consumer.position(tp)
                if position > self._read_to.get(tp, -1):
                    self._read_to[tp] = position
            if all(self._read_to.get(tp, -1) >= end for tp, end in ends.items()):
                return asked
            await self._changed()
            while self._consumer is None:  # starting over: wait for the new reader
                await self._changed()
            consumer = self._consumer

    async def _changed(self) -> None:
        if self._change is None:
            self._change = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._change)

    def _notify(self) -> None:
        if self._change is not None and not self._change.done():
            self._change.set_result(None)
        self._change = None
