"""The ledger on SQLite: migrations, schema drift, and idempotent batch writes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select
from sqlalchemy.dialects import sqlite

from streams.ledger import (
    LedgerItem,
    LedgerWriter,
    SendDecisionRow,
    SuppressionChangeRow,
    UtcDateTime,
    ledger_counts,
    make_engine,
    metadata,
    read_offsets,
    upgrade,
)
from streams.records import (
    DeadLetter,
    RuleFailure,
    SendDecision,
    SuppressionChange,
    SuppressionEntry,
)

DECISIONS = "send-decisions"
CHANGES = "suppression-changes"
GROUP = "sendgate-ledger"
AT = datetime(2025, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)


def recipient_key(n: int) -> str:
    return hashlib.sha256(f"recipient-{n}@example.com".encode()).hexdigest()


def decision(n: int, *, deny: bool = False) -> SendDecision:
    failures = (
        (
            RuleFailure(rule="list-unsubscribed", law="CAN-SPAM", explanation="Unsubscribed."),
            RuleFailure(rule="role-address", law="platform", explanation="Role address."),
        )
        if deny
        else ()
    )
    return SendDecision(
        request_id=f"req-{n}",
        account_id="acct-1",
        recipient_key=recipient_key(n),
        verdict="deny" if deny else "allow",
        failures=failures,
        policy_version="2025.1+abc123",
        decided_at=AT + timedelta(seconds=n),
        request_offset=f"send-requests/0/{n}",
        state_offsets={"suppressions": n},
    )


def change(n: int) -> SuppressionChange:
    entry = SuppressionEntry(
        scope="list",
        account_id="acct-1",
        list_id="news",
        reason="unsubscribe",
        since=AT,
        source=f"unsubscribe-clicks/0/{n}",
        source_event_id=f"click-{n}",
    )
    return SuppressionChange(
        recipient_key=recipient_key(n), entry=entry, outcome="added", changed_at=AT
    )


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'nested' / 'ledger.sqlite3'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_upgrade_creates_the_tables_and_a_second_run_changes_nothing(database_url: str) -> None:
    """Running the migrations twice leaves one schema at revision 0001."""
    upgrade(database_url)
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    finally:
        engine.dispose()
    ledger_tables = {"consumer_offsets", "send_decisions", "suppression_changes"}
    assert tables == {"alembic_version", *ledger_tables}
    assert versions == [("0001",)]


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    """Alembic's autogenerate finds nothing to add: migrations and models agree."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_the_same_batch_twice_stores_its_rows_once(engine: Engine) -> None:
    """A replayed batch inserts nothing and leaves the offsets where they were."""
    items = [
        LedgerItem(DECISIONS, 0, 10, decision(1)),
        LedgerItem(DECISIONS, 0, 11, decision(2, deny=True)),
        LedgerItem(DECISIONS, 2, 4, decision(3)),
        LedgerItem(CHANGES, 1, 7, change(4)),
        LedgerItem(CHANGES, 1, 8, change(5)),
    ]
    writer = LedgerWriter(engine)

    assert writer.write_batch(GROUP, items) == 5
    assert writer.write_batch(GROUP, items) == 0
    assert writer.write_batch(GROUP, items[1:3]) == 0

    counts = ledger_counts(engine)
    assert counts["send_decisions"] == 3
    assert counts["suppression_changes"] == 2
    assert read_offsets(engine, GROUP) == {(DECISIONS, 0): 12, (DECISIONS, 2): 5, (CHANGES, 1): 9}


def test_offsets_never_move_back(engine: Engine) -> None:
    """An older batch written late does not rewind a partition's stored offset."""
    writer = LedgerWriter(engine)
    writer.write_batch(GROUP, [LedgerItem(DECISIONS, 0, 20, decision(1))])
    writer.write_batch(GROUP, [LedgerItem(DECISIONS, 0, 3, decision(2))])

    assert read_offsets(engine, GROUP) == {(DECISIONS, 0): 21}
    assert ledger_counts(engine)["send_decisions"] == 2


