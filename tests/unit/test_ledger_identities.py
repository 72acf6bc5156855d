"""Ledger identities scoped the way the data is (SQLite, through the same SQLAlchemy code as
PostgreSQL): two accounts' events with one id both kept, replays silent, true conflicts
dead-lettered by the sink with their reason, and the proof and the chain unchanged by it all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from alembic import command
from pydantic import SecretStr
from sqlalchemy import Engine, MetaData, Table, select
from typer.testing import CliRunner

from streams.cli import app
from streams.core.clock import FrozenClock
from streams.core.errors import ServiceUnavailableError
from streams.core.recipient import RecipientKeyer
from streams.core.records import BounceChange, ConsentEvent, DeadLetter, Record
from streams.core.settings import Settings
from streams.edges.ledger import (
    LEDGER_TOPICS,
    BounceChangeRow,
    ConsentEventRow,
    LedgerConflict,
    LedgerConflictError,
    LedgerItem,
    LedgerWriter,
    ledger_counts,
    make_engine,
    read_offsets,
    sink,
    upgrade,
)
from streams.edges.ledger.chain import verify_chain
from streams.edges.ledger.identity import content_digest, differing_columns
from streams.edges.ledger.migrate import alembic_config
from streams.edges.ledger.proof import prove_consent
from streams.edges.ledger.rows import consent_event_row
from streams.edges.ledger.sink import DEAD_LETTER_AGENT, _copy
from streams.policy import Policy
from streams.reputation.events import fine_event
from streams.topics import default_codec
from tests.support.factory import consent_event, feedback_report

SECRET = "ledger-identities-unit-secret-0123456789"
KEYER = RecipientKeyer(SECRET.encode())
ADDRESS = "jo.identity@example.com"
KEY = KEYER.key(ADDRESS)
OTHER_KEY = KEYER.key("sam.identity@example.org")
CONSENTS = "consent-events"
BOUNCES = "bounce-changes"
REPORTS = "feedback-reports"
ENFORCEMENT = "enforcement-events"
GROUP = "sendgate-ledger"
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)

event = partial(consent_event, recipient_key=KEY, lists=("news",), occurred_at=T0)


def bounce(recipient_key: str, event_id: str, **fields: Any) -> BounceChange:
    values: dict[str, Any] = {
        "recipient_key": recipient_key,
        "event_id": event_id,
        "outcome": "counted",
        "consecutive_soft_before": 0,
        "consecutive_soft_after": 1,
        "policy": "consecutive(4)",
        "source": "delivery-events/0/1",
        "changed_at": T0,
        **fields,
    }
    return BounceChange(**values)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


class Collected:
    """An `on_conflicts` handler that keeps what it was given."""

    def __init__(self) -> None:
        self.conflicts: list[LedgerConflict] = []

    def __call__(self, conflicts: Sequence[LedgerConflict]) -> None:
        self.conflicts += conflicts


def consent_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(ConsentEventRow.__table__).order_by(
                ConsentEventRow.recipient_key, ConsentEventRow.chain_seq
            )
        ).mappings()
        return [dict(row) for row in rows]


# --- two accounts, one event id ------------------------------------------------------------------


def test_two_accounts_keep_their_events_with_the_same_ids(engine: Engine) -> None:
    """acme and globex both number their events e-1, e-2, for one recipient and another: every
    event is stored, nothing conflicts, and each recipient's chain links both accounts' events."""
    writer = LedgerWriter(engine)
    conflicts = Collected()
    acme = [
        LedgerItem(CONSENTS, 0, 0, event(event_id="e-1")),
        LedgerItem(CONSENTS, 0, 1, event(event_id="e-2", kind="confirm")),
        LedgerItem(CONSENTS, 1, 0, event(event_id="e-3", recipient_key=OTHER_KEY)),
    ]
    globex = [
        LedgerItem(CONSENTS, 0, 2, event(event_id="e-1", account_id="globex")),
        LedgerItem(CONSENTS, 0, 3, event(event_id="e-2", account_id="globex", kind="confirm")),
        LedgerItem(
            CONSENTS, 1, 1, event(event_id="e-3", account_id="globex", recipient_key=OTHER_KEY)
        ),
    ]

    assert writer.write_batch(GROUP, acme, on_conflicts=conflicts) == 3
    assert writer.write_batch(GROUP, globex, on_conflicts=conflicts) == 3

    assert conflicts.conflicts == []
    rows = consent_rows(engine)
    assert sorted((row["account_id"], row["event_id"]) for row in rows) == [
        ("acme", "e-1"),
        ("acme", "e-2"),
        ("acme", "e-3"),
        ("globex", "e-1"),
        ("globex", "e-2"),
        ("globex", "e-3"),
    ]
    for key in (KEY, OTHER_KEY):
        chain = [row for row in rows if row["recipient_key"] == key]
        assert verify_chain(chain).verified
        assert [row["chain_seq"] for row in chain] == list(range(1, len(chain) + 1))
    assert read_offsets(engine, GROUP) == {(CONSENTS, 0): 4, (CONSENTS, 1): 2}


def test_two_accounts_with_the_same_ids_in_one_batch(engine: Engine) -> None:
    """The same, in one batch and interleaved: the first of an id does not hide the second."""
    items = [
        LedgerItem(CONSENTS, 0, 0, event(event_id="e-1")),
        LedgerItem(CONSENTS, 0, 1, event(event_id="e-1", account_id="globex")),
        LedgerItem(CONSENTS, 0, 2, event(event_id="e-2", kind="confirm")),
        LedgerItem(CONSENTS, 0, 3, event(event_id="e-2", account_id="globex", kind="confirm")),
    ]

    assert LedgerWriter(engine).write_batch(GROUP, items) == 4

    rows = consent_rows(engine)
    assert [(row["account_id"], row["event_id"], row["chain_seq"]) for row in rows] == [
        ("acme", "e-1", 1),
        ("globex", "e-1", 2),
        ("acme", "e-2", 3),
        ("globex", "e-2", 4),
    ]
    assert verify_chain(rows).verified


def test_the_proof_finds_each_accounts_events(engine: Engine, policy: Policy) -> None:
    """Jo signs up to acme's and globex's news, both with event id e-1; globex's confirmation
    (e-2) is globex's alone. Each account's proof shows its own events, and the chain verifies."""
    items = [
        LedgerItem(CONSENTS, 0, 0, event(event_id="e-1", requires_confirmation=True)),
        LedgerItem(
            CONSENTS, 0, 1, event(event_id="e-1", account_id="globex", requires_confirmation=True)
        ),
        LedgerItem(
            CONSENTS,
            0,
            2,
            event(
                event_id="e-2",
                account_id="globex",
                kind="confirm",
                source_kind="confirmation_link",
                occurred_at=T0 + timedelta(minutes=5),
            ),
        ),
    ]
    LedgerWriter(engine).write_batch(GROUP, items)
    at = T0 + timedelta(days=1)

    acme = prove_consent(engine, KEY, "acme", list_id="news", at=at, policy=policy)
    globex = prove_consent(engine, KEY, "globex", list_id="news", at=at, policy=policy)

    assert [(line.event, line.account_id) for line in acme.history] == [("grant", "acme")]
    assert [(line.event, line.account_id) for line in globex.history] == [
        ("grant", "globex"),
        ("confirm", "globex"),
    ]
    assert [line.stored["event_id"] for line in globex.history] == ["e-1", "e-2"]
    assert acme.chain.verified and globex.chain.verified
    assert acme.chain.entries == globex.chain.entries == 3
    assert not acme.verdict.permitted  # acme's sign-up was never confirmed
    assert globex.verdict.permitted


def test_the_cli_proof_finds_the_second_accounts_event(engine: Engine, database_url: str) -> None:
    """`sendgate consent proof` for globex shows globex's e-1 though acme used the id first."""
    LedgerWriter(engine).write_batch(
        GROUP,
        [
            LedgerItem(CONSENTS, 0, 0, event(event_id="e-1", ip="192.0.2.1")),
            LedgerItem(CONSENTS, 0, 1, event(event_id="e-1", account_id="globex", ip="192.0.2.2")),
        ],
    )
    settings = Settings(
        kafka_bootstrap_servers="127.0.0.1:1",
        recipient_key_secret=SecretStr(SECRET),
        database_url=SecretStr(database_url),
    )

    result = CliRunner().invoke(
        app,
        ["consent", "proof", ADDRESS, "--account", "globex", "--list", "news", "--json"],
        obj=settings,
        env={"COLUMNS": "200"},
    )

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["chain"] == {**document["chain"], "verified": True, "entries": 2}
    [line] = document["history"]
    assert line["stored"]["account_id"] == "globex"
    assert line["stored"]["event_id"] == "e-1"
    assert line["stored"]["ip"] == "192.0.2.2"


