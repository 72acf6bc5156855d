"""Consent events in the real PostgreSQL ledger: chained writes, replays, concurrent writers, the
sink from the real broker, and tampering seen by the proof.

Uses the session's fresh database (`ledger_database_url`); each test has its own recipient keys,
event ids and topic names, so tests sharing the database never see each other's chains. An
unreachable database or broker fails these tests, never skips them.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import SecretStr
from sqlalchemy import Engine, delete, func, select, text

from streams.core.records import ConsentEvent
from streams.core.settings import Settings
from streams.edges.ledger import (
    LEDGER_TOPICS,
    ConsentEventRow,
    ConsumerOffset,
    LedgerItem,
    LedgerWriter,
    ledger_consumer_group,
    make_engine,
    run_ledger_sink,
)
from streams.edges.ledger.chain import GENESIS_HASH, verify_chain
from streams.edges.ledger.proof import prove_consent
from streams.policy import load_policy
from streams.topics import CONSENT_EVENTS, default_codec
from tests.support.factory import consent_event

pytestmark = pytest.mark.integration

T0 = datetime(2025, 2, 3, 8, 0, tzinfo=UTC)
PARTITIONS = 3


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def key_of(run: str, n: int) -> str:
    return hashlib.sha256(f"{run}-recipient-{n}@example.org".encode()).hexdigest()


def event(run: str, n: int, key: str, kind: str = "grant", **fields: Any) -> ConsentEvent:
    """The run's n-th consent event, n minutes after `T0`: a sign-up to acme's news by default."""
    return consent_event(
        event_id=f"{run}-evt-{n}",
        recipient_key=key,
        kind=kind,
        lists=("news",),
        ip="203.0.113.9",
        user_agent="Mozilla/5.0",
        occurred_at=T0 + timedelta(minutes=n),
        **fields,
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


def test_events_are_chained_and_a_replay_changes_nothing(engine: Engine) -> None:
    """Three recipients over three partitions and two batches; then the same records again and
    the same events at new coordinates: no row added, no chain column changed."""
    run, topic, group = unique("run"), unique("consents"), unique("group")
    keys = [key_of(run, n) for n in range(3)]
    items = [
        LedgerItem(
            topic, n % PARTITIONS, n, event(run, n, keys[n % 3], "grant" if n < 3 else "confirm")
        )
        for n in range(12)
    ]
    writer = LedgerWriter(engine)

    assert writer.write_batch(group, items[:5]) == 5
    assert writer.write_batch(group, items[5:]) == 7
    before = {key: chain(engine, key) for key in keys}

    assert writer.write_batch(group, items) == 0
    moved = [LedgerItem(topic, 0, 1000 + n, item.record) for n, item in enumerate(items)]
    assert writer.write_batch(group, moved) == 0

    for key in keys:
        rows = chain(engine, key)
        assert rows == before[key]
        assert [row["chain_seq"] for row in rows] == [1, 2, 3, 4]
        assert rows[0]["prev_hash"] == GENESIS_HASH
        assert verify_chain(rows).verified
    # recipient n % 3 == 0 got events 0, 3, 6, 9: all from partition 0, in offset order
    assert [row["kafka_offset"] for row in before[keys[0]]] == [0, 3, 6, 9]


def test_concurrent_writers_never_fork_or_duplicate_a_chain(
    engine: Engine, ledger_database_url: str
) -> None:
    """Two writers (two connections, two threads) append to the same recipients at once, each
    its own events and, in a second round, the same events: every chain ends 1..n, linked, with
    each event once. Without the per-recipient lock they would collide on a chain number."""
    run, group = unique("run"), unique("group")
    topic_a, topic_b = unique("consents-a"), unique("consents-b")
    keys = [key_of(run, n) for n in range(4)]
    batches = 15
    per_batch = 8

    def batches_for(topic: str, first_id: int) -> list[list[LedgerItem]]:
        return [
            [
                LedgerItem(
                    topic,
                    0,
                    b * per_batch + i,
                    event(run, first_id + b * per_batch + i, keys[i % len(keys)]),
                )
                for i in range(per_batch)
            ]
            for b in range(batches)
        ]

    own_a = batches_for(topic_a, 0)
    own_b = batches_for(topic_b, 10_000)
    shared = batches_for(unique("consents-shared"), 20_000)
    errors: list[BaseException] = []

    def write(all_batches: list[list[LedgerItem]], start: threading.Barrier) -> None:
        own_engine = make_engine(ledger_database_url)
        writer = LedgerWriter(own_engine)
        start.wait()
        try:
            for batch in all_batches:
                writer.write_batch(group, batch)
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)
        finally:
            own_engine.dispose()

    for first, second in ((own_a, own_b), (shared, shared)):
        start = threading.Barrier(2)
        threads = [
            threading.Thread(target=write, args=(first, start)),
            threading.Thread(target=write, args=(second, start)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors

    expected_per_key = 3 * batches * per_batch // len(keys)
    for key in keys:
        rows = chain(engine, key)
        assert [row["chain_seq"] for row in rows] == list(range(1, expected_per_key + 1))
        assert len({row["event_id"] for row in rows}) == expected_per_key
        assert verify_chain(rows).verified


def test_tampering_on_postgres_is_seen_by_the_proof(engine: Engine) -> None:
    """An edited row and a deleted row, each in its own recipient's chain, named by the proof."""
    run, topic, group = unique("run"), unique("consents"), unique("group")
    edited_key, deleted_key = key_of(run, 1), key_of(run, 2)
    items = [
        LedgerItem(topic, 0, n, event(run, n, key, kind))
        for n, (key, kind) in enumerate(
            [
                (edited_key, "grant"),
                (edited_key, "confirm"),
                (deleted_key, "grant"),
                (deleted_key, "confirm"),
                (deleted_key, "withdraw"),
            ]
        )
    ]
    LedgerWriter(engine).write_batch(group, items)
    policy = load_policy()

    def verdict_of(key: str) -> Any:
        return prove_consent(engine, key, "acme", at=T0 + timedelta(days=1), policy=policy).chain

    assert verdict_of(edited_key).verified
    assert verdict_of(deleted_key).verified
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE consent_events SET ip = '198.51.100.23' WHERE event_id = :id"),
            {"id": f"{run}-evt-1"},
        )
        connection.execute(
            text("DELETE FROM consent_events WHERE event_id = :id"), {"id": f"{run}-evt-3"}
        )

    edited, deleted = verdict_of(edited_key), verdict_of(deleted_key)
    assert (edited.verified, edited.first_bad_seq, edited.problem) == (False, 2, "edited")
    assert (deleted.verified, deleted.first_bad_seq, deleted.problem) == (False, 2, "missing")


