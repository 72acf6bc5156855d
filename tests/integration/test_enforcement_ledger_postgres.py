"""Enforcement events in the real PostgreSQL ledger: every field stored, replays adding nothing,
reinstatements keeping who and why, and the sink copying them from the real broker.

The events are made by the enforcer's own pure code (`apply_breach`, `reinstate`,
`enforcement_events`, `fine_event`), so the rows are those a running gate would produce. Uses the
session's fresh database (`ledger_database_url`); each test has its own account and topic names.
The writer tests also run on SQLite, the demo's ledger, since the same models serve both. An
unreachable database or broker fails these tests, never skips them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import SecretStr
from sqlalchemy import Engine, delete, func, select

from streams.core.settings import Settings
from streams.edges.ledger import (
    LEDGER_TOPICS,
    ConsumerOffset,
    LedgerItem,
    LedgerWriter,
    ledger_consumer_group,
    make_engine,
    run_ledger_sink,
    upgrade,
)
from streams.edges.ledger.models import EnforcementEventRow
from streams.reputation.breaches import Breach
from streams.reputation.events import enforcement_events, fine_event
from streams.reputation.policy import StrikePolicy
from streams.reputation.rates import Window
from streams.reputation.reinstatement import reinstate
from streams.reputation.standing import EnforcementEvent
from streams.reputation.strikes import AccountStanding, apply_breach, breach_id
from streams.topics import ENFORCEMENT_EVENTS, default_codec

pytestmark = pytest.mark.integration

WEEK_START = datetime(2025, 4, 7, tzinfo=UTC)
STRUCK_AT = datetime(2025, 4, 16, 3, 0, tzinfo=UTC)
PAUSED_AT = STRUCK_AT + timedelta(hours=1)
REINSTATED_AT = datetime(2025, 4, 18, 10, 30, tzinfo=UTC)
FINED_AT = datetime(2025, 4, 19, 8, 15, tzinfo=UTC)
POLICY_VERSION = "sendgate-default@test"
OPERATOR = "ops.lead@sendgate.example"
REASON = "passed the best-practice test on 2025-04-18; list cleaned of purchased addresses"
PARTITIONS = 3


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def history(account: str) -> list[EnforcementEvent]:
    """Strike 1 at google (3 complaints of 1,500 delivered), an account-wide bounce pause (25 of
    200 attempted), a reinstatement, then a fine: five events, in the order the enforcer emits
    them."""
    policy = StrikePolicy()
    window = Window(start=WEEK_START, end=WEEK_START + timedelta(days=7))
    complaints = Breach(
        kind="complaint",
        level="strike",
        provider="google",
        window=window,
        count=3,
        volume=1500,
        line=Decimal("0.001"),
    )
    bounces = Breach(
        kind="bounce",
        level="pause",
        provider=None,
        window=window,
        count=25,
        volume=200,
        line=Decimal("0.10"),
    )
    standing = AccountStanding(account_id=account)
    struck = apply_breach(
        standing,
        complaints,
        breach_id=breach_id(account, complaints),
        now=STRUCK_AT,
        policy=policy,
    )
    paused = apply_breach(
        struck.standing,
        bounces,
        breach_id=breach_id(account, bounces),
        now=PAUSED_AT,
        policy=policy,
    )
    reinstated = reinstate(
        paused.standing,
        reinstatement_id=unique("reinstatement"),
        by=OPERATOR,
        reason=REASON,
        now=REINSTATED_AT,
    )
    assert struck.outcome == "struck" and paused.outcome == "paused"
    assert reinstated.action is not None
    return [
        *enforcement_events(
            struck.actions, standing_after=struck.standing, policy_version=POLICY_VERSION
        ),
        *enforcement_events(
            paused.actions, standing_after=paused.standing, policy_version=POLICY_VERSION
        ),
        *enforcement_events(
            (reinstated.action,),
            standing_after=reinstated.standing,
            policy_version=POLICY_VERSION,
        ),
        fine_event(
            account_id=account,
            report_id=unique("report"),
            provider="microsoft",
            amount=Decimal("250.00"),
            currency="EUR",
            at=FINED_AT,
            policy_version=POLICY_VERSION,
        ),
    ]


def stored(engine: Engine, account: str) -> list[dict[str, Any]]:
    """The account's rows in the order they were stored, without the surrogate id."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(EnforcementEventRow.__table__)
            .where(EnforcementEventRow.account_id == account)
            .order_by(EnforcementEventRow.id)
        ).mappings()
        return [{name: value for name, value in row.items() if name != "id"} for row in rows]


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(
    request: pytest.FixtureRequest, ledger_database_url: str, tmp_path: Path
) -> Iterator[Engine]:
    """The session's PostgreSQL ledger, or a migrated SQLite file (the demo's ledger)."""
    if request.param == "postgresql":
        url = ledger_database_url
    else:
        url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_every_field_is_stored_and_a_replay_adds_nothing(engine: Engine) -> None:
    """Five events over two batches become five rows with the events' values (exact decimals,
    aware times); the same records again, and the same events at new coordinates, add none."""
    account, topic, group = unique("acct"), unique("enforcement"), unique("group")
    events = history(account)
    items = [LedgerItem(topic, 0, offset, event) for offset, event in enumerate(events)]
    writer = LedgerWriter(engine)

    assert writer.write_batch(group, items[:3]) == 3
    assert writer.write_batch(group, items[3:]) == 2
    rows = stored(engine, account)

    assert [row["action"] for row in rows] == [
        "strike_issued",
        "broadcasts_disabled",
        "provider_paused",
        "reinstated",
        "fine_assessed",
    ]
    assert writer.write_batch(group, items) == 0
    moved = [LedgerItem(topic, 1, 1000 + n, item.record) for n, item in enumerate(items)]
    assert writer.write_batch(group, moved) == 0
    assert stored(engine, account) == rows
    assert len(rows) == len(events)

    by_action = {row["action"]: row for row in rows}
    strike = by_action["strike_issued"]
    assert strike["strike_number"] == 1
    assert strike["step"] == "disable_broadcasts"
    assert strike["provider"] == "google"
    assert (strike["breach_kind"], strike["breach_level"]) == ("complaint", "strike")
    assert (strike["count"], strike["volume"]) == (3, 1500)
    assert strike["line"] == Decimal("0.001")
    assert strike["window_start"] == WEEK_START
    assert strike["window_end"] == WEEK_START + timedelta(days=7)
    assert strike["at"] == STRUCK_AT
    assert strike["at"].tzinfo is not None
    assert strike["status_after"] == "broadcasts_disabled"
    assert strike["restored"] == []
    assert "3 of 1500 (0.2%)" in strike["explanation"]
    assert by_action["broadcasts_disabled"]["strike_number"] == 1

    pause = by_action["provider_paused"]
    assert pause["provider"] is None
    assert (pause["breach_kind"], pause["breach_level"]) == ("bounce", "pause")
    assert (pause["count"], pause["volume"], pause["line"]) == (25, 200, Decimal("0.10"))

    fine = by_action["fine_assessed"]
    assert fine["fine_amount"] == Decimal("250.00")
    assert isinstance(fine["fine_amount"], Decimal)
    assert fine["fine_currency"] == "EUR"
    assert fine["provider"] == "microsoft"
    assert fine["report_id"] == events[-1].report_id
    assert fine["status_after"] is None
    assert [row["kafka_offset"] for row in rows] == list(range(len(events)))


