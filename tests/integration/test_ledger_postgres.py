"""The ledger on the real PostgreSQL, and the sink between the real Kafka broker and it.

One fresh database per test session (created through the `sendgate` database, dropped at the
end), so runs never see each other's rows; inside it, each test writes to its own topic names. An
unreachable broker or database fails these tests (the shared fixtures check), never skips them.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import SecretStr
from sqlalchemy import Engine, delete, func, select, text

from streams.codec import default_codec
from streams.ledger import (
    ConsumerOffset,
    LedgerItem,
    LedgerWriter,
    SendDecisionRow,
    SinkProgress,
    SuppressionChangeRow,
    ledger_consumer_group,
    make_engine,
    metadata,
    read_offsets,
    run_ledger_sink,
    upgrade,
)
from streams.records import RuleFailure, SendDecision, SuppressionChange, SuppressionEntry
from streams.settings import Settings
from streams.topics import SEND_DECISIONS, SUPPRESSION_CHANGES

pytestmark = pytest.mark.integration

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PARTITIONS = 3
DECISION_COUNT = 300
CHANGE_COUNT = 200
GARBAGE_COUNT = 2


def recipient_key(n: int) -> str:
    return hashlib.sha256(f"recipient-{n}@example.org".encode()).hexdigest()


def decision(n: int) -> SendDecision:
    deny = n % 3 == 0
    return SendDecision(
        request_id=f"req-{n}",
        account_id=f"acct-{n % 4}",
        recipient_key=recipient_key(n),
        verdict="deny" if deny else "allow",
        failures=(
            (RuleFailure(rule="list-unsubscribed", law="CAN-SPAM", explanation="Unsubscribed."),)
            if deny
            else ()
        ),
        policy_version="2025.1+abc123",
        decided_at=AT + timedelta(milliseconds=n),
        request_offset=f"send-requests/{n % PARTITIONS}/{n}",
    )


def change(n: int) -> SuppressionChange:
    entry = SuppressionEntry(
        scope="account",
        account_id=f"acct-{n % 4}",
        reason="complaint",
        since=AT,
        source=f"unsubscribe-clicks/{n % PARTITIONS}/{n}#{uuid.uuid4().hex[:8]}",
        source_event_id=f"click-{n}",
    )
    return SuppressionChange(
        recipient_key=recipient_key(n), entry=entry, outcome="added", changed_at=AT
    )


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def engine(ledger_database_url: str) -> Iterator[Engine]:
    engine = make_engine(ledger_database_url)
    yield engine
    engine.dispose()


def rows_from(engine: Engine, topic: str) -> int:
    """Ledger rows that came from one topic (tests share the session's database)."""
    with engine.connect() as connection:
        return sum(
            connection.execute(
                select(func.count()).select_from(table).where(table.c.kafka_topic == topic)
            ).scalar_one()
            for table in (SendDecisionRow.__table__, SuppressionChangeRow.__table__)
        )


def test_upgrade_is_idempotent(ledger_database_url: str, engine: Engine) -> None:
    """Upgrading an up-to-date database again changes nothing."""
    upgrade(ledger_database_url)
    upgrade(ledger_database_url)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert versions == [("0001",)]


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    """On PostgreSQL too, autogenerate finds no difference between migrations and models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_the_same_batch_twice_stores_its_rows_once(engine: Engine) -> None:
    """ON CONFLICT DO NOTHING on the coordinates: a replayed batch adds nothing."""
    decisions, changes, group = unique("decisions"), unique("changes"), unique("group")
    items = [LedgerItem(decisions, n % PARTITIONS, n, decision(n)) for n in range(30)]
    items += [LedgerItem(changes, n % PARTITIONS, n, change(n)) for n in range(20)]
    writer = LedgerWriter(engine)

    assert writer.write_batch(group, items) == 50
    assert writer.write_batch(group, items) == 0

    assert rows_from(engine, decisions) == 30
    assert rows_from(engine, changes) == 20
    assert read_offsets(engine, group) == {
        (decisions, 0): 28,
        (decisions, 1): 29,
        (decisions, 2): 30,
        (changes, 0): 19,
        (changes, 1): 20,
        (changes, 2): 18,
    }
    with engine.connect() as connection:
        decided_at = connection.execute(
            select(SendDecisionRow.decided_at).where(
                SendDecisionRow.kafka_topic == decisions, SendDecisionRow.kafka_offset == 5
            )
        ).scalar_one()
    assert decided_at == decision(5).decided_at
    assert decided_at.tzinfo is UTC


def test_write_batch_takes_large_batches(engine: Engine) -> None:
    """Batches of 2000 go in whole (multi-row inserts); speed is for benchmarks, not tests."""
    topic, group = unique("throughput"), unique("group")
    records = [decision(n) for n in range(2000)]
    batches = [
        [LedgerItem(topic, 0, start + n, record) for n, record in enumerate(records)]
        for start in range(0, 10_000, 2000)
    ]
    writer = LedgerWriter(engine)

    inserted = sum(writer.write_batch(group, batch) for batch in batches)

    assert inserted == 10_000


async def create_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1) for name in names]
        )
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def produce(settings: Settings) -> None:
    """The decisions, the suppression changes, and a few values no codec can read."""
    codec = default_codec()
    decisions = settings.topic(SEND_DECISIONS.name)
    changes = settings.topic(SUPPRESSION_CHANGES.name)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        sends = [
            await producer.send(decisions, codec.encode(record), key=record.recipient_key.encode())
            for record in map(decision, range(DECISION_COUNT))
        ]
        sends += [
            await producer.send(changes, codec.encode(record), key=record.recipient_key.encode())
            for record in map(change, range(CHANGE_COUNT))
        ]
        sends += [
            await producer.send(decisions, b"not avro", key=b"garbage")
            for _ in range(GARBAGE_COUNT)
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def test_sink_copies_topics_once_and_replays_without_duplicates(
    kafka_bootstrap: str, ledger_database_url: str, engine: Engine
) -> None:
    """Caught up, run again, then replayed from scratch: the ledger holds each record once."""
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        database_url=SecretStr(ledger_database_url),
    )
    decisions = settings.topic(SEND_DECISIONS.name)
    changes = settings.topic(SUPPRESSION_CHANGES.name)
    group = ledger_consumer_group(settings)
    await create_topics(kafka_bootstrap, [decisions, changes])
    try:
        await produce(settings)
        progress: list[SinkProgress] = []

        first = await run_ledger_sink(settings, on_progress=progress.append, idle_exit_s=3)

        assert first.records_read == DECISION_COUNT + CHANGE_COUNT + GARBAGE_COUNT
        assert first.rows_inserted == DECISION_COUNT + CHANGE_COUNT
        assert first.undecodable == GARBAGE_COUNT
        assert progress[-1] == first
        assert rows_from(engine, decisions) == DECISION_COUNT
        assert rows_from(engine, changes) == CHANGE_COUNT
        offsets = read_offsets(engine, group)
        assert set(offsets) == {(t, p) for t in (decisions, changes) for p in range(PARTITIONS)}
        assert sum(offsets[decisions, p] for p in range(PARTITIONS)) == (
            DECISION_COUNT + GARBAGE_COUNT
        )
        assert sum(offsets[changes, p] for p in range(PARTITIONS)) == CHANGE_COUNT

        again = await run_ledger_sink(settings, idle_exit_s=2)

        assert again == SinkProgress()
        assert read_offsets(engine, group) == offsets

        with engine.begin() as connection:
            connection.execute(delete(ConsumerOffset).where(ConsumerOffset.consumer_group == group))
        replay = await run_ledger_sink(settings, idle_exit_s=3)

        assert replay.records_read == first.records_read
        assert replay.rows_inserted == 0
        assert rows_from(engine, decisions) == DECISION_COUNT
        assert rows_from(engine, changes) == CHANGE_COUNT
        assert read_offsets(engine, group) == offsets
    finally:
        await delete_topics(kafka_bootstrap, [decisions, changes])


async def test_sink_stops_when_asked(kafka_bootstrap: str, ledger_database_url: str) -> None:
    """With no idle limit, setting `stop` ends the run within a fetch timeout."""
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        database_url=SecretStr(ledger_database_url),
    )
    names = [settings.topic(SEND_DECISIONS.name), settings.topic(SUPPRESSION_CHANGES.name)]
    await create_topics(kafka_bootstrap, names)
    try:
        stop = asyncio.Event()
        sink = asyncio.create_task(run_ledger_sink(settings, stop=stop))
        await asyncio.sleep(2)
        assert not sink.done()
        stop.set()
        assert await asyncio.wait_for(sink, timeout=10) == SinkProgress()
    finally:
        await delete_topics(kafka_bootstrap, names)
