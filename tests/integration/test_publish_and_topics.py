"""Topics and publishing against the real broker: keys, partitions and all-or-nothing files.

Uses the `settings` fixture of `conftest.py`: a topic prefix of its own per test, so the topics
made here are this test's alone; they are deleted afterwards. An unreachable broker fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from typer.testing import CliRunner

from streams.cli import app
from streams.cli.publish import validate_file
from streams.core.errors import InputFileError
from streams.core.recipient import RecipientKeyer
from streams.core.records import SendRequest, UnsubscribeClick
from streams.core.settings import PROJECT_ROOT, Settings
from streams.edges.admin import (
    CREATED,
    EXISTS,
    check_broker,
    create_topics,
    delete_topics,
    describe_topics,
    is_problem,
)
from streams.edges.producer import SendgateProducer
from streams.edges.rows import unsubscribe_from_row
from streams.topics import SEND_REQUESTS, TOPICS, UNSUBSCRIBE_CLICKS, TopicSpec, default_codec
from tests.support.personal_data.collected import SESSION

pytestmark = pytest.mark.integration


def java_murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2`, written from the Java source, as a signed 32-bit int."""
    seed, m, r = 0x9747B28C, 0x5BD1E995, 24
    length = len(data)
    h = (seed ^ length) & 0xFFFFFFFF
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[whole:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_default_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's Java producer picks for a keyed record (`toPositive(murmur2) % n`)."""
    return (java_murmur2(key) & 0x7FFFFFFF) % partitions


def test_reference_murmur2_matches_kafka() -> None:
    """The reference hash reproduces the Java client's values (as pinned by Akka's tests)."""
    expected = {
        b"1": -1993445489,
        b"12": 126087238,
        b"123": -267702483,
        b"1234": -1614185708,
        b"12345": -1188365604,
    }
    assert {data: java_murmur2(data) for data in expected} == expected


@pytest.fixture
def topics(settings: Settings) -> Iterator[Settings]:
    """The catalogue's topics under this test's prefix; deleted afterwards."""
    asyncio.run(check_broker(settings, timeout_s=10))
    statuses = asyncio.run(create_topics(settings))
    assert set(statuses.values()) == {CREATED}, statuses
    yield settings
    asyncio.run(delete_topics(settings, TOPICS))


def _request_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "request_id": f"req-{n:04d}",
            "account_id": "acct-1",
            "list_id": "weekly",
            # Forty people, several requests each, spelled with varying case.
            "recipient": f"Person{n % 40}@Example.com" if n % 2 else f"person{n % 40}@example.com",
            "classification": "commercial",
            "from_address": "news@example.org",
            "subject": f"Issue {n}",
            "requested_at": "2025-02-28T09:00:00+01:00",
        }
        for n in range(count)
    ]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


