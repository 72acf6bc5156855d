"""Reading the run's topics without joining a group: following topics from their end, reading a
range, counting records and a group's committed offsets, and timing an output topic.

Throughput is measured the same way for every contender: from the CreateTime timestamps of the
records it wrote to its output topic, `count / (last - first)` (`topic_window`). The producer
stamps a record when the processing code hands it over, so the figure covers the steady state of
consume, process and produce, and leaves out start-up (group join, table restore) that differs
between contenders.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from harness.errors import BenchError
from harness.report import progress_bar
from harness.system import CpuMeter
from harness.workers import WorkerProcess
from streams.core.records import SendDecision
from streams.core.settings import Settings
from streams.topics import SEND_DECISIONS, default_codec

__all__ = [
    "DecisionTimeline",
    "OffsetWatcher",
    "TopicWindow",
    "follow_decisions",
    "follow_from_end",
    "read_topic",
    "topic_partitions",
    "topic_window",
    "wait_until_consumed",
]


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """A topic's partitions, asking the broker if the consumer has no metadata for it yet."""
    found = consumer.partitions_for_topic(topic)
    if not found:
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
    if not found:
        raise BenchError(f"topic {topic} has no partitions (does it exist?)")
    return [TopicPartition(topic, partition) for partition in sorted(found)]


async def follow_from_end(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> None:
    """Assign a started consumer every partition of `topics`, positioned at their current end:
    it reads what is written from now on, and nothing written before."""
    tps: list[TopicPartition] = []
    for topic in topics:
        tps += await topic_partitions(consumer, topic)
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)  # resolve now, so nothing later slips past


@dataclass
class DecisionTimeline:
    """When this process read decisions of each partition (monotonic seconds), and, when asked
    for, the decisions themselves by request id (a request may have several: at-least-once)."""

    reads: dict[int, list[float]] = field(default_factory=dict)
    by_request: dict[str, list[SendDecision]] | None = None

    def longest_gap(self, partition: int, start: float, end: float) -> float:
        """The longest stretch from `start` to `end` in which no decision of the partition was
        read: how long it went undecided."""
        times = [t for t in self.reads.get(partition, []) if start <= t <= end]
        return max(b - a for a, b in pairwise([start, *times, end]))


async def follow_decisions(
    settings: Settings, timeline: DecisionTimeline, stop: asyncio.Event
) -> None:
    """Read `send-decisions` from its start until `stop`, noting when each partition's arrived
    (and decoding them into `timeline.by_request` if it keeps them)."""
    codec = default_codec()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, SEND_DECISIONS.full_name(settings))
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=50)
            now = time.monotonic()
            for tp, records in batches.items():
                if records:
                    timeline.reads.setdefault(tp.partition, []).append(now)
                if timeline.by_request is not None:
                    for record in records:
                        decision = codec.decode(record.value, SendDecision)
                        timeline.by_request.setdefault(decision.request_id, []).append(decision)
    finally:
        await consumer.stop()


class OffsetWatcher:
    """Counts records on topics (sum of end offsets) and reads groups' committed offsets, without
    joining any consumer group."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def __aenter__(self) -> OffsetWatcher:
        await asyncio.wait_for(self._consumer.start(), 15)
        await asyncio.wait_for(self._admin.start(), 15)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        """The group's committed offset per partition of `topic` (0 where none)."""
        tps = await self.partitions(topic)
        found = await asyncio.wait_for(
            self._admin.list_consumer_group_offsets(group, partitions=tps), 30
        )
        return {
            tp.partition: max(found[tp].offset, 0) if found.get(tp) is not None else 0 for tp in tps
        }

    async def lag(self, group: str, topic: str) -> int:
        """Records of `topic` the group has not committed yet."""
        ends = await self.end_offsets(topic)
        committed = await self.committed(group, topic)
        return sum(max(end - committed.get(partition, 0), 0) for partition, end in ends.items())

    async def partitions(self, topic: str) -> list[TopicPartition]:
        if topic not in self._partitions:
            self._partitions[topic] = await topic_partitions(self._consumer, topic)
        return self._partitions[topic]

    async def end_offsets(self, topic: str) -> dict[int, int]:
        ends = await self._consumer.end_offsets(await self.partitions(topic))
        return {tp.partition: offset for tp, offset in ends.items()}

    async def count(self, topic: str) -> int:
        return sum((await self.end_offsets(topic)).values())

    async def wait_for_count(
        self,
        topic: str,
        target: int,
        *,
        timeout_s: float,
        what: str,
        worker: WorkerProcess | None = None,
        baseline: int = 0,
        consumed_by: tuple[str, str] | None = None,
        meter: CpuMeter | None = None,
    ) -> dict[str, float]:
        """Poll until `topic` holds `baseline + target` records, with a progress bar.

        With `consumed_by=(group, input_topic)` also wait until the group has committed every
        record of its input: a worker may write some records twice (at-least-once), so a count
        alone can be reached before the last input record is done.

        With a `meter`, returns each metered process's CPU share (1.0 = one core) from the first
        poll that saw output to the one that saw the target reached.
        """
        deadline = time.monotonic() + timeout_s
        started = time.monotonic()
        lag = 0
        first_output: int | None = None
        reached: int | None = None
        with progress_bar() as progress:
            task = progress.add_task(what, total=target, rate="")
            while True:
                done = await self.count(topic) - baseline
                if meter is not None:
                    meter.sample()
                    if done > 0 and first_output is None:
                        first_output = len(meter.samples) - 1
                    if done >= target and reached is None:
                        reached = len(meter.samples) - 1
                rate = done / max(time.monotonic() - started, 1e-9)
                progress.update(task, completed=min(done, target), rate=f"{rate:,.0f}/s")
                if done >= target:
                    lag = await self.lag(*consumed_by) if consumed_by else 0
                    if lag == 0:
                        if meter is None or first_output is None or reached == first_output:
                            return {}
                        return meter.share(first_output, reached)
                if worker is not None:
                    worker.check_alive()
                if time.monotonic() > deadline:
                    waiting_for = (
                        f"{consumed_by[0]} still has {lag:,} records of {consumed_by[1]} to commit"
                        if done >= target and consumed_by
                        else f"only {done:,} of {target:,} records on {topic}"
                    )
                    raise BenchError(
                        f"{what}: {waiting_for} after {timeout_s:.0f}s"
                        + (f"; last lines of {worker.log_path}:\n{worker.tail()}" if worker else "")
                    )
                await asyncio.sleep(0.5)