def test_two_recipients_keep_their_bounce_changes_with_one_event_id(engine: Engine) -> None:
    """The bounce keeper applies delivery ids per recipient; so does the ledger."""
    items = [
        LedgerItem(BOUNCES, 0, 0, bounce(KEY, "delivery-1")),
        LedgerItem(BOUNCES, 1, 0, bounce(OTHER_KEY, "delivery-1")),
    ]

    assert LedgerWriter(engine).write_batch(GROUP, items) == 2

    with engine.connect() as connection:
        stored = connection.execute(
            select(BounceChangeRow.recipient_key, BounceChangeRow.event_id)
        ).all()
    assert sorted(stored) == sorted([(KEY, "delivery-1"), (OTHER_KEY, "delivery-1")])


# --- replays stay silent -------------------------------------------------------------------------


def test_a_replay_adds_nothing_and_is_no_conflict(engine: Engine) -> None:
    """The batch again, the same events at new coordinates, and an event twice in one batch."""
    writer = LedgerWriter(engine)
    conflicts = Collected()
    items = [
        LedgerItem(CONSENTS, 0, 0, event(event_id="e-1")),
        LedgerItem(CONSENTS, 0, 1, event(event_id="e-1", account_id="globex")),
        LedgerItem(BOUNCES, 0, 0, bounce(KEY, "delivery-1")),
        LedgerItem(REPORTS, 0, 0, feedback_report(report_id="report-1")),
    ]
    assert writer.write_batch(GROUP, items, on_conflicts=conflicts) == 4
    before = consent_rows(engine)

    assert writer.write_batch(GROUP, items, on_conflicts=conflicts) == 0
    moved = [LedgerItem(item.topic, 3, 100 + n, item.record) for n, item in enumerate(items)]
    assert writer.write_batch(GROUP, moved + moved, on_conflicts=conflicts) == 0

    assert conflicts.conflicts == []
    assert consent_rows(engine) == before
    assert ledger_counts(engine)["consent_events"] == 2


