"""Reading a dead-letters topic before it is deleted: the reasons, agents and kinds the workers
wrote, as outputs to scan.

The workers are other processes, so what they dead-lettered is only known from the topic, and
the tests delete their topics when they end (those left are read when the session ends). The
record's `original_value` is left out: it holds the input's bytes on purpose, so that an
operator can replay them.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.core.errors import CodecError
from streams.core.records import DeadLetter
from streams.topics import default_codec
from tests.support.personal_data.scanner import Output

__all__ = ["DEAD_LETTERS_SUFFIX", "is_dead_letters_topic", "read_dead_letters"]

DEAD_LETTERS_SUFFIX = "dead-letters"


def is_dead_letters_topic(name: str) -> bool:
    return name.endswith(DEAD_LETTERS_SUFFIX)


async def read_dead_letters(bootstrap: str, topic: str, *, budget_s: float) -> list[Output]:
    """Every dead letter on `topic`, as one output each; TimeoutError past `budget_s`."""
    return await asyncio.wait_for(_read(bootstrap, topic), budget_s)


async def _read(bootstrap: str, topic: str) -> list[Output]:
    partitions = [TopicPartition(topic, p) for p in await _partitions(bootstrap, topic)]
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="personal-data-scan",
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        outputs: list[Output] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batches = await consumer.getmany(*partitions, timeout_ms=500)
            for tp, messages in batches.items():
                outputs += [_output(topic, tp.partition, m.offset, m.value) for m in messages]
        return outputs
    finally:
        await consumer.stop()


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    """The topic's partitions, from the broker (a new consumer's metadata may not know it)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="personal-data-scan")
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(
        partition["partition"]
        for found in described
        if found["topic"] == topic and found["error_code"] == 0
        for partition in found["partitions"]
    )


def _output(topic: str, partition: int, offset: int, value: bytes | None) -> Output:
    source = f"topic {topic} {partition}/{offset}"
    try:
        letter = default_codec().decode(value or b"", DeadLetter)
    except CodecError:
        return Output(source, "dead letter", "(not a DeadLetter record)")
    text = (
        f"reason: {letter.reason}\nagent: {letter.agent}\nerror kind: {letter.error_kind}\n"
        f"origin: {letter.origin_topic}/{letter.origin_partition}/{letter.origin_offset}"
    )
    return Output(source, "dead letter", text)
