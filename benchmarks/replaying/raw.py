"""What reading alone costs: both topics a replay reads, consumed as plainly as aiokafka can.

No consumer group, manual assignment, read-committed and the same fetch size as the replay's
reader (`streams.replay.reading`), each value decoded with our codec into its record type, and
nothing else: no pairing, no second decoding of a decision's inputs, no deciding. One consumer
reads every partition of a topic at once (the replay reads one partition at a time), so this
is the fastest a replay could read, not a copy of how it does.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from harness.consuming import topic_partitions
from harness.errors import BenchError
from harness.report import progress_bar

from streams.core.codec import Codec
from streams.core.records import Record, SendDecision, SendRequest
from streams.core.settings import Settings
from streams.topics import SEND_DECISIONS, SEND_REQUESTS, default_codec

__all__ = ["RawRead", "raw_read"]

_MAX_FETCH_BYTES = 8 * 1024 * 1024
"""The replay reader's fetch size, so both ask the broker for the same batches."""


@dataclass(frozen=True)
class RawRead:
    """Records read and decoded from both topics, and the seconds from the first consumer's
    start to the last record decoded."""

    requests: int
    decisions: int
    seconds: float

    @property
    def records(self) -> int:
        return self.requests + self.decisions

    @property
    def per_second(self) -> float:
        """Decisions per second, with their requests read too: the unit a replay is counted in,
        so the two rates divide into what the replay adds to the read."""
        return self.decisions / self.seconds if self.seconds > 0 else float("nan")

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("nan")


async def raw_read(settings: Settings, *, timeout_s: float) -> RawRead:
    """Read and decode every record of send-requests, then of send-decisions."""
    codec = default_codec()
    started = time.perf_counter()
    try:
        requests = await asyncio.wait_for(
            _read_decoding(settings, SEND_REQUESTS.full_name(settings), SendRequest, codec),
            timeout_s,
        )
        decisions = await asyncio.wait_for(
            _read_decoding(settings, SEND_DECISIONS.full_name(settings), SendDecision, codec),
            timeout_s,
        )
    except TimeoutError:
        raise BenchError(f"raw read: not done after {timeout_s:.0f}s") from None
    return RawRead(requests, decisions, time.perf_counter() - started)


async def _read_decoding(
    settings: Settings, topic: str, record_type: type[Record], codec: Codec
) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="bench-raw-read",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        fetch_max_bytes=_MAX_FETCH_BYTES,
    )
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, starts[tp])
        pending = {tp for tp in tps if ends[tp] > starts[tp]}
        total = sum(ends[tp] - starts[tp] for tp in tps)
        decoded = 0
        with progress_bar() as progress:
            task = progress.add_task(f"raw read {topic}", total=total, rate="")
            while pending:
                fetched = await consumer.getmany(*pending, timeout_ms=500)
                for messages in fetched.values():
                    for message in messages:
                        codec.decode(message.value or b"", record_type)
                    decoded += len(messages)
                for tp in list(pending):
                    # Past transaction markers too, which take offsets but are no records.
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
                progress.update(task, completed=min(decoded, total))
        return decoded
    finally:
        await consumer.stop()