def test_offsets_are_kept_per_consumer_group(engine: Engine) -> None:
    """Two groups reading the same partition keep their own positions."""
    writer = LedgerWriter(engine)
    writer.write_batch("first", [LedgerItem(DECISIONS, 0, 5, decision(1))])
    writer.write_batch("second", [LedgerItem(DECISIONS, 0, 9, decision(2))])

    assert read_offsets(engine, "first") == {(DECISIONS, 0): 6}
    assert read_offsets(engine, "second") == {(DECISIONS, 0): 10}


def test_undecodable_and_foreign_records_only_advance_offsets(engine: Engine) -> None:
    """A value that did not decode, or a record the ledger does not store, moves the offset only."""
    dead_letter = DeadLetter(
        origin_topic=DECISIONS,
        origin_partition=0,
        origin_offset=3,
        error_kind="undecodable",
        reason="no C3 01 marker",
        agent="gate",
        failed_at=AT,
    )
    items = [LedgerItem(DECISIONS, 0, 3, None), LedgerItem(DECISIONS, 1, 6, dead_letter)]

    assert LedgerWriter(engine).write_batch(GROUP, items) == 0
    assert ledger_counts(engine) == {
        "consumer_offsets": 2,
        "send_decisions": 0,
        "suppression_changes": 0,
    }
    assert read_offsets(engine, GROUP) == {(DECISIONS, 0): 4, (DECISIONS, 1): 7}


def test_an_empty_batch_writes_nothing(engine: Engine) -> None:
    """No items, no transaction, no offsets."""
    assert LedgerWriter(engine).write_batch(GROUP, []) == 0
    assert read_offsets(engine, GROUP) == {}


def test_rows_read_back_with_aware_utc_times_and_json(engine: Engine) -> None:
    """SQLite keeps no time zone; the ledger still reads back the same aware UTC instants."""
    denied = decision(7, deny=True)
    LedgerWriter(engine).write_batch(
        GROUP, [LedgerItem(DECISIONS, 0, 0, denied), LedgerItem(CHANGES, 0, 0, change(7))]
    )
    with engine.connect() as connection:
        row = connection.execute(select(SendDecisionRow)).one()
        change_row = connection.execute(select(SuppressionChangeRow)).one()

    assert row.decided_at == denied.decided_at
    assert row.decided_at.tzinfo is UTC
    assert row.failed_rules == "list-unsubscribed,role-address"
    assert row.failures[0] == {
        "rule": "list-unsubscribed",
        "law": "CAN-SPAM",
        "explanation": "Unsubscribed.",
    }
    assert row.state_offsets == {"suppressions": 7}
    assert (row.kafka_topic, row.kafka_partition, row.kafka_offset) == (DECISIONS, 0, 0)
    assert change_row.since == AT
    assert change_row.since.tzinfo is UTC
    assert (change_row.scope, change_row.list_id, change_row.outcome) == ("list", "news", "added")
    assert change_row.source == "unsubscribe-clicks/0/7"


def test_utc_datetime_stores_utc_and_refuses_naive_times() -> None:
    """Other zones are stored as their UTC instant; a naive datetime is an error, not a guess."""
    column_type = UtcDateTime()
    dialect = sqlite.dialect()
    eastern = datetime(2025, 3, 1, 7, 30, tzinfo=timezone(timedelta(hours=-5)))

    assert column_type.process_bind_param(eastern, dialect) == datetime(2025, 3, 1, 12, 30)
    with pytest.raises(ValueError, match="naive"):
        column_type.process_bind_param(datetime(2025, 3, 1, 12, 30), dialect)


def test_make_engine_creates_the_sqlite_folder(tmp_path: Path) -> None:
    """The demo's database folder need not exist beforehand."""
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'ledger.sqlite3'}")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()
    assert (tmp_path / "a" / "b" / "ledger.sqlite3").exists()