async def _consume(
    settings: Settings, spec: TopicSpec, expected: int, timeout_s: float = 30.0
) -> list[ConsumerRecord]:
    """Read a topic from the beginning until `expected` records came (or time ran out)."""
    consumer = AIOKafkaConsumer(
        spec.full_name(settings),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    try:
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def _end_offsets(settings: Settings, spec: TopicSpec) -> dict[int, int]:
    """Partition -> end offset: how many records each partition ever received."""
    topic = spec.full_name(settings)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        offsets = await consumer.end_offsets(partitions)
        return {tp.partition: offset for tp, offset in offsets.items()}
    finally:
        await consumer.stop()


def test_create_topics_is_idempotent_and_checks_partitions(settings: Settings) -> None:
    """Second run says "exists"; another partition count is a problem; policies are set."""
    asyncio.run(check_broker(settings, timeout_s=10))
    try:
        first = asyncio.run(create_topics(settings))
        assert list(first) == [spec.full_name(settings) for spec in TOPICS]
        assert set(first.values()) == {CREATED}
        assert set(asyncio.run(create_topics(settings)).values()) == {EXISTS}
        other_count = asyncio.run(create_topics(settings, partitions=settings.topic_partitions + 1))
        assert all(is_problem(status) for status in other_count.values())
        assert "partitions" in next(iter(other_count.values()))

        infos = {info.spec.name: info for info in asyncio.run(describe_topics(settings))}
        assert {info.partitions for info in infos.values()} == {settings.topic_partitions}
        assert infos["send-requests"].cleanup_policy == "delete"
        assert infos["sendgate-suppressions-changelog"].cleanup_policy == "compact"
    finally:
        asyncio.run(delete_topics(settings, TOPICS))


def test_cli_topics_create_and_list(settings: Settings) -> None:
    """`topics create` then `topics list` through the CLI, on this test's prefix."""
    try:
        created = CliRunner().invoke(app, ["topics", "create"], obj=settings)
        assert created.exit_code == 0, created.output
        assert created.output.count(CREATED) == len(TOPICS)
        listed = CliRunner().invoke(app, ["topics", "list"], obj=settings)
        assert listed.exit_code == 0, listed.output
        assert "compact" in listed.output
        assert "missing" not in listed.output
    finally:
        asyncio.run(delete_topics(settings, TOPICS))


def test_published_file_arrives_keyed_by_recipient_key(topics: Settings, tmp_path: Path) -> None:
    """200 rows -> 200 records, keyed by hash (no address), on Kafka's default partition."""
    settings = topics
    rows = _request_rows(200)
    path = _write_jsonl(tmp_path / "requests.jsonl", rows)

    result = CliRunner().invoke(app, ["publish", "send-requests", str(path)], obj=settings)
    assert result.exit_code == 0, result.output
    assert "published 200 send requests" in result.stdout

    received = asyncio.run(_consume(settings, SEND_REQUESTS, expected=200))
    assert len(received) == 200
    assert sum(asyncio.run(_end_offsets(settings, SEND_REQUESTS)).values()) == 200

    keyer = RecipientKeyer(settings.recipient_secret())
    codec = default_codec()
    expected = {record.request_id: record for record in validate_file(path, "send-requests")}
    for message in received:
        request = codec.decode(message.value, SendRequest)
        assert request == expected[request.request_id]
        assert message.key == keyer.key(request.recipient).encode("ascii")
        assert b"@" not in message.key and b"example" not in message.key
        assert message.partition == java_default_partition(message.key, settings.topic_partitions)
    assert {codec.decode(m.value, SendRequest).request_id for m in received} == set(expected)
    # One person's requests share one key whatever the spelling, so they share a partition.
    assert len({message.key for message in received}) == 40


def test_file_with_one_bad_row_publishes_nothing(topics: Settings, tmp_path: Path) -> None:
    """A naive time on line 150 refuses the whole file: no partition receives a record."""
    settings = topics
    rows = _request_rows(200)
    rows[149]["requested_at"] = "2025-02-28T09:00:00"
    path = _write_jsonl(tmp_path / "requests.jsonl", rows)

    result = CliRunner().invoke(app, ["publish", "send-requests", str(path)], obj=settings)
    assert result.exit_code != 0
    assert isinstance(result.exception, InputFileError)
    assert (result.exception.line, result.exception.field) == (150, "requested_at")
    assert set(asyncio.run(_end_offsets(settings, SEND_REQUESTS)).values()) == {0}


async def test_producer_publishes_clicks_and_requests_to_their_topics(
    topics: Settings,
) -> None:
    """publish_many routes each record to its topic with its key, and counts the acks."""
    settings = topics
    keyer = RecipientKeyer(settings.recipient_secret())
    click = unsubscribe_from_row(
        {
            "recipient": "jo@example.com",
            "scope": "account",
            "account_id": "acct-1",
            "method": "link",
            "clicked_at": "2025-02-28T10:00:00Z",
        },
        keyer,
    )
    requests = [SendRequest.model_validate(row) for row in _request_rows(5)]
    progress: list[int] = []
    async with SendgateProducer(settings) as producer:
        counts = await producer.publish_many([click, *requests], on_progress=progress.append)
        single = await producer.publish_unsubscribe(click)
    assert counts.total == 6 == sum(progress)
    assert counts.by_topic == {
        UNSUBSCRIBE_CLICKS.full_name(settings): 1,
        SEND_REQUESTS.full_name(settings): 5,
    }
    assert single.topic == UNSUBSCRIBE_CLICKS.full_name(settings)

    clicks = await _consume(settings, UNSUBSCRIBE_CLICKS, expected=2)
    assert [message.key for message in clicks] == [keyer.key("jo@example.com").encode()] * 2
    assert {default_codec().decode(m.value, UnsubscribeClick) for m in clicks} == {click}


def test_topics_create_fails_fast_on_unreachable_broker() -> None:
    """Nothing listens on port 1: exit 2 within 15 s, one clear line, no traceback."""
    env = {**os.environ, "SENDGATE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "streams", "topics", "create"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    SESSION.add_command_errors(completed.stderr)
    assert time.monotonic() - started < 15
    assert completed.returncode == 2
    assert "Kafka broker at 127.0.0.1:1 is not reachable" in completed.stderr
    assert "scripts/services start" in completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
