"""The ledger on SQLite: migrations, schema drift, and idempotent batch writes of every record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, Table, inspect, select, text
from sqlalchemy.dialects import sqlite

from streams.core.records import (
    AddressCorrection,
    BounceChange,
    BounceOutcome,
    DeadLetter,
    FeedbackReport,
    FeedbackType,
    RuleFailure,
    SendDecision,
    SuppressionChange,
    SuppressionEntry,
)
from streams.edges.ledger import (
    LEDGER_TOPICS,
    BounceChangeRow,
    FeedbackReportRow,
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
from streams.edges.ledger.migrate import alembic_config
from streams.edges.ledger.rows import decision_row

DECISIONS = "send-decisions"
CHANGES = "suppression-changes"
BOUNCES = "bounce-changes"
REPORTS = "feedback-reports"
CONSENTS = "consent-events"
GROUP = "sendgate-ledger"
AT = datetime(2025, 3, 1, 12, 30, 15, 123000, tzinfo=UTC)
HEAD = "0012"
LEDGER_TABLES = {
    "address_corrections",
    "bounce_changes",
    "consent_events",
    "consumer_offsets",
    "enforcement_events",
    "erasure_steps",
    "erasures",
    "feedback_reports",
    "send_decision_repeats",
    "send_decisions",
    "suppression_changes",
}


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


def bounce_change(
    n: int, *, outcome: BounceOutcome = "counted", event_id: str | None = None
) -> BounceChange:
    return BounceChange(
        recipient_key=recipient_key(n),
        event_id=event_id or f"delivery-{n}",
        outcome=outcome,
        consecutive_soft_before=1,
        consecutive_soft_after=1 if outcome == "replayed" else 2,
        policy="consecutive(4)",
        source=f"delivery-events/0/{n}",
        changed_at=AT + timedelta(seconds=n),
    )


def feedback_report(n: int, feedback_type: FeedbackType = "abuse") -> FeedbackReport:
    return FeedbackReport(
        report_id=f"report-{n}",
        recipient_key=recipient_key(n),
        feedback_type=feedback_type,
        reporter="fbl.example.net",
        account_id="acct-1",
        list_id="news",
        original_message_id=f"<msg-{n}@mail.example.com>",
        arrival_date=AT - timedelta(hours=1),
        received_at=AT + timedelta(seconds=n),
        source=f"inbound-mail/0/{n}",
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
    """Running the migrations twice leaves one schema at the newest revision."""
    upgrade(database_url)
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    finally:
        engine.dispose()
    assert tables == {"alembic_version", *LEDGER_TABLES}
    assert versions == [(HEAD,)]


def test_a_0001_database_upgrades_to_0002_and_keeps_its_rows(database_url: str) -> None:
    """A ledger created before bounce changes and feedback reports gains both tables, and its
    decisions stay; the upgraded schema is the models' schema."""
    upgrade(database_url, "0001")
    engine = make_engine(database_url)
    try:
        assert "bounce_changes" not in inspect(engine).get_table_names()
        # What the writer of that time wrote: a decision row of 0001's columns and its offset.
        old = MetaData()
        decisions = Table("send_decisions", old, autoload_with=engine)
        offsets = Table("consumer_offsets", old, autoload_with=engine)
        row = decision_row(decision(1), DECISIONS, 0, 0)
        with engine.begin() as connection:
            connection.execute(
                decisions.insert().values({k: v for k, v in row.items() if k in decisions.c})
            )
            connection.execute(
                offsets.insert().values(
                    consumer_group=GROUP, topic=DECISIONS, partition=0, next_offset=1
                )
            )

        upgrade(database_url)

        inspector = inspect(engine)
        assert set(inspector.get_table_names()) == {"alembic_version", *LEDGER_TABLES}
        with engine.connect() as connection:
            versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
        assert versions == [(HEAD,)]
        assert ledger_counts(engine)["send_decisions"] == 1
        assert read_offsets(engine, GROUP) == {(DECISIONS, 0): 1}
        items = [LedgerItem(BOUNCES, 0, 0, bounce_change(1)), LedgerItem(REPORTS, 0, 0, None)]
        assert LedgerWriter(engine).write_batch(GROUP, items) == 1
    finally:
        engine.dispose()