async def wait_until_consumed(
    watcher: OffsetWatcher,
    group: str,
    topic: str,
    *,
    timeout_s: float,
    what: str,
    worker: WorkerProcess,
) -> None:
    """Poll until `group` has committed every record of `topic`, with a progress bar.

    For an input with no output topic to count (the consent keeper writes only its table), the
    group's committed offsets are the sign that the records were applied, as with
    `wait_for_count(consumed_by=...)`.
    """
    total = await watcher.count(topic)
    deadline = time.monotonic() + timeout_s
    started = time.monotonic()
    with progress_bar() as progress:
        task = progress.add_task(what, total=total, rate="")
        while True:
            lag = await watcher.lag(group, topic)
            done = total - lag
            rate = done / max(time.monotonic() - started, 1e-9)
            progress.update(task, completed=done, rate=f"{rate:,.0f}/s")
            if lag == 0:
                return
            worker.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{what}: {group} still has {lag:,} records of {topic} to commit after "
                    f"{timeout_s:.0f}s; last lines of {worker.log_path}:\n{worker.tail()}"
                )
            await asyncio.sleep(0.5)


@dataclass(frozen=True)
class TopicWindow:
    """A topic's records between two offsets per partition, and their timestamp span."""

    records: int
    first_ms: int
    last_ms: int

    @property
    def seconds(self) -> float:
        return (self.last_ms - self.first_ms) / 1000

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")


async def read_topic(
    bootstrap: str,
    topic: str,
    start: dict[int, int] | None = None,
    end: dict[int, int] | None = None,
    *,
    timeout_s: float = 300.0,
) -> list[tuple[int, bytes | None, bytes | None, int]]:
    """(partition, key, value, timestamp ms) of every record from `start` up to `end`.

    Defaults: from the beginning to the end offsets at the time of the call. Read without a group.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await asyncio.wait_for(consumer.start(), 15)
    rows: list[tuple[int, bytes | None, bytes | None, int]] = []
    try:
        tps = await topic_partitions(consumer, topic)
        if end is None:
            end = {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
        start = start or {}
        wanted = [tp for tp in tps if end.get(tp.partition, 0) > start.get(tp.partition, 0)]
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, start.get(tp.partition, 0))
        remaining = {tp.partition for tp in wanted}
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"reading {topic}: partitions {sorted(remaining)} not read in time"
                )
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for tp, messages in batches.items():
                stop = end[tp.partition]
                for message in messages:
                    if message.offset < stop:
                        rows.append((tp.partition, message.key, message.value, message.timestamp))
                if messages and messages[-1].offset >= stop - 1:
                    remaining.discard(tp.partition)
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return rows


async def topic_window(
    bootstrap: str,
    topic: str,
    start: dict[int, int] | None = None,
    end: dict[int, int] | None = None,
) -> TopicWindow:
    """The records in a range and the span of their timestamps, from each partition's first and
    last record in the range (CreateTime stamps rise within a partition)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await asyncio.wait_for(consumer.start(), 15)
    try:
        tps = await topic_partitions(consumer, topic)
        if end is None:
            end = {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
        start = start or {}
        records = sum(end[tp.partition] - start.get(tp.partition, 0) for tp in tps)
        stamps: list[int] = []
        for tp in tps:
            first, stop = start.get(tp.partition, 0), end[tp.partition]
            if stop <= first:
                continue
            for offset in sorted({first, stop - 1}):
                stamps.append(await _timestamp_at(consumer, tp, offset))
        if not stamps:
            raise BenchError(f"{topic} has no records in the range")
        return TopicWindow(records=records, first_ms=min(stamps), last_ms=max(stamps))
    finally:
        await consumer.stop()


async def _timestamp_at(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> int:
    consumer.assign([tp])
    consumer.seek(tp, offset)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        batches = await consumer.getmany(tp, timeout_ms=1000, max_records=1)
        for message in batches.get(tp, []):
            if message.offset == offset:
                return message.timestamp
    raise BenchError(f"could not read {tp.topic}/{tp.partition} at offset {offset}")
