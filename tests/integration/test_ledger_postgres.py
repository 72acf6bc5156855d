"""The ledger on the real PostgreSQL, and the sink between the real Kafka broker and it.

One fresh database per test session (created through the `sendgate` database, dropped at the
end), so runs never see each other's rows; inside it, each test writes to its own topic names and
its own event and report ids. The upgrade from revision 0001 gets a database of its own. An
unreachable broker or database fails these tests (the shared fixtures check), never skips them.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import SecretStr
from sqlalchemy import Engine, MetaData, Table, delete, func, inspect, select, text

from streams.core.records import (
    BounceChange,
    BounceOutcome,
    FeedbackReport,
    FeedbackType,
    RuleFailure,
    SendDecision,
    SuppressionChange,
    SuppressionEntry,
)
from streams.core.settings import Settings
from streams.edges.ledger import (
    LEDGER_TOPICS,
    BounceChangeRow,
    ConsumerOffset,
    FeedbackReportRow,
    LedgerItem,
    LedgerWriter,
    SendDecisionRow,
    SinkProgress,
    ledger_consumer_group,
    make_engine,
    metadata,
    read_offsets,
    run_ledger_sink,
    upgrade,
)
from streams.edges.ledger.rows import decision_row
from streams.topics import (
    ADDRESS_CORRECTIONS,
    BOUNCE_CHANGES,
    CONSENT_EVENTS,
    ENFORCEMENT_EVENTS,
    ERASURE_EVENTS,
    ERASURE_REQUESTS,
    FEEDBACK_REPORTS,
    SEND_DECISIONS,
    SUPPRESSION_CHANGES,
    default_codec,
)
from tests.support.postgres import scratch_database

pytestmark = pytest.mark.integration

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HEAD = "0012"
PARTITIONS = 3
DECISION_COUNT = 300
CHANGE_COUNT = 200
BOUNCE_COUNT = 150
REPLAYED_BOUNCE_COUNT = 20
REPORT_COUNT = 100
GARBAGE_COUNT = 2
LedgerRecord = SendDecision | SuppressionChange | BounceChange | FeedbackReport
FEEDBACK_TYPES: tuple[FeedbackType, ...] = (
    "abuse",
    "fraud",
    "opt_out",
    "not_spam",
    "virus",
    "auth_failure",
    "other",
)


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


def bounce_change(
    n: int, run: str, *, outcome: BounceOutcome = "counted", source_offset: int | None = None
) -> BounceChange:
    """Event ids carry the run's token: tests share the session's database."""
    return BounceChange(
        recipient_key=recipient_key(n),
        event_id=f"{run}-delivery-{n}",
        outcome=outcome,
        consecutive_soft_before=n % 4,
        consecutive_soft_after=n % 4 if outcome == "replayed" else n % 4 + 1,
        policy="consecutive(4)",
        source=f"delivery-events/{n % PARTITIONS}/{n if source_offset is None else source_offset}",
        changed_at=AT + timedelta(milliseconds=n),
    )


def feedback_report(n: int, run: str) -> FeedbackReport:
    """Report ids carry the run's token: `feedback_reports` is unique on them too."""
    return FeedbackReport(
        report_id=f"{run}-report-{n}",
        recipient_key=recipient_key(n),
        feedback_type=FEEDBACK_TYPES[n % len(FEEDBACK_TYPES)],
        reporter="fbl.example.net",
        account_id=f"acct-{n % 4}" if n % 5 else None,
        arrival_date=AT - timedelta(minutes=n) if n % 2 else None,
        received_at=AT + timedelta(milliseconds=n),
        source=f"inbound-mail/{n % PARTITIONS}/{n}",
    )


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def engine(ledger_database_url: str) -> Iterator[Engine]:
    engine = make_engine(ledger_database_url)
    yield engine
    engine.dispose()