def test_0002_downgrades_to_0001_and_upgrades_again(database_url: str) -> None:
    """The revision's downgrade drops exactly its own tables, so it can be re-applied."""
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        assert set(inspect(engine).get_table_names()) == {
            "alembic_version",
            "consumer_offsets",
            "send_decisions",
            "suppression_changes",
        }
        upgrade(database_url)
        assert set(inspect(engine).get_table_names()) == {"alembic_version", *LEDGER_TABLES}
    finally:
        engine.dispose()


def test_every_ledger_table_has_one_topic_in_the_catalogue() -> None:
    """A model without a catalogue entry would be migrated but never filled."""
    tables = [table.name for entry in LEDGER_TOPICS for table in entry.tables]
    record_types = [entry.record_type for entry in LEDGER_TOPICS]
    topics = [entry.topic.name for entry in LEDGER_TOPICS]

    assert sorted(tables) == sorted(LEDGER_TABLES - {"consumer_offsets"})
    assert len(set(record_types)) == len(record_types)
    assert topics == [
        DECISIONS,
        CHANGES,
        BOUNCES,
        REPORTS,
        CONSENTS,
        "enforcement-events",
        "address-corrections",
        "erasure-requests",
        "erasure-events",
    ]


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


def test_bounce_changes_and_feedback_reports_are_stored_once(engine: Engine) -> None:
    """The new records are idempotent by coordinates too, alongside the older ones in one batch."""
    items = [
        LedgerItem(BOUNCES, 0, 0, bounce_change(1)),
        LedgerItem(BOUNCES, 0, 1, bounce_change(2, outcome="reset")),
        LedgerItem(BOUNCES, 3, 5, bounce_change(3, outcome="hard_bounce")),
        LedgerItem(REPORTS, 1, 2, feedback_report(4)),
        LedgerItem(REPORTS, 1, 3, feedback_report(5, "opt_out")),
        LedgerItem(DECISIONS, 0, 7, decision(6)),
    ]
    writer = LedgerWriter(engine)

    assert writer.write_batch(GROUP, items) == 6
    assert writer.write_batch(GROUP, items) == 0
    assert writer.write_batch(GROUP, items[2:4]) == 0

    counts = ledger_counts(engine)
    assert (counts["bounce_changes"], counts["feedback_reports"]) == (3, 2)
    assert counts["send_decisions"] == 1
    assert read_offsets(engine, GROUP) == {
        (BOUNCES, 0): 2,
        (BOUNCES, 3): 6,
        (REPORTS, 1): 4,
        (DECISIONS, 0): 8,
    }


def test_a_replayed_bounce_change_adds_no_row(engine: Engine) -> None:
    """The keeper reports a recipient's delivery event again ("replayed") after a crash, at other
    coordinates; the ledger keeps the one row of the event, with what the event first did, and
    takes the re-report for the replay it is (no conflict, though outcome and counts differ)."""
    writer = LedgerWriter(engine)
    first = bounce_change(1, event_id="delivery-x")
    replayed = bounce_change(1, outcome="replayed", event_id="delivery-x")

    assert writer.write_batch(GROUP, [LedgerItem(BOUNCES, 0, 3, first)]) == 1
    assert writer.write_batch(GROUP, [LedgerItem(BOUNCES, 1, 9, replayed)]) == 0
    in_one_batch = [
        LedgerItem(BOUNCES, 2, 0, bounce_change(4, event_id="delivery-y")),
        LedgerItem(BOUNCES, 2, 1, replayed),
        LedgerItem(BOUNCES, 2, 2, bounce_change(4, outcome="replayed", event_id="delivery-y")),
    ]
    assert writer.write_batch(GROUP, in_one_batch) == 1

    with engine.connect() as connection:
        rows = connection.execute(
            select(
                BounceChangeRow.event_id, BounceChangeRow.outcome, BounceChangeRow.kafka_offset
            ).order_by(BounceChangeRow.event_id)
        ).all()
    assert rows == [("delivery-x", "counted", 3), ("delivery-y", "counted", 0)]
    assert read_offsets(engine, GROUP) == {(BOUNCES, 0): 4, (BOUNCES, 1): 10, (BOUNCES, 2): 3}