def test_a_keepers_re_report_is_a_replay_not_a_conflict(engine: Engine) -> None:
    """A bounce change reported again as "replayed", and a feedback report received again later,
    differ only in what `varying` leaves out: no row, no conflict."""
    writer = LedgerWriter(engine)
    conflicts = Collected()
    writer.write_batch(
        GROUP,
        [
            LedgerItem(BOUNCES, 0, 0, bounce(KEY, "delivery-1")),
            LedgerItem(REPORTS, 0, 0, feedback_report(report_id="report-1")),
        ],
    )
    again = [
        LedgerItem(
            BOUNCES,
            0,
            1,
            bounce(
                KEY,
                "delivery-1",
                outcome="replayed",
                consecutive_soft_before=1,
                source="delivery-events/0/9",
                changed_at=T0 + timedelta(hours=1),
            ),
        ),
        LedgerItem(
            REPORTS,
            0,
            1,
            feedback_report(
                report_id="report-1",
                received_at=T0 + timedelta(hours=1),
                source="inbound-mail/1/12",  # the same report, delivered to us twice
            ),
        ),
    ]

    assert writer.write_batch(GROUP, again, on_conflicts=conflicts) == 0
    assert conflicts.conflicts == []


# --- true conflicts go to dead-letters -----------------------------------------------------------


def test_same_account_and_id_with_other_content_is_a_conflict(engine: Engine) -> None:
    """acme's e-1 again, now a withdrawal: not stored, handed over with its reason; the stored
    event and the chain stay as they were, the rest of the batch goes in, offsets move on."""
    writer = LedgerWriter(engine)
    conflicts = Collected()
    writer.write_batch(GROUP, [LedgerItem(CONSENTS, 0, 0, event(event_id="e-1"))])
    before = consent_rows(engine)
    clash = LedgerItem(
        CONSENTS, 0, 1, event(event_id="e-1", kind="withdraw", basis=None), b"key", b"value"
    )
    fresh = LedgerItem(CONSENTS, 0, 2, event(event_id="e-2", kind="confirm"))

    assert writer.write_batch(GROUP, [clash, fresh], on_conflicts=conflicts) == 1

    [conflict] = conflicts.conflicts
    assert conflict.item == clash
    assert conflict.reason == (
        "consent event acme/e-1 already recorded with different content "
        "(kind, basis differ from the record stored from consent-events/0/0)"
    )
    rows = consent_rows(engine)
    assert rows[0] == before[0]
    assert [(row["event_id"], row["kind"]) for row in rows] == [
        ("e-1", "grant"),
        ("e-2", "confirm"),
    ]
    assert verify_chain(rows).verified
    assert read_offsets(engine, GROUP) == {(CONSENTS, 0): 3}


