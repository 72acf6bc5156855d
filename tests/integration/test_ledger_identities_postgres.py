"""Scoped ledger identities on the real PostgreSQL (and broker): two accounts' consent events with
the same ids both kept, through the writer and through the sink; a true conflict dead-lettered on
the real dead-letters topic; the 0006 migration over rows written under the old constraints.

Uses the session's fresh database (`ledger_database_url`), or a scratch database for the
migration; each test has its own event ids, recipient keys and topic names, so tests sharing the
database never see each other's rows. An unreachable database or broker fails these tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import SecretStr
from sqlalchemy import Engine, MetaData, Table, delete, select, text

from streams.core.records import BounceChange, ConsentEvent, DeadLetter
from streams.core.settings import Settings
from streams.edges.ledger import (
    LEDGER_TOPICS,
    BounceChangeRow,
    ConsentEventRow,
    ConsumerOffset,
    LedgerConflict,
    LedgerItem,
    LedgerWriter,
    ledger_consumer_group,
    make_engine,
    metadata,
    read_offsets,
    run_ledger_sink,
    upgrade,
)
from streams.edges.ledger.chain import verify_chain
from streams.edges.ledger.migrate import alembic_config
from streams.edges.ledger.proof import prove_consent
from streams.edges.ledger.rows import bounce_change_row, consent_event_row
from streams.policy import load_policy
from streams.topics import CONSENT_EVENTS, DEAD_LETTERS, default_codec
from tests.support.factory import consent_event
from tests.support.postgres import scratch_database

pytestmark = pytest.mark.integration

T0 = datetime(2025, 2, 3, 8, 0, tzinfo=UTC)
PARTITIONS = 3


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def key_of(run: str, n: int = 0) -> str:
    return hashlib.sha256(f"{run}-recipient-{n}@example.org".encode()).hexdigest()


def event(key: str, event_id: str, account_id: str = "acme", **fields: Any) -> ConsentEvent:
    """A sign-up to the account's news by default, at `T0`."""
    values: dict[str, Any] = {
        "lists": ("news",),
        "ip": "203.0.113.9",
        "occurred_at": T0,
        **fields,
    }
    return consent_event(event_id=event_id, recipient_key=key, account_id=account_id, **values)


def confirm(key: str, event_id: str, account_id: str) -> ConsentEvent:
    return event(
        key,
        event_id,
        account_id,
        kind="confirm",
        source_kind="confirmation_link",
        occurred_at=T0 + timedelta(minutes=5),
    )


def bounce(key: str, event_id: str) -> BounceChange:
    return BounceChange(
        recipient_key=key,
        event_id=event_id,
        outcome="counted",
        consecutive_soft_before=0,
        consecutive_soft_after=1,
        policy="consecutive(4)",
        source="delivery-events/0/1",
        changed_at=T0,
    )


@pytest.fixture
def engine(ledger_database_url: str) -> Iterator[Engine]:
    engine = make_engine(ledger_database_url)
    yield engine
    engine.dispose()


def chain(engine: Engine, key: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(ConsentEventRow.__table__)
            .where(ConsentEventRow.recipient_key == key)
            .order_by(ConsentEventRow.chain_seq)
        ).mappings()
        return [dict(row) for row in rows]