def test_a_reinstatement_keeps_who_why_and_what(engine: Engine) -> None:
    """The reinstatement row names the operator and the reason word for word, what was given
    back, the strikes kept, and the status after it."""
    account, topic, group = unique("acct"), unique("enforcement"), unique("group")
    events = history(account)
    LedgerWriter(engine).write_batch(
        group, [LedgerItem(topic, 0, offset, event) for offset, event in enumerate(events)]
    )

    (row,) = [row for row in stored(engine, account) if row["action"] == "reinstated"]

    assert row["by"] == OPERATOR
    assert row["reason"] == REASON
    assert row["restored"] == ["broadcasts", "all_providers"]
    assert row["strikes_kept"] == 1
    assert row["status_after"] == "active"
    assert row["at"] == REINSTATED_AT
    assert OPERATOR in row["explanation"]


async def test_sink_copies_enforcement_events_and_replays_without_change(
    kafka_bootstrap: str, ledger_database_url: str
) -> None:
    """From the real broker: events keyed by account land once each; replaying the topic from the
    start (the ledger's offsets forgotten) reads them all again and adds nothing."""
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}-",
        database_url=SecretStr(ledger_database_url),
    )
    accounts = [unique("acct") for _ in range(3)]
    events = [event for account in accounts for event in history(account)]
    names = [entry.topic.full_name(settings) for entry in LEDGER_TOPICS]
    topic = ENFORCEMENT_EVENTS.full_name(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1) for name in names]
        )
    finally:
        await admin.close()
    engine = make_engine(ledger_database_url)
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            codec = default_codec()
            for event in events:
                await producer.send_and_wait(
                    topic, codec.encode(event), key=event.account_id.encode()
                )
        finally:
            await producer.stop()

        first = await run_ledger_sink(settings, idle_exit_s=3)
        assert first.rows_inserted == len(events)
        before = {account: stored(engine, account) for account in accounts}
        for account in accounts:
            assert [row["event_id"] for row in before[account]] == [
                event.event_id for event in events if event.account_id == account
            ]

        with engine.begin() as connection:
            connection.execute(
                delete(ConsumerOffset).where(
                    ConsumerOffset.consumer_group == ledger_consumer_group(settings)
                )
            )
        replay = await run_ledger_sink(settings, idle_exit_s=3)

        assert replay.records_read == len(events)
        assert replay.rows_inserted == 0
        assert {account: stored(engine, account) for account in accounts} == before
        with engine.connect() as connection:
            count = connection.execute(
                select(func.count()).where(EnforcementEventRow.kafka_topic == topic)
            ).scalar_one()
        assert count == len(events)
    finally:
        engine.dispose()
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics(names)
        finally:
            await admin.close()