def test_a_conflict_within_one_batch_keeps_the_first(engine: Engine) -> None:
    """Two records of one identity in one batch: the earlier offset stands, the later conflicts."""
    conflicts = Collected()
    items = [
        LedgerItem(CONSENTS, 0, 5, event(event_id="e-1", ip="192.0.2.9")),
        LedgerItem(CONSENTS, 0, 4, event(event_id="e-1", ip="192.0.2.1")),
    ]

    assert LedgerWriter(engine).write_batch(GROUP, items, on_conflicts=conflicts) == 1

    [conflict] = conflicts.conflicts
    assert conflict.item.offset == 5
    assert "ip differs from the record stored from consent-events/0/4" in conflict.reason
    assert [row["ip"] for row in consent_rows(engine)] == ["192.0.2.1"]


def test_conflicts_in_the_other_tables(engine: Engine) -> None:
    """A bounce change, a feedback report and an enforcement event whose identity is stored with
    other content: each handed over, named by its identity."""
    writer = LedgerWriter(engine)
    conflicts = Collected()
    fine = partial(
        fine_event,
        account_id="acme",
        report_id="report-9",
        provider="gmail.com",
        currency="USD",
        at=T0,
        policy_version="test",
    )
    writer.write_batch(
        GROUP,
        [
            LedgerItem(BOUNCES, 0, 0, bounce(KEY, "delivery-1")),
            LedgerItem(REPORTS, 0, 0, feedback_report(report_id="report-1")),
            LedgerItem(ENFORCEMENT, 0, 0, fine(amount=Decimal("250"))),
        ],
    )
    clashing = [
        LedgerItem(BOUNCES, 0, 1, bounce(OTHER_KEY, "delivery-1")),  # another recipient: fine
        LedgerItem(REPORTS, 0, 1, feedback_report(report_id="report-1", feedback_type="virus")),
        LedgerItem(ENFORCEMENT, 0, 1, fine(amount=Decimal("250"))),  # emitted again: a replay
        LedgerItem(ENFORCEMENT, 0, 2, fine(amount=Decimal("300"))),
    ]

    assert writer.write_batch(GROUP, clashing, on_conflicts=conflicts) == 1

    reasons = [conflict.reason for conflict in conflicts.conflicts]
    event_id = fine(amount=Decimal(1)).event_id
    assert reasons == [
        "enforcement event "
        f"{event_id} already recorded with different content "
        "(explanation, fine_amount differ from the record stored from enforcement-events/0/0)",
        "feedback report report-1 already recorded with different content "
        "(feedback_type differs from the record stored from feedback-reports/0/0)",
    ]


def test_reused_coordinates_are_a_conflict(engine: Engine) -> None:
    """A topic deleted and created again hands out its offsets anew: another event at stored
    coordinates is not mistaken for a replay."""
    writer = LedgerWriter(engine)
    conflicts = Collected()
    writer.write_batch(GROUP, [LedgerItem(CONSENTS, 0, 0, event(event_id="e-1"))])

    added = writer.write_batch(
        GROUP, [LedgerItem(CONSENTS, 0, 0, event(event_id="e-7"))], on_conflicts=conflicts
    )

    assert added == 0
    [conflict] = conflicts.conflicts
    assert conflict.reason == (
        "consent-events/0/0 already recorded as consent event acme/e-1, not consent event "
        "acme/e-7 (was the topic deleted and created again?)"
    )


def test_without_a_handler_a_conflict_fails_the_batch(engine: Engine) -> None:
    """Nowhere to send it: nothing of the batch is committed, its offsets included."""
    writer = LedgerWriter(engine)
    writer.write_batch(GROUP, [LedgerItem(CONSENTS, 0, 0, event(event_id="e-1"))])
    batch = [
        LedgerItem(CONSENTS, 0, 1, event(event_id="e-2", kind="confirm")),
        LedgerItem(CONSENTS, 0, 2, event(event_id="e-1", ip="192.0.2.77")),
    ]

    with pytest.raises(LedgerConflictError, match="consent event acme/e-1 already recorded"):
        writer.write_batch(GROUP, batch)

    assert ledger_counts(engine)["consent_events"] == 1
    assert read_offsets(engine, GROUP) == {(CONSENTS, 0): 1}