def rows_from(engine: Engine, topic: str) -> int:
    """Ledger rows that came from one topic, in any table (tests share the session's database)."""
    with engine.connect() as connection:
        return sum(
            connection.execute(
                select(func.count()).select_from(table).where(table.c.kafka_topic == topic)
            ).scalar_one()
            for entry in LEDGER_TOPICS
            for table in entry.tables
        )


def test_upgrade_is_idempotent(ledger_database_url: str, engine: Engine) -> None:
    """Upgrading an up-to-date database again changes nothing."""
    upgrade(ledger_database_url)
    upgrade(ledger_database_url)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert versions == [(HEAD,)]


def test_a_0001_database_upgrades_to_0002(database_url: str) -> None:
    """A PostgreSQL ledger created at 0001 and holding rows gains the new tables, keeps its rows,
    and then matches the models exactly."""
    with scratch_database(database_url) as url:
        upgrade(url, "0001")
        engine = make_engine(url)
        try:
            assert "bounce_changes" not in inspect(engine).get_table_names()
            decisions, group = unique("decisions"), unique("group")
            # What the writer of that time wrote: rows of 0001's columns, and the offsets.
            old = MetaData()
            table = Table("send_decisions", old, autoload_with=engine)
            offsets = Table("consumer_offsets", old, autoload_with=engine)
            with engine.begin() as connection:
                for n in range(5):
                    row = decision_row(decision(n), decisions, 0, n)
                    connection.execute(
                        table.insert().values({k: v for k, v in row.items() if k in table.c})
                    )
                connection.execute(
                    offsets.insert().values(
                        consumer_group=group, topic=decisions, partition=0, next_offset=5
                    )
                )

            upgrade(url)
            upgrade(url)

            with engine.connect() as connection:
                versions = connection.execute(text("SELECT version_num FROM alembic_version"))
                assert versions.all() == [(HEAD,)]
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, metadata) == []
            assert rows_from(engine, decisions) == 5
            assert read_offsets(engine, group) == {(decisions, 0): 5}
            bounces = unique("bounces")
            added = LedgerWriter(engine).write_batch(
                group, [LedgerItem(bounces, 0, 0, bounce_change(1, unique("run")))]
            )
            assert added == 1
        finally:
            engine.dispose()


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    """On PostgreSQL too, autogenerate finds no difference between migrations and models."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_the_same_batch_twice_stores_its_rows_once(engine: Engine) -> None:
    """ON CONFLICT DO NOTHING on the coordinates: a replayed batch adds nothing, in any table."""
    decisions, changes, group = unique("decisions"), unique("changes"), unique("group")
    bounces, reports, run = unique("bounces"), unique("reports"), unique("run")
    items = [LedgerItem(decisions, n % PARTITIONS, n, decision(n)) for n in range(30)]
    items += [LedgerItem(changes, n % PARTITIONS, n, change(n)) for n in range(20)]
    items += [LedgerItem(bounces, n % PARTITIONS, n, bounce_change(n, run)) for n in range(15)]
    items += [LedgerItem(reports, n % PARTITIONS, n, feedback_report(n, run)) for n in range(14)]
    writer = LedgerWriter(engine)

    assert writer.write_batch(group, items) == 79
    assert writer.write_batch(group, items) == 0

    assert rows_from(engine, decisions) == 30
    assert rows_from(engine, changes) == 20
    assert rows_from(engine, bounces) == 15
    assert rows_from(engine, reports) == 14
    assert read_offsets(engine, group) == {
        (decisions, 0): 28,
        (decisions, 1): 29,
        (decisions, 2): 30,
        (changes, 0): 19,
        (changes, 1): 20,
        (changes, 2): 18,
        (bounces, 0): 13,
        (bounces, 1): 14,
        (bounces, 2): 15,
        (reports, 0): 13,
        (reports, 1): 14,
        (reports, 2): 12,
    }
    with engine.connect() as connection:
        decided_at = connection.execute(
            select(SendDecisionRow.decided_at).where(
                SendDecisionRow.kafka_topic == decisions, SendDecisionRow.kafka_offset == 5
            )
        ).scalar_one()
    assert decided_at == decision(5).decided_at
    assert decided_at.tzinfo is UTC


def test_replayed_bounce_changes_and_reports_add_no_row(engine: Engine) -> None:
    """On PostgreSQL too, ON CONFLICT DO NOTHING without a target skips a row whose event id or
    report id is stored already, even at other coordinates and inside the same batch."""
    bounces, reports, group, run = (
        unique("bounces"),
        unique("reports"),
        unique("group"),
        unique("r"),
    )
    writer = LedgerWriter(engine)
    originals = [LedgerItem(bounces, 0, n, bounce_change(n, run)) for n in range(5)]
    originals += [LedgerItem(reports, 0, n, feedback_report(n, run)) for n in range(5)]
    assert writer.write_batch(group, originals) == 10

    replays = [
        LedgerItem(bounces, 1, n, bounce_change(n, run, outcome="replayed")) for n in range(5)
    ]
    replays += [LedgerItem(reports, 1, n, feedback_report(n, run)) for n in range(5)]
    replays += [
        LedgerItem(bounces, 2, 0, bounce_change(9, run)),
        LedgerItem(bounces, 2, 1, bounce_change(9, run, outcome="replayed")),
    ]
    assert writer.write_batch(group, replays) == 1

    assert rows_from(engine, bounces) == 6
    assert rows_from(engine, reports) == 5
    with engine.connect() as connection:
        outcomes = connection.execute(
            select(BounceChangeRow.outcome).where(BounceChangeRow.kafka_topic == bounces)
        ).scalars()
        assert set(outcomes) == {"counted"}
        types = connection.execute(
            select(FeedbackReportRow.feedback_type).where(FeedbackReportRow.kafka_topic == reports)
        ).scalars()
        assert sorted(types) == sorted(FEEDBACK_TYPES[:5])
    assert read_offsets(engine, group) == {
        (bounces, 0): 5,
        (bounces, 1): 5,
        (bounces, 2): 2,
        (reports, 0): 5,
        (reports, 1): 5,
    }


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
    """Create the topics and wait until the broker serves their metadata: CreateTopics answers
    before a loaded broker has them in its metadata cache, and the sink refuses a topic it
    cannot describe (as `sendgate topics create` also waits, `streams.edges.admin`)."""
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


def ledger_topics(settings: Settings) -> list[str]:
    """The full names of every topic the sink reads; it refuses to start if one is missing."""
    return [entry.topic.full_name(settings) for entry in LEDGER_TOPICS]


async def produce(settings: Settings, run: str) -> None:
    """Records for all four topics, bounce changes replayed by a restarted keeper (same event
    id, outcome "replayed", later offsets), and a few values no codec can read."""
    codec = default_codec()
    bounces = [bounce_change(n, run) for n in range(BOUNCE_COUNT)]
    bounces += [
        bounce_change(n, run, outcome="replayed", source_offset=n)
        for n in range(REPLAYED_BOUNCE_COUNT)
    ]
    topics: list[tuple[str, Sequence[LedgerRecord]]] = [
        (settings.topic(SEND_DECISIONS.name), [decision(n) for n in range(DECISION_COUNT)]),
        (settings.topic(SUPPRESSION_CHANGES.name), [change(n) for n in range(CHANGE_COUNT)]),
        (settings.topic(BOUNCE_CHANGES.name), bounces),
        (
            settings.topic(FEEDBACK_REPORTS.name),
            [feedback_report(n, run) for n in range(REPORT_COUNT)],
        ),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        sends = [
            await producer.send(topic, codec.encode(record), key=record.recipient_key.encode())
            for topic, records in topics
            for record in records
        ]
        sends += [
            await producer.send(settings.topic(SEND_DECISIONS.name), b"not avro", key=b"garbage")
            for _ in range(GARBAGE_COUNT)
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def test_sink_copies_topics_once_and_replays_without_duplicates(
    kafka_bootstrap: str, ledger_database_url: str, engine: Engine
) -> None:
    """Caught up, run again, then replayed from scratch: the ledger holds each record of the four
    topics once, and each bounce-changing delivery event once."""
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        database_url=SecretStr(ledger_database_url),
    )
    decisions = settings.topic(SEND_DECISIONS.name)
    changes = settings.topic(SUPPRESSION_CHANGES.name)
    bounces = settings.topic(BOUNCE_CHANGES.name)
    reports = settings.topic(FEEDBACK_REPORTS.name)
    names = [decisions, changes, bounces, reports]
    consents = settings.topic(CONSENT_EVENTS.name)  # must exist; stays empty here
    enforcement = settings.topic(ENFORCEMENT_EVENTS.name)  # must exist; stays empty here
    erasures = [
        settings.topic(ADDRESS_CORRECTIONS.name),
        settings.topic(ERASURE_REQUESTS.name),
        settings.topic(ERASURE_EVENTS.name),
    ]
    empty = [consents, enforcement, *erasures]  # must exist; stay empty here
    assert sorted(ledger_topics(settings)) == sorted([*names, *empty])
    group = ledger_consumer_group(settings)
    expected_rows = {
        decisions: DECISION_COUNT,
        changes: CHANGE_COUNT,
        bounces: BOUNCE_COUNT,
        reports: REPORT_COUNT,
    }
    expected_read = {
        decisions: DECISION_COUNT + GARBAGE_COUNT,
        changes: CHANGE_COUNT,
        bounces: BOUNCE_COUNT + REPLAYED_BOUNCE_COUNT,
        reports: REPORT_COUNT,
    }
    await create_topics(kafka_bootstrap, [*names, *empty])
    try:
        await produce(settings, run=unique("run"))
        progress: list[SinkProgress] = []

        first = await run_ledger_sink(settings, on_progress=progress.append, idle_exit_s=3)

        assert first.records_read == sum(expected_read.values())
        assert first.rows_inserted == sum(expected_rows.values())
        assert first.undecodable == GARBAGE_COUNT
        assert progress[-1] == first
        assert {topic: rows_from(engine, topic) for topic in names} == expected_rows
        offsets = read_offsets(engine, group)
        assert set(offsets) == {(t, p) for t in names for p in range(PARTITIONS)}
        assert {
            topic: sum(offsets[topic, p] for p in range(PARTITIONS)) for topic in names
        } == expected_read
        with engine.connect() as connection:
            types = connection.execute(
                select(FeedbackReportRow.feedback_type)
                .where(FeedbackReportRow.kafka_topic == reports)
                .distinct()
            ).scalars()
            assert sorted(types) == sorted(FEEDBACK_TYPES)
            replayed = connection.execute(
                select(func.count()).where(
                    BounceChangeRow.kafka_topic == bounces, BounceChangeRow.outcome == "replayed"
                )
            ).scalar_one()
            assert replayed == 0

        again = await run_ledger_sink(settings, idle_exit_s=2)

        assert again == SinkProgress()
        assert read_offsets(engine, group) == offsets

        with engine.begin() as connection:
            connection.execute(delete(ConsumerOffset).where(ConsumerOffset.consumer_group == group))
        replay = await run_ledger_sink(settings, idle_exit_s=3)

        assert replay.records_read == first.records_read
        assert replay.rows_inserted == 0
        assert {topic: rows_from(engine, topic) for topic in names} == expected_rows
        assert read_offsets(engine, group) == offsets
    finally:
        await delete_topics(kafka_bootstrap, [*names, *empty])


async def test_sink_stops_when_asked(kafka_bootstrap: str, ledger_database_url: str) -> None:
    """With no idle limit, setting `stop` ends the run within a fetch timeout."""
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        database_url=SecretStr(ledger_database_url),
    )
    names = ledger_topics(settings)
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