def test_a_feedback_report_delivered_twice_adds_no_row(engine: Engine) -> None:
    """The same report id at other coordinates (a re-read mailbox) is the same report."""
    writer = LedgerWriter(engine)

    assert writer.write_batch(GROUP, [LedgerItem(REPORTS, 0, 0, feedback_report(1))]) == 1
    assert writer.write_batch(GROUP, [LedgerItem(REPORTS, 2, 6, feedback_report(1))]) == 0

    assert ledger_counts(engine)["feedback_reports"] == 1
    assert read_offsets(engine, GROUP) == {(REPORTS, 0): 1, (REPORTS, 2): 7}


def test_a_complaint_from_an_esp_keeps_the_providers_word_beside_ours(engine: Engine) -> None:
    """A SendGrid spam report: our `abuse` and SendGrid's `spamreport`, both in the row; a
    report our own intake read has none of the provider's columns."""
    by_webhook = feedback_report(1).model_copy(
        update={
            "report_id": "sendgrid:evt-1",
            "source": "webhook:sendgrid",
            "esp": "sendgrid",
            "esp_event_id": "evt-1",
            "esp_feedback_type": "spamreport",
        }
    )
    writer = LedgerWriter(engine)
    items = [LedgerItem(REPORTS, 0, 0, by_webhook), LedgerItem(REPORTS, 0, 1, feedback_report(2))]
    assert writer.write_batch(GROUP, items) == 2
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                FeedbackReportRow.feedback_type,
                FeedbackReportRow.esp,
                FeedbackReportRow.esp_event_id,
                FeedbackReportRow.esp_feedback_type,
            ).order_by(FeedbackReportRow.kafka_offset)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("abuse", "sendgrid", "evt-1", "spamreport"),
        ("abuse", None, None, None),
    ]


def test_reports_that_are_not_complaints_are_recorded_as_sent(engine: Engine) -> None:
    """not-spam, virus and auth-failure reports land in the ledger with their own type."""
    types: list[FeedbackType] = ["not_spam", "virus", "auth_failure", "other", "abuse"]
    items = [
        LedgerItem(REPORTS, 0, n, feedback_report(n, feedback_type))
        for n, feedback_type in enumerate(types)
    ]

    assert LedgerWriter(engine).write_batch(GROUP, items) == len(types)

    with engine.connect() as connection:
        stored = connection.execute(
            select(FeedbackReportRow.feedback_type).order_by(FeedbackReportRow.kafka_offset)
        ).scalars()
        assert list(stored) == types


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
        "address_corrections": 0,
        "bounce_changes": 0,
        "consent_events": 0,
        "consumer_offsets": 2,
        "enforcement_events": 0,
        "erasure_steps": 0,
        "erasures": 0,
        "feedback_reports": 0,
        "send_decision_repeats": 0,
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