def test_a_handler_that_fails_commits_nothing(engine: Engine) -> None:
    """The handler runs before the commit: if the dead letter cannot be sent, the batch is not
    committed and its conflict comes back on the retry."""
    writer = LedgerWriter(engine)
    writer.write_batch(GROUP, [LedgerItem(CONSENTS, 0, 0, event(event_id="e-1"))])
    batch = [
        LedgerItem(CONSENTS, 0, 1, event(event_id="e-2", kind="confirm")),
        LedgerItem(CONSENTS, 0, 2, event(event_id="e-1", ip="192.0.2.77")),
    ]

    def unavailable(conflicts: Sequence[LedgerConflict]) -> None:
        raise ServiceUnavailableError("Kafka is down")

    with pytest.raises(ServiceUnavailableError):
        writer.write_batch(GROUP, batch, on_conflicts=unavailable)
    assert read_offsets(engine, GROUP) == {(CONSENTS, 0): 1}

    conflicts = Collected()
    assert writer.write_batch(GROUP, batch, on_conflicts=conflicts) == 1
    assert [conflict.item.offset for conflict in conflicts.conflicts] == [2]


# --- the sink dead-letters conflicts and goes on -------------------------------------------------


class FakeConsumer:
    """Hands out the given fetches one by one, then nothing."""

    def __init__(self, fetches: list[list[SimpleNamespace]]) -> None:
        self._fetches = fetches

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[str, list[SimpleNamespace]]:
        if not self._fetches:
            return {}
        return {"any": self._fetches.pop(0)}


def message(topic: str, offset: int, record: Record, key: bytes) -> SimpleNamespace:
    """What the sink reads of a consumed message."""
    return SimpleNamespace(
        topic=topic, partition=0, offset=offset, key=key, value=default_codec().encode(record)
    )


async def test_the_sink_dead_letters_a_conflict_and_goes_on(engine: Engine) -> None:
    """Three fetches: acme's e-1; globex's e-1 and acme's e-1 changed; acme's e-2. Both e-1 are
    stored, the changed one is dead-lettered with its origin, whole message and reason, and the
    next fetch is stored too; every offset is committed."""
    record_types = {entry.topic.name: entry.record_type for entry in LEDGER_TOPICS}
    key = KEY.encode()
    changed = event(event_id="e-1", kind="withdraw", basis=None)
    fetches = [
        [message(CONSENTS, 0, event(event_id="e-1"), key)],
        [
            message(CONSENTS, 1, event(event_id="e-1", account_id="globex"), key),
            message(CONSENTS, 2, changed, key),
        ],
        [message(CONSENTS, 3, event(event_id="e-2", kind="confirm"), key)],
    ]
    published: list[DeadLetter] = []

    async def publish(letters: Sequence[DeadLetter]) -> None:
        await asyncio.sleep(0)
        published.extend(letters)

    totals = await _copy(
        FakeConsumer(fetches),  # type: ignore[arg-type]
        LedgerWriter(engine),
        GROUP,
        record_types,
        publish=publish,
        stop=asyncio.Event(),
        on_progress=None,
        idle_exit_s=0,
        clock=FrozenClock(T0 + timedelta(days=1)),
    )

    assert (totals.batches, totals.records_read, totals.rows_inserted) == (3, 4, 3)
    assert totals.dead_lettered == 1
    [letter] = published
    assert (letter.origin_topic, letter.origin_partition, letter.origin_offset) == (CONSENTS, 0, 2)
    assert letter.original_key == key
    assert letter.original_value == default_codec().encode(changed)
    assert letter.error_kind == "invalid"
    assert letter.agent == DEAD_LETTER_AGENT
    assert letter.failed_at == T0 + timedelta(days=1)
    assert letter.reason.startswith(
        "consent event acme/e-1 already recorded with different content"
    )
    assert sorted((row["account_id"], row["event_id"]) for row in consent_rows(engine)) == [
        ("acme", "e-1"),
        ("acme", "e-2"),
        ("globex", "e-1"),
    ]
    assert read_offsets(engine, GROUP) == {(CONSENTS, 0): 4}