def test_a_0005_ledger_upgrades_to_0006_with_its_rows(database_url: str) -> None:
    """Consent events and bounce changes written under the constraints on the bare event id stay;
    the schema then matches the models, takes another account's event with a stored id, and
    refuses to go back below 0006 while two accounts share an id."""
    with scratch_database(database_url) as url:
        upgrade(url, "0005")
        engine = make_engine(url)
        try:
            run, topic = unique("run"), unique("consents")
            key = key_of(run)
            old = MetaData()
            consents = Table("consent_events", old, autoload_with=engine)
            bounces = Table("bounce_changes", old, autoload_with=engine)
            with engine.begin() as connection:
                for n in range(3):
                    connection.execute(
                        consents.insert().values(
                            {
                                **consent_event_row(event(key, f"e-{n}"), topic, 0, n),
                                "chain_seq": n + 1,
                                "prev_hash": "0" * 64,
                                "entry_hash": f"{n:064x}",
                            }
                        )
                    )
                connection.execute(
                    bounces.insert().values(bounce_change_row(bounce(key, "d-1"), "bounces", 0, 0))
                )

            upgrade(url)

            with engine.connect() as connection:
                versions = connection.execute(text("SELECT version_num FROM alembic_version"))
                assert versions.all() == [("0012",)]
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, metadata) == []
                assert len(connection.execute(select(consents)).all()) == 3
                assert len(connection.execute(select(bounces)).all()) == 1
            writer = LedgerWriter(engine)
            added = writer.write_batch(
                unique("group"),
                [
                    LedgerItem(topic, 0, 3, event(key, "e-0", "globex")),
                    LedgerItem("bounces", 0, 1, bounce(key_of(run, 1), "d-1")),
                ],
            )
            assert added == 2
            with engine.begin() as connection, pytest.raises(RuntimeError, match="event id"):
                config = alembic_config()
                config.attributes["connection"] = connection
                command.downgrade(config, "0005")
        finally:
            engine.dispose()


def test_two_accounts_with_the_same_ids_and_a_conflict(engine: Engine) -> None:
    """Through the writer on PostgreSQL: acme's and globex's e-1 and e-2 for one recipient are
    all stored and chained; acme's e-1 again with another IP is a conflict, handed over with its
    reason while the batch's other rows and offsets are committed."""
    run, topic, group = unique("run"), unique("consents"), unique("group")
    key = key_of(run)
    first, second = f"{run}-e-1", f"{run}-e-2"
    conflicts: list[LedgerConflict] = []

    def collect(found: Sequence[LedgerConflict]) -> None:
        conflicts.extend(found)

    writer = LedgerWriter(engine)
    items = [
        LedgerItem(topic, 0, 0, event(key, first)),
        LedgerItem(topic, 0, 1, event(key, first, "globex")),
        LedgerItem(topic, 0, 2, confirm(key, second, "acme")),
    ]
    assert writer.write_batch(group, items, on_conflicts=collect) == 3
    later = [
        LedgerItem(topic, 0, 3, confirm(key, second, "globex")),
        LedgerItem(topic, 0, 4, event(key, first, ip="198.51.100.7")),
        LedgerItem(topic, 1, 0, event(key, first, "globex")),  # redelivered: a replay
    ]
    assert writer.write_batch(group, later, on_conflicts=collect) == 1

    [conflict] = conflicts
    assert conflict.item.offset == 4
    assert conflict.reason == (
        f"consent event acme/{first} already recorded with different content "
        f"(ip differs from the record stored from {topic}/0/0)"
    )
    rows = chain(engine, key)
    assert [(row["account_id"], row["event_id"]) for row in rows] == [
        ("acme", first),
        ("globex", first),
        ("acme", second),
        ("globex", second),
    ]
    assert verify_chain(rows).verified
    assert read_offsets(engine, group) == {(topic, 0): 5, (topic, 1): 1}
    with engine.connect() as connection:
        stored_ip = connection.execute(
            select(ConsentEventRow.ip).where(
                ConsentEventRow.account_id == "acme", ConsentEventRow.event_id == first
            )
        ).scalar_one()
    assert stored_ip == "203.0.113.9"


def test_two_recipients_keep_their_bounce_changes_with_one_event_id(engine: Engine) -> None:
    run, topic, group = unique("run"), unique("bounces"), unique("group")
    delivery = f"{run}-delivery-1"
    items = [
        LedgerItem(topic, 0, 0, bounce(key_of(run, 1), delivery)),
        LedgerItem(topic, 1, 0, bounce(key_of(run, 2), delivery)),
    ]

    assert LedgerWriter(engine).write_batch(group, items) == 2
    with engine.connect() as connection:
        stored = connection.execute(
            select(BounceChangeRow.event_id).where(BounceChangeRow.kafka_topic == topic)
        ).scalars()
        assert list(stored) == [delivery, delivery]