def test_bounce_and_feedback_rows_read_back_as_written(engine: Engine) -> None:
    """Every field of the records arrives in its column; times come back aware UTC, and a report
    without optional fields stores NULLs."""
    change = bounce_change(8, outcome="became_hard")
    report = feedback_report(9, "not_spam")
    bare = FeedbackReport(
        report_id="report-bare",
        recipient_key=recipient_key(10),
        feedback_type="virus",
        received_at=AT,
        source="webhook:example-isp",
    )
    LedgerWriter(engine).write_batch(
        GROUP,
        [
            LedgerItem(BOUNCES, 0, 4, change),
            LedgerItem(REPORTS, 1, 5, report),
            LedgerItem(REPORTS, 1, 6, bare),
        ],
    )
    with engine.connect() as connection:
        bounce_row = connection.execute(select(BounceChangeRow)).one()
        report_row, bare_row = connection.execute(
            select(FeedbackReportRow).order_by(FeedbackReportRow.kafka_offset)
        ).all()

    assert (bounce_row.recipient_key, bounce_row.event_id) == (change.recipient_key, "delivery-8")
    assert (bounce_row.outcome, bounce_row.policy) == ("became_hard", "consecutive(4)")
    assert (bounce_row.consecutive_soft_before, bounce_row.consecutive_soft_after) == (1, 2)
    assert bounce_row.source == "delivery-events/0/8"
    assert bounce_row.changed_at == change.changed_at
    assert bounce_row.changed_at.tzinfo is UTC
    assert (bounce_row.kafka_topic, bounce_row.kafka_partition, bounce_row.kafka_offset) == (
        BOUNCES,
        0,
        4,
    )
    assert (report_row.report_id, report_row.feedback_type) == ("report-9", "not_spam")
    assert (report_row.reporter, report_row.account_id, report_row.list_id) == (
        "fbl.example.net",
        "acct-1",
        "news",
    )
    assert report_row.original_message_id == "<msg-9@mail.example.com>"
    assert report_row.arrival_date == AT - timedelta(hours=1)
    assert report_row.arrival_date.tzinfo is UTC
    assert report_row.received_at == report.received_at
    assert report_row.source == "inbound-mail/0/9"
    assert (report_row.kafka_topic, report_row.kafka_offset) == (REPORTS, 5)
    assert (bare_row.reporter, bare_row.account_id, bare_row.request_id) == (None, None, None)
    assert (bare_row.list_id, bare_row.original_message_id, bare_row.arrival_date) == (
        None,
        None,
        None,
    )


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


def test_flags_are_kept_beside_the_failures(engine: Engine) -> None:
    """A decision's flags (SendDecision v5) land in the row; a decision without any has NULL."""
    flagged = decision(1).model_copy(
        update={
            "flags": (
                RuleFailure(
                    rule="postal-address-missing", law="CAN-SPAM", explanation="No address."
                ),
            )
        }
    )
    items = [LedgerItem(DECISIONS, 0, 0, flagged), LedgerItem(DECISIONS, 0, 1, decision(2))]
    assert LedgerWriter(engine).write_batch(GROUP, items) == 2
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT request_id, flags FROM send_decisions ORDER BY request_id"
        ).all()
    assert [(request_id, json.loads(flags) if flags else None) for request_id, flags in rows] == [
        (
            "req-1",
            [{"rule": "postal-address-missing", "law": "CAN-SPAM", "explanation": "No address."}],
        ),
        ("req-2", None),
    ]


def test_an_address_correction_is_kept_once_linking_the_old_key_to_the_new(
    engine: Engine,
) -> None:
    """The moved consent events name the correction; its row says which key they came from."""
    correction = AddressCorrection(
        correction_id="fix-1",
        old_recipient_key="a" * 64,
        new_recipient_key="b" * 64,
        requested_by="support",
        requested_at=AT,
    )
    writer = LedgerWriter(engine)
    item = LedgerItem("address-corrections", 0, 0, correction)
    assert writer.write_batch(GROUP, [item]) == 1
    assert writer.write_batch(GROUP, [LedgerItem("address-corrections", 0, 1, correction)]) == 0
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM address_corrections")).mappings().all()
    assert [
        (r["correction_id"], r["old_recipient_key"], r["new_recipient_key"], r["requested_by"])
        for r in rows
    ] == [("fix-1", "a" * 64, "b" * 64, "support")]