async def test_the_sink_commits_nothing_while_kafka_refuses_the_dead_letter(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dead letter not acknowledged: the batch is not committed; the sink waits and asks
    again (it does not exit over an outage), and a stop meanwhile leaves the batch to be read
    again on the next start."""
    monkeypatch.setattr(sink, "RETRY_FIRST_S", 0.01)
    record_types = {entry.topic.name: entry.record_type for entry in LEDGER_TOPICS}
    key = KEY.encode()
    LedgerWriter(engine).write_batch(GROUP, [LedgerItem(CONSENTS, 0, 0, event(event_id="e-1"))])
    fetches = [[message(CONSENTS, 1, event(event_id="e-1", ip="192.0.2.77"), key)]]
    stop = asyncio.Event()
    attempts = []

    async def publish(letters: Sequence[DeadLetter]) -> None:
        attempts.append(len(letters))
        if len(attempts) >= 3:
            stop.set()
        raise KafkaTimeoutError()

    progress = await _copy(
        FakeConsumer(fetches),  # type: ignore[arg-type]
        LedgerWriter(engine),
        GROUP,
        record_types,
        publish=publish,
        stop=stop,
        on_progress=None,
        idle_exit_s=0,
    )
    assert len(attempts) == 3 and progress.rows_inserted == 0
    assert read_offsets(engine, GROUP) == {(CONSENTS, 0): 1}


# --- the content digest --------------------------------------------------------------------------


def test_the_digest_reads_stored_values_like_the_records_values() -> None:
    """A time in another zone, a decimal with trailing zeros, a tuple for a JSON list: one
    digest, as the row read back from either database has them."""
    written = {"at": T0, "amount": Decimal("0.0020"), "lists": ("a", "b"), "n": 1}
    read_back = {
        "at": T0.astimezone(timezone(timedelta(hours=2))),
        "amount": Decimal("0.002"),
        "lists": ["a", "b"],
        "n": 1,
    }
    columns = ("at", "amount", "lists", "n")

    assert content_digest(written, columns) == content_digest(read_back, columns)
    assert differing_columns(written, {**read_back, "n": 2}, columns) == ["n"]
    assert content_digest(written, ("n",)) != content_digest({"n": 2}, ("n",))


def test_the_consent_content_is_the_event_not_the_ledgers_columns() -> None:
    """The same event at other coordinates has the same content digest."""
    [entry] = [entry for entry in LEDGER_TOPICS if entry.chained]
    here = consent_event_row(event(event_id="e-1"), CONSENTS, 0, 0)
    there = consent_event_row(event(event_id="e-1"), CONSENTS, 3, 99)

    assert set(entry.content) == set(ConsentEvent.model_fields)
    assert content_digest(here, entry.content) == content_digest(there, entry.content)


# --- the migration -------------------------------------------------------------------------------


def test_a_0005_ledger_upgrades_with_its_rows_and_takes_shared_ids(database_url: str) -> None:
    """Rows written under the constraint on the bare event id stay; after the upgrade another
    account's event with a stored id goes in."""
    upgrade(database_url, "0005")
    engine = make_engine(database_url)
    try:
        old = MetaData()
        consents = Table("consent_events", old, autoload_with=engine)
        row = {
            **consent_event_row(event(event_id="e-1"), CONSENTS, 0, 0),
            "chain_seq": 1,
            "prev_hash": "0" * 64,
            "entry_hash": "f" * 64,
        }
        with engine.begin() as connection:
            connection.execute(consents.insert().values(row))

        upgrade(database_url)

        assert ledger_counts(engine)["consent_events"] == 1
        added = LedgerWriter(engine).write_batch(
            GROUP, [LedgerItem(CONSENTS, 0, 1, event(event_id="e-1", account_id="globex"))]
        )
        assert added == 1
        assert ledger_counts(engine)["consent_events"] == 2
    finally:
        engine.dispose()


def test_0006_downgrades_only_when_no_id_is_shared(database_url: str) -> None:
    """Back to the bare event id while ids are unique; refused once two accounts share one."""
    upgrade(database_url)
    engine = make_engine(database_url)

    def downgrade() -> None:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0005")

    try:
        LedgerWriter(engine).write_batch(GROUP, [LedgerItem(CONSENTS, 0, 0, event(event_id="e-1"))])
        downgrade()
        upgrade(database_url)
        LedgerWriter(engine).write_batch(
            GROUP, [LedgerItem(CONSENTS, 0, 1, event(event_id="e-1", account_id="globex"))]
        )
        with pytest.raises(RuntimeError, match="1 event id"):
            downgrade()
        assert ledger_counts(engine)["consent_events"] == 2
    finally:
        engine.dispose()