def test_the_chain_head_lookup_uses_the_index(engine: Engine) -> None:
    """The proof's query is an index scan on (recipient_key, chain_seq), not a table scan."""
    with engine.connect() as connection:
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = connection.execute(
            text(
                "EXPLAIN SELECT * FROM consent_events WHERE recipient_key = :key ORDER BY chain_seq"
            ),
            {"key": "0" * 64},
        ).scalars()
        text_plan = "\n".join(plan)
    assert "uq_consent_events_chain" in text_plan


async def test_sink_stores_consent_events_chained_and_replays_without_change(
    kafka_bootstrap: str, ledger_database_url: str, engine: Engine
) -> None:
    """From the real broker: consent events keyed by recipient land chained; replaying the
    topic from the start (offsets forgotten) adds nothing and changes no chain."""
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        database_url=SecretStr(ledger_database_url),
    )
    run = unique("run")
    keys = [key_of(run, n) for n in range(5)]
    events = [event(run, n, keys[n % 5], "grant" if n < 5 else "confirm") for n in range(40)]
    names = [entry.topic.full_name(settings) for entry in LEDGER_TOPICS]
    consents = CONSENT_EVENTS.full_name(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1) for name in names]
        )
    finally:
        await admin.close()
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            codec = default_codec()
            for record in events:
                await producer.send_and_wait(
                    consents, codec.encode(record), key=record.recipient_key.encode()
                )
        finally:
            await producer.stop()

        first = await run_ledger_sink(settings, idle_exit_s=3)
        assert first.rows_inserted == 40
        stored = {key: chain(engine, key) for key in keys}
        for key, rows in stored.items():
            assert [row["chain_seq"] for row in rows] == list(range(1, 9))
            assert [row["event_id"] for row in rows] == [
                f"{run}-evt-{n}" for n in range(40) if keys[n % 5] == key
            ]
            assert verify_chain(rows).verified

        with engine.begin() as connection:
            connection.execute(
                delete(ConsumerOffset).where(
                    ConsumerOffset.consumer_group == ledger_consumer_group(settings)
                )
            )
        replay = await run_ledger_sink(settings, idle_exit_s=3)

        assert replay.records_read == 40
        assert replay.rows_inserted == 0
        assert {key: chain(engine, key) for key in keys} == stored
        with engine.connect() as connection:
            count = connection.execute(
                select(func.count()).where(ConsentEventRow.kafka_topic == consents)
            ).scalar_one()
        assert count == 40
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics(names)
        finally:
            await admin.close()