async def create_topics(bootstrap: str, names: list[str]) -> None:
    """Create the topics and wait until the broker serves their metadata (the sink refuses a
    topic it cannot describe)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1) for name in names]
        )
        for _ in range(100):
            described = await admin.describe_topics(names)
            if all(not topic["error_code"] and topic["partitions"] for topic in described):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"the broker did not serve the new topics {names}")
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def read_dead_letters(bootstrap: str, topic: str, expected: int) -> list[DeadLetter]:
    """Every dead letter on the topic, once `expected` of them are there (or 20 s have passed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        letters: list[DeadLetter] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while len(letters) < expected and loop.time() < deadline:
            fetched = await consumer.getmany(timeout_ms=500)
            letters += [
                default_codec().decode(message.value or b"", DeadLetter)
                for messages in fetched.values()
                for message in messages
            ]
        return letters
    finally:
        await consumer.stop()


async def test_the_sink_keeps_both_accounts_events_and_dead_letters_a_conflict(
    kafka_bootstrap: str, ledger_database_url: str, engine: Engine
) -> None:
    """From the real broker: acme and globex each send e-1 (a sign-up) and e-2 (a confirmation)
    for one recipient, then acme's e-1 comes again with another IP. Four rows, one chain that
    verifies, each account's proof with its own events; the changed e-1 on dead-letters with its
    origin, its message and the reason; every offset committed. A replay of the topic from the
    start adds no row and dead-letters the conflict again (at least once)."""
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        database_url=SecretStr(ledger_database_url),
    )
    run = unique("run")
    key = key_of(run)
    first, second = f"{run}-e-1", f"{run}-e-2"
    changed = event(key, first, ip="198.51.100.7")
    records = [
        event(key, first),
        event(key, first, "globex"),
        confirm(key, second, "acme"),
        confirm(key, second, "globex"),
        changed,
    ]
    consents = CONSENT_EVENTS.full_name(settings)
    dead_letters = DEAD_LETTERS.full_name(settings)
    names = [entry.topic.full_name(settings) for entry in LEDGER_TOPICS] + [dead_letters]
    await create_topics(kafka_bootstrap, names)
    try:
        codec = default_codec()
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            placed = [
                await producer.send_and_wait(
                    consents, codec.encode(record), key=record.recipient_key.encode()
                )
                for record in records
            ]
        finally:
            await producer.stop()
        conflict_at = placed[-1]

        totals = await run_ledger_sink(settings, idle_exit_s=3)

        assert (totals.records_read, totals.rows_inserted, totals.dead_lettered) == (5, 4, 1)
        rows = chain(engine, key)
        assert [(row["account_id"], row["event_id"]) for row in rows] == [
            ("acme", first),
            ("globex", first),
            ("acme", second),
            ("globex", second),
        ]
        assert verify_chain(rows).verified
        stored = read_offsets(engine, ledger_consumer_group(settings))
        assert stored[(consents, conflict_at.partition)] == conflict_at.offset + 1
        policy = load_policy()
        at = T0 + timedelta(days=1)
        for account in ("acme", "globex"):
            proof = prove_consent(engine, key, account, list_id="news", at=at, policy=policy)
            assert [line.stored["event_id"] for line in proof.history] == [first, second]
            assert {line.account_id for line in proof.history} == {account}
            assert proof.chain.verified
            assert proof.verdict.permitted

        [letter] = await read_dead_letters(kafka_bootstrap, dead_letters, 1)
        assert (letter.origin_topic, letter.origin_partition, letter.origin_offset) == (
            consents,
            conflict_at.partition,
            conflict_at.offset,
        )
        assert letter.original_key == key.encode()
        assert letter.original_value == codec.encode(changed)
        assert letter.error_kind == "invalid"
        assert letter.agent == "ledger"
        assert letter.reason == (
            f"consent event acme/{first} already recorded with different content "
            f"(ip differs from the record stored from {consents}/{placed[0].partition}/"
            f"{placed[0].offset})"
        )

        with engine.begin() as connection:
            connection.execute(
                delete(ConsumerOffset).where(
                    ConsumerOffset.consumer_group == ledger_consumer_group(settings)
                )
            )
        replay = await run_ledger_sink(settings, idle_exit_s=3)

        assert (replay.records_read, replay.rows_inserted, replay.dead_lettered) == (5, 0, 1)
        assert chain(engine, key) == rows
        assert len(await read_dead_letters(kafka_bootstrap, dead_letters, 2)) == 2
    finally:
        await delete_topics(kafka_bootstrap, names)
